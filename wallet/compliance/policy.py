"""The transfer policy: every customer transfer is judged by it before anything is signed.

The policy is data: a versioned document in the database (`policies`), the newest version in force.
Version 1 is `DEFAULT_POLICY`, installed by the migration that made the table; later versions are
installed by an approved `policy_change` proposal (maker-checker), never edited in place. A document names:

- `tiers`: per tier (a customer's tier is set with their KYC decision), the number of transfers an hour
  (`velocity_per_hour`) and, per currency, the `single`, `daily` and `monthly` limits (decimal strings).
  A currency a tier does not list has no limit there, so every transfer in it is refused: fail closed.
- `limit_action`, `velocity_action`: what a limit or the velocity does when exceeded (hold or reject).
- `new_payee`: the first transfer to a payee the customer never paid before is held (`action`) when it
  is above the currency's threshold.
- `jurisdictions`: a counterparty in a `prohibited` country is refused; in a `high_risk` one, held.
- `screening_action`: a counterparty whose name matches a sanctions list entry, or a payer with an open
  screening hit, is held. A payee address on a list's digital-currency addresses is always refused.
- KYC: a payer who is not verified, or whose verification has expired, is always refused.
- `monitoring`: the transaction-monitoring rules' parameters (`wallet.compliance.monitoring`).
- `fx`: the FX spread per tier in basis points and how long a quote holds (`wallet.fx.quotes`).

`decide(policy, facts)` is a pure function of the policy and the facts gathered about one transfer
(by `TransferPolicy.decide`); the decision is `allow`, `hold` or `reject` (the most severe of the rules
that fired), with every rule that fired, explained, and the policy version. Limits count every transfer
of the customer in the currency that has not failed (held ones included), in the UTC day and the UTC
month of `now`; one exactly at a limit passes, one minor unit more does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.compliance.matching import Entry, Match, Subject, iso_country
from wallet.compliance.screening import SanctionsLists
from wallet.db.models import PolicyVersion, TransferRequest, User, aware
from wallet.errors import InvalidRequestError, MoneyError, NotFoundError
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import KycStatus, PolicyOutcome, RequestStatus, Role

Action = Literal["hold", "reject"]
SEVERITY = {PolicyOutcome.ALLOW: 0, PolicyOutcome.HOLD: 1, PolicyOutcome.REJECT: 2}

_MAJOR = ("USD", "EUR", "GBP", "CHF", "SGD", "JPY", "CAD", "AUD", "HKD")


def _limits(single: int, daily: int, monthly: int) -> dict[str, dict[str, str]]:
    """The same limits (in major units) in each of the major currencies; JPY's are a hundred times more."""
    out = {}
    for code in _MAJOR:
        scale = 100 if code == "JPY" else 1
        out[code] = {
            "single": str(single * scale),
            "daily": str(daily * scale),
            "monthly": str(monthly * scale),
        }
    return out


MONITORING_AMOUNTS = {
    code: {
        key: str(value * (100 if code == "JPY" else 1))
        for key, value in {
            "reporting": 10_000,
            "round_unit": 1_000,
            "pass_through_min": 3_000,
            "dormant_min": 1_000,
            "travel_rule": 1_000,
        }.items()
    }
    for code in _MAJOR
}

DEFAULT_POLICY: dict[str, Any] = {
    "tiers": {
        "standard": {"velocity_per_hour": 30, "limits": _limits(10_000, 25_000, 100_000)},
        "premium": {"velocity_per_hour": 120, "limits": _limits(100_000, 250_000, 1_000_000)},
        "institutional": {
            "velocity_per_hour": 100_000,
            "limits": _limits(10_000_000, 50_000_000, 500_000_000),
        },
    },
    "default_tier": "standard",
    "limit_action": "reject",
    "velocity_action": "hold",
    "new_payee": {"action": "hold", "thresholds": {code: "5000" for code in _MAJOR if code != "JPY"}},
    # FATF's "call for action" countries, and a sample of its list under increased monitoring.
    "jurisdictions": {
        "prohibited": ["KP", "IR", "MM"],
        "high_risk": ["SY", "YE", "HT", "SS", "VE", "ML", "NG", "ZA", "VN", "BG"],
        "high_risk_action": "hold",
    },
    "screening_action": "hold",
    "monitoring": {"amounts": MONITORING_AMOUNTS},
    "fx": {"spread_bps": {"standard": 50, "premium": 25, "institutional": 5}, "quote_ttl_seconds": 30},
}


