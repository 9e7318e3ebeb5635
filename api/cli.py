"""The `tdw` command line. It is the process entry point, so it sits in `api/`, the outermost layer: it
composes `wallet` services (and, from the API issue on, serves HTTP). Each command is a thin shell over a
`wallet` function."""

from __future__ import annotations

import binascii
import contextlib
import json
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pyotp
import typer
import uvicorn
from eth_utils import is_address, to_checksum_address
from sqlalchemy import Engine
from web3 import Web3

from api.app import create_app
from wallet.bank.runtime import (
    Services,
    Workers,
    build_services,
    deploy_dev,
    manifest_fits,
    operational_signers,
    register_redemption_address,
    seed_demo,
    user_service,
)
from wallet.bench import api as api_bench
from wallet.bench import gas as gas_bench
from wallet.bench import index as index_bench
from wallet.bench import transfers as transfers_bench
from wallet.chain.compiler import Compilation, compile_contracts, write_prebuilt
from wallet.chain.deploy import BankRoles, Manifest, deploy_bank, manifest_summary, verify_manifest
from wallet.chain.node import AnvilNode, BlockTicker, anvil_available, connect, eth_tester
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.errors import ManifestError, WalletError
from wallet.keys import PrivateKeySigner
from wallet.keys.keystore import Keystore
from wallet.ledger.indexer import ZERO_ADDRESS, Indexer, IndexerConfig
from wallet.ledger.reconcile import reconcile as reconcile_mirror
from wallet.ledger.statements import FORMATS, build_statement, render
from wallet.settings import Settings, get_settings

app = typer.Typer(help="tdw: tokenized deposit wallet for banks.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmarks; each prints JSON and compares against a reference from the same run."
)
app.add_typer(bench_app, name="bench")

DEFAULT_MINTER_ALLOWANCE = 10**15  # minor units; the admin raises it with configureMinter


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _compile(settings: Settings) -> Compilation:
    return compile_contracts(settings.project_root, settings.cache_dir)


def _rpc_url(option: str | None, settings: Settings) -> str:
    url = option or settings.rpc_url
    if not url:
        raise _fail("give --rpc URL or set TDW_RPC_URL")
    return url


def _address(value: str | None, default: str, option: str) -> Any:
    if value is None:
        return default
    if not is_address(value):
        raise _fail(f"{option} {value!r} is not an Ethereum address")
    return to_checksum_address(value)


@app.command()
def compile(
    prebuilt: Annotated[
        bool,
        typer.Option("--prebuilt", help="Also write contracts/prebuilt.json (for machines without Node.js)"),
    ] = False,
) -> None:
    """Compile the contracts (cached by source hash) and list them."""
    settings = get_settings()
    try:
        compilation = _compile(settings)
        if prebuilt:
            typer.echo(f"wrote {write_prebuilt(settings.project_root, settings.cache_dir)}", err=True)
    except WalletError as exc:
        raise _fail(str(exc)) from None
    for contract in compilation.contracts.values():
        if contract.deployed_bytecode:
            typer.echo(f"{contract.qualified_name}: {len(contract.deployed_bytecode)} bytes")


@app.command()
def deploy(
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the node (default: TDW_RPC_URL)")] = None,
    currency: Annotated[list[str] | None, typer.Option(help="ISO 4217 code; repeat for more tokens")] = None,
    bank_name: Annotated[str | None, typer.Option(help="Bank name used in the token names")] = None,
    manifest: Annotated[Path, typer.Option(help="Where to write the deployment manifest")] = Path(
        "deployment.json"
    ),
    admin: Annotated[str | None, typer.Option(help="Admin address (default: the deployer)")] = None,
    minter: Annotated[str | None, typer.Option(help="Minter address (default: the deployer)")] = None,
    burner: Annotated[str | None, typer.Option(help="Burner address (default: the deployer)")] = None,
    pauser: Annotated[str | None, typer.Option(help="Pauser address (default: the deployer)")] = None,
    compliance: Annotated[str | None, typer.Option(help="Compliance address (default: the deployer)")] = None,
    minter_allowance: Annotated[int, typer.Option(help="Minter allowance in minor units")] = (
        DEFAULT_MINTER_ALLOWANCE
    ),
) -> None:
    """Deploy the compliance registry and one deposit token per currency; write the manifest."""
    settings = get_settings()
    url = _rpc_url(rpc, settings)
    try:
        settings.check_production(deploying=True)
        signer = PrivateKeySigner(settings.deployer_key)
        me = signer.address
        roles = BankRoles(
            admin=_address(admin, me, "--admin"),
            minter=_address(minter, me, "--minter"),
            burner=_address(burner, me, "--burner"),
            pauser=_address(pauser, me, "--pauser"),
            compliance=_address(compliance, me, "--compliance"),
        )
        compilation = _compile(settings)
        w3 = connect(url)
        abis = [c.abi for c in compilation.contracts.values()]
        result = deploy_bank(
            w3,
            Transactor(w3, signer, abis),
            compilation,
            bank_name=bank_name or settings.bank_name,
            currencies=currency or settings.currencies,
            roles=roles,
            minter_allowance=minter_allowance,
        )
    except WalletError as exc:
        raise _fail(str(exc)) from None
    result.write(manifest)
    typer.echo(manifest_summary(result))
    typer.echo(f"manifest written to {manifest}", err=True)


