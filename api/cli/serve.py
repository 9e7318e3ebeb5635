"""`tdw dev` (the embedded demo bank) and `tdw serve` (a deployed bank from production settings): both
build the bank's services, start the background workers and serve the HTTP API until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from sqlalchemy import select

from api.app import create_app
from api.cli import network
from api.cli.app import app, compile_project, fail, open_database, rpc_url
from api.cli.chain import DEFAULT_MINTER_ALLOWANCE
from api.cli.demo import deploy_dev, history_start, seed_demo
from wallet import logs
from wallet.bank.recovery import incident_view
from wallet.bank.runtime import Services, Workers, build_services
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import Manifest, manifest_fits, verify_manifest
from wallet.chain.node import (
    DEV_PERSISTED_STATES,
    AnvilNode,
    BlockTicker,
    StateSaver,
    anvil_available,
    connect,
    set_chain_time,
)
from wallet.db import session_factory
from wallet.db.models import Incident, Reorg
from wallet.errors import DeepReorgError, NodeError, WalletError
from wallet.keys import PrivateKeySigner, operational_signers
from wallet.keys.keystore import Keystore
from wallet.settings import Settings, get_settings


@app.command()
def dev(
    port: Annotated[int | None, typer.Option(help="API port (default: TDW_API_PORT, 8000)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for chain state, database and keys")] = None,
    anvil_port: Annotated[int | None, typer.Option(help="Port for the local anvil node")] = None,
    partner: Annotated[
        bool, typer.Option("--partner/--no-partner", help="Also run the partner bank and the central bank")
    ] = True,
    partner_port: Annotated[
        int | None, typer.Option(help="The partner bank's API port (default: port + 1)")
    ] = None,
    second_chain: Annotated[
        bool,
        typer.Option(
            "--second-chain/--no-second-chain",
            help="Also run a second anvil (chain 31338) with the partner bank's HKD, and pay across the "
            "two chains by hashed time-locks (needs the partner bank and anvil)",
        ),
    ] = True,
    second_anvil_port: Annotated[
        int | None, typer.Option(help="Port of the second chain's anvil (default: the anvil port + 1)")
    ] = None,
) -> None:
    """Run the demo bank: anvil (or in-process eth-tester without Node), SQLite and an encrypted
    keystore in the data folder, the contracts, demo users with balances, the relayer, indexer, event
    pump and webhooks in the background, and the API with its OpenAPI docs. Ctrl-C stops everything;
    the next start resumes from the same data folder."""
    settings = get_settings()
    folder = (data_dir or settings.data_dir).resolve()
    api_port = port or settings.api_port
    settings = settings.model_copy(update={"api_port": api_port})  # payment links name this port
    _configure_logging()
    with contextlib.ExitStack() as running:
        _dev(
            running,
            settings,
            folder,
            api_port,
            anvil_port,
            partner_port if partner else None,
            partner,
            second_anvil_port or (anvil_port or settings.anvil_port) + 1
            if second_chain and partner
            else None,
        )
    typer.echo("stopped")


def _dev(
    running: contextlib.ExitStack,
    settings: Settings,
    folder: Path,
    api_port: int,
    anvil_port: int | None,
    partner_port: int | None = None,
    with_partner: bool = True,
    second_anvil_port: int | None = None,
) -> None:
    """`tdw dev`'s work; everything it starts is stopped by `running`, last started first."""
    durable_block = None
    on_anvil = anvil_available(settings.project_root)
    chain_clock: Callable[[int], object] | None = None
    if on_anvil:
        # A new chain starts a few months back, so the demo has a history to show (`seed_demo`).
        new_chain = not (folder / "anvil-state.json").exists()
        node = AnvilNode(
            settings.project_root,
            port=anvil_port or settings.anvil_port,
            state_path=folder / "anvil-state.json",
            block_time=1,
            mixed_mining=True,
            genesis_time=history_start(datetime.now(UTC).date()) if new_chain else None,
            persisted_states=DEV_PERSISTED_STATES,
        )
        running.callback(node.stop)
        try:
            w3 = node.start()
        except NodeError as exc:
            raise fail(str(exc)) from exc
        # Nothing is final before a saved chain state holds it: a crash of the whole stack cannot
        # take back what the database calls final.
        durable_block = StateSaver(w3, folder / "anvil-state.json").durable_block
        if new_chain:
            chain_clock = functools.partial(set_chain_time, w3)
        chain_label = f"anvil JSON-RPC on {node.url} (state in {folder / 'anvil-state.json'})"
    else:
        from wallet.chain.inprocess import eth_tester  # the optional in-process chain

        # Without `npm ci` (no Node.js) there is no anvil: an in-process chain that lives as long as
        # this process.
        folder = folder / "eth-tester"
        shutil.rmtree(folder, ignore_errors=True)
        w3 = eth_tester()
        running.callback(BlockTicker(w3).start().stop)
        chain_label = "in-process eth-tester chain (no anvil in node_modules; state is not kept)"
    folder.mkdir(parents=True, exist_ok=True)
    engine = running.enter_context(open_database(settings.database_url or f"sqlite:///{folder / 'tdw.db'}"))
    sessions = session_factory(engine)
    signers = operational_signers(settings, Keystore(sessions, settings.kek))
    compilation = compile_project(settings)
    manifest_path = folder / "deployment.json"
    central = network.central_bank(running, w3, compilation, folder, settings)
    manifest = network.existing_manifest(w3, manifest_path, compilation)
    if manifest is not None and not manifest_fits(manifest, signers):
        typer.echo(f"{manifest_path} is a bank of other keys; deploying anew", err=True)
        manifest = None
    if manifest is not None and manifest.settlement is None:
        typer.echo(f"{manifest_path} predates settlement contracts; deploying anew", err=True)
        manifest = None
    if manifest is None:
        manifest = deploy_dev(
            w3,
            compilation,
            PrivateKeySigner(settings.deployer_key),
            signers,
            bank_name=settings.bank_name,
            currencies=settings.currencies,
            minter_allowance=DEFAULT_MINTER_ALLOWANCE,
        )
        manifest.write(manifest_path)
        typer.echo(f"deployed the demo bank; manifest at {manifest_path}")
    else:
        typer.echo(f"resumed the demo bank from {manifest_path}")
    manifest = network.admitted(
        w3, compilation, central, manifest, signers["treasury"].address, manifest_path
    )
    abis = {name: c.abi for name, c in compilation.contracts.items()}
    services = build_services(
        settings,
        w3,
        sessions,
        manifest,
        abis,
        role_signers=signers,
        durable_block=durable_block,
        automatic_recovery=True,
    )
    running.callback(services.close)
    partner: Services | None = None
    port_b = partner_port or api_port + 1
    if with_partner:
        assert manifest.settlement is not None
        assert manifest.timelock is not None
        partner = network.partner_bank(
            running,
            settings,
            folder,
            w3,
            compilation,
            central,
            {"AtomicSettlement": manifest.settlement, "HashedTimelock": manifest.timelock},
            durable_block=durable_block,
            minter_allowance=DEFAULT_MINTER_ALLOWANCE,
        )
        network.link(services, partner, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{port_b}")
    for bank in (services, partner):
        if bank is not None:
            _catch_up(bank)
            running.callback(Workers(bank).start().stop)
    logins = seed_demo(services, folder / "demo-logins.json", chain_clock=chain_clock)
    operator = services.users.by_username("operator")
    assert operator is not None
    network.fund_fx_book(services, Principal(operator.id, operator.username, operator.role))
    extra: list[str] = []
    if partner is not None:
        partner_logins = network.seed_partner(partner, folder / "partner" / "demo-logins.json")
        extra = network.summary(partner, port_b, partner_logins)
        if second_anvil_port is not None and on_anvil:
            extra += _second_chain(
                running, settings, folder, compilation, services, partner, second_anvil_port
            )
        running.callback(_serve_in_background(partner, settings, settings.api_host, port_b))
    database = engine.url.render_as_string()

    def ready() -> None:
        _print_dev_summary(manifest, chain_label, folder, database, api_port, logins, extra)
        if partner is not None:
            threading.Thread(
                target=_seed_quietly, args=(services, partner), name="tdw-demo-cross-border", daemon=True
            ).start()

    _serve_http(services, settings, settings.api_host, api_port, on_ready=ready)


def _second_chain(
    running: contextlib.ExitStack,
    settings: Settings,
    folder: Path,
    compilation: Compilation,
    demo: Services,
    partner: Services,
    port: int,
) -> list[str]:
    """The second chain's anvil and Harbour Bank's HKD on it; the demo bank's coordinator of payments
    across the chains (its worker steps them) and the demo's one payment; the summary's lines."""
    node = AnvilNode(
        settings.project_root,
        port=port,
        chain_id=network.SECOND_CHAIN_ID,
        state_path=folder / "partner" / "second-chain-state.json",
        block_time=1,
        mixed_mining=True,
        persisted_states=DEV_PERSISTED_STATES,
    )
    running.callback(node.stop)
    try:
        w3 = node.start()
    except NodeError as exc:
        raise fail(str(exc)) from exc
    coordinator = network.second_chain(
        w3, compilation, settings, folder, demo, partner, minter_allowance=DEFAULT_MINTER_ALLOWANCE
    )
    demo.htlc = coordinator
    network.seed_swap(demo, partner, coordinator, network.SECOND_CHAIN_ID)
    hkd = coordinator.chains[network.SECOND_CHAIN_ID].currencies
    return [
        f"second chain: anvil chain {network.SECOND_CHAIN_ID} on {node.url}, Harbour Bank HKD "
        f"{next(iter(hkd))}; payments across the chains at /v1/bank/swaps"
    ]


def _seed_quietly(demo: Services, partner: Services) -> None:
    """The demo's payments between the banks; a failure is logged, it does not stop the banks."""
    try:
        network.seed_cross_border(demo, partner)
    except WalletError:
        logging.getLogger(__name__).exception("the demo's cross-border payments were not seeded")


def _serve_in_background(services: Services, settings: Settings, host: str, port: int) -> Callable[[], None]:
    """Serves a second bank's API from a thread until the returned callable stops it."""
    config = uvicorn.Config(
        create_app(services, docs=settings.serves_docs), host=host, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"tdw-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise fail(f"the partner bank's API did not start on port {port}")

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return stop


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default: TDW_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: TDW_API_PORT)")] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background/--no-background",
            help="Also run the relayer, indexer, event pump and webhooks (one process of a fleet is enough)",
        ),
    ] = True,
) -> None:
    """Serve the API for a deployed bank from the environment's settings (TDW_RPC_URL, TDW_DATABASE_URL,
    TDW_KEK, TDW_TOKEN_SECRET, TDW_SIGNER, TDW_MANIFEST_PATH). No seeding; in production it refuses
    development secrets and a manifest whose code does not match the sources."""
    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    settings = settings.model_copy(update={"api_host": host, "api_port": port})  # payment links name them
    _configure_logging()
    with contextlib.ExitStack() as running:
        services = deployed_services(running, settings)
        if background:
            services.bank.register_redemption_address()
            running.callback(Workers(services).start().stop)
        manifest = services.bank.manifest
        _serve_http(
            services,
            settings,
            host,
            port,
            on_ready=lambda: typer.echo(f"serving {manifest.bank_name} on http://{host}:{port}"),
        )


