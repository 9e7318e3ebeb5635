"""Maker-checker: powerful acts are proposed by one user and carried out when another user with the
required role approves them (`wallet.compliance.approvals` decides who may do what)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.schemas import ProposalDecisionIn, ProposalIn, ProposalOut
from wallet.compliance.approvals import ProposalView
from wallet.vocabulary import ProposalState

router = APIRouter(prefix="/v1/proposals", tags=["proposals"])


def _out(view: ProposalView) -> ProposalOut:
    return ProposalOut(**vars(view))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProposalOut,
    responses={200: {"model": ProposalOut, "description": "A repeated request: the original proposal"}},
)
def propose(
    body: ProposalIn,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> ProposalOut:
    """Proposes an act for a second user to approve. The proposer must hold the role that decides it
    (compliance: freezes, forced transfers, recoveries, KYC revocations, blocks, policy changes; admin:
    roles and allowances; operator: mints and burns above the approval threshold). What the chain would
    refuse is refused now."""
    view, created = services.approvals.propose(
        principal,
        action=body.action,
        params=body.params,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(view)


@router.get("", response_model=list[ProposalOut])
def queue(
    principal: CurrentPrincipal,
    services: ServicesDep,
    state: Annotated[ProposalState | None, Query(description="Default: pending")] = ProposalState.PENDING,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ProposalOut]:
    """The proposals the caller's role decides, and the caller's own, newest first (staff)."""
    return [_out(v) for v in services.approvals.queue(principal, state=state, limit=limit)]


@router.get("/{proposal_id}", response_model=ProposalOut)
def get_proposal(proposal_id: str, principal: CurrentPrincipal, services: ServicesDep) -> ProposalOut:
    """One proposal (its deciding role and its proposer)."""
    return _out(services.approvals.get(principal, proposal_id))


@router.post("/{proposal_id}/approve", response_model=ProposalOut)
def approve(
    proposal_id: str, body: ProposalDecisionIn, principal: CurrentPrincipal, services: ServicesDep
) -> ProposalOut:
    """Approves and carries out the proposal (never one's own); its operations are listed in
    `operation_ids`. Approving again returns it unchanged."""
    return _out(services.approvals.approve(principal, proposal_id, reason=body.reason))


@router.post("/{proposal_id}/reject", response_model=ProposalOut)
def reject(
    proposal_id: str, body: ProposalDecisionIn, principal: CurrentPrincipal, services: ServicesDep
) -> ProposalOut:
    """Rejects the proposal with a reason (never one's own)."""
    return _out(services.approvals.reject(principal, proposal_id, reason=body.reason or ""))


@router.post("/{proposal_id}/withdraw", response_model=ProposalOut)
def withdraw(proposal_id: str, principal: CurrentPrincipal, services: ServicesDep) -> ProposalOut:
    """The proposer takes the proposal back."""
    return _out(services.approvals.withdraw(principal, proposal_id))
