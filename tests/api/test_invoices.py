"""E-invoices: totals and VAT per rate in minor units; the UBL 2.1 XML validates against OASIS's
schema (xmlschema, not the library that wrote it) and says the same amounts; the PDF reads back; the
invoice turns partially paid, paid and overpaid by itself as transfers carrying its reference land in
the ledger mirror, and the seller is told; the aging report buckets what is open; bad input is refused;
another customer sees nothing of it."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree
from pypdf import PdfReader

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.retail.invoices import CAC, CBC, totals

UBL_XSD = Path(__file__).parents[1] / "data" / "ubl-2.1" / "xsd" / "maindoc" / "UBL-Invoice-2.1.xsd"


def test_totals_round_each_line_and_each_vat_rate_half_up_in_minor_units() -> None:
    lines = [
        {"quantity": "3", "unit_price": 1999, "tax_rate": "19"},  # 59.97
        {"quantity": "1.5", "unit_price": 333, "tax_rate": "19"},  # 4.995 -> 5.00
        {"quantity": "2", "unit_price": 1250, "tax_rate": "7.7"},  # 25.00
        {"quantity": "1", "unit_price": 500, "tax_rate": "0"},
    ]
    figures = totals(lines)
    assert figures["lines"] == [5997, 500, 2500, 500]
    assert figures["breakdown"] == [
        {"rate": "0", "taxable": 500, "tax": 0},
        {"rate": "7.7", "taxable": 2500, "tax": 193},  # 192.5 -> 193
        {"rate": "19", "taxable": 6497, "tax": 1234},  # 1234.43
    ]
    assert (figures["net"], figures["tax"], figures["total"]) == (9497, 1427, 10924)


@pytest.fixture(scope="module")
def parties(bank: ApiBank, operator: User) -> dict[str, Any]:
    seller, buyer = bank.signup(), bank.signup()
    seller_account = bank.open_account(seller, "USD")
    buyer_account = bank.open_account(buyer, "USD")
    bank.mint(operator, buyer_account, "500.00")
    bank.wait_balance(buyer, buyer_account, "500.00")
    return {
        "seller": seller,
        "buyer": buyer,
        "seller_account": seller_account,
        "buyer_account": buyer_account,
    }


def _issue(bank: ApiBank, parties: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "number": f"2026-{uuid.uuid4().hex[:6]}",
        "currency": "USD",
        "buyer_name": "Buyer GmbH",
        "buyer_country": "DE",
        "buyer_account": parties["buyer_account"]["id"],
        "lines": [
            {"description": "Consulting", "quantity": "2", "unit_price": "50.00", "tax_rate": "19"},
            {"description": "Books", "quantity": "1", "unit_price": "20.00", "tax_rate": "7.7"},
        ],
        "due_date": (date.today() + timedelta(days=30)).isoformat(),
        **overrides,
    }
    r = bank.client.post("/v1/invoices", json=body, headers=parties["seller"].headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_the_ubl_xml_validates_against_the_oasis_schema_and_says_the_same_amounts(
    bank: ApiBank, parties: dict[str, Any]
) -> None:
    invoice = _issue(bank, parties)
    assert (invoice["net"], invoice["tax"], invoice["total"]) == ("120.00", "20.54", "140.54")
    r = bank.client.get(f"/v1/invoices/{invoice['id']}/ubl.xml", headers=parties["seller"].headers)
    assert r.headers["content-type"] == "application/xml"
    xmlschema.XMLSchema(str(UBL_XSD)).validate(r.text)
    root = etree.fromstring(r.content)
    ns = {"cac": CAC, "cbc": CBC}
    assert root.findtext("cbc:CustomizationID", namespaces=ns) == "urn:cen.eu:en16931:2017"
    assert root.findtext("cbc:ID", namespaces=ns) == invoice["number"]
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns) == "140.54"
    assert root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=ns) == "20.54"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=ns) == invoice["reference"]
    assert len(root.findall("cac:InvoiceLine", ns)) == 2
    pdf = bank.client.get(f"/v1/invoices/{invoice['id']}/invoice.pdf", headers=parties["seller"].headers)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"Invoice {invoice['number']}" in text
    assert "140.54 USD" in text
    assert invoice["reference"] in text


def test_the_invoice_turns_paid_by_itself_as_transfers_with_its_reference_land(
    bank: ApiBank, parties: dict[str, Any]
) -> None:
    seller, buyer = parties["seller"], parties["buyer"]
    invoice = _issue(bank, parties)
    assert invoice["state"] == "open"

    def state() -> str:
        return str(bank.client.get(f"/v1/invoices/{invoice['id']}", headers=seller.headers).json()["state"])

    # Part of it, as an ordinary transfer carrying the reference.
    part = bank.pay(
        buyer, parties["buyer_account"], parties["seller_account"], "40.00", reference=invoice["reference"]
    )
    bank.follow(buyer, part)
    wait_for(lambda: state() == "partially_paid")
    shown = bank.client.get(f"/v1/invoices/{invoice['id']}/pay", headers=buyer.headers).json()
    assert (shown["outstanding"], shown["total"]) == ("100.54", "140.54")
    # The rest from the invoice's link: what is still owed.
    r = bank.client.post(
        f"/v1/invoices/{invoice['id']}/pay",
        json={},
        headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["amount"], r.json()["reference"]) == ("100.54", invoice["reference"])
    bank.follow(buyer, r.json()["id"])
    wait_for(lambda: state() == "paid")
    again = bank.client.post(
        f"/v1/invoices/{invoice['id']}/pay",
        json={},
        headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (again.status_code, again.json()["type"]) == (409, "urn:tdw:problem:conflict")
    extra = bank.pay(
        buyer, parties["buyer_account"], parties["seller_account"], "1.00", reference=invoice["reference"]
    )
    bank.follow(buyer, extra)
    wait_for(lambda: state() == "overpaid")

    def paid_events() -> list[Any] | None:
        found = [
            e
            for e in bank.services.feed.since(seller.user_id, 0, 1000)
            if e.type == "invoice.paid" and e.payload["invoice_id"] == invoice["id"]
        ]
        return found if len(found) == 3 else None

    told = wait_for(paid_events)
    assert sorted(e.payload["amount"] for e in told) == ["1.00", "100.54", "40.00"]
    # The buyer named on it sees it among theirs.
    assert invoice["id"] in {i["id"] for i in bank.client.get("/v1/invoices", headers=buyer.headers).json()}


def test_the_aging_report_buckets_what_is_open_by_days_past_due(
    bank: ApiBank, parties: dict[str, Any]
) -> None:
    today = date.today()
    late = _issue(
        bank,
        parties,
        issue_date=(today - timedelta(days=80)).isoformat(),
        due_date=(today - timedelta(days=45)).isoformat(),
    )
    soon = _issue(bank, parties)
    report = bank.client.get(
        "/v1/invoices/aging", params={"currency": "USD"}, headers=parties["seller"].headers
    ).json()
    where = {i["id"]: b["bucket"] for b in report["buckets"] for i in b["invoices"]}
    assert where[late["id"]] == "31-60"
    assert where[soon["id"]] == "not_due"
    bucket = next(b for b in report["buckets"] if b["bucket"] == "31-60")
    assert bucket["invoices"][0]["days_late"] == 45


def test_bad_input_is_refused_and_others_see_nothing(bank: ApiBank, parties: dict[str, Any]) -> None:
    seller = parties["seller"]
    line = {"description": "x", "quantity": "1", "unit_price": "1.00", "tax_rate": "19"}
    bad: list[dict[str, Any]] = [
        {"lines": []},
        {"lines": [{**line, "quantity": "-1"}]},
        {"lines": [{**line, "quantity": "1.23456"}]},
        {"lines": [{**line, "unit_price": "1.001"}]},
        {"lines": [{**line, "tax_rate": "101"}]},
        {"lines": [{**line, "tax_rate": "abc"}]},
        {"lines": [{**line, "description": ""}]},
        {"number": "has space"},
        {"buyer_country": "Germany"},
        {"currency": "JPY"},
        {"due_date": "2020-01-01"},
        {"reference": "r" * 33},
    ]
    for body in bad:
        r = bank.client.post(
            "/v1/invoices",
            json={
                "number": "B-1",
                "currency": "USD",
                "buyer_name": "B",
                "buyer_country": "DE",
                "lines": [line],
                "due_date": (date.today() + timedelta(days=1)).isoformat(),
                **body,
            },
            headers=seller.headers,
        )
        assert r.status_code == 422, (body, r.text)
    invoice = _issue(bank, parties)
    twice = bank.client.post(
        "/v1/invoices",
        json={
            "number": invoice["number"],
            "currency": "USD",
            "buyer_name": "B",
            "buyer_country": "DE",
            "lines": [line],
            "due_date": (date.today() + timedelta(days=1)).isoformat(),
        },
        headers=seller.headers,
    )
    assert twice.status_code == 409
    other = bank.signup()
    for path in ("", "/ubl.xml", "/invoice.pdf", "/qr.png"):
        r = bank.client.get(f"/v1/invoices/{invoice['id']}{path}", headers=other.headers)
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found"), path
    assert bank.client.get("/v1/invoices", headers=other.headers).json() == []
    shown = bank.client.get(f"/v1/invoices/{invoice['id']}/pay", headers=other.headers).json()
    assert "account_id" not in shown
    own = bank.client.post(
        f"/v1/invoices/{invoice['id']}/pay", json={}, headers={**seller.headers, "Idempotency-Key": "x"}
    )
    assert own.status_code == 422
