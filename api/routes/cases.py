"""Transaction-monitoring alerts and the cases they are worked in (compliance only): assignment, states,
notes, evidence, dispositions, and maker-checker proposals made from a case."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Response, UploadFile, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.schemas import (
    AlertOut,
    AssignIn,
    CaseFileOut,
    CaseItemOut,
    CaseOut,
    CaseProposalIn,
    CaseStateIn,
    CloseIn,
    NoteIn,
    ProposalOut,
)
from wallet.compliance.cases import MAX_EVIDENCE_BYTES, CaseFile
from wallet.errors import InvalidRequestError
from wallet.vocabulary import CaseState, Typology

router = APIRouter(prefix="/v1/compliance", tags=["cases"])


def case_file_out(found: CaseFile) -> CaseFileOut:
    return CaseFileOut(
        case=CaseOut(**vars(found.case)),
        alerts=[AlertOut(**vars(a)) for a in found.alerts],
        items=[CaseItemOut(**vars(i)) for i in found.items],
    )


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    principal: CurrentPrincipal,
    services: ServicesDep,
    subject: str | None = None,
    typology: Typology | None = None,
    after: Annotated[int, Query(ge=0, description="Only alerts after this id, oldest first")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Monitoring alerts, newest first; each names its rule, the movements and the figures."""
    found = services.cases.alerts(principal, subject=subject, typology=typology, after=after, limit=limit)
    return [AlertOut(**vars(a)) for a in found]


@router.get("/cases", response_model=list[CaseOut])
def cases(
    principal: CurrentPrincipal,
    services: ServicesDep,
    state: CaseState | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseOut]:
    """Cases not closed (or in `state`), the earliest due first."""
    return [
        CaseOut(**vars(c))
        for c in services.cases.queue(principal, state=state, assignee=assignee, limit=limit)
    ]


@router.get("/cases/{case_id}", response_model=CaseFileOut)
def case(case_id: str, principal: CurrentPrincipal, services: ServicesDep) -> CaseFileOut:
    """A case with its alerts and its file."""
    return case_file_out(services.cases.get(principal, case_id))


@router.post("/cases/{case_id}/assign", response_model=CaseOut)
def assign(case_id: str, body: AssignIn, principal: CurrentPrincipal, services: ServicesDep) -> CaseOut:
    """Gives the case to a compliance officer."""
    return CaseOut(**vars(services.cases.assign(principal, case_id, body.assignee)))


@router.post("/cases/{case_id}/state", response_model=CaseOut)
def move(case_id: str, body: CaseStateIn, principal: CurrentPrincipal, services: ServicesDep) -> CaseOut:
    """Moves the case to open, investigating or escalated."""
    return CaseOut(**vars(services.cases.move(principal, case_id, body.state, body.reason)))


@router.post("/cases/{case_id}/notes", response_model=CaseItemOut, status_code=status.HTTP_201_CREATED)
def note(case_id: str, body: NoteIn, principal: CurrentPrincipal, services: ServicesDep) -> CaseItemOut:
    """Adds a note to the case's file."""
    return CaseItemOut(**vars(services.cases.note(principal, case_id, body.text)))


@router.post("/cases/{case_id}/evidence", response_model=CaseItemOut, status_code=status.HTTP_201_CREATED)
def attach(
    case_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    file: UploadFile,
    description: Annotated[str, Form(max_length=4000)] = "",
) -> CaseItemOut:
    """Attaches evidence (PDF, PNG, JPEG, SVG, JSON, XML, CSV or text; at most 10 MiB), stored encrypted."""
    content = file.file.read(MAX_EVIDENCE_BYTES + 1)
    if len(content) > MAX_EVIDENCE_BYTES:
        raise InvalidRequestError(f"evidence is at most {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
    item = services.cases.attach(
        principal,
        case_id,
        filename=file.filename or "evidence",
        content_type=file.content_type or "",
        content=content,
        description=description,
    )
    return CaseItemOut(**vars(item))


@router.get("/cases/{case_id}/evidence/{item_id}", response_class=Response)
def evidence(case_id: str, item_id: int, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """One piece of evidence, decrypted (the read is audited)."""
    item, content = services.cases.evidence(principal, case_id, item_id)
    return Response(
        content,
        media_type=item.content_type or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{item.filename}"'},
    )


@router.post("/cases/{case_id}/close", response_model=CaseOut)
def close(case_id: str, body: CloseIn, principal: CurrentPrincipal, services: ServicesDep) -> CaseOut:
    """Closes the case with its disposition and a reason."""
    return CaseOut(**vars(services.cases.close(principal, case_id, body.disposition, body.reason)))


@router.post("/cases/{case_id}/proposals", response_model=ProposalOut, status_code=status.HTTP_201_CREATED)
def propose(
    case_id: str,
    body: CaseProposalIn,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> ProposalOut:
    """Proposes a freeze, partial freeze, block or KYC revocation of the case's subject; a second
    compliance officer decides it under /v1/proposals."""
    proposal, created = services.cases.propose(
        principal,
        case_id,
        action=body.action,
        reason=body.reason,
        idempotency_key=idempotency_key,
        currency=body.currency,
        amount=body.amount,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ProposalOut(**vars(proposal))


@router.post(
    "/cases/{case_id}/snapshot", response_model=list[CaseItemOut], status_code=status.HTTP_201_CREATED
)
def snapshot(
    case_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    block: Annotated[int | None, Query(ge=0, description="As of this block (default: the mirror's)")] = None,
    currency: Annotated[
        str | None, Query(description="Also file a forward trace picture in this token")
    ] = None,
    hops: Annotated[int, Query(ge=1, le=10)] = 3,
    rule: Literal["fifo", "proportional"] = "fifo",
) -> list[CaseItemOut]:
    """Files evidence: the inspection of the case's subject checked against the node, and a trace picture."""
    items = services.reports.snapshot(
        principal, case_id, block=block, currency=currency, hops=hops, rule=rule
    )
    return [CaseItemOut(**vars(i)) for i in items]


@router.post("/cases/{case_id}/reports/goaml", response_class=Response, status_code=status.HTTP_201_CREATED)
def goaml(case_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The case as a goAML suspicious transaction report (XML), also filed in the case."""
    xml = services.reports.goaml(principal, case_id)
    return Response(
        xml,
        status_code=status.HTTP_201_CREATED,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="goaml-str-{case_id}.xml"'},
    )


@router.get("/reports/large-transactions", response_model=None)
def large_transactions(
    principal: CurrentPrincipal,
    services: ServicesDep,
    day: Annotated[date, Query(description="The UTC day (YYYY-MM-DD)")],
    format: Literal["json", "csv"] = "json",
) -> list[dict[str, Any]] | Response:
    """Every transfer of the day at or above its currency's reporting threshold."""
    rows = services.reports.large_transactions(principal, day)
    if format == "json":
        return rows
    return Response(
        services.reports.as_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="large-transactions-{day}.csv"'},
    )


@router.get("/transfers/{transfer_id}/travel-rule")
def travel_rule(transfer_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """The IVMS101 originator and beneficiary data of a transfer above the travel-rule threshold."""
    return services.travel.read(principal, transfer_id)
