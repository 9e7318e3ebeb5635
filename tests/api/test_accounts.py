import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from pypdf import PdfReader

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for

PERIOD = {"from": "2020-01-01", "to": "2020-12-31"}


def _today_period() -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}


def test_opening_an_account_registers_kyc_and_it_becomes_active(bank: ApiBank, customer: User) -> None:
    r = bank.client.post("/v1/accounts", json={"currency": "EUR"}, headers=customer.headers)
    assert r.status_code == 201
    assert r.json()["status"] in ("pending", "active")
    account = bank.open_account(customer, "USD")
    # One custodial address per customer, registered once for every currency.
    assert account["address"] == r.json()["address"]
    assert bank.services.bank.registry.functions.isAllowed(account["address"]).call()
    listed = bank.client.get("/v1/accounts", headers=customer.headers).json()
    assert sorted(a["currency"] for a in listed) == ["EUR", "USD"]


def test_a_second_account_in_one_currency_is_a_conflict(bank: ApiBank, customer: User) -> None:
    bank.open_account(customer, "USD")
    r = bank.client.post("/v1/accounts", json={"currency": "USD"}, headers=customer.headers)
    assert r.status_code == 409


@pytest.mark.parametrize("code", ["XYZ", "usd", "JPY"])
def test_currencies_the_bank_does_not_issue_are_refused(bank: ApiBank, customer: User, code: str) -> None:
    r = bank.client.post("/v1/accounts", json={"currency": code}, headers=customer.headers)
    assert r.status_code == 422
    assert r.json()["type"] == "urn:tdw:problem:unknown-currency"
    assert r.json()["currency"] == code


def test_staff_cannot_open_customer_accounts(bank: ApiBank, operator: User) -> None:
    r = bank.client.post("/v1/accounts", json={"currency": "USD"}, headers=operator.headers)
    assert r.status_code == 403


def test_the_balance_comes_from_the_mirror_with_its_block(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    r = bank.client.get(f"/v1/accounts/{account['id']}/balance", headers=user.headers).json()
    assert r == {
        "account_id": account["id"],
        "currency": "USD",
        "balance": "5000.00",
        "as_of_block": r["as_of_block"],
    }
    token = bank.services.bank.tokens["USD"].contract
    assert token.functions.balanceOf(account["address"]).call(block_identifier=r["as_of_block"]) == 500_000


def test_a_customer_never_sees_another_customers_accounts(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    owner, account = funded
    other = customer
    for path in (
        f"/v1/accounts/{account['id']}",
        f"/v1/accounts/{account['id']}/balance",
        f"/v1/accounts/{account['id']}/statements?from=2020-01-01&to=2020-01-02",
    ):
        r = bank.client.get(path, headers=other.headers)
        assert r.status_code == 404, path
        assert r.json()["type"] == "urn:tdw:problem:not-found"
    assert bank.client.get(f"/v1/accounts?user_id={owner.user_id}", headers=other.headers).status_code == 404
    assert bank.client.get("/v1/accounts", headers=other.headers).json() == []


def test_staff_may_read_any_account(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], compliance: User, operator: User
) -> None:
    owner, account = funded
    for staff in (compliance, operator):
        assert bank.client.get(f"/v1/accounts/{account['id']}", headers=staff.headers).status_code == 200
        listed = bank.client.get(f"/v1/accounts?user_id={owner.user_id}", headers=staff.headers).json()
        assert [a["id"] for a in listed] == [account["id"]]


def test_statements_come_in_every_format(bank: ApiBank, funded: tuple[User, dict[str, Any]]) -> None:
    user, account = funded
    period = _today_period()
    url = f"/v1/accounts/{account['id']}/statements"
    as_json = bank.client.get(url, params={**period, "format": "json"}, headers=user.headers)
    assert as_json.headers["content-type"].startswith("application/json")

    def final() -> dict[str, Any] | None:  # a statement holds final entries only
        r = bank.client.get(url, params={**period, "format": "json"}, headers=user.headers)
        doc: dict[str, Any] = json.loads(r.content)
        return doc if doc["entries"] else None

    statement = wait_for(final)
    assert statement["closing_balance"] == "5000.00"
    assert statement["owner_name"]
    assert statement["bank"]["name"]
    assert statement["opening_balance"] == "0.00"
    assert [line["kind"] for line in statement["entries"]] == ["mint"]
    as_csv = bank.client.get(url, params={**period, "format": "csv"}, headers=user.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = as_csv.text.splitlines()
    assert rows[1].split(",")[4] == "opening_balance"
    assert rows[2].split(",")[-3:] == ["5000.00", "5000.00", "USD"]
    assert rows[3].split(",")[4] == "closing_balance"
    as_pdf = bank.client.get(url, params={**period, "format": "pdf"}, headers=user.headers)
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert "5000.00" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(as_pdf.content)).pages)
    as_xml = bank.client.get(url, params={**period, "format": "camt053"}, headers=user.headers)
    assert as_xml.headers["content-type"].startswith("application/xml")
    assert ET.fromstring(as_xml.content).tag.endswith("Document")
    assert "attachment" in as_xml.headers["content-disposition"]


