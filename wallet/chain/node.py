"""Connections to a chain: any JSON-RPC URL, anvil started from `node_modules`, or in-process eth-tester."""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests
from eth_typing import ChecksumAddress
from requests.adapters import HTTPAdapter
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from wallet.chain import rpc
from wallet.errors import NodeError, NodeUnreachableError

ANVIL_RELATIVE_PATH = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
HARDFORK = "cancun"  # the evmVersion in contracts/compiler.json
# Past blocks whose states anvil writes to disk once they leave its memory. Its default, 3,600 files of
# the whole state each (megabytes on a busy chain), in ~/.foundry, never removed when the node is killed,
# filled the disk of a machine running the test suite. A few hundred cover a test's look-backs; `tdw dev`
# keeps half an hour of one-second blocks for the inspector.
PERSISTED_STATES = 256
DEV_PERSISTED_STATES = 1800
# Connections a provider keeps open to its node, shared by all threads; more at once are opened and closed.
NODE_POOL_SIZE = 16


class NodeProvider(HTTPProvider):
    """web3's HTTP provider, with transport failures (refused, reset, timed out) raised as
    `NodeUnreachableError`: what `requests` raises stays inside `wallet.chain`, so every caller above
    sees one `WalletError` for a node that is away.

    All threads share one `requests.Session` and its pool of `NODE_POOL_SIZE` connections: web3's own
    default is a session per thread, cached up to 100, each keeping its connection open, so a process
    whose worker threads come and go held connections to its node by the hundred."""

    def __init__(self, endpoint_uri: str, *, timeout: float = 30.0) -> None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=NODE_POOL_SIZE)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        super().__init__(endpoint_uri, request_kwargs={"timeout": timeout}, session=session)
        self.session = session

    def close(self) -> None:
        """Closes the pooled connections (a later call opens new ones)."""
        self.session.close()

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        try:
            return super()._make_request(method, request_data)
        except requests.exceptions.RequestException as exc:
            # The message reaches API clients; the URL (which may carry a provider's key) stays in the cause.
            raise NodeUnreachableError("the chain node did not answer; try again shortly") from exc


def http_web3(url: str, *, timeout: float = 30.0) -> Web3:
    """A `Web3` on the JSON-RPC node at `url` through `NodeProvider`; it does not call the node."""
    return Web3(NodeProvider(url, timeout=timeout))


def connect(url: str, *, timeout: float = 30.0) -> Web3:
    """A `Web3` on the JSON-RPC node at `url`; raises `NodeError` when nothing answers there."""
    w3 = http_web3(url, timeout=timeout)
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap call that proves the node answers
    except Exception as exc:
        raise NodeError(f"no JSON-RPC node answers at {url}: {exc}") from exc
    return w3


