"""FX quotes through the API: amounts worked out exactly and rounded to the bank, the spread of the
customer's tier, one acceptance only (also when two race for it), expiry, and other customers kept out."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_bank import ApiBank, User
from wallet.compliance.policy import DEFAULT_POLICY, Policy
from wallet.errors import InvalidRequestError, QuoteUsedError, WalletError
from wallet.fx.rates import NoRates, RateFile

MID_USD_EUR = Decimal("0.9215")  # wallet/fx/dev-rates.json: EUR per USD


def _quote(bank: ApiBank, user: User, **body: Any) -> Any:
    return bank.client.post("/v1/fx/quotes", json=body, headers=user.headers)


def test_a_quote_is_the_mid_rate_less_the_tiers_spread_rounded_to_the_bank(bank: ApiBank) -> None:
    standard, premium = bank.signup(), bank.signup(tier="premium")
    r = _quote(bank, standard, sell="USD", buy="EUR", sell_amount="100.00")
    assert r.status_code == 201, r.text
    quote = r.json()
    rate = MID_USD_EUR * (10_000 - 50) / 10_000  # standard: 50 basis points
    assert Decimal(quote["rate"]) == rate
    assert quote["spread_bps"] == 50
    assert quote["mid_rate"] == "0.921500000000"
    assert quote["buy"] == {"currency": "EUR", "amount": "91.68"}  # 91.68925 rounded down
    assert quote["state"] == "open"
    expires = datetime.fromisoformat(quote["expires_at"]) - datetime.fromisoformat(quote["created_at"])
    assert expires == timedelta(seconds=30)
    # Naming what to buy instead: what is sold is rounded up.
    r = _quote(bank, standard, sell="USD", buy="EUR", buy_amount="91.69")
    assert r.status_code == 201, r.text
    sells = ceil(Fraction(9169) / Fraction(rate))
    assert r.json()["sell"] == {"currency": "USD", "amount": f"{Decimal(sells) / 100:.2f}"}
    assert r.json()["sell"]["amount"] == "100.01"
    # The premium tier pays half the spread: more EUR for the same dollars.
    r = _quote(bank, premium, sell="USD", buy="EUR", sell_amount="100.00")
    assert r.json()["spread_bps"] == 25
    assert (
        r.json()["buy"]["amount"] == f"{Decimal(floor(10_000 * MID_USD_EUR * Decimal('0.9975'))) / 100:.2f}"
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"sell": "USD", "buy": "EUR"}, "either the amount to sell or the amount to buy"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": "1.00", "buy_amount": "1.00"}, "not both"),
        ({"sell": "USD", "buy": "USD", "sell_amount": "1.00"}, "not for itself"),
        ({"sell": "USD", "buy": "HKD", "sell_amount": "1.00"}, "keeps no HKD accounts"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": "0.001"}, "decimals"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": "0.01"}, "too little"),
    ],
)
def test_a_bad_quote_request_is_refused_in_plain_words(
    bank: ApiBank, body: dict[str, str], words: str
) -> None:
    r = _quote(bank, bank.signup(), **body)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


def test_a_quote_is_accepted_once_and_only_by_its_customer(bank: ApiBank) -> None:
    alice, mallory = bank.signup(), bank.signup()
    quote = _quote(bank, alice, sell="EUR", buy="USD", sell_amount="50.00").json()
    path = f"/v1/fx/quotes/{quote['id']}"
    for method in ("get", "post"):
        url = path if method == "get" else path + "/accept"
        r = getattr(bank.client, method)(url, headers=mallory.headers)
        assert r.status_code == 404, r.text
    r = bank.client.post(path + "/accept", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "accepted"
    assert r.json()["buy"] == quote["buy"]
    again = bank.client.post(path + "/accept", headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:tdw:problem:quote-used"
    # Staff may read it, not accept it.
    officer = bank.signup("compliance")
    assert bank.client.get(path, headers=officer.headers).json()["state"] == "accepted"
    assert bank.client.post(path + "/accept", headers=officer.headers).status_code == 403
    # The acceptance is in the audit log.
    entries = bank.services.audit.entries(action="fx.quote.accepted", limit=1000)
    assert any(e.subject == quote["id"] for e in entries)


def test_an_expired_quote_is_refused_with_a_clear_problem(
    bank: ApiBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = bank.signup()
    quote = _quote(bank, alice, sell="USD", buy="EUR", sell_amount="10.00").json()
    later = datetime.fromisoformat(quote["expires_at"]) + timedelta(milliseconds=1)
    monkeypatch.setattr(bank.services.quotes, "clock", lambda: later)
    assert bank.client.get(f"/v1/fx/quotes/{quote['id']}", headers=alice.headers).json()["state"] == "expired"
    r = bank.client.post(f"/v1/fx/quotes/{quote['id']}/accept", headers=alice.headers)
    assert r.status_code == 409
    assert r.json()["type"] == "urn:tdw:problem:quote-expired"
    assert "ask for a new one" in r.json()["detail"]
    # A moment before the end it still holds.
    monkeypatch.setattr(bank.services.quotes, "clock", lambda: later - timedelta(milliseconds=2))
    assert bank.client.post(f"/v1/fx/quotes/{quote['id']}/accept", headers=alice.headers).status_code == 200


def test_two_acceptances_at_the_same_moment_lock_the_quote_once(bank: ApiBank) -> None:
    alice = bank.signup()
    quote = _quote(bank, alice, sell="USD", buy="EUR", sell_amount="10.00").json()
    principal = bank.services.users.authenticate(alice.headers["Authorization"].removeprefix("Bearer "))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def accept() -> None:
        start.wait()
        try:
            bank.services.quotes.accept(principal, quote["id"])
            outcomes.append("accepted")
        except QuoteUsedError:
            outcomes.append("used")
        except WalletError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted", "used"]


def test_old_rates_are_not_quoted_on(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text('{"source": "desk", "as_of": "2026-11-24T09:00:00+00:00", "per_usd": {"EUR": "0.92"}}')
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    fresh = RateFile(path, max_age=timedelta(hours=1), clock=lambda: now)
    assert fresh.sheet().mid("USD", "EUR") == Decimal("0.92")
    stale = RateFile(path, max_age=timedelta(minutes=10), clock=lambda: now)
    with pytest.raises(WalletError, match="older than"):
        stale.sheet()


def test_without_rates_nothing_is_quoted(bank: ApiBank, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bank.services.quotes, "rates", NoRates("no FX rate source is configured"))
    r = _quote(bank, bank.signup(), sell="USD", buy="EUR", sell_amount="10.00")
    assert r.status_code == 503
    assert r.json()["type"] == "urn:tdw:problem:rates-unavailable"


@pytest.mark.parametrize(
    ("fx", "words"),
    [
        ({"spread_bps": {"standard": 5000}}, "must be 0 to 2000"),
        ({"spread_bps": {"premium": 10}}, "no spread for the default tier 'standard'"),
        ({"quote_ttl_seconds": 1}, "quote_ttl_seconds"),
    ],
)
def test_the_policys_fx_section_is_checked(fx: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        Policy.compile(2, {**DEFAULT_POLICY, "fx": fx})
