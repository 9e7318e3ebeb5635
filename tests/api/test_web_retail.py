"""Payment requests on the screens, over HTTP (the QR code read from the screen by a decoder is in the
Chromium journey, tests/test_browser.py): a merchant creates a request, a payer opens its link and pays,
the merchant's page turns paid from the ledger mirror and refunds from it; bad input is shown in words
and creates nothing; another customer finds nothing of the merchant's."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from tests.support.web import Browser
from wallet.db.models import WalletAccount
from wallet.retail.batches import example_pain001

REQUEST_PAGE = re.compile(r"^/app/requests/([0-9a-f]{32})$")


def test_a_merchant_asks_a_payer_pays_from_the_link_and_the_merchant_refunds(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, wallet = funded
    shop = bank.signup()
    bank.open_account(shop, "USD")
    merchant = Browser(bank)
    assert merchant.sign_in(shop).status_code == 303
    created = merchant.form(
        "/app/requests",
        {
            "currency": "USD",
            "amount": "7.25",
            "reference": "WEB-1",
            "description": "Lunch",
            "single_use": "1",
        },
    )
    assert created.status_code == 303, created.text
    match = REQUEST_PAGE.match(created.headers["location"])
    assert match, created.headers["location"]
    request_id = match.group(1)
    page = merchant.client.get(created.headers["location"])
    assert 'data-qr="link"' in page.text
    assert 'src="data:image/svg+xml;base64,' in page.text
    assert f"/app/pay/{request_id}" in page.text
    assert 'data-state="open"' in page.text
    assert "WEB-1" in merchant.client.get("/app/requests").text

    buyer = Browser(bank)
    assert buyer.sign_in(payer).status_code == 303
    shown = buyer.client.get(f"/app/pay/{request_id}")
    assert shown.status_code == 200
    assert "WEB-1" in shown.text
    assert "$7.25" in shown.text
    paid = buyer.form(f"/app/pay/{request_id}", {"from_account": wallet["id"]})
    assert paid.status_code == 303, paid.text
    transfer_id = paid.headers["location"].rsplit("/", 1)[-1]
    again = buyer.form(f"/app/pay/{request_id}", {"from_account": wallet["id"]})
    assert again.headers["location"] == paid.headers["location"]  # pressed twice: one payment
    bank.follow(payer, transfer_id)
    assert "You have paid this request." in buyer.client.get(f"/app/pay/{request_id}").text

    def turned_paid() -> str | None:
        text = merchant.client.get(f"/app/requests/{request_id}?part=1").text
        return text if 'data-state="paid"' in text and 'data-state="final"' in text else None

    live = wait_for(turned_paid)
    assert "$7.25" in live
    key = merchant.key(f"/app/requests/{request_id}")
    payment_id = re.search(r'data-payment="([0-9a-f]{32})"', live)
    assert payment_id
    url = f"/app/requests/{request_id}/payments/{payment_id.group(1)}/refund"
    too_much = merchant.form(url, {"key": key, "amount": "8.00"})
    assert too_much.status_code == 400
    assert "left to refund" in too_much.text, re.findall(r'role="alert">[^<]*', too_much.text)
    refunded = merchant.form(url, {"key": key, "amount": "2.25"})
    assert refunded.status_code == 303, refunded.text
    bank.wait_balance(payer, wallet, "4995.00")


def test_bad_input_is_shown_in_words_and_creates_nothing(bank: ApiBank, customer: User) -> None:
    bank.open_account(customer, "USD")
    browser = Browser(bank)
    assert browser.sign_in(customer).status_code == 303
    for form, words in (
        ({"currency": "USD", "amount": "abc"}, "amount"),
        ({"currency": "USD", "reference": "0xdead"}, "reference"),
        ({"currency": "USD", "expires_in_minutes": "soon"}, "whole number of minutes"),
        ({"currency": "EUR"}, "EUR"),
    ):
        r = browser.form("/app/requests", form)
        assert r.status_code == 400, (form, r.status_code)
        assert words in r.text, (form, r.text[-2000:])
        assert 'value="' + form.get("amount", "") + '"' in r.text  # what was typed stays on the form
    assert bank.client.get("/v1/payment-requests", headers=customer.headers).json() == []


def test_another_customers_request_is_not_there_but_its_pay_page_is(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    shop, _ = funded
    r = bank.client.post(
        "/v1/payment-requests", json={"currency": "USD", "amount": "1.00"}, headers=shop.headers
    )
    request_id = r.json()["id"]
    mallory = Browser(bank)
    assert mallory.sign_in(bank.signup("customer")).status_code == 303
    assert mallory.client.get(f"/app/requests/{request_id}").status_code == 404
    refused = mallory.form(f"/app/requests/{request_id}/cancel")
    assert refused.status_code == 404
    assert (
        bank.client.get(f"/v1/payment-requests/{request_id}", headers=shop.headers).json()["state"] == "open"
    )
    pay = mallory.client.get(f"/app/pay/{request_id}")
    assert pay.status_code == 200
    assert "You need an active USD account" in pay.text
    assert "data-payment" not in pay.text


def test_a_customer_saves_a_bill_pays_it_now_and_schedules_skips_and_cancels(
    bank: ApiBank, operator: User, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    owner = bank.signup()
    into = bank.open_account(owner, "USD")
    biller = bank.client.post(
        "/v1/bank/billers",
        json={
            "account_id": into["id"],
            "name": f"Water {uuid.uuid4().hex[:6]}",
            "category": "utilities",
            "reference_pattern": "W[0-9]{6}",
            "reference_hint": "W and six digits",
        },
        headers=operator.headers,
    ).json()
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    page = browser.client.get("/app/bills")
    assert "W and six digits" in page.text
    wrong = browser.form("/app/bills", {"biller_id": biller["id"], "reference": "123456"})
    assert wrong.status_code == 400
    assert "W and six digits" in wrong.text
    assert 'value="123456"' in wrong.text
    assert bank.client.get("/v1/bills", headers=user.headers).json() == []
    saved = browser.form(
        "/app/bills", {"biller_id": biller["id"], "reference": "W123456", "nickname": "Home water"}
    )
    assert saved.status_code == 303, saved.text
    [bill] = bank.client.get("/v1/bills", headers=user.headers).json()
    now = browser.form(
        f"/app/bills/{bill['id']}/schedule", {"from_account": account["id"], "amount": "3.50", "kind": "once"}
    )
    assert now.status_code == 303, now.text
    [run] = bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()["history"]
    assert bank.follow(user, run["transfer"]["id"])["state"] == "final"
    start = datetime.now(UTC).date() + timedelta(days=2)
    weekly = browser.form(
        f"/app/bills/{bill['id']}/schedule",
        {
            "from_account": account["id"],
            "amount": "1.00",
            "kind": "weekly",
            "start": start.isoformat(),
            "weekday": str(start.weekday()),
        },
    )
    assert weekly.status_code == 303, weekly.text
    page = browser.client.get("/app/bills")
    assert "Home water" in page.text
    assert 'data-state="sent"' in page.text
    schedule = next(
        s
        for s in bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()["schedules"]
        if s["kind"] == "weekly"
    )
    mallory = Browser(bank)
    assert mallory.sign_in(bank.signup("customer")).status_code == 303
    assert mallory.form(f"/app/bill-schedules/{schedule['id']}/cancel").status_code == 404
    assert browser.form(f"/app/bill-schedules/{schedule['id']}/skip").status_code == 303
    assert browser.form(f"/app/bill-schedules/{schedule['id']}/cancel").status_code == 303
    after = bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()
    weekly_after = next(s for s in after["schedules"] if s["kind"] == "weekly")
    assert weekly_after["state"] == "cancelled"
    assert [h["state"] for h in after["history"]] == ["skipped", "sent"]


def test_the_spending_page_shows_the_chart_the_figures_and_takes_a_budget_and_a_rule(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    landlord = bank.open_account(bank.signup(), "USD")
    bank.follow(user, bank.pay(user, account, landlord, "300.00", reference="Rent January"))
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    page = browser.client.get("/app/spending")
    assert page.status_code == 200
    assert 'data-category="housing"' in page.text
    assert "$300.00" in page.text
    chart = browser.client.get("/app/spending/chart.png?currency=USD")
    assert (chart.status_code, chart.content[:8]) == (200, b"\x89PNG\r\n\x1a\n")
    csv_file = browser.client.get("/app/spending/payments.csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    assert "Rent January" in csv_file.text
    budget = browser.form(
        "/app/spending/budgets", {"category": "housing", "currency": "USD", "amount": "250.00"}
    )
    assert budget.status_code == 303, budget.text
    assert 'data-budget="housing" data-crossed="yes"' in browser.client.get("/app/spending").text
    bad = browser.form("/app/spending/rules", {"match": "address", "pattern": "nope", "category": "home"})
    assert bad.status_code == 400
    assert "not an Ethereum address" in bad.text
    rule = browser.form(
        "/app/spending/rules", {"match": "keyword", "pattern": "january", "category": "winter"}
    )
    assert rule.status_code == 303
    assert 'data-category="winter"' in browser.client.get("/app/spending").text
    assert bank.client.get("/v1/spending/rules", headers=user.headers).json()[0]["category"] == "winter"


def test_a_payroll_file_uploaded_on_the_screen_is_paid_or_its_problems_listed(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    employee = bank.signup()
    wallet = bank.open_account(employee, "USD")
    with bank.services.bank.readers() as session:
        debtor = session.get(WalletAccount, account["id"])
    assert debtor is not None
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    wrong = example_pain001(
        f"W-{uuid.uuid4().hex[:8]}", debtor, [("E-1", "Eve", "0" * 32, "1.00", None)], payer="Acme"
    )
    r = browser.form(
        "/app/batches", {"format": "pain.001"}, files={"file": ("p.xml", wrong, "application/xml")}
    )
    assert r.status_code == 400
    assert "data-problems" in r.text
    assert "is not an account of this bank" in r.text
    good = example_pain001(
        f"G-{uuid.uuid4().hex[:8]}", debtor, [("E-1", "Eve", wallet["id"], "9.00", "Salary")], payer="Acme"
    )
    r = browser.form(
        "/app/batches", {"format": "pain.001"}, files={"file": ("p.xml", good, "application/xml")}
    )
    assert r.status_code == 303, r.text
    page = browser.client.get(r.headers["location"])
    assert 'data-line="E-1"' in page.text
    bank.wait_balance(employee, wallet, "9.00")
    report = browser.client.get(r.headers["location"] + "/pain.002")
    assert "attachment" in report.headers["content-disposition"]
    assert b"CstmrPmtStsRpt" in report.content


def test_an_invoice_issued_on_the_screen_is_paid_from_its_link_and_turns_paid(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    buyer, wallet = funded
    seller = bank.signup()
    bank.open_account(seller, "USD")
    shop = Browser(bank)
    assert shop.sign_in(seller).status_code == 303
    form = {
        "number": f"W-{uuid.uuid4().hex[:6]}",
        "currency": "USD",
        "due_date": (datetime.now(UTC).date() + timedelta(days=10)).isoformat(),
        "buyer_name": "Buyer Ltd",
        "buyer_country": "gb",
        "buyer_account": wallet["id"],
        "description_0": "Design work",
        "quantity_0": "3",
        "unit_price_0": "40.00",
        "tax_rate_0": "20",
        "description_1": "",
    }
    bad = shop.form("/app/invoices", {**form, "quantity_0": "three"})
    assert bad.status_code == 400
    assert "quantity" in bad.text
    created = shop.form("/app/invoices", form)
    assert created.status_code == 303, created.text
    invoice_id = created.headers["location"].rsplit("/", 1)[-1]
    page = shop.client.get(created.headers["location"])
    assert 'data-state="open"' in page.text
    assert "$144.00" in page.text
    assert (
        shop.client.get(f"/app/invoices/{invoice_id}/ubl.xml")
        .headers["content-type"]
        .startswith("application/xml")
    )
    payer = Browser(bank)
    assert payer.sign_in(buyer).status_code == 303
    key = payer.key(f"/app/invoices/{invoice_id}/pay")
    paid = payer.form(f"/app/invoices/{invoice_id}/pay", {"key": key, "from_account": wallet["id"]})
    assert paid.status_code == 303, paid.text
    bank.follow(buyer, paid.headers["location"].rsplit("/", 1)[-1])
    wait_for(lambda: 'data-state="paid"' in shop.client.get(f"/app/invoices/{invoice_id}").text)
    mallory = Browser(bank)
    assert mallory.sign_in(bank.signup("customer")).status_code == 303
    assert mallory.client.get(f"/app/invoices/{invoice_id}").status_code == 404
    assert mallory.client.get(f"/app/invoices/{invoice_id}/invoice.pdf").status_code == 404


def test_the_notifications_page_lists_them_and_saves_what_the_customer_hears_about(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, source = funded
    user = bank.signup()
    account = bank.open_account(user, "USD")
    bank.follow(payer, bank.pay(payer, source, account, "6.00", reference="Rent share"))
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    wait_for(lambda: "6.00 USD arrived (Rent share)" in browser.client.get("/app/notifications").text)
    saved = browser.form("/app/notifications", {"money_in:webhook": "1", "bill_due:stream": "1"})
    assert saved.status_code == 303
    chosen = bank.client.get("/v1/notifications/preferences", headers=user.headers).json()
    assert (chosen["money_in"], chosen["bill_due"], chosen["money_out"]) == (["webhook"], ["stream"], [])
    bad = browser.form("/app/notifications/webhooks", {"url": "ftp://example"})
    assert bad.status_code == 400
    added = browser.form("/app/notifications/webhooks", {"url": "https://hooks.example/tdw"})
    assert "data-secret" in added.text
    assert "https://hooks.example/tdw" in browser.client.get("/app/notifications").text


def test_the_points_page_shows_the_statement_and_redeems(bank: ApiBank, operator: User) -> None:
    user = bank.signup()
    wallet = bank.open_account(user, "USD")
    bank.mint(operator, wallet, "30.00")
    bank.wait_balance(user, wallet, "30.00")
    shop = bank.open_account(bank.signup(), "USD")
    category = f"books-{uuid.uuid4().hex[:6]}"
    bank.client.post(
        "/v1/bank/merchant-categories",
        json={"address": shop["address"], "category": category},
        headers=operator.headers,
    )
    bank.client.post(
        "/v1/bank/points-rules",
        json={"name": "Readers", "category": category, "points_per_unit": 20},
        headers=operator.headers,
    )
    bank.follow(user, bank.pay(user, wallet, shop, "10.00"))
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    wait_for(lambda: "data-points>200<" in browser.client.get("/app/points").text)
    key = browser.key("/app/points")
    bad = browser.form("/app/points/redeem", {"key": key, "account_id": wallet["id"], "amount": "500"})
    assert bad.status_code == 400
    assert "you have 200 points" in bad.text
    ok = browser.form(
        "/app/points/redeem", {"key": browser.key("/app/points"), "account_id": wallet["id"], "amount": "200"}
    )
    assert ok.status_code == 303, ok.text
    assert 'data-kind="redeem"' in browser.client.get("/app/points").text
    bank.wait_balance(user, wallet, "22.00")
