"""The transfer policy over HTTP: every transfer is judged before it is signed; a hold reserves the funds
and waits for compliance, where releasing takes two officers; a rejection is refused at the door with
the reasons a customer may read; every decision is in the audit log."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_bank import ApiBank, User
from wallet.compliance.policy import DEFAULT_POLICY

SANCTIONS = Path(__file__).parents[1] / "data" / "sanctions"
SANCTIONED_ADDRESS = "0x7f3a9c2b11d4e5f60718293a4b5c6d7e8f901a2b"  # on the sample SDN list


@pytest.fixture(scope="module", autouse=True)
def lists(bank: ApiBank) -> None:
    bank.services.sanctions.load(SANCTIONS / "sdn.xml", "ofac", actor="test")


@pytest.fixture(scope="module")
def checker(bank: ApiBank) -> User:
    return bank.signup("compliance")


def _transfer(bank: ApiBank, payer: User, body: dict[str, Any], path: str = "/v1/transfers") -> Any:
    return bank.client.post(path, json=body, headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex})


def _payee(bank: ApiBank, user: User, name: str, address: str) -> str:
    r = bank.client.post("/v1/payees", json={"name": name, "address": address}, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _audit(bank: ApiBank, officer: User, subject: str) -> list[str]:
    r = bank.client.get("/v1/compliance/audit", params={"subject": subject}, headers=officer.headers)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()]


def test_a_transfer_to_a_sanctioned_name_is_held_and_released_only_by_a_second_officer(
    bank: ApiBank,
    funded: tuple[User, dict[str, Any]],
    customer: User,
    compliance: User,
    checker: User,
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    payee = _payee(bank, payer, "Ivan Petrovich Sokolov", target["address"])
    body = {"from_account": account["id"], "to_payee": payee, "amount": "100.00", "currency": "USD"}

    check = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers)
    assert check.status_code == 200, check.text
    assert check.json()["outcome"] == "hold"
    assert [r["rule"] for r in check.json()["rules"]] == ["compliance_review"]

    r = _transfer(bank, payer, body)
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["state"] == "held"
    # The customer is told it is under review, not why: no sanctions details.
    assert held["reasons"] == [
        {
            "rule": "compliance_review",
            "outcome": "hold",
            "explanation": "the bank must review this payment",
            "problem": None,
        }
    ]
    assert "sanctions" not in r.text.lower()
    # The held amount is reserved.
    again = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()
    assert again["available"] == "4900.00"

    queue = bank.client.get("/v1/compliance/held-transfers", headers=compliance.headers)
    assert queue.status_code == 200, queue.text
    entry = next(h for h in queue.json() if h["id"] == held["id"])
    assert entry["decision"]["outcome"] == "hold"
    (rule,) = entry["decision"]["rules"]
    assert rule["rule"] == "screening_counterparty"
    (match,) = rule["matches"]
    assert match["sanctions_list"] == "ofac"
    assert match["score"] >= match["threshold"]

    # A customer cannot see the queue; one officer proposes, and cannot approve their own proposal.
    assert bank.client.get("/v1/compliance/held-transfers", headers=payer.headers).status_code == 403
    proposal = _transfer(
        bank,
        compliance,
        {"reason": "false positive: a namesake, checked"},
        f"/v1/compliance/held-transfers/{held['id']}/release",
    )
    assert proposal.status_code == 201, proposal.text
    proposal_id = proposal.json()["id"]
    own = bank.client.post(f"/v1/proposals/{proposal_id}/approve", json={}, headers=compliance.headers)
    assert (own.status_code, own.json()["type"]) == (403, "urn:tdw:problem:self-approval")
    assert bank.client.get(f"/v1/transfers/{held['id']}", headers=payer.headers).json()["state"] == "held"

    approved = bank.client.post(f"/v1/proposals/{proposal_id}/approve", json={}, headers=checker.headers)
    assert approved.status_code == 200, approved.text
    assert bank.follow(payer, held["id"])["state"] == "final"
    bank.wait_balance(customer, target, "100.00")
    actions = _audit(bank, compliance, f"transfer:{held['id']}")
    assert actions == ["policy.held", "screening.hit", "transfer.released"]


def test_a_rejected_hold_fails_and_frees_its_funds(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User, compliance: User
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    payee = _payee(bank, payer, "SOKOLOV, Ivan", target["address"])
    body = {"from_account": account["id"], "to_payee": payee, "amount": "900.00", "currency": "USD"}
    held = _transfer(bank, payer, body).json()
    assert held["state"] == "held"
    refused = _transfer(bank, payer, {**body, "amount": "4100.01"})
    assert (refused.status_code, refused.json()["type"]) == (422, "urn:tdw:problem:insufficient-funds")

    r = bank.client.post(
        f"/v1/compliance/held-transfers/{held['id']}/reject",
        json={"reason": "true match: the SDN entry"},
        headers=compliance.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    shown = bank.client.get(f"/v1/transfers/{held['id']}", headers=payer.headers).json()
    assert shown["state"] == "failed"
    assert shown["error"]["type"] == "urn:tdw:problem:transfer-rejected"
    # Rejecting again is idempotent; releasing a rejected transfer is refused.
    again = bank.client.post(
        f"/v1/compliance/held-transfers/{held['id']}/reject",
        json={"reason": "again"},
        headers=compliance.headers,
    )
    assert again.status_code == 200
    late = _transfer(bank, compliance, {"reason": "x"}, f"/v1/compliance/held-transfers/{held['id']}/release")
    assert late.status_code == 409, late.text
    check = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()
    assert check["available"] == "5000.00"


def test_limits_reject_at_the_door_with_the_reasons(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User, operator: User, compliance: User
) -> None:
    payer, account = funded
    bank.mint(operator, account, "30000.00")
    bank.wait_balance(payer, account, "35000.00")
    target = bank.open_account(customer)
    body = {
        "from_account": account["id"],
        "to_account": target["id"],
        "amount": "10000.01",
        "currency": "USD",
    }
    check = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()
    assert check["outcome"] == "reject"
    assert [r["rule"] for r in check["rules"]] == ["limit_single", "new_payee"]

    r = _transfer(bank, payer, {**body, "totp": payer.code()})
    assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:transfer-rejected")
    assert [rule["rule"] for rule in r.json()["rules"]] == ["limit_single", "new_payee"]
    assert "10000.00 USD" in r.json()["detail"]
    assert bank.client.get("/v1/transfers", headers=payer.headers).json() == []
    assert "policy.rejected" in _audit(bank, compliance, f"user:{payer.user_id}")

    # Exactly at the single limit passes (the dry run needs no TOTP code).
    at_limit = bank.client.post(
        "/v1/transfers/check", json={**body, "amount": "10000.00"}, headers=payer.headers
    )
    assert at_limit.json()["outcome"] in ("allow", "hold"), at_limit.text
    assert "limit_single" not in [x["rule"] for x in at_limit.json()["rules"]]


def test_a_blocked_address_is_refused_whatever_the_name(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    body = {
        "from_account": account["id"],
        "to_address": SANCTIONED_ADDRESS,
        "amount": "1.00",
        "currency": "USD",
    }
    check = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()
    # The chain refuses first here (the address is not a verified holder); both are rejections.
    assert check["outcome"] == "reject"


def test_a_policy_change_takes_two_officers_and_then_decides(
    bank: ApiBank,
    funded: tuple[User, dict[str, Any]],
    customer: User,
    compliance: User,
    checker: User,
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    before = bank.client.get("/v1/compliance/policy", headers=compliance.headers).json()
    document = copy.deepcopy(DEFAULT_POLICY)
    document["tiers"]["standard"]["limits"]["USD"] = {
        "single": "50.00",
        "daily": "100.00",
        "monthly": "1000.00",
    }
    bad = copy.deepcopy(document)
    bad["tiers"]["standard"]["limits"]["USD"]["single"] = "500.00"
    r = _transfer(
        bank,
        compliance,
        {"action": "policy_change", "params": {"document": bad}, "reason": "x"},
        "/v1/proposals",
    )
    assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:invalid-request")
    assert "single <= daily <= monthly" in r.json()["detail"]

    proposal = _transfer(
        bank,
        compliance,
        {"action": "policy_change", "params": {"document": document}, "reason": "tighter"},
        "/v1/proposals",
    )
    assert proposal.status_code == 201, proposal.text
    body = {"from_account": account["id"], "to_account": target["id"], "amount": "60.00", "currency": "USD"}
    assert (
        bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()["outcome"] == "allow"
    )
    approved = bank.client.post(
        f"/v1/proposals/{proposal.json()['id']}/approve", json={}, headers=checker.headers
    )
    assert approved.status_code == 200, approved.text
    try:
        now = bank.client.get("/v1/compliance/policy", headers=compliance.headers).json()
        assert now["version"] == before["version"] + 1
        assert now["proposal_id"] == proposal.json()["id"]
        check = bank.client.post("/v1/transfers/check", json=body, headers=payer.headers).json()
        assert (check["outcome"], check["policy_version"]) == ("reject", now["version"])
        old = bank.client.get(
            "/v1/compliance/policy", params={"version": before["version"]}, headers=compliance.headers
        )
        assert old.json()["document"] == before["document"]
    finally:  # the module's other tests run under the default policy
        restore = _transfer(
            bank,
            compliance,
            {"action": "policy_change", "params": {"document": DEFAULT_POLICY}, "reason": "restore"},
            "/v1/proposals",
        )
        bank.client.post(f"/v1/proposals/{restore.json()['id']}/approve", json={}, headers=checker.headers)