def deployed_services(running: contextlib.ExitStack, settings: Settings) -> Services:
    """The services of the deployed bank the settings name, checked against the sources and keys."""
    w3 = connect(rpc_url(None, settings))
    manifest = Manifest.read(settings.effective_manifest_path)
    compilation = compile_project(settings)
    problems = verify_manifest(w3, manifest, compilation)
    if problems:
        raise fail("the manifest's contracts do not match the sources: " + "; ".join(problems.values()))
    sessions = session_factory(running.enter_context(open_database(settings.effective_database_url)))
    signers = operational_signers(settings, Keystore(sessions, settings.kek))
    if not manifest_fits(manifest, signers):
        raise fail(
            "the manifest's roles are not held by this service's operational keys; deploy with the "
            "addresses `tdw keys` prints"
        )
    abis = {name: c.abi for name, c in compilation.contracts.items()}
    services = build_services(settings, w3, sessions, manifest, abis, role_signers=signers)
    running.callback(services.close)
    return services


@app.command()
def recover(
    yes: Annotated[bool, typer.Option("--yes", help="Apply the recovery (without it: only report)")] = False,
) -> None:
    """Bring the database back to a chain that lost blocks it recorded (a reorg past the finality
    depth, a restored node): transactions that are gone are broadcast again from their signed bytes,
    nonce gaps are filled, and the incidents that stopped sending are resolved. Exit 1 when a
    recovery is needed and --yes was not given."""
    settings = get_settings()
    with contextlib.ExitStack() as running:
        services = deployed_services(running, settings)
        fork = services.recovery.check()
        if fork is None:
            halted = services.incidents.halted()
            if halted and yes:
                with services.bank.sessions.begin() as session:
                    services.incidents.resolve_halting(
                        session, "tdw recover", "checked: the chain holds every recorded transaction"
                    )
            typer.echo("the chain holds every transaction the database recorded")
            return
        if not yes:
            typer.echo(f"the chain lost recorded transactions above block {fork}; run with --yes to recover")
            raise typer.Exit(1)
        report = services.recovery.recover(fork, by="tdw recover")
        typer.echo(
            f"recovered above block {report.fork_block}: {report.rows_rebroadcast} transactions broadcast "
            f"again, {report.incidents_resolved} incidents resolved"
        )