@app.command()
def verify(
    manifest: Annotated[Path, typer.Option(help="The deployment manifest to check")],
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the node (default: TDW_RPC_URL)")] = None,
) -> None:
    """Check the code on chain against a fresh compile of the sources; exit 1 on any mismatch."""
    settings = get_settings()
    url = _rpc_url(rpc, settings)
    try:
        loaded = Manifest.read(manifest)
        problems = verify_manifest(connect(url), loaded, _compile(settings))
    except WalletError as exc:
        raise _fail(str(exc)) from None
    if problems:
        for label, problem in problems.items():
            typer.echo(f"MISMATCH {label}: {problem}")
        raise typer.Exit(1)
    typer.echo(f"registry {loaded.registry.address}: matches {loaded.registry.source}")
    for code, token in loaded.tokens.items():
        typer.echo(f"token {code} {token.address}: matches {token.source}")


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
    try:
        with contextlib.ExitStack() as running:
            _dev(running, settings, folder, api_port, anvil_port)
    except WalletError as exc:
        raise _fail(str(exc)) from None
    typer.echo("stopped")


def _dev(
    running: contextlib.ExitStack, settings: Settings, folder: Path, api_port: int, anvil_port: int | None
) -> None:
    """`tdw dev`'s work; everything it starts is stopped by `running`, last started first."""
    if anvil_available(settings.project_root):
        node = AnvilNode(
            settings.project_root, port=anvil_port or settings.anvil_port,
            state_path=folder / "anvil-state.json", block_time=1, mixed_mining=True,
        )  # fmt: skip
        running.callback(node.stop)
        w3 = node.start()
        chain_label = f"anvil JSON-RPC on {node.url} (state in {folder / 'anvil-state.json'})"
    else:
        # Without `npm ci` (no Node.js) there is no anvil: an in-process chain that lives as long as
        # this process.
        folder = folder / "eth-tester"
        shutil.rmtree(folder, ignore_errors=True)
        w3 = eth_tester()
        running.callback(BlockTicker(w3).start().stop)
        chain_label = "in-process eth-tester chain (no anvil in node_modules; state is not kept)"
    folder.mkdir(parents=True, exist_ok=True)
    engine = running.enter_context(_database(settings.database_url or f"sqlite:///{folder / 'tdw.db'}"))
    sessions = session_factory(engine)
    signers = operational_signers(settings, Keystore(sessions, settings.kek))
    compilation = _compile(settings)
    manifest_path = folder / "deployment.json"
    manifest = _existing_manifest(w3, manifest_path, compilation)
    if manifest is not None and not manifest_fits(manifest, signers):
        typer.echo(f"{manifest_path} is a bank of other keys; deploying anew", err=True)
        manifest = None
    if manifest is None:
        manifest = deploy_dev(
            w3, compilation, PrivateKeySigner(settings.deployer_key), signers,
            bank_name=settings.bank_name, currencies=settings.currencies,
            minter_allowance=DEFAULT_MINTER_ALLOWANCE,
        )  # fmt: skip
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
        services, settings.api_host, api_port,
        on_ready=lambda: _print_dev_summary(manifest, chain_label, folder, database, api_port, logins),
    )  # fmt: skip


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
    try:
        with contextlib.ExitStack() as running:
            settings.check_production(serving=True)
            w3 = connect(_rpc_url(None, settings))
            manifest = Manifest.read(settings.effective_manifest_path)
            compilation = _compile(settings)
            problems = verify_manifest(w3, manifest, compilation)
            if problems:
                raise _fail(
                    "the manifest's contracts do not match the sources: " + "; ".join(problems.values())
                )
            sessions = session_factory(running.enter_context(_database(settings.effective_database_url)))
            signers = operational_signers(settings, Keystore(sessions, settings.kek))
            if not manifest_fits(manifest, signers):
                raise _fail(
                    "the manifest's roles are not held by this service's operational keys; deploy with the "
                    "addresses `tdw keys` prints"
                )
            abis = {name: c.abi for name, c in compilation.contracts.items()}
            services = build_services(settings, w3, sessions, manifest, abis, role_signers=signers)
            running.callback(services.close)
            if background:
                register_redemption_address(services.bank)
                running.callback(Workers(services).start().stop)
            host, port = host or settings.api_host, port or settings.api_port
            _serve_http(
                services,
                host,
                port,
                on_ready=lambda: typer.echo(f"serving {manifest.bank_name} on http://{host}:{port}"),
            )
    except WalletError as exc:
        raise _fail(str(exc)) from None


