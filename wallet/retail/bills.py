"""Bill pay: billers, the bills customers save, and payments now, on a date or on a schedule.

- **Billers** are corporate customers an operator registers: the account bills are paid into, a
  category (what spending analysis files the payments under) and the format of their payment
  references (a regular expression matched in full, with a hint for customers). A bill's reference is
  checked against it when the bill is saved, so a payment can never carry a reference the biller
  cannot match.
- **Schedules**: `once` on a date, `monthly` on a day of the month, `weekly` on a weekday, from a start
  date and optionally until an end date. Monthly on a day a month does not have (the 29th to the 31st)
  is paid on that month's last day, and the next month goes back to the day asked for (the 31st:
  31 January, 28 February, 31 March).
- **Exactly once**: a scheduler claims a due payment by inserting its run (unique per schedule and due
  date) and moving the schedule's `next_due` in the same database transaction, and pays it with the
  idempotency key `bill:<schedule>:<date>` (scoped to the customer). A scheduler that dies after the
  claim leaves the run `claimed`; the next pass of any scheduler sends it with the same key, so the
  transfer is stored once. Two schedulers (two processes) claim each run once: the unique constraint
  refuses the second.
- **Insufficient funds**: the run is `retrying` and tried again after 1 hour, 6 hours and 24 hours
  (`RETRY_AFTER`); the fourth refusal makes it `failed`, and the customer is told (`bill.failed`). Any
  other refusal (the account's standing, the policy) fails it at once, told the same way. A payment
  sent is told as `bill.paid` (the transfer's own events follow it to final).
- **Skip** marks the next due date `skipped` (claimed, never paid); **cancel** ends the schedule.
"""

from __future__ import annotations

import calendar
import logging
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.payments import PaymentService
from wallet.bank.users import Principal
from wallet.db.models import (
    Bill,
    Biller,
    BillRun,
    BillSchedule,
    Event,
    TransferRequest,
    User,
    WalletAccount,
    aware,
    utcnow,
)
from wallet.errors import (
    ConflictError,
    InsufficientFundsError,
    InvalidRequestError,
    NotFoundError,
    WalletError,
)
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import BillRunState, Role, ScheduleKind, ScheduleState

log = logging.getLogger(__name__)

RETRY_AFTER = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
MAX_REFERENCE_BYTES = 32


def next_date(kind: ScheduleKind, after: date, *, day: int | None, weekday: int | None) -> date | None:
    """The schedule's first due date strictly after `after` (None for `once`)."""
    if kind == ScheduleKind.ONCE:
        return None
    if kind == ScheduleKind.WEEKLY:
        assert weekday is not None
        return after + timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)
    assert day is not None
    year, month = (
        (after.year, after.month + 1)
        if after.day >= _clamp(after.year, after.month, day)
        else (
            after.year,
            after.month,
        )
    )
    if month == 13:
        year, month = year + 1, 1
    return date(year, month, _clamp(year, month, day))


def first_date(kind: ScheduleKind, start: date, *, day: int | None, weekday: int | None) -> date:
    """The schedule's first due date on or after `start`."""
    if kind == ScheduleKind.ONCE:
        return start
    found = next_date(kind, start - timedelta(days=1), day=day, weekday=weekday)
    assert found is not None
    return found


def _clamp(year: int, month: int, day: int) -> int:
    """`day`, or the month's last day when the month is shorter."""
    return min(day, calendar.monthrange(year, month)[1])


