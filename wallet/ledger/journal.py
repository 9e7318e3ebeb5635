"""Reading the journal as movements: one row per posted entry with who paid, who was paid and how much."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from wallet.db.models import JournalEntry, JournalLeg, LedgerAccount
from wallet.references import encode_reference
from wallet.vocabulary import EntryState


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


def credited_with(
    session: Session, chain_id: int, token: str, holder: str, reference: str
) -> tuple[int, int]:
    """(posted credits to `holder` in `token` carrying the payment reference `reference`, the final
    part of them): what a payment request or an invoice received, as the chain says."""
    found = session.execute(
        select(
            func.coalesce(func.sum(JournalLeg.amount), 0),
            func.coalesce(
                func.sum(JournalLeg.amount).filter(JournalEntry.state == EntryState.FINAL.value), 0
            ),
        )
        .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
        .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
        .where(
            LedgerAccount.chain_id == chain_id,
            LedgerAccount.token == token,
            LedgerAccount.holder == holder,
            JournalEntry.payment_reference == "0x" + encode_reference(reference).hex(),
            JournalEntry.posted.is_(True),
            JournalLeg.amount > 0,
        )
    ).one()
    return int(found[0]), int(found[1])


__all__ = ["credited_with", "movements"]
