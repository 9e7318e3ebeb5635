"""The indexer against anvil (and eth-tester), on SQLite and PostgreSQL: the mirror must equal the chain,
reorgs included."""

import pytest
from sqlalchemy import func, insert, select, update
from web3 import Web3

from tests.support.rpc_proxy import RpcProxy
from tests.wallet.ledger.conftest import LedgerBank
from wallet.chain.compiler import Compilation
from wallet.db.models import (
    ChainEvent,
    Event,
    Incident,
    IndexerCursor,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    Reorg,
    ReorgedEntry,
)
from wallet.errors import DeepReorgError
from wallet.ledger.indexer import TRANSFER, ZERO_ADDRESS, Indexer
from wallet.ledger.reconcile import mirrored_balances, reconcile


def _chain_transfers(bank: LedgerBank) -> set[tuple[str, int]]:
    logs = bank.w3.eth.get_logs(
        {
            "fromBlock": bank.indexer.config.start_block,
            "toBlock": "latest",
            "address": bank.token.address,
            "topics": ["0x" + TRANSFER.hex()],
        }
    )
    return {("0x" + bytes(entry["transactionHash"]).hex(), entry["logIndex"]) for entry in logs}


def _mirror_transfers(bank: LedgerBank) -> set[tuple[str, int]]:
    with bank.sessions() as s:
        return set(s.execute(select(JournalEntry.tx_hash, JournalEntry.log_index)).all())


def _assert_mirror_equals_chain(bank: LedgerBank) -> None:
    head = bank.w3.eth.block_number
    assert _mirror_transfers(bank) == _chain_transfers(bank)
    assert reconcile(bank.sessions, bank.w3, [bank.token.address], head) == []
    balances = mirrored_balances(bank.sessions, bank.w3.eth.chain_id, head)
    for holder in bank.holders:
        assert balances[(bank.token.address, holder)] == bank.token.functions.balanceOf(holder).call()


def test_the_mirror_follows_mints_transfers_references_freezes_and_kyc(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 250)
    ref = b"INV-42".ljust(32, b"\x00")
    tx = bank.token.functions.transferWithReference(bank.holders[2], 75, ref).transact(
        {"from": bank.holders[1]}
    )
    bank.w3.eth.wait_for_transaction_receipt(tx)
    bank.admin.send(bank.token.functions.setFrozenAmount(bank.holders[3], 500))
    bank.admin.send(bank.registry.functions.setBlocked(bank.holders[4], True))
    assert bank.indexer.run_until_head() == 5 + 2  # five mints, two transfers
    _assert_mirror_equals_chain(bank)
    with bank.sessions() as s:
        kinds = dict(s.execute(select(JournalEntry.kind, func.count()).group_by(JournalEntry.kind)).all())
        assert kinds == {"mint": 5, "transfer": 2}
        referenced = s.scalars(select(JournalEntry).where(JournalEntry.payment_reference.is_not(None))).one()
        assert referenced.payment_reference == "0x" + ref.hex()
        names = set(s.scalars(select(ChainEvent.name)))
        assert {"TransferReferenced", "FrozenAmountChanged", "BlockedUpdated", "KycUpdated"} <= names
        frozen = s.scalars(select(ChainEvent).where(ChainEvent.name == "FrozenAmountChanged")).one()
        assert frozen.account == bank.holders[3]
        assert frozen.args == {"previous": 0, "current": 500}
        issuance = s.scalar(
            select(func.sum(JournalLeg.amount))
            .join(LedgerAccount)
            .where(LedgerAccount.holder == ZERO_ADDRESS)
        )
    assert issuance is not None
    assert -issuance == bank.token.functions.totalSupply().call() == 5_000_000


def test_the_mirror_follows_an_eth_tester_chain_too(tester_bank: LedgerBank) -> None:
    tester_bank.transfer(0, 1, 250)
    tester_bank.transfer(1, 2, 75)
    assert tester_bank.indexer.run_until_head() == 5 + 2
    _assert_mirror_equals_chain(tester_bank)
    with tester_bank.sessions() as s:
        times = set(s.scalars(select(JournalEntry.block_time)))
    assert all(t > 1_600_000_000 for t in times)


