from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from wallet.chain.node import AnvilNode


@pytest.fixture(scope="module")
def tx_anvil(project_root: Path) -> Iterator[AnvilNode]:
    """An anvil of this module's own: these tests stop automining and revert snapshots."""
    node = AnvilNode(project_root)
    node.start()
    yield node
    node.stop()


@pytest.fixture
def chain(tx_anvil: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(tx_anvil.url))
