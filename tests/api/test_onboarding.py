"""Signing up does not make anyone a KYC-verified holder on chain: a customer's accounts stay
`pending_kyc`, with nothing registered, until they submit their identity and documents and compliance
verifies them."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import datetime
from typing import Any

from tests.support.api_bank import ApiBank, User
from tests.support.kyc import PASSPORT_PDF, identity
from wallet.db.models import KycDocument


def _submit(bank: ApiBank, user: User, data: dict[str, Any]) -> Any:
    """The customer's side over HTTP: identity data, a passport scan, submitted for review."""
    r = bank.client.put("/v1/kyc/profile", json=data, headers=user.headers)
    assert r.status_code == 200, r.text
    up = bank.client.post(
        "/v1/kyc/documents",
        data={"kind": "passport"},
        files={"file": ("passport.pdf", PASSPORT_PDF, "application/pdf")},
        headers=user.headers,
    )
    assert up.status_code == 201, up.text
    submitted = bank.client.post("/v1/kyc/submit", headers=user.headers)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


def _registered(bank: ApiBank, address: str) -> bool:
    verified, blocked, expiry, _ = bank.services.bank.registry.functions.statusOf(address).call()
    return bool(verified or blocked or expiry)


def test_a_new_customers_account_is_pending_kyc_and_nothing_is_on_chain(
    bank: ApiBank, operator: User
) -> None:
    newcomer = bank.signup(verified=False)
    me = bank.client.get("/v1/me", headers=newcomer.headers).json()
    assert me["kyc_status"] == "pending_kyc"
    r = bank.client.post("/v1/accounts", json={"currency": "USD"}, headers=newcomer.headers)
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["status"] == "pending_kyc"
    time.sleep(1.0)  # several blocks: had anything been enqueued, it would have been mined by now
    assert bank.client.get(f"/v1/accounts/{account['id']}", headers=newcomer.headers).json()["status"] == (
        "pending_kyc"
    )
    assert not _registered(bank, account["address"])
    # It can neither be paid by the bank nor pay.
    mint = bank.client.post(
        "/v1/bank/mint",
        json={"currency": "USD", "amount": "1.00", "to_account": account["id"]},
        headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert mint.status_code == 409
    pay = bank.client.post(
        "/v1/transfers",
        json={
            "from_account": account["id"],
            "to_address": bank.services.bank.role_address("burner"),
            "amount": "1.00",
            "currency": "USD",
        },
        headers={**newcomer.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert pay.status_code == 409
    assert "identity verification" in pay.json()["detail"]


def test_compliance_verifies_a_customer_and_their_accounts_register_and_activate(
    bank: ApiBank, compliance: User
) -> None:
    newcomer = bank.signup(verified=False)
    usd = bank.client.post("/v1/accounts", json={"currency": "USD"}, headers=newcomer.headers).json()
    eur = bank.client.post("/v1/accounts", json={"currency": "EUR"}, headers=newcomer.headers).json()
    queue = bank.client.get("/v1/compliance/kyc", headers=compliance.headers)
    assert queue.status_code == 200
    assert {"user_id": newcomer.user_id, "kyc_status": "pending_kyc", "accounts": 2}.items() <= next(
        a for a in queue.json() if a["user_id"] == newcomer.user_id
    ).items()
    early = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}", json={"decision": "verified"}, headers=compliance.headers
    )
    assert early.status_code == 409, early.text
    assert "not submitted" in early.json()["detail"]
    submitted = _submit(bank, newcomer, identity("Hannah Brandt", residence_country="DE"))
    assert submitted["status"] == "in_review"
    assert submitted["risk_rating"] is None  # a customer does not see their rating
    case = bank.client.get(f"/v1/compliance/kyc/{newcomer.user_id}/case", headers=compliance.headers).json()
    assert (case["risk_rating"], case["hits"], case["profile"]["legal_name"]) == ("low", [], "Hannah Brandt")
    (document,) = case["documents"]
    opened = bank.client.get(
        f"/v1/compliance/kyc/{newcomer.user_id}/documents/{document['id']}", headers=compliance.headers
    )
    assert (opened.status_code, opened.content) == (200, PASSPORT_PDF)
    assert document["sha256"] == hashlib.sha256(PASSPORT_PDF).hexdigest()
    # Stored sealed: the bytes are nowhere in the database in the clear.
    with bank.services.bank.readers() as session:
        row = session.get(KycDocument, document["id"])
        assert row is not None
        sealed = bytes(row.sealed)
    assert PASSPORT_PDF not in sealed
    r = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}", json={"decision": "verified"}, headers=compliance.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["kyc_status"] == "verified"
    for account in (usd, eur):
        bank.wait_for_status(newcomer, account, "active")
    assert _registered(bank, usd["address"])
    # On chain until the verification's expiry (a low risk: three years), in Germany (276).
    _, _, expiry, jurisdiction = bank.services.bank.registry.functions.statusOf(usd["address"]).call()
    mine = bank.client.get("/v1/kyc", headers=newcomer.headers).json()
    assert expiry == int(datetime.fromisoformat(mine["expires_at"]).timestamp())
    assert jurisdiction == 276
    assert (
        3 * 365 - 1
        <= (datetime.fromisoformat(mine["expires_at"]) - datetime.fromisoformat(mine["submitted_at"])).days
        <= 3 * 365
    )
    assert newcomer.user_id not in {
        a["user_id"] for a in bank.client.get("/v1/compliance/kyc", headers=compliance.headers).json()
    }
    again = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}",
        json={"decision": "rejected", "reason": "x"},
        headers=compliance.headers,
    )
    assert again.status_code == 409


def test_a_rejected_customer_gets_nothing_on_chain_and_cannot_open_accounts(
    bank: ApiBank, compliance: User
) -> None:
    newcomer = bank.signup(verified=False)
    usd = bank.client.post("/v1/accounts", json={"currency": "USD"}, headers=newcomer.headers).json()
    no_reason = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}", json={"decision": "rejected"}, headers=compliance.headers
    )
    assert no_reason.status_code == 422
    r = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}",
        json={"decision": "rejected", "reason": "document forged"},
        headers=compliance.headers,
    )
    assert r.json()["kyc_status"] == "rejected"
    assert (
        bank.client.get(f"/v1/accounts/{usd['id']}", headers=newcomer.headers).json()["status"]
        == "pending_kyc"
    )
    assert not _registered(bank, usd["address"])
    eur = bank.client.post("/v1/accounts", json={"currency": "EUR"}, headers=newcomer.headers)
    assert eur.status_code == 403


def test_only_compliance_and_operators_decide_and_nobody_verifies_themself(
    bank: ApiBank, customer: User, admin: User
) -> None:
    newcomer = bank.signup(verified=False)
    for user in (newcomer, customer, admin):
        r = bank.client.post(
            f"/v1/compliance/kyc/{newcomer.user_id}", json={"decision": "verified"}, headers=user.headers
        )
        assert r.status_code == 403, user.username
        assert bank.client.get("/v1/compliance/kyc", headers=user.headers).status_code == 403
    assert bank.client.get("/v1/me", headers=newcomer.headers).json()["kyc_status"] == "pending_kyc"
