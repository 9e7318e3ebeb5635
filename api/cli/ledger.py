"""`tdw index`, `tdw reconcile` and `tdw statement`: the ledger mirror of a deployed bank."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import is_address, to_checksum_address
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from api.cli.app import app, compile_project, fail, open_database, rpc_url
from wallet.chain.deploy import Manifest
from wallet.chain.node import connect
from wallet.chain.rpc import BlockTimes
from wallet.db import session_factory
from wallet.ledger.indexer import ZERO_ADDRESS, Indexer, IndexerConfig
from wallet.ledger.reconcile import reconcile_all
from wallet.ledger.statements import FORMATS, Issuer, build_statement, render
from wallet.settings import get_settings

ManifestOption = Annotated[Path, typer.Option(help="The bank's deployment manifest")]
RpcOption = Annotated[str | None, typer.Option(help="JSON-RPC URL (default: TDW_RPC_URL)")]
DbOption = Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")]


@contextlib.contextmanager
def _mirror(db: str | None) -> Iterator[sessionmaker[Session]]:
    settings = get_settings()
    with open_database(db or settings.effective_database_url) as engine:
        yield session_factory(engine)


def _indexer(
    sessions: sessionmaker[Session], manifest: Manifest, w3: Web3, confirmations: int, max_range: int = 50_000
) -> Indexer:
    contracts = [manifest.registry.address, *(t.address for t in manifest.tokens.values())]
    config = IndexerConfig(
        confirmations=confirmations,
        start_block=manifest.start_block,
        initial_range=min(2_000, max_range),
        max_range=max_range,
    )
    abis = [c.abi for c in compile_project(get_settings()).contracts.values()]
    return Indexer(sessions, w3, contracts, config, abis=abis)


@app.command()
def index(
    manifest: ManifestOption = Path("deployment.json"),
    rpc: RpcOption = None,
    db: DbOption = None,
    confirmations: Annotated[int, typer.Option(help="Blocks after which entries are final", min=1)] = 12,
    once: Annotated[bool, typer.Option("--once", help="Index up to the head, then exit")] = False,
    max_range: Annotated[
        int, typer.Option(help="At most this many blocks per eth_getLogs call", min=1)
    ] = 50_000,
) -> None:
    """Mirror the bank's tokens and registry into the journal, following the chain until Ctrl-C."""
    loaded = Manifest.read(manifest)
    w3 = connect(rpc_url(rpc, get_settings()))
    with _mirror(db) as sessions:
        indexer = _indexer(sessions, loaded, w3, confirmations, max_range)
        if once:
            applied = indexer.run_until_head()
            typer.echo(f"applied {applied} entries; the mirror is at the head")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        typer.echo("following the chain; Ctrl-C stops")
        indexer.follow(stop)


@app.command()
def reconcile(
    at_block: Annotated[
        int | None, typer.Option("--at-block", help="Compare as of this block (default: the head)", min=0)
    ] = None,
    manifest: ManifestOption = Path("deployment.json"),
    rpc: RpcOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Compare the database with the chain: every mirrored balance with balanceOf, every mined outbox
    transaction, executed transfer (its AuthorizationUsed and Transfer logs), mint and burn with its
    receipt, and each sender's nonces. Exit 1 with the list of differences."""
    loaded = Manifest.read(manifest)
    w3 = connect(rpc_url(rpc, get_settings()))
    head = w3.eth.block_number
    if at_block is None:
        at_block = head
    if at_block > head:
        raise fail(f"block {at_block} is beyond the head {head}")
    with _mirror(db) as sessions:
        report = reconcile_all(sessions, w3, [t.address for t in loaded.tokens.values()], at_block)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": not report.differences,
                    "at_block": report.at_block,
                    "head_block": report.head_block,
                    "checked": vars(report.checked),
                    "differences": [d.as_json() for d in report.differences],
                },
                indent=2,
            )
        )
    else:
        for d in report.differences:
            typer.echo(d.line())
        c = report.checked
        typer.echo(
            f"checked {c.balances} balances, {c.transactions} transactions, {c.transfers} transfers, "
            f"{c.operations} mints and burns, {c.senders} senders' nonces",
            err=True,
        )
    if report.differences:
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"the database matches the chain at block {at_block}")


@app.command()
def statement(
    account: Annotated[str, typer.Option(help="The account's address")],
    from_date: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC)")],
    to_date: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC), included")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv, pdf or camt053")] = "json",
    currency: Annotated[str | None, typer.Option(help="Which token (default: the manifest's first)")] = None,
    manifest: ManifestOption = Path("deployment.json"),
    rpc: RpcOption = None,
    db: DbOption = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output")] = None,
) -> None:
    """An account's statement from the ledger mirror: opening balance, final entries, totals, closing
    balance. A closed period (over, every entry final) is issued with a statement number and gives the
    same document when asked again; others are interim. The node is read for block times."""
    statement_format = next((f for f in FORMATS if f == fmt), None)
    if statement_format is None:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not is_address(account):
        raise fail(f"--account {account!r} is not an Ethereum address")
    loaded = Manifest.read(manifest)
    code = currency or next(iter(loaded.tokens))
    if code not in loaded.tokens:
        raise fail(f"the bank has no {code} token; it has {', '.join(loaded.tokens)}")
    token = loaded.tokens[code]
    names = {ZERO_ADDRESS: f"{loaded.bank_name} issuance (mint and burn)"}
    for role, address in loaded.roles.model_dump().items():
        names.setdefault(address, f"{loaded.bank_name} {role}")
    settings = get_settings()
    w3 = connect(rpc_url(rpc, settings))
    with _mirror(db) as sessions:
        result = build_statement(
            sessions,
            BlockTimes(w3),
            bank=Issuer(loaded.bank_name, settings.bank_address_lines, settings.bank_bic),
            chain_id=loaded.chain_id,
            token=token.address,
            currency=code,
            exponent=token.decimals,
            account=to_checksum_address(account),
            period_from=from_date.date(),
            period_to=to_date.date(),
            names=names,
        )
    body = render(result, statement_format)
    if output is not None:
        output.write_bytes(body)
        typer.echo(f"{fmt} statement of {len(result.lines)} entries written to {output}", err=True)
    elif fmt == "pdf":
        raise fail("a PDF statement needs --output FILE")
    else:
        sys.stdout.write(body.decode())