@app.command()
def keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object of role to address")] = False,
) -> None:
    """Print the bank's operational address per role (admin, minter, burner, pauser, compliance,
    relayer), creating the keys on first use in the configured signer: the keystore in the database
    (TDW_DATABASE_URL, TDW_KEK) or the PKCS#11 token. `tdw deploy` takes these addresses, and each one
    needs gas on the chain before `tdw serve` sends from it."""
    settings = get_settings()
    try:
        with _database(settings.effective_database_url) as engine:
            signers = operational_signers(settings, Keystore(session_factory(engine), settings.kek))
    except WalletError as exc:
        raise _fail(str(exc)) from None
    addresses = {role: signer.address for role, signer in signers.items()}
    if as_json:
        typer.echo(json.dumps(addresses))
    else:
        typer.echo("\n".join(f"{role:<11} {address}" for role, address in addresses.items()))


@app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="customer, operator, compliance or admin")] = "admin",
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given"),
    ] = "",
) -> None:
    """Create a user directly in the database: how a production bank gets its first admin (later
    users are created over the API by an admin). Prints the TOTP secret and otpauth URI once."""
    settings = get_settings()
    try:
        with _database(settings.effective_database_url) as engine:
            # create() checks the role against the four there are.
            enrolment = user_service(settings, session_factory(engine)).create(username, password, role)  # type: ignore[arg-type]
    except WalletError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"created {enrolment.role} {enrolment.username!r} ({enrolment.user_id})")
    typer.echo(f"TOTP secret {enrolment.totp_secret}")
    typer.echo(f"TOTP URI    {enrolment.totp_uri}")


@app.command()
def totp(
    secret: Annotated[str, typer.Argument(help="A base32 TOTP secret (from sign-up or the demo logins)")],
) -> None:
    """Print the current TOTP code of a secret (what an authenticator app shows)."""
    try:
        typer.echo(pyotp.TOTP(secret).now())
    except (ValueError, TypeError, binascii.Error):
        raise _fail("that is not a base32 TOTP secret") from None