# ---------------------------------------------------------------------------------- document ---


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Limits(_Doc):
    single: str
    daily: str
    monthly: str


class Tier(_Doc):
    velocity_per_hour: int = Field(ge=1, le=10_000_000)
    limits: dict[str, Limits]


class NewPayee(_Doc):
    action: Action = "hold"
    thresholds: dict[str, str]


class Jurisdictions(_Doc):
    prohibited: list[str] = Field(default_factory=list)
    high_risk: list[str] = Field(default_factory=list)
    high_risk_action: Action = "hold"

    @field_validator("prohibited", "high_risk")
    @classmethod
    def _countries(cls, codes: list[str]) -> list[str]:
        return sorted({iso_country(code) for code in codes})


class MonitoringAmounts(_Doc):
    """Per currency, in major units: the reporting threshold (large transfers; structuring is just
    under it), what counts as a round amount, the least inflow a pass-through looks at, the least
    amount that wakes a dormant account, and the travel-rule threshold."""

    reporting: str
    round_unit: str
    pass_through_min: str
    dormant_min: str
    travel_rule: str


class Window(_Doc):
    window_hours: int = Field(default=24, ge=1, le=24 * 31)


class Structuring(Window):
    window_hours: int = Field(default=48, ge=1, le=24 * 31)
    min_count: int = Field(default=3, ge=2, le=100)
    band: str = Field(default="0.8", description="transfers from band x threshold up to the threshold")


class PassThrough(Window):
    max_residual: str = Field(default="0.1", description="what stays, as a fraction of what came in")


class Fan(Window):
    min_counterparties: int = Field(default=8, ge=2, le=10_000)


class RoundAmounts(Window):
    min_count: int = Field(default=3, ge=2, le=100)


class Dormant(_Doc):
    idle_days: int = Field(default=90, ge=1, le=3650)


class Anomaly(_Doc):
    min_history: int = Field(default=20, ge=3, le=1000)
    threshold: float = Field(default=6.0, gt=0, le=100)


class CaseDueDays(_Doc):
    low: int = Field(default=30, ge=1, le=365)
    medium: int = Field(default=14, ge=1, le=365)
    high: int = Field(default=7, ge=1, le=365)


class Monitoring(_Doc):
    """Transaction monitoring's parameters (see `wallet.compliance.monitoring` for each rule)."""

    amounts: dict[str, MonitoringAmounts] = Field(
        default_factory=lambda: {c: MonitoringAmounts(**a) for c, a in MONITORING_AMOUNTS.items()}
    )
    structuring: Structuring = Structuring()
    pass_through: PassThrough = PassThrough()
    fan: Fan = Fan()
    round_amounts: RoundAmounts = RoundAmounts()
    dormant: Dormant = Dormant()
    anomaly: Anomaly = Anomaly()
    exempt: list[str] = Field(
        default_factory=list, description="addresses never made the subject of an alert (the bank's own)"
    )
    case_due_days: CaseDueDays = CaseDueDays()


class Fx(_Doc):
    """FX quotes (`wallet.fx.quotes`): the spread per tier, in basis points of the mid rate taken from what
    the customer buys, and how long a quote holds. A tier not listed pays the default tier's spread."""

    spread_bps: dict[str, int] = Field(
        default_factory=lambda: {"standard": 50, "premium": 25, "institutional": 5}, min_length=1
    )
    quote_ttl_seconds: int = Field(default=30, ge=5, le=3600)

    @field_validator("spread_bps")
    @classmethod
    def _spreads(cls, spreads: dict[str, int]) -> dict[str, int]:
        for tier, bps in spreads.items():
            if not 0 <= bps <= 2_000:
                raise ValueError(f"the spread of {tier} is {bps} basis points; it must be 0 to 2000")
        return spreads


class PolicyDocument(_Doc):
    tiers: dict[str, Tier] = Field(min_length=1)
    default_tier: str
    limit_action: Action = "reject"
    velocity_action: Action = "hold"
    new_payee: NewPayee
    jurisdictions: Jurisdictions
    screening_action: Action = "hold"
    monitoring: Monitoring = Monitoring()
    fx: Fx = Fx()


