"""Shared fixtures: the compiled contracts, a real anvil node, an in-process eth-tester chain, and a
funded signer. Nothing here mocks the chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from wallet.chain.compiler import Compilation, compile_contracts
from wallet.chain.node import AnvilNode, eth_tester, fund_from_dev_account
from wallet.keys import PrivateKeySigner
from wallet.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def compilation(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Compilation:
    return compile_contracts(project_root, project_root / ".cache")


@pytest.fixture(scope="session")
def anvil(project_root: Path) -> Iterator[AnvilNode]:
    node = AnvilNode(project_root)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_w3(anvil: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.url))


@pytest.fixture(params=["eth_tester", "anvil"])
def w3(request: pytest.FixtureRequest) -> Web3:
    """Each test that takes `w3` runs on in-process py-evm and on anvil."""
    if request.param == "eth_tester":
        return eth_tester()
    anvil_w3: Web3 = request.getfixturevalue("anvil_w3")
    return anvil_w3


@pytest.fixture
def funded_signer(w3: Web3) -> PrivateKeySigner:
    signer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, signer.address, 10**21)
    return signer
