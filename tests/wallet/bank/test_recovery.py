"""`Recovery.check` when the outbox's recorded hashes come from two branches: a row mined again on the
new branch after a reorg settles above rows whose blocks that branch dropped."""

from __future__ import annotations

from eth_account import Account
from sqlalchemy import text

from tests.support.waiting import wait_for
from wallet.bank.runtime import Services
from wallet.db.models import ChainTx, Reorg
from wallet.vocabulary import TxStatus


def _final(services: Services) -> ChainTx:
    """A compliance-key transaction (a block of a fresh address), waited for until final."""
    bank = services.bank
    call = bank.registry.functions.setBlocked(Account.create().address, True)
    with bank.sessions.begin() as session:
        tx_id = bank.enqueue(session, "compliance", call, kind="test").id

    def final() -> ChainTx | None:
        row = bank.chain_tx(tx_id)
        assert row is not None
        return row if row.status == TxStatus.FINAL else None

    return wait_for(final, timeout=60, what="the transaction final")


def test_a_row_lost_below_a_newer_one_on_the_new_branch_is_found_after_a_reorg(
    fresh_services: Services,
) -> None:
    services = fresh_services
    older, newer = _final(services), _final(services)
    assert older.block_number is not None
    assert newer.block_number is not None
    assert older.block_number < newer.block_number
    engine = services.bank.sessions.kw["bind"]
    # The older row's block as recorded on a branch the chain dropped; the newer one is the chain's.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE chain_txs SET block_hash = :h WHERE id = :id"),
            {"h": "0x" + "ee" * 32, "id": older.id},
        )
    # With no reorg recorded, the recorded hashes are taken to be one chain's: the newest vouches.
    assert services.recovery.check() is None

    with services.bank.sessions.begin() as session:
        session.add(
            Reorg(
                chain_id=services.bank.chain_id,
                fork_block=older.block_number - 1,
                old_head=older.block_number,
                old_hash="0x" + "ee" * 32,
                new_hash=None,
                entries_dropped=0,
                events_dropped=0,
                final_dropped=0,
            )
        )
    fork = services.recovery.check()
    assert fork is not None
    assert fork < older.block_number

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE chain_txs SET block_hash = :h WHERE id = :id"),
            {"h": older.block_hash, "id": older.id},
        )
    assert services.recovery.check() is None
