from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.chain.deploy import BankRoles, deploy_bank
from wallet.chain.node import AnvilNode, fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.keys import PrivateKeySigner
from wallet.ledger.indexer import Indexer, IndexerConfig


@pytest.fixture(scope="module")
def ledger_anvil(project_root: Path) -> Iterator[AnvilNode]:
    """This module's own anvil: its tests revert snapshots to make reorgs."""
    node = AnvilNode(project_root)
    node.start()
    yield node
    node.stop()


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

    def transfer(self, src: int, dst: int, value: int) -> None:
        tx = self.token.functions.transfer(self.holders[dst], value).transact({"from": self.holders[src]})
        assert self.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest.fixture
def bank(ledger_anvil: AnvilNode, compilation, db_url: str) -> LedgerBank:
    w3 = Web3(Web3.HTTPProvider(ledger_anvil.url))
    admin_signer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, admin_signer.address, 10**21)
    admin = Transactor(w3, admin_signer, [c.abi for c in compilation.contracts.values()])
    start = w3.eth.block_number + 1
    manifest = deploy_bank(
        w3, admin, compilation, bank_name="Ledger Bank", currencies=["USD"],
        roles=BankRoles.single(admin_signer.address), minter_allowance=2**96 - 1,
    )  # fmt: skip
    token = w3.eth.contract(address=manifest.tokens["USD"].address, abi=compilation["DepositToken"].abi)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    holders = list(w3.eth.accounts[1:6])
    admin.send(registry.functions.setKycBatch(holders, [2**40 - 1] * 5, [840] * 5))
    for holder in holders:
        admin.send(token.functions.mint(holder, 1_000_000))
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    indexer = Indexer(
        sessions, w3, [token.address, registry.address], IndexerConfig(confirmations=3, start_block=start)
    )
    return LedgerBank(w3, token, registry, admin, holders, sessions, indexer)