def test_running_again_applies_nothing_twice(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 1)
    bank.indexer.run_until_head()
    before = _mirror_transfers(bank)
    bank.indexer.run_until_head()
    assert _mirror_transfers(bank) == before


def test_entries_become_final_after_n_confirmations(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 1)
    bank.indexer.run_until_head()
    with bank.sessions() as s:
        last = s.scalars(select(JournalEntry).order_by(JournalEntry.block_number.desc())).first()
        assert last is not None
        assert last.state == "included"
    for _ in range(3):
        bank.rpc("evm_mine")
    bank.indexer.run_until_head()
    with bank.sessions() as s:
        assert set(s.scalars(select(JournalEntry.state))) == {"final"}


def test_a_reorg_rolls_back_and_the_mirror_equals_the_new_chain(bank: LedgerBank) -> None:
    bank.indexer.run_until_head()
    snapshot = bank.rpc("evm_snapshot")
    for i in range(2):
        bank.transfer(i, i + 1, 100 + i)  # branch A: two blocks, fewer than the 3 confirmations
    bank.indexer.run_until_head()
    assert len(_mirror_transfers(bank)) == 5 + 2
    assert bank.rpc("evm_revert", snapshot) is True
    for i in range(3):
        bank.transfer(4 - i, (5 - i) % 5, 7 + i)  # branch B: one block longer, other transfers
    result = bank.indexer.step()
    assert result is not None
    assert result.rolled_back_to is not None
    bank.indexer.run_until_head()
    _assert_mirror_equals_chain(bank)
    assert len(_mirror_transfers(bank)) == 5 + 3


def test_a_reorg_below_final_entries_is_reported_loudly_and_still_mirrored(bank: LedgerBank) -> None:
    snapshot = bank.rpc("evm_snapshot")
    bank.transfer(0, 1, 9)
    for _ in range(4):
        bank.rpc("evm_mine")
    bank.indexer.run_until_head()
    with bank.sessions() as s:
        assert "final" in set(s.scalars(select(JournalEntry.state)))
    bank.rpc("evm_revert", snapshot)
    for _ in range(6):
        bank.rpc("evm_mine")
    with pytest.raises(DeepReorgError, match="below final entries"):
        bank.indexer.run_until_head()
    bank.indexer.run_until_head()
    _assert_mirror_equals_chain(bank)


def test_reconcile_reports_a_mirror_that_differs_from_the_chain(bank: LedgerBank) -> None:
    bank.indexer.run_until_head()
    head = bank.w3.eth.block_number
    with bank.sessions.begin() as s:
        a, b = s.scalars(select(LedgerAccount.id).where(LedgerAccount.holder.in_(bank.holders[:2]))).all()
        entry = JournalEntry(
            chain_id=bank.w3.eth.chain_id,
            token=bank.token.address,
            block_number=head,
            block_hash="0x",
            block_time=0,
            tx_hash="0x" + "ff" * 32,
            log_index=0,
            kind="transfer",
            state="included",
            posted=False,
        )
        s.add(entry)
        s.flush()
        s.execute(
            insert(JournalLeg),
            [
                {"entry_id": entry.id, "account_id": a, "amount": -3},
                {"entry_id": entry.id, "account_id": b, "amount": 3},
            ],
        )
        s.execute(update(JournalEntry).where(JournalEntry.id == entry.id).values(posted=True))
    differences = reconcile(bank.sessions, bank.w3, [bank.token.address], head)
    assert sorted(int(d.database) - int(d.chain) for d in differences) == [-3, 3]


