"""`tdw audit verify` and `tdw audit export`: the tamper-evident audit log, checked from a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.app import app, fail, open_database
from wallet.chain.deploy import Manifest
from wallet.chain.node import connect
from wallet.compliance.audit import AuditLog, chain_anchors
from wallet.db import session_factory
from wallet.settings import get_settings

audit_app = typer.Typer(help="The tamper-evident audit log: verify it, export it.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

DbOption = Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")]


@audit_app.command()
def verify(
    db: DbOption = None,
    manifest: Annotated[
        Path | None, typer.Option(help="The bank's deployment manifest (default: the data folder's)")
    ] = None,
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL (default: TDW_RPC_URL)")] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the hash chain only, not the anchors on chain")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Check every record's hash and link, and every anchor the chain holds. Exit 0 when intact, 1
    naming the first bad record."""
    settings = get_settings()
    anchors = None
    if not offline:
        loaded = Manifest.read(manifest or settings.effective_manifest_path)
        if loaded.audit_anchor is None:
            raise fail("this deployment has no audit anchor contract; use --offline to check the hashes")
        url = rpc or settings.rpc_url
        if not url:
            raise fail("give --rpc URL or set TDW_RPC_URL (or --offline to check the hashes only)")
        anchors = chain_anchors(connect(url), loaded.audit_anchor.address, loaded.start_block)
    with open_database(db or settings.effective_database_url) as engine:
        result = AuditLog(session_factory(engine)).verify(anchors)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    elif result.ok:
        checked = (
            f"{result.anchors} anchors on chain (the last at record {result.last_anchored_seq})"
            if result.anchors_checked
            else "no anchors (--offline)"
        )
        typer.echo(
            f"the audit log is intact: {result.records} records, head {result.head_hash}; "
            f"checked against {checked}; {result.unanchored} records since the last anchor"
        )
    else:
        typer.echo(f"record {result.first_bad}: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command()
def export(
    db: DbOption = None,
    after: Annotated[int, typer.Option(help="Only records after this sequence number", min=0)] = 0,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output")] = None,
) -> None:
    """The audit log as JSON Lines (`docs/audit.md` says how an auditor checks it without tdw)."""
    settings = get_settings()
    with open_database(db or settings.effective_database_url) as engine:
        lines = AuditLog(session_factory(engine)).export(after=after)
        if output is None:
            for line in lines:
                sys.stdout.write(line + "\n")
            return
        count = 0
        with output.open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
                count += 1
        typer.echo(f"{count} records written to {output}", err=True)