@dataclass(frozen=True)
class TierLimits:
    single: int
    daily: int
    monthly: int


@dataclass(frozen=True)
class Policy:
    """A policy document with its amounts in minor units, as `decide` reads it."""

    version: int
    document: PolicyDocument
    limits: dict[str, dict[str, TierLimits]]  # tier -> currency -> limits
    new_payee: dict[str, int]  # currency -> threshold
    monitoring: dict[str, dict[str, int]] = field(default_factory=dict)  # currency -> amount -> minor

    @classmethod
    def compile(cls, version: int, raw: Mapping[str, Any]) -> Policy:
        """Validates `raw` and converts its amounts; `InvalidRequestError` names what is wrong."""
        try:
            document = PolicyDocument.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidRequestError(f"the policy document is not valid: {problems}") from None
        if document.default_tier not in document.tiers:
            raise InvalidRequestError(f"the default tier {document.default_tier!r} is not one of the tiers")
        limits: dict[str, dict[str, TierLimits]] = {}
        for name, tier in document.tiers.items():
            if not name.isidentifier() or len(name) > 16:
                raise InvalidRequestError(f"a tier's name is a word of at most 16 characters, not {name!r}")
            limits[name] = {}
            for code, given in tier.limits.items():
                single, daily, monthly = (
                    _minor(getattr(given, part), code, f"tiers.{name}.limits.{code}.{part}")
                    for part in ("single", "daily", "monthly")
                )
                if not single <= daily <= monthly:
                    raise InvalidRequestError(
                        f"tier {name}, {code}: the limits must grow, single <= daily <= monthly"
                    )
                limits[name][code] = TierLimits(single, daily, monthly)
        thresholds = {
            code: _minor(amount, code, f"new_payee.thresholds.{code}")
            for code, amount in document.new_payee.thresholds.items()
        }
        monitoring: dict[str, dict[str, int]] = {}
        for code, amounts in document.monitoring.amounts.items():
            monitoring[code] = {
                name: _minor(value, code, f"monitoring.amounts.{code}.{name}")
                for name, value in amounts.model_dump().items()
            }
        if document.default_tier not in document.fx.spread_bps:
            raise InvalidRequestError(
                f"fx.spread_bps has no spread for the default tier {document.default_tier!r}"
            )
        for name in ("band", "max_residual"):
            part = document.monitoring.structuring if name == "band" else document.monitoring.pass_through
            if not 0 <= _fraction(getattr(part, name), f"monitoring.{name}") <= 1:
                raise InvalidRequestError(f"monitoring.{name} is a fraction between 0 and 1")
        return cls(version, document, limits, thresholds, monitoring)

    def normalized(self) -> dict[str, Any]:
        """The document as stored (JSON, defaults filled in)."""
        return self.document.model_dump(mode="json")


def _fraction(text: str, where: str) -> Fraction:
    try:
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise InvalidRequestError(f"{where}: {text!r} is not a decimal number") from None


def _minor(amount: str, code: str, where: str) -> int:
    try:
        return parse_amount(amount, code)
    except MoneyError as exc:
        raise InvalidRequestError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------ the decision ---


@dataclass(frozen=True)
class Facts:
    """What the policy knows about one transfer when it judges it."""

    currency: str
    amount: int  # minor units
    now: datetime
    tier: str | None
    kyc_status: str
    kyc_expires_at: datetime | None = None
    spent_today: int = 0  # the customer's transfers in the currency this UTC day, not failed
    spent_month: int = 0  # ... this UTC month
    count_last_hour: int = 0  # the customer's transfers (any currency) in the last hour, not failed
    new_payee: bool = False  # no earlier transfer of the customer's to this address
    counterparty_country: str | None = None
    counterparty_hits: tuple[dict[str, Any], ...] = ()  # sanctions matches of the counterparty's name
    blocked_entry: dict[str, Any] | None = None  # the list entry naming the payee's address
    payer_hits: tuple[dict[str, Any], ...] = ()  # the payer's own open screening hits


