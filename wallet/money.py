"""Currencies and amounts. Inside tdw an amount is an `int` of minor units; `Decimal` exists only at edges.

A deposit token's `decimals()` is its currency's ISO 4217 exponent, so one token unit is one minor unit
and nothing between the chain and the ledger ever converts.
"""

from __future__ import annotations

from dataclasses import dataclass

from iso4217 import Currency as _Iso

from wallet.errors import UnknownCurrencyError


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency that has minor units."""

    code: str
    exponent: int
    name: str


def currency(code: str) -> Currency:
    """The ISO 4217 currency `code` (case-sensitive, three upper-case letters).

    Raises `UnknownCurrencyError` for unknown codes and for units without an exponent (XAU, XDR, ...).
    """
    if len(code) != 3 or not code.isascii() or not code.isupper():
        raise UnknownCurrencyError(code)
    try:
        iso = _Iso(code)
    except ValueError:
        raise UnknownCurrencyError(code) from None
    if iso.exponent is None:
        raise UnknownCurrencyError(code)
    return Currency(code=code, exponent=int(iso.exponent), name=str(iso.currency_name))


def format_amount(minor_units: int, exponent: int) -> str:
    """`minor_units` as a decimal string with exactly `exponent` decimals: 1234, 2 -> "12.34";
    -5, 2 -> "-0.05"; 7, 0 -> "7". Exact: no float is ever involved."""
    sign = "-" if minor_units < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(minor_units)}"
    whole, fraction = divmod(abs(minor_units), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"