def test_a_reorg_between_the_indexers_reads_is_not_written_under_the_new_hashes(
    bank: LedgerBank, compilation: Compilation
) -> None:
    """A proxy reorganises the chain right after eth_getLogs answers: the logs it returned are the old
    branch's, the range's end is read on the new one. Writing them under the new hashes would leave a
    mirror no later step repairs."""
    bank.indexer.run_until_head()
    with RpcProxy(bank.w3.provider.endpoint_uri).running() as proxy:  # type: ignore[attr-defined]
        indexer = Indexer(
            bank.sessions,
            Web3(Web3.HTTPProvider(proxy.url)),
            bank.indexer.contracts,
            bank.indexer.config,
            abis=[c.abi for c in compilation.contracts.values()],
        )
        bank.transfer(0, 1, 42)
        bank.transfer(1, 2, 43)
        proxy.after("eth_getLogs", lambda: bank.rpc("anvil_reorg", 2, []))
        result = indexer.step()
        assert result is not None
        assert result.retried
        indexer.run_until_head()
    _assert_mirror_equals_chain(bank)
    assert len(_mirror_transfers(bank)) == 5  # the two transfers went with the old branch


def test_a_reorg_is_recorded_with_what_it_dropped_and_new_legs_get_new_ids(bank: LedgerBank) -> None:
    bank.indexer.run_until_head()
    snapshot = bank.rpc("evm_snapshot")
    bank.transfer(0, 1, 100)
    bank.transfer(1, 2, 101)
    bank.indexer.run_until_head()
    with bank.sessions() as s:
        highest_leg = s.scalars(select(func.max(JournalLeg.id))).one()
        old_head = s.scalars(select(IndexerCursor.block_number)).one()
    bank.rpc("evm_revert", snapshot)
    for i in range(3):
        bank.transfer(4, 3, 7 + i)
    bank.indexer.run_until_head()
    _assert_mirror_equals_chain(bank)
    with bank.sessions() as s:
        reorg = s.scalars(select(Reorg)).one()
        assert (reorg.old_head, reorg.entries_dropped, reorg.final_dropped) == (old_head, 2, 0)
        assert reorg.depth == old_head - reorg.fork_block
        assert reorg.new_hash is not None
        assert reorg.new_hash != reorg.old_hash
        dropped = s.scalars(select(ReorgedEntry).order_by(ReorgedEntry.id)).all()
        assert [[leg["amount"] for leg in d.data["legs"]] for d in dropped] == [
            ["-100", "100"],
            ["-101", "101"],
        ]
        assert [d.data["legs"][1]["holder"] for d in dropped] == [bank.holders[1], bank.holders[2]]
        # SQLite would hand the dropped legs' ids to the new branch's legs; the event pump's cursor
        # (a leg id) would then never see them.
        new_legs = s.scalars(
            select(JournalLeg.id).join(JournalEntry).where(JournalEntry.block_number > reorg.fork_block)
        ).all()
        assert len(new_legs) == 6
        assert min(new_legs) > highest_leg
        incident = s.scalars(select(Incident)).one()
        assert (incident.kind, incident.severity, incident.reorg_id) == ("reorg", "warning", reorg.id)
        assert incident.resolved_at is not None  # within the finality depth: the rollback resolves it
        event = s.scalars(select(Event).where(Event.type == "ledger.reorg")).one()
        assert event.payload["entries_dropped"] == 2
        assert event.user_id is None


def test_a_reorg_below_final_entries_raises_an_open_critical_incident(bank: LedgerBank) -> None:
    snapshot = bank.rpc("evm_snapshot")
    bank.transfer(0, 1, 9)
    for _ in range(4):
        bank.rpc("evm_mine")
    bank.indexer.run_until_head()
    bank.rpc("evm_revert", snapshot)
    for _ in range(6):
        bank.rpc("evm_mine")
    with pytest.raises(DeepReorgError):
        bank.indexer.run_until_head()
    with bank.sessions() as s:
        incident = s.scalars(select(Incident)).one()
        assert (incident.kind, incident.severity, incident.resolved_at) == ("deep_reorg", "critical", None)
        dropped = s.scalars(select(ReorgedEntry)).all()
        assert {d.state for d in dropped} == {"final"}
