"""Spending analysis from the ledger mirror: outgoing payments filed by the customer's rules, the biller's
and the merchant's category, the bank's keywords; monthly totals per category; this month against the
months before (an injected clock moves the months); a budget crossed is told once; the chart is a real
PNG and SVG; the CSV reads back with the same figures; bad input is refused; another customer's rules
and budgets are not there for them."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.bank.users import Principal
from wallet.retail.spending import Spending
from wallet.vocabulary import Role


@pytest.fixture(scope="module")
def spender(bank: ApiBank, operator: User) -> dict[str, Any]:
    """A customer who paid rent, lunch, a café (the bank's merchant category), a bill (its biller's
    category), a gift (their own rule) and something else, all in USD; and the merchants."""
    user = bank.signup()
    account = bank.open_account(user, "USD")
    bank.mint(operator, account, "1000.00")
    bank.wait_balance(user, account, "1000.00")
    others = {
        name: bank.open_account(bank.signup(), "USD") for name in ("landlord", "cafe", "power", "friend", "x")
    }
    r = bank.client.post(
        "/v1/bank/merchant-categories",
        json={"address": others["cafe"]["address"], "category": "cafes"},
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    r = bank.client.post(
        "/v1/bank/billers",
        json={
            "account_id": others["power"]["id"],
            "name": f"Grid {uuid.uuid4().hex[:6]}",
            "category": "utilities",
            "reference_pattern": "G[0-9]{4}",
            "reference_hint": "G and four digits",
        },
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    rule = bank.client.post(
        "/v1/spending/rules",
        json={"match": "keyword", "pattern": "birthday", "category": "gifts-family"},
        headers=user.headers,
    )
    assert rule.status_code == 201, rule.text
    ids = [
        bank.pay(user, account, others["landlord"], "400.00", reference="Rent December"),
        bank.pay(user, account, others["x"], "12.50", reference="Lunch with Bo"),
        bank.pay(user, account, others["cafe"], "4.80", reference="TABLE-3"),
        bank.pay(user, account, others["power"], "60.00", reference="G1234"),
        bank.pay(user, account, others["friend"], "25.00", reference="Birthday Anna"),
        bank.pay(user, account, others["x"], "7.70"),
    ]
    for transfer_id in ids:
        assert bank.follow(user, transfer_id)["state"] == "final"
    bank.wait_balance(user, account, "490.00")
    return {"user": user, "account": account, "others": others}


EXPECTED = {
    "housing": "400.00",
    "dining": "12.50",
    "cafes": "4.80",
    "utilities": "60.00",
    "gifts-family": "25.00",
    "other": "7.70",
}


def test_payments_are_filed_by_rule_biller_merchant_and_keyword_and_summed_per_month(
    bank: ApiBank, spender: dict[str, Any]
) -> None:
    user = spender["user"]
    figures = bank.client.get(
        "/v1/spending", params={"currency": "USD", "months": 3}, headers=user.headers
    ).json()
    this_month = figures["months"][-1]
    assert len(figures["months"]) == 3
    totals = {t["category"]: t["amount"] for t in figures["totals"] if t["month"] == this_month}
    assert totals == EXPECTED
    assert figures["by_month"][-1]["amount"] == "510.00"
    # Money in (the mint) and to nobody (no burn here) is not spending.
    assert sum(1 for t in figures["totals"]) == len(EXPECTED)


def test_the_csv_reads_back_with_the_same_figures_and_the_chart_is_an_image(
    bank: ApiBank, spender: dict[str, Any]
) -> None:
    user = spender["user"]
    r = bank.client.get("/v1/spending/payments.csv", headers=user.headers)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    by_category = {row["category"]: row["amount"] for row in rows}
    assert by_category == EXPECTED
    assert {row["reference"] for row in rows} >= {"Rent December", "G1234", ""}
    png = bank.client.get("/v1/spending/chart.png", params={"currency": "USD"}, headers=user.headers)
    assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG"
    assert image.size == (700, 360)
    svg = bank.client.get("/v1/spending/chart.svg", params={"currency": "USD"}, headers=user.headers)
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "<svg" in svg.text
    assert "housing" in svg.text  # the legend


def test_this_month_is_compared_with_the_months_before(bank: ApiBank, spender: dict[str, Any]) -> None:
    user = spender["user"]
    principal = Principal(user.user_id, user.username, Role.CUSTOMER)
    now = bank.services.spending.clock()
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=2)
    later = Spending(bank.services.bank, clock=lambda: next_month)
    figures = later.summary(principal, currency="USD", months=2)
    trends = {t["category"]: t for t in figures["trends"]}
    assert trends["housing"]["this_month"] == "0.00"
    assert trends["housing"]["mean_before"] == "400.00"
    assert trends["housing"]["change_percent"] == -100
    current = bank.services.spending.summary(principal, currency="USD", months=1)
    assert {t["category"]: t["change_percent"] for t in current["trends"]}[
        "housing"
    ] is None  # nothing before


def test_a_budget_crossed_is_told_once_a_month(bank: ApiBank, spender: dict[str, Any]) -> None:
    user = spender["user"]
    r = bank.client.put(
        "/v1/spending/budgets",
        json={"category": "dining", "currency": "USD", "amount": "10.00"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["spent"], r.json()["crossed"]) == ("12.50", True)
    wide = bank.client.put(
        "/v1/spending/budgets",
        json={"category": "housing", "currency": "USD", "amount": "500.00"},
        headers=user.headers,
    ).json()
    assert wide["crossed"] is False
    spending = bank.services.spending
    spending.step()
    spending.step()
    told = wait_for(
        lambda: [e for e in bank.services.feed.since(user.user_id, 0, 1000) if e.type == "budget.crossed"]
    )
    assert len(told) == 1
    assert (told[0].payload["category"], told[0].payload["spent"], told[0].payload["budget"]) == (
        "dining",
        "12.50",
        "10.00",
    )
    budgets = bank.client.get("/v1/spending", headers=user.headers).json()["budgets"]
    assert {b["category"] for b in budgets} == {"dining", "housing"}


def test_bad_input_is_refused_and_others_reach_nothing(bank: ApiBank, spender: dict[str, Any]) -> None:
    user = spender["user"]
    bad = [
        ("POST", "/v1/spending/rules", {"match": "address", "pattern": "nope", "category": "x"}),
        ("POST", "/v1/spending/rules", {"match": "keyword", "pattern": "a", "category": "x"}),
        ("POST", "/v1/spending/rules", {"match": "keyword", "pattern": "taxi", "category": "Not Ok"}),
        ("POST", "/v1/spending/rules", {"match": "regex", "pattern": "x", "category": "x"}),
        ("PUT", "/v1/spending/budgets", {"category": "dining", "currency": "USD", "amount": "-1"}),
        ("PUT", "/v1/spending/budgets", {"category": "dining", "currency": "XXX", "amount": "1.00"}),
    ]
    for method, path, body in bad:
        r = bank.client.request(method, path, json=body, headers=user.headers)
        assert r.status_code == 422, (body, r.text)
    assert bank.client.get("/v1/spending", params={"months": 0}, headers=user.headers).status_code == 422
    assert (
        bank.client.get("/v1/spending", params={"currency": "JPY"}, headers=user.headers).status_code == 422
    )
    [rule] = bank.client.get("/v1/spending/rules", headers=user.headers).json()
    budgets = bank.client.get("/v1/spending/budgets", headers=user.headers).json()
    other = bank.signup()
    assert bank.client.get("/v1/spending/rules", headers=other.headers).json() == []
    assert bank.client.get("/v1/spending/budgets", headers=other.headers).json() == []
    assert bank.client.get("/v1/spending", headers=other.headers).json()["totals"] == []
    for path in [f"/v1/spending/rules/{rule['id']}", *(f"/v1/spending/budgets/{b['id']}" for b in budgets)]:
        r = bank.client.delete(path, headers=other.headers)
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found"), path
    r = bank.client.post(
        "/v1/bank/merchant-categories",
        json={"address": "0x" + "11" * 20, "category": "x"},
        headers=user.headers,
    )
    assert r.status_code == 403
    assert len(bank.client.get("/v1/spending/rules", headers=user.headers).json()) == 1
