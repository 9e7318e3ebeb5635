"""Operations: the incidents the workers raise (reorgs, a chain behind the database, fee caps,
reconciliation), for operators, compliance officers and admins; operators and admins resolve them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import IncidentOut, IncidentResolution
from wallet.bank.recovery import IncidentView

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
