"""A case worked end to end on a real chain: an alert opens it, an officer assigns and investigates it,
files an inspection checked against the node and a trace picture, proposes a freeze that only a second
officer can approve (and the chain then holds), exports a goAML report that the published XSD accepts,
and closes it with a disposition; every step is in the audit log. The travel rule's IVMS101 record of
the large transfer is there too, and none for a small one."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree
from sqlalchemy import select

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.db.models import AuditRecord

GOAML_XSD = Path(__file__).parents[1] / "data" / "goAMLSchema.xsd"


def _post(bank: ApiBank, user: User, path: str, body: Any = None, **params: Any) -> Any:
    r = bank.client.post(
        path, json=body, params=params, headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert r.status_code in (200, 201), r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r.content


def test_a_case_from_alert_to_goaml_report(bank: ApiBank, operator: User) -> None:
    officer, second = bank.signup("compliance"), bank.signup("compliance")
    alice, bob = bank.signup(tier="premium", full_name="Alice Example"), bank.signup()
    a, b = bank.open_account(alice), bank.open_account(bob)
    bank.mint(operator, a, "15000.00")
    bank.wait_balance(alice, a, "15000.00")
    small = bank.follow(alice, bank.pay(alice, a, b, "2.00"))
    body = {"from_account": a["id"], "to_account": b["id"], "amount": "12000.00", "currency": "USD"}
    r = bank.client.post(
        "/v1/transfers",
        json={**body, "totp": alice.code()},
        headers={**alice.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    large = bank.follow(alice, r.json()["id"])

    # The travel rule: the large transfer carries IVMS101 data, the small one none.
    ivms = bank.client.get(f"/v1/compliance/transfers/{large['id']}/travel-rule", headers=officer.headers)
    assert ivms.status_code == 200, ivms.text
    originator = ivms.json()["originator"]
    assert originator["accountNumber"] == [a["address"]]
    name = originator["originatorPersons"][0]["naturalPerson"]["name"]["nameIdentifier"][0]
    assert name["nameIdentifierType"] == "LEGL"
    assert name["primaryIdentifier"]
    assert ivms.json()["beneficiary"]["accountNumber"] == [b["address"]]
    assert (
        bank.client.get(
            f"/v1/compliance/transfers/{small['id']}/travel-rule", headers=officer.headers
        ).status_code
        == 404
    )
    assert (
        bank.client.get(
            f"/v1/compliance/transfers/{large['id']}/travel-rule", headers=alice.headers
        ).status_code
        == 403
    )

    def alert() -> dict[str, Any] | None:
        found = bank.client.get(
            "/v1/compliance/alerts", params={"subject": a["address"]}, headers=officer.headers
        ).json()
        return found[0] if found else None

    case_id = wait_for(alert)["case_id"]
    path = f"/v1/compliance/cases/{case_id}"
    _post(bank, officer, f"{path}/assign", {"assignee": officer.username})
    _post(bank, officer, f"{path}/state", {"state": "investigating", "reason": "looking at the funds"})
    _post(bank, officer, f"{path}/notes", {"text": "source of funds asked from the customer"})
    filed = _post(bank, officer, f"{path}/snapshot", currency="USD", hops=2)
    assert [i["content_type"] for i in filed] == ["application/json", "image/svg+xml"]
    assert filed[0]["details"]["verified"] is True
    svg = bank.client.get(f"{path}/evidence/{filed[1]['id']}", headers=officer.headers)
    assert svg.status_code == 200
    assert etree.fromstring(svg.content).tag == "{http://www.w3.org/2000/svg}svg"

    # A freeze proposed from the case: not by the proposer, yes by a second officer; the chain holds it.
    proposal = _post(
        bank, officer, f"{path}/proposals", {"action": "freeze", "currency": "USD", "reason": "STR"}
    )
    assert proposal["params"]["address"] == a["address"]
    own = bank.client.post(f"/v1/proposals/{proposal['id']}/approve", json={}, headers=officer.headers)
    assert own.status_code == 403, own.text
    approved = _post(bank, second, f"/v1/proposals/{proposal['id']}/approve", {})
    assert approved["state"] in ("approved", "executed")
    token = bank.services.bank.token("USD").contract
    wait_for(lambda: token.functions.isFrozen(a["address"]).call() or None)

    # The goAML report: valid against the published schema, naming the chain transaction.
    xml = _post(bank, officer, f"{path}/reports/goaml")
    schema = xmlschema.XMLSchema11(str(GOAML_XSD))  # the schema asks for XSD 1.1 (vc:minVersion)
    schema.validate(xml.decode())  # raises, naming the element, when it is not valid
    report = etree.fromstring(xml)
    assert report.findtext("report_code") == "STR"
    numbers = [t.findtext("transactionnumber") for t in report.iter("transaction")]
    assert f"{large['tx_hash']}:" in numbers[0]
    assert report.find("transaction/t_from/from_account/account").text == a["address"]

    # The day's large transactions: the 12,000.00 transfer (at or above 10,000.00), not the 2.00 one.
    day = datetime.fromisoformat(wait_for(alert)["occurred_at"]).date().isoformat()
    daily = bank.client.get(
        "/v1/compliance/reports/large-transactions", params={"day": day}, headers=officer.headers
    )
    assert daily.status_code == 200, daily.text
    mine = [r for r in daily.json() if r["from"] == a["address"]]
    assert [(r["tx_hash"], r["amount"], r["threshold"], r["kind"]) for r in mine] == [
        (large["tx_hash"], "12000.00", "10000.00", "transfer")
    ]
    as_csv = bank.client.get(
        "/v1/compliance/reports/large-transactions",
        params={"day": day, "format": "csv"},
        headers=officer.headers,
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert large["tx_hash"] in {r["tx_hash"] for r in rows}

    closed = _post(bank, officer, f"{path}/close", {"disposition": "reported", "reason": "STR filed"})
    assert closed["state"] == "closed"
    assert closed["disposition"] == "reported"
    again = bank.client.post(f"{path}/notes", json={"text": "late"}, headers=officer.headers)
    assert again.status_code == 201  # notes may still be added to a closed case's file
    reopened = bank.client.post(
        f"{path}/state", json={"state": "open", "reason": "x"}, headers=officer.headers
    )
    assert reopened.status_code == 409

    file = bank.client.get(path, headers=officer.headers).json()
    kinds = [i["kind"] for i in file["items"]]
    for kind in ("alert", "assignment", "status", "note", "evidence", "action", "report"):
        assert kind in kinds, kinds
    with bank.services.bank.readers() as session:
        actions = set(
            session.scalars(select(AuditRecord.action).where(AuditRecord.subject == f"case:{case_id}"))
        )
    assert {
        "case.opened",
        "alert.raised",
        "case.assignment",
        "case.status",
        "case.note",
        "case.evidence",
        "case.action",
        "case.report",
        "case.evidence_read",
    } <= actions
