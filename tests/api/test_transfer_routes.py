import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.api_bank import ApiBank, User
from wallet.db.models import TransferRequest


def _send(bank: ApiBank, user: User, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {**user.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return bank.client.post("/v1/transfers", json=body, headers=headers)


def _stored(bank: ApiBank) -> int:
    with bank.services.bank.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(TransferRequest)) or 0)


def test_a_transfer_to_another_account_reaches_final_and_moves_the_balances(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    payer, account = funded
    payee_account = bank.open_account(customer)
    r = _send(
        bank,
        payer,
        {
            "from_account": account["id"],
            "to_account": payee_account["id"],
            "amount": "12.34",
            "currency": "USD",
            "reference": "INV-2026-001",
            "memo": "rent",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] in ("pending", "submitted", "executed")
    assert r.json()["amount"] == "12.34"
    assert r.json()["reference"] == "INV-2026-001"
    done = bank.follow(payer, r.json()["id"])
    assert done["state"] == "final"
    assert done["tx_hash"]
    assert done["block_number"]
    bank.wait_balance(payer, account, "4987.66")
    bank.wait_balance(customer, payee_account, "12.34")
    # The payee cannot see the payer's transfer.
    assert bank.client.get(f"/v1/transfers/{done['id']}", headers=customer.headers).status_code == 404
    assert [t["id"] for t in bank.client.get("/v1/transfers", headers=payer.headers).json()] == [done["id"]]


def test_a_transfer_to_a_payee_and_to_an_address(bank: ApiBank, funded: tuple[User, dict[str, Any]]) -> None:
    payer, account = funded
    redemption = bank.client.get("/v1/bank", headers=payer.headers).json()["redemption_address"]
    payee = bank.client.post(
        "/v1/payees", json={"name": "Bank", "address": redemption}, headers=payer.headers
    ).json()
    by_payee = _send(
        bank,
        payer,
        {"from_account": account["id"], "to_payee": payee["id"], "amount": "1", "currency": "USD"},
    )
    by_address = _send(
        bank,
        payer,
        {"from_account": account["id"], "to_address": redemption.lower(), "amount": "2.5", "currency": "USD"},
    )
    for r in (by_payee, by_address):
        assert r.status_code == 201, r.text
        assert r.json()["payee"] == redemption
        assert bank.follow(payer, r.json()["id"])["state"] == "final"
    bank.wait_balance(payer, account, "4996.50")


def test_the_same_idempotency_key_and_body_returns_the_original(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    body = {"from_account": account["id"], "to_account": target["id"], "amount": "3.00", "currency": "USD"}
    first = _send(bank, payer, body, key="order-1")
    again = _send(bank, payer, body, key="order-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    conflict = _send(bank, payer, {**body, "amount": "4.00"}, key="order-1")
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:tdw:problem:idempotency-conflict"
    memo_changed = _send(bank, payer, {**body, "memo": "changed"}, key="order-1")
    assert memo_changed.status_code == 409
    bank.follow(payer, first.json()["id"])
    bank.wait_balance(payer, account, "4997.00")  # moved once


def test_idempotency_keys_are_per_customer(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], operator: User
) -> None:
    payer, account = funded
    other = bank.signup()
    other_account = bank.open_account(other)
    bank.mint(operator, other_account, "10.00")
    a = _send(
        bank,
        payer,
        {"from_account": account["id"], "to_account": other_account["id"], "amount": "1", "currency": "USD"},
        "shared",
    )
    b = _send(
        bank,
        other,
        {"from_account": other_account["id"], "to_account": account["id"], "amount": "1", "currency": "USD"},
        "shared",
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_customer_cannot_move_another_customers_money(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    _, victim_account = funded
    thief_account = bank.open_account(customer)
    before = _stored(bank)
    r = _send(
        bank,
        customer,
        {
            "from_account": victim_account["id"],
            "to_account": thief_account["id"],
            "amount": "1.00",
            "currency": "USD",
        },
    )
    assert r.status_code == 404
    assert _stored(bank) == before


def test_a_customer_cannot_pay_through_another_customers_payee_or_list_their_transfers(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    payer, account = funded
    payee = bank.client.post(
        "/v1/payees", json={"name": "Theirs", "address": "0x" + "34" * 20}, headers=customer.headers
    ).json()
    before = _stored(bank)
    r = _send(
        bank,
        payer,
        {"from_account": account["id"], "to_payee": payee["id"], "amount": "1", "currency": "USD"},
    )
    assert r.status_code == 404
    assert r.json()["type"] == "urn:tdw:problem:not-found"
    assert _stored(bank) == before
    mine = _send(
        bank,
        payer,
        {
            "from_account": account["id"],
            "to_address": bank.services.bank.role_address("burner"),  # verified: the redemption address
            "amount": "1",
            "currency": "USD",
        },
    )
    assert mine.status_code == 201
    assert bank.client.get("/v1/transfers", headers=customer.headers).json() == []
    assert bank.client.get(f"/v1/transfers/{mine.json()['id']}", headers=customer.headers).status_code == 404


def test_large_transfers_need_a_fresh_totp_code(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    body = {"from_account": account["id"], "to_account": target["id"], "amount": "1500.00", "currency": "USD"}
    before = _stored(bank)
    missing = _send(bank, payer, body, key="big")
    assert missing.status_code == 403
    assert missing.json()["type"] == "urn:tdw:problem:totp-required"
    wrong = _send(bank, payer, {**body, "totp": "000000"}, key="big")
    assert wrong.status_code == 403
    other_script = _send(bank, payer, {**body, "totp": "\u0661\u0662\u0663\u0664\u0665\u0666"}, key="big")
    assert other_script.status_code == 403
    assert _stored(bank) == before
    code = payer.code()
    ok = _send(bank, payer, {**body, "totp": code}, key="big")
    assert ok.status_code == 201, ok.text
    # A retry of the stored request needs no new code; a new request cannot reuse the code.
    assert _send(bank, payer, {**body, "totp": code}, key="big").status_code == 200
    assert _send(bank, payer, {**body, "totp": code}, key="big-2").status_code == 403
    small = _send(bank, payer, {**body, "amount": "1000.00"}, key="at-threshold")
    assert small.status_code == 201


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (12.5, "not a JSON number"),
        (12, "not a JSON number"),
        ("12.345", "has 3 decimals; USD has 2"),
        ("-1.00", "negative"),
        ("0", "zero"),
        ("0.00", "zero"),
        ("NaN", "not a plain decimal"),
        ("Infinity", "not a plain decimal"),
        ("1e3", "not a plain decimal"),
        ("1,000.00", "not a plain decimal"),
        (" 1.00", "not a plain decimal"),
        ("", "not a plain decimal"),
        ("0.07\n", "not a plain decimal"),
        ("0.07\r\n", "not a plain decimal"),
        ("\u0661.00", "not a plain decimal"),  # an Arabic-Indic digit one
    ],
)
def test_bad_amounts_are_422_with_a_clear_message(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], amount: Any, message: str
) -> None:
    payer, account = funded
    before = _stored(bank)
    r = _send(
        bank,
        payer,
        {"from_account": account["id"], "to_address": "0x" + "34" * 20, "amount": amount, "currency": "USD"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert message in r.json()["detail"]
    assert _stored(bank) == before


@pytest.mark.parametrize(
    ("change", "status", "type_"),
    [
        ({"currency": "EUR"}, 422, "urn:tdw:problem:invalid-request"),
        ({"currency": "XXX"}, 422, "urn:tdw:problem:unknown-currency"),
        ({"to_address": "0x1234"}, 422, "urn:tdw:problem:invalid-request"),
        # EIP-55: mixed case is a checksum, and this one is wrong in one letter (a mistyped address).
        (
            {"to_address": "0x52908400098527886e0F7030069857D2E4169EE7"},
            422,
            "urn:tdw:problem:invalid-request",
        ),
        ({"to_address": None, "to_account": "nope"}, 404, "urn:tdw:problem:not-found"),
        ({"to_account": "nope"}, 422, "urn:tdw:problem:invalid-request"),
        ({"reference": "x" * 33}, 422, "urn:tdw:problem:invalid-request"),
        ({"surprise": 1}, 422, "urn:tdw:problem:validation"),
    ],
)
def test_bad_transfer_requests_are_refused_and_store_nothing(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], change: dict[str, Any], status: int, type_: str
) -> None:
    payer, account = funded
    before = _stored(bank)
    body = {
        "from_account": account["id"],
        "to_address": "0x" + "34" * 20,
        "amount": "1.00",
        "currency": "USD",
        **change,
    }
    r = _send(bank, payer, body)
    assert (r.status_code, r.json()["type"]) == (status, type_), r.text
    assert _stored(bank) == before


def test_a_transfer_without_an_idempotency_key_is_refused(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    body = {
        "from_account": account["id"],
        "to_address": "0x" + "34" * 20,
        "amount": "1.00",
        "currency": "USD",
    }
    r = bank.client.post("/v1/transfers", json=body, headers=payer.headers)
    assert r.status_code == 422
    assert "Idempotency-Key" in r.json()["detail"]


def test_a_transfer_the_chain_refuses_after_the_door_ends_failed_with_the_customers_problem(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    """The chain stays the judge: a request that reached the relayer although the chain refuses it (a
    payee restricted in between; stored here below the door) fails with the door's problem type."""
    payer, account = funded
    request = bank.services.bank.transfers.submit(
        idempotency_key=f"{payer.user_id}:raced",
        token=bank.services.bank.token("USD").address,
        payer=account["address"],
        payee="0x" + "56" * 20,
        value=100,
        owner_id=payer.user_id,
    )
    done = bank.follow(payer, request.id)
    assert done["state"] == "failed"
    assert done["error"]["name"] == "DepositTokenAccountNotVerified"
    assert done["error"]["type"] == "urn:tdw:problem:payee-not-verified"
    bank.wait_balance(payer, account, "5000.00")


def _pay(bank: ApiBank, payer: User, account: dict[str, Any], amount: str, **to: Any) -> Any:
    target = to or {
        "to_address": bank.client.get("/v1/bank", headers=payer.headers).json()["redemption_address"]
    }
    return _send(bank, payer, {"from_account": account["id"], "amount": amount, "currency": "USD", **target})


def test_an_amount_above_the_available_balance_is_refused_at_the_door(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    before = _stored(bank)
    r = _pay(bank, payer, account, "5000.01")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] == "urn:tdw:problem:insufficient-funds"
    assert (body["available"], body["currency"]) == ("5000.00", "USD")
    assert body["detail"] == "the available balance is 5000.00 USD"
    assert isinstance(body["as_of_block"], int)
    huge = _pay(bank, payer, account, "792281625142643375935439503.36")  # 2^96 minor units
    assert (huge.status_code, huge.json()["type"]) == (422, "urn:tdw:problem:money")
    assert "larger than any" in huge.json()["detail"]
    assert _stored(bank) == before
    redemption = bank.services.bank.role_address("burner")
    everything = _pay(bank, payer, account, "5000.00", to_address=redemption, totp=payer.code())
    assert everything.status_code == 201, everything.text


def test_transfers_accepted_and_not_yet_mirrored_count_against_the_balance(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    """Twenty transfers at once cannot overspend: each one is judged with the others already stored."""
    payer, account = funded
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _pay(bank, payer, account, "300.00"), range(20)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 16 + [422] * 4, codes
    refused = [r.json() for r in answers if r.status_code == 422]
    assert {r["type"] for r in refused} == {"urn:tdw:problem:insufficient-funds"}
    assert {r["available"] for r in refused} == {"200.00"}
    for r in answers:
        if r.status_code == 201:
            assert bank.follow(payer, r.json()["id"])["state"] == "final"
    bank.wait_balance(payer, account, "200.00")
    assert _pay(bank, payer, account, "200.01").json()["available"] == "200.00"


def test_frozen_funds_are_not_available(bank: ApiBank, funded: tuple[User, dict[str, Any]]) -> None:
    payer, account = funded
    token = bank.services.bank.token("USD").contract
    address = account["address"]
    bank.chain_act("compliance", token.functions.setFrozenAmount(address, 450_000))
    r = _pay(bank, payer, account, "500.01")
    assert (r.status_code, r.json()["type"], r.json()["available"]) == (
        422,
        "urn:tdw:problem:insufficient-funds",
        "500.00",
    )
    assert _pay(bank, payer, account, "500.00").status_code == 201


@pytest.mark.parametrize(
    ("payee", "why"),
    [
        ("0x" + "00" * 20, "the zero address"),
        ("0x" + "56" * 20, "never verified"),
        ("blocked", "blocked by compliance"),
        ("revoked", "verification revoked"),
    ],
)
def test_a_payee_who_cannot_receive_is_refused_at_the_door(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], payee: str, why: str
) -> None:
    payer, account = funded
    registry = bank.services.bank.registry
    if payee in ("blocked", "revoked"):
        other = bank.signup()
        other_account = bank.open_account(other)
        payee = other_account["address"]
        call = registry.functions.setBlocked(payee, True) if why.startswith("blocked") else None
        bank.chain_act("compliance", call or registry.functions.revokeKyc(payee))
    before = _stored(bank)
    r = _pay(bank, payer, account, "1.00", to_address=payee)
    assert r.status_code == 422, (why, r.text)
    assert r.json()["type"] == "urn:tdw:problem:payee-not-verified", why
    assert _stored(bank) == before


def test_a_frozen_or_restricted_payer_is_told_so_at_the_door(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    address = account["address"]
    token = bank.services.bank.token("USD").contract
    bank.chain_act("compliance", token.functions.freeze(address))
    frozen = _pay(bank, payer, account, "1.00")
    assert (frozen.status_code, frozen.json()["type"]) == (422, "urn:tdw:problem:account-restricted")
    assert "frozen" in frozen.json()["detail"]
    bank.chain_act("compliance", token.functions.unfreeze(address))
    bank.chain_act("compliance", bank.services.bank.registry.functions.setBlocked(address, True))
    blocked = _pay(bank, payer, account, "1.00")
    assert (blocked.status_code, blocked.json()["type"]) == (422, "urn:tdw:problem:account-restricted")


def test_payments_in_a_paused_currency_are_refused_at_the_door(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, account = funded
    token = bank.services.bank.token("USD").contract
    bank.chain_act("pauser", token.functions.pause())
    try:
        r = _pay(bank, payer, account, "1.00")
        assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:payments-suspended")
    finally:
        bank.chain_act("pauser", token.functions.unpause())
    assert _pay(bank, payer, account, "1.00").status_code == 201


def test_staff_cannot_send_customer_transfers(bank: ApiBank, operator: User) -> None:
    body = {"from_account": "x", "to_address": "0x" + "34" * 20, "amount": "1.00", "currency": "USD"}
    r = _send(bank, operator, body)
    assert r.status_code == 403
