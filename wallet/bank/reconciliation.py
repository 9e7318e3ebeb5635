"""The reconciliation worker: compares the database with the chain every few minutes (balances,
transactions, transfers, bank operations, nonces; see `wallet.ledger.reconcile`), keeps each result,
and raises a critical incident while they disagree.

A difference must be seen twice, a few seconds apart, before it counts: a nonce whose transaction
failed before it was sent waits a moment for its filler, and the mirror moves on between two reads.
What the chain settled (past the confirmation depth) is checked in full; what is younger is the
outbox's and the indexer's own business.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.db.models import Incident, Reconciliation
from wallet.incidents import close_incident, open_incident
from wallet.ledger.reconcile import Report, reconcile_all
from wallet.vocabulary import IncidentKind, Role, Severity

log = logging.getLogger(__name__)

VIEWERS = (Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
RUNNERS = (Role.OPERATOR, Role.ADMIN)
MAX_KEPT = 200  # differences stored per run; the count is always whole


@dataclass(frozen=True)
class ReconciliationView:
    """One reconciliation as staff see it."""

    id: int
    at_block: int
    balances_at: int | None
    head_block: int
    checked: dict[str, int]
    differences: list[dict[str, Any]]
    difference_count: int
    incident_id: int | None
    started_at: datetime
    finished_at: datetime

    @property
    def ok(self) -> bool:
        return self.difference_count == 0


def _view(row: Reconciliation) -> ReconciliationView:
    return ReconciliationView(
        id=row.id,
        at_block=row.at_block,
        balances_at=row.balances_at,
        head_block=row.head_block,
        checked=dict(row.checked),
        differences=list(row.differences),
        difference_count=row.difference_count,
        incident_id=row.incident_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class Reconciler:
    """Runs reconciliations, keeps their results and the incident they raise."""

    def __init__(self, bank: Bank, *, interval: float = 300.0, recheck_after: float = 2.0) -> None:
        self.bank = bank
        self.interval = interval
        self.recheck_after = recheck_after
        self._next_run = 0.0

    def step(self) -> int:
        """One pass of the worker: a reconciliation when the interval has passed since the last."""
        if time.monotonic() < self._next_run:
            return 0
        self.run()
        self._next_run = time.monotonic() + self.interval
        return 0

    def run(self) -> ReconciliationView:
        """Reconciles now, stores the result and opens (or resolves) the incident."""
        started = datetime.now(UTC)
        report = self._compare()
        if report.differences:
            time.sleep(self.recheck_after)
            again = self._compare()
            seen = {d.key for d in report.differences}
            again.differences = [d for d in again.differences if d.key in seen]
            report = again
        return self._store(report, started)

    def run_now(self, principal: Principal) -> ReconciliationView:
        """A reconciliation on an operator's or admin's word (`POST /v1/operations/reconciliation`)."""
        principal.require(*RUNNERS)
        return self.run()

    def latest(self) -> ReconciliationView | None:
        """The newest result (for `/readyz`; no principal)."""
        with self.bank.readers() as session:
            row = session.scalars(
                select(Reconciliation)
                .where(Reconciliation.chain_id == self.bank.chain_id)
                .order_by(Reconciliation.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _view(row)

    def last(self, principal: Principal) -> ReconciliationView | None:
        """The newest result (operators, compliance, admins)."""
        principal.require(*VIEWERS)
        return self.latest()

    def _compare(self) -> Report:
        bank = self.bank
        head = bank.w3.eth.block_number
        settled = head - bank.config.confirmations
        mirror = bank.mirror_block()
        balances_at = -1 if mirror is None else min(mirror, settled)
        tokens = [t.address for t in (*bank.tokens.values(), *bank.wholesale.values())]
        return reconcile_all(bank.sessions, bank.w3, tokens, max(settled, 0), balances_at=balances_at)

    def _store(self, report: Report, started: datetime) -> ReconciliationView:
        differences = [d.as_json() for d in report.differences]
        with self.bank.sessions.begin() as session:
            incident = session.scalars(
                select(Incident)
                .where(Incident.kind == IncidentKind.RECONCILIATION, Incident.resolved_at.is_(None))
                .order_by(Incident.id.desc())
                .with_for_update()
            ).first()
            row = Reconciliation(
                chain_id=self.bank.chain_id,
                at_block=report.at_block,
                balances_at=report.balances_at,
                head_block=report.head_block,
                checked=vars(report.checked),
                differences=differences[:MAX_KEPT],
                difference_count=len(differences),
                started_at=started,
            )
            session.add(row)
            session.flush()
            if differences and incident is None:
                lines = [d.line() for d in report.differences]
                incident = open_incident(
                    session,
                    IncidentKind.RECONCILIATION,
                    Severity.CRITICAL,
                    f"reconciliation {row.id} found {len(lines)} differences between the database and "
                    f"the chain: {'; '.join(lines[:3])}"[:500],
                    {"reconciliation_id": row.id, "differences": differences[:50]},
                )
            elif not differences and incident is not None:
                close_incident(incident, "reconciliation", f"reconciliation {row.id} found no difference")
                incident = None
            row.incident_id = None if incident is None else incident.id
            session.flush()
            return _view(row)
