"""Transaction monitoring: typologies and a statistical detector over the ledger mirror.

`Detector` is a pure engine: it is fed the movements of the mirror in order (`Movement`, one per
journal entry, mints and burns included) and the registry's news (`Blocked`, `Registered`), and returns
alerts. `Monitor` is its worker: it reads the journal entries the indexer posted since its cursor, runs
them through the detector and stores the alerts (`alerts`), each announced as an `alert.raised` event
(the staff's event stream and webhooks) and filed into its subject's case (`wallet.compliance.cases`).

The rules, with their parameters from the policy document's `monitoring` section (amounts per currency,
in `monitoring.amounts`; windows in hours). Every window ends at the movement being judged.

- `large_transfer`: one transfer at or above the reporting threshold (`amounts.reporting`). Subject:
  the payer. Severity high from five times the threshold, else medium.
- `structuring`: `structuring.min_count` or more transfers of the payer within `structuring.window_hours`,
  each from `structuring.band` x the threshold up to just under it. High.
- `pass_through`: within `pass_through.window_hours` the account received at least
  `amounts.pass_through_min` and sent out all of it but at most `pass_through.max_residual` of it
  (a residual |in - out| <= max_residual x in), the first money in before the last money out. High.
- `fan_out` / `fan_in`: payments to (from) `fan.min_counterparties` or more distinct addresses the
  account had never dealt with before the window (`fan.window_hours`): a shop paid by its regular
  customers is not a fan-in, a mule paid by strangers is. Medium.
- `round_amounts`: `round_amounts.min_count` or more transfers of the payer within the window, each a
  whole multiple of `amounts.round_unit`. Medium.
- `dormant_reactivated`: a transfer of at least `amounts.dormant_min` from an account whose previous
  movement is `dormant.idle_days` or more ago. Medium.
- `high_risk_jurisdiction`: a transfer between an address registered (on chain, `KycUpdated`) in a
  country the policy lists as high-risk (medium) or prohibited (high) and one registered elsewhere.
  Subject: the latter (our customer dealing with the risk). Once per pair in 30 days.
- `blocked_proximity`: a transfer with a counterparty that is itself blocked, or that moved money with an
  address now blocked (one hop). High. Subject: the other side.
- `anomaly`: per payer, once it has `anomaly.min_history` payments: robust z-scores of the amount
  (log amount against the median and MAD of its last 50) and of the frequency (log of the time since its
  previous payment against its last 50 gaps), and counterparty novelty (a payee it never paid). The
  score is the amount's z, plus half the frequency's (at most 1), plus 1.5 for a new payee; an alert
  needs a score of `anomaly.threshold` or more and an amount z of at least 3 (frequency or novelty
  alone never alert). The alert names each feature and what it contributed.

The zero address (issuance) and the `monitoring.exempt` addresses are never subjects. A rule does not
fire again for the same subject and token while its window since its last alert is open (a burst is
one alert), and each alert has a key (rule, token, subject, triggering log) that the database keeps
unique, so a monitor that re-reads entries after a crash stores nothing twice. An account keeps at most
`HISTORY` movements in its windows.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, aliased

from wallet.bank.core import Bank
from wallet.compliance.audit import SYSTEM, AuditLog
from wallet.compliance.cases import Cases, customer_of
from wallet.compliance.matching import country_of_numeric
from wallet.compliance.policy import Policy, PolicyStore
from wallet.db.models import Alert as AlertRow
from wallet.db.models import ChainEvent, Event, EventCursor, JournalEntry, JournalLeg, LedgerAccount
from wallet.errors import MonitorRaceError
from wallet.ledger.journal import movements
from wallet.money import currency as iso_currency
from wallet.money import format_amount
from wallet.vocabulary import AlertSeverity, Typology

ZERO = "0x0000000000000000000000000000000000000000"
HISTORY = 200  # movements an account keeps for its windows
BASELINE = 50  # payments the statistical detector learns from, per payer
HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Movement:
    """One journal entry: `amount` minor units of `token` from `sender` to `receiver` at `time`."""

    entry_id: int
    token: str
    currency: str
    block: int
    time: int  # block time, seconds
    tx_hash: str
    log_index: int
    sender: str
    receiver: str
    amount: int
    reference: str | None = None

    def as_json(self) -> dict[str, Any]:
        exponent = iso_currency(self.currency).exponent
        return {
            "entry_id": self.entry_id,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "block": self.block,
            "time": self.time,
            "from": self.sender,
            "to": self.receiver,
            "amount": format_amount(self.amount, exponent),
            "currency": self.currency,
        }


@dataclass(frozen=True)
class Blocked:
    """The registry blocked (or unblocked) `address` at `time`."""

    address: str
    blocked: bool
    time: int


@dataclass(frozen=True)
class Registered:
    """The registry recorded `address` in `country` (ISO 3166 alpha-2) at `time`."""

    address: str
    country: str | None
    time: int


@dataclass(frozen=True)
class Alert:
    """What a rule found: its subject, the movements involved, the figures that made it fire."""

    typology: Typology
    severity: AlertSeverity
    subject: str
    token: str
    currency: str
    time: int
    block: int
    explanation: str
    figures: dict[str, Any]
    movements: tuple[Movement, ...]

    @property
    def key(self) -> str:
        last = self.movements[-1]
        return f"{self.typology}:{self.token.lower()}:{self.subject.lower()}:{last.tx_hash}:{last.log_index}"


@dataclass
class _Account:
    """What the detector remembers of one address in one token."""

    window: deque[tuple[int, Movement]] = field(
        default_factory=lambda: deque(maxlen=HISTORY)
    )  # (+1 in/-1 out)
    last_time: int | None = None
    log_amounts: deque[float] = field(default_factory=lambda: deque(maxlen=BASELINE))
    log_gaps: deque[float] = field(default_factory=lambda: deque(maxlen=BASELINE))
    last_payment: int | None = None
    payees: set[str] = field(default_factory=set)
    counterparties: dict[str, int] = field(default_factory=dict)  # address -> when first met
    flagged: dict[str, int] = field(default_factory=dict)  # high-risk counterparty -> last alert
    quiet_until: dict[Typology, int] = field(default_factory=dict)


def _robust_z(value: float, history: Iterable[float], floor: float) -> float:
    values = list(history)
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return (value - median) / max(1.4826 * mad, floor)


class Detector:
    """Runs every typology and the statistical detector over movements fed in order."""

    def __init__(self, policy: Policy, *, previous: Callable[[str, int], int | None] | None = None) -> None:
        self.previous = previous  # an address's newest movement before a time, for one not seen yet
        self.accounts: dict[tuple[str, str], _Account] = {}
        self.blocked: set[str] = set()
        self.near_blocked: set[str] = set()
        self.countries: dict[str, str] = {}
        self.last_seen: dict[str, int] = {}  # address -> time of its newest movement, any token
        self.configure(policy)

    def configure(self, policy: Policy) -> None:
        """Takes a new policy's parameters, keeping what was learnt."""
        self.policy = policy
        doc = policy.document
        self.params = doc.monitoring
        self.exempt = {ZERO.lower(), *(a.lower() for a in self.params.exempt)}
        self.high_risk = set(doc.jurisdictions.high_risk)
        self.prohibited = set(doc.jurisdictions.prohibited)
        self.band = Fraction(Decimal(self.params.structuring.band))
        self.residual = Fraction(Decimal(self.params.pass_through.max_residual))
        self.horizon = HOUR * max(
            self.params.structuring.window_hours,
            self.params.pass_through.window_hours,
            self.params.fan.window_hours,
            self.params.round_amounts.window_hours,
        )

    # ------------------------------------------------------------------------------- feeding ---

    def feed(self, item: Movement | Blocked | Registered, *, alert: bool = True) -> list[Alert]:
        """Takes one item; returns the alerts it raises (none while warming up: `alert` False)."""
        if isinstance(item, Blocked):
            self._block(item)
            return []
        if isinstance(item, Registered):
            if item.country:
                self.countries[item.address.lower()] = item.country
            else:
                self.countries.pop(item.address.lower(), None)
            return []
        return self._movement(item, alert)

    def _block(self, item: Blocked) -> None:
        address = item.address.lower()
        if not item.blocked:
            self.blocked.discard(address)
            return
        self.blocked.add(address)
        for (holder, _token), account in self.accounts.items():
            if holder == address:
                self.near_blocked.update(account.counterparties)

    def _account(self, address: str, token: str) -> _Account:
        key = (address.lower(), token.lower())
        account = self.accounts.get(key)
        if account is None:
            account = self.accounts[key] = _Account()
        return account

    def _movement(self, m: Movement, alert: bool) -> list[Alert]:
        sender, receiver = m.sender.lower(), m.receiver.lower()
        out = self._account(sender, m.token)
        into = self._account(receiver, m.token)
        previous_out = self.last_seen.get(sender)
        if previous_out is None and alert and self.previous is not None and sender != ZERO:
            previous_out = self.previous(sender, m.time)
        alerts: list[Alert] = []
        if alert:
            if sender not in self.exempt:
                alerts += self._outgoing(m, out, previous_out)
            if receiver not in self.exempt:
                alerts += self._incoming(m, into)
        for account, direction, other in ((out, -1, receiver), (into, 1, sender)):
            account.window.append((direction, m))
            account.counterparties.setdefault(other, m.time)
            account.last_time = m.time
        if sender != ZERO:
            if out.last_payment is not None:
                out.log_gaps.append(math.log(max(m.time - out.last_payment, 1)))
            out.last_payment = m.time
            out.log_amounts.append(math.log(m.amount))
            out.payees.add(receiver)
        if sender in self.blocked:
            self.near_blocked.add(receiver)
        if receiver in self.blocked:
            self.near_blocked.add(sender)
        self.last_seen[sender] = self.last_seen[receiver] = m.time
        return alerts

    # --------------------------------------------------------------------------------- rules ---

    def _money(self, m: Movement, units: int) -> str:
        return f"{format_amount(units, iso_currency(m.currency).exponent)} {m.currency}"

    def _quiet(self, account: _Account, typology: Typology, m: Movement, hours: int) -> bool:
        """True while `typology` already fired on this account within its window (then it stays quiet)."""
        if account.quiet_until.get(typology, -1) > m.time:
            return True
        account.quiet_until[typology] = m.time + hours * HOUR
        return False

    def _recent(self, account: _Account, m: Movement, hours: int) -> list[tuple[int, Movement]]:
        since = m.time - hours * HOUR
        return [(d, x) for d, x in account.window if x.time > since]

    @staticmethod
    def _new(account: _Account, other: str, since: int) -> bool:
        """Whether `other` first dealt with the account within the window (or is dealing now)."""
        first = account.counterparties.get(other.lower())
        return first is None or first > since

    def _alert(
        self,
        typology: Typology,
        severity: AlertSeverity,
        subject: str,
        m: Movement,
        explanation: str,
        figures: Mapping[str, Any],
        movements: Iterable[Movement],
    ) -> Alert:
        involved = tuple(sorted({x.entry_id: x for x in (*movements, m)}.values(), key=_order))
        return Alert(
            typology,
            severity,
            subject,
            m.token,
            m.currency,
            m.time,
            m.block,
            explanation,
            dict(figures),
            involved,
        )

    def _outgoing(self, m: Movement, account: _Account, previous: int | None) -> list[Alert]:
        alerts: list[Alert] = []
        p = self.params
        amounts = self.policy.monitoring.get(m.currency, {})
        subject = m.sender
        reporting = amounts.get("reporting")
        if reporting is not None and m.amount >= reporting and not self._quiet(account, Typology.LARGE, m, 0):
            severity = AlertSeverity.HIGH if m.amount >= 5 * reporting else AlertSeverity.MEDIUM
            alerts.append(
                self._alert(
                    Typology.LARGE,
                    severity,
                    subject,
                    m,
                    f"a transfer of {self._money(m, m.amount)}, at or above the reporting threshold of "
                    f"{self._money(m, reporting)}",
                    {"amount": self._money(m, m.amount), "threshold": self._money(m, reporting)},
                    (),
                )
            )
        if reporting is not None and self.band * reporting <= m.amount < reporting:
            hours = p.structuring.window_hours
            near = [
                x
                for d, x in self._recent(account, m, hours)
                if d < 0 and self.band * reporting <= x.amount < reporting
            ]
            if len(near) + 1 >= p.structuring.min_count and not self._quiet(
                account, Typology.STRUCTURING, m, hours
            ):
                total = sum(x.amount for x in near) + m.amount
                alerts.append(
                    self._alert(
                        Typology.STRUCTURING,
                        AlertSeverity.HIGH,
                        subject,
                        m,
                        f"{len(near) + 1} transfers within {hours} h each just under the reporting threshold "
                        f"of {self._money(m, reporting)}, {self._money(m, total)} in all",
                        {
                            "count": len(near) + 1,
                            "window_hours": hours,
                            "threshold": self._money(m, reporting),
                            "band_from": self._money(m, math.ceil(self.band * reporting)),
                            "total": self._money(m, total),
                        },
                        near,
                    )
                )
        minimum = amounts.get("pass_through_min")
        if minimum is not None:
            hours = p.pass_through.window_hours
            recent = self._recent(account, m, hours)
            ins = [x for d, x in recent if d > 0]
            outs = [x for d, x in recent if d < 0] + [m]
            received, sent = sum(x.amount for x in ins), sum(x.amount for x in outs)
            if (
                ins
                and received >= minimum
                and abs(received - sent) <= self.residual * received
                and min(x.time for x in ins) <= m.time
                and not self._quiet(account, Typology.PASS_THROUGH, m, hours)
            ):
                alerts.append(
                    self._alert(
                        Typology.PASS_THROUGH,
                        AlertSeverity.HIGH,
                        subject,
                        m,
                        f"{self._money(m, received)} came in and {self._money(m, sent)} went out within "
                        f"{hours} h, leaving {self._money(m, received - sent)}",
                        {
                            "received": self._money(m, received),
                            "sent": self._money(m, sent),
                            "residual": self._money(m, received - sent),
                            "window_hours": hours,
                            "minutes_in_to_out": (m.time - min(x.time for x in ins)) // 60,
                        },
                        (*ins, *outs),
                    )
                )
        hours = p.fan.window_hours
        since = m.time - hours * HOUR
        outs = [
            x for d, x in self._recent(account, m, hours) if d < 0 and self._new(account, x.receiver, since)
        ]
        payees = {x.receiver.lower() for x in outs}
        if self._new(account, m.receiver, since):
            payees.add(m.receiver.lower())
        if len(payees) >= p.fan.min_counterparties and not self._quiet(account, Typology.FAN_OUT, m, hours):
            alerts.append(
                self._alert(
                    Typology.FAN_OUT,
                    AlertSeverity.MEDIUM,
                    subject,
                    m,
                    f"payments to {len(payees)} addresses new to this account within {hours} h",
                    {"counterparties": len(payees), "window_hours": hours},
                    outs,
                )
            )
        unit = amounts.get("round_unit")
        if unit and m.amount >= unit and m.amount % unit == 0:
            hours = p.round_amounts.window_hours
            rounds = [
                x
                for d, x in self._recent(account, m, hours)
                if d < 0 and x.amount >= unit and x.amount % unit == 0
            ]
            if len(rounds) + 1 >= p.round_amounts.min_count and not self._quiet(
                account, Typology.ROUND_AMOUNTS, m, hours
            ):
                alerts.append(
                    self._alert(
                        Typology.ROUND_AMOUNTS,
                        AlertSeverity.MEDIUM,
                        subject,
                        m,
                        f"{len(rounds) + 1} payments within {hours} h in whole multiples of "
                        f"{self._money(m, unit)}",
                        {"count": len(rounds) + 1, "unit": self._money(m, unit), "window_hours": hours},
                        rounds,
                    )
                )
        least = amounts.get("dormant_min")
        idle = p.dormant.idle_days * DAY
        if (
            least is not None
            and previous is not None
            and m.amount >= least
            and m.time - previous >= idle
            and not self._quiet(account, Typology.DORMANT, m, 24)
        ):
            alerts.append(
                self._alert(
                    Typology.DORMANT,
                    AlertSeverity.MEDIUM,
                    subject,
                    m,
                    f"{self._money(m, m.amount)} sent after {(m.time - previous) // DAY} days without any "
                    "movement",
                    {"idle_days": (m.time - previous) // DAY, "amount": self._money(m, m.amount)},
                    (),
                )
            )
        alerts += self._counterparty(m, account, subject, m.receiver, "to")
        anomaly = self._anomaly(m, account)
        if anomaly is not None:
            alerts.append(anomaly)
        return alerts

    def _incoming(self, m: Movement, account: _Account) -> list[Alert]:
        alerts: list[Alert] = []
        hours = self.params.fan.window_hours
        since = m.time - hours * HOUR
        ins = [
            x
            for d, x in self._recent(account, m, hours)
            if d > 0 and x.sender != ZERO and self._new(account, x.sender, since)
        ]
        payers = {x.sender.lower() for x in ins}
        if m.sender != ZERO and self._new(account, m.sender, since):
            payers.add(m.sender.lower())
        if len(payers) >= self.params.fan.min_counterparties and not self._quiet(
            account, Typology.FAN_IN, m, hours
        ):
            alerts.append(
                self._alert(
                    Typology.FAN_IN,
                    AlertSeverity.MEDIUM,
                    m.receiver,
                    m,
                    f"payments from {len(payers)} addresses new to this account within {hours} h",
                    {"counterparties": len(payers), "window_hours": hours},
                    ins,
                )
            )
        if m.sender != ZERO:
            alerts += self._counterparty(m, account, m.receiver, m.sender, "from")
        return alerts

    def _counterparty(
        self, m: Movement, account: _Account, subject: str, other: str, way: str
    ) -> list[Alert]:
        alerts: list[Alert] = []
        key = other.lower()
        country = self.countries.get(key)
        own = self.countries.get(subject.lower())
        risky = self.prohibited | self.high_risk
        if country in risky and own is not None and own not in risky:
            prohibited = country in self.prohibited
            last = account.flagged.get(key)
            if last is None or m.time - last >= 30 * DAY:
                account.flagged[key] = m.time
                alerts.append(
                    self._alert(
                        Typology.HIGH_RISK_JURISDICTION,
                        AlertSeverity.HIGH if prohibited else AlertSeverity.MEDIUM,
                        subject,
                        m,
                        f"{self._money(m, m.amount)} {way} an address registered in {country}, a "
                        f"{'prohibited' if prohibited else 'high-risk'} jurisdiction",
                        {
                            "counterparty": other,
                            "country": country,
                            "list": "prohibited" if prohibited else "high_risk",
                        },
                        (),
                    )
                )
        if key in self.blocked or key in self.near_blocked:
            direct = key in self.blocked
            if not self._quiet(account, Typology.BLOCKED_PROXIMITY, m, 24):
                alerts.append(
                    self._alert(
                        Typology.BLOCKED_PROXIMITY,
                        AlertSeverity.HIGH,
                        subject,
                        m,
                        f"{self._money(m, m.amount)} {way} "
                        + (
                            "a blocked address"
                            if direct
                            else "an address that moved money with a blocked one"
                        ),
                        {"counterparty": other, "hops_from_blocked": 0 if direct else 1},
                        (),
                    )
                )
        return alerts

    def _anomaly(self, m: Movement, account: _Account) -> Alert | None:
        p = self.params.anomaly
        if len(account.log_amounts) < p.min_history or m.sender == ZERO:
            return None
        z_amount = _robust_z(math.log(m.amount), account.log_amounts, 0.25)
        z_frequency = 0.0
        if account.last_payment is not None and len(account.log_gaps) >= p.min_history - 1:
            gap = math.log(max(m.time - account.last_payment, 1))
            z_frequency = -_robust_z(gap, account.log_gaps, 0.5)
        novel = m.receiver.lower() not in account.payees
        contributions = {
            "amount": round(max(z_amount, 0.0), 2),
            "frequency": round(min(max(z_frequency, 0.0) / 2, 1.0), 2),
            "new_counterparty": 1.5 if novel else 0.0,
        }
        score = sum(contributions.values())
        if score < p.threshold or z_amount < 3 or self._quiet(account, Typology.ANOMALY, m, 24):
            return None
        typical = math.exp(statistics.median(account.log_amounts))
        named = [name for name, value in contributions.items() if value > 0]
        parts = {
            "amount": f"the amount is {z_amount:.1f} robust deviations above this payer's usual "
            f"(median {self._money(m, round(typical))})",
            "frequency": f"it came {z_frequency:.1f} robust deviations sooner than usual",
            "new_counterparty": "the payee is new to this payer",
        }
        return self._alert(
            Typology.ANOMALY,
            AlertSeverity.HIGH if score >= 2 * p.threshold else AlertSeverity.MEDIUM,
            m.sender,
            m,
            "; ".join(parts[name] for name in named),
            {
                "score": round(score, 2),
                "threshold": p.threshold,
                "features": contributions,
                "z_amount": round(z_amount, 2),
                "z_frequency": round(z_frequency, 2),
                "new_counterparty": novel,
                "history": len(account.log_amounts),
            },
            (),
        )


def _order(m: Movement) -> tuple[int, int, int]:
    return (m.block, m.log_index, m.entry_id)


# ------------------------------------------------------------------------------------ worker ---

MOVEMENTS_CURSOR = "monitoring.legs"
NEWS_CURSOR = "monitoring.events"
NEWS = ("KycUpdated", "BlockedUpdated")


def movements_query(after: int, limit: int) -> Select[*tuple[Any, ...]]:
    """Posted movements (`wallet.ledger.journal.movements`) whose credit leg id is above `after`, in
    that order."""
    query = movements()
    leg = query.selected_columns.leg_id
    return query.where(leg > after).order_by(leg).limit(limit)


def movement_of(row: Any, currency: str) -> Movement:
    """The detector's `Movement` of a `movements()` row (its columns read by position: the monitor and
    the tracer turn millions of rows into movements, and reading a row by name costs more than the
    rest of the work)."""
    _, entry_id, token, block, time, tx_hash, log_index, reference, sender, receiver, amount = row[:11]
    return Movement(
        entry_id, token, currency, block, time, tx_hash, log_index, sender, receiver, int(amount), reference
    )


def news_item(row: ChainEvent, time: int) -> Blocked | Registered | None:
    """The registry's news a `chain_events` row carries, for the detector."""
    if row.account is None:
        return None
    if row.name == "BlockedUpdated":
        return Blocked(row.account, bool(row.args.get("blocked")), time)
    if row.name == "KycUpdated":
        country = country_of_numeric(int(row.args.get("jurisdiction") or 0))
        return Registered(row.account, country if row.args.get("verified") else None, time)
    return None


class Monitor:
    """The monitoring worker: reads what the indexer posted, raises and files alerts."""

    def __init__(
        self,
        bank: Bank,
        policy: PolicyStore,
        cases: Cases,
        *,
        batch: int = 5000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.policy = policy
        self.cases = cases
        self.batch = batch
        self.clock = clock or (lambda: datetime.now(UTC))
        self.currencies = {t.address.lower(): t.currency for t in bank.tokens.values()}
        self.detector: Detector | None = None
        self.positions: tuple[int, int] = (0, 0)
        self.latency: deque[float] = deque(maxlen=1000)  # seconds from a block's time to its alert

    def step(self) -> int:
        """One pass: the registry's news, then up to `batch` movements; returns the alerts stored."""
        with self.bank.readers() as session:
            policy = self.policy.current(session)
            stored = self._positions(session)
            if self.detector is None or stored != self.positions:
                self.detector = self._warm(session, policy, stored)
                self.positions = stored
            elif policy.version != self.detector.policy.version:
                self.detector.configure(policy)
            legs, events = self.positions
            news = list(
                session.scalars(
                    select(ChainEvent)
                    .where(
                        ChainEvent.id > events,
                        ChainEvent.chain_id == self.bank.chain_id,
                        ChainEvent.name.in_(NEWS),
                    )
                    .order_by(ChainEvent.id)
                    .limit(self.batch)
                )
            )
            rows = session.execute(movements_query(legs, self.batch)).all()
        # News and movements in chain order: a block before a transfer in a later block counts for it.
        # Where one read was cut at the batch size, the other waits beyond that read's last block.
        if len(news) == self.batch and rows:
            rows = [r for r in rows if r.block <= news[-1].block_number]
        if len(rows) == self.batch and news:
            news = [n for n in news if n.block_number <= rows[-1].block]
        merged: list[tuple[int, int, int, Any]] = [(n.block_number, n.log_index, 0, n) for n in news]
        merged += [(r.block, r.log_index, 1, r) for r in rows]
        merged.sort(key=lambda x: (x[0], x[1], x[2]))
        detector = self.detector
        alerts: list[Alert] = []
        for _, _, is_movement, thing in merged:
            if is_movement:
                movement = self._movement(thing)
                if movement is not None:
                    alerts += detector.feed(movement)
                continue
            item = news_item(thing, 0)
            if item is not None:
                detector.feed(item)
                if isinstance(item, Blocked) and item.blocked:
                    self._near(item.address)
        new_legs = rows[-1].leg_id if rows else legs
        new_events = news[-1].id if news else events
        if (new_legs, new_events) == (legs, events):
            return 0
        stored_count = self._store(alerts, (legs, events), (new_legs, new_events))
        self.positions = (new_legs, new_events)
        return stored_count or len(rows) + len(news)

    def _movement(self, row: Any) -> Movement | None:
        currency = self.currencies.get(row.token.lower())
        return None if currency is None else movement_of(row, currency)

    def _positions(self, session: Session) -> tuple[int, int]:
        rows = dict(
            session.execute(
                select(EventCursor.name, EventCursor.position).where(
                    EventCursor.name.in_((MOVEMENTS_CURSOR, NEWS_CURSOR))
                )
            ).all()
        )
        return int(rows.get(MOVEMENTS_CURSOR, 0)), int(rows.get(NEWS_CURSOR, 0))

    def _warm(self, session: Session, policy: Policy, positions: tuple[int, int]) -> Detector:
        """A detector that knows the registry up to the cursor and the movements of the longest window
        before it (read again, without alerting), so a restart judges as the run before it would."""
        detector = Detector(policy, previous=self._previous)
        legs, events = positions
        for event in session.scalars(
            select(ChainEvent)
            .where(
                ChainEvent.id <= events, ChainEvent.chain_id == self.bank.chain_id, ChainEvent.name.in_(NEWS)
            )
            .order_by(ChainEvent.id)
        ):
            item = news_item(event, 0)
            if item is not None:
                detector.feed(item)
        if legs:
            newest = session.scalar(
                select(JournalEntry.block_time)
                .join(JournalLeg, JournalLeg.entry_id == JournalEntry.id)
                .where(JournalLeg.id == legs)
            )
            since = (newest or 0) - detector.horizon
            first = session.scalar(
                select(func.min(JournalLeg.id))
                .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                .where(JournalEntry.block_time >= since, JournalLeg.id <= legs)
            )
            cursor = (first or legs + 1) - 1
            while cursor < legs:
                rows = session.execute(movements_query(cursor, self.batch)).all()
                rows = [r for r in rows if r.leg_id <= legs]
                if not rows:
                    break
                for row in rows:
                    movement = self._movement(row)
                    if movement is not None:
                        detector.feed(movement, alert=False)
                cursor = rows[-1].leg_id
        for address in detector.blocked:
            self._near(address, detector)
        return detector

    def _previous(self, address: str, before: int) -> int | None:
        """The time of `address`'s newest movement before `before`, any token (for dormancy)."""
        with self.bank.readers() as session:
            return session.scalar(
                select(func.max(JournalEntry.block_time))
                .join(JournalLeg, JournalLeg.entry_id == JournalEntry.id)
                .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                .where(
                    LedgerAccount.holder == _checksum(address),
                    LedgerAccount.chain_id == self.bank.chain_id,
                    JournalEntry.block_time < before,
                    JournalEntry.posted.is_(True),
                )
            )

    def _near(self, blocked: str, detector: Detector | None = None) -> None:
        """Marks every address that ever moved money with `blocked` as one hop from it."""
        detector = detector or self.detector
        assert detector is not None
        mine, other = aliased(JournalLeg), aliased(JournalLeg)
        me, them = aliased(LedgerAccount), aliased(LedgerAccount)
        with self.bank.readers() as session:
            rows = session.scalars(
                select(them.holder)
                .select_from(mine)
                .join(me, me.id == mine.account_id)
                .join(other, (other.entry_id == mine.entry_id) & (other.id != mine.id))
                .join(them, them.id == other.account_id)
                .where(me.holder == _checksum(blocked), me.chain_id == self.bank.chain_id)
                .distinct()
            )
            detector.near_blocked.update(h.lower() for h in rows if h.lower() != ZERO)

    def _store(self, alerts: list[Alert], before: tuple[int, int], after: tuple[int, int]) -> int:
        stored = 0
        with self.bank.sessions.begin() as session:
            for name, old, new in zip((MOVEMENTS_CURSOR, NEWS_CURSOR), before, after, strict=True):
                moved = session.execute(
                    update(EventCursor)
                    .where(EventCursor.name == name, EventCursor.position == old)
                    .values(position=new)
                ).rowcount  # type: ignore[attr-defined]
                if not moved:
                    if session.get(EventCursor, name) is not None:
                        # Another monitor moved first: start again from what it stored.
                        self.detector = None
                        raise MonitorRaceError(f"the monitoring cursor {name} moved under this monitor")
                    session.add(EventCursor(name=name, position=new))
            keys = [a.key for a in alerts]
            known = (
                set(session.scalars(select(AlertRow.key).where(AlertRow.key.in_(keys)))) if keys else set()
            )
            now = self.clock()
            for alert in alerts:
                if alert.key in known:
                    continue
                known.add(alert.key)
                row = AlertRow(
                    key=alert.key,
                    typology=alert.typology,
                    severity=alert.severity,
                    subject=alert.subject,
                    user_id=customer_of(session, alert.subject),
                    token=alert.token,
                    currency=alert.currency,
                    block_number=alert.block,
                    occurred_at=datetime.fromtimestamp(alert.time, UTC),
                    explanation=alert.explanation[:1000],
                    figures=alert.figures,
                    movements=[m.as_json() for m in alert.movements],
                    created_at=now,
                )
                session.add(row)
                session.flush()
                case = self.cases.file(session, row)
                AuditLog.append(
                    session,
                    actor=SYSTEM,
                    action="alert.raised",
                    subject=f"case:{case.id}",
                    details={"alert": row.id, "typology": alert.typology.value, "subject": alert.subject},
                )
                session.add(
                    Event(
                        user_id=None,
                        type="alert.raised",
                        payload={
                            "alert": row.id,
                            "case": case.id,
                            "typology": alert.typology.value,
                            "severity": alert.severity.value,
                            "subject": alert.subject,
                            "explanation": alert.explanation,
                            "block": alert.block,
                        },
                        created_at=now,
                    )
                )
                self.latency.append(max(0.0, now.timestamp() - alert.time))
                stored += 1
        return stored


def _checksum(address: str) -> str:
    return to_checksum_address(address)


__all__ = [
    "Alert",
    "Blocked",
    "Detector",
    "Monitor",
    "Movement",
    "Registered",
    "movement_of",
    "movements_query",
]
