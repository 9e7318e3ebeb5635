"""Compliance: the KYC queue and its decisions. Nothing of a customer is registered on chain before
a decision here verifies them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import ApplicantOut, KycDecision
from wallet.bank.onboarding import Applicant

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])


def _applicant(a: Applicant) -> ApplicantOut:
    return ApplicantOut(
        user_id=a.user_id,
        username=a.username,
        kyc_status=a.kyc_status,
        accounts=a.accounts,
        created_at=a.created_at,
    )


@router.get("/kyc", response_model=list[ApplicantOut])
def kyc_queue(
    principal: CurrentPrincipal, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ApplicantOut]:
    """Customers waiting for identity verification, oldest first (compliance and operators)."""
    return [_applicant(a) for a in services.onboarding.queue(principal, limit=limit)]


@router.post("/kyc/{user_id}", response_model=ApplicantOut)
def decide_kyc(
    user_id: str, body: KycDecision, principal: CurrentPrincipal, services: ServicesDep
) -> ApplicantOut:
    """Verifies a customer (their address is registered on chain, and their accounts become active) or
    rejects them with a reason (compliance and operators)."""
    decided = services.onboarding.decide(
        principal, user_id, verified=body.decision == "verified", reason=body.reason
    )
    return _applicant(decided)
