"""How settled something on chain is, from how many blocks confirm it (the including block counts)."""

from __future__ import annotations

from wallet.vocabulary import EntryState


def confirmation_state(confirmations: int, required: int) -> EntryState:
    """`final` from `required` confirmations on, `included` with one (or none), `confirmed` between."""
    if confirmations >= required:
        return EntryState.FINAL
    return EntryState.INCLUDED if confirmations <= 1 else EntryState.CONFIRMED
