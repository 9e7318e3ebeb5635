"""FX quotes: a customer asks what converting between two of the bank's currencies gives, and may accept.

A quote names what is sold and what is bought, both in minor units: the customer gives either amount and
the other is worked out at the customer's rate, which is the mid rate of the rate source (`wallet.fx.rates`)
less the spread of the customer's tier (basis points, from the policy document's `fx` section; a tier
not listed pays the default tier's). Every rounding is to the bank's side, exactly, in integers: what the
customer buys is rounded down, what the customer sells (when they named what they buy) is rounded up,
and the rate itself is cut to 12 places downwards.

A quote holds for the policy's `quote_ttl_seconds` (30 by default). Accepting it locks it, once: one
conditional update from `open` to `accepted` before `expires_at`, so two acceptances at the same moment
cannot both win; a quote past its time is refused with `QuoteExpiredError`, one accepted already with
`QuoteUsedError`. An accepted quote is what a conversion or a cross-border payment settles against.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.compliance.policy import PolicyStore
from wallet.db.models import FxQuote, Settlement, User, aware
from wallet.errors import InvalidRequestError, NotFoundError, QuoteExpiredError, QuoteUsedError
from wallet.fx.rates import RATE_PLACES, RateProvider
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import QuoteState, Role


class Quotes:
    """Gives, shows and locks FX quotes for customers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policies: PolicyStore,
        rates: RateProvider,
        *,
        currencies: Iterable[str],
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions = sessions
        self.policies = policies
        self.rates = rates
        self.currencies = frozenset(currencies)
        self.audit = audit
        self.clock = clock or (lambda: datetime.now(UTC))

    def quote(
        self,
        principal: Principal,
        *,
        sell: str,
        buy: str,
        sell_amount: str | None = None,
        buy_amount: str | None = None,
    ) -> dict[str, Any]:
        """A new quote for the customer: `sell` for `buy`, given exactly one of the two amounts."""
        principal.require(Role.CUSTOMER)
        sell, buy = sell.strip().upper(), buy.strip().upper()
        for code in (sell, buy):
            iso_currency(code)
            if code not in self.currencies:
                raise InvalidRequestError(
                    f"the bank keeps no {code} accounts; it converts between {self._codes()}"
                )
        if sell == buy:
            raise InvalidRequestError("a conversion sells one currency for another, not for itself")
        if (sell_amount is None) == (buy_amount is None):
            raise InvalidRequestError("give either the amount to sell or the amount to buy, not both")
        now = self.clock()
        sheet = self.rates.sheet()
        mid = sheet.mid(sell, buy)
        with self.sessions.begin() as session:
            policy = self.policies.current(session)
            user = session.get(User, principal.user_id)
            if user is None:
                raise NotFoundError("user", principal.user_id)
            spreads = policy.document.fx.spread_bps
            tier = user.tier if user.tier in spreads else policy.document.default_tier
            bps = spreads[tier]
            rate = (mid * (10_000 - bps) / 10_000).quantize(RATE_PLACES, rounding=ROUND_DOWN)
            sells, buys = self._amounts(sell, buy, rate, sell_amount, buy_amount)
            row = FxQuote(
                id=secrets.token_hex(16),
                user_id=principal.user_id,
                tier=tier,
                sell_currency=sell,
                buy_currency=buy,
                sell_amount=sells,
                buy_amount=buys,
                mid_rate=str(mid),
                rate=str(rate),
                spread_bps=bps,
                policy_version=policy.version,
                rates_source=sheet.source[:100],
                rates_as_of=sheet.as_of,
                state=QuoteState.OPEN,
                created_at=now,
                expires_at=now + timedelta(seconds=policy.document.fx.quote_ttl_seconds),
            )
            session.add(row)
            session.flush()
            return self._view(row, now)

    def get(self, principal: Principal, quote_id: str) -> dict[str, Any]:
        """One quote: the customer's own, or any for staff."""
        with self.sessions() as session:
            row = self._find(session, principal, quote_id)
            return self._view(row, self.clock())

    def accept(self, principal: Principal, quote_id: str) -> dict[str, Any]:
        """Locks the customer's open quote for one conversion; refused once it has expired or been used."""
        principal.require(Role.CUSTOMER)
        now = self.clock()
        with self.sessions.begin() as session:
            locked = session.execute(
                update(FxQuote)
                .where(
                    FxQuote.id == quote_id,
                    FxQuote.user_id == principal.user_id,
                    FxQuote.state == QuoteState.OPEN,
                    FxQuote.expires_at > now,
                )
                .values(state=QuoteState.ACCEPTED, accepted_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            row = self._find(session, principal, quote_id)
            if locked != 1:
                if row.state != QuoteState.OPEN:
                    raise QuoteUsedError(f"quote {quote_id} was accepted already, at {_iso(row.accepted_at)}")
                raise QuoteExpiredError(
                    f"quote {quote_id} expired at {_iso(row.expires_at)}; ask for a new one"
                )
            # `_find` read the row after the update, in the same transaction: it is already accepted.
            if self.audit is not None:
                self.audit.append(
                    session,
                    actor=principal.user_id,
                    action="fx.quote.accepted",
                    subject=quote_id,
                    details={
                        "sell": _money(row.sell_amount, row.sell_currency),
                        "buy": _money(row.buy_amount, row.buy_currency),
                        "rate": row.rate,
                    },
                    at=now,
                )
            return self._view(row, now)

    # -------------------------------------------------------------------------------- helpers ---

    @staticmethod
    def _amounts(
        sell: str, buy: str, rate: Decimal, sell_amount: str | None, buy_amount: str | None
    ) -> tuple[int, int]:
        """(sold, bought) in minor units at `rate` (units of buy per unit of sell), rounded to the bank."""
        scale = Fraction(
            10 ** _exp(buy), 10 ** _exp(sell)
        )  # minor units of buy per minor unit of sell, per 1
        factor = Fraction(rate) * scale
        if sell_amount is not None:
            sells = parse_amount(sell_amount, sell)
            buys = floor(sells * factor)
        else:
            buys = parse_amount(buy_amount, buy)
            sells = ceil(buys / factor)
        if sells <= 0 or buys <= 0:
            raise InvalidRequestError(
                f"{format_amount(sells, _exp(sell))} {sell} is too little to buy any {buy} at {rate}"
            )
        return sells, buys

    @staticmethod
    def _find(session: Session, principal: Principal, quote_id: str) -> FxQuote:
        row = session.get(FxQuote, quote_id)
        if row is None or (not principal.is_staff and row.user_id != principal.user_id):
            raise NotFoundError("quote", quote_id)  # another customer's quote is not there for them
        return row

    def _codes(self) -> str:
        return ", ".join(sorted(self.currencies))

    @staticmethod
    def _view(row: FxQuote, now: datetime) -> dict[str, Any]:
        expired = row.state == QuoteState.OPEN and aware(row.expires_at) <= now
        return {
            "id": row.id,
            "state": "expired" if expired else row.state.value,
            "sell": {
                "currency": row.sell_currency,
                "amount": format_amount(row.sell_amount, _exp(row.sell_currency)),
            },
            "buy": {
                "currency": row.buy_currency,
                "amount": format_amount(row.buy_amount, _exp(row.buy_currency)),
            },
            "rate": row.rate,
            "mid_rate": row.mid_rate,
            "spread_bps": row.spread_bps,
            "tier": row.tier,
            "rates": {"source": row.rates_source, "as_of": _iso(row.rates_as_of)},
            "policy_version": row.policy_version,
            "created_at": _iso(row.created_at),
            "expires_at": _iso(row.expires_at),
            "accepted_at": _iso(row.accepted_at),
        }


def quote_to_carry_out(
    session: Session,
    user_id: str,
    quote_id: str,
    now: datetime,
    *,
    expires_once_accepted: bool = False,
    require_partner: bool = False,
) -> FxQuote:
    """The customer's quote that a settlement is about to carry out: theirs (`require_partner`: one for
    paying a partner bank's customer), open or accepted, carried out by no settlement yet, and not
    past its time. An accepted quote holds after its time unless `expires_once_accepted` (a partner's
    quote behind it expires regardless)."""
    quote = session.get(FxQuote, quote_id)
    if quote is None or quote.user_id != user_id or (require_partner and quote.partner_id is None):
        raise NotFoundError("quote", quote_id)
    taken = session.scalar(select(Settlement.id).where(Settlement.quote_id == quote_id))
    if taken is not None or quote.state not in (QuoteState.OPEN, QuoteState.ACCEPTED):
        raise QuoteUsedError(f"quote {quote_id} was carried out already; ask for a new one")
    if (quote.state == QuoteState.OPEN or expires_once_accepted) and aware(quote.expires_at) <= now:
        raise QuoteExpiredError(f"quote {quote_id} expired at {aware(quote.expires_at).isoformat()}")
    return quote


def take_quote(session: Session, quote: FxQuote, now: datetime) -> None:
    """Accepts an open quote (or keeps its owner's accepted one) for the settlement being stored in
    `session`: one conditional update, so it is taken once.

    A settlement that carries the quote out already (committed by a racing request while this one
    waited for its locks) refuses it first, without locking the quote's row: the relayer moving that
    settlement updates the row next, and on PostgreSQL this session's insert would wait on the relayer
    while the relayer waits on this session's row lock, a deadlock."""
    if session.scalar(select(Settlement.id).where(Settlement.quote_id == quote.id)) is not None:
        raise QuoteUsedError(f"quote {quote.id} was carried out already; ask for a new one")
    taken = session.execute(
        update(FxQuote)
        .where(
            FxQuote.id == quote.id,
            FxQuote.user_id == quote.user_id,
            or_(
                (FxQuote.state == QuoteState.OPEN) & (FxQuote.expires_at > now),
                FxQuote.state == QuoteState.ACCEPTED,
            ),
        )
        .values(state=QuoteState.ACCEPTED, accepted_at=quote.accepted_at or now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if taken != 1:
        raise QuoteExpiredError(f"quote {quote.id} expired or was used while it was being carried out")


def _money(units: int, code: str) -> str:
    return f"{format_amount(units, _exp(code))} {code}"


def _exp(code: str) -> int:
    return iso_currency(code).exponent


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat()


__all__ = ["Quotes", "quote_to_carry_out", "take_quote"]
