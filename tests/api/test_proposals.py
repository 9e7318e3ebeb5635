"""Maker-checker over HTTP: every powerful act needs two people holding the role that decides it; the
proposer can never decide their own; each step is idempotent and leaves an audit record."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for

ORDER = b"Court order 2026/117: garnish 100.00 USD"


def _propose(bank: ApiBank, user: User, action: str, params: dict[str, Any], key: str | None = None) -> Any:
    return bank.client.post(
        "/v1/proposals",
        json={"action": action, "params": params, "reason": "test"},
        headers={**user.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def _decide(bank: ApiBank, user: User, proposal_id: str, verb: str, reason: str | None = None) -> Any:
    body = {"reason": reason} if reason else {}
    return bank.client.post(f"/v1/proposals/{proposal_id}/{verb}", json=body, headers=user.headers)


def _carried_out(bank: ApiBank, staff: User, proposal: dict[str, Any]) -> None:
    for op in proposal["operation_ids"]:
        assert bank.settle_operation(staff, op)["state"] == "final"


@pytest.fixture(scope="module")
def second_compliance(bank: ApiBank) -> User:
    return bank.signup("compliance")


def test_a_forced_transfer_needs_two_officers_and_is_in_the_audit_log(
    bank: ApiBank,
    compliance: User,
    second_compliance: User,
    customer: User,
    funded: tuple[User, dict[str, Any]],
) -> None:
    debtor, debtor_account = funded
    creditor_account = bank.open_account(customer)
    params = {
        "currency": "USD",
        "from_address": debtor_account["address"],
        "to_address": creditor_account["address"],
        "amount": "100.00",
        "reason_code": 7,
        "legal_order_reference": "Court order 2026/117",
        "legal_order_sha256": hashlib.sha256(ORDER).hexdigest(),
    }
    r = _propose(bank, compliance, "forced_transfer", params)
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert proposal["state"] == "pending"
    assert proposal["params"]["amount"] == "10000"  # minor units, as stored
    assert proposal["approver_role"] == "compliance"

    own = _decide(bank, compliance, proposal["id"], "approve")
    assert own.status_code == 403
    assert own.json()["type"] == "urn:tdw:problem:self-approval"
    assert _decide(bank, debtor, proposal["id"], "approve").status_code in (403, 404)
    assert bank.balance(debtor, debtor_account) == "5000.00", "nothing moved before the second officer"

    approved = _decide(bank, second_compliance, proposal["id"], "approve")
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert done["state"] == "executed"
    assert done["decided_by"] == second_compliance.username
    assert len(done["operation_ids"]) == 1
    _carried_out(bank, second_compliance, done)
    bank.wait_balance(debtor, debtor_account, "4900.00")
    bank.wait_balance(customer, creditor_account, "100.00")

    again = _decide(bank, second_compliance, proposal["id"], "approve")
    assert again.status_code == 200
    assert again.json()["operation_ids"] == done["operation_ids"], "approving twice carries out once"
    third = bank.signup("compliance")
    closed = _decide(bank, third, proposal["id"], "approve")
    assert closed.status_code == 409
    assert closed.json()["type"] == "urn:tdw:problem:proposal-closed"

    log = bank.client.get(
        "/v1/compliance/audit", params={"subject": f"proposal:{proposal['id']}"}, headers=compliance.headers
    ).json()
    assert [(e["action"], e["actor"]) for e in log] == [
        ("proposal.created", compliance.username),
        ("proposal.approved", second_compliance.username),
    ]
    [op] = done["operation_ids"]
    [executed] = bank.client.get(
        "/v1/compliance/audit", params={"subject": f"operation:{op}"}, headers=compliance.headers
    ).json()
    assert executed["action"] == "operation.forced_transfer"
    assert executed["details"]["legal_order_reference"] == "Court order 2026/117"
    assert executed["details"]["requested_by"] == compliance.username
    assert executed["actor"] == second_compliance.username


def test_a_freeze_stops_payments_until_an_approved_unfreeze(
    bank: ApiBank, compliance: User, second_compliance: User, funded: tuple[User, dict[str, Any]]
) -> None:
    owner, account = funded
    target = bank.open_account(bank.signup("customer"))
    for action, expected in (("freeze", 422), ("unfreeze", 201)):
        proposal = _propose(
            bank, compliance, action, {"currency": "USD", "address": account["address"]}
        ).json()
        approved = _decide(bank, second_compliance, proposal["id"], "approve").json()
        _carried_out(bank, compliance, approved)
        r = bank.client.post(
            "/v1/transfers",
            json={
                "from_account": account["id"],
                "to_account": target["id"],
                "amount": "1.00",
                "currency": "USD",
            },
            headers={**owner.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == expected, r.text
        if expected == 422:
            assert r.json()["type"] == "urn:tdw:problem:account-restricted"


def test_what_the_chain_would_refuse_is_refused_when_proposed(
    bank: ApiBank, compliance: User, funded: tuple[User, dict[str, Any]]
) -> None:
    _, account = funded
    too_much = {
        "currency": "USD",
        "from_address": account["address"],
        "to_address": "0x" + "12" * 20,
        "amount": "1.00",
        "reason_code": 1,
        "legal_order_reference": "x",
        "legal_order_sha256": "ab" * 32,
    }
    r = _propose(bank, compliance, "forced_transfer", too_much)
    assert r.status_code == 422, r.text  # the receiver is not KYC-verified: the token would refuse
    assert r.json()["type"] == "urn:tdw:problem:contract-revert"
    for action, params in (
        ("launch_missiles", {}),
        ("freeze", {"address": "0x12", "currency": "USD"}),
        ("freeze", {"address": account["address"]}),
        ("freeze", {"address": account["address"], "currency": "USD", "extra": 1}),
        ("forced_transfer", {**too_much, "legal_order_sha256": "not-a-hash"}),
    ):
        bad = _propose(bank, compliance, action, params)
        assert bad.status_code == 422, (action, params, bad.text)


def test_proposals_are_idempotent_withdrawable_and_expire(
    bank: ApiBank, compliance: User, second_compliance: User
) -> None:
    params = {"address": "0x" + "34" * 20}
    key = uuid.uuid4().hex
    first = _propose(bank, compliance, "block", params, key)
    repeat = _propose(bank, compliance, "block", params, key)
    assert (first.status_code, repeat.status_code) == (201, 200)
    assert first.json()["id"] == repeat.json()["id"]
    assert _propose(bank, compliance, "unblock", params, key).status_code == 409
    proposal_id = first.json()["id"]
    assert _decide(bank, second_compliance, proposal_id, "withdraw").status_code == 404
    withdrawn = _decide(bank, compliance, proposal_id, "withdraw")
    assert withdrawn.json()["state"] == "withdrawn"
    assert _decide(bank, compliance, proposal_id, "withdraw").status_code == 200
    assert _decide(bank, second_compliance, proposal_id, "approve").status_code == 409

    approvals = bank.services.approvals
    ttl, approvals.ttl = approvals.ttl, timedelta(0)
    try:
        stale = _propose(bank, compliance, "block", params).json()
    finally:
        approvals.ttl = ttl
    late = _decide(bank, second_compliance, stale["id"], "approve")
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]
    assert not bank.services.bank.registry.functions.statusOf(params["address"]).call()[1], "not blocked"


def test_the_queue_shows_each_role_what_it_decides(
    bank: ApiBank, compliance: User, admin: User, operator: User
) -> None:
    blocked = _propose(bank, compliance, "block", {"address": "0x" + "56" * 20}).json()
    pauser = {"role": "pauser", "address": "0x" + "77" * 20, "currency": "EUR"}
    grant = _propose(bank, admin, "grant_role", pauser).json()

    def ids(user: User) -> set[str]:
        r = bank.client.get("/v1/proposals", headers=user.headers)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()}

    assert blocked["id"] in ids(compliance)
    assert grant["id"] not in ids(compliance)
    assert grant["id"] in ids(admin)
    assert blocked["id"] not in ids(operator)
    assert bank.client.get(f"/v1/proposals/{blocked['id']}", headers=operator.headers).status_code == 404
    assert _propose(bank, compliance, "grant_role", pauser).status_code == 403  # not an admin's act
    assert bank.client.get("/v1/proposals", headers=bank.signup("customer").headers).status_code == 403


def test_two_admins_grant_a_role(bank: ApiBank, admin: User) -> None:
    second = bank.signup("admin")
    pauser = "0x" + "78" * 20
    proposal = _propose(bank, admin, "grant_role", {"role": "pauser", "address": pauser, "currency": "EUR"})
    assert proposal.status_code == 201, proposal.text
    approved = _decide(bank, second, proposal.json()["id"], "approve")
    assert approved.status_code == 200, approved.text
    _carried_out(bank, second, approved.json())
    token = bank.services.bank.tokens["EUR"].contract
    role = token.functions.PAUSER_ROLE().call()
    assert token.functions.hasRole(role, bank.services.bank.w3.to_checksum_address(pauser)).call()
    lockout = {"role": "admin", "address": bank.services.bank.role_address("admin")}
    assert _propose(bank, admin, "revoke_role", lockout).status_code == 409


def test_a_large_mint_needs_a_second_operator(
    bank: ApiBank, operator: User, funded: tuple[User, dict[str, Any]]
) -> None:
    owner, account = funded
    large = {"currency": "USD", "amount": "1000000.01", "to_account": account["id"]}
    direct = bank.client.post(
        "/v1/bank/mint", json=large, headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert direct.status_code == 409
    assert direct.json()["type"] == "urn:tdw:problem:approval-required"
    proposal = _propose(bank, operator, "mint", large).json()
    second = bank.signup("operator")
    approved = _decide(bank, second, proposal["id"], "approve").json()
    assert approved["state"] == "executed"
    _carried_out(bank, second, approved)
    bank.wait_balance(owner, account, "1005000.01")


def test_the_database_refuses_a_decision_by_the_proposer(bank: ApiBank, compliance: User) -> None:
    proposal = _propose(bank, compliance, "block", {"address": "0x" + "9a" * 20}).json()
    engine = bank.services.bank.sessions.kw["bind"]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("UPDATE proposals SET decided_by = proposed_by, state = 'executed' WHERE id = :id"),
            {"id": proposal["id"]},
        )
    wait_for(lambda: bank.services.approvals.get(bank._officer(), proposal["id"]).state == "pending")
