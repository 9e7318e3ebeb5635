"""Loyalty points: payments to a merchant of a rule's category earn points once final, within the rule's
monthly cap and campaign window; each earning is posted once; 100 points redeem for 1.00 minted to the
customer's account, the points' debit and the mint in one transaction, once per key; points expire by
rule; every entry balances and the accounts add up to zero; bad input is refused; nobody redeems into
another's account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.db.models import PointsEntry
from wallet.retail.points import Points


@pytest.fixture(scope="module")
def shop(bank: ApiBank, operator: User) -> dict[str, Any]:
    owner = bank.signup()
    account = bank.open_account(owner, "USD")
    category = f"bakery-{uuid.uuid4().hex[:6]}"
    r = bank.client.post(
        "/v1/bank/merchant-categories",
        json={"address": account["address"], "category": category},
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    rule = bank.client.post(
        "/v1/bank/points-rules",
        json={"name": "Bread bonus", "category": category, "points_per_unit": 10, "monthly_cap": 150},
        headers=operator.headers,
    )
    assert rule.status_code == 201, rule.text
    ended = bank.client.post(
        "/v1/bank/points-rules",
        json={
            "name": "Last year's campaign",
            "category": category,
            "points_per_unit": 500,
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2020-02-01T00:00:00Z",
        },
        headers=operator.headers,
    )
    assert ended.status_code == 201
    return {"account": account, "category": category}


def _statement(bank: ApiBank, user: User) -> dict[str, Any]:
    return dict(bank.client.get("/v1/points", headers=user.headers).json())


def test_payments_to_the_merchant_earn_points_within_the_cap_once_and_redeem_for_a_credit(
    bank: ApiBank, operator: User, shop: dict[str, Any]
) -> None:
    user = bank.signup()
    wallet = bank.open_account(user, "USD")
    bank.open_account(user, "EUR")  # the same address as the USD account: payments are told apart by token
    bank.mint(operator, wallet, "50.00")
    bank.wait_balance(user, wallet, "50.00")
    for amount in ("12.50", "4.00"):
        bank.follow(user, bank.pay(user, wallet, shop["account"], amount))
    statement = wait_for(lambda: ((s := _statement(bank, user))["balance"] == 150 and s) or None)
    earned = [e["points"] for e in statement["entries"] if e["kind"] == "earn"]
    assert sorted(earned) == [25, 125]  # 125 for 12.50; the 4.00 would give 40, the cap leaves 25
    bank.services.points.step()  # again: nothing earned twice
    assert _statement(bank, user)["balance"] == 150
    assert statement["next_expiry"]["points"] == 125

    key = uuid.uuid4().hex
    r = bank.client.post(
        "/v1/points/redemptions",
        json={"points": 100, "account_id": wallet["id"]},
        headers={**user.headers, "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["points"], r.json()["balance"]) == (100, 50)
    again = bank.client.post(
        "/v1/points/redemptions",
        json={"points": 100, "account_id": wallet["id"]},
        headers={**user.headers, "Idempotency-Key": key},
    )
    assert again.json()["id"] == r.json()["id"]
    bank.wait_balance(user, wallet, "34.50")  # 50.00 - 16.50 + 1.00 minted by the bank
    too_many = bank.client.post(
        "/v1/points/redemptions",
        json={"points": 51, "account_id": wallet["id"]},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (too_many.status_code, too_many.json()["type"]) == (409, "urn:tdw:problem:conflict")
    # The oldest points went first: the 125 lot has 25 left, the 25 lot is whole.
    with bank.services.bank.readers() as session:
        lots = sorted(
            session.execute(
                select(PointsEntry.amount, PointsEntry.remaining).where(
                    PointsEntry.credit == f"customer:{user.user_id}", PointsEntry.kind == "earn"
                )
            ).all()
        )
    assert lots == [(25, 25), (125, 25)]


def test_points_expire_by_rule_and_the_journal_balances(
    bank: ApiBank, operator: User, shop: dict[str, Any]
) -> None:
    user = bank.signup()
    wallet = bank.open_account(user, "USD")
    bank.mint(operator, wallet, "10.00")
    bank.wait_balance(user, wallet, "10.00")
    bank.follow(user, bank.pay(user, wallet, shop["account"], "3.00"))
    wait_for(lambda: _statement(bank, user)["balance"] == 30)
    services = bank.services
    later = Points(
        services.bank,
        services.accounts,
        services.operations,
        services.spending,
        clock=lambda: datetime.now(UTC) + timedelta(days=366),
    )
    later.step()
    statement = _statement(bank, user)
    assert statement["balance"] == 0
    assert statement["entries"][0]["kind"] == "expire"
    assert statement["entries"][0]["points"] == -30
    later.step()  # once
    assert _statement(bank, user)["balance"] == 0
    with services.bank.readers() as session:
        credits = dict(
            session.execute(
                select(PointsEntry.credit, func.sum(PointsEntry.amount)).group_by(PointsEntry.credit)
            ).all()
        )
        debits = dict(
            session.execute(
                select(PointsEntry.debit, func.sum(PointsEntry.amount)).group_by(PointsEntry.debit)
            ).all()
        )
    balances = {a: int(credits.get(a, 0)) - int(debits.get(a, 0)) for a in set(credits) | set(debits)}
    assert sum(balances.values()) == 0
    assert balances["bank:issued"] < 0


@pytest.mark.usefixtures("shop")
def test_bad_redemptions_are_refused_and_nobody_redeems_into_anothers_account(
    bank: ApiBank, operator: User
) -> None:
    user, other = bank.signup(), bank.signup()
    mine = bank.open_account(user, "USD")
    theirs = bank.open_account(other, "USD")
    for body in ({"points": 0, "account_id": mine["id"]}, {"points": 10**7, "account_id": mine["id"]}):
        r = bank.client.post(
            "/v1/points/redemptions", json=body, headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status_code == 422, body
    r = bank.client.post(
        "/v1/points/redemptions",
        json={"points": 1, "account_id": theirs["id"]},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found")
    r = bank.client.post(
        "/v1/bank/points-rules",
        json={"name": "x", "category": "x", "points_per_unit": 1},
        headers=user.headers,
    )
    assert r.status_code == 403
    bad_rule = bank.client.post(
        "/v1/bank/points-rules",
        json={"name": "x", "category": "x", "points_per_unit": 0},
        headers=operator.headers,
    )
    assert bad_rule.status_code == 422
    assert _statement(bank, other)["entries"] == []
