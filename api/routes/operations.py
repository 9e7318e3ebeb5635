"""Operations: the incidents the workers raise (reorgs, a chain behind the database, fee caps,
reconciliation), for operators, compliance officers and admins; operators and admins resolve them.
And the reconciliation of the database with the chain: its newest result, or a run on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import DifferenceOut, IncidentOut, IncidentResolution, ReconciliationOut
from wallet.bank.reconciliation import ReconciliationView
from wallet.bank.recovery import IncidentView
from wallet.errors import NotFoundError

router = APIRouter(prefix="/v1/operations", tags=["operations"])


def _incident(i: IncidentView) -> IncidentOut:
    return IncidentOut(
        id=i.id,
        kind=i.kind,
        severity=i.severity,
        summary=i.summary,
        details=i.details,
        reorg_id=i.reorg_id,
        opened_at=i.opened_at,
        resolved_at=i.resolved_at,
        resolved_by=i.resolved_by,
        resolution=i.resolution,
    )


@router.get("/incidents", response_model=list[IncidentOut])
def list_incidents(
    principal: CurrentPrincipal,
    services: ServicesDep,
    open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentOut]:
    """Incidents, newest first; `open=true` for the unresolved ones (operators, compliance, admins)."""
    return [_incident(i) for i in services.incidents.recent(principal, open_only=open_only, limit=limit)]


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut)
def resolve_incident(
    incident_id: int, body: IncidentResolution, principal: CurrentPrincipal, services: ServicesDep
) -> IncidentOut:
    """Marks an open incident resolved, saying what was done (operators and admins). An incident that
    stopped sending (the chain behind the database) is resolved by `tdw recover`, which also repairs."""
    return _incident(services.incidents.resolve(principal, incident_id, body.resolution))


def _reconciliation(r: ReconciliationView) -> ReconciliationOut:
    return ReconciliationOut(
        id=r.id,
        ok=r.ok,
        at_block=r.at_block,
        balances_at=r.balances_at,
        head_block=r.head_block,
        checked=r.checked,
        difference_count=r.difference_count,
        differences=[DifferenceOut(**d) for d in r.differences],
        incident_id=r.incident_id,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


@router.get("/reconciliation", response_model=ReconciliationOut)
def last_reconciliation(principal: CurrentPrincipal, services: ServicesDep) -> ReconciliationOut:
    """The newest reconciliation of the database with the chain: balances, transactions, transfers,
    bank operations and nonces, and every difference found (operators, compliance, admins)."""
    last = services.reconciler.last(principal)
    if last is None:
        raise NotFoundError("reconciliation", "latest")
    return _reconciliation(last)


@router.post("/reconciliation", response_model=ReconciliationOut)
def reconcile_now(principal: CurrentPrincipal, services: ServicesDep) -> ReconciliationOut:
    """Reconciles now and returns the result; a difference opens a critical incident, a clean run
    resolves the open one (operators and admins)."""
    return _reconciliation(services.reconciler.run_now(principal))