class BlockTicker:
    """Mines a block every `interval` seconds, as a real chain keeps producing blocks, on a chain that
    otherwise mines only on transactions (eth-tester, or anvil without a block time): without new
    blocks nothing ever gets its confirmations."""

    def __init__(self, w3: Web3, interval: float = 1.0) -> None:
        self.w3 = w3
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tdw-block-ticker", daemon=True)

    def start(self) -> BlockTicker:
        """Starts mining in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops mining and waits for the last block."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def set_chain_time(w3: Web3, when: int) -> int:
    """Moves a development chain's clock (anvil) to `when`, unix seconds, or to just after its latest
    block when `when` is earlier: a chain's block times never go back (anvil would let them). Two
    seconds past the latest, so a block mined on the interval meanwhile still comes before. Returns
    the time set."""
    latest = int(w3.eth.get_block("latest")["timestamp"])
    moment = max(when, latest + 2)
    response = w3.provider.make_request(RPCEndpoint("anvil_setTime"), [moment])
    if "error" in response:
        raise NodeError(f"the node did not set its clock: {response['error']}")
    return moment


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel SIGKILLs this process when the process that started it dies, however it died
    (a SIGKILL of `tdw dev` alone, an OOM kill), so no orphaned node keeps the port and a stale chain."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def anvil_binary(project_root: Path) -> Path:
    """The anvil binary shipped by the npm package `@foundry-rs/anvil-linux-amd64`."""
    binary = project_root / ANVIL_RELATIVE_PATH
    if not binary.exists():
        raise NodeError(f"{binary} is missing; run `npm ci` (or `make setup`) first")
    return binary


def anvil_available(project_root: Path) -> bool:
    """Whether `npm ci` installed anvil here."""
    return (project_root / ANVIL_RELATIVE_PATH).exists()


class AnvilNode:
    """An anvil process on 127.0.0.1, stopped on `stop()` or when the `with` block ends.

    With `state_path` the chain is loaded from that file at start, and `StateSaver` writes it (at
    stop, and before anything built on the chain is called final), so a development chain survives
    restarts and crashes. The process dies with the process that started it (Linux), and a port that
    is already taken is refused rather than silently used: a node found there is not this one.
    """

    def __init__(
        self,
        project_root: Path,
        *,
        port: int | None = None,
        state_path: Path | None = None,
        chain_id: int = 31337,
        block_time: float | None = None,
        mixed_mining: bool = False,
        genesis_time: int | None = None,
        persisted_states: int = PERSISTED_STATES,
        startup_timeout: float = 30.0,
    ) -> None:
        self.project_root = project_root
        self.port = port or free_port()
        self.state_path = state_path
        self.chain_id = chain_id
        self.block_time = block_time
        # With a block time: also mine each transaction at once (low latency), and blocks on the
        # interval (so confirmations keep coming when nothing else happens).
        self.mixed_mining = mixed_mining
        # A new chain's clock starts here (unix seconds) and runs on from it; a chain loaded from its
        # state file keeps its blocks and runs on the wall clock.
        self.genesis_time = genesis_time
        self.persisted_states = persisted_states
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Where anvil keeps the past states it writes to disk: beside the state file (so a crashed run's
        # are removed at the next start), else a temporary folder; removed when the node stops.
        self.cache_path = (
            state_path.with_name(state_path.name + ".cache")
            if state_path is not None
            else Path(tempfile.gettempdir()) / f"tdw-anvil-{os.getpid()}-{id(self):x}"
        )

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The anvil command line."""
        cmd = [
            str(anvil_binary(self.project_root)),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--hardfork",
            HARDFORK,
            "--accounts",
            "10",
            "--balance",
            "1000000",
            "--cache-path",
            str(self.cache_path),
            "--max-persisted-states",
            str(self.persisted_states),
        ]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
            if self.mixed_mining:
                cmd.append("--mixed-mining")
        if self.state_path is not None and self.state_path.exists():
            # Loaded only: anvil's own dump (on exit, or on an interval) writes the file in place, and a
            # crash in the middle leaves half a chain; `StateSaver` writes it atomically instead.
            cmd += ["--load-state", str(self.state_path)]
        elif self.genesis_time is not None:
            cmd += ["--timestamp", str(self.genesis_time)]
        return cmd

    def start(self) -> Web3:
        """Starts anvil and waits until it answers; returns a `Web3` on it."""
        if port_in_use(self.port):
            raise NodeError(
                f"port {self.port} is taken: a node left over from an earlier run, or another program, "
                f"listens there. Stop it (`fuser -k {self.port}/tcp`) or choose another port; tdw does "
                "not adopt a chain it did not start"
            )
        shutil.rmtree(self.cache_path, ignore_errors=True)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + self.startup_timeout
        w3 = http_web3(self.url)
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NodeError(f"anvil exited with {self._process.returncode}: {self._log_tail()}")
            with contextlib.suppress(Exception):
                if w3.eth.chain_id == self.chain_id:
                    return w3
            time.sleep(0.05)
        self.stop()
        raise NodeError(f"anvil did not answer on {self.url} within {self.startup_timeout}s")

    @property
    def pid(self) -> int | None:
        """The node's process id while it runs."""
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        """Stops anvil, saving its state first when it has a state file."""
        if self._process is not None and self._process.poll() is None and self.state_path is not None:
            with contextlib.suppress(Exception):
                StateSaver(http_web3(self.url), self.state_path).save()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        shutil.rmtree(self.cache_path, ignore_errors=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def __enter__(self) -> Web3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class StateSaver:
    """Keeps an anvil chain's state file no older than what the database relies on.

    `durable_block(head)` is the newest block a crash cannot take back: a saved state holds it. When
    asked about a newer block, it saves (`anvil_dumpState`, written to a temporary file, fsynced and
    renamed over the state file) at most every `min_interval` seconds. The indexer and the outboxes
    call nothing final above it, so after a SIGKILL of the whole stack the chain reloads at least as
    far as every final entry and transaction.
    """

    def __init__(self, w3: Web3, path: Path, *, min_interval: float = 0.5) -> None:
        self.w3 = w3
        self.path = path
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._saved = -1
        self._saved_at = 0.0

    def durable_block(self, head: int) -> int:
        """The newest block at or below `head` that a saved state holds."""
        with self._lock:
            if self._saved < head and time.monotonic() - self._saved_at >= self.min_interval:
                self._save()
            return min(head, self._saved)

    def save(self) -> int:
        """Saves the state now; returns the block it holds."""
        with self._lock:
            return self._save()

    def _save(self) -> int:
        number = self.w3.eth.block_number  # read first: the dump holds at least this block
        response = rpc.request(self.w3, "anvil_dumpState", [])
        if "error" in response:
            raise NodeError(f"anvil_dumpState failed: {response['error']}")
        state = gzip.decompress(bytes.fromhex(str(response["result"])[2:]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as out:
            out.write(state)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._saved, self._saved_at = number, time.monotonic()
        return number


def fund_from_dev_account(w3: Web3, to: ChecksumAddress, wei: int) -> None:
    """Sends `wei` of gas money to `to` from the node's first unlocked account (development chains only)."""
    sender = w3.eth.accounts[0]
    tx: Any = {"from": sender, "to": to, "value": wei}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    if receipt["status"] != 1:
        raise NodeError(f"funding {to} from {sender} failed")
