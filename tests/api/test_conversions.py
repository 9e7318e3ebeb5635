"""Customer conversions through the API: a quote carried out between the customer's own accounts in one
settlement transaction against the bank's FX book; everything the chain would refuse refused before
signing; each quote carried out once, also when two race for it; funds spoken for while it is on its
way and released when it fails."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from web3.logs import DISCARD

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from tests.support.web import Browser
from wallet.bank.users import Principal
from wallet.chain.settlement import Leg, Terms, settlement_id
from wallet.db.models import FxQuote, Settlement
from wallet.errors import QuoteUsedError
from wallet.fx.conversions import Conversions
from wallet.fx.quotes import take_quote
from wallet.vocabulary import Role


@pytest.fixture(scope="module")
def book(bank: ApiBank, operator: User) -> dict[str, str]:
    """The bank's FX book holds 10,000.00 of each currency."""
    services = bank.services
    treasury = services.bank.role_address("treasury")
    staff = Principal(operator.user_id, operator.username, Role.OPERATOR)
    for code in services.bank.tokens:
        view, _ = services.operations.mint(
            staff, idempotency_key=f"book-{code}", currency=code, amount="10000.00", to_address=treasury
        )
        bank.settle_operation(operator, view.id)
    wait_for(lambda: _book(bank, "EUR") == 1_000_000 and _book(bank, "USD") == 1_000_000)
    return {"treasury": treasury}


def _book(bank: ApiBank, code: str) -> int:
    token = bank.services.bank.token(code)
    return bank.services.bank.mirrored_balance(token.address, bank.services.bank.role_address("treasury"))[0]


def _customer(
    bank: ApiBank, operator: User, usd: str = "500.00"
) -> tuple[User, dict[str, Any], dict[str, Any]]:
    user = bank.signup()
    dollars, euros = bank.open_account(user, "USD"), bank.open_account(user, "EUR")
    bank.mint(operator, dollars, usd)
    bank.wait_balance(user, dollars, usd)
    return user, dollars, euros