class BillPay:
    """Billers, bills, schedules, and the scheduler that pays what is due."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        payments: PaymentService,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 50,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.payments = payments
        self.clock = clock
        self.batch = batch

    # ---------------------------------------------------------------------------------- billers ---

    def register_biller(
        self,
        principal: Principal,
        *,
        account_id: str,
        name: str,
        category: str,
        reference_pattern: str,
        reference_hint: str,
    ) -> dict[str, Any]:
        """Operators: registers the owner of `account_id` as a biller paid into that account."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        account = self.accounts.any_account(account_id)
        name, category, hint = name.strip(), category.strip().lower(), reference_hint.strip()
        if not name or len(name) > 100:
            raise InvalidRequestError("a biller's name is 1 to 100 characters")
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", category):
            raise InvalidRequestError("a category is a lowercase word of up to 40 letters, digits, - or _")
        if not hint or len(hint) > 100:
            raise InvalidRequestError("a reference hint is 1 to 100 characters")
        try:
            re.compile(reference_pattern)
        except re.error as bad:
            raise InvalidRequestError(f"the reference format is not a regular expression: {bad}") from None
        if len(reference_pattern) > 200:
            raise InvalidRequestError("a reference format is at most 200 characters")
        row = Biller(
            id=uuid.uuid4().hex,
            user_id=account.user_id,
            account_id=account.id,
            name=name,
            category=category,
            reference_pattern=reference_pattern,
            reference_hint=hint,
        )
        try:
            with self.bank.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise ConflictError("a biller of that name, or paid into that account, is registered") from None
        return self._biller(row)

    def billers(self, principal: Principal) -> list[dict[str, Any]]:
        """Every biller (for any signed-in user: the list a customer picks from)."""
        del principal  # every user may read them
        with self.bank.readers() as session:
            rows = list(session.scalars(select(Biller).order_by(Biller.name)))
        return [self._biller(r) for r in rows]

    # ------------------------------------------------------------------------------------ bills ---

    def save_bill(
        self, principal: Principal, *, biller_id: str, reference: str, nickname: str | None = None
    ) -> dict[str, Any]:
        """Saves a bill: the biller and the customer's reference, checked against the biller's format."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            biller = session.get(Biller, biller_id)
        if biller is None:
            raise NotFoundError("biller", biller_id)
        reference = reference.strip()
        if len(reference.encode()) > MAX_REFERENCE_BYTES or not re.fullmatch(
            biller.reference_pattern, reference
        ):
            raise InvalidRequestError(
                f"{reference!r} is not a {biller.name} reference: {biller.reference_hint}"
            )
        if nickname is not None and len(nickname) > 100:
            raise InvalidRequestError("a nickname is at most 100 characters")
        row = Bill(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            biller_id=biller.id,
            reference=reference,
            nickname=nickname or None,
        )
        try:
            with self.bank.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise ConflictError(f"you saved this {biller.name} bill already") from None
        return self.bill(principal, row.id)

    def bills(self, principal: Principal) -> list[dict[str, Any]]:
        """The customer's bills, each with its schedules."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            ids = list(
                session.scalars(
                    select(Bill.id).where(Bill.user_id == principal.user_id).order_by(Bill.created_at)
                )
            )
        return [self.bill(principal, i) for i in ids]

    def bill(self, principal: Principal, bill_id: str) -> dict[str, Any]:
        """One of the customer's bills (staff: any), with its schedules and their payments."""
        with self.bank.readers() as session:
            row = session.get(Bill, bill_id)
            if row is None or (row.user_id != principal.user_id and not principal.is_staff):
                raise NotFoundError("bill", bill_id)
            biller = session.get(Biller, row.biller_id)
            assert biller is not None
            schedules = list(
                session.scalars(
                    select(BillSchedule)
                    .where(BillSchedule.bill_id == row.id)
                    .order_by(BillSchedule.created_at)
                )
            )
            runs = list(
                session.scalars(
                    select(BillRun)
                    .where(BillRun.schedule_id.in_([s.id for s in schedules]))
                    .order_by(BillRun.due_date.desc())
                )
            )
        return {
            "id": row.id,
            "biller": self._biller(biller),
            "reference": row.reference,
            "nickname": row.nickname,
            "created_at": aware(row.created_at),
            "schedules": [self._schedule(s) for s in schedules],
            "history": [self._run(r) for r in runs],
        }

    def delete_bill(self, principal: Principal, bill_id: str) -> None:
        """Forgets a bill with no active schedule."""
        self._own_bill(principal, bill_id)
        with self.bank.sessions.begin() as session:
            active = session.scalar(
                select(BillSchedule.id).where(
                    BillSchedule.bill_id == bill_id, BillSchedule.state == ScheduleState.ACTIVE
                )
            )
            if active is not None:
                raise ConflictError("the bill has an active schedule; cancel it first")
            if session.scalar(select(BillSchedule.id).where(BillSchedule.bill_id == bill_id)) is not None:
                raise ConflictError("the bill has a payment history; it stays")
            row = session.get(Bill, bill_id)
            session.delete(row)

    # -------------------------------------------------------------------------------- schedules ---

    def schedule(
        self,
        principal: Principal,
        bill_id: str,
        *,
        from_account: str,
        amount: object,
        kind: str,
        start: date | None = None,
        day: int | None = None,
        weekday: int | None = None,
        until: date | None = None,
        totp: str | None = None,
    ) -> dict[str, Any]:
        """Pays the bill `once` on `start` (today, when not given: paid by the next scheduler pass), or
        `monthly` on `day` / `weekly` on `weekday` from `start`, until `until` if given. An amount above
        the bank's TOTP threshold needs a fresh code now: it authorises every payment of the schedule."""
        bill = self._own_bill(principal, bill_id)
        with self.bank.readers() as session:
            biller = session.get(Biller, bill.biller_id)
            target = session.get(WalletAccount, biller.account_id) if biller else None
        assert biller is not None
        assert target is not None
        account = self.accounts.owned(principal, from_account)
        if account.currency != target.currency:
            raise InvalidRequestError(
                f"{biller.name} is paid in {target.currency}; "
                f"the account {account.id} holds {account.currency}"
            )
        value = parse_amount(amount, account.currency)
        threshold = (
            self.bank.config.totp_transfer_threshold * 10 ** self.bank.token(account.currency).decimals
        )
        if value > threshold:
            self.payments.users.check_fresh_totp(principal.user_id, totp)
        try:
            schedule_kind = ScheduleKind(kind)
        except ValueError:
            raise InvalidRequestError("a schedule is once, monthly or weekly") from None
        today = self.clock().date()
        start = start or today
        if start < today:
            raise InvalidRequestError("a schedule starts today or later")
        if schedule_kind == ScheduleKind.MONTHLY:
            if day is None or isinstance(day, bool) or not 1 <= day <= 31:
                raise InvalidRequestError("a monthly schedule names a day from 1 to 31")
            weekday = None
        elif schedule_kind == ScheduleKind.WEEKLY:
            if weekday is None or isinstance(weekday, bool) or not 0 <= weekday <= 6:
                raise InvalidRequestError("a weekly schedule names a weekday from 0 (Monday) to 6 (Sunday)")
            day = None
        else:
            day = weekday = None
            until = None
        if until is not None and until < start:
            raise InvalidRequestError("a schedule ends on or after its start")
        row = BillSchedule(
            id=uuid.uuid4().hex,
            bill_id=bill.id,
            user_id=principal.user_id,
            from_account=account.id,
            amount=value,
            kind=schedule_kind,
            day=day,
            weekday=weekday,
            next_due=first_date(schedule_kind, start, day=day, weekday=weekday),
            until=until,
            state=ScheduleState.ACTIVE,
        )
        if row.until is not None and row.next_due is not None and row.next_due > row.until:
            raise InvalidRequestError("no payment would fall between the start and the end")
        with self.bank.sessions.begin() as session:
            session.add(row)
        if schedule_kind == ScheduleKind.ONCE and start == today:
            self._pay_now(row.id)  # paid now: claimed and sent like any due payment, exactly once
        return self._schedule(self._own_schedule(principal, row.id))

    def skip(self, principal: Principal, schedule_id: str) -> dict[str, Any]:
        """Skips the schedule's next due payment: claimed as `skipped`, never paid."""
        row = self._own_schedule(principal, schedule_id)
        with self.bank.sessions.begin() as session:
            schedule = session.get(BillSchedule, row.id, with_for_update=True)
            assert schedule is not None
            if schedule.state != ScheduleState.ACTIVE or schedule.next_due is None:
                raise ConflictError(f"the schedule is {schedule.state.value}: nothing to skip")
            session.add(
                BillRun(
                    id=uuid.uuid4().hex,
                    schedule_id=schedule.id,
                    due_date=schedule.next_due,
                    state=BillRunState.SKIPPED,
                )
            )
            self._advance(schedule)
        return self._schedule(schedule)

    def cancel(self, principal: Principal, schedule_id: str) -> dict[str, Any]:
        """Ends the schedule: nothing more is claimed (a payment sent already stands)."""
        row = self._own_schedule(principal, schedule_id)
        with self.bank.sessions.begin() as session:
            done = session.execute(
                update(BillSchedule)
                .where(BillSchedule.id == row.id, BillSchedule.state == ScheduleState.ACTIVE)
                .values(state=ScheduleState.CANCELLED, next_due=None)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if done != 1:
                raise ConflictError(f"the schedule is {row.state.value} already")
        return self._schedule(self._own_schedule(principal, schedule_id))

    # -------------------------------------------------------------------------------- scheduler ---

    def step(self) -> int:
        """One scheduler pass: claims what is due today or earlier, sends every claimed run and every
        retry whose time came. Returns how many runs it moved."""
        now = self.clock()
        moved = self._remind(now)
        moved += self._claim(now)
        with self.bank.readers() as session:
            ready = list(
                session.scalars(
                    select(BillRun.id)
                    .where(
                        or_(
                            BillRun.state == BillRunState.CLAIMED,
                            (BillRun.state == BillRunState.RETRYING) & (BillRun.next_attempt_at <= now),
                        )
                    )
                    .order_by(BillRun.due_date)
                    .limit(self.batch)
                )
            )
        for run_id in ready:
            moved += self._send(run_id, now)
        return moved

    def _remind(self, now: datetime) -> int:
        """Tells each customer once that a bill of theirs is paid tomorrow (`bill.due`)."""
        tomorrow = now.date() + timedelta(days=1)
        with self.bank.readers() as session:
            due = session.execute(
                select(BillSchedule, Bill, Biller, WalletAccount)
                .join(Bill, Bill.id == BillSchedule.bill_id)
                .join(Biller, Biller.id == Bill.biller_id)
                .join(WalletAccount, WalletAccount.id == BillSchedule.from_account)
                .where(
                    BillSchedule.state == ScheduleState.ACTIVE,
                    BillSchedule.next_due == tomorrow,
                    or_(BillSchedule.noticed_due.is_(None), BillSchedule.noticed_due != tomorrow),
                )
                .limit(self.batch)
            ).all()
        told = 0
        for schedule, bill, biller, account in due:
            with self.bank.sessions.begin() as session:
                took = session.execute(
                    update(BillSchedule)
                    .where(
                        BillSchedule.id == schedule.id,
                        or_(BillSchedule.noticed_due.is_(None), BillSchedule.noticed_due != tomorrow),
                    )
                    .values(noticed_due=tomorrow)
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
                if took != 1:
                    continue  # another scheduler told them
                session.add(
                    Event(
                        user_id=schedule.user_id,
                        type="bill.due",
                        payload={
                            "bill_id": bill.id,
                            "schedule_id": schedule.id,
                            "due_date": tomorrow.isoformat(),
                            "biller": biller.name,
                            "reference": bill.reference,
                            "amount": format_amount(
                                schedule.amount, self.bank.token(account.currency).decimals
                            ),
                            "currency": account.currency,
                        },
                    )
                )
            told += 1
        return told

    def _pay_now(self, schedule_id: str) -> None:
        now = self.clock()
        self._claim(now, [schedule_id])
        with self.bank.readers() as session:
            run_id = session.scalar(
                select(BillRun.id).where(
                    BillRun.schedule_id == schedule_id, BillRun.state == BillRunState.CLAIMED
                )
            )
        if run_id is not None:
            self._send(run_id, now)

    def _claim(self, now: datetime, only: list[str] | None = None) -> int:
        today = now.date()
        if only is None:
            with self.bank.readers() as session:
                due = list(
                    session.scalars(
                        select(BillSchedule.id)
                        .where(BillSchedule.state == ScheduleState.ACTIVE, BillSchedule.next_due <= today)
                        .limit(self.batch)
                    )
                )
        else:
            due = only
        claimed = 0
        for schedule_id in due:
            try:
                with self.bank.sessions.begin() as session:
                    schedule = session.get(BillSchedule, schedule_id, with_for_update=True)
                    if (
                        schedule is None
                        or schedule.state != ScheduleState.ACTIVE
                        or schedule.next_due is None
                        or schedule.next_due > today
                    ):
                        continue  # another scheduler claimed it meanwhile
                    session.add(
                        BillRun(
                            id=uuid.uuid4().hex,
                            schedule_id=schedule.id,
                            due_date=schedule.next_due,
                            state=BillRunState.CLAIMED,
                            attempts=0,
                        )
                    )
                    self._advance(schedule)
                claimed += 1
            except IntegrityError:
                continue  # the unique run: another scheduler claimed this date first
        return claimed

    def _advance(self, schedule: BillSchedule) -> None:
        assert schedule.next_due is not None
        following = next_date(schedule.kind, schedule.next_due, day=schedule.day, weekday=schedule.weekday)
        if following is None or (schedule.until is not None and following > schedule.until):
            schedule.next_due = None
            schedule.state = ScheduleState.DONE
        else:
            schedule.next_due = following

    def _send(self, run_id: str, now: datetime) -> int:
        with self.bank.readers() as session:
            run = session.get(BillRun, run_id)
            assert run is not None
            schedule = session.get(BillSchedule, run.schedule_id)
            assert schedule is not None
            bill = session.get(Bill, schedule.bill_id)
            assert bill is not None
            biller = session.get(Biller, bill.biller_id)
            assert biller is not None
            user = session.get(User, schedule.user_id)
            assert user is not None
            account = session.get(WalletAccount, schedule.from_account)
            assert account is not None
        customer = Principal(user.id, user.username, user.role)
        decimals = self.bank.token(account.currency).decimals
        attempt = run.attempts + 1
        try:
            view, _ = self.payments.submit(
                customer,
                idempotency_key=f"bill:{schedule.id}:{run.due_date.isoformat()}",
                from_account=account.id,
                amount=format_amount(schedule.amount, decimals),
                currency=account.currency,
                to_account=biller.account_id,
                reference=bill.reference,
                memo=f"{biller.name} bill",
                preauthorized=True,  # the code given when the schedule was set up
            )
        except InsufficientFundsError as short:
            if attempt <= len(RETRY_AFTER):
                return self._mark(
                    run,
                    run.state,
                    BillRunState.RETRYING,
                    attempts=attempt,
                    next_attempt_at=now + RETRY_AFTER[attempt - 1],
                    error=str(short),
                )
            return self._failed(run, user.id, attempt, str(short), bill, biller)
        except WalletError as refused:
            return self._failed(run, user.id, attempt, str(refused), bill, biller)
        moved = self._mark(
            run,
            run.state,
            BillRunState.SENT,
            attempts=attempt,
            transfer_id=view.id,
            error=None,
            next_attempt_at=None,
        )
        if moved:
            self._tell(
                user.id,
                "bill.paid",
                run,
                bill,
                biller,
                amount=format_amount(schedule.amount, decimals),
                currency=account.currency,
                transfer_id=view.id,
            )
        return moved

    def _failed(
        self, run: BillRun, user_id: str, attempt: int, error: str, bill: Bill, biller: Biller
    ) -> int:
        moved = self._mark(
            run, run.state, BillRunState.FAILED, attempts=attempt, error=error[:500], next_attempt_at=None
        )
        if moved:
            self._tell(user_id, "bill.failed", run, bill, biller, error=error)
        return moved

    def _mark(self, run: BillRun, was: BillRunState, state: BillRunState, **values: Any) -> int:
        """Moves the run from `was` to `state` unless another scheduler moved it first."""
        with self.bank.sessions.begin() as session:
            return int(
                session.execute(
                    update(BillRun)
                    .where(BillRun.id == run.id, BillRun.state == was, BillRun.attempts == run.attempts)
                    .values(state=state, updated_at=self.clock(), **values)
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
            )

    def _tell(self, user_id: str, kind: str, run: BillRun, bill: Bill, biller: Biller, **extra: Any) -> None:
        with self.bank.sessions.begin() as session:
            session.add(
                Event(
                    user_id=user_id,
                    type=kind,
                    payload={
                        "bill_id": bill.id,
                        "schedule_id": run.schedule_id,
                        "due_date": run.due_date.isoformat(),
                        "biller": biller.name,
                        "reference": bill.reference,
                        **extra,
                    },
                )
            )

    # ---------------------------------------------------------------------------------- helpers ---

    def _own_bill(self, principal: Principal, bill_id: str) -> Bill:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            row = session.get(Bill, bill_id)
        if row is None or row.user_id != principal.user_id:
            raise NotFoundError("bill", bill_id)
        return row

    def _own_schedule(self, principal: Principal, schedule_id: str) -> BillSchedule:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            row = session.get(BillSchedule, schedule_id)
        if row is None or row.user_id != principal.user_id:
            raise NotFoundError("schedule", schedule_id)
        return row

    @staticmethod
    def _biller(row: Biller) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "category": row.category,
            "reference_hint": row.reference_hint,
            "reference_pattern": row.reference_pattern,
        }

    def _schedule(self, row: BillSchedule) -> dict[str, Any]:
        with self.bank.readers() as session:
            account = session.get(WalletAccount, row.from_account)
        assert account is not None
        return {
            "id": row.id,
            "bill_id": row.bill_id,
            "from_account": row.from_account,
            "currency": account.currency,
            "amount": format_amount(row.amount, self.bank.token(account.currency).decimals),
            "kind": row.kind.value,
            "day": row.day,
            "weekday": row.weekday,
            "next_due": row.next_due.isoformat() if row.next_due else None,
            "until": row.until.isoformat() if row.until else None,
            "state": row.state.value,
        }

    def _run(self, row: BillRun) -> dict[str, Any]:
        transfer = None
        if row.transfer_id is not None:
            with self.bank.readers() as session:
                request = session.get(TransferRequest, row.transfer_id)
            if request is not None:
                view = self.payments.view(request)
                transfer = {"id": view.id, "state": view.state.value, "tx_hash": view.tx_hash}
        return {
            "id": row.id,
            "schedule_id": row.schedule_id,
            "due_date": row.due_date.isoformat(),
            "state": row.state.value,
            "attempts": row.attempts,
            "next_attempt_at": aware(row.next_attempt_at) if row.next_attempt_at else None,
            "error": row.error,
            "transfer": transfer,
        }


__all__ = ["RETRY_AFTER", "BillPay", "first_date", "next_date"]
