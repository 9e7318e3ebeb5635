"""`tdw bench ...`: benchmarks; each prints JSON and compares against a reference measured in the same run."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import SecretStr
from web3 import Web3

from api.cli.app import app, compile_project, fail, print_json
from api.cli.demo import deploy_dev
from api.cli.network import PARTNER_ID
from wallet.bank.runtime import Workers, build_services
from wallet.bench import api as api_bench
from wallet.bench import crossborder as crossborder_bench
from wallet.bench import gas as gas_bench
from wallet.bench import index as index_bench
from wallet.bench import monitoring as monitoring_bench
from wallet.bench import screening as screening_bench
from wallet.bench import transfers as transfers_bench
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import bank_contracts, onboard
from wallet.chain.node import AnvilNode, BlockTicker, connect, fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.keys import PrivateKeySigner, Signer
from wallet.keys.keystore import Keystore, operational_keys
from wallet.settings import Settings, get_settings

bench_app = typer.Typer(
    help="Benchmarks; each prints JSON and compares against a reference from the same run."
)
app.add_typer(bench_app, name="bench")

JsonOption = Annotated[bool, typer.Option("--json", help="Print only the JSON document")]


def _run_bench(
    run: Callable[[Web3, Compilation, Path], dict[str, Any]], rpc: str | None = None
) -> dict[str, Any]:
    """Compiles and runs a benchmark on `rpc`, or on a fresh anvil, with a scratch folder it may use."""
    settings = get_settings()
    compilation = compile_project(settings)
    with tempfile.TemporaryDirectory(prefix="tdw-bench-") as folder:
        if rpc:
            return run(connect(rpc), compilation, Path(folder))
        with AnvilNode(settings.project_root) as w3:
            return run(w3, compilation, Path(folder))


@bench_app.command("gas")
def bench_gas(
    json_output: JsonOption = False,
    rpc: Annotated[
        str | None, typer.Option(help="Use this development node instead of a fresh anvil")
    ] = None,
) -> None:
    """Gas of DepositToken's transfer, mint, burn and authorizations against a plain OpenZeppelin ERC-20."""
    result = _run_bench(lambda w3, compilation, _: gas_bench.run(w3, compilation), rpc)
    print_json(result, json_output)
    if not json_output:
        typer.echo(f"transfer costs {result['transfer_ratio']:.2f}x a plain OpenZeppelin ERC-20 transfer")


@bench_app.command("transfers")
def bench_transfers(
    n: Annotated[int, typer.Option("--n", help="How many transfers each way", min=1)] = 2000,
    json_output: JsonOption = False,
    db: Annotated[str | None, typer.Option(help="Database URL (default: a fresh SQLite file)")] = None,
) -> None:
    """Customer transfers through keystore, relayer and outbox against plain pre-signed transfers."""
    settings = get_settings()
    result = _run_bench(
        lambda w3, compilation, folder: transfers_bench.run(
            w3,
            compilation,
            n=n,
            db_url=db or f"sqlite:///{folder}/bench.db",
            project_root=settings.project_root,
            pkcs11_module=settings.pkcs11_module,
        )
    )
    print_json(result, json_output)


@bench_app.command("index")
def bench_index(
    events: Annotated[int, typer.Option(help="How many transfer events to generate", min=1)] = 100_000,
    json_output: JsonOption = False,
    postgres: Annotated[
        str | None, typer.Option(help="PostgreSQL URL whose server may create a scratch database")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
) -> None:
    """Indexing speed into SQLite and PostgreSQL against raw eth_getLogs decoding, and a large statement."""
    result = _run_bench(
        lambda w3, compilation, folder: index_bench.run(
            w3,
            compilation,
            events=events,
            sqlite_url=f"sqlite:///{folder}/index.db",
            postgres_admin_url=postgres or None,
        )
    )
    print_json(result, json_output)


@bench_app.command("api")
def bench_api(
    url: Annotated[str, typer.Option(help="Base URL of a running `tdw dev`")] = "http://127.0.0.1:8000",
    seconds: Annotated[float, typer.Option(help="How long to send transfers", min=1)] = 30,
    clients: Annotated[int, typer.Option(help="Concurrent customers", min=2)] = 32,
    json_output: JsonOption = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="The instance's data folder (its demo operator login mints balances)")
    ] = None,
) -> None:
    """POST /v1/transfers between many customer pairs against a running API: accepted and final per
    second and latency percentiles, against an authenticated GET measured in the same run."""
    settings = get_settings()
    operator = _login_of((data_dir or settings.data_dir) / "demo-logins.json", "operator")
    print_json(api_bench.run(url, seconds=seconds, clients=clients, operator=operator), json_output)


@bench_app.command("cross-border")
def bench_cross_border(
    url: Annotated[str, typer.Option(help="Base URL of a running `tdw dev` (the demo bank)")] = (
        "http://127.0.0.1:8000"
    ),
    partner_url: Annotated[
        str | None, typer.Option(help="Base URL of its partner bank (default: the demo bank's port + 1)")
    ] = None,
    seconds: Annotated[float, typer.Option(help="How long each phase sends", min=1)] = 30,
    clients: Annotated[int, typer.Option(help="Concurrent customers", min=2)] = 8,
    json_output: JsonOption = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="The instance's data folder (its demo logins mint and pay)")
    ] = None,
) -> None:
    """Cross-border payments (USD at the demo bank to Carol's HKD at Harbour Bank, each settled in one
    transaction) end to end over HTTP, beside plain transfers by the same customers in the same run."""
    settings = get_settings()
    folder = data_dir or settings.data_dir
    operator = _login_of(folder / "demo-logins.json", "operator")
    payee = {**_login_of(folder / "partner" / "demo-logins.json", "carol"), "name": "Carol Chan"}
    if partner_url is None:
        base = httpx.URL(url)
        partner_url = str(base.copy_with(port=(base.port or 80) + 1))
    result = crossborder_bench.run(
        url,
        partner_url,
        partner_id=PARTNER_ID,
        seconds=seconds,
        clients=clients,
        operator=operator,
        payee=payee,
    )
    print_json(result, json_output)


