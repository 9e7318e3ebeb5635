"""The audit log over HTTP: what compliance officers and admins read and verify; nobody else may."""

from __future__ import annotations

from tests.support.api_bank import ApiBank, User
from tests.support.kyc import submit_case


def test_a_kyc_decision_and_a_mint_are_in_the_log_and_it_verifies(
    bank: ApiBank, compliance: User, operator: User
) -> None:
    newcomer = bank.signup(verified=False)
    submit_case(bank.services, newcomer.user_id)
    r = bank.client.post(
        f"/v1/compliance/kyc/{newcomer.user_id}",
        json={"decision": "verified"},
        headers=compliance.headers,
    )
    assert r.status_code == 200, r.text
    account = bank.open_account(newcomer)
    bank.mint(operator, account, "12.34")
    log = bank.client.get(
        "/v1/compliance/audit", params={"subject": f"user:{newcomer.user_id}"}, headers=compliance.headers
    )
    assert log.status_code == 200, log.text
    [submitted, decision] = log.json()
    assert submitted["action"] == "kyc.submitted"
    assert decision["action"] == "kyc.verified"
    assert decision["actor"] == compliance.username
    assert decision["details"]["customer"] == newcomer.username
    mints = bank.client.get(
        "/v1/compliance/audit", params={"action": "operation.mint", "limit": 1000}, headers=compliance.headers
    ).json()
    assert any(m["details"]["amount"] == "1234" and m["actor"] == operator.username for m in mints)
    verification = bank.client.get("/v1/compliance/audit/verification", headers=compliance.headers)
    assert verification.status_code == 200, verification.text
    body = verification.json()
    assert body["ok"] is True
    assert body["anchors_checked"] is True
    assert body["records"] >= 2


def test_customers_and_operators_cannot_read_the_log(bank: ApiBank, customer: User, operator: User) -> None:
    for user in (customer, operator):
        for path in ("/v1/compliance/audit", "/v1/compliance/audit/verification"):
            r = bank.client.get(path, headers=user.headers)
            assert r.status_code == 403, (user.username, path, r.text)
            assert r.json()["type"] == "urn:tdw:problem:permission-denied"
