"""Notifications: by default money in is told on the stream; a customer turns a kind off, or sends it to
their own webhook instead (signed, retried until delivered, not on their stream); each notification is
written once, also with three notifiers running; a bill due tomorrow is told once; bad choices are
refused and another customer's webhook is not there for them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from sqlalchemy import select

from tests.support.api_bank import ApiBank, User
from tests.support.clock import ManualClock
from tests.support.waiting import wait_for
from wallet.bank.events import on_stream
from wallet.bank.users import Principal
from wallet.bank.webhooks import SIGNATURE_HEADER, verify
from wallet.db.models import Event, Notification
from wallet.retail.bills import BillPay
from wallet.retail.notifications import Notifications
from wallet.vocabulary import Role


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        self.send_response(500 if len(type(self).calls) == 1 else 204)  # the first attempt fails
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _notes(bank: ApiBank, user: User) -> list[dict[str, Any]]:
    return list(bank.client.get("/v1/notifications", headers=user.headers).json())


def test_money_in_is_told_on_the_stream_then_only_on_the_customers_webhook_or_not_at_all(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, source = funded
    user = bank.signup()
    account = bank.open_account(user, "USD")
    assert bank.client.get("/v1/notifications/preferences", headers=user.headers).json()["money_in"] == [
        "stream"
    ]
    bank.follow(payer, bank.pay(payer, source, account, "3.00", reference="Gift"))
    [note] = wait_for(lambda: _notes(bank, user) or None)
    assert (note["kind"], note["message"], note["channels"]) == (
        "money_in",
        "3.00 USD arrived (Gift)",
        ["stream"],
    )
    feed = bank.services.feed
    [told] = [e for e in feed.since(user.user_id, 0, 1000) if e.type == "notification"]
    assert on_stream(told)

    # Off: nothing more is told of money in.
    off = bank.client.put(
        "/v1/notifications/preferences", json={"channels": {"money_in": []}}, headers=user.headers
    )
    assert off.json()["money_in"] == []
    bank.follow(payer, bank.pay(payer, source, account, "1.00"))
    wait_for(
        lambda: (
            [
                e
                for e in feed.since(user.user_id, 0, 1000)
                if e.type == "funds.received" and e.payload["amount"] == "1.00"
            ]
            or None
        )
    )
    bank.services.notifications.step()  # past that event, with money in off
    assert len(_notes(bank, user)) == 1

    # To their own webhook only: signed, delivered after a failed first attempt, not on their stream.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.calls = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hook = bank.client.post("/v1/notifications/webhooks", json={"url": url}, headers=user.headers)
        assert hook.status_code == 201, hook.text
        bank.client.put(
            "/v1/notifications/preferences",
            json={"channels": {"money_in": ["webhook"]}},
            headers=user.headers,
        )
        bank.follow(payer, bank.pay(payer, source, account, "2.50", reference="Invoice 7"))

        def delivered() -> list[dict[str, Any]] | None:
            bodies = [json.loads(body) for _, body in _Receiver.calls]
            good = [b for b in bodies if b["data"]["message"] == "2.50 USD arrived (Invoice 7)"]
            return good if len(good) >= 2 else None  # the failed attempt, then the delivery

        bodies = wait_for(delivered)
        assert {b["type"] for b in bodies} == {"notification"}
        assert len({b["id"] for b in bodies}) == 1  # one event, delivered at least once
        for headers, body in _Receiver.calls:
            assert verify(hook.json()["secret"], headers[SIGNATURE_HEADER], body)
        webhook_only = [e for e in feed.since(user.user_id, 0, 1000) if e.type == "notification"][-1]
        assert not on_stream(webhook_only)
        # Nobody else's notifications reach it, and the bank's own webhook list does not show it.
        assert all(json.loads(b)["data"]["message"].endswith("(Invoice 7)") for _, b in _Receiver.calls)
        operator_view = bank.client.get("/v1/webhooks", headers=bank.signup("operator").headers).json()
        assert hook.json()["id"] not in {w["id"] for w in operator_view}
        other = bank.signup()
        r = bank.client.delete(f"/v1/notifications/webhooks/{hook.json()['id']}", headers=other.headers)
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found")
        assert (
            bank.client.delete(
                f"/v1/notifications/webhooks/{hook.json()['id']}", headers=user.headers
            ).status_code
            == 204
        )
    finally:
        server.shutdown()


def test_each_notification_is_written_once_with_three_notifiers(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    payer, source = funded
    user = bank.signup()
    account = bank.open_account(user, "USD")
    extra = [Notifications(bank.services.bank, bank.services.webhooks) for _ in range(2)]
    stop = threading.Event()

    def run(n: Notifications) -> None:
        while not stop.is_set():
            n.step()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in extra]
    for t in threads:
        t.start()
    try:
        for n in range(4):
            bank.follow(payer, bank.pay(payer, source, account, f"1.0{n}"))
        bank.wait_balance(user, account, "4.06")
        wait_for(lambda: len(_notes(bank, user)) == 4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    with bank.services.bank.readers() as session:
        rows = list(session.scalars(select(Notification).where(Notification.user_id == user.user_id)))
        told = list(
            session.scalars(select(Event).where(Event.user_id == user.user_id, Event.type == "notification"))
        )
    assert len(rows) == len({r.source_event_id for r in rows}) == 4
    assert len(told) == 4


def test_a_bill_due_tomorrow_is_told_once(
    bank: ApiBank, operator: User, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    owner = bank.signup()
    into = bank.open_account(owner, "USD")
    biller = bank.client.post(
        "/v1/bank/billers",
        json={
            "account_id": into["id"],
            "name": f"Phone {uuid.uuid4().hex[:6]}",
            "category": "telecom",
            "reference_pattern": "[0-9]{6}",
            "reference_hint": "six digits",
        },
        headers=operator.headers,
    ).json()
    bill = bank.client.post(
        "/v1/bills", json={"biller_id": biller["id"], "reference": "123456"}, headers=user.headers
    ).json()
    services = bank.services
    clock = ManualClock(datetime(2032, 3, 9, 12, tzinfo=UTC))
    pay = BillPay(services.bank, services.accounts, services.payments, clock=clock)
    pay.schedule(
        Principal(user.user_id, user.username, Role.CUSTOMER),
        bill["id"],
        from_account=account["id"],
        amount="9.99",
        kind="monthly",
        day=10,
    )
    pay.step()
    pay.step()
    due = [e for e in services.feed.since(user.user_id, 0, 10_000) if e.type == "bill.due"]
    assert len(due) == 1
    assert (due[0].payload["due_date"], due[0].payload["amount"]) == ("2032-03-10", "9.99")
    note = wait_for(lambda: [n for n in _notes(bank, user) if n["kind"] == "bill_due"] or None)
    assert "is paid tomorrow" in note[0]["message"]


def test_bad_choices_are_refused(bank: ApiBank) -> None:
    user = bank.signup()
    for channels in ({"money_sideways": ["stream"]}, {"money_in": ["carrier pigeon"]}):
        r = bank.client.put(
            "/v1/notifications/preferences", json={"channels": channels}, headers=user.headers
        )
        assert (r.status_code, r.json()["type"]) == (422, "urn:tdw:problem:invalid-request"), channels
    r = bank.client.post(
        "/v1/notifications/webhooks", json={"url": "file:///etc/passwd"}, headers=user.headers
    )
    assert r.status_code == 422
    assert bank.client.get("/v1/notifications/preferences", headers=user.headers).json()["money_in"] == [
        "stream"
    ]
