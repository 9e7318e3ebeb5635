"""Real processes against anvil and a real database: SIGKILLed at random moments, or two at once on one
relayer key. Every requested transfer must happen exactly once."""

import functools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from web3 import Web3

from tests.support.custody_bank import Custody, build, write_config
from tests.support.transfer_driver import plan
from wallet.chain.compiler import Compilation
from wallet.db.models import ChainTx, TransferRequest
from wallet.settings import PROJECT_ROOT


def _driver(config_path: Path, start: int, count: int, prefix: str) -> subprocess.Popen[str]:
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.transfer_driver",
            str(config_path),
            str(start),
            str(count),
            prefix,
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def _expected(customers: list[str], balance: int, indexes: range) -> dict[str, int]:
    expected = dict.fromkeys(customers, balance)
    for i in indexes:
        payer, payee, value = plan(i, customers)
        expected[payer] -= value
        expected[payee] += value
    return expected


def _assert_exactly_once(custody: Custody, keys: list[str], expected: dict[str, int]) -> None:
    with custody.sessions() as s:
        requests = list(s.scalars(select(TransferRequest)))
        assert sorted(r.idempotency_key for r in requests) == sorted(keys)
        assert {r.status for r in requests} == {"executed"}
        txs = list(s.scalars(select(ChainTx)))
        assert s.scalar(
            select(func.count(func.distinct(ChainTx.nonce))).where(ChainTx.status != "failed")
        ) == len([t for t in txs if t.status != "failed"])
    token = custody.token
    for r in requests:
        assert token.functions.authorizationState(r.payer, bytes(r.auth_nonce)).call() is True
    used = token.events.AuthorizationUsed().get_logs(from_block=0)
    assert len(used) == len(keys)  # each authorization executed once, none twice
    assert {a: token.functions.balanceOf(a).call() for a in expected} == expected


def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    chain: Web3, compilation: Compilation, db_url: str, tmp_path: Path
) -> None:
    n, balance = 300, 10_000
    custody, config = build(chain, compilation, db_url, customers=6, balance=balance, batch_size=25)
    config_path = tmp_path / "custody.json"
    write_config(config, config_path)
    # Blocks every second instead of on every transaction, so batches wait broadcast but unmined while
    # the kills land, as they would on a real network.
    _mine_every_second(chain)
    rng = random.Random(20261123)
    kills: list[tuple[str, int, int, dict[str, int]]] = []

    def run_until(phase: str, reached: Callable[[int, int], bool]) -> None:
        """Starts the driver, waits until `reached(submitted, executed)`, then SIGKILLs it."""
        proc = _driver(config_path, 0, n, "t")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            submitted, executed = _progress(custody)
            if reached(submitted, executed):
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the driver ended before the kill point: {proc.communicate()[1]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append((phase, *_progress(custody), _outbox_in_flight(custody)))

    # The driver relays a batch after every ten submissions, so killing it at random submission counts
    # cuts it anywhere in submit -> claim -> sign -> store -> broadcast -> receipt. Kill points end well
    # before the last transfer: on a loaded machine the driver submits dozens between the poll that
    # sees the target and the kill, and a kill after the last submission would not be in flight.
    for target in sorted(rng.sample(range(5, n - 60), 6)):
        run_until("submitting", functools.partial(_submitted_at_least, target))
    print("kills (phase, submitted, executed, outbox rows in flight):", kills)

    final = _driver(config_path, 0, n, "t")
    _, stderr = final.communicate(timeout=600)
    assert final.returncode == 0, stderr
    assert len(kills) >= 5
    assert all(submitted < n and executed < n for _, submitted, executed, _ in kills)  # work was in flight
    assert sum(1 for *_, outbox in kills if outbox) >= 2  # some kills caught transactions not yet mined
    _assert_exactly_once(
        custody, [f"t{i}" for i in range(n)], _expected(custody.customers, balance, range(n))
    )


def _submitted_at_least(target: int, submitted: int, _executed: int) -> bool:
    return submitted >= target


@pytest.fixture(autouse=True)
def _restore_automine(chain: Web3) -> Iterator[None]:
    yield
    chain.provider.make_request("evm_setIntervalMining", [0])  # type: ignore[arg-type]
    chain.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def _mine_every_second(chain: Web3) -> None:
    chain.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    chain.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]


def _outbox_in_flight(custody: Custody) -> dict[str, int]:
    with custody.sessions() as s:
        rows = s.execute(
            select(ChainTx.status, func.count())
            .where(ChainTx.status.in_(("intent", "signed", "broadcast")))
            .group_by(ChainTx.status)
        ).all()
    return {status: count for status, count in rows}


def _progress(custody: Custody) -> tuple[int, int]:
    """(requests submitted so far, requests executed so far)."""
    with custody.sessions() as s:
        submitted = s.scalar(select(func.count()).select_from(TransferRequest)) or 0
        executed = s.scalar(select(func.count()).where(TransferRequest.status == "executed")) or 0
    return submitted, executed


def test_two_processes_share_one_relayer_key_without_nonce_collisions(
    chain: Web3, compilation: Compilation, db_url: str, tmp_path: Path
) -> None:
    balance = 10_000
    custody, config = build(chain, compilation, db_url, customers=6, balance=balance, batch_size=20)
    config_path = tmp_path / "custody.json"
    write_config(config, config_path)
    _mine_every_second(chain)
    procs = [_driver(config_path, 0, 100, "p"), _driver(config_path, 100, 100, "p")]
    deadline = time.monotonic() + 600
    for proc in procs:
        _, stderr = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        assert proc.returncode == 0, stderr
    _assert_exactly_once(
        custody, [f"p{i}" for i in range(200)], _expected(custody.customers, balance, range(200))
    )
