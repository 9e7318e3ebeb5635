"""The transfer policy's rules at their boundaries: exactly at a limit passes, one minor unit over does
not; the day and the month are UTC's, so a transfer a second before midnight (or the month's end)
counts for the day (month) it was made in and not for the next."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from wallet.compliance.policy import (
    DEFAULT_POLICY,
    Facts,
    Policy,
    decide,
    disclosed,
    month_start,
    usage,
)
from wallet.db import session_factory
from wallet.db.models import TransferRequest
from wallet.errors import InvalidRequestError
from wallet.vocabulary import PolicyOutcome, RequestStatus

POLICY = Policy.compile(1, DEFAULT_POLICY)
STANDARD = POLICY.limits["standard"]["USD"]
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _facts(**changes: object) -> Facts:
    base: dict[str, object] = {
        "currency": "USD",
        "amount": 100,
        "now": NOW,
        "tier": "standard",
        "kyc_status": "verified",
    }
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


def _rules(facts: Facts) -> list[str]:
    return [r.rule for r in decide(POLICY, facts).rules]


@given(st.integers(min_value=1, max_value=STANDARD.single))
def test_any_amount_up_to_the_single_limit_passes_and_one_unit_more_does_not(amount: int) -> None:
    assert "limit_single" not in _rules(_facts(amount=amount))
    over = STANDARD.single + 1
    decision = decide(POLICY, _facts(amount=over))
    assert [r.rule for r in decision.rules] == ["limit_single"]
    assert decision.outcome == PolicyOutcome.REJECT


@given(
    st.integers(min_value=0, max_value=STANDARD.daily - 1),
    st.integers(min_value=1, max_value=STANDARD.single),
)
def test_the_daily_limit_counts_what_was_sent_today(spent: int, amount: int) -> None:
    fired = "limit_daily" in _rules(_facts(amount=amount, spent_today=spent, spent_month=spent))
    assert fired == (spent + amount > STANDARD.daily)


@given(st.integers(min_value=0, max_value=STANDARD.monthly))
def test_the_monthly_limit_at_and_past_its_boundary(spent: int) -> None:
    room = STANDARD.monthly - spent
    if 1 <= room <= STANDARD.single:
        assert "limit_monthly" not in _rules(_facts(amount=room, spent_month=spent))
    if room + 1 <= STANDARD.single:
        assert "limit_monthly" in _rules(_facts(amount=room + 1, spent_month=spent))


def test_velocity_new_payees_jurisdictions_kyc_and_screening() -> None:
    velocity = POLICY.document.tiers["standard"].velocity_per_hour
    assert "velocity" not in _rules(_facts(count_last_hour=velocity - 1))
    held = decide(POLICY, _facts(count_last_hour=velocity))
    assert (held.outcome, [r.rule for r in held.rules]) == (PolicyOutcome.HOLD, ["velocity"])
    threshold = POLICY.new_payee["USD"]
    assert _rules(_facts(amount=threshold, new_payee=True)) == []
    assert _rules(_facts(amount=threshold + 1, new_payee=True)) == ["new_payee"]
    assert _rules(_facts(amount=threshold + 1, new_payee=False)) == []
    assert decide(POLICY, _facts(counterparty_country="KP")).outcome == PolicyOutcome.REJECT
    assert decide(POLICY, _facts(counterparty_country="SY")).outcome == PolicyOutcome.HOLD
    assert decide(POLICY, _facts(counterparty_country="CH")).outcome == PolicyOutcome.ALLOW
    assert _rules(_facts(kyc_status="pending_kyc")) == ["kyc"]
    assert _rules(_facts(kyc_expires_at=NOW)) == ["kyc_expired"]
    assert _rules(_facts(kyc_expires_at=NOW + timedelta(seconds=1))) == []
    match = {"sanctions_list": "ofac", "entry_id": "1", "score": 95.0}
    screened = decide(POLICY, _facts(counterparty_hits=(match,), payer_hits=(match,)))
    assert screened.outcome == PolicyOutcome.HOLD
    # The customer reads one undisclosed reason for both sanctions rules, never the match.
    assert disclosed(screened.as_json()) == [
        {"rule": "compliance_review", "explanation": "the bank must review this payment", "outcome": "hold"}
    ]
    blocked = decide(POLICY, _facts(blocked_entry={"sanctions_list": "ofac", "entry_id": "2"}))
    assert (blocked.outcome, [r.rule for r in blocked.rules]) == (PolicyOutcome.REJECT, ["blocked_address"])


def test_a_currency_the_tier_does_not_list_is_refused_and_unknown_tiers_fall_back() -> None:
    assert decide(POLICY, _facts(currency="NOK")).outcome == PolicyOutcome.REJECT
    assert _rules(_facts(tier="no-such-tier")) == []


def test_a_policy_document_is_checked_before_it_can_be_proposed() -> None:
    changes: list[tuple[Callable[[dict[str, Any]], object], str]] = [
        (lambda d: d.update(default_tier="gold"), "default tier"),
        (lambda d: d["tiers"]["standard"]["limits"]["USD"].update(single="30000"), "single <= daily"),
        (
            lambda d: d["tiers"]["standard"]["limits"].update(
                XXX={"single": "1", "daily": "1", "monthly": "1"}
            ),
            "XXX",
        ),
        (lambda d: d["jurisdictions"].update(prohibited=["Atlantis"]), "Atlantis"),
        (lambda d: d.update(limit_action="ignore"), "limit_action"),
        (lambda d: d["tiers"]["standard"]["limits"]["USD"].update(single="1.001"), "decimals"),
        (lambda d: d.update(unknown=1), "unknown"),
    ]
    for change, message in changes:
        document = copy.deepcopy(DEFAULT_POLICY)
        change(document)
        with pytest.raises(InvalidRequestError, match=message):
            Policy.compile(2, document)


# ---------------------------------------------------------------------- the windows, stored ---

EDGES = [
    datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),  # a month's last second
    datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC),  # the next month's first
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),  # the year's last second
    datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC),  # a leap day
    datetime(2026, 11, 24, 0, 0, 0, tzinfo=UTC),  # midnight inside a month
]


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edge=st.sampled_from(EDGES),
    offsets=st.lists(st.integers(min_value=-40 * 86400, max_value=0), min_size=1, max_size=6),
    now_after=st.integers(min_value=0, max_value=7200),
    failed=st.booleans(),
)
def test_usage_counts_the_utc_day_and_month_of_now(
    sessions: sessionmaker[Session],
    edge: datetime,
    offsets: list[int],
    now_after: int,
    failed: bool,
) -> None:
    """Transfers made at `edge + offset`, judged at `edge + now_after`: each counts for the day and
    the month of `now` exactly when its UTC calendar date (month) is `now`'s."""
    now = edge + timedelta(seconds=now_after - 3600)
    owner, token = uuid.uuid4().hex, "0x" + "11" * 20
    made = [edge + timedelta(seconds=o) for o in offsets]
    with sessions.begin() as session:
        for n, at in enumerate(made):
            session.add(
                _request(owner, token, 10**n, at, RequestStatus.FAILED if failed and n == 0 else None)
            )
        session.add(_request(owner, "0x" + "22" * 20, 7, now, None))  # another currency: velocity only
    try:
        with sessions() as session:
            used = usage(session, owner, token, now)
        counted = [(10**n, at) for n, at in enumerate(made) if not (failed and n == 0) and at <= now]
        assert used.spent_today == sum(v for v, at in counted if at.date() == now.date())
        assert used.spent_month == sum(v for v, at in counted if (at.year, at.month) == (now.year, now.month))
        recent = sum(1 for _, at in counted if at > now - timedelta(hours=1))
        assert used.count_last_hour == recent + 1
        assert month_start(now).day == 1
    finally:
        with sessions.begin() as session:
            session.execute(delete(TransferRequest).where(TransferRequest.owner_id == owner))


def _request(
    owner: str, token: str, value: int, at: datetime, status: RequestStatus | None
) -> TransferRequest:
    return TransferRequest(
        id=uuid.uuid4().hex,
        idempotency_key=uuid.uuid4().hex,
        request_hash="0" * 64,
        token=token,
        payer="0x" + "33" * 20,
        payee="0x" + "44" * 20,
        value=value,
        payment_reference=b"\0" * 32,
        valid_before=0,
        auth_nonce=uuid.uuid4().bytes * 2,
        signature=b"\0" * 65,
        status=status or RequestStatus.PENDING,
        owner_id=owner,
        created_at=at,
        updated_at=at,
    )
