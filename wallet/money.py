"""Currencies and amounts. Inside tdw an amount is an `int` of minor units; `Decimal` exists only at edges.

A deposit token's `decimals()` is its currency's ISO 4217 exponent, so one token unit is one minor unit
and nothing between the chain and the ledger ever converts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iso4217 import Currency as _Iso

from wallet.errors import MoneyError, UnknownCurrencyError


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


# Matched whole (fullmatch): "$" would also match before a trailing newline, so "0.07\n" passed.
_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?", re.ASCII)
MAX_AMOUNT_DIGITS = 30  # far above any deposit, far below uint256; keeps parsing cheap


def parse_amount(text: object, code: str) -> int:
    """A positive decimal string of currency `code` as minor units: ("12.34", "USD") -> 1234.

    Strict, because money must not be guessed: the text must be a JSON string of plain digits with at
    most the currency's number of decimals. Raises `MoneyError` (or `UnknownCurrencyError`) naming
    what is wrong: not a string (a JSON number would have passed through a float), a sign, an exponent,
    NaN or infinity, too many decimals, zero.
    """
    spec = currency(code) if isinstance(code, str) else currency(str(code))
    if not isinstance(text, str):
        raise MoneyError(f'an amount is a decimal string like "12.34", not a JSON {type(text).__name__}')
    if text.startswith("-"):
        raise MoneyError(f"the amount {text!r} is negative; amounts are positive")
    match = _AMOUNT.fullmatch(text)
    if match is None or len(text) > MAX_AMOUNT_DIGITS:
        raise MoneyError(
            f'the amount {text!r} is not a plain decimal number like "12.34" (no signs, exponents, '
            "spaces, separators, NaN or infinity)"
        )
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > spec.exponent:
        raise MoneyError(f"the amount {text!r} has {len(fraction)} decimals; {spec.code} has {spec.exponent}")
    units: int = int(whole) * 10**spec.exponent + int(fraction.ljust(spec.exponent, "0") or "0")
    if units == 0:
        raise MoneyError("the amount is zero; amounts are positive")
    return units
