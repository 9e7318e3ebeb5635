"""Two banks and a central bank on one chain: alice (USD at the demo bank) pays carol (HKD at the partner
bank) from a quote she accepted, in one settlement transaction, through the partner bank's API signed
with HTTP Message Signatures; the partner bank pays alice back the same way; both banks' books,
positions, pacs.008 and pacs.002 (validated against the official XSDs) show it; requests not signed by
a registered key, replayed, or signed by a client we did not write are judged as they should be."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from web3.logs import DISCARD

from tests.support.api_bank import ApiBank, User
from tests.support.partner_banks import customer as _customer
from tests.support.partner_banks import pay as _pay
from tests.support.partner_banks import two_banks
from tests.support.waiting import wait_for
from tests.support.web import Browser
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode
from wallet.keys import PrivateKeySigner

DATA = Path(__file__).parents[1] / "data" / "iso20022"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def banks(
    anvil: AnvilNode, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiBank, ApiBank]]:
    """The demo bank (USD, EUR) and the partner bank (HKD, USD), admitted by one central bank with
    reserves, each registered as the other's partner, each FX book funded."""
    yield from two_banks(anvil, compilation, tmp_path_factory)


def _follow(bank: ApiBank, user: User, payment_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        p = bank.client.get(f"/v1/cross-border/payments/{payment_id}", headers=user.headers).json()
        return p if p["state"] in ("final", "failed") else None

    return wait_for(done, timeout=60)


def test_alice_pays_carol_across_banks_and_currencies_in_one_transaction(
    banks: tuple[ApiBank, ApiBank],
) -> None:
    demo, harbour = banks
    alice, dollars = _customer(demo, "USD", "500.00", "Alice Example")
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    quote, r = _pay(demo, alice, "harbour", "USD", "HKD", "100.00", hkd, "Carol Chan")
    assert r.status_code == 201, r.text
    # 100.00 USD less the standard tier's 0.50% fee = 99.50 USD between the banks, at Harbour's rate.
    assert quote["fee"] == {"currency": "USD", "amount": "0.50"}
    assert quote["interbank"] == {"currency": "USD", "amount": "99.50"}
    payment = _follow(demo, alice, r.json()["id"])
    assert payment["state"] == "final", (payment["error"], payment["reason"])
    bank_w3 = demo.services.bank.w3
    receipt = bank_w3.eth.get_transaction_receipt(payment["tx_hash"])
    contract = demo.services.bank.settlements.contract  # type: ignore[union-attr]
    assert len(contract.events.Settled().process_receipt(receipt, errors=DISCARD)) == 1
    token = demo.services.bank.token("USD").contract
    moved = [e for e in token.events.Transfer().process_receipt(receipt, errors=DISCARD)]
    assert len(moved) == 6  # three legs, each in to the contract and out to its payee
    bank_w3_balance = demo.services.bank.token("USD").contract.functions.balanceOf(dollars["address"]).call()
    assert bank_w3_balance == 40_000
    credit = int(quote["buy"]["amount"].replace(".", ""))
    harbour.wait_balance(carol, hkd, quote["buy"]["amount"])
    assert harbour.services.bank.token("HKD").contract.functions.balanceOf(hkd["address"]).call() == credit

    # The partner bank's own record of it settled too, and its pacs.002 says so (ACSC), valid by the XSD.
    theirs = harbour.services.crossborder.partner_status(
        harbour.services.partners.get("demo"), payment["end_to_end_id"]
    )
    assert theirs["state"] in ("executed", "confirmed", "final")
    report = demo.services.partners.call(
        demo.services.partners.get("harbour"),
        "GET",
        f"/v1/partner/payments/{payment['end_to_end_id']}/pacs.002",
    )
    assert report.status_code == 200, report.text
    xmlschema.XMLSchema(DATA / "pacs.002.001.11.xsd").validate(report.text)
    assert "<TxSts>ACSC</TxSts>" in report.text
    # Alice's pacs.008 carries the settlement transaction, valid by the XSD.
    document = demo.client.get(f"/v1/cross-border/payments/{payment['id']}/pacs.008", headers=alice.headers)
    xmlschema.XMLSchema(DATA / "pacs.008.001.08.xsd").validate(document.text)
    assert payment["tx_hash"] in document.text
    assert '<IntrBkSttlmAmt Ccy="USD">99.50</IntrBkSttlmAmt>' in document.text

    # Positions: the demo bank paid 99.50 USD, the partner received it; the treasuries' settlement
    # token holdings by the mirror agree with the chain.
    admin = demo.signup("admin")
    wait_for(
        lambda: all(
            h["agrees"]
            for h in demo.client.get("/v1/bank/positions", headers=admin.headers).json()["holdings"]
        )
    )
    ours = demo.client.get("/v1/bank/positions", headers=admin.headers).json()
    usd = next(b for b in ours["bilateral"] if b["currency"] == "USD")
    assert usd["paid"] == "99.50"
    their_admin = harbour.signup("admin")
    their_positions = harbour.client.get("/v1/bank/positions", headers=their_admin.headers).json()
    assert next(b for b in their_positions["bilateral"] if b["currency"] == "USD")["received"] == "99.50"


def test_a_partner_signed_request_pays_alice(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, harbour = banks
    carol, _ = _customer(harbour, "HKD", "5000.00", "Carol Chan")
    alice = demo.signup(full_name="Alice Example")
    dollars = demo.open_account(alice, "USD")
    quote, r = _pay(harbour, carol, "demo", "HKD", "USD", "780.00", dollars, "Alice Example")
    assert r.status_code == 201, r.text
    payment = _follow(harbour, carol, r.json()["id"])
    assert payment["state"] == "final", payment
    demo.wait_balance(alice, dollars, quote["buy"]["amount"])
    # Alice sees the incoming payment with its state.
    mine = demo.client.get("/v1/cross-border/payments", headers=alice.headers).json()
    assert [p["direction"] for p in mine] == ["incoming"]


def test_a_rejected_offer_moves_nothing_and_releases_the_funds(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, harbour = banks
    alice, dollars = _customer(demo, "USD", "100.00", "Alice Example")
    stranger = PrivateKeySigner.generate().address  # no account at the partner bank
    _, r = _pay(demo, alice, "harbour", "USD", "HKD", "60.00", {"address": stranger}, "Nobody")
    assert r.status_code == 201, r.text
    payment = _follow(demo, alice, r.json()["id"])
    assert payment["state"] == "failed"
    assert "rejected" in payment["reason"]
    # Our signatures were good until the deadline: the settlement is cancelled on chain before the
    # funds are released, so the partner cannot settle it after rejecting it.
    contract = demo.services.bank.settlements.contract  # type: ignore[union-attr]
    assert contract.functions.stateOf(bytes.fromhex(payment["settlement_id"][2:])).call() == 2
    assert payment["error"]["name"] == "SettlementCancelled"
    assert demo.balance(alice, dollars) == "100.00"
    # The funds are available again: a second payment of 60.00 is accepted.
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    _, again = _pay(demo, alice, "harbour", "USD", "HKD", "60.00", hkd, "Carol Chan")
    assert again.status_code == 201, again.text
    assert _follow(demo, alice, again.json()["id"])["state"] == "final"


def test_a_payment_above_the_partner_limit_is_refused_at_the_door(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, _ = banks
    alice, _ = _customer(demo, "USD", "90000.00", "Alice Example")
    _, r = _pay(
        demo,
        alice,
        "harbour",
        "USD",
        "HKD",
        "60000.00",
        {"address": PrivateKeySigner.generate().address},
        "X",
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("partner-limit")


def test_unsigned_replayed_and_foreign_requests_are_refused(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, harbour = banks
    body = json.dumps({"sell": "USD", "buy": "USD", "sell_amount": "1.00"}).encode()
    url = "http://testserver/v1/partner/quotes"
    r = demo.client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401, r.text
    assert r.json()["type"].endswith("partner-signature")
    headers = harbour.services.partners.keys.sign(method="POST", url=url, body=body)
    first = demo.client.post(url, content=body, headers=headers)
    assert first.status_code == 201, first.text
    replayed = demo.client.post(url, content=body, headers=headers)
    assert replayed.status_code == 401
    assert "sent before" in replayed.json()["detail"]
    # A changed body under the signature of the original.
    tampered = demo.client.post(
        url,
        content=body.replace(b"1.00", b"9.00"),
        headers=harbour.services.partners.keys.sign(method="POST", url=url, body=body),
    )
    assert tampered.status_code == 401


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the npm signer")
def test_a_request_signed_by_an_independent_client_is_accepted(banks: tuple[ApiBank, ApiBank]) -> None:
    """The npm package `http-message-signatures` (not our signer) signs with the partner bank's key."""
    demo, harbour = banks
    seed = harbour.services.partners.keys.private_key().private_bytes_raw()
    body = json.dumps({"sell": "USD", "buy": "EUR", "sell_amount": "10.00"})
    request = {
        "method": "POST",
        "url": "http://testserver/v1/partner/quotes",
        "body": body,
        "seed": base64.b64encode(seed).decode(),
        "keyid": harbour.services.partners.keys.key_id,
        "nonce": uuid.uuid4().hex,
    }
    signed = subprocess.run(
        ["node", str(ROOT / "tests" / "support" / "partner-sign.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    headers = json.loads(signed.stdout)
    r = demo.client.post(request["url"], content=body.encode(), headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["buy"]["currency"] == "EUR"
    # The same independent signature over a changed body is refused.
    r = demo.client.post(request["url"], content=body.replace("10.00", "99.00").encode(), headers=headers)
    assert r.status_code == 401


def test_an_offer_delivered_twice_at_once_is_one_payment(banks: tuple[ApiBank, ApiBank]) -> None:
    """The request that makes a payment and the worker may both deliver its offer: the payee bank
    stores it once and answers the other with it, never with a rejection."""
    demo, harbour = banks
    alice, _ = _customer(demo, "USD", "100.00", "Alice Example")
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    services = demo.services
    offer = services.crossborder._offer
    services.crossborder._offer = lambda _: None  # type: ignore[method-assign, assignment]
    try:
        _, r = _pay(demo, alice, "harbour", "USD", "HKD", "10.00", hkd, "Carol Chan")
        assert r.status_code == 201, r.text
    finally:
        services.crossborder._offer = offer  # type: ignore[method-assign]
    payment = services.crossborder._payment(r.json()["id"])
    partner = services.partners.get("harbour")

    def deliver() -> int:
        return services.partners.call(
            partner,
            "POST",
            "/v1/partner/payments",
            raw=(payment.pacs008 or "").encode(),
            content_type="application/xml",
            idempotency_key=payment.end_to_end_id,
        ).status_code

    gate = threading.Barrier(2)
    codes: list[int] = []

    def race() -> None:
        gate.wait()
        codes.append(deliver())

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 201]
    assert _follow(demo, alice, payment.id)["state"] == "final"


def test_another_customers_payment_and_account_are_not_there_for_them(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, harbour = banks
    alice, dollars = _customer(demo, "USD", "100.00", "Alice Example")
    mallory, _ = _customer(demo, "USD", "100.00", "Mallory Example")
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    _, r = _pay(demo, alice, "harbour", "USD", "HKD", "10.00", hkd, "Carol Chan")
    assert r.status_code == 201, r.text
    payment = r.json()["id"]
    for path in (f"/v1/cross-border/payments/{payment}", f"/v1/cross-border/payments/{payment}/pacs.008"):
        assert demo.client.get(path, headers=mallory.headers).status_code == 404
    assert demo.client.get("/v1/cross-border/payments", headers=mallory.headers).json() == []
    # Mallory cannot pay from Alice's account.
    quote = demo.client.post(
        "/v1/cross-border/quotes",
        json={"partner": "harbour", "sell": "USD", "buy": "HKD", "sell_amount": "10.00"},
        headers=mallory.headers,
    ).json()
    r = demo.client.post(
        "/v1/cross-border/payments",
        json={
            "quote_id": quote["id"],
            "from_account": dollars["id"],
            "creditor": {"address": hkd["address"], "name": "Carol Chan"},
        },
        headers={**mallory.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 404, r.text
    assert _follow(demo, alice, payment)["state"] == "final"
    assert demo.balance(alice, dollars) == "90.00"


def test_an_offer_whose_sender_died_mid_send_is_sent_again_after_the_lease(
    banks: tuple[ApiBank, ApiBank],
) -> None:
    """A sender that claimed an offer's delivery and died leaves it `sending`: once the claim is older
    than the lease, the worker sends it again, and the payment settles (not failed at its deadline)."""
    demo, harbour = banks
    alice, _ = _customer(demo, "USD", "100.00", "Alice Example")
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    crossborder = demo.services.crossborder
    offer, lease = crossborder._offer, crossborder.sending_lease

    def claim_and_die(payment_id: str) -> None:
        """The request's sender claims the delivery and dies before sending anything."""
        crossborder._claim_offer(payment_id)

    crossborder._offer = claim_and_die  # type: ignore[method-assign]
    try:
        _, r = _pay(demo, alice, "harbour", "USD", "HKD", "10.00", hkd, "Carol Chan")
        assert r.status_code == 201, r.text
    finally:
        crossborder._offer = offer  # type: ignore[method-assign]
    assert crossborder._payment(r.json()["id"]).notified == "sending"
    crossborder.sending_lease = timedelta(seconds=2)
    try:
        assert _follow(demo, alice, r.json()["id"])["state"] == "final"
    finally:
        crossborder.sending_lease = lease
    assert crossborder._payment(r.json()["id"]).notified == "accepted"


def test_the_openapi_document_describes_the_iso_20022_bodies(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, _ = banks
    paths = demo.client.get("/openapi.json").json()["paths"]
    body = paths["/v1/partner/payments"]["post"]["requestBody"]
    assert list(body["content"]) == ["application/xml"]
    assert body["required"] is True
    for path, method in (
        ("/v1/partner/payments/{end_to_end_id}/pacs.002", "get"),
        ("/v1/cross-border/payments/{payment_id}/pacs.008", "get"),
    ):
        assert "application/xml" in paths[path][method]["responses"]["200"]["content"]


def test_alice_pays_carol_from_the_screens_and_staff_see_it(banks: tuple[ApiBank, ApiBank]) -> None:
    demo, harbour = banks
    _, carols = _customer(harbour, "HKD", "1.00", "Carol Chan")
    alice, _ = _customer(demo, "USD", "300.00", "Alice Example")
    screens = Browser(demo)
    assert screens.sign_in(alice).status_code == 303
    form = {
        "partner": "harbour",
        "sell": "USD",
        "buy": "HKD",
        "sell_amount": "100.00",
        "creditor_name": "Carol Chan",
        "creditor_address": carols["address"],
        "reference": "Screens test",
    }
    quoted = screens.form("/app/abroad/quote", form)
    assert quoted.status_code == 200, quoted.text
    assert "HK$" in quoted.text
    fields = dict(
        re.findall(
            r'name="(key|quote_id|creditor_name|creditor_address|reference)" value="([^"]*)"', quoted.text
        )
    )
    assert fields["creditor_address"] == carols["address"]
    assert screens.form("/app/abroad/pay", fields).status_code == 303
    [payment] = demo.client.get("/v1/cross-border/payments", headers=alice.headers).json()
    wait_for(
        lambda: (
            f'data-payment="{payment["id"]}" data-state="final"'
            in screens.client.get("/app/abroad?rows=1").text
        ),
        timeout=120,
    )
    pacs = screens.client.get(f"/app/abroad/{payment['id']}/pacs.008")
    assert pacs.status_code == 200
    assert b"pacs.008" in pacs.content
    # The operator's partner view lists it, with today's position with Harbour Bank.
    staff = Browser(demo)
    assert staff.sign_in(demo.signup("operator")).status_code == 303
    view = staff.client.get("/app/partners")
    assert f'data-payment="{payment["id"]}"' in view.text
    assert 'data-position="harbour-USD"' in view.text
    # An unknown partner is refused in words, with the form kept.
    refused = screens.form("/app/abroad/quote", form | {"partner": "nowhere"})
    assert refused.status_code in (400, 404)
    assert 'value="Carol Chan"' in refused.text
