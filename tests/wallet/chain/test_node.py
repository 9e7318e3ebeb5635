"""What the node module shows its callers when the node is away: a `WalletError`, never `requests`."""

import socket

import pytest
import requests

from wallet.chain.node import connect, free_port, http_web3
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
