"""How settled something on chain is, from how many blocks confirm it (the including block counts)."""

from __future__ import annotations

from typing import Literal

ConfirmationState = Literal["included", "confirmed", "final"]


def confirmation_state(confirmations: int, required: int) -> ConfirmationState:
    """`final` from `required` confirmations on, `included` with one (or none), `confirmed` between."""
    if confirmations >= required:
        return "final"
    return "included" if confirmations <= 1 else "confirmed"
