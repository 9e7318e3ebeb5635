"""Batch payments: a payroll as an ISO 20022 pain.001.001.10 file (checked first against the schema by
xmlschema, a validator that is not the one the bank uses) pays each employee on chain; the pain.002
status report the bank answers with validates against ISO's pain.002.001.11 schema and says final per
line; the same message id again is the same batch; a file with problems gets every problem back at once
and moves nothing; a CSV file works the same way; another customer reaches nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.retail.batches import PAIN001, PAIN002, SCHEMA

PAIN002_XSD = Path(__file__).parents[1] / "data" / "iso20022" / "pain.002.001.11.xsd"


def pain001(
    message_id: str,
    debtor_account: str,
    lines: list[dict[str, Any]],
    *,
    count: int | None = None,
    control_sum: str | None = None,
) -> bytes:
    """A pain.001.001.10 credit transfer initiation; each line: e2e, name, amount, currency, and
    `account` (an account number) or `address` (by proxy), and `reference`."""

    def e(tag: str, *children: Any, **attrs: str) -> Any:
        node = etree.Element(f"{{{PAIN001}}}{tag}", nsmap={None: PAIN001}, **attrs)
        for child in children:
            if isinstance(child, str):
                node.text = child
            else:
                node.append(child)
        return node

    total = sum(Decimal(line["amount"]) for line in lines)
    txs = []
    for line in lines:
        if "address" in line:
            account = e(
                "CdtrAcct",
                e("Id", e("Othr", e("Id", "EVM-31337"))),
                e("Prxy", e("Tp", e("Prtry", "EVMADDR")), e("Id", line["address"])),
            )
        else:
            account = e("CdtrAcct", e("Id", e("Othr", e("Id", line["account"]))))
        txs.append(
            e(
                "CdtTrfTxInf",
                e("PmtId", e("EndToEndId", line["e2e"])),
                e("Amt", e("InstdAmt", line["amount"], Ccy=line.get("currency", "USD"))),
                e("Cdtr", e("Nm", line["name"])),
                account,
                *([e("RmtInf", e("Ustrd", line["reference"]))] if line.get("reference") else []),
            )
        )
    document = e(
        "Document",
        e(
            "CstmrCdtTrfInitn",
            e(
                "GrpHdr",
                e("MsgId", message_id),
                e("CreDtTm", "2026-11-24T09:00:00"),
                e("NbOfTxs", str(len(lines) if count is None else count)),
                e("CtrlSum", control_sum or str(total)),
                e("InitgPty", e("Nm", "Acme Corp")),
            ),
            e(
                "PmtInf",
                e("PmtInfId", "PAYROLL-NOV"),
                e("PmtMtd", "TRF"),
                e("ReqdExctnDt", e("Dt", "2026-11-25")),
                e("Dbtr", e("Nm", "Acme Corp")),
                e("DbtrAcct", e("Id", e("Othr", e("Id", debtor_account)))),
                e("DbtrAgt", e("FinInstnId", e("BICFI", "TDWBCHZZ"))),
                *txs,
            ),
        ),
    )
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))


@pytest.fixture(scope="module")
def corporate(bank: ApiBank, operator: User) -> dict[str, Any]:
    acme = bank.signup()
    account = bank.open_account(acme, "USD")
    bank.mint(operator, account, "1000.00")
    bank.wait_balance(acme, account, "1000.00")
    staff = []
    for _ in range(3):
        employee = bank.signup()
        staff.append((employee, bank.open_account(employee, "USD")))
    return {"user": acme, "account": account, "staff": staff}


def _upload(bank: ApiBank, user: User, content: bytes, **form: str) -> Any:
    kind = "text/csv" if form.get("format") == "csv" else "application/xml"
    return bank.client.post(
        "/v1/batches", files={"file": ("batch", content, kind)}, data=form or None, headers=user.headers
    )


def test_a_payroll_file_pays_every_employee_and_the_status_report_says_so(
    bank: ApiBank, corporate: dict[str, Any]
) -> None:
    acme, account, staff = corporate["user"], corporate["account"], corporate["staff"]
    lines = [
        {
            "e2e": "SAL-001",
            "name": "Ann",
            "amount": "120.00",
            "account": staff[0][1]["id"],
            "reference": "Salary Nov",
        },
        {
            "e2e": "SAL-002",
            "name": "Ben",
            "amount": "80.50",
            "account": staff[1][1]["id"],
            "reference": "Salary Nov",
        },
        {"e2e": "SAL-003", "name": "Cai", "amount": "42.25", "address": staff[2][1]["address"]},
    ]
    message_id = f"PAY-{uuid.uuid4().hex[:12]}"
    document = pain001(message_id, account["id"], lines)
    xmlschema.XMLSchema(str(SCHEMA)).validate(document.decode())  # a valid message, by another validator
    r = _upload(bank, acme, document)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert [line["end_to_end_id"] for line in batch["lines"]] == ["SAL-001", "SAL-002", "SAL-003"]
    assert all(line["transfer_id"] for line in batch["lines"])
    for line in batch["lines"]:
        assert bank.follow(acme, line["transfer_id"])["state"] == "final"
    for (employee, wallet), amount in zip(staff, ("120.00", "80.50", "42.25"), strict=True):
        bank.wait_balance(employee, wallet, amount)
    bank.wait_balance(acme, account, "757.25")
    salary = bank.client.get(f"/v1/transfers/{batch['lines'][0]['transfer_id']}", headers=acme.headers).json()
    assert salary["reference"] == "Salary Nov"

    def final_report() -> bytes | None:
        report = bank.client.get(f"/v1/batches/{batch['id']}/pain.002", headers=acme.headers)
        return report.content if b"<GrpSts>ACSC</GrpSts>" in report.content else None

    report = wait_for(final_report)
    xmlschema.XMLSchema(str(PAIN002_XSD)).validate(report.decode())
    root = etree.fromstring(report)
    ns = {"p": PAIN002}
    assert root.findtext("p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:OrgnlMsgId", namespaces=ns) == message_id
    statuses = {
        tx.findtext("p:OrgnlEndToEndId", namespaces=ns): tx.findtext("p:TxSts", namespaces=ns)
        for tx in root.iterfind(".//p:TxInfAndSts", ns)
    }
    assert statuses == {"SAL-001": "ACSC", "SAL-002": "ACSC", "SAL-003": "ACSC"}
    # The same file again is the same batch, and pays nothing more; another file under its id is refused.
    again = _upload(bank, acme, document)
    assert (again.status_code, again.json()["id"]) == (200, batch["id"])
    other = _upload(bank, acme, pain001(message_id, account["id"], lines[:1]))
    assert (other.status_code, other.json()["type"]) == (409, "urn:tdw:problem:conflict")
    assert bank.balance(acme, account) == "757.25"


def test_a_file_with_problems_gets_every_one_back_and_moves_nothing(
    bank: ApiBank, corporate: dict[str, Any]
) -> None:
    acme, account, staff = corporate["user"], corporate["account"], corporate["staff"]
    before = bank.balance(acme, account)
    batches_before = len(bank.client.get("/v1/batches", headers=acme.headers).json())
    lines = [
        {"e2e": "A-1", "name": "Fine", "amount": "1.00", "account": staff[0][1]["id"]},
        {"e2e": "A-2", "name": "Nobody", "amount": "1.00", "account": "0" * 32},
        {"e2e": "A-1", "name": "Twice", "amount": "1.00", "account": staff[1][1]["id"]},
        {"e2e": "A-4", "name": "Euro", "amount": "1.00", "currency": "EUR", "account": staff[1][1]["id"]},
        {"e2e": "A-5", "name": "Long", "amount": "1.00", "account": staff[1][1]["id"], "reference": "r" * 40},
        {"e2e": "A-6", "name": "Bad address", "amount": "1.00", "address": "0x1234"},
        {"e2e": "A-7", "name": "Fraction", "amount": "1.001", "account": staff[1][1]["id"]},
    ]
    r = _upload(
        bank, acme, pain001(f"BAD-{uuid.uuid4().hex[:8]}", account["id"], lines, count=9, control_sum="3.00")
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"] == "urn:tdw:problem:batch-invalid"
    found = {(e["line"], e["field"]) for e in problem["errors"]}
    assert {
        (2, "CdtrAcct"),
        (3, "EndToEndId"),
        (4, "Ccy"),
        (5, "Ustrd"),
        (6, "CdtrAcct"),
        (7, "InstdAmt"),
    } <= found
    assert (None, "NbOfTxs") in found
    assert (None, "CtrlSum") in found
    assert not any(e["line"] == 1 for e in problem["errors"])
    # The whole file's total against the balance: refused as a whole.
    rich = [
        {"e2e": f"B-{n}", "name": "X", "amount": "600.00", "account": staff[0][1]["id"]} for n in range(2)
    ]
    r = _upload(bank, acme, pain001(f"BIG-{uuid.uuid4().hex[:8]}", account["id"], rich))
    assert r.json()["type"] == "urn:tdw:problem:batch-invalid"
    assert "available balance" in r.json()["errors"][0]["problem"]
    # Not the message, not XML, someone else's debtor account.
    for content in (
        b"<Document/>",
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ):
        r = _upload(bank, acme, content)
        assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:batch-invalid"), content
        assert "root:" not in r.text
    stranger = staff[0][1]["id"]
    r = _upload(bank, acme, pain001(f"ST-{uuid.uuid4().hex[:8]}", stranger, lines[:1]))
    assert {(e["line"], e["field"]) for e in r.json()["errors"]} >= {(1, "DbtrAcct")}
    assert bank.balance(acme, account) == before
    assert len(bank.client.get("/v1/batches", headers=acme.headers).json()) == batches_before


def test_a_csv_file_pays_the_same_way_and_others_reach_nothing(
    bank: ApiBank, corporate: dict[str, Any]
) -> None:
    acme, account, staff = corporate["user"], corporate["account"], corporate["staff"]
    rows = [
        "end_to_end_id,name,to_account,to_address,amount,currency,reference",
        f"C-1,Ann,{staff[0][1]['id']},,5.00,USD,Bonus",
        f"C-2,Cai,,{staff[2][1]['address']},6.00,USD,Bonus",
    ]
    content = ("\n".join(rows) + "\n").encode()
    message_id = f"CSV-{uuid.uuid4().hex[:8]}"
    r = _upload(bank, acme, content, format="csv", message_id=message_id, from_account=account["id"])
    assert r.status_code == 201, r.text
    batch = r.json()
    for line in batch["lines"]:
        assert bank.follow(acme, line["transfer_id"])["state"] == "final"
    missing = _upload(bank, acme, content, format="csv")
    assert missing.status_code == 422
    bad = _upload(bank, acme, b"who,what\n1,2\n", format="csv", message_id="x", from_account=account["id"])
    assert bad.json()["type"] == "urn:tdw:problem:batch-invalid"
    other = bank.signup()
    for path in (f"/v1/batches/{batch['id']}", f"/v1/batches/{batch['id']}/pain.002"):
        r = bank.client.get(path, headers=other.headers)
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found"), path
    assert bank.client.get("/v1/batches", headers=other.headers).json() == []
    # A customer cannot pay from another's account by naming it in a CSV upload.
    theirs = _upload(bank, other, content, format="csv", message_id="steal-1", from_account=account["id"])
    assert theirs.json()["type"] == "urn:tdw:problem:batch-invalid"
