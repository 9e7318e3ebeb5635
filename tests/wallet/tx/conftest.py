import pytest
from web3 import Web3

from tests.support.anvil import anvil_fixture
from wallet.chain.node import AnvilNode, http_web3

tx_anvil = anvil_fixture(
    "module", "An anvil of this module's own: these tests stop automining and revert snapshots."
)


@pytest.fixture
def chain(tx_anvil: AnvilNode) -> Web3:
    return http_web3(tx_anvil.url)