@contextlib.contextmanager
def _database(url: str) -> Iterator[Engine]:
    """An engine on the database at `url`, migrated to the newest schema; disposed on exit."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


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


def _serve_http(services: Services, host: str, port: int, on_ready: Callable[[], None] | None = None) -> None:
    """Serves the API until SIGINT or SIGTERM (uvicorn handles both); `on_ready` runs once it listens."""
    config = uvicorn.Config(
        create_app(services), host=host, port=port, log_level="warning", timeout_graceful_shutdown=3,
        timeout_keep_alive=75,
    )  # fmt: skip
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


def _existing_manifest(w3: Any, path: Path, compilation: Compilation) -> Manifest | None:
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


def _indexer(
    settings: Settings,
    manifest_path: Path,
    rpc: str | None,
    db: str | None,
    confirmations: int,
    max_range: int = 50_000,
) -> Any:
    manifest = Manifest.read(manifest_path)
    w3 = connect(_rpc_url(rpc, settings))
    engine = make_engine(db or settings.effective_database_url)
    upgrade(engine)
    contracts = [manifest.registry.address, *(t.address for t in manifest.tokens.values())]
    config = IndexerConfig(
        confirmations=confirmations,
        start_block=manifest.start_block,
        initial_range=min(2_000, max_range),
        max_range=max_range,
    )
    return manifest, w3, session_factory(engine), Indexer(session_factory(engine), w3, contracts, config)


@app.command()
def index(
    manifest: Annotated[Path, typer.Option(help="The bank's deployment manifest")] = Path("deployment.json"),
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL (default: TDW_RPC_URL)")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")] = None,
    confirmations: Annotated[int, typer.Option(help="Blocks after which entries are final", min=1)] = 12,
    once: Annotated[bool, typer.Option("--once", help="Index up to the head, then exit")] = False,
    max_range: Annotated[
        int, typer.Option(help="At most this many blocks per eth_getLogs call", min=1)
    ] = 50_000,
) -> None:
    """Mirror the bank's tokens and registry into the journal, following the chain until Ctrl-C."""
    settings = get_settings()
    try:
        _, _, _, indexer = _indexer(settings, manifest, rpc, db, confirmations, max_range)
        if once:
            applied = indexer.run_until_head()
            typer.echo(f"applied {applied} entries; the mirror is at the head")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        typer.echo("following the chain; Ctrl-C stops")
        indexer.follow(stop)
    except WalletError as exc:
        raise _fail(str(exc)) from None


@app.command()
def reconcile(
    at_block: Annotated[int, typer.Option("--at-block", help="Compare balances as of this block", min=0)],
    manifest: Annotated[Path, typer.Option(help="The bank's deployment manifest")] = Path("deployment.json"),
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL (default: TDW_RPC_URL)")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")] = None,
) -> None:
    """Compare every mirrored balance with balanceOf on chain at a block; exit 1 on any difference."""
    settings = get_settings()
    try:
        loaded, w3, sessions, _ = _indexer(settings, manifest, rpc, db, 12)
        if at_block > w3.eth.block_number:
            raise _fail(f"block {at_block} is beyond the head {w3.eth.block_number}")
        differences = reconcile_mirror(sessions, w3, [t.address for t in loaded.tokens.values()], at_block)
    except WalletError as exc:
        raise _fail(str(exc)) from None
    for d in differences:
        who = "total supply" if d.holder == ZERO_ADDRESS else d.holder
        typer.echo(f"DIFFERENCE {d.token} {who}: mirror {d.mirror}, chain {d.chain}")
    if differences:
        raise typer.Exit(1)
    typer.echo(f"the mirror matches the chain at block {at_block}")


@app.command()
def statement(
    account: Annotated[str, typer.Option(help="The account's address")],
    from_date: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC)")],
    to_date: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC), included")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv, pdf or camt053")] = "json",
    currency: Annotated[str | None, typer.Option(help="Which token (default: the manifest's first)")] = None,
    manifest: Annotated[Path, typer.Option(help="The bank's deployment manifest")] = Path("deployment.json"),
    db: Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output")] = None,
) -> None:
    """An account's statement from the ledger mirror: opening balance, entries, closing balance."""
    settings = get_settings()
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not is_address(account):
        raise _fail(f"--account {account!r} is not an Ethereum address")
    try:
        loaded = Manifest.read(manifest)
        code = currency or next(iter(loaded.tokens))
        if code not in loaded.tokens:
            raise _fail(f"the bank has no {code} token; it has {', '.join(loaded.tokens)}")
        token = loaded.tokens[code]
        names = {ZERO_ADDRESS: f"{loaded.bank_name} issuance (mint and burn)"}
        for role, address in loaded.roles.model_dump().items():
            names.setdefault(address, f"{loaded.bank_name} {role}")
        engine = make_engine(db or settings.effective_database_url)
        result = build_statement(
            session_factory(engine), chain_id=loaded.chain_id, token=token.address, currency=code,
            exponent=token.decimals, account=to_checksum_address(account), period_from=from_date.date(),
            period_to=to_date.date(), names=names,
        )  # fmt: skip
        body = render(result, fmt)  # type: ignore[arg-type]
    except WalletError as exc:
        raise _fail(str(exc)) from None
    if output is not None:
        output.write_bytes(body)
        typer.echo(f"{fmt} statement of {len(result.lines)} entries written to {output}", err=True)
    elif fmt == "pdf":
        raise _fail("a PDF statement needs --output FILE")
    else:
        sys.stdout.write(body.decode())


