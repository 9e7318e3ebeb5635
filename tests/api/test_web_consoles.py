"""The staff consoles over HTTP (the journeys in a real Chromium are in tests/test_browser.py): a
compliance officer works an alert's case from the screens to a goAML report and a closed case, inspects
the address with the node's word beside the mirror's and the trace picture, verifies the audit log, and
decides a screening hit; an operator mints from the screens, and an administrator proposes an allowance,
reconciles and resolves an incident; the partner view; and nobody sees a console their role has none of."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from lxml import etree

from tests.support.api_bank import ApiBank, User
from tests.support.kyc import PASSPORT_PDF, identity
from tests.support.waiting import wait_for
from tests.support.web import Browser
from wallet.incidents import open_incident
from wallet.vocabulary import IncidentKind, Severity

SVG = "{http://www.w3.org/2000/svg}svg"
SDN = Path(__file__).parents[1] / "data" / "sanctions" / "sdn.xml"


def _large_transfer(bank: ApiBank, operator: User) -> tuple[User, dict[str, Any], dict[str, Any]]:
    alice, bob = bank.signup(tier="premium", full_name="Alice Example"), bank.signup()
    a, b = bank.open_account(alice), bank.open_account(bob)
    bank.mint(operator, a, "15000.00")
    bank.wait_balance(alice, a, "15000.00")
    bank.follow(alice, bank.pay(alice, a, b, "2.00"))  # bob is a known payee: the large one is not held
    r = bank.client.post(
        "/v1/transfers",
        json={
            "from_account": a["id"],
            "to_account": b["id"],
            "amount": "12000.00",
            "currency": "USD",
            "totp": alice.code(),
        },
        headers={**alice.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    bank.follow(alice, r.json()["id"])
    return alice, a, b


def test_an_officer_works_a_case_from_the_screens(bank: ApiBank, operator: User) -> None:
    officer, second = bank.signup("compliance"), bank.signup("compliance")
    _, a, _ = _large_transfer(bank, operator)
    screens = Browser(bank)
    assert screens.sign_in(officer).status_code == 303

    def alerted() -> str | None:
        page = screens.client.get("/app/alerts", params={"subject": a["address"]})
        found = re.search(r'href="/app/cases/([0-9a-f]{32})"', page.text)
        return found.group(1) if found else None

    case_id = wait_for(alerted)
    queue = screens.client.get("/app/cases")
    assert f'data-case="{case_id}"' in queue.text
    path = f"/app/cases/{case_id}"
    for action, data in (
        ("assign", {}),
        ("state", {"state": "investigating", "reason": "looking at the funds"}),
        ("notes", {"text": "source of funds asked from the customer"}),
        ("snapshot", {"currency": "USD"}),
    ):
        r = screens.form(f"{path}/{action}", data)
        assert r.status_code == 303, (action, r.text)
    evidence = screens.form(
        f"{path}/evidence",
        {"description": "the customer's letter"},
        files={"file": ("letter.txt", b"funds from the sale of a flat", "text/plain")},
    )
    assert evidence.status_code == 303, evidence.text
    page = screens.client.get(path)
    assert 'data-case-state="investigating"' in page.text
    assert officer.username in page.text
    assert "source of funds asked from the customer" in page.text
    pictures = re.findall(rf'href="({path}/evidence/\d+)">[^<]*\.svg<', page.text)
    assert pictures, "the snapshot files a trace picture"
    assert etree.fromstring(screens.client.get(pictures[0]).content).tag == SVG
    # A freeze proposed from the case waits for a second officer, who is not the proposer.
    r = screens.form(
        f"{path}/proposals",
        {"key": screens.key(path), "action": "freeze", "currency": "USD", "reason": "STR filed"},
    )
    assert r.status_code == 303, r.text
    pending = bank.client.get("/v1/proposals", headers=second.headers).json()
    assert [p["params"]["address"] for p in pending if p["params"].get("address") == a["address"]]
    # The goAML report downloads as XML and is filed in the case.
    report = screens.form(f"{path}/goaml")
    assert report.status_code == 200
    assert etree.fromstring(report.content).findtext("report_code") == "STR"
    # A bad disposition is refused and changes nothing; a good one closes the case.
    bad = screens.form(f"{path}/close", {"disposition": "forgotten", "reason": "x"})
    assert bad.status_code == 422
    assert "the disposition is one of" in bad.text
    assert (
        screens.form(f"{path}/close", {"disposition": "reported", "reason": "STR filed"}).status_code == 303
    )
    file = bank.client.get(f"/v1/compliance/cases/{case_id}", headers=officer.headers).json()
    assert (file["case"]["state"], file["case"]["disposition"]) == ("closed", "reported")
    assert {"note", "evidence", "report"} <= {i["kind"] for i in file["items"]}
    # In Chinese too, every page of the console.
    assert screens.form("/app/language", {"language": "zh-Hans"}).status_code == 303
    for chinese in (
        "/app",
        "/app/alerts",
        "/app/cases",
        path,
        f"/app/inspect?address={a['address']}",
        "/app/audit?verify=true",
        "/app/hits",
        "/app/kyc",
        "/app/held",
        "/app/operations",
        "/app/partners",
    ):
        r = screens.client.get(chinese)
        assert (r.status_code, '<html lang="zh-Hans">' in r.text) == (200, True), chinese
    # The customer sees none of it.
    customer = Browser(bank)
    assert customer.sign_in(bank.signup()).status_code == 303
    for closed in ("/app/alerts", "/app/cases", path, "/app/inspect", "/app/audit", "/app/hits"):
        assert customer.client.get(closed).status_code == 403, closed


def test_the_inspector_shows_the_node_agreeing_the_timeline_and_the_trace(
    bank: ApiBank, operator: User
) -> None:
    officer = bank.signup("compliance")
    _, a, b = _large_transfer(bank, operator)
    screens = Browser(bank)
    assert screens.sign_in(officer).status_code == 303
    page = screens.client.get("/app/inspect", params={"address": a["address"], "currency": "USD"})
    assert page.status_code == 200, page.text
    assert 'data-verified="yes"' in page.text
    assert 'data-balance="USD"' in page.text
    assert 'data-source="chain"' in page.text  # the timeline holds the mint and the transfer
    picture = re.search(r'<img class="trace" src="([^"]+)"', page.text)
    assert picture, "a trace picture of the funds that left"
    svg = screens.client.get(picture.group(1).replace("&amp;", "&"))
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b["address"][:10].lower() in svg.text.lower()
    assert etree.fromstring(svg.content).tag == SVG
    # At block 1 nothing was there, and the node says the same; or, when the node keeps no state that
    # old (anvil after thousands of blocks), the page says so and claims nothing.
    early = screens.client.get("/app/inspect", params={"address": a["address"], "block": "1"})
    assert early.status_code == 200, early.text
    assert 'data-verified="yes"' in early.text or 'data-verified="unknown"' in early.text
    wrong = screens.client.get("/app/inspect", params={"address": "0x12", "block": "x"})
    assert wrong.status_code == 400
    assert "a block is a whole number" in wrong.text


def test_the_audit_log_verifies_and_a_hit_is_decided_from_the_screens(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    officer = bank.signup("compliance")
    target = bank.open_account(bank.signup())
    bank.services.sanctions.load(SDN, "ofac", actor="test")
    payee = bank.client.post(
        "/v1/payees",
        json={"name": "Ivan Petrovich Sokolov", "address": target["address"]},
        headers=payer.headers,
    ).json()
    held = bank.client.post(
        "/v1/transfers",
        json={"from_account": account["id"], "to_payee": payee["id"], "amount": "1.00", "currency": "USD"},
        headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    assert held["state"] == "held", held
    screens = Browser(bank)
    assert screens.sign_in(officer).status_code == 303
    audit = screens.client.get("/app/audit", params={"verify": "true"})
    assert 'data-verification="ok"' in audit.text
    assert re.search(r'data-seq="\d+"', audit.text)
    hits = screens.client.get("/app/hits")
    found = re.search(r'data-hit="(\d+)"', hits.text)
    assert found, "the payee's name is on a sanctions list"
    hit_id = found.group(1)
    assert "Sokolov" in hits.text
    assert (
        screens.form(f"/app/hits/{hit_id}", {"decision": "cleared", "reason": "other person"}).status_code
        == 303
    )
    cleared = screens.client.get("/app/hits", params={"state": "cleared"})
    assert f'data-hit="{hit_id}"' in cleared.text
    assert f'data-hit="{hit_id}"' not in screens.client.get("/app/hits").text
    # The decision is in the audit log the screen shows.
    assert "screening" in screens.client.get("/app/audit").text


def test_an_operator_mints_proposes_an_allowance_reconciles_and_resolves_an_incident(
    bank: ApiBank, operator: User, admin: User, customer: User
) -> None:
    account = bank.open_account(customer)
    screens = Browser(bank)
    assert screens.sign_in(operator).status_code == 303
    page = screens.client.get("/app/operations")
    assert page.status_code == 200, page.text
    for card in ("mirror", "outbox", "transfers", "incidents", "webhooks"):
        assert f'data-health="{card}"' in page.text
    assert 'data-minter="USD"' in page.text
    key = screens.key("/app/operations")
    form = {"key": key, "currency": "USD", "amount": "250.00", "to_account": account["id"]}
    assert screens.form("/app/operations/mint", form).status_code == 303
    assert screens.form("/app/operations/mint", form).status_code == 303  # the same key: one mint
    bank.wait_balance(customer, account, "250.00")
    # A bad amount is refused in words and nothing is minted.
    bad = screens.form("/app/operations/mint", form | {"key": uuid.uuid4().hex, "amount": "1.001"})
    assert bad.status_code == 400
    assert bank.balance(customer, account) == "250.00"
    # An allowance change is a proposal for an administrator.
    minter = bank.services.bank.role_address("minter")
    administrator = Browser(bank)
    assert administrator.sign_in(admin).status_code == 303
    r = administrator.form(
        "/app/operations-proposals",
        {
            "key": uuid.uuid4().hex,
            "action": "set_allowance",
            "currency": "USD",
            "address": minter,
            "amount": "5000000.00",
            "reason": "quarter-end deposits",
        },
    )
    assert r.status_code == 303, r.text
    queue = bank.client.get("/v1/proposals", headers=admin.headers).json()  # for another administrator
    assert any(p["action"] == "set_allowance" and p["params"]["minter"] == minter for p in queue)
    # Reconcile now, and resolve an incident.
    assert screens.form("/app/reconciliation").status_code == 303
    assert "data-reconciliation=" in screens.client.get("/app/operations").text
    with bank.services.bank.sessions.begin() as session:
        incident = open_incident(
            session, IncidentKind.FEE_CAP, Severity.WARNING, "fees above the cap for 3 blocks", {}
        )
        session.flush()
        incident_id = incident.id
    assert f'data-incident="{incident_id}"' in screens.client.get("/app/operations").text
    r = screens.form(f"/app/incidents/{incident_id}/resolve", {"resolution": "fees came down"})
    assert r.status_code == 303
    resolved = bank.client.get("/v1/operations/incidents", headers=operator.headers).json()
    assert next(i for i in resolved if i["id"] == incident_id)["resolution"] == "fees came down"
    # The partner view: partners, positions and payments (none here), for staff only.
    partners = screens.client.get("/app/partners")
    assert partners.status_code == 200, partners.text
    assert screens.form("/app/language", {"language": "zh-Hans"}).status_code == 303
    for chinese in ("/app", "/app/operations", "/app/partners", "/app/kyc"):
        r = screens.client.get(chinese)
        assert (r.status_code, '<html lang="zh-Hans">' in r.text) == (200, True), chinese
    customer_screens = Browser(bank)
    assert customer_screens.sign_in(customer).status_code == 303
    for closed in ("/app/operations", "/app/partners"):
        assert customer_screens.client.get(closed).status_code == 403, closed


def test_an_officer_opens_a_kyc_case_and_its_document_and_the_reading_is_audited(bank: ApiBank) -> None:
    newcomer = bank.signup(verified=False)
    assert bank.client.put(
        "/v1/kyc/profile", json=identity("Nora Newcomer"), headers=newcomer.headers
    ).is_success
    up = bank.client.post(
        "/v1/kyc/documents",
        data={"kind": "passport"},
        files={"file": ("p.pdf", PASSPORT_PDF, "application/pdf")},
        headers=newcomer.headers,
    )
    assert up.status_code == 201, up.text
    assert bank.client.post("/v1/kyc/submit", headers=newcomer.headers).is_success
    officer = bank.signup("compliance")
    screens = Browser(bank)
    assert screens.sign_in(officer).status_code == 303
    assert f'href="/app/kyc/{newcomer.user_id}"' in screens.client.get("/app/kyc").text
    case = screens.client.get(f"/app/kyc/{newcomer.user_id}")
    assert case.status_code == 200, case.text
    assert "Nora Newcomer" in case.text
    link = re.search(rf'href="(/app/kyc/{newcomer.user_id}/documents/[^"]+)"', case.text)
    assert link
    opened = screens.client.get(link.group(1))
    assert (opened.status_code, opened.content) == (200, PASSPORT_PDF)
    audit = bank.client.get(
        "/v1/compliance/audit",
        params={"action": "kyc.document_read", "subject": f"user:{newcomer.user_id}"},
        headers=officer.headers,
    ).json()
    assert [e["actor"] for e in audit] == [officer.username]
    # An operator decides KYC but does not open documents (compliance's alone).
    operator = Browser(bank)
    assert operator.sign_in(bank.signup("operator")).status_code == 303
    assert operator.client.get(f"/app/kyc/{newcomer.user_id}").status_code == 200
    assert operator.client.get(link.group(1)).status_code == 403
