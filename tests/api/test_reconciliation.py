"""Reconciliation covers transfers, bank operations and nonces, not only balances: a database that
claims a transfer the chain never made, a mint of another amount, or a nonce no transaction will use
is found, raised as a critical incident, shown by `/readyz` and the operator route, and cleared by the
next clean run. Balances alone agree in every one of these cases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.support.api_bank import ApiBank, User
from wallet.db.models import BankOperation, RelayerNonce, TransferRequest
from wallet.ledger.reconcile import reconcile


def _pay(bank: ApiBank, payer: User, source: dict[str, Any], target: dict[str, Any], amount: str) -> str:
    transfer_id = bank.pay(payer, source, target, amount)
    assert bank.follow(payer, transfer_id)["state"] == "final"
    return transfer_id


def _run(bank: ApiBank, staff: User) -> dict[str, Any]:
    r = bank.client.post("/v1/operations/reconciliation", headers=staff.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _settled(bank: ApiBank) -> None:
    """Waits until the newest transaction is past the confirmation depth (what the worker checks)."""
    w3 = bank.services.bank.w3
    for _ in range(bank.services.bank.config.confirmations + 1):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_clean_bank_reconciles_and_staff_see_the_result(
    bank: ApiBank, operator: User, compliance: User, customer: User, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, source = funded
    target = bank.open_account(customer)
    _pay(bank, payer, source, target, "1.25")
    _settled(bank)
    result = _run(bank, operator)
    assert result["ok"] is True, result["differences"]
    assert result["differences"] == []
    assert result["difference_count"] == 0
    checked = result["checked"]
    assert checked["transfers"] >= 1
    assert checked["operations"] >= 1
    assert checked["transactions"] >= 2
    assert checked["senders"] == 5
    assert checked["balances"] >= 3

    seen = bank.client.get("/v1/operations/reconciliation", headers=compliance.headers)
    assert seen.status_code == 200
    assert seen.json()["id"] == result["id"]
    ready = bank.client.get("/readyz").json()
    assert ready["reconciliation"]["id"] >= result["id"]
    assert not any(p.startswith("reconciliation") for p in ready["problems"])
    # Customers see none of it, and compliance cannot start one.
    assert bank.client.get("/v1/operations/reconciliation", headers=customer.headers).status_code == 403
    assert bank.client.post("/v1/operations/reconciliation", headers=compliance.headers).status_code == 403


def test_transfers_operations_and_nonces_the_chain_does_not_support_are_differences(
    bank: ApiBank, operator: User, customer: User, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, source = funded
    target = bank.open_account(customer)
    paid = _pay(bank, payer, source, target, "2.00")
    claimed = _pay(bank, payer, source, target, "3.00")
    _settled(bank)
    services = bank.services
    sessions = services.bank.sessions
    burner = services.bank.role_signers["burner"].address
    with sessions() as session:
        mint = session.scalars(
            select(BankOperation)
            .where(BankOperation.kind == "mint")
            .order_by(BankOperation.created_at.desc())
        ).first()
        assert mint is not None
        assert mint.amount is not None
        tampered_nonce = session.get(RelayerNonce, (services.bank.chain_id, burner)).next_nonce + 2  # type: ignore[union-attr]
    real_payee, real_amount = target["address"], mint.amount
    bogus_hash = "0x" + "ab" * 32
    try:
        with sessions.begin() as session:
            # The database says the first transfer paid someone else, the second was executed by a
            # transaction the chain never saw, the mint minted ten times as much, and two nonces of
            # the burner were handed out with no transaction to use them.
            session.execute(
                update(TransferRequest).where(TransferRequest.id == paid).values(payee="0x" + "77" * 20)
            )
            session.execute(
                update(TransferRequest)
                .where(TransferRequest.id == claimed)
                .values(executed_tx_hash=bogus_hash, executed_block=services.bank.w3.eth.block_number - 3)
            )
            session.execute(
                update(BankOperation).where(BankOperation.id == mint.id).values(amount=real_amount * 10)
            )
            session.execute(
                update(RelayerNonce).where(RelayerNonce.address == burner).values(next_nonce=tampered_nonce)
            )
        # What the old reconciliation compared, the balances, still agrees.
        head = services.bank.w3.eth.block_number
        tokens = [t.address for t in services.bank.tokens.values()]
        assert (
            reconcile(sessions, services.bank.w3, tokens, min(head, services.bank.mirror_block() or 0)) == []
        )

        result = _run(bank, operator)
        assert result["ok"] is False
        found = {(d["kind"], d["subject"]): d for d in result["differences"]}
        assert "no Transfer of 200" in found[("transfer", paid)]["chain"]
        assert found[("transfer", claimed)]["chain"] == "no such transaction"
        assert found[("operation", mint.id)]["chain"] == "no such log"
        assert "no transaction for nonce" in found[("nonce", burner)]["database"]
        assert len(found) == 4
        assert result["difference_count"] == 4
        # A critical incident, and the process says it is not ready.
        incident_id = result["incident_id"]
        assert incident_id is not None
        incidents = bank.client.get(
            "/v1/operations/incidents", params={"open": "true"}, headers=operator.headers
        ).json()
        incident = next(i for i in incidents if i["id"] == incident_id)
        assert (incident["kind"], incident["severity"]) == ("reconciliation", "critical")
        ready = bank.client.get("/readyz")
        assert ready.status_code == 503
        assert any(
            p.startswith(f"reconciliation {result['id']} found 4 differences")
            for p in ready.json()["problems"]
        )
    finally:
        with sessions.begin() as session:
            session.execute(
                update(TransferRequest).where(TransferRequest.id == paid).values(payee=real_payee)
            )
            session.execute(
                update(TransferRequest)
                .where(TransferRequest.id == claimed)
                .values(executed_tx_hash=None, executed_block=None)
            )
            session.execute(
                update(BankOperation).where(BankOperation.id == mint.id).values(amount=real_amount)
            )
            session.execute(
                update(RelayerNonce)
                .where(RelayerNonce.address == burner, RelayerNonce.next_nonce == tampered_nonce)
                .values(next_nonce=tampered_nonce - 2)
            )
    # Put right, the next run is clean and resolves the incident.
    again = _run(bank, operator)
    assert again["ok"] is True, again["differences"]
    assert again["incident_id"] is None
    resolved = bank.client.get("/v1/operations/incidents", headers=operator.headers).json()
    assert next(i for i in resolved if i["id"] == incident_id)["resolved_by"] == "reconciliation"
    assert not any(p.startswith("reconciliation") for p in bank.client.get("/readyz").json()["problems"])