def test_a_statement_names_the_owner_and_counterparties_who_are_customers_never_by_login(
    bank: ApiBank, operator: User
) -> None:
    payer = bank.signup(full_name="Zoë Payer")
    payee = bank.signup(full_name="Yann Payee")
    anonymous = bank.signup()  # no full name at sign-up: the one their KYC submission gave
    source, target, third = bank.open_account(payer), bank.open_account(payee), bank.open_account(anonymous)
    bank.mint(operator, source, "50.00")
    bank.wait_balance(payer, source, "50.00")
    for to, amount, reference in ((target, "7.00", "Café Zürich 3"), (third, "1.00", None)):
        transfer_id = bank.pay(payer, source, to, amount, reference=reference)
        assert bank.follow(payer, transfer_id)["state"] == "final"
    url = f"/v1/accounts/{source['id']}/statements"

    def complete() -> dict[str, Any] | None:
        doc: dict[str, Any] = bank.client.get(
            url, params={**_today_period(), "format": "json"}, headers=payer.headers
        ).json()
        return doc if len(doc["entries"]) == 3 else None

    doc = wait_for(complete, what="three final entries")
    assert doc["owner_name"] == "Zoë Payer"
    mint, paid, other = doc["entries"]
    assert (paid["counterparty_name"], paid["reference"]) == ("Yann Payee", "Café Zürich 3")
    assert other["counterparty_name"] == "Alex Example"  # their verified legal name, never their login
    assert anonymous.username not in json.dumps(doc)
    assert "issuance" in mint["counterparty_name"]
    assert doc["summary"]["debits"] == {"count": 2, "total": "8.00"}


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-02-01", "to": "2026-01-01", "format": "json"},
        {"from": "2020-01-01", "to": "2026-01-01", "format": "json"},
        {"from": "2026-01-01", "to": "2026-01-02", "format": "xls"},
        {"from": "yesterday", "to": "2026-01-02"},
        {"from": "9999-12-30", "to": "9999-12-31", "format": "json"},
        {"from": "2999-01-01", "to": "2999-01-02", "format": "camt053"},
    ],
)
def test_bad_statement_requests_are_422(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], params: dict[str, str]
) -> None:
    user, account = funded
    r = bank.client.get(f"/v1/accounts/{account['id']}/statements", params=params, headers=user.headers)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_payees_belong_to_their_customer(bank: ApiBank, customer: User) -> None:
    other = bank.signup()
    address = "0x" + "12" * 20
    r = bank.client.post(
        "/v1/payees", json={"name": "Landlord", "address": address}, headers=customer.headers
    )
    assert r.status_code == 201
    payee = r.json()
    assert payee["address"] == "0x1212121212121212121212121212121212121212"
    assert (
        bank.client.post(
            "/v1/payees", json={"name": "Landlord", "address": address}, headers=customer.headers
        ).status_code
        == 409
    )
    assert (
        bank.client.post(
            "/v1/payees", json={"name": "Bad", "address": "0x12"}, headers=customer.headers
        ).status_code
        == 422
    )
    assert bank.client.get("/v1/payees", headers=other.headers).json() == []
    assert bank.client.delete(f"/v1/payees/{payee['id']}", headers=other.headers).status_code == 404
    assert bank.client.delete(f"/v1/payees/{payee['id']}", headers=customer.headers).status_code == 204
    assert bank.client.get("/v1/payees", headers=customer.headers).json() == []