def _login_of(path: Path, key: str) -> dict[str, str]:
    """The demo login whose role or username is `key`, from a `demo-logins.json`."""
    if not path.exists():
        raise fail(f"{path} is missing; point --data-dir at the folder of the running `tdw dev`")
    login = next((x for x in json.loads(path.read_text()) if key in (x["role"], x["username"])), None)
    if login is None:
        raise fail(f"{path} has no {key} login")
    return dict(login)


@bench_app.command("monitoring")
def bench_monitoring(
    entries: Annotated[
        int, typer.Option("--entries", help="Journal entries in the mirror", min=1000)
    ] = 1_000_000,
    samples: Annotated[int, typer.Option(help="Customers inspected and traced", min=1)] = 20,
    index_events: Annotated[
        int, typer.Option(help="Events for the indexer's reference rate", min=100)
    ] = 5_000,
    flow_seconds: Annotated[
        float, typer.Option(help="How long the steady flow of alerting transfers runs", min=1)
    ] = 20,
    flow_rate: Annotated[float, typer.Option(help="Alerting transfers per second", min=0.1)] = 5,
    json_output: JsonOption = False,
) -> None:
    """Monitoring's backfill rate through every typology and the inspector's address view and 3-hop
    trace on a mirror of `entries` entries, beside the indexer's own rate measured in the same run;
    then block-to-alert latency on a running bank under a steady flow of alerting transfers."""
    with tempfile.TemporaryDirectory(prefix="tdw-bench-monitoring-") as folder:
        result = monitoring_bench.run(f"sqlite:///{folder}/mirror.db", entries, samples)
    reference = _run_bench(
        lambda w3, compilation, folder: index_bench.run(
            w3,
            compilation,
            events=index_events,
            sqlite_url=f"sqlite:///{folder}/index.db",
            postgres_admin_url=None,
        )
    )
    result["indexer_events_per_s"] = reference["sqlite_events_per_s"]
    result["backfill_to_indexer"] = round(
        result["backfill_entries_per_s"] / reference["sqlite_events_per_s"], 2
    )
    result["block_to_alert_ms"] = _run_bench(
        lambda w3, compilation, folder: _steady_flow(w3, compilation, folder, flow_seconds, flow_rate)
    )
    print_json(result, json_output)


def _steady_flow(
    w3: Web3, compilation: Compilation, folder: Path, seconds: float, rate: float
) -> dict[str, Any]:
    """A bank as `tdw dev` runs it (its workers, a block a second), eight KYC'd wallets with USD, and
    the steady flow of 12,000.00 USD transfers between them (`monitoring_bench.steady_flow`)."""
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder}/flow.db", kek=SecretStr("be" * 32))
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    signers = dict(operational_keys(Keystore(sessions, settings.kek)))
    deployer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, deployer.address, 10**21)
    manifest = deploy_dev(
        w3,
        compilation,
        deployer,
        signers,
        bank_name="Bench Bank",
        currencies=["USD"],
        minter_allowance=10**15,
    )
    contracts = bank_contracts(w3, compilation, manifest)
    abis = [c.abi for c in compilation.contracts.values()]
    wallets: list[Signer] = [PrivateKeySigner.generate() for _ in range(8)]
    onboard(Transactor(w3, signers["compliance"], abis), contracts, [w.address for w in wallets])
    minter = Transactor(w3, signers["minter"], abis)
    for wallet in wallets:
        fund_from_dev_account(w3, wallet.address, 10**19)
        minter.send(contracts.tokens["USD"].functions.mint(wallet.address, 10**12))
    services = build_services(
        settings,
        w3,
        sessions,
        manifest,
        {n: c.abi for n, c in compilation.contracts.items()},
        role_signers=signers,
    )
    workers = Workers(services).start()
    ticker = BlockTicker(w3, interval=1.0).start()
    try:
        return monitoring_bench.steady_flow(services, wallets, seconds=seconds, rate=rate, amount=1_200_000)
    finally:
        ticker.stop()
        workers.stop()
        services.close()
        engine.dispose()


@bench_app.command("screening")
def bench_screening(
    entries: Annotated[int, typer.Option("--entries", help="Entries in the synthetic list", min=1)] = 50_000,
    queries: Annotated[int, typer.Option("--queries", help="Names screened", min=10)] = 2_000,
    json_output: JsonOption = False,
) -> None:
    """Sanctions screening of one name against a list of `entries` entries (fuzzy, explained), beside a
    plain exact-match lookup of the same names in the same run."""
    result = screening_bench.run(entries=entries, queries=queries)
    print_json(result, json_output)
    if not json_output:
        typer.echo(
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms per name against {entries} entries; "
            f"{result['names_per_s']} names/s fuzzy, {result['exact_lookup_per_s']} exact"
        )
