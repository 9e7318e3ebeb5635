"""`tdw index` SIGKILLed at random moments over 20,000 transfer events: after a restart the mirror
equals the chain, with nothing lost and nothing applied twice."""

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from web3 import Web3

from wallet.bench.index import generate_transfers
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import Manifest
from wallet.chain.node import AnvilNode
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import JournalEntry
from wallet.ledger.indexer import TRANSFER
from wallet.ledger.reconcile import reconcile

EVENTS = 20_000
PER_BATCH = 250
PAYERS = 40


@pytest.fixture(scope="module")
def busy_chain(
    project_root: Path, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AnvilNode, Path, int]]:
    """An anvil with a bank whose token emitted 20,000 transfers (plus its mints); its manifest."""
    node = AnvilNode(project_root)
    chain = generate_transfers(node.start(), compilation, EVENTS)
    path = tmp_path_factory.mktemp("busy") / "deployment.json"
    chain.manifest.write(path)
    yield node, path, chain.events
    node.stop()


def _entries(db_url: str) -> int:
    with session_factory(make_engine(db_url))() as s:
        return s.scalar(select(func.count()).select_from(JournalEntry)) or 0


def test_sigkill_during_indexing_loses_and_doubles_nothing(
    busy_chain: tuple[AnvilNode, Path, int], db_url: str
) -> None:
    node, manifest_path, expected = busy_chain
    upgrade(make_engine(db_url))
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "index",
        "--once",
        "--manifest",
        str(manifest_path),
        "--rpc",
        node.url,
        "--db",
        db_url,
        "--confirmations",
        "1",
        "--max-range",
        "3",
    ]
    rng = random.Random(11)
    kills = []
    # Kill points end well before the last event: a busy machine can let the indexer commit a few batches
    # between the count and the kill, and a kill after the last commit would test nothing.
    for target in sorted(rng.sample(range(1_000, expected - 4_000), 6)):
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and _entries(db_url) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"the indexer finished before the kill point: {proc.communicate()[1]!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_entries(db_url))
    assert len(kills) >= 5, kills
    assert all(0 < k < expected for k in kills), kills
    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    w3 = Web3(Web3.HTTPProvider(node.url))
    manifest = Manifest.read(manifest_path)
    token = manifest.tokens["USD"].address
    logs = w3.eth.get_logs(
        {
            "fromBlock": manifest.start_block,
            "toBlock": "latest",
            "address": token,
            "topics": ["0x" + TRANSFER.hex()],
        }
    )
    with session_factory(make_engine(db_url))() as s:
        mirrored = set(s.execute(select(JournalEntry.tx_hash, JournalEntry.log_index)).all())
    assert len(logs) == expected
    assert mirrored == {("0x" + bytes(e["transactionHash"]).hex(), e["logIndex"]) for e in logs}
    assert reconcile(session_factory(make_engine(db_url)), w3, [token], w3.eth.block_number) == []