@app.command()
def incidents(
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not yet resolved")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    db: Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL)")] = None,
) -> None:
    """List incidents (reorgs, a chain behind the database, fee caps, reconciliation), newest first."""
    settings = get_settings()
    with open_database(db or settings.effective_database_url) as engine, session_factory(engine)() as session:
        query = select(Incident).order_by(Incident.id.desc()).limit(1000)
        if open_only:
            query = query.where(Incident.resolved_at.is_(None))
        rows = list(session.scalars(query))
        reorgs = {
            r.id: r for r in session.scalars(select(Reorg).where(Reorg.id.in_([i.reorg_id for i in rows])))
        }
    if as_json:
        out = [_incident_json(i, reorgs.get(i.reorg_id or -1)) for i in rows]
        typer.echo(json.dumps(out, indent=2, default=datetime.isoformat))
        return
    for i in rows:
        state = "open" if i.resolved_at is None else f"resolved by {i.resolved_by}"
        typer.echo(
            f"#{i.id} {i.opened_at:%Y-%m-%d %H:%M:%S} {i.severity:<8} {i.kind:<14} {state}: {i.summary}"
        )
    if not rows:
        typer.echo("no incidents")


def _incident_json(incident: Incident, reorg: Reorg | None) -> dict[str, Any]:
    out = dataclasses.asdict(incident_view(incident))
    if reorg is not None:
        out["reorg"] = {
            "id": reorg.id,
            "fork_block": reorg.fork_block,
            "old_head": reorg.old_head,
            "depth": reorg.depth,
            "old_hash": reorg.old_hash,
            "new_hash": reorg.new_hash,
            "entries_dropped": reorg.entries_dropped,
            "final_dropped": reorg.final_dropped,
            "detected_at": reorg.detected_at,
        }
    return out


