"""`tdw dev` (the embedded demo bank) and `tdw serve` (a deployed bank from production settings): both
build the bank's services, start the background workers and serve the HTTP API until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from web3 import Web3

from api.app import create_app
from api.cli.app import app, compile_project, fail, open_database, rpc_url
from api.cli.chain import DEFAULT_MINTER_ALLOWANCE
from api.cli.demo import deploy_dev, seed_demo
from wallet.bank.runtime import Services, Workers, build_services
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import Manifest, manifest_fits, verify_manifest
from wallet.chain.node import AnvilNode, BlockTicker, anvil_available, connect
from wallet.db import session_factory
from wallet.errors import ManifestError
from wallet.keys import PrivateKeySigner, operational_signers
from wallet.keys.keystore import Keystore
from wallet.settings import Settings, get_settings


@app.command()
def dev(
    port: Annotated[int | None, typer.Option(help="API port (default: TDW_API_PORT, 8000)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for chain state, database and keys")] = None,
    anvil_port: Annotated[int | None, typer.Option(help="Port for the local anvil node")] = None,
) -> None:
    """Run the demo bank: anvil (or in-process eth-tester without Node), SQLite and an encrypted
    keystore in the data folder, the contracts, demo users with balances, the relayer, indexer, event
    pump and webhooks in the background, and the API with its OpenAPI docs. Ctrl-C stops everything;
    the next start resumes from the same data folder."""
    settings = get_settings()
    folder = (data_dir or settings.data_dir).resolve()
    api_port = port or settings.api_port
    _configure_logging()
    with contextlib.ExitStack() as running:
        _dev(running, settings, folder, api_port, anvil_port)
    typer.echo("stopped")


def _dev(
    running: contextlib.ExitStack, settings: Settings, folder: Path, api_port: int, anvil_port: int | None
) -> None:
    """`tdw dev`'s work; everything it starts is stopped by `running`, last started first."""
    if anvil_available(settings.project_root):
        node = AnvilNode(
            settings.project_root,
            port=anvil_port or settings.anvil_port,
            state_path=folder / "anvil-state.json",
            block_time=1,
            mixed_mining=True,
        )
        running.callback(node.stop)
        w3 = node.start()
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
    manifest = _existing_manifest(w3, manifest_path, compilation)
    if manifest is not None and not manifest_fits(manifest, signers):
        typer.echo(f"{manifest_path} is a bank of other keys; deploying anew", err=True)
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
    abis = {name: c.abi for name, c in compilation.contracts.items()}
    services = build_services(settings, w3, sessions, manifest, abis, role_signers=signers)
    running.callback(services.close)
    services.bank.indexer.run_until_head()
    running.callback(Workers(services).start().stop)
    logins = seed_demo(services, folder / "demo-logins.json")
    database = engine.url.render_as_string()
    _serve_http(
        services,
        settings,
        settings.api_host,
        api_port,
        on_ready=lambda: _print_dev_summary(manifest, chain_label, folder, database, api_port, logins),
    )


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
    _configure_logging()
    with contextlib.ExitStack() as running:
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
        if background:
            services.bank.register_redemption_address()
            running.callback(Workers(services).start().stop)
        host, port = host or settings.api_host, port or settings.api_port
        _serve_http(
            services,
            settings,
            host,
            port,
            on_ready=lambda: typer.echo(f"serving {manifest.bank_name} on http://{host}:{port}"),
        )


def _configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("wallet").setLevel(logging.INFO)


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
    manifest: Manifest, chain: str, folder: Path, database: str, port: int, logins: list[dict[str, str]]
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
        f"  API       http://127.0.0.1:{port}/v1   docs http://127.0.0.1:{port}/docs",
        "",
        "demo logins (password, then a TOTP code: `tdw totp SECRET` prints the current one):",
        *(
            f"  {x['username']:<11} {x['role']:<10} {x['password']:<26} TOTP secret {x['totp_secret']}"
            for x in logins
        ),
        "",
        "Ctrl-C stops everything; the next start resumes from the data folder.",
    ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()


def _existing_manifest(w3: Web3, path: Path, compilation: Compilation) -> Manifest | None:
    """The data folder's manifest when its contracts are still on this chain and match the sources."""
    if not path.exists():
        return None
    try:
        manifest = Manifest.read(path)
        if not verify_manifest(w3, manifest, compilation):
            return manifest
    except ManifestError:
        pass
    typer.echo(f"{path} does not match the chain or the sources; deploying anew", err=True)
    return None
