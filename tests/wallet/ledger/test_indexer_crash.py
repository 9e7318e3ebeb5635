"""`tdw index` SIGKILLed at random moments over 20,000 transfer events: after a restart the mirror
equals the chain, with nothing lost and nothing applied twice."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from web3 import Web3

from wallet.chain.deploy import Manifest, deploy_dev_bank, onboard
from wallet.chain.eip3009 import TokenDomain, sign_transfer_authorization
from wallet.chain.node import AnvilNode
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import JournalEntry
from wallet.keys import PrivateKeySigner
from wallet.ledger.indexer import TRANSFER
from wallet.ledger.reconcile import reconcile

EVENTS = 20_000
PER_BATCH = 250
PAYERS = 40


@pytest.fixture(scope="module")
def busy_chain(project_root: Path, compilation, tmp_path_factory) -> tuple[AnvilNode, Path, int]:
    """An anvil with a bank whose token emitted 20,000 transfers (plus its mints); its manifest."""
    node = AnvilNode(project_root)
    w3 = node.start()
    admin, manifest, bank = deploy_dev_bank(w3, compilation, bank_name="Busy Bank")
    token = bank.tokens["USD"]
    payers = [PrivateKeySigner.generate() for _ in range(PAYERS)]
    addresses = [p.address for p in payers]
    onboard(admin, bank, addresses, balance=10**9)
    domain = TokenDomain(name=manifest.tokens["USD"].name, chain_id=w3.eth.chain_id, address=token.address)
    rng = random.Random(4)
    pending = []
    for start in range(0, EVENTS, PER_BATCH):
        batch = [
            sign_transfer_authorization(
                payers[i % PAYERS], domain, to=addresses[(i * 7 + 3) % PAYERS], value=1 + rng.randrange(1000),
                valid_after=0, valid_before=2**40, nonce=i.to_bytes(32, "big"),
            ).as_tuple()
            for i in range(start, start + PER_BATCH)
        ]  # fmt: skip
        pending.append(admin.submit(token.functions.batchTransferWithAuthorization(batch), gas=14_000_000))
    for tx in pending:
        admin.wait(tx)
    path = tmp_path_factory.mktemp("busy") / "deployment.json"
    manifest.write(path)
    yield node, path, EVENTS + PAYERS
    node.stop()


def _entries(db_url: str) -> int:
    with session_factory(make_engine(db_url))() as s:
        return s.scalar(select(func.count()).select_from(JournalEntry)) or 0


def test_sigkill_during_indexing_loses_and_doubles_nothing(busy_chain, db_url: str) -> None:
    node, manifest_path, expected = busy_chain
    upgrade(make_engine(db_url))
    command = [
        sys.executable, "-m", "api.cli", "index", "--once", "--manifest", str(manifest_path),
        "--rpc", node.url, "--db", db_url, "--confirmations", "1", "--max-range", "3",
    ]  # fmt: skip
    rng = random.Random(11)
    kills = []
    for target in sorted(rng.sample(range(1_000, expected - 1_000), 6)):
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and _entries(db_url) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"the indexer finished before the kill point: {proc.communicate()[1]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_entries(db_url))
    assert len(kills) >= 5 and all(0 < k < expected for k in kills), kills
    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    w3 = Web3(Web3.HTTPProvider(node.url))
    manifest = Manifest.read(manifest_path)
    token = manifest.tokens["USD"].address
    logs = w3.eth.get_logs({"fromBlock": manifest.start_block, "toBlock": "latest", "address": token,
                            "topics": ["0x" + TRANSFER.hex()]})  # fmt: skip
    with session_factory(make_engine(db_url))() as s:
        mirrored = set(s.execute(select(JournalEntry.tx_hash, JournalEntry.log_index)).all())
    assert len(logs) == expected
    assert mirrored == {("0x" + bytes(e["transactionHash"]).hex(), e["logIndex"]) for e in logs}
    assert reconcile(session_factory(make_engine(db_url)), w3, [token], w3.eth.block_number) == []
