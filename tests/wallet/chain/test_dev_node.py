"""The development node's lifetime and its saved state: it dies with the process that started it,
refuses a port someone else holds, and a saved state brings back every block it claims to hold."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3.types import RPCEndpoint

from tests.support.waiting import wait_for
from wallet.chain.confirmations import FinalizedTag, finality_depth
from wallet.chain.node import PERSISTED_STATES, AnvilNode, StateSaver, free_port
from wallet.errors import NodeError

pytestmark = pytest.mark.anvil


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: its parent (this test's child) is gone, init reaps it.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_the_node_dies_with_the_process_that_started_it(project_root: Path) -> None:
    """Before: a SIGKILL of `tdw dev` left its anvil running, holding the port and an old chain."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from wallet.chain.node import AnvilNode\n"
        f"node = AnvilNode(Path({str(project_root)!r}))\n"
        "node.start()\n"
        "print(node.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert _alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    wait_for(lambda: not _alive(pid), timeout=10, what="anvil to die with its parent")


def test_a_port_held_by_another_process_is_refused_not_adopted(project_root: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        node = AnvilNode(project_root, port=squatter.getsockname()[1])
        with pytest.raises(NodeError, match="is taken"):
            node.start()


def test_a_saved_state_holds_every_block_it_claims(project_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "anvil-state.json"
    node = AnvilNode(project_root, port=free_port(), state_path=path)
    w3 = node.start()
    try:
        saver = StateSaver(w3, path, min_interval=0.0)
        for _ in range(5):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        head = w3.eth.block_number
        assert saver.durable_block(head) == head
        block_hash = w3.eth.get_block(head)["hash"]
        for _ in range(3):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        # A power cut: no saving on the way down.
        assert node._process is not None
        node._process.kill()
        node._process.wait()
        node._process = None
        node.stop()
        time.sleep(0.2)
        restarted = AnvilNode(project_root, port=free_port(), state_path=path)
        w3 = restarted.start()
        try:
            assert w3.eth.block_number >= head
            assert w3.eth.get_block(head)["hash"] == block_hash
        finally:
            restarted.stop()
    finally:
        node.stop()


def test_finality_depth_comes_from_the_chain_unless_configured(anvil: AnvilNode) -> None:
    assert finality_depth(5, 1) == 5
    assert finality_depth(None, 1) == 64
    assert finality_depth(None, 424242) == 12
    assert finality_depth(None, 31337, development=True) == 2
    from wallet.chain.node import http_web3

    tag = FinalizedTag(http_web3(anvil.url))
    head = tag.w3.eth.block_number
    assert tag.supported  # anvil answers the `finalized` tag
    assert tag(head) <= head


def test_the_past_states_on_disk_are_bounded_and_removed_with_the_node(project_root: Path) -> None:
    """Before: every anvil wrote up to 3,600 past states of megabytes each under ~/.foundry and left them
    there when killed; the test suite's nodes filled a machine's disk."""
    node = AnvilNode(project_root)
    w3 = node.start()
    try:
        w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(1200)])
        files = [f for f in node.cache_path.rglob("*") if f.is_file()]
        assert 0 < len(files) <= PERSISTED_STATES
        # Recent history stays readable (what the inspector's look-backs need).
        assert w3.eth.get_balance(w3.eth.accounts[0], block_identifier=w3.eth.block_number - 200) > 0
    finally:
        node.stop()
    assert not node.cache_path.exists()


def test_a_killed_nodes_past_states_are_removed_at_the_next_start(project_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    node = AnvilNode(project_root, port=free_port(), state_path=path)
    w3 = node.start()
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(1200)])
    assert any(node.cache_path.rglob("*.json"))
    assert node.pid is not None
    os.kill(node.pid, signal.SIGKILL)  # no stop(): what a crash leaves
    wait_for(lambda: not _alive(node.pid or 0), timeout=10, what="the node killed")
    restarted = AnvilNode(project_root, port=free_port(), state_path=path)
    restarted.start()
    try:
        assert not any(restarted.cache_path.rglob("*.json"))
    finally:
        restarted.stop()
        node.stop()
