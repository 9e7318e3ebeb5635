"""Bill pay: an operator registers a biller with its reference format, a customer saves a bill (the
reference checked on entry) and pays it now, on a date or on a schedule. Schedulers on an injected
clock: monthly on the 31st falls on the last day of shorter months; two schedulers stepping at the
same moment pay each due date once; a scheduler that died after its claim is finished by the next with
the same transfer; funds short are retried after 1, 6 and 24 hours and then given up with the customer
told. Skip, cancel and history; bad input refused with nothing stored; another customer reaches
nothing."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.api_bank import ApiBank, User
from tests.support.clock import ManualClock
from tests.support.waiting import wait_for
from wallet.bank.users import Principal
from wallet.db.models import BillRun
from wallet.retail.bills import BillPay, first_date, next_date
from wallet.vocabulary import Role, ScheduleKind


def test_monthly_on_a_day_a_month_lacks_falls_on_its_last_day_and_weekly_on_the_weekday() -> None:
    dates = [first_date(ScheduleKind.MONTHLY, date(2027, 1, 5), day=31, weekday=None)]
    for _ in range(4):
        following = next_date(ScheduleKind.MONTHLY, dates[-1], day=31, weekday=None)
        assert following is not None
        dates.append(following)
    assert dates == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    leap = next_date(ScheduleKind.MONTHLY, date(2028, 1, 30), day=30, weekday=None)
    assert leap == date(2028, 2, 29)
    assert first_date(ScheduleKind.MONTHLY, date(2027, 3, 15), day=15, weekday=None) == date(2027, 3, 15)
    assert next_date(ScheduleKind.MONTHLY, date(2027, 12, 15), day=15, weekday=None) == date(2028, 1, 15)
    # Weekly on Friday (4) from a Wednesday, and from a Friday: that day, then a week on.
    assert first_date(ScheduleKind.WEEKLY, date(2027, 1, 6), day=None, weekday=4) == date(2027, 1, 8)
    assert first_date(ScheduleKind.WEEKLY, date(2027, 1, 8), day=None, weekday=4) == date(2027, 1, 8)
    assert next_date(ScheduleKind.WEEKLY, date(2027, 1, 8), day=None, weekday=4) == date(2027, 1, 15)
    assert next_date(ScheduleKind.ONCE, date(2027, 1, 8), day=None, weekday=None) is None


@pytest.fixture(scope="module")
def biller(bank: ApiBank, operator: User) -> dict[str, Any]:
    power = bank.signup()
    account = bank.open_account(power, "USD")
    r = bank.client.post(
        "/v1/bank/billers",
        json={
            "account_id": account["id"],
            "name": f"Power Co {uuid.uuid4().hex[:6]}",
            "category": "utilities",
            "reference_pattern": "PC-[0-9]{8}",
            "reference_hint": "PC- and the 8 digits of your contract",
        },
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "owner": power, "account": account}


def _customer(bank: ApiBank, operator: User, amount: str = "100.00") -> tuple[User, dict[str, Any]]:
    user = bank.signup()
    account = bank.open_account(user, "USD")
    if amount != "0":
        bank.mint(operator, account, amount)
        bank.wait_balance(user, account, amount)
    return user, account


def _bill(
    bank: ApiBank, user: User, biller: dict[str, Any], reference: str = "PC-00001234"
) -> dict[str, Any]:
    r = bank.client.post(
        "/v1/bills", json={"biller_id": biller["id"], "reference": reference}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _principal(user: User) -> Principal:
    return Principal(user.user_id, user.username, Role.CUSTOMER)


def _runs(bank: ApiBank, schedule_id: str) -> list[BillRun]:
    with bank.services.bank.readers() as session:
        return list(
            session.scalars(
                select(BillRun).where(BillRun.schedule_id == schedule_id).order_by(BillRun.due_date)
            )
        )


def test_a_bill_saved_with_its_reference_is_paid_now_with_it(
    bank: ApiBank, operator: User, biller: dict[str, Any]
) -> None:
    user, account = _customer(bank, operator)
    listed = bank.client.get("/v1/billers", headers=user.headers).json()
    assert any(b["id"] == biller["id"] and b["reference_hint"].startswith("PC-") for b in listed)
    wrong = bank.client.post(
        "/v1/bills", json={"biller_id": biller["id"], "reference": "12345678"}, headers=user.headers
    )
    assert (wrong.status_code, wrong.json()["type"]) == (422, "urn:tdw:problem:invalid-request")
    assert "PC- and the 8 digits" in wrong.json()["detail"]
    bill = _bill(bank, user, biller)
    again = bank.client.post(
        "/v1/bills", json={"biller_id": biller["id"], "reference": "PC-00001234"}, headers=user.headers
    )
    assert again.status_code == 409
    r = bank.client.post(
        f"/v1/bills/{bill['id']}/schedules",
        json={"from_account": account["id"], "amount": "12.34", "kind": "once"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "done"
    history = bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()["history"]
    [run] = history
    assert run["state"] == "sent"
    transfer = bank.follow(user, run["transfer"]["id"])
    assert (transfer["state"], transfer["reference"], transfer["amount"]) == ("final", "PC-00001234", "12.34")
    assert transfer["payee"] == biller["account"]["address"]
    bank.wait_balance(user, account, "87.66")
    told = wait_for(
        lambda: [e for e in bank.services.feed.since(user.user_id, 0, 1000) if e.type == "bill.paid"]
    )
    assert told[0].payload["transfer_id"] == transfer["id"]


def test_two_schedulers_pay_each_due_date_once_and_a_dead_ones_claim_is_finished_once(
    bank: ApiBank, operator: User, biller: dict[str, Any]
) -> None:
    user, account = _customer(bank, operator)
    bill = _bill(bank, user, biller, "PC-00005678")
    services = bank.services
    clock = ManualClock(datetime(2031, 1, 30, 9, 0, tzinfo=UTC))  # ahead of the workers' real clock
    first, second = (
        BillPay(services.bank, services.accounts, services.payments, clock=clock) for _ in range(2)
    )
    schedule = first.schedule(
        _principal(user), bill["id"], from_account=account["id"], amount="5.00", kind="monthly", day=31
    )
    assert schedule["next_due"] == "2031-01-31"
    first.step()  # the 30th: the customer is told of tomorrow's payment, nothing is paid
    assert _runs(bank, schedule["id"]) == []

    def together() -> None:
        gate = threading.Barrier(2)

        def run(pay: BillPay) -> None:
            gate.wait()
            pay.step()

        threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for moment in (datetime(2031, 1, 31, 0, 1, tzinfo=UTC), datetime(2031, 2, 28, 6, tzinfo=UTC)):
        clock.now = moment
        together()
        together()  # and again: nothing more
        # A scheduler that read the due list before the other claimed it (a race, made certain here)
        # claims nothing: not this date again, nor the next one early.
        assert second._claim(clock(), [schedule["id"]]) == 0
    # 31 March: the first scheduler claims and dies before it sends; a restarted one finishes it.
    clock.now = datetime(2031, 3, 31, 8, tzinfo=UTC)
    assert first._claim(clock()) == 1
    [*_, claimed] = _runs(bank, schedule["id"])
    assert (claimed.due_date, claimed.state.value) == (date(2031, 3, 31), "claimed")
    # Any scheduler finishes it (the workers' own may be first): with the claim's key, so once.
    restarted = BillPay(services.bank, services.accounts, services.payments, clock=clock)
    restarted.step()
    second.step()
    wait_for(lambda: _runs(bank, schedule["id"])[-1].state.value == "sent")
    runs = _runs(bank, schedule["id"])
    assert [(r.due_date.isoformat(), r.state.value) for r in runs] == [
        ("2031-01-31", "sent"),
        ("2031-02-28", "sent"),
        ("2031-03-31", "sent"),
    ]
    assert len({r.transfer_id for r in runs}) == 3
    for r in runs:
        assert r.transfer_id is not None
        assert bank.follow(user, r.transfer_id)["state"] == "final"
    bank.wait_balance(user, account, "85.00")
    view = bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()
    assert view["schedules"][0]["next_due"] == "2031-04-30"


def test_funds_short_are_retried_after_1_6_and_24_hours_then_given_up_and_told(
    bank: ApiBank, operator: User, biller: dict[str, Any]
) -> None:
    user, account = _customer(bank, operator, "3.00")
    bill = _bill(bank, user, biller, "PC-00009999")
    services = bank.services
    clock = ManualClock(datetime(2031, 6, 1, 9, 0, tzinfo=UTC))
    pay = BillPay(services.bank, services.accounts, services.payments, clock=clock)
    start = date(2031, 6, 2)
    schedule = pay.schedule(
        _principal(user),
        bill["id"],
        from_account=account["id"],
        amount="5.00",
        kind="weekly",
        weekday=start.weekday(),
        start=start,
    )
    clock.now = datetime(2031, 6, 2, 0, 5, tzinfo=UTC)
    pay.step()
    waits: list[timedelta] = []
    for hours in (1, 6, 24):
        [run] = _runs(bank, schedule["id"])
        assert (run.state.value, run.attempts) == ("retrying", len(waits) + 1)
        assert run.next_attempt_at is not None
        waits.append(run.next_attempt_at.replace(tzinfo=UTC) - clock())
        clock.advance(hours * 3600 - 1)
        pay.step()  # not yet
        assert _runs(bank, schedule["id"])[0].attempts == len(waits)
        clock.advance(1)
        pay.step()
    assert waits == [timedelta(hours=1), timedelta(hours=6), timedelta(hours=24)]
    [run] = _runs(bank, schedule["id"])
    assert (run.state.value, run.attempts, run.transfer_id) == ("failed", 4, None)
    assert "available balance" in (run.error or "")
    told = [e for e in services.feed.since(user.user_id, 0, 1000) if e.type == "bill.failed"]
    assert len(told) == 1
    assert told[0].payload["due_date"] == "2031-06-02"
    assert bank.balance(user, account) == "3.00"
    # The next week is paid once the money is there: a retry that finds it sends.
    bank.mint(operator, account, "10.00")
    bank.wait_balance(user, account, "13.00")
    clock.now = datetime(2031, 6, 9, 1, tzinfo=UTC)
    pay.step()
    sent = _runs(bank, schedule["id"])[1]
    assert (sent.due_date, sent.state.value) == (date(2031, 6, 9), "sent")


def test_skip_cancel_and_bad_input(bank: ApiBank, operator: User, biller: dict[str, Any]) -> None:
    user, account = _customer(bank, operator, "20.00")
    bill = _bill(bank, user, biller, "PC-00004444")
    url = f"/v1/bills/{bill['id']}/schedules"
    euros = bank.open_account(user, "EUR")
    today = datetime.now(UTC).date()
    bad: list[dict[str, Any]] = [
        {"kind": "monthly"},
        {"kind": "monthly", "day": 0},
        {"kind": "monthly", "day": 32},
        {"kind": "weekly", "weekday": 7},
        {"kind": "yearly"},
        {"kind": "once", "start": (today - timedelta(days=1)).isoformat()},
        {
            "kind": "monthly",
            "day": 1,
            "until": today.isoformat(),
            "start": (today + timedelta(days=2)).isoformat(),
        },
        {"kind": "once", "amount": "-1"},
        {"kind": "once", "amount": "0.001"},
        {"kind": "once", "from_account": euros["id"]},
        {"kind": "once", "from_account": "nope"},
    ]
    for body in bad:
        r = bank.client.post(
            url, json={"from_account": account["id"], "amount": "1.00", **body}, headers=user.headers
        )
        assert r.status_code in (404, 422), (body, r.text)
    assert bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()["schedules"] == []
    start = today + timedelta(days=3)
    r = bank.client.post(
        url,
        json={
            "from_account": account["id"],
            "amount": "1.00",
            "kind": "weekly",
            "weekday": start.weekday(),
            "start": start.isoformat(),
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert schedule["next_due"] == start.isoformat()
    skipped = bank.client.post(f"/v1/bill-schedules/{schedule['id']}/skip", headers=user.headers).json()
    assert skipped["next_due"] == (start + timedelta(days=7)).isoformat()
    # Someone else reaches none of it.
    other = bank.signup()
    for method, path in (
        ("GET", f"/v1/bills/{bill['id']}"),
        ("DELETE", f"/v1/bills/{bill['id']}"),
        ("POST", f"/v1/bill-schedules/{schedule['id']}/skip"),
        ("POST", f"/v1/bill-schedules/{schedule['id']}/cancel"),
    ):
        r = bank.client.request(method, path, headers=other.headers)
        assert (r.status_code, r.json()["type"]) == (404, "urn:tdw:problem:not-found"), (method, path)
    r = bank.client.post(
        url, json={"from_account": account["id"], "amount": "1.00", "kind": "once"}, headers=other.headers
    )
    assert r.status_code == 404
    assert bank.client.get("/v1/bills", headers=other.headers).json() == []
    # A customer cannot register billers.
    r = bank.client.post(
        "/v1/bank/billers",
        json={
            "account_id": account["id"],
            "name": "Me",
            "category": "x",
            "reference_pattern": ".*",
            "reference_hint": "x",
        },
        headers=user.headers,
    )
    assert r.status_code == 403
    assert bank.client.delete(f"/v1/bills/{bill['id']}", headers=user.headers).status_code == 409  # scheduled
    cancelled = bank.client.post(f"/v1/bill-schedules/{schedule['id']}/cancel", headers=user.headers).json()
    assert (cancelled["state"], cancelled["next_due"]) == ("cancelled", None)
    history = bank.client.get(f"/v1/bills/{bill['id']}", headers=user.headers).json()["history"]
    assert [(h["due_date"], h["state"]) for h in history] == [(start.isoformat(), "skipped")]
    assert bank.balance(user, account) == "20.00"


def test_operators_register_billers_with_a_reference_format_that_compiles(
    bank: ApiBank, operator: User
) -> None:
    owner = bank.signup()
    account = bank.open_account(owner, "USD")
    base = {"account_id": account["id"], "name": "Water", "category": "utilities", "reference_hint": "digits"}
    for body in ({"reference_pattern": "[0-9"}, {"reference_pattern": "x", "category": "Not A Word"}):
        r = bank.client.post("/v1/bank/billers", json={**base, **body}, headers=operator.headers)
        assert r.status_code == 422, r.text
