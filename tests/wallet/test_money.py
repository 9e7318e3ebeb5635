import pytest

from wallet.errors import MoneyError, UnknownCurrencyError
from wallet.money import currency, parse_amount


@pytest.mark.parametrize(("code", "exponent"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3), ("CLP", 0)])
def test_currency_exponent_is_iso_4217s(code: str, exponent: int) -> None:
    assert currency(code).exponent == exponent


@pytest.mark.parametrize("code", ["usd", "US", "USDT", "XXX", "XAU", "ABC", "", "ÜSD"])
def test_unknown_or_unitless_currencies_are_refused(code: str) -> None:
    with pytest.raises(UnknownCurrencyError) as info:
        currency(code)
    assert isinstance(info.value, MoneyError)
    assert isinstance(info.value, ValueError)
    assert info.value.currency == code


@pytest.mark.parametrize(
    ("units", "exponent", "text"),
    [
        (1234, 2, "12.34"),
        (-5, 2, "-0.05"),
        (0, 2, "0.00"),
        (7, 0, "7"),
        (1, 3, "0.001"),
        (2**96 - 1, 2, "792281625142643375935439503.35"),
    ],
)
def test_format_amount_is_exact(units: int, exponent: int, text: str) -> None:
    from wallet.money import format_amount

    assert format_amount(units, exponent) == text


@pytest.mark.parametrize("text", ["0.07\n", "1\n", "0.07\r\n", "\u0661", "1.\u0660\u0667", "\uff11"])
def test_an_amount_is_ascii_digits_and_nothing_after_them(text: str) -> None:
    with pytest.raises(MoneyError, match="not a plain decimal"):
        parse_amount(text, "USD")
