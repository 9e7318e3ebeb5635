"""Transaction monitoring on a real chain: transfers through the API become journal entries, the monitor
raises explained alerts within seconds, files them into cases, tells the staff's event stream, and a
monitor that reads everything again stores nothing twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.compliance.monitoring import MOVEMENTS_CURSOR, NEWS_CURSOR, Monitor
from wallet.db.models import Alert, AuditRecord, Event, EventCursor
from wallet.errors import MonitorRaceError


def _send(bank: ApiBank, payer: User, source: dict[str, Any], target: dict[str, Any], amount: str) -> str:
    body = {
        "from_account": source["id"],
        "to_account": target["id"],
        "amount": amount,
        "currency": "USD",
        "totp": payer.code(),
    }
    r = bank.client.post(
        "/v1/transfers", json=body, headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _alerts(bank: ApiBank, officer: User, subject: str) -> list[dict[str, Any]]:
    r = bank.client.get("/v1/compliance/alerts", params={"subject": subject}, headers=officer.headers)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_transfers_on_chain_raise_explained_alerts_filed_into_cases(bank: ApiBank, operator: User) -> None:
    officer = bank.signup("compliance")
    alice, bob, carol, dave = (bank.signup(tier="premium"), bank.signup(), bank.signup(), bank.signup())
    accounts = {u.username: bank.open_account(u) for u in (alice, bob, carol, dave)}
    a, b, c, d = (accounts[u.username] for u in (alice, bob, carol, dave))
    bank.mint(operator, a, "20000.00")
    bank.mint(operator, b, "100.00")
    bank.mint(operator, c, "100.00")
    for user, account, amount in ((alice, a, "20000.00"), (bob, b, "100.00"), (carol, c, "100.00")):
        bank.wait_balance(user, account, amount)
    bank.follow(alice, bank.pay(alice, a, b, "1.00"))  # bob is no longer a new payee for alice
    large = bank.follow(alice, _send(bank, alice, a, b, "12000.00"))
    assert large["state"] == "final", large

    found = wait_for(lambda: _alerts(bank, officer, a["address"]) or None)
    alert = found[0]
    assert alert["typology"] == "large_transfer"
    assert alert["severity"] == "medium"
    assert alert["user_id"] == alice.user_id
    assert alert["figures"] == {"amount": "12000.00 USD", "threshold": "10000.00 USD"}
    assert alert["movements"][0]["tx_hash"] == large["tx_hash"]
    assert "reporting threshold" in alert["explanation"]

    # The case: alice's, due in 14 days (a medium alert), with the alert in its file.
    r = bank.client.get(f"/v1/compliance/cases/{alert['case_id']}", headers=officer.headers)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["case"]["user_id"] == alice.user_id
    assert case["case"]["state"] == "open"
    due = datetime.fromisoformat(case["case"]["due_at"])
    assert abs(due - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=5)
    assert [i["kind"] for i in case["items"]] == ["alert"]
    # Customers and operators see no alerts.
    assert bank.client.get("/v1/compliance/alerts", headers=alice.headers).status_code == 403
    assert bank.client.get("/v1/compliance/cases", headers=operator.headers).status_code == 403

    # One hop from a blocked address: bob pays dave, bob is blocked, then carol pays dave.
    bank.wait_balance(bob, b, "12101.00")
    bank.follow(bob, bank.pay(bob, b, d, "5.00"))
    registry = bank.services.bank.registry
    bank.chain_act("compliance", registry.functions.setBlocked(b["address"], True))
    bank.follow(carol, bank.pay(carol, c, d, "10.00"))
    near = wait_for(lambda: _alerts(bank, officer, c["address"]) or None)
    assert [x["typology"] for x in near] == ["blocked_proximity"]
    assert near[0]["figures"] == {"counterparty": d["address"], "hops_from_blocked": 1}

    with bank.services.bank.readers() as session:
        rows = list(session.scalars(select(Event).where(Event.type == "alert.raised")))
        events = [e.payload for e in rows]
        owners = {e.user_id for e in rows}
        audited = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "alert.raised")
        )
        stored = session.scalar(select(func.count()).select_from(Alert))
    assert {e["alert"] for e in events} >= {alert["id"], near[0]["id"]}
    assert owners == {None}  # staff events: every staff stream and operator webhook gets them
    assert audited == stored

    # A monitor that starts again from nothing reads every entry again and stores no alert twice.
    with bank.services.bank.sessions.begin() as session:
        session.execute(
            update(EventCursor)
            .where(EventCursor.name.in_((MOVEMENTS_CURSOR, NEWS_CURSOR)))
            .values(position=0)
        )
    services = bank.services
    again = Monitor(services.bank, services.policy, services.cases)

    def caught_up() -> bool | None:
        # The bank's own monitor reads again too; whichever moves the cursor second starts over.
        try:
            while again.step():
                pass
        except MonitorRaceError:
            return None
        return True

    wait_for(caught_up)
    with bank.services.bank.readers() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == stored
