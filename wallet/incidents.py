"""Opening and closing incidents, for every worker that raises one (the indexer's reorgs, recovery's
chain behind the database): one row, logged, and, while it is open, announced to operators as an
`incident.opened` event (their webhooks receive every event without an owner). Who may list and
resolve them is decided in `wallet.bank.recovery`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from wallet.db.models import Event, Incident
from wallet.vocabulary import IncidentKind, Severity

log = logging.getLogger(__name__)


def open_incident(
    session: Session,
    kind: IncidentKind,
    severity: Severity,
    summary: str,
    details: dict[str, Any] | None = None,
    *,
    reorg_id: int | None = None,
    resolved_by: str | None = None,
    resolution: str | None = None,
) -> Incident:
    """Writes an incident in `session`'s transaction and logs it. With `resolved_by`, it is recorded
    as resolved already (something the worker handled itself); otherwise it is announced."""
    incident = Incident(
        kind=kind, severity=severity, summary=summary, details=details or {}, reorg_id=reorg_id
    )
    if resolved_by is not None:
        close_incident(incident, resolved_by, resolution or "")
    session.add(incident)
    session.flush()
    if resolved_by is None:
        session.add(
            Event(
                user_id=None,
                type="incident.opened",
                payload={"incident_id": incident.id, "kind": kind, "severity": severity, "summary": summary},
            )
        )
    (log.critical if severity == Severity.CRITICAL else log.warning)("incident %d: %s", incident.id, summary)
    return incident


def close_incident(incident: Incident, by: str, resolution: str) -> None:
    """Marks `incident` resolved by `by`, saying what was done."""
    incident.resolved_at = datetime.now(UTC)
    incident.resolved_by = by
    incident.resolution = resolution
