"""Spending analysis: where a customer's money went, from the ledger mirror.

Outgoing payments are the posted movements out of the customer's accounts to anyone else (mints and
burns are not spending; nor is money between their own accounts). Each is filed under one category,
the first that applies of:

1. the customer's own rules: a payee address, or a keyword in the payment's reference (case-folded),
   newest rule first;
2. the biller's category, when the payee is a biller (`wallet.retail.bills`);
3. the bank's rules for every customer (a merchant's category, by its address);
4. the bank's keywords (`KEYWORDS`: "rent" is housing, "lunch" dining, ...);
5. `exchange` for money to the bank's treasury (conversions, payments abroad), else `other`.

Monthly totals per category and currency, the trend of the latest month against the mean of the ones
before it, and budgets: a monthly amount per category and currency; the first time a month's spending
crosses it, the customer is told once (`budget.crossed`; the unique budget and month). Charts are
drawn by matplotlib (Agg, no display) as PNG or SVG; the payments export as CSV.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.chain.addresses import checksum
from wallet.db.models import Biller, Budget, BudgetAlert, Event, SpendingRule, WalletAccount, utcnow
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.ledger.journal import movements
from wallet.money import format_amount, parse_amount
from wallet.references import reference_text
from wallet.vocabulary import Role

ZERO = "0x" + "00" * 20
KEYWORDS = {
    "rent": "housing",
    "mortgage": "housing",
    "lunch": "dining",
    "dinner": "dining",
    "café": "dining",
    "cafe": "dining",
    "coffee": "dining",
    "restaurant": "dining",
    "invoice": "business",
    "taxi": "transport",
    "train": "transport",
    "fuel": "transport",
    "grocer": "groceries",
    "market": "groceries",
    "insurance": "insurance",
    "gym": "leisure",
    "cinema": "leisure",
    "gift": "gifts",
}
CATEGORY = r"[a-z][a-z0-9_-]{0,39}"
ChartKind = Literal["png", "svg"]


@dataclass(frozen=True)
class Payment:
    """One outgoing payment as spending analysis sees it."""

    when: datetime
    currency: str
    decimals: int
    amount: int
    payee: str
    reference: str | None
    category: str
    tx_hash: str

    @property
    def month(self) -> str:
        return self.when.strftime("%Y-%m")


class Spending:
    """Categorised outgoing payments, monthly totals, trends, budgets, charts and the CSV export."""

    def __init__(self, bank: Bank, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.bank = bank
        self.clock = clock

    # ---------------------------------------------------------------------------------- figures ---

    def payments(self, principal: Principal, *, since: date | None = None) -> list[Payment]:
        """The customer's outgoing payments, oldest first, each with its category."""
        owner = principal.user_id
        with self.bank.readers() as session:
            accounts = list(session.scalars(select(WalletAccount).where(WalletAccount.user_id == owner)))
            if not accounts:
                return []
            own = {a.address for a in accounts}
            query = movements()
            columns = query.selected_columns
            query = query.where(
                columns.sender.in_(own),
                columns.receiver != ZERO,
                columns.receiver.not_in(own),
                columns.token.in_({a.token for a in accounts}),
            )
            if since is not None:
                query = query.where(
                    columns.time >= int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp())
                )
            rows = session.execute(query.order_by(columns.time, columns.entry_id)).all()
            rules = list(
                session.scalars(
                    select(SpendingRule)
                    .where((SpendingRule.user_id == owner) | SpendingRule.user_id.is_(None))
                    .order_by(SpendingRule.created_at.desc())
                )
            )
            billers = dict(
                session.execute(
                    select(WalletAccount.address, Biller.category).join(
                        Biller, Biller.account_id == WalletAccount.id
                    )
                ).all()
            )
        treasury = self._treasury()
        mine = [r for r in rules if r.user_id is not None]
        bank = [r for r in rules if r.user_id is None]
        found = []
        for row in rows:
            token = self.bank.token_at(row.token)
            reference = reference_text(row.reference)
            category = self._category(row.receiver, reference, mine, billers, bank, treasury)
            found.append(
                Payment(
                    when=datetime.fromtimestamp(row.time, UTC),
                    currency=token.currency,
                    decimals=token.decimals,
                    amount=int(row.amount),
                    payee=row.receiver,
                    reference=reference,
                    category=category,
                    tx_hash=row.tx_hash,
                )
            )
        return found

    def summary(self, principal: Principal, *, currency: str, months: int = 6) -> dict[str, Any]:
        """Monthly totals per category in `currency` for the last `months` months (this one included),
        this month's trend against the mean of the months before it, and the budgets with what they
        have spent this month."""
        principal.require(Role.CUSTOMER)
        token = self.bank.token(currency)
        if isinstance(months, bool) or not 1 <= months <= 24:
            raise InvalidRequestError("months is from 1 to 24")
        labels = self._months(months)
        first = date.fromisoformat(labels[0] + "-01")
        paid = [p for p in self.payments(principal, since=first) if p.currency == currency]
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for p in paid:
            totals[(p.month, p.category)] += p.amount
        categories = sorted({c for _, c in totals})
        current, before = labels[-1], labels[:-1]
        trends = []
        for category in categories:
            now = totals.get((current, category), 0)
            mean = sum(totals.get((m, category), 0) for m in before) // len(before) if before else 0
            trends.append(
                {
                    "category": category,
                    "this_month": format_amount(now, token.decimals),
                    "mean_before": format_amount(mean, token.decimals),
                    "change_percent": None if mean == 0 else round((now - mean) * 100 / mean),
                }
            )
        return {
            "currency": currency,
            "months": labels,
            "categories": categories,
            "totals": [
                {"month": m, "category": c, "amount": format_amount(totals[(m, c)], token.decimals)}
                for m in labels
                for c in categories
                if (m, c) in totals
            ],
            "by_month": [
                {
                    "month": m,
                    "amount": format_amount(
                        sum(v for (mm, _), v in totals.items() if mm == m), token.decimals
                    ),
                }
                for m in labels
            ],
            "trends": trends,
            "budgets": [b for b in self.budgets(principal) if b["currency"] == currency],
        }

    def chart(
        self, principal: Principal, *, currency: str, months: int = 6, kind: ChartKind = "png"
    ) -> bytes:
        """The monthly totals as stacked bars per category, as PNG or SVG."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        figures = self.summary(principal, currency=currency, months=months)
        labels = figures["months"]
        figure = Figure(figsize=(7, 3.6), dpi=100)
        axes = figure.add_subplot()
        bottom = [0.0] * len(labels)
        for category in figures["categories"]:
            # Drawing needs numbers; the figures above stay exact decimal strings.
            heights = [
                float(
                    next(
                        (
                            t["amount"]
                            for t in figures["totals"]
                            if t["month"] == m and t["category"] == category
                        ),
                        "0",
                    )
                )
                for m in labels
            ]
            axes.bar(labels, heights, bottom=bottom, label=category)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        axes.set_ylabel(currency)
        axes.set_title(f"Spending per month ({currency})")
        if figures["categories"]:
            axes.legend(loc="upper left", fontsize="small", ncols=3)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format=kind, metadata={"Date": None} if kind == "svg" else None)
        return out.getvalue()

    def csv(self, principal: Principal, *, since: date | None = None) -> str:
        """The outgoing payments with their categories, as CSV (amounts as exact decimals)."""
        principal.require(Role.CUSTOMER)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "currency", "amount", "category", "payee", "reference", "tx_hash"])
        for p in self.payments(principal, since=since):
            writer.writerow(
                [
                    p.when.isoformat(),
                    p.currency,
                    format_amount(p.amount, p.decimals),
                    p.category,
                    p.payee,
                    p.reference or "",
                    p.tx_hash,
                ]
            )
        return out.getvalue()

    # ------------------------------------------------------------------------------------ rules ---

    def add_rule(self, principal: Principal, *, match: str, pattern: str, category: str) -> dict[str, Any]:
        """A customer's own rule: payments to an address, or with a keyword in the reference, go under
        `category`."""
        principal.require(Role.CUSTOMER)
        return self._add_rule(principal.user_id, match, pattern, category)

    def add_merchant(self, principal: Principal, *, address: str, category: str) -> dict[str, Any]:
        """Operators: the bank's category for payments to a merchant's address, for every customer."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        return self._add_rule(None, "address", address, category)

    def rules(self, principal: Principal) -> list[dict[str, Any]]:
        """The customer's own rules, newest first."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(SpendingRule)
                    .where(SpendingRule.user_id == principal.user_id)
                    .order_by(SpendingRule.created_at.desc())
                )
            )
        return [self._rule(r) for r in rows]

    def delete_rule(self, principal: Principal, rule_id: str) -> None:
        principal.require(Role.CUSTOMER)
        with self.bank.sessions.begin() as session:
            row = session.get(SpendingRule, rule_id)
            if row is None or row.user_id != principal.user_id:
                raise NotFoundError("rule", rule_id)
            session.delete(row)

    # ---------------------------------------------------------------------------------- budgets ---

    def set_budget(
        self, principal: Principal, *, category: str, currency: str, amount: object
    ) -> dict[str, Any]:
        """Sets (or changes) the customer's monthly budget for `category` in `currency`."""
        principal.require(Role.CUSTOMER)
        self.bank.token(currency)
        category = _category_name(category)
        value = parse_amount(amount, currency)
        with self.bank.sessions.begin() as session:
            row = session.scalar(
                select(Budget).where(
                    Budget.user_id == principal.user_id,
                    Budget.category == category,
                    Budget.currency == currency,
                )
            )
            if row is None:
                row = Budget(
                    id=uuid.uuid4().hex,
                    user_id=principal.user_id,
                    category=category,
                    currency=currency,
                    amount=value,
                )
                session.add(row)
            else:
                row.amount = value
        return next(b for b in self.budgets(principal) if b["id"] == row.id)

    def budgets(self, principal: Principal) -> list[dict[str, Any]]:
        """The customer's budgets with what this month has spent against each."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(Budget).where(Budget.user_id == principal.user_id).order_by(Budget.category)
                )
            )
        if not rows:
            return []
        spent = self._this_month(principal.user_id)
        out = []
        for row in rows:
            decimals = self.bank.token(row.currency).decimals
            used = spent.get((row.category, row.currency), 0)
            out.append(
                {
                    "id": row.id,
                    "category": row.category,
                    "currency": row.currency,
                    "amount": format_amount(row.amount, decimals),
                    "spent": format_amount(used, decimals),
                    "crossed": used > row.amount,
                }
            )
        return out

    def delete_budget(self, principal: Principal, budget_id: str) -> None:
        principal.require(Role.CUSTOMER)
        with self.bank.sessions.begin() as session:
            row = session.get(Budget, budget_id)
            if row is None or row.user_id != principal.user_id:
                raise NotFoundError("budget", budget_id)
            session.delete(row)

    def step(self) -> int:
        """The budget watcher: tells each customer once a month that a budget was crossed."""
        month = self.clock().strftime("%Y-%m")
        with self.bank.readers() as session:
            budgets = list(session.scalars(select(Budget)))
            told = set(session.scalars(select(BudgetAlert.budget_id).where(BudgetAlert.month == month)))
        written = 0
        by_user: dict[str, list[Budget]] = defaultdict(list)
        for b in budgets:
            if b.id not in told:
                by_user[b.user_id].append(b)
        for user_id, mine in by_user.items():
            spent = self._this_month(user_id)
            for b in mine:
                used = spent.get((b.category, b.currency), 0)
                if used <= b.amount:
                    continue
                decimals = self.bank.token(b.currency).decimals
                try:
                    with self.bank.sessions.begin() as session:
                        session.add(BudgetAlert(budget_id=b.id, month=month, spent=used))
                        session.flush()
                        session.add(
                            Event(
                                user_id=user_id,
                                type="budget.crossed",
                                payload={
                                    "budget_id": b.id,
                                    "category": b.category,
                                    "currency": b.currency,
                                    "month": month,
                                    "budget": format_amount(b.amount, decimals),
                                    "spent": format_amount(used, decimals),
                                },
                            )
                        )
                    written += 1
                except IntegrityError:
                    continue  # another watcher told them first
        return written

    def category_of(self, user_id: str, payee: str, reference: str | None) -> str:
        """The category a payment of `user_id` to `payee` with `reference` is filed under."""
        with self.bank.readers() as session:
            rules = list(
                session.scalars(
                    select(SpendingRule)
                    .where((SpendingRule.user_id == user_id) | SpendingRule.user_id.is_(None))
                    .order_by(SpendingRule.created_at.desc())
                )
            )
            billers = dict(
                session.execute(
                    select(WalletAccount.address, Biller.category)
                    .join(Biller, Biller.account_id == WalletAccount.id)
                    .where(WalletAccount.address == payee)
                ).all()
            )
        mine = [r for r in rules if r.user_id is not None]
        bank = [r for r in rules if r.user_id is None]
        return self._category(payee, reference, mine, billers, bank, self._treasury())

    # ---------------------------------------------------------------------------------- helpers ---

    def _this_month(self, user_id: str) -> dict[tuple[str, str], int]:
        now = self.clock()
        first = date(now.year, now.month, 1)
        principal = Principal(user_id, "", Role.CUSTOMER)
        spent: dict[tuple[str, str], int] = defaultdict(int)
        for p in self.payments(principal, since=first):
            spent[(p.category, p.currency)] += p.amount
        return spent

    def _months(self, count: int) -> list[str]:
        now = self.clock()
        year, month = now.year, now.month
        labels = []
        for _ in range(count):
            labels.append(f"{year:04d}-{month:02d}")
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        return labels[::-1]

    def _treasury(self) -> str | None:
        signer = self.bank.role_signers.get("treasury")
        return signer.address if signer is not None else None

    @staticmethod
    def _category(
        payee: str,
        reference: str | None,
        mine: list[SpendingRule],
        billers: dict[str, str],
        bank: list[SpendingRule],
        treasury: str | None,
    ) -> str:
        text = (reference or "").casefold()

        def hit(rule: SpendingRule) -> bool:
            if rule.match == "address":
                return rule.pattern.lower() == payee.lower()
            return rule.pattern.casefold() in text

        for rule in mine:
            if hit(rule):
                return rule.category
        if payee in billers:
            return billers[payee]
        for rule in bank:
            if hit(rule):
                return rule.category
        for word, category in KEYWORDS.items():
            if word in text:
                return category
        if treasury is not None and payee.lower() == treasury.lower():
            return "exchange"
        return "other"

    def _add_rule(self, user_id: str | None, match: str, pattern: str, category: str) -> dict[str, Any]:
        category = _category_name(category)
        pattern = pattern.strip()
        if match == "address":
            address = checksum(pattern)
            if address is None:
                raise InvalidRequestError(f"{pattern!r} is not an Ethereum address")
            pattern = address
        elif match == "keyword":
            if not 2 <= len(pattern) <= 100:
                raise InvalidRequestError("a keyword is 2 to 100 characters")
        else:
            raise InvalidRequestError("a rule matches an address or a keyword")
        row = SpendingRule(
            id=uuid.uuid4().hex, user_id=user_id, match=match, pattern=pattern, category=category
        )
        with self.bank.sessions.begin() as session:
            duplicate = session.scalar(
                select(SpendingRule.id).where(
                    SpendingRule.user_id.is_(None) if user_id is None else SpendingRule.user_id == user_id,
                    SpendingRule.match == match,
                    SpendingRule.pattern == pattern,
                )
            )
            if duplicate is not None:
                raise ConflictError("a rule for that is there already")
            session.add(row)
        return self._rule(row)

    @staticmethod
    def _rule(row: SpendingRule) -> dict[str, Any]:
        return {"id": row.id, "match": row.match, "pattern": row.pattern, "category": row.category}


def _category_name(category: str) -> str:
    name = category.strip().lower()
    if not re.fullmatch(CATEGORY, name):
        raise InvalidRequestError("a category is a lowercase word of up to 40 letters, digits, - or _")
    return name


__all__ = ["KEYWORDS", "Payment", "Spending"]