def _run_bench(
    run: Callable[[Web3, Compilation, Path], dict[str, Any]], rpc: str | None = None
) -> dict[str, Any]:
    """Compiles and runs a benchmark on `rpc`, or on a fresh anvil, with a scratch folder it may use."""
    settings = get_settings()
    try:
        compilation = _compile(settings)
        with tempfile.TemporaryDirectory(prefix="tdw-bench-") as folder:
            if rpc:
                return run(connect(rpc), compilation, Path(folder))
            with AnvilNode(settings.project_root) as w3:
                return run(w3, compilation, Path(folder))
    except WalletError as exc:
        raise _fail(str(exc)) from None


def _print_json(result: dict[str, Any], compact: bool) -> None:
    typer.echo(json.dumps(result) if compact else json.dumps(result, indent=2))


@bench_app.command("gas")
def bench_gas(
    json_output: Annotated[bool, typer.Option("--json", help="Print only the JSON document")] = False,
    rpc: Annotated[
        str | None, typer.Option(help="Use this development node instead of a fresh anvil")
    ] = None,
) -> None:
    """Gas of DepositToken's transfer, mint, burn and authorizations against a plain OpenZeppelin ERC-20."""
    result = _run_bench(lambda w3, compilation, _: gas_bench.run(w3, compilation), rpc)
    _print_json(result, json_output)
    if not json_output:
        typer.echo(f"transfer costs {result['transfer_ratio']:.2f}x a plain OpenZeppelin ERC-20 transfer")


@bench_app.command("transfers")
def bench_transfers(
    n: Annotated[int, typer.Option("--n", help="How many transfers each way", min=1)] = 2000,
    json_output: Annotated[bool, typer.Option("--json", help="Print only the JSON document")] = False,
    db: Annotated[str | None, typer.Option(help="Database URL (default: a fresh SQLite file)")] = None,
) -> None:
    """Customer transfers through keystore, relayer and outbox against plain pre-signed transfers."""
    settings = get_settings()
    result = _run_bench(
        lambda w3, compilation, folder: transfers_bench.run(
            w3, compilation, n=n, db_url=db or f"sqlite:///{folder}/bench.db",
            project_root=settings.project_root, pkcs11_module=settings.pkcs11_module,
        )
    )  # fmt: skip
    _print_json(result, json_output)


@bench_app.command("index")
def bench_index(
    events: Annotated[int, typer.Option(help="How many transfer events to generate", min=1)] = 100_000,
    json_output: Annotated[bool, typer.Option("--json", help="Print only the JSON document")] = False,
    postgres: Annotated[
        str | None, typer.Option(help="PostgreSQL URL whose server may create a scratch database")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
) -> None:
    """Indexing speed into SQLite and PostgreSQL against raw eth_getLogs decoding, and a large statement."""
    result = _run_bench(
        lambda w3, compilation, folder: index_bench.run(
            w3, compilation, events=events, sqlite_url=f"sqlite:///{folder}/index.db",
            postgres_admin_url=postgres or None,
        )
    )  # fmt: skip
    _print_json(result, json_output)


@bench_app.command("api")
def bench_api(
    url: Annotated[str, typer.Option(help="Base URL of a running `tdw dev`")] = "http://127.0.0.1:8000",
    seconds: Annotated[float, typer.Option(help="How long to send transfers", min=1)] = 30,
    clients: Annotated[int, typer.Option(help="Concurrent customers", min=2)] = 32,
    json_output: Annotated[bool, typer.Option("--json", help="Print only the JSON document")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="The instance's data folder (its demo operator login mints balances)")
    ] = None,
) -> None:
    """POST /v1/transfers between many customer pairs against a running API: accepted and final per
    second and latency percentiles, against an authenticated GET measured in the same run."""
    settings = get_settings()
    logins_path = (data_dir or settings.data_dir) / "demo-logins.json"
    if not logins_path.exists():
        raise _fail(f"{logins_path} is missing; point --data-dir at the folder of the running `tdw dev`")
    operator = next((x for x in json.loads(logins_path.read_text()) if x["role"] == "operator"), None)
    if operator is None:
        raise _fail(f"{logins_path} has no operator login")
    try:
        result = api_bench.run(url, seconds=seconds, clients=clients, operator=operator)
    except WalletError as exc:
        raise _fail(str(exc)) from None
    _print_json(result, json_output)


if __name__ == "__main__":
    app()
