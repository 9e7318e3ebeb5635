"""Compliance: the KYC queue and its decisions (nothing of a customer is registered on chain before a
decision here verifies them), and the audit log with its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import (
    ApplicantOut,
    AuditEntryOut,
    AuditVerificationOut,
    KycDecision,
    ScreeningIn,
    ScreeningMatchOut,
)
from wallet.bank.onboarding import Applicant
from wallet.compliance.matching import Subject

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


@router.get("/audit", response_model=list[AuditEntryOut])
def audit_log(
    principal: CurrentPrincipal,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, description="Records after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=128)] = None,
) -> list[AuditEntryOut]:
    """The audit log, oldest first, each record with its hash and the previous one's (compliance and
    admins)."""
    entries = services.audit.read(principal, after=after, limit=limit, action=action, subject=subject)
    return [AuditEntryOut(**vars(e)) for e in entries]


@router.get("/audit/verification", response_model=AuditVerificationOut)
def verify_audit_log(principal: CurrentPrincipal, services: ServicesDep) -> AuditVerificationOut:
    """Checks every record's hash and link and every anchor on chain; names the first bad record
    (compliance and admins)."""
    return AuditVerificationOut(**services.audit.check(principal).as_json())


@router.post("/screening", response_model=list[ScreeningMatchOut])
def screen_name(
    body: ScreeningIn, principal: CurrentPrincipal, services: ServicesDep
) -> list[ScreeningMatchOut]:
    """Screens a name against the loaded sanctions lists; each match says which entry, which of its
    names, the fields compared, the score and the threshold (compliance)."""
    subject = Subject(body.name, body.birth_date, tuple(body.countries))
    return [ScreeningMatchOut(**m.explanation) for m in services.sanctions.check(principal, subject)]
