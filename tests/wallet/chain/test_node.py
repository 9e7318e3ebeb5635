"""What the node module shows its callers when the node is away: a `WalletError`, never `requests`."""

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from wallet.chain.node import NODE_POOL_SIZE, AnvilNode, connect, free_port, http_web3
from wallet.errors import NodeError, NodeUnreachableError, WalletError


def test_a_call_to_a_node_that_is_away_is_a_node_unreachable_error() -> None:
    port = free_port()
    w3 = http_web3(f"http://127.0.0.1:{port}/secret-provider-key", timeout=2)
    with pytest.raises(NodeUnreachableError) as caught:
        w3.eth.block_number  # noqa: B018 - the call is the test
    assert isinstance(caught.value, WalletError)
    assert not isinstance(caught.value, requests.RequestException)
    assert isinstance(caught.value.__cause__, requests.RequestException)
    # The message reaches API clients; the node's URL may carry a provider's key.
    assert "secret-provider-key" not in str(caught.value)


def test_a_node_that_stalls_is_a_node_unreachable_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        w3 = http_web3(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        with pytest.raises(NodeUnreachableError):
            w3.eth.chain_id  # noqa: B018


def test_connect_refuses_a_url_where_nothing_answers() -> None:
    with pytest.raises(NodeError, match="no JSON-RPC node answers"):
        connect(f"http://127.0.0.1:{free_port()}", timeout=2)


def _open_sockets() -> int:
    return sum(1 for fd in os.listdir("/proc/self/fd") if _is_socket(fd))


def _is_socket(fd: str) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:  # closed meanwhile
        return False


@pytest.mark.anvil
def test_calls_from_many_threads_share_one_bounded_pool_of_connections(anvil: AnvilNode) -> None:
    """web3 keeps a session (and its open connection) per thread and provider, up to 100 of them: a
    process whose workers come and go collected connections to its node by the hundred (the test
    suite ran out of file descriptors). Every thread now shares the provider's one pool."""
    w3 = http_web3(anvil.url)
    w3.eth.block_number  # noqa: B018 - the first connection
    before = _open_sockets()
    for _ in range(40):
        thread = threading.Thread(target=lambda: w3.eth.block_number)
        thread.start()
        thread.join()
    assert _open_sockets() - before <= 1
    # Many at once open at most the pool's size, and keep no more than that afterwards.
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda _: w3.eth.block_number, range(400)))
    assert _open_sockets() - before <= NODE_POOL_SIZE
