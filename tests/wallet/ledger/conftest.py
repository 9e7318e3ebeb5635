from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from tests.support.anvil import anvil_fixture
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, onboard
from wallet.chain.inprocess import eth_tester
from wallet.chain.node import AnvilNode, http_web3
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.ledger.indexer import Indexer, IndexerConfig

ledger_anvil = anvil_fixture("module", "This module's own anvil: its tests revert snapshots to make reorgs.")


@dataclass
class LedgerBank:
    w3: Web3
    token: Any
    registry: Any
    admin: Transactor
    holders: list[str]
    sessions: sessionmaker[Session]
    indexer: Indexer

    def rpc(self, method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]

    def settle(self) -> None:
        """Mines past the confirmation depth and indexes to the head: every entry is final."""
        for _ in range(self.indexer.config.confirmations + 1):
            self.rpc("evm_mine")
        self.indexer.run_until_head()

    def transfer(self, src: int, dst: int, value: int) -> None:
        tx = self.token.functions.transfer(self.holders[dst], value).transact({"from": self.holders[src]})
        assert self.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest.fixture
def bank(ledger_anvil: AnvilNode, compilation: Compilation, db_url: str) -> LedgerBank:
    return _ledger_bank(http_web3(ledger_anvil.url), compilation, db_url)


@pytest.fixture
def tester_bank(compilation: Compilation, db_url: str) -> LedgerBank:
    """The same bank on the in-process eth-tester chain, which answers JSON-RPC only through web3."""
    return _ledger_bank(eth_tester(), compilation, db_url)


def _ledger_bank(w3: Web3, compilation: Compilation, db_url: str) -> LedgerBank:
    start = w3.eth.block_number + 1
    admin, _, bank = deploy_dev_bank(w3, compilation, bank_name="Ledger Bank")
    token, registry = bank.tokens["USD"], bank.registry
    holders: list[str] = list(w3.eth.accounts[1:6])
    onboard(admin, bank, holders, balance=1_000_000)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    indexer = Indexer(
        sessions,
        w3,
        [token.address, registry.address],
        IndexerConfig(confirmations=3, start_block=start),
        abis=[c.abi for c in compilation.contracts.values()],
    )
    return LedgerBank(w3, token, registry, admin, holders, sessions, indexer)
