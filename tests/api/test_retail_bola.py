"""Every everyday-banking route that names something in its path (a payment request, a bill, a schedule,
an invoice, a batch, a rule, a budget, a webhook), read from the OpenAPI document and called by a
customer who does not own it with the owner's ids: not found, and nothing moved. The routes a payer
needs (a payment request's and an invoice's pay page) answer without showing the owner's data. A route
added later without an entry here fails the test until it gets one."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from tests.support.api_bank import ApiBank, User

PREFIXES = (
    "/v1/payment-requests",
    "/v1/bills",
    "/v1/bill-schedules",
    "/v1/invoices",
    "/v1/batches",
    "/v1/points",
    "/v1/spending",
    "/v1/notifications",
)
# What a stranger may reach: the pay pages of a request and of an invoice (a payer holds only the link).
FOR_PAYERS = {
    ("GET", "/v1/payment-requests/{request_id}/pay"),
    ("POST", "/v1/payment-requests/{request_id}/pay"),
    ("GET", "/v1/invoices/{invoice_id}/pay"),
    ("POST", "/v1/invoices/{invoice_id}/pay"),
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/payment-requests/{request_id}/cancel"): {},
    ("POST", "/v1/payment-requests/{request_id}/payments/{payment_id}/refunds"): {"amount": "0.10"},
    ("POST", "/v1/bills/{bill_id}/schedules"): {
        "from_account": "{stranger_account}",
        "amount": "1.00",
        "kind": "once",
    },
    ("POST", "/v1/bill-schedules/{schedule_id}/skip"): {},
    ("POST", "/v1/bill-schedules/{schedule_id}/cancel"): {},
}


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _owned(bank: ApiBank, operator: User) -> tuple[User, dict[str, Any], dict[str, str]]:
    """A corporate customer with one of everything, and a payer who paid its request; the ids by the
    names the routes give them."""
    owner, payer, utility = bank.signup(), bank.signup(), bank.signup()
    account = bank.open_account(owner, "USD")
    payer_account = bank.open_account(payer, "USD")
    utility_account = bank.open_account(utility, "USD")
    bank.mint(operator, account, "50.00")
    bank.mint(operator, payer_account, "50.00")
    bank.wait_balance(owner, account, "50.00")
    bank.wait_balance(payer, payer_account, "50.00")
    headers = owner.headers
    client = bank.client

    request = _created(
        client.post(
            "/v1/payment-requests",
            json={"currency": "USD", "amount": "1.00", "reference": "BOLA-1"},
            headers=headers,
        )
    )
    paid = client.post(f"/v1/payment-requests/{request['id']}/pay", json={}, headers=payer.headers)
    bank.follow(payer, _created(paid)["id"])
    payments = client.get(f"/v1/payment-requests/{request['id']}", headers=headers).json()["payments"]
    biller = _created(
        client.post(
            "/v1/bank/billers",
            json={
                "account_id": utility_account["id"],
                "name": f"Bola Power {uuid.uuid4().hex[:6]}",
                "category": "utilities",
                "reference_pattern": "BP-[0-9]{4}",
                "reference_hint": "BP- and 4 digits",
            },
            headers=operator.headers,
        )
    )
    bill = _created(
        client.post("/v1/bills", json={"biller_id": biller["id"], "reference": "BP-1234"}, headers=headers)
    )
    schedule = _created(
        client.post(
            f"/v1/bills/{bill['id']}/schedules",
            json={
                "from_account": account["id"],
                "amount": "1.00",
                "kind": "monthly",
                "day": 15,
                "start": "2031-01-01",
            },
            headers=headers,
        )
    )
    invoice = _created(
        client.post(
            "/v1/invoices",
            json={
                "number": f"BOLA-{uuid.uuid4().hex[:6]}",
                "currency": "USD",
                "buyer_name": "Buyer GmbH",
                "buyer_country": "DE",
                "lines": [{"description": "Tea", "quantity": "1", "unit_price": "2.00", "tax_rate": "7.7"}],
                "due_date": (date.today() + timedelta(days=30)).isoformat(),
            },
            headers=headers,
        )
    )
    rows = "end_to_end_id,name,to_account,to_address,amount,currency,reference\n"
    rows += f"B-1,Pat,{payer_account['id']},,1.00,USD,Bonus\n"
    batch = _created(
        client.post(
            "/v1/batches",
            files={"file": ("batch.csv", rows.encode(), "text/csv")},
            data={
                "format": "csv",
                "message_id": f"BOLA-{uuid.uuid4().hex[:8]}",
                "from_account": account["id"],
            },
            headers=headers,
        )
    )
    for line in batch["lines"]:  # settled before the owner's balance is read
        bank.follow(owner, line["transfer_id"])
    rule = _created(
        client.post(
            "/v1/spending/rules",
            json={"match": "keyword", "pattern": "BOLA", "category": "misc"},
            headers=headers,
        )
    )
    budget = _created(
        client.put(
            "/v1/spending/budgets",
            json={"category": "misc", "currency": "USD", "amount": "5.00"},
            headers=headers,
        )
    )
    hook = _created(
        client.post("/v1/notifications/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
    )
    ids = {
        "request_id": request["id"],
        "payment_id": payments[0]["id"],
        "bill_id": bill["id"],
        "schedule_id": schedule["id"],
        "invoice_id": invoice["id"],
        "batch_id": batch["id"],
        "rule_id": rule["id"],
        "budget_id": budget["id"],
        "webhook_id": hook["id"],
        "kind": "png",
    }
    return owner, account, ids


def _routes(bank: ApiBank) -> list[tuple[str, str]]:
    paths = bank.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(PREFIXES) and "_id}" in path  # names something (a chart's {kind} does not)
        for method in operations
    ]


def test_a_stranger_reaches_nothing_of_a_customers_everyday_banking(bank: ApiBank, operator: User) -> None:
    owner, account, ids = _owned(bank, operator)
    before = bank.client.get(f"/v1/accounts/{account['id']}/balance", headers=owner.headers).json()["balance"]
    mine = {
        prefix: bank.client.get(prefix, headers=owner.headers).text
        for prefix in ("/v1/payment-requests", "/v1/bills", "/v1/invoices", "/v1/batches")
    }
    stranger = bank.signup()
    ids["stranger_account"] = bank.open_account(stranger, "USD")["id"]
    routes = _routes(bank)
    assert len(routes) >= 20, routes
    for method, path in routes:
        missing = {name for name in _names(path) if name not in ids}
        assert not missing, f"{method} {path}: give {missing} an owned id in _owned"
        body = BODIES.get((method, path), {} if method in ("POST", "PUT", "PATCH") else None)
        if body is not None:
            body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
        r = bank.client.request(
            method,
            path.format(**ids),
            json=body,
            headers={**stranger.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        if (method, path) in FOR_PAYERS:
            assert r.status_code in (200, 201, 404, 409, 422), (method, path, r.text)
            assert account["id"] not in r.text, (method, path, r.text)
            assert "payments" not in r.text, (method, path, r.text)
            continue
        assert r.status_code == 404, (method, path, r.status_code)
        assert r.json()["type"] == "urn:tdw:problem:not-found", (method, path, r.text)
    # Nothing the stranger did changed the owner's things or money.
    after = bank.client.get(f"/v1/accounts/{account['id']}/balance", headers=owner.headers).json()["balance"]
    assert after == before
    for prefix, text in mine.items():
        assert bank.client.get(prefix, headers=owner.headers).text == text, prefix
    assert bank.client.get("/v1/spending/rules", headers=owner.headers).json()[0]["id"] == ids["rule_id"]
    hooks = bank.client.get("/v1/notifications/webhooks", headers=owner.headers).json()
    assert ids["webhook_id"] in {h["id"] for h in hooks}


def _names(path: str) -> list[str]:
    return [part[1:-1] for part in path.replace(".", "/").split("/") if part.startswith("{")]
