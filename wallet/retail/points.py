"""Loyalty points: earned on payments to merchants by rules, redeemed for a credit in deposit tokens paid
by the bank, expiring by rule, on a points statement.

- **Journal.** Points are kept in double entry, in their own currency `PTS`, never mixed with money:
  each entry moves a positive whole number of points from one account to another (`bank:issued` to
  `customer:<id>` when earned, `customer:<id>` to `bank:redeemed` or `bank:expired`), so every entry
  balances by construction and an account's balance is what came in less what went out. The ledger
  mirror of the chain is not where points live: it holds only what the chain says.
- **Earning.** Operators set rules: a merchant category (as spending analysis files payments: the
  biller's, the bank's merchant categories), points per whole unit of the payment's currency, an
  optional campaign window and an optional cap per customer per month. A worker reads the mirror's
  final payments out of customers' accounts in entry order (its cursor stops at the first entry not
  final yet) and posts what each rule gives, once per payment and rule (the unique source).
- **Expiry.** Earned points expire `EXPIRY_DAYS` after they were earned. Redemptions use the oldest
  points first; the expiry worker moves what is left of each lot past its date to `bank:expired`.
- **Redeeming.** 100 points make 1.00 of the account's currency (`POINTS_PER_MAJOR_UNIT`). The debit
  of the points and the bank's mint of the credit (a bank operation requested by the customer's
  redemption) are written in one database transaction: both or neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.operations import OperationsService
from wallet.bank.users import Principal
from wallet.db.models import (
    EventCursor,
    JournalEntry,
    PointsEntry,
    PointsRule,
    WalletAccount,
    aware,
    utcnow,
)
from wallet.errors import ConflictError, InvalidRequestError
from wallet.ledger.journal import movements
from wallet.money import format_amount
from wallet.references import reference_text
from wallet.retail.spending import Spending
from wallet.vocabulary import EntryState, Role

CURRENCY = "PTS"
CURSOR = "points"
EXPIRY_DAYS = 365
POINTS_PER_MAJOR_UNIT = 100  # 100 points redeem for 1.00
MAX_REDEMPTION_POINTS = 100_000
ISSUED, REDEEMED, EXPIRED = "bank:issued", "bank:redeemed", "bank:expired"


def customer(user_id: str) -> str:
    return f"customer:{user_id}"


class Points:
    """Rules, the earning and expiry worker, balances, statements and redemptions."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        operations: OperationsService,
        spending: Spending,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 500,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.operations = operations
        self.spending = spending
        self.clock = clock
        self.batch = batch

    # ------------------------------------------------------------------------------------ rules ---

    def add_rule(
        self,
        principal: Principal,
        *,
        name: str,
        category: str,
        points_per_unit: int,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        monthly_cap: int | None = None,
    ) -> dict[str, Any]:
        """Operators: payments to merchants of `category` earn `points_per_unit` points per whole unit."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        if not name.strip() or len(name) > 100:
            raise InvalidRequestError("a rule's name is 1 to 100 characters")
        if isinstance(points_per_unit, bool) or not 1 <= points_per_unit <= 1000:
            raise InvalidRequestError("points per unit is a whole number from 1 to 1000")
        if monthly_cap is not None and (isinstance(monthly_cap, bool) or monthly_cap < 1):
            raise InvalidRequestError("a monthly cap is a positive whole number of points")
        if starts_at and ends_at and ends_at <= starts_at:
            raise InvalidRequestError("a campaign ends after it starts")
        row = PointsRule(
            id=uuid.uuid4().hex,
            name=name.strip(),
            category=category.strip().lower(),
            points_per_unit=points_per_unit,
            starts_at=starts_at,
            ends_at=ends_at,
            monthly_cap=monthly_cap,
        )
        with self.bank.sessions.begin() as session:
            session.add(row)
        return _rule(row)

    def rules(self) -> list[dict[str, Any]]:
        with self.bank.readers() as session:
            return [_rule(r) for r in session.scalars(select(PointsRule).order_by(PointsRule.created_at))]

    # ---------------------------------------------------------------------------------- reading ---

    def balance(self, principal: Principal) -> int:
        """The customer's points now."""
        principal.require(Role.CUSTOMER)
        return self._balance(principal.user_id)

    def statement(self, principal: Principal, *, limit: int = 200) -> dict[str, Any]:
        """The customer's points entries, newest first, with the balance after each and what expires next."""
        principal.require(Role.CUSTOMER)
        account = customer(principal.user_id)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(PointsEntry)
                    .where(or_(PointsEntry.credit == account, PointsEntry.debit == account))
                    .order_by(PointsEntry.id)
                )
            )
        balance = 0
        lines = []
        for row in rows:
            change = row.amount if row.credit == account else -row.amount
            balance += change
            lines.append(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "points": change,
                    "balance": balance,
                    "description": row.description,
                    "expires_at": aware(row.expires_at) if row.expires_at else None,
                    "created_at": aware(row.created_at),
                }
            )
        now = self.clock()
        upcoming = [
            r
            for r in rows
            if r.kind == "earn" and (r.remaining or 0) > 0 and r.expires_at and aware(r.expires_at) > now
        ]
        upcoming.sort(key=lambda r: aware(r.expires_at) if r.expires_at else now)
        return {
            "currency": CURRENCY,
            "balance": balance,
            "worth": {"per_point_major_units": f"1/{POINTS_PER_MAJOR_UNIT}"},
            "next_expiry": (
                {"points": upcoming[0].remaining, "at": aware(upcoming[0].expires_at)}
                if upcoming and upcoming[0].expires_at
                else None
            ),
            "entries": lines[::-1][:limit],
        }

    # -------------------------------------------------------------------------------- redeeming ---

    def redeem(
        self, principal: Principal, *, points: int, account_id: str, idempotency_key: str
    ) -> dict[str, Any]:
        """Turns `points` into a credit to the customer's account (100 points are 1.00), minted by the
        bank; the oldest points go first. Once per idempotency key."""
        principal.require(Role.CUSTOMER)
        if (
            isinstance(points, bool)
            or not isinstance(points, int)
            or not 1 <= points <= MAX_REDEMPTION_POINTS
        ):
            raise InvalidRequestError(f"redeem 1 to {MAX_REDEMPTION_POINTS} points")
        account = self.accounts.owned(principal, account_id)
        if not self.accounts.is_active(account):
            raise ConflictError(f"the account {account.id} is not active yet")
        decimals = self.bank.token(account.currency).decimals
        minor = points * 10**decimals // POINTS_PER_MAJOR_UNIT
        if minor <= 0 or minor * POINTS_PER_MAJOR_UNIT != points * 10**decimals:
            raise InvalidRequestError(f"{points} points are not a whole amount of {account.currency}")
        source = f"redeem:{principal.user_id}:{idempotency_key}"
        with self.bank.readers() as session:
            done = session.scalar(select(PointsEntry).where(PointsEntry.source == source))
        if done is not None:
            return self._redemption(done)
        plan = self.operations.plan_mint(
            currency=account.currency, amount=format_amount(minor, decimals), to_account=account.id
        )
        try:
            with self.bank.sessions.begin() as session:
                # The customer's row serialises their redemptions; the oldest lots go first.
                lots = list(
                    session.scalars(
                        select(PointsEntry)
                        .where(
                            PointsEntry.credit == customer(principal.user_id),
                            PointsEntry.kind == "earn",
                            PointsEntry.remaining > 0,
                        )
                        .order_by(PointsEntry.expires_at, PointsEntry.id)
                        .with_for_update()
                    )
                )
                available = self._balance(principal.user_id, session)
                if points > available:
                    raise ConflictError(f"you have {available} points; {points} were asked for")
                left = points
                for lot in lots:
                    take = min(left, lot.remaining or 0)
                    lot.remaining = (lot.remaining or 0) - take
                    left -= take
                    if left == 0:
                        break
                operation = self.operations.enqueue(
                    session, principal, plan, idempotency_key=f"points:{source}"
                )
                entry = PointsEntry(
                    kind="redeem",
                    debit=customer(principal.user_id),
                    credit=REDEEMED,
                    amount=points,
                    source=source,
                    description=f"Redeemed for {format_amount(minor, decimals)} {account.currency}",
                    operation_id=operation.id,
                )
                session.add(entry)
        except IntegrityError:
            with self.bank.readers() as session:
                done = session.scalar(select(PointsEntry).where(PointsEntry.source == source))
            if done is None:
                raise
            return self._redemption(done)
        return self._redemption(entry)

    # --------------------------------------------------------------------------------- workers ---

    def step(self) -> int:
        """Earns points on final payments since the cursor, and expires lots past their date."""
        return self._earn() + self._expire()

    def _earn(self) -> int:
        with self.bank.readers() as session:
            position = session.scalar(select(EventCursor.position).where(EventCursor.name == CURSOR)) or 0
            rules = list(session.scalars(select(PointsRule)))
            if not rules:
                return 0
            # This bank's tokens on its own chain only: entries of other chains (a second chain's
            # wholesale tokens) are final by another indexer's clock and would hold the cursor up.
            entries = session.execute(
                select(JournalEntry.id, JournalEntry.state)
                .where(
                    JournalEntry.id > position,
                    JournalEntry.posted.is_(True),
                    JournalEntry.chain_id == self.bank.chain_id,
                    JournalEntry.token.in_([t.address for t in self.bank.tokens.values()]),
                )
                .order_by(JournalEntry.id)
                .limit(self.batch)
            ).all()
            ready = []
            for entry_id, state in entries:
                if state != EntryState.FINAL:
                    break  # the cursor waits for this one to be final
                ready.append(entry_id)
            if not ready:
                return 0
            query = movements()
            columns = query.selected_columns
            rows = session.execute(query.where(columns.entry_id.in_(ready)).order_by(columns.entry_id)).all()
            # By address and token: a customer's accounts in several currencies share one address.
            payers = {
                (a.address, a.token): a
                for a in session.scalars(
                    select(WalletAccount).where(WalletAccount.address.in_({r.sender for r in rows}))
                )
            }
        earned = 0
        for row in rows:
            account = payers.get((row.sender, row.token))
            if account is None:
                continue
            when = datetime.fromtimestamp(row.time, tz=self.clock().tzinfo)
            category = self.spending.category_of(account.user_id, row.receiver, reference_text(row.reference))
            decimals = self.bank.token_at(row.token).decimals
            for rule in rules:
                if rule.category != category:
                    continue
                if (rule.starts_at and when < aware(rule.starts_at)) or (
                    rule.ends_at and when >= aware(rule.ends_at)
                ):
                    continue
                points = int(row.amount) * rule.points_per_unit // 10**decimals
                earned += self._credit(account.user_id, rule, row.entry_id, points, when, category)
        with self.bank.sessions.begin() as session:
            cursor = session.get(EventCursor, CURSOR, with_for_update=True)
            if cursor is None:
                session.add(EventCursor(name=CURSOR, position=ready[-1]))
            else:
                cursor.position = max(cursor.position, ready[-1])
        return earned

    def _credit(
        self, user_id: str, rule: PointsRule, entry_id: int, points: int, when: datetime, category: str
    ) -> int:
        try:
            with self.bank.sessions.begin() as session:
                if rule.monthly_cap is not None:
                    month = datetime(when.year, when.month, 1, tzinfo=when.tzinfo)
                    already = (
                        session.scalar(
                            select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(
                                PointsEntry.credit == customer(user_id),
                                PointsEntry.rule_id == rule.id,
                                PointsEntry.earned_at >= month,
                            )
                        )
                        or 0
                    )
                    points = min(points, max(rule.monthly_cap - int(already), 0))
                if points <= 0:
                    return 0
                session.add(
                    PointsEntry(
                        kind="earn",
                        debit=ISSUED,
                        credit=customer(user_id),
                        amount=points,
                        remaining=points,
                        source=f"earn:{entry_id}:{rule.id}",
                        rule_id=rule.id,
                        description=f"{rule.name} ({category})",
                        earned_at=when,
                        expires_at=when + timedelta(days=EXPIRY_DAYS),
                    )
                )
            return 1
        except IntegrityError:
            return 0  # earned once already (another worker)

    def _expire(self) -> int:
        now = self.clock()
        with self.bank.readers() as session:
            due = list(
                session.scalars(
                    select(PointsEntry.id)
                    .where(
                        PointsEntry.kind == "earn", PointsEntry.remaining > 0, PointsEntry.expires_at <= now
                    )
                    .limit(self.batch)
                )
            )
        expired = 0
        for lot_id in due:
            with self.bank.sessions.begin() as session:
                lot = session.get(PointsEntry, lot_id, with_for_update=True)
                if lot is None or not lot.remaining:
                    continue
                left = lot.remaining
                took = session.execute(
                    update(PointsEntry)
                    .where(PointsEntry.id == lot.id, PointsEntry.remaining == left)
                    .values(remaining=0)
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
                if took != 1:
                    continue
                session.add(
                    PointsEntry(
                        kind="expire",
                        debit=lot.credit,
                        credit=EXPIRED,
                        amount=left,
                        source=f"expire:{lot.id}",
                        description=f"Expired: earned {aware(lot.earned_at).date() if lot.earned_at else ''}",
                    )
                )
            expired += 1
        return expired

    # ---------------------------------------------------------------------------------- helpers ---

    def _balance(self, user_id: str, session: Any = None) -> int:
        account = customer(user_id)

        def read(s: Any) -> int:
            credits = s.scalar(
                select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(PointsEntry.credit == account)
            )
            debits = s.scalar(
                select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(PointsEntry.debit == account)
            )
            return int(credits or 0) - int(debits or 0)

        if session is not None:
            return read(session)
        with self.bank.readers() as s:
            return read(s)

    def _redemption(self, entry: PointsEntry) -> dict[str, Any]:
        return {
            "id": entry.id,
            "points": entry.amount,
            "description": entry.description,
            "operation_id": entry.operation_id,
            "balance": self._balance(entry.debit.removeprefix("customer:")),
        }


def _rule(row: PointsRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "category": row.category,
        "points_per_unit": row.points_per_unit,
        "starts_at": aware(row.starts_at) if row.starts_at else None,
        "ends_at": aware(row.ends_at) if row.ends_at else None,
        "monthly_cap": row.monthly_cap,
    }


__all__ = ["CURRENCY", "EXPIRY_DAYS", "POINTS_PER_MAJOR_UNIT", "Points"]