@dataclass(frozen=True)
class Fired:
    """One rule that fired, with its outcome and why."""

    rule: str
    outcome: PolicyOutcome
    explanation: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "explanation": self.explanation,
            **self.data,
        }


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one transfer."""

    outcome: PolicyOutcome
    rules: tuple[Fired, ...]
    policy_version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "policy_version": self.policy_version,
            "rules": [r.as_json() for r in self.rules],
        }


def decide(policy: Policy, facts: Facts) -> Decision:
    """Judges one transfer: every rule that fires, and the most severe outcome among them."""
    fired: list[Fired] = []
    doc = policy.document
    code = facts.currency
    exponent = iso_currency(code).exponent

    def money(units: int) -> str:
        return f"{format_amount(units, exponent)} {code}"

    reject = PolicyOutcome.REJECT
    if facts.kyc_status != KycStatus.VERIFIED:
        fired.append(Fired("kyc", reject, f"the customer's identity is {facts.kyc_status}, not verified"))
    elif facts.kyc_expires_at is not None and aware(facts.kyc_expires_at) <= facts.now:
        fired.append(
            Fired(
                "kyc_expired",
                reject,
                "the customer's identity verification has expired",
                {"expired_at": aware(facts.kyc_expires_at).isoformat()},
            )
        )
    if facts.blocked_entry is not None:
        fired.append(
            Fired(
                "blocked_address",
                reject,
                "the payee's address is on a sanctions list",
                {"entry": facts.blocked_entry},
            )
        )

    tier = facts.tier if facts.tier in doc.tiers else doc.default_tier
    limits = policy.limits[tier].get(code)
    limit_outcome = PolicyOutcome(doc.limit_action)
    if limits is None:
        fired.append(
            Fired("tier_currency", reject, f"the {tier} tier has no limits in {code}", {"tier": tier})
        )
    else:
        for rule, limit, used, span in (
            ("limit_single", limits.single, 0, "for one transfer"),
            ("limit_daily", limits.daily, facts.spent_today, "for the UTC day"),
            ("limit_monthly", limits.monthly, facts.spent_month, "for the UTC month"),
        ):
            if used + facts.amount > limit:
                fired.append(
                    Fired(
                        rule,
                        limit_outcome,
                        f"{money(used + facts.amount)} is above the {tier} tier's limit of {money(limit)} "
                        f"{span}",
                        {
                            "tier": tier,
                            "limit": money(limit),
                            "used": money(used),
                            "amount": money(facts.amount),
                        },
                    )
                )
    velocity = doc.tiers[tier].velocity_per_hour
    if facts.count_last_hour + 1 > velocity:
        fired.append(
            Fired(
                "velocity",
                PolicyOutcome(doc.velocity_action),
                f"this would be transfer {facts.count_last_hour + 1} in an hour; the {tier} tier allows "
                f"{velocity}",
                {"tier": tier, "limit": velocity, "count": facts.count_last_hour},
            )
        )
    threshold = policy.new_payee.get(code)
    if facts.new_payee and threshold is not None and facts.amount > threshold:
        fired.append(
            Fired(
                "new_payee",
                PolicyOutcome(doc.new_payee.action),
                f"the first payment to this payee, {money(facts.amount)}, is above {money(threshold)}",
                {"threshold": money(threshold)},
            )
        )
    country = facts.counterparty_country
    if country is not None and country in doc.jurisdictions.prohibited:
        fired.append(
            Fired("jurisdiction_prohibited", reject, f"the payee is in {country}", {"country": country})
        )
    elif country is not None and country in doc.jurisdictions.high_risk:
        fired.append(
            Fired(
                "jurisdiction_high_risk",
                PolicyOutcome(doc.jurisdictions.high_risk_action),
                f"the payee is in {country}, a high-risk jurisdiction",
                {"country": country},
            )
        )
    screening = PolicyOutcome(doc.screening_action)
    if facts.counterparty_hits:
        fired.append(
            Fired(
                "screening_counterparty",
                screening,
                "the payee's name matches a sanctions list entry",
                {"matches": list(facts.counterparty_hits)},
            )
        )
    if facts.payer_hits:
        fired.append(
            Fired(
                "screening_customer",
                screening,
                "the customer has an open sanctions screening hit",
                {"matches": list(facts.payer_hits)},
            )
        )
    outcome = max((f.outcome for f in fired), key=SEVERITY.__getitem__, default=PolicyOutcome.ALLOW)
    return Decision(outcome, tuple(fired), policy.version)


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC day."""
    utc = now.astimezone(UTC)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """The start of `now`'s UTC month."""
    return day_start(now).replace(day=1)