def _catch_up(services: Services) -> None:
    """Brings the mirror to the head before serving; a chain that came back behind the database (its
    state lost in a crash, say) is recovered from first, in the development bank without asking."""
    fork = services.recovery.check()
    if fork is not None:
        report = services.recovery.recover(fork, by="tdw dev")  # rebroadcasts every outbox too
        typer.echo(
            f"the chain is behind the database above block {fork}: "
            f"{report.rows_rebroadcast} transactions broadcast again",
            err=True,
        )
    else:
        for outbox in services.bank.outboxes.values():
            outbox.rebroadcast()  # a restarted node's pool is empty
    for _ in range(1000):
        try:
            services.bank.indexer.run_until_head()
            return
        except DeepReorgError:
            continue  # recorded, with its incident; the recovery worker resolves it


def _configure_logging() -> None:
    """Text or JSON lines (`TDW_LOG_FORMAT`), each with its request id (`wallet.logs`)."""
    logs.configure(get_settings().log_format)


class _Server(uvicorn.Server):
    """A uvicorn server that tells its caller once the socket is listening, so that what `tdw dev`
    prints ("Ctrl-C stops everything") is only printed when the API answers."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()


def _serve_http(
    services: Services, settings: Settings, host: str, port: int, on_ready: Callable[[], None] | None = None
) -> None:
    """Serves the API until SIGINT or SIGTERM (uvicorn handles both); `on_ready` runs once it listens."""
    config = uvicorn.Config(
        create_app(services, docs=settings.serves_docs),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=3,
        timeout_keep_alive=75,
    )
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again; as a
    # KeyboardInterrupt (SIGTERM too) it lands here, and the caller's cleanup runs either way.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _Server(config, on_ready).run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_dev_summary(
    manifest: Manifest,
    chain: str,
    folder: Path,
    database: str,
    port: int,
    logins: list[dict[str, str]],
    extra: list[str] | None = None,
) -> None:
    lines = [
        "",
        f"tdw dev: {manifest.bank_name} (chain {manifest.chain_id})",
        f"  chain     {chain}",
        f"  registry  {manifest.registry.address}",
        *(f"  token     {code} {t.address}" for code, t in manifest.tokens.items()),
        f"  database  {database}",
        f"  data      {folder}",
        "  workers   relayer, indexer, event pump, webhooks",
        f"  wallet    http://127.0.0.1:{port}/app   (open it in a browser)",
        f"  API       http://127.0.0.1:{port}/v1   docs http://127.0.0.1:{port}/docs",
        "",
        "demo logins (password, then a TOTP code: `tdw totp SECRET` prints the current one):",
        *(
            f"  {x['username']:<11} {x['role']:<10} {x['password']:<26} TOTP secret {x['totp_secret']}"
            for x in logins
        ),
        "",
        *(extra or []),
        *([""] if extra else []),
        "Ctrl-C stops everything; the next start resumes from the data folder.",
    ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()
