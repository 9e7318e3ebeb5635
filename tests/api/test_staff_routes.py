"""Broken object- and function-level authorization, route by route: every route under /v1/compliance,
/v1/bank, /v1/proposals, /v1/operations and /v1/admin is called by a customer (and the compliance-only
ones by an operator and an admin too) with real ids and a body that validates, so that the refusal
comes from the wallet's decision and not from the request's form. The routes are read from the app:
a new staff route is in this test without anyone adding it (and fails it until it has a body here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_bank import ApiBank, User
from tests.support.kyc import PASSPORT_PDF, identity
from wallet.bank.users import Principal
from wallet.db.models import Alert
from wallet.vocabulary import AlertSeverity, Role, Typology

STAFF_PREFIXES = ("/v1/compliance", "/v1/bank/", "/v1/proposals", "/v1/operations", "/v1/admin")
PUBLIC = {("GET", "/v1/bank")}  # the bank's name and tokens: every signed-in user reads them
COMPLIANCE_ONLY = (
    "/v1/compliance/held-transfers",
    "/v1/compliance/screening",
    "/v1/compliance/kyc/{user_id}/documents",
    "/v1/compliance/alerts",
    "/v1/compliance/cases",
    "/v1/compliance/addresses",
    "/v1/compliance/tokens",
    "/v1/compliance/trace",
    "/v1/compliance/timeline",
    "/v1/compliance/reports",
    "/v1/compliance/transfers",
)
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/compliance/trace"): {"start": "0x" + "11" * 20, "currency": "USD"},
    ("GET", "/v1/compliance/reports/large-transactions"): {"day": "2026-01-01"},
}


@pytest.fixture(scope="module")
def ids(bank: ApiBank, operator: User, compliance: User) -> dict[str, str]:
    """Real objects for every path parameter: a submitted customer with a document and a screening hit,
    a held transfer, a proposal, a bank operation."""
    bank.services.sanctions.load(
        Path(__file__).parents[1] / "data" / "sanctions" / "sdn.xml", "ofac", actor="test"
    )
    payer = bank.signup()
    account = bank.open_account(payer)
    minted = bank.mint(operator, account, "100.00")
    bank.wait_balance(payer, account, "100.00")
    target = bank.open_account(bank.signup())
    payee = bank.client.post(
        "/v1/payees",
        json={"name": "Ivan Petrovich Sokolov", "address": target["address"]},
        headers=payer.headers,
    )
    held = bank.client.post(
        "/v1/transfers",
        json={
            "from_account": account["id"],
            "to_payee": payee.json()["id"],
            "amount": "1.00",
            "currency": "USD",
        },
        headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    assert held["state"] == "held", held
    newcomer = bank.signup(verified=False)
    bank.client.put("/v1/kyc/profile", json=identity("Nora Newcomer"), headers=newcomer.headers)
    document = bank.client.post(
        "/v1/kyc/documents",
        data={"kind": "passport"},
        files={"file": ("p.pdf", PASSPORT_PDF, "application/pdf")},
        headers=newcomer.headers,
    ).json()
    hit = bank.client.get("/v1/compliance/screening/hits", headers=compliance.headers).json()[0]
    proposal = bank.client.post(
        "/v1/proposals",
        json={
            "action": "freeze",
            "params": {"address": account["address"], "currency": "USD"},
            "reason": "x",
        },
        headers={**compliance.headers, "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    incidents = bank.client.get("/v1/operations/incidents", headers=operator.headers).json()
    # A case, as the monitor files one, with a piece of evidence.
    officer = Principal(compliance.user_id, compliance.username, Role.COMPLIANCE)
    with bank.services.bank.sessions.begin() as session:
        alert = Alert(
            key=f"large_transfer:x:{account['address']}:{uuid.uuid4().hex}",
            typology=Typology.LARGE,
            severity=AlertSeverity.MEDIUM,
            subject=account["address"],
            user_id=payer.user_id,
            token=account["token"],
            currency="USD",
            block_number=1,
            occurred_at=datetime.now(UTC),
            explanation="test",
            figures={},
            movements=[],
        )
        session.add(alert)
        session.flush()
        case_id = bank.services.cases.file(session, alert).id
    item = bank.services.cases.attach(
        officer, case_id, filename="n.txt", content_type="text/plain", content=b"x", description="x"
    )
    return {
        "user_id": newcomer.user_id,
        "document_id": document["id"],
        "hit_id": str(hit["id"]),
        "transfer_id": held["id"],
        "proposal_id": proposal["id"],
        "operation_id": minted["id"],
        "currency": "USD",
        "incident_id": str(incidents[0]["id"]) if incidents else "1",
        "case_id": case_id,
        "item_id": str(item.id),
        "address": account["address"],
        "subject": account["address"],
    }


BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/compliance/kyc/{user_id}"): {"decision": "verified"},
    ("POST", "/v1/compliance/screening/hits/{hit_id}"): {"decision": "cleared", "reason": "mine"},
    ("POST", "/v1/compliance/screening"): {"name": "Ivan Sokolov"},
    ("POST", "/v1/compliance/held-transfers/{transfer_id}/release"): {"reason": "let it go"},
    ("POST", "/v1/compliance/held-transfers/{transfer_id}/reject"): {"reason": "no"},
    ("POST", "/v1/bank/mint"): {"currency": "USD", "amount": "1.00", "to_address": "0x" + "11" * 20},
    ("POST", "/v1/bank/burn"): {"currency": "USD", "amount": "1.00"},
    ("POST", "/v1/bank/points-rules"): {"name": "Coffee", "category": "cafes", "points_per_unit": 10},
    ("POST", "/v1/bank/merchant-categories"): {"address": "0x" + "11" * 20, "category": "dining"},
    ("POST", "/v1/bank/billers"): {
        "account_id": "someone",
        "name": "Power Co",
        "category": "utilities",
        "reference_pattern": "[0-9]{8}",
        "reference_hint": "eight digits",
    },
    ("POST", "/v1/bank/partners"): {
        "id": "someone",
        "name": "Some Bank",
        "bic": "SOMEHKHH",
        "key_id": "someone-1",
        "public_key": "A" * 43 + "=",
        "base_url": "https://partner.example",
        "treasury": "0x" + "22" * 20,
    },
    ("POST", "/v1/proposals"): {
        "action": "freeze",
        "params": {"address": "0x" + "11" * 20, "currency": "USD"},
        "reason": "x",
    },
    ("POST", "/v1/proposals/{proposal_id}/approve"): {},
    ("POST", "/v1/proposals/{proposal_id}/reject"): {"reason": "no"},
    ("POST", "/v1/proposals/{proposal_id}/withdraw"): {},
    ("POST", "/v1/operations/incidents/{incident_id}/resolve"): {"resolution": "fixed"},
    ("POST", "/v1/operations/reconciliation"): {},
    ("POST", "/v1/admin/users"): {
        "username": "mallory-x",
        "password": "correct horse battery",
        "role": "admin",
    },
    ("PATCH", "/v1/admin/users/{user_id}"): {"role": "admin"},
    ("POST", "/v1/compliance/cases/{case_id}/assign"): {"assignee": "nobody"},
    ("POST", "/v1/compliance/cases/{case_id}/state"): {"state": "investigating", "reason": "x"},
    ("POST", "/v1/compliance/cases/{case_id}/notes"): {"text": "x"},
    ("POST", "/v1/compliance/cases/{case_id}/close"): {"disposition": "false_positive", "reason": "x"},
    ("POST", "/v1/compliance/cases/{case_id}/proposals"): {"action": "block", "reason": "x"},
    ("POST", "/v1/compliance/cases/{case_id}/snapshot"): {},
    ("POST", "/v1/compliance/cases/{case_id}/reports/goaml"): {},
}
FILES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/compliance/cases/{case_id}/evidence"): {"file": ("n.txt", b"x", "text/plain")},
}


def _staff_routes(bank: ApiBank) -> list[tuple[str, str]]:
    """Every operation of the API under the staff prefixes, from its OpenAPI document."""
    paths = bank.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(STAFF_PREFIXES)
        for method in operations
        if (method.upper(), path) not in PUBLIC
    ]


def _call(bank: ApiBank, user: User, method: str, path: str, ids: dict[str, str]) -> Any:
    url = path.format(**ids)
    body = BODIES.get((method, path))
    files = FILES.get((method, path))
    if method in ("POST", "PATCH", "PUT") and body is None and files is None:
        pytest.fail(f"{method} {path}: add a valid body to BODIES")
    headers = {**user.headers, "Idempotency-Key": uuid.uuid4().hex}
    params = QUERIES.get((method, path))
    if files is not None:
        return bank.client.request(method, url, files=files, params=params, headers=headers)
    return bank.client.request(method, url, json=body, params=params, headers=headers)


def test_a_customer_is_refused_on_every_staff_route(bank: ApiBank, ids: dict[str, str]) -> None:
    customer = bank.signup()
    routes = _staff_routes(bank)
    assert len(routes) >= 30, routes
    for method, path in routes:
        r = _call(bank, customer, method, path, ids)
        assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} {r.text}"
        assert r.json()["type"] in ("urn:tdw:problem:permission-denied", "urn:tdw:problem:not-found"), path


def test_operators_and_admins_are_refused_on_compliance_only_routes(
    bank: ApiBank, ids: dict[str, str], operator: User, admin: User
) -> None:
    routes = [(m, p) for m, p in _staff_routes(bank) if p.startswith(COMPLIANCE_ONLY)]
    assert len(routes) >= 25, routes
    for user in (operator, admin):
        for method, path in routes:
            r = _call(bank, user, method, path, ids)
            assert r.status_code in (403, 404), f"{user.username} {method} {path}: {r.status_code} {r.text}"
    # Nothing was decided by anyone refused: the transfer is still held.
    held = bank.client.get(f"/v1/transfers/{ids['transfer_id']}", headers=admin.headers)
    assert held.json()["state"] == "held"


def test_a_customer_cannot_use_another_customers_account_in_a_dry_run_or_read_their_case(
    bank: ApiBank, ids: dict[str, str]
) -> None:
    """The customer-side routes of this issue: the dry run takes only the caller's own account (another's
    is not found, as with a transfer), and /v1/kyc is the caller's own case only."""
    owner, other = bank.signup(), bank.signup()
    account = bank.open_account(owner)
    body = {
        "from_account": account["id"],
        "to_address": "0x" + "11" * 20,
        "amount": "1.00",
        "currency": "USD",
    }
    probe = bank.client.post("/v1/transfers/check", json=body, headers=other.headers)
    assert (probe.status_code, probe.json()["type"]) == (404, "urn:tdw:problem:not-found")
    mine = bank.client.get("/v1/kyc", headers=other.headers).json()
    assert mine["user_id"] == other.user_id
    assert ids["user_id"] not in bank.client.get("/v1/kyc", headers=other.headers).text
