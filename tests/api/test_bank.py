import uuid
from typing import Any

from tests.support.api_bank import ApiBank, User


def _post(bank: ApiBank, user: User, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    return bank.client.post(
        path, json=body, headers={**user.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )


def test_the_operator_mints_within_the_allowance_and_sees_it_shrink(
    bank: ApiBank, operator: User, customer: User
) -> None:
    account = bank.open_account(customer)
    before = bank.client.get("/v1/bank/minters/USD", headers=operator.headers).json()
    r = _post(
        bank, operator, "/v1/bank/mint", {"currency": "USD", "amount": "250.00", "to_account": account["id"]}
    )
    assert r.status_code == 202
    assert r.json()["kind"] == "mint"
    assert r.json()["amount"] == "250.00"
    assert r.json()["target"] == account["address"]
    assert bank.settle_operation(operator, r.json()["id"])["state"] == "final"
    bank.wait_balance(customer, account, "250.00")
    after = bank.client.get("/v1/bank/minters/USD", headers=operator.headers).json()
    assert int(before["allowance"].replace(".", "")) - int(after["allowance"].replace(".", "")) == 25_000
    assert (
        int(after["total_supply"].replace(".", "")) - int(before["total_supply"].replace(".", "")) == 25_000
    )


def test_a_mint_above_the_allowance_is_refused_with_the_contracts_error(
    bank: ApiBank, operator: User, customer: User
) -> None:
    account = bank.open_account(customer)
    # Above the approval threshold too, so it is proposed; the chain's refusal comes at the proposal.
    r = _post(
        bank,
        operator,
        "/v1/proposals",
        {
            "action": "mint",
            "params": {"currency": "USD", "amount": "99999999999.00", "to_account": account["id"]},
            "reason": "deposit",
        },
    )
    assert r.status_code == 422
    assert r.json()["type"] == "urn:tdw:problem:contract-revert"
    assert r.json()["error_name"] == "DepositTokenMinterAllowanceExceeded"
    assert r.json()["error_args"]["needed"] == "9999999999900"
    assert (
        bank.client.get("/v1/bank/operations", headers=operator.headers).json()[0]["amount"]
        != "99999999999.00"
    )


def test_mints_are_idempotent(bank: ApiBank, operator: User, customer: User) -> None:
    account = bank.open_account(customer)
    body = {"currency": "USD", "amount": "7.00", "to_account": account["id"]}
    first = _post(bank, operator, "/v1/bank/mint", body, key="deposit-42")
    again = _post(bank, operator, "/v1/bank/mint", body, key="deposit-42")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (
        _post(bank, operator, "/v1/bank/mint", {**body, "amount": "8.00"}, key="deposit-42").status_code
        == 409
    )
    bank.settle_operation(operator, first.json()["id"])
    bank.wait_balance(customer, account, "7.00")


def test_redemption_customer_pays_the_bank_and_the_operator_burns(
    bank: ApiBank, operator: User, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    info = bank.client.get("/v1/bank/minters/USD", headers=operator.headers).json()
    sent = _post(
        bank,
        payer,
        "/v1/transfers",
        {
            "from_account": account["id"],
            "to_address": info["redemption_address"],
            "amount": "100.00",
            "currency": "USD",
        },
    )
    assert bank.follow(payer, sent.json()["id"])["state"] == "final"
    burn = _post(bank, operator, "/v1/bank/burn", {"currency": "USD", "amount": "100.00"})
    assert burn.status_code == 202
    assert bank.settle_operation(operator, burn.json()["id"])["state"] == "final"
    after = bank.client.get("/v1/bank/minters/USD", headers=operator.headers).json()
    assert int(info["total_supply"].replace(".", "")) - int(after["total_supply"].replace(".", "")) == 10_000
    too_much = _post(bank, operator, "/v1/bank/burn", {"currency": "USD", "amount": "1000000.00"})
    assert too_much.status_code == 422
    assert too_much.json()["error_name"] == "ERC20InsufficientBalance"


def test_only_operators_mint_and_burn(bank: ApiBank, customer: User, admin: User, compliance: User) -> None:
    body = {"currency": "USD", "amount": "1.00", "to_address": "0x" + "12" * 20}
    for user in (customer, admin, compliance):
        assert _post(bank, user, "/v1/bank/mint", body).status_code == 403
        assert _post(bank, user, "/v1/bank/burn", {"currency": "USD", "amount": "1.00"}).status_code == 403
    assert bank.client.get("/v1/bank/minters/USD", headers=customer.headers).status_code == 403
    assert bank.client.get("/v1/bank/operations", headers=customer.headers).status_code == 403


def test_the_admin_sets_allowances_through_a_second_admin(bank: ApiBank, admin: User, operator: User) -> None:
    minter = bank.services.bank.role_address("minter")
    r = bank.client.post(
        "/v1/proposals",
        json={
            "action": "set_allowance",
            "params": {"currency": "EUR", "minter": minter, "amount": "1234.56"},
            "reason": "treasury limit for EUR",
        },
        headers={**admin.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    second = bank.signup("admin")
    approved = bank.client.post(f"/v1/proposals/{r.json()['id']}/approve", json={}, headers=second.headers)
    assert approved.status_code == 200, approved.text
    [operation] = approved.json()["operation_ids"]
    assert bank.settle_operation(admin, operation)["state"] == "final"
    assert bank.client.get("/v1/bank/minters/EUR", headers=operator.headers).json()["allowance"] == "1234.56"


def test_only_admins_propose_administration(bank: ApiBank, operator: User) -> None:
    for action, params in (
        ("set_allowance", {"currency": "USD", "minter": "0x" + "12" * 20, "amount": "1.00"}),
        ("grant_role", {"role": "minter", "address": "0x" + "12" * 20, "currency": "USD"}),
    ):
        r = bank.client.post(
            "/v1/proposals",
            json={"action": action, "params": params, "reason": "x"},
            headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 403, r.text


def test_operations_are_visible_to_staff_only(bank: ApiBank, operator: User, customer: User) -> None:
    ops = bank.client.get("/v1/bank/operations", headers=operator.headers).json()
    assert ops, "the fixtures minted"
    assert bank.client.get(f"/v1/bank/operations/{ops[0]['id']}", headers=customer.headers).status_code == 404