@dataclass(frozen=True)
class Usage:
    """The customer's transfers the limits and the velocity count."""

    spent_today: int
    spent_month: int
    count_last_hour: int


def usage(session: Session, owner_id: str, token: str, now: datetime) -> Usage:
    """Sums the customer's transfers in `token` not failed (held included) in `now`'s UTC day and month,
    and counts their transfers of the last hour. Summed in Python: exact whatever the database."""
    month, day, hour = month_start(now), day_start(now), now - timedelta(hours=1)
    since = min(month, hour)
    rows = session.execute(
        select(TransferRequest.value, TransferRequest.created_at, TransferRequest.token).where(
            TransferRequest.owner_id == owner_id,
            TransferRequest.created_at >= since,
            TransferRequest.status != RequestStatus.FAILED,
        )
    ).all()
    today = month_total = recent = 0
    for value, created, row_token in rows:
        created = aware(created)
        if created > now:
            continue
        if row_token == token and created >= month:
            month_total += value
            if created >= day:
                today += value
        if created > hour:
            recent += 1
    return Usage(today, month_total, recent)


def is_new_payee(session: Session, owner_id: str, payee: str) -> bool:
    """Whether the customer never sent a transfer (that did not fail) to `payee`."""
    earlier = session.scalar(
        select(func.count())
        .select_from(TransferRequest)
        .where(
            TransferRequest.owner_id == owner_id,
            TransferRequest.payee == payee,
            TransferRequest.status != RequestStatus.FAILED,
        )
    )
    return not earlier


# ---------------------------------------------------------------------------------- the store ---


@dataclass(frozen=True)
class PolicyView:
    version: int
    document: dict[str, Any]
    sha256: str
    created_by: str
    proposal_id: str | None
    created_at: datetime


class PolicyStore:
    """The policy versions: reads the one in force, installs new ones (from approved proposals)."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))
        self._compiled: dict[int, Policy] = {}

    def current(self, session: Session | None = None) -> Policy:
        """The policy in force (version 1, the default, is installed by the migration that made the
        table)."""
        if session is None:
            with self.sessions() as own:
                return self.current(own)
        # Every transfer asks this: the newest version's number is read, its document only once.
        version = session.scalar(select(func.max(PolicyVersion.version)))
        if version is None:
            raise NotFoundError("transfer policy", "in force")
        policy = self._compiled.get(version)
        if policy is None:
            document = session.scalar(select(PolicyVersion.document).where(PolicyVersion.version == version))
            policy = self._compiled[version] = Policy.compile(version, document or {})
        return policy

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """A `policy_change` proposal's params, `{document}`, checked and normalized."""
        document = params.get("document")
        if set(params) != {"document"} or not isinstance(document, dict):
            raise InvalidRequestError("a policy_change proposal's params are {document: {...}}")
        return {"document": Policy.compile(0, document).normalized()}

    def install(
        self, session: Session, principal: Principal, params: dict[str, Any], proposal_id: str | None
    ) -> None:
        """Stores the proposal's document as the next version, inside the approving transaction."""
        normalized = self.validate(params)["document"]
        newest = session.scalar(select(func.max(PolicyVersion.version))) or 0
        version = newest + 1
        sha256 = digest(normalized)
        session.add(
            PolicyVersion(
                version=version,
                document=normalized,
                sha256=sha256,
                created_by=principal.username,
                proposal_id=proposal_id,
                created_at=self.clock(),
            )
        )
        session.flush()  # a concurrent install of the same version fails here, rolling back the approval
        AuditLog.append(
            session,
            actor=principal.username,
            action="policy.installed",
            subject=f"policy:{version}",
            details={"sha256": sha256, "proposal": proposal_id, "replaced": newest or None},
        )

    def get(self, principal: Principal, version: int | None = None) -> PolicyView:
        """A version (the one in force by default), for compliance, operators and admins."""
        principal.require(Role.COMPLIANCE, Role.OPERATOR, Role.ADMIN)
        with self.sessions() as session:
            if version is None:
                version = self.current(session).version
            row = session.get(PolicyVersion, version)
            if row is None:
                raise NotFoundError("policy version", str(version))
            return PolicyView(
                row.version,
                dict(row.document),
                row.sha256,
                row.created_by,
                row.proposal_id,
                aware(row.created_at),
            )


