"""Payment requests through the API: a merchant asks to be paid; the QR code, read back by a decoder
that is not our encoder (zxing-cpp), takes a payer to the request, who pays it; the money moves on
chain with the request's reference and the merchant is told through the event stream when the ledger
mirror holds it. A single-use request is paid once, also by two payers at the same moment; paying
again is the same payment; refunds carry the reference and never give back more than came in; bad
input is refused and moves nothing; another customer reaches nothing of a merchant's request."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import zxingcpp
from PIL import Image

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def merchant(bank: ApiBank) -> tuple[User, dict[str, Any]]:
    user = bank.signup()
    return user, bank.open_account(user, "USD")


def _payer(bank: ApiBank, operator: User, amount: str = "100.00") -> tuple[User, dict[str, Any]]:
    user = bank.signup()
    account = bank.open_account(user, "USD")
    bank.mint(operator, account, amount)
    bank.wait_balance(user, account, amount)
    return user, account


def _request(bank: ApiBank, merchant: User, **body: Any) -> dict[str, Any]:
    r = bank.client.post("/v1/payment-requests", json={"currency": "USD", **body}, headers=merchant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _pay(bank: ApiBank, payer: User, request_id: str, **body: Any) -> Any:
    return bank.client.post(f"/v1/payment-requests/{request_id}/pay", json=body, headers=payer.headers)


def _decoded(png: bytes) -> str:
    [found] = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return str(found.text)


def _paid(bank: ApiBank, merchant: User, request_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = bank.client.get(f"/v1/payment-requests/{request_id}", headers=merchant.headers).json()
        return view if view["state"] == "paid" else None

    return dict(wait_for(done))


def test_a_payer_scans_the_qr_code_pays_and_the_merchant_is_told(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, till = merchant
    payer, wallet = _payer(bank, operator)
    request = _request(bank, shop, amount="12.50", reference="ORDER-1001", description="Two coffees")
    assert request["state"] == "open"
    assert (request["amount"], request["reference"], request["received"]) == ("12.50", "ORDER-1001", "0.00")

    # The payment link, read from the PNG by an independent decoder, leads to the request.
    png = bank.client.get(f"/v1/payment-requests/{request['id']}/qr.png", headers=shop.headers)
    assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
    link = _decoded(png.content)
    assert link == request["link"]
    request_id = urlparse(link).path.rsplit("/", 1)[-1]
    shown = bank.client.get(f"/v1/payment-requests/{request_id}/pay", headers=payer.headers).json()
    assert (shown["amount"], shown["currency"], shown["reference"], shown["state"]) == (
        "12.50",
        "USD",
        "ORDER-1001",
        "open",
    )
    assert shown["payee"] == till["address"]
    assert "payments" not in shown  # a payer sees the terms, not who else paid

    r = _pay(bank, payer, request_id, from_account=wallet["id"])
    assert r.status_code == 201, r.text
    transfer = r.json()
    assert (transfer["amount"], transfer["reference"], transfer["payee"]) == (
        "12.50",
        "ORDER-1001",
        till["address"],
    )
    assert bank.follow(payer, transfer["id"])["state"] == "final"
    paid = _paid(bank, shop, request_id)
    assert paid["received"] == "12.50"
    [payment] = paid["payments"]
    assert (payment["transfer_id"], payment["payer"]) == (transfer["id"], wallet["address"])
    bank.wait_balance(payer, wallet, "87.50")

    # The merchant's event stream says so, with the chain transaction that carried it.
    feed = bank.services.feed
    told = wait_for(
        lambda: [
            e
            for e in feed.since(shop.user_id, 0, 1000)
            if e.type == "payment_request.paid" and e.payload["request_id"] == request_id
        ]
    )
    assert told[0].payload["amount"] == "12.50"
    assert told[0].payload["tx_hash"] == bank.follow(payer, transfer["id"])["tx_hash"]
    assert all(e.user_id == shop.user_id for e in feed.since(shop.user_id, 0, 1000))

    # Paying again is the same payment (200), and moves nothing more.
    again = _pay(bank, payer, request_id, from_account=wallet["id"])
    assert (again.status_code, again.json()["id"]) == (200, transfer["id"])
    assert bank.balance(payer, wallet) == "87.50"


def test_the_eip681_code_names_the_token_the_chain_the_payee_and_the_amount(
    bank: ApiBank, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, till = merchant
    request = _request(bank, shop, amount="3.07")
    for kind in ("png", "svg"):
        r = bank.client.get(
            f"/v1/payment-requests/{request['id']}/qr.{kind}", params={"target": "uri"}, headers=shop.headers
        )
        assert r.status_code == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.text.startswith("<svg")
    png = bank.client.get(f"/v1/payment-requests/{request['id']}/qr.png?target=uri", headers=shop.headers)
    uri = _decoded(png.content)
    assert uri == request["uri"]
    # EIP-681: ethereum:<token>@<chain id>/transfer?address=<payee>&uint256=<minor units>
    scheme, rest = uri.split(":", 1)
    target, query = rest.split("?", 1)
    token, path = target.split("/", 1)
    address, chain = token.split("@")
    assert (scheme, path, address, int(chain)) == (
        "ethereum",
        "transfer",
        bank.services.bank.token("USD").address,
        bank.services.bank.chain_id,
    )
    assert parse_qs(query) == {"address": [till["address"]], "uint256": ["307"]}
    open_amount = _request(bank, shop)
    assert "uint256" not in open_amount["uri"]


def test_a_single_use_request_is_paid_once_even_by_two_payers_at_the_same_moment(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = merchant
    payers = [_payer(bank, operator, "20.00") for _ in range(2)]
    request = _request(bank, shop, amount="5.00")
    results: list[Any] = []
    gate = threading.Barrier(2)

    def race(payer: User, account: dict[str, Any]) -> None:
        gate.wait()
        results.append((payer, account, _pay(bank, payer, request["id"], from_account=account["id"])))

    threads = [threading.Thread(target=race, args=p) for p in payers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for _, _, r in results)
    assert codes == [201, 409], [r.text for _, _, r in results]
    for payer, account, r in results:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:tdw:problem:payment-request-closed"
            assert bank.balance(payer, account) == "20.00"
        else:
            bank.follow(payer, r.json()["id"])
    view = _paid(bank, shop, request["id"])
    assert len(view["payments"]) == 1
    assert view["received"] == "5.00"


def test_a_reusable_request_with_an_open_amount_takes_each_payers_amount(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = merchant
    request = _request(bank, shop, single_use=False, reference="TIPS")
    first, second = _payer(bank, operator, "10.00"), _payer(bank, operator, "10.00")
    missing = _pay(bank, first[0], request["id"])
    assert (missing.status_code, missing.json()["type"]) == (422, "urn:tdw:problem:invalid-request")
    for (payer, _), amount in ((first, "1.25"), (second, "2.50")):
        r = _pay(bank, payer, request["id"], amount=amount)
        assert r.status_code == 201, r.text
        bank.follow(payer, r.json()["id"])

    def both() -> dict[str, Any] | None:
        view = bank.client.get(f"/v1/payment-requests/{request['id']}", headers=shop.headers).json()
        return view if view["received"] == "3.75" else None

    view = wait_for(both)
    assert view["state"] == "open"
    assert sorted(p["amount"] for p in view["payments"]) == ["1.25", "2.50"]


def test_refunds_reference_the_payment_and_never_give_back_more_than_came_in(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = merchant
    payer, wallet = _payer(bank, operator, "30.00")
    request = _request(bank, shop, amount="10.00", reference="ORDER-1002")
    transfer = _pay(bank, payer, request["id"]).json()
    bank.follow(payer, transfer["id"])
    [payment] = _paid(bank, shop, request["id"])["payments"]
    url = f"/v1/payment-requests/{request['id']}/payments/{payment['id']}/refunds"

    def refund(amount: str, key: str | None = None) -> Any:
        headers = {**shop.headers, "Idempotency-Key": key or uuid.uuid4().hex}
        return bank.client.post(url, json={"amount": amount}, headers=headers)

    key = uuid.uuid4().hex
    first = refund("4.00", key)
    assert first.status_code == 201, first.text
    assert (first.json()["reference"], first.json()["payee"]) == ("ORDER-1002", wallet["address"])
    assert first.json()["memo"] == f"refund of transfer {transfer['id']}"
    assert refund("4.00", key).status_code == 200  # the same refund, once
    too_much = refund("6.01")
    assert (too_much.status_code, too_much.json()["type"]) == (409, "urn:tdw:problem:refund-too-large")
    rest = refund("6.00")
    assert rest.status_code == 201, rest.text
    assert refund("0.01").json()["type"] == "urn:tdw:problem:refund-too-large"
    for r in (first, rest):
        assert bank.follow(shop, r.json()["id"])["state"] == "final"
    bank.wait_balance(payer, wallet, "30.00")
    view = bank.client.get(f"/v1/payment-requests/{request['id']}", headers=shop.headers).json()
    assert view["refunded"] == "10.00"
    assert [r["amount"] for r in view["payments"][0]["refunds"]] == ["4.00", "6.00"]
    # The payer cannot refund themselves from the merchant's account.
    r = bank.client.post(url, json={"amount": "1.00"}, headers={**payer.headers, "Idempotency-Key": "x"})
    assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found")


def test_bad_input_is_refused_and_moves_nothing(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = merchant
    payer, wallet = _payer(bank, operator, "5.00")
    bad_requests: list[dict[str, Any]] = [
        {"amount": "-1.00"},
        {"amount": "1.001"},
        {"amount": 1.5},
        {"currency": "XXX"},
        {"currency": "JPY"},
        {"reference": "x" * 33},
        {"reference": "0xabc"},
        {"reference": "tab\there"},
        {"expires_in_minutes": 0},
        {"expires_in_minutes": 10**7},
        {"description": "d" * 141},
        {"account_id": "nope"},
        {"unknown": 1},
    ]
    for body in bad_requests:
        r = bank.client.post("/v1/payment-requests", json={"currency": "USD", **body}, headers=shop.headers)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.json()["type"].startswith("urn:tdw:problem:"), body
    taken = _request(bank, shop, reference="ONCE")
    r = bank.client.post(
        "/v1/payment-requests", json={"currency": "USD", "reference": "ONCE"}, headers=shop.headers
    )
    assert (r.status_code, r.json()["type"]) == (409, "urn:tdw:problem:conflict")

    fixed = _request(bank, shop, amount="2.00")
    assert _pay(bank, payer, fixed["id"], amount="3.00").status_code == 422
    assert _pay(bank, payer, fixed["id"], from_account="nope").status_code == 404
    assert _pay(bank, shop, fixed["id"]).json()["type"] == "urn:tdw:problem:invalid-request"  # their own
    short = _request(bank, shop, amount="50.00")
    r = _pay(bank, payer, short["id"])
    assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:insufficient-funds")
    # Refused payments leave the request open for someone else.
    assert (
        bank.client.get(f"/v1/payment-requests/{short['id']}", headers=shop.headers).json()["state"] == "open"
    )

    cancelled = bank.client.post(f"/v1/payment-requests/{taken['id']}/cancel", headers=shop.headers)
    assert cancelled.json()["state"] == "cancelled"
    r = _pay(bank, payer, taken["id"], amount="1.00")
    assert (r.status_code, r.json()["type"]) == (409, "urn:tdw:problem:payment-request-closed")
    again = bank.client.post(f"/v1/payment-requests/{taken['id']}/cancel", headers=shop.headers)
    assert again.json()["type"] == "urn:tdw:problem:payment-request-closed"
    assert _pay(bank, payer, uuid.uuid4().hex, amount="1.00").status_code == 404
    assert bank.balance(payer, wallet) == "5.00"


def test_an_expired_request_takes_no_payment(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = merchant
    payer, wallet = _payer(bank, operator, "5.00")
    request = _request(bank, shop, amount="1.00", expires_in_minutes=1)
    requests = bank.services.requests
    clock = requests.clock
    try:
        requests.clock = lambda: clock() + timedelta(minutes=2)
        r = _pay(bank, payer, request["id"])
        assert (r.status_code, r.json()["type"]) == (409, "urn:tdw:problem:payment-request-closed")
        assert (
            bank.client.get(f"/v1/payment-requests/{request['id']}", headers=shop.headers).json()["state"]
            == "expired"
        )
    finally:
        requests.clock = clock
    assert bank.balance(payer, wallet) == "5.00"


def test_another_customer_reaches_nothing_of_a_merchants_request(
    bank: ApiBank, operator: User, merchant: tuple[User, dict[str, Any]]
) -> None:
    """Every payment-request route read from the app, called by a customer who is not the merchant:
    only the two a payer needs (see the request, pay it) answer; the rest are not found."""
    shop, _ = merchant
    payer, _ = _payer(bank, operator, "5.00")
    request = _request(bank, shop, amount="1.00")
    paid = _pay(bank, payer, request["id"])
    bank.follow(payer, paid.json()["id"])
    [payment] = _paid(bank, shop, request["id"])["payments"]
    other = bank.signup()
    paths = bank.client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/payment-requests/")
        for method in operations
    ]
    assert len(routes) >= 6, routes
    payer_routes = {
        ("GET", "/v1/payment-requests/{request_id}/pay"),
        ("POST", "/v1/payment-requests/{request_id}/pay"),
    }
    for method, path in routes:
        url = (
            path.replace("{request_id}", request["id"])
            .replace("{payment_id}", payment["id"])
            .replace("{kind}", "png")
        )
        body = {"amount": "1.00"} if method == "POST" else None
        r = bank.client.request(
            method, url, json=body, headers={**other.headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        if (method, path) in payer_routes:
            assert r.status_code in (200, 201, 404, 409, 422), (path, r.text)
            assert "payments" not in r.text
            continue
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found"), (method, path, r.text)
    assert request["id"] not in bank.client.get("/v1/payment-requests", headers=other.headers).text
    view = bank.client.get(f"/v1/payment-requests/{request['id']}", headers=shop.headers).json()
    assert view["state"] == "paid"  # nothing the other customer did moved it