def _quote(bank: ApiBank, user: User, amount: str = "100.00") -> dict[str, Any]:
    r = bank.client.post(
        "/v1/fx/quotes", json={"sell": "USD", "buy": "EUR", "sell_amount": amount}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _convert(bank: ApiBank, user: User, quote_id: str, key: str | None = None, **extra: str) -> Any:
    return bank.client.post(
        "/v1/fx/conversions",
        json={"quote_id": quote_id, **extra},
        headers={**user.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def _follow(bank: ApiBank, user: User, conversion_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        c = bank.client.get(f"/v1/fx/conversions/{conversion_id}", headers=user.headers).json()
        return c if c["state"] in ("final", "failed") else None

    return wait_for(done)


def test_a_conversion_moves_both_sides_in_one_transaction(
    bank: ApiBank, operator: User, book: dict[str, str]
) -> None:
    alice, dollars, euros = _customer(bank, operator)
    usd_book, eur_book = _book(bank, "USD"), _book(bank, "EUR")
    quote = _quote(bank, alice)
    r = _convert(bank, alice, quote["id"])
    assert r.status_code == 201, r.text
    conversion = r.json()
    assert conversion["sell"] == {"currency": "USD", "amount": "100.00"}
    assert conversion["buy"] == quote["buy"] == {"currency": "EUR", "amount": "91.68"}
    assert conversion["state"] in ("pending", "submitted", "executed", "confirmed", "final")
    done = _follow(bank, alice, conversion["id"])
    assert done["state"] == "final", done
    bank.wait_balance(alice, dollars, "400.00")
    bank.wait_balance(alice, euros, "91.68")
    wait_for(lambda: _book(bank, "USD") == usd_book + 10_000 and _book(bank, "EUR") == eur_book - 9_168)

    # One transaction moved both legs: its receipt holds the settlement contract's `Settled` event for
    # the id the API shows, and the four token movements (in to the contract, out to each payee).
    services = bank.services
    contract = services.bank.settlements.contract  # type: ignore[union-attr]
    receipt = services.bank.w3.eth.get_transaction_receipt(done["tx_hash"])
    settled = contract.events.Settled().process_receipt(receipt, errors=DISCARD)
    assert ["0x" + bytes(e["args"]["id"]).hex() for e in settled] == [done["settlement_id"]]
    assert contract.functions.stateOf(bytes.fromhex(done["settlement_id"][2:])).call() == 1
    # Every token log has the same ABI: `process_receipt` decodes them all, whichever token asks.
    token = services.bank.token("USD").contract
    moved = [
        (e["address"], e["args"]["from"], e["args"]["to"], e["args"]["value"])
        for e in token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    ]
    usd, eur = services.bank.token("USD").address, services.bank.token("EUR").address
    assert sorted(moved) == sorted(
        [
            (usd, dollars["address"], contract.address, 10_000),
            (usd, contract.address, book["treasury"], 10_000),
            (eur, book["treasury"], contract.address, 9_168),
            (eur, contract.address, euros["address"], 9_168),
        ]
    )
    # The quote is settled, the customer was told, and the conversion is in their history.
    assert bank.client.get(f"/v1/fx/quotes/{quote['id']}", headers=alice.headers).json()["state"] == "settled"
    told = [
        e.payload["state"]
        for e in services.feed.since(alice.user_id, 0, 1000)
        if e.type == "settlement.state"
    ]
    assert told == ["submitted", "settled", "final"]
    history = bank.client.get("/v1/fx/conversions", headers=alice.headers).json()
    assert [c["id"] for c in history] == [conversion["id"]]


@pytest.mark.usefixtures("book")
def test_the_settlement_id_is_the_contracts(bank: ApiBank, operator: User) -> None:
    alice, _, _ = _customer(bank, operator, "50.00")
    r = _convert(bank, alice, _quote(bank, alice, "10.00")["id"])
    assert r.status_code == 201, r.text
    services = bank.services.bank
    assert services.settlements is not None
    with services.readers() as session:
        row = session.get(Settlement, r.json()["id"])
        assert row is not None
        terms = services.settlements.terms(session, row)
    ours = settlement_id(services.settlements.domain, terms)
    theirs = services.settlements.contract.functions.settlementId(terms.as_tuple()).call()
    assert "0x" + ours.hex() == "0x" + bytes(theirs).hex() == r.json()["settlement_id"]
    _follow(bank, alice, r.json()["id"])


@pytest.mark.usefixtures("book")
def test_what_the_chain_would_refuse_is_refused_before_signing(bank: ApiBank, operator: User) -> None:
    alice, dollars, _ = _customer(bank, operator, "50.00")
    mallory = bank.signup()
    # More than the balance: refused with the available amount, nothing stored.
    r = _convert(bank, alice, _quote(bank, alice, "60.00")["id"])
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("insufficient-funds")
    # Someone else's quote is not there for them.
    r = _convert(bank, mallory, _quote(bank, alice, "1.00")["id"])
    assert r.status_code == 404, r.text
    # No account in the currency bought.
    bob = bank.signup()
    bank.open_account(bob, "USD")
    r = _convert(bank, bob, _quote(bank, bob, "1.00")["id"])
    assert r.status_code == 422, r.text
    assert "no EUR account" in r.json()["detail"]
    # The FX book cannot sell more than it holds.
    rich, _, _ = _customer(bank, operator, "20000.00")
    r = _convert(bank, rich, _quote(bank, rich, "19000.00")["id"])
    assert r.status_code == 503, r.text
    assert r.json()["type"].endswith("fx-unavailable")
    assert "cannot sell" in r.json()["detail"]
    # An account given explicitly must be the caller's and in the quote's currency.
    r = _convert(bank, alice, _quote(bank, alice, "1.00")["id"], to_account=dollars["id"])
    assert r.status_code == 422, r.text
    assert "holds USD, not EUR" in r.json()["detail"]
    with bank.services.bank.readers() as session:
        owners = {s.owner_id for s in session.query(Settlement)}
    assert not {alice.user_id, rich.user_id, bob.user_id} & owners
    assert bank.balance(alice, dollars) == "50.00"


@pytest.mark.usefixtures("book")
def test_a_quote_is_carried_out_once_and_a_key_repeats_the_same_conversion(
    bank: ApiBank, operator: User
) -> None:
    alice, dollars, _ = _customer(bank, operator, "100.00")
    quote = _quote(bank, alice, "10.00")
    first = _convert(bank, alice, quote["id"], key="convert-1")
    assert first.status_code == 201, first.text
    again = _convert(bank, alice, quote["id"], key="convert-1")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    other_body = _convert(bank, alice, _quote(bank, alice, "1.00")["id"], key="convert-1")
    assert other_body.status_code == 409, other_body.text
    second = _convert(bank, alice, quote["id"])
    assert second.status_code == 409, second.text
    assert second.json()["type"].endswith("quote-used")
    # An accepted quote may be carried out; accepting one that was carried out is refused.
    accepted = _quote(bank, alice, "5.00")
    assert (
        bank.client.post(f"/v1/fx/quotes/{accepted['id']}/accept", headers=alice.headers).status_code == 200
    )
    assert _convert(bank, alice, accepted["id"]).status_code == 201
    r = bank.client.post(f"/v1/fx/quotes/{quote['id']}/accept", headers=alice.headers)
    assert r.status_code == 409, r.text
    _follow(bank, alice, first.json()["id"])
    bank.wait_balance(alice, dollars, "85.00")


@pytest.mark.usefixtures("book")
def test_two_conversions_racing_for_one_quote_or_one_balance_settle_once(
    bank: ApiBank, operator: User
) -> None:
    alice, dollars, _ = _customer(bank, operator, "100.00")
    quote = _quote(bank, alice, "30.00")
    results: list[Any] = []
    gate = threading.Barrier(2)

    def race(quote_id: str) -> None:
        gate.wait()
        results.append(_convert(bank, alice, quote_id))

    threads = [threading.Thread(target=race, args=(quote["id"],)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    # Two quotes of 60.00 against the 70.00 left: one is carried out, the other refused for funds.
    quotes = [_quote(bank, alice, "60.00")["id"] for _ in range(2)]
    results.clear()
    threads = [threading.Thread(target=race, args=(q,)) for q in quotes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 422], [r.text for r in results]
    for r in results:
        if r.status_code == 201:
            assert _follow(bank, alice, r.json()["id"])["state"] == "final"
    bank.wait_balance(alice, dollars, "10.00")


@pytest.mark.usefixtures("book")
def test_a_quote_a_settlement_carries_out_is_refused_without_locking_its_row(
    bank: ApiBank, operator: User
) -> None:
    """The race above, at the moment it deadlocked on PostgreSQL: the loser got its locks after the winner
    committed, and the relayer, moving the winner's settlement, is about to update the quote's row. The
    loser must refuse the quote from the settlement it sees, not lock the row and then wait on the
    relayer's settlement in the unique index while the relayer waits on that row."""
    sessions = bank.services.bank.sessions
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: nothing to deadlock")
    alice, _, _ = _customer(bank, operator, "50.00")
    quote_id = _quote(bank, alice, "20.00")["id"]
    r = _convert(bank, alice, quote_id)
    assert r.status_code == 201, r.text
    assert _follow(bank, alice, r.json()["id"])["state"] == "final"
    with engine.begin() as c:  # the quote as it stood right after the winner committed
        c.execute(text("UPDATE fx_quotes SET state = 'accepted' WHERE id = :id"), {"id": quote_id})
    with engine.connect() as relayer, relayer.begin():
        relayer.execute(text("SELECT id FROM fx_quotes WHERE id = :id FOR UPDATE"), {"id": quote_id})
        with sessions.begin() as loser:
            loser.execute(text("SET LOCAL lock_timeout = '3s'"))
            quote = loser.get(FxQuote, quote_id)
            assert quote is not None
            with pytest.raises(QuoteUsedError):
                take_quote(loser, quote, datetime.now(UTC))


@pytest.mark.usefixtures("book")
def test_funds_are_spoken_for_on_the_way_and_released_when_it_fails(bank: ApiBank, operator: User) -> None:
    alice, dollars, euros = _customer(bank, operator, "100.00")
    bob = bank.signup()
    target = bank.open_account(bob, "USD")
    services = bank.services
    settlements = services.bank.settlements
    assert settlements is not None
    usd, eur = services.bank.token("USD").address, services.bank.token("EUR").address

    def check(amount: str) -> dict[str, Any]:
        body = {
            "from_account": dollars["id"],
            "to_account": target["id"],
            "amount": amount,
            "currency": "USD",
        }
        r = bank.client.post("/v1/transfers/check", json=body, headers=alice.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    # A settlement of alice's 80.00 waiting for the other party's signature until its deadline: while
    # it waits, those 80.00 are not available to a transfer.
    treasury = services.bank.role_address("treasury")
    terms = Terms(
        ref=b"\x01" * 32,
        legs=(Leg(usd, dollars["address"], treasury, 8_000), Leg(eur, treasury, euros["address"], 7_000)),
        deadline=int(time.time()) + 4,
    )
    with services.bank.sessions.begin() as session:
        waiting = settlements.store(
            session,
            kind="test",
            idempotency_key=uuid.uuid4().hex,
            request_hash="-",
            terms=terms,
            signatures=[None, None],
        ).id
    refused = check("30.00")
    assert refused["outcome"] == "reject"
    assert refused["rules"][0]["problem"] == "insufficient-funds"
    assert "20.00" in refused["rules"][0]["explanation"]
    # Past its deadline it fails unsent, and the 80.00 are available again.
    wait_for(lambda: settlements.get(waiting).status == "failed", timeout=15)  # type: ignore[union-attr]
    assert settlements.get(waiting).error_name == "SettlementExpired"  # type: ignore[union-attr]
    assert check("100.00")["outcome"] == "allow"

    # A conversion whose deadline passed before the relayer saw it fails without being sent.
    principal = Principal(alice.user_id, alice.username, Role.CUSTOMER)
    late = Conversions(services.bank, services.accounts, services.quotes, validity_seconds=0)
    view, created = late.convert(
        principal, idempotency_key="late", quote_id=_quote(bank, alice, "80.00")["id"]
    )
    assert created
    failed = _follow(bank, alice, view["id"])
    assert failed["state"] == "failed"
    assert failed["error"]["name"] == "SettlementExpired"
    assert failed["tx_hash"] is None
    quote = bank.client.get(f"/v1/fx/quotes/{view['quote_id']}", headers=alice.headers).json()
    assert quote["state"] == "failed"
    # Nothing moved, and the 100.00 are all available again.
    assert bank.balance(alice, dollars) == "100.00"
    assert bank.balance(alice, euros) == "0.00"
    assert bank.follow(alice, bank.pay(alice, dollars, target, "100.00"))["state"] == "final"


@pytest.mark.usefixtures("book")
def test_a_payer_frozen_after_acceptance_fails_the_conversion_and_nothing_moves(
    bank: ApiBank, operator: User
) -> None:
    """The chain stays the judge: a freeze between acceptance and sending is refused on chain (here, at
    the estimate before sending), the conversion fails and neither side moves."""
    alice, dollars, euros = _customer(bank, operator, "100.00")
    services = bank.services
    settlements = services.bank.settlements
    assert settlements is not None
    quote = _quote(bank, alice, "10.00")
    # Stop the relayer's settlements while the customer is frozen (a worker pass in between).
    relay = settlements.relay
    settlements.relay = lambda: 0  # type: ignore[method-assign]
    try:
        r = _convert(bank, alice, quote["id"])
        assert r.status_code == 201, r.text
        usd = services.bank.token("USD").contract
        bank.chain_act("compliance", usd.functions.freeze(dollars["address"]))
    finally:
        settlements.relay = relay  # type: ignore[method-assign]
    failed = _follow(bank, alice, r.json()["id"])
    assert failed["state"] == "failed"
    assert failed["error"]["name"] == "DepositTokenAccountFrozen"
    bank.chain_act("compliance", usd.functions.unfreeze(dollars["address"]))
    assert bank.balance(alice, dollars) == "100.00"
    assert bank.balance(alice, euros) == "0.00"


@pytest.mark.usefixtures("book")
def test_another_customers_conversion_and_accounts_are_not_there_for_them(
    bank: ApiBank, operator: User
) -> None:
    alice, dollars, _ = _customer(bank, operator, "50.00")
    mallory, _, euros = _customer(bank, operator, "50.00")
    r = _convert(bank, alice, _quote(bank, alice, "10.00")["id"])
    assert r.status_code == 201, r.text
    conversion = r.json()["id"]
    assert bank.client.get(f"/v1/fx/conversions/{conversion}", headers=mallory.headers).status_code == 404
    assert bank.client.get("/v1/fx/conversions", headers=mallory.headers).json() == []
    # Mallory's quote from Alice's account, or into Alice's: the account is not there for her.
    quote = _quote(bank, mallory, "10.00")["id"]
    assert _convert(bank, mallory, quote, from_account=dollars["id"]).status_code == 404
    assert _convert(bank, alice, _quote(bank, alice, "1.00")["id"], to_account=euros["id"]).status_code == 404
    assert _follow(bank, alice, conversion)["state"] == "final"
    bank.wait_balance(alice, dollars, "40.00")


@pytest.mark.usefixtures("book")
def test_a_customer_converts_from_the_screens(bank: ApiBank, operator: User) -> None:
    """Quote, then convert, on screen: the quote is shown with its rate and expiry, a second press of
    the same form makes no second conversion, and the conversion reaches final in the list."""
    alice, dollars, euros = _customer(bank, operator)
    screens = Browser(bank)
    assert screens.sign_in(alice).status_code == 303
    refused = screens.form("/app/exchange/quote", {"sell": "USD", "buy": "EUR", "sell_amount": "1.001"})
    assert refused.status_code == 400
    assert 'value="1.001"' in refused.text
    quoted = screens.form("/app/exchange/quote", {"sell": "USD", "buy": "EUR", "sell_amount": "100.00"})
    assert quoted.status_code == 200, quoted.text
    quote_id = re.search(r'name="quote_id" value="([0-9a-f]+)"', quoted.text)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', quoted.text)
    assert quote_id
    assert key
    assert "€91.68" in quoted.text
    form = {"key": key.group(1), "quote_id": quote_id.group(1)}
    assert screens.form("/app/exchange/convert", form).status_code == 303
    assert screens.form("/app/exchange/convert", form).status_code == 303  # the same press: one conversion
    [conversion] = bank.client.get("/v1/fx/conversions", headers=alice.headers).json()
    bank.wait_balance(alice, euros, "91.68")
    bank.wait_balance(alice, dollars, "400.00")
    wait_for(
        lambda: (
            f'data-conversion="{conversion["id"]}" data-state="final"'
            in screens.client.get("/app/exchange?rows=1").text
        )
    )
