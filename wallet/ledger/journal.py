"""Reading the journal as movements: one row per posted entry with who paid, who was paid and how much."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from wallet.db.models import JournalEntry, JournalLeg, LedgerAccount


def movements() -> Select[*tuple[Any, ...]]:
    """Posted entries joined with their two legs, one row each, labelled: `leg_id` (the credit leg's:
    ids only grow, so it serves as a cursor), `entry_id`, `token`, `block`, `time` (block time),
    `tx_hash`, `log_index`, `reference`, `sender`, `receiver` (the holders) and `amount` (positive).
    The columns come in that order (`movement_of` reads them by position); callers add their own
    columns after them, and their own filters and order (the monitor reads millions of these rows:
    what only one caller needs is that caller's column)."""
    credit, debit = aliased(JournalLeg), aliased(JournalLeg)
    payer, payee = aliased(LedgerAccount), aliased(LedgerAccount)
    return (
        select(
            credit.id.label("leg_id"),
            JournalEntry.id.label("entry_id"),
            JournalEntry.token,
            JournalEntry.block_number.label("block"),
            JournalEntry.block_time.label("time"),
            JournalEntry.tx_hash,
            JournalEntry.log_index,
            JournalEntry.payment_reference.label("reference"),
            payer.holder.label("sender"),
            payee.holder.label("receiver"),
            credit.amount.label("amount"),
        )
        .select_from(credit)
        .join(JournalEntry, JournalEntry.id == credit.entry_id)
        .join(debit, (debit.entry_id == credit.entry_id) & (debit.amount < 0))
        .join(payee, payee.id == credit.account_id)
        .join(payer, payer.id == debit.account_id)
        .where(credit.amount > 0, JournalEntry.posted.is_(True))
    )


__all__ = ["movements"]
