import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.bank.events import EventPump
from wallet.bank.webhooks import SIGNATURE_HEADER, verify


def test_transfer_states_and_incoming_funds_become_events_for_their_customers(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    payer, account = funded
    target = bank.open_account(customer)
    r = bank.client.post(
        "/v1/transfers",
        json={"from_account": account["id"], "to_account": target["id"], "amount": "2.00", "currency": "USD"},
        headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    transfer_id = r.json()["id"]
    feed = bank.services.feed

    def states() -> list[str] | None:
        seen = [
            e.payload["state"]
            for e in feed.since(payer.user_id, 0, 1000)
            if e.type == "transfer.state" and e.payload["transfer_id"] == transfer_id
        ]
        return seen if seen and seen[-1] == "final" else None

    seen = wait_for(states)
    # The pump reports the states it observes, in lifecycle order, each once; a state passed between
    # two of its passes is folded into the next one (a busy machine may see only "final").
    lifecycle = ["pending", "submitted", "executed", "confirmed", "final"]
    assert seen == sorted(set(seen), key=lifecycle.index)
    received = wait_for(
        lambda: [e for e in feed.since(customer.user_id, 0, 1000) if e.type == "funds.received"]
    )
    assert received[0].payload["amount"] == "2.00"
    assert received[0].payload["account_id"] == target["id"]
    # Nobody else's events leak into a customer's feed.
    assert all(e.user_id == customer.user_id for e in feed.since(customer.user_id, 0, 1000))


def test_pumps_running_side_by_side_publish_each_state_once(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], customer: User
) -> None:
    """Two more pumps beside the workers' own, as with several API processes: every state of every
    transfer is still published exactly once."""
    payer, account = funded
    target = bank.open_account(customer)
    stop = threading.Event()

    def pump() -> None:
        extra = EventPump(bank.services.bank, bank.services.payments)
        while not stop.is_set():
            extra.step()

    extras = [threading.Thread(target=pump, daemon=True) for _ in range(2)]
    for thread in extras:
        thread.start()
    try:
        ids = []
        for n in range(6):
            r = bank.client.post(
                "/v1/transfers",
                json={
                    "from_account": account["id"],
                    "to_account": target["id"],
                    "amount": f"1.0{n}",
                    "currency": "USD",
                },
                headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        feed = bank.services.feed

        def published() -> dict[str, list[str]] | None:
            states: dict[str, list[str]] = {i: [] for i in ids}
            for e in feed.since(payer.user_id, 0, 1000):
                if e.type == "transfer.state" and e.payload["transfer_id"] in states:
                    states[e.payload["transfer_id"]].append(e.payload["state"])
            return states if all(s and s[-1] == "final" for s in states.values()) else None

        states = wait_for(published)
    finally:
        stop.set()
        for thread in extras:
            thread.join()
    for seen in states.values():
        assert len(seen) == len(set(seen)), states


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        status = 500 if type(self).fail_first and len(type(self).calls) == 1 else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_are_signed_and_retried_until_delivered(
    bank: ApiBank, operator: User, customer: User, funded: tuple[User, dict[str, Any]]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.calls = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        assert (
            bank.client.post("/v1/webhooks", json={"url": url}, headers=customer.headers).status_code == 403
        )
        created = bank.client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["transfer.state"]}, headers=operator.headers
        )
        assert created.status_code == 201
        secret, hook_id = created.json()["secret"], created.json()["id"]
        payer, account = funded
        r = bank.client.post(
            "/v1/transfers",
            json={
                "from_account": account["id"],
                "to_address": bank.services.bank.role_address("burner"),
                "amount": "1.00",
                "currency": "USD",
            },
            headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        transfer_id = r.json()["id"]

        def delivered_final() -> bool:
            for _, body in _Receiver.calls:
                event = json.loads(body)
                if event["data"]["transfer_id"] == transfer_id and event["data"]["state"] in (
                    "final",
                    "failed",
                ):
                    return True
            return False

        wait_for(delivered_final)
        for headers, body in _Receiver.calls:
            assert verify(secret, headers[SIGNATURE_HEADER], body)
            assert not verify("whsec_wrong", headers[SIGNATURE_HEADER], body)
            assert json.loads(body)["type"] == "transfer.state"

        def first_delivery() -> dict[str, Any] | None:
            deliveries = bank.client.get(
                f"/v1/webhooks/{hook_id}/deliveries", headers=operator.headers
            ).json()
            first = min(deliveries, key=lambda d: d["id"])
            return first if first["status"] != "pending" else None

        first = wait_for(first_delivery)
        assert first["status"] == "delivered"
        assert first["attempts"] == 2
        assert first["last_status_code"] == 204
        # The first event arrived twice (500, then the retry): receivers deduplicate on the event id.
        ids = [h["X-TDW-Event-Id"] for h, _ in _Receiver.calls]
        assert ids.count(ids[0]) == 2
        assert bank.client.delete(f"/v1/webhooks/{hook_id}", headers=operator.headers).status_code == 204
        hooks = {w["id"]: w for w in bank.client.get("/v1/webhooks", headers=operator.headers).json()}
        assert hooks[hook_id]["active"] is False
    finally:
        server.shutdown()


def test_webhook_urls_must_be_http(bank: ApiBank, operator: User) -> None:
    r = bank.client.post("/v1/webhooks", json={"url": "file:///etc/passwd"}, headers=operator.headers)
    assert r.status_code == 422


def test_an_event_position_beyond_any_event_id_is_422(bank: ApiBank, customer: User) -> None:
    r = bank.client.get("/v1/events", params={"after": str(2**63)}, headers=customer.headers)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