def digest(document: Mapping[str, Any]) -> str:
    """The SHA-256 of a policy document as stored (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ------------------------------------------------------------------------- judging transfers ---

# Rules a customer is told; the others (sanctions) are summed up as one the customer may see.
DISCLOSED = frozenset(
    {
        "kyc",
        "kyc_expired",
        "tier_currency",
        "limit_single",
        "limit_daily",
        "limit_monthly",
        "velocity",
        "new_payee",
        "jurisdiction_prohibited",
        "jurisdiction_high_risk",
    }
)
UNDISCLOSED = {"rule": "compliance_review", "explanation": "the bank must review this payment"}


def disclosed(decision: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The rules of a stored decision that its customer may read (no sanctions details)."""
    if not decision:
        return []
    rules = [
        {"rule": r["rule"], "outcome": r["outcome"], "explanation": r["explanation"]}
        for r in decision.get("rules", [])
        if r["rule"] in DISCLOSED
    ]
    hidden = [r for r in decision.get("rules", []) if r["rule"] not in DISCLOSED]
    if hidden:
        worst = max((PolicyOutcome(r["outcome"]) for r in hidden), key=SEVERITY.__getitem__)
        rules.append({**UNDISCLOSED, "outcome": worst.value})
    return rules


@dataclass(frozen=True)
class Counterparty:
    """Whom a transfer pays: the address, and what the bank knows of its holder."""

    address: str
    name: str | None = None
    country: str | None = None
    user_id: str | None = None  # a customer of this bank
    other_names: tuple[str, ...] = ()  # the name the payer saved them under, when it is another


@dataclass(frozen=True)
class Screened:
    """The counterparty's screening: name matches, and the entry naming its address if any."""

    matches: tuple[Match, ...] = ()
    blocked: Entry | None = None


class TransferPolicy:
    """Gathers the facts of one transfer and judges it by the policy in force."""

    def __init__(
        self,
        store: PolicyStore,
        sanctions: SanctionsLists,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.sanctions = sanctions
        self.clock = clock or (lambda: datetime.now(UTC))

    def screen(self, counterparty: Counterparty) -> Screened:
        """Screens the counterparty's name (when known) and its address."""
        found: dict[tuple[str, str], Match] = {}
        countries = (counterparty.country,) if counterparty.country else ()
        subjects = [Subject(n) for n in counterparty.other_names]  # a saved name's country is not known
        if counterparty.name:
            subjects.append(Subject(counterparty.name, countries=countries))
        for subject in subjects:
            for match in self.sanctions.screen(subject):
                key = (match.entry.list_name, match.entry.entry_id)
                if key not in found or match.score > found[key].score:
                    found[key] = match
        matches = tuple(sorted(found.values(), key=lambda m: -m.score))
        return Screened(matches, self.sanctions.blocked(counterparty.address))

    def decide(
        self,
        session: Session,
        *,
        user: User,
        token: str,
        currency: str,
        value: int,
        counterparty: Counterparty,
        screened: Screened,
        now: datetime | None = None,
    ) -> Decision:
        """The decision for `user` paying `value` of `token` to `counterparty`, as `session` sees the
        customer's earlier transfers."""
        moment = now or self.clock()
        used = usage(session, user.id, token, moment)
        blocked = screened.blocked
        facts = Facts(
            currency=currency,
            amount=value,
            now=moment,
            tier=user.tier,
            kyc_status=user.kyc_status,
            kyc_expires_at=user.kyc_expires_at,
            spent_today=used.spent_today,
            spent_month=used.spent_month,
            count_last_hour=used.count_last_hour,
            new_payee=is_new_payee(session, user.id, counterparty.address),
            counterparty_country=counterparty.country,
            counterparty_hits=tuple(m.explanation for m in screened.matches),
            blocked_entry=(
                {
                    "sanctions_list": blocked.list_name,
                    "entry_id": blocked.entry_id,
                    "entry_name": blocked.names[0] if blocked.names else "",
                    "programs": list(blocked.programs),
                }
                if blocked is not None
                else None
            ),
            payer_hits=tuple(SanctionsLists.open_hits(session, user.id)),
        )
        return decide(self.store.current(session), facts)
