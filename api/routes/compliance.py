"""Compliance: the KYC queue and its decisions (nothing of a customer is registered on chain before a
decision here verifies them), screening, held transfers and their release, the transfer policy, and
the audit log with its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.routes.kyc import kyc_out
from api.schemas import (
    ApplicantOut,
    AuditEntryOut,
    AuditVerificationOut,
    HeldTransferOut,
    HitDecisionIn,
    HitOut,
    KycDecision,
    KycOut,
    PolicyOut,
    ProposalOut,
    ReleaseIn,
    ScreeningIn,
    ScreeningMatchOut,
)
from wallet.bank.onboarding import Applicant
from wallet.compliance.matching import Subject
from wallet.vocabulary import HitState

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
        principal, user_id, verified=body.decision == "verified", reason=body.reason, tier=body.tier
    )
    return _applicant(decided)


@router.get("/kyc/{user_id}/case", response_model=KycOut)
def kyc_case(user_id: str, principal: CurrentPrincipal, services: ServicesDep) -> KycOut:
    """A customer's case: their identity data, documents, risk rating with its reasons, and screening
    hits (compliance and operators)."""
    return kyc_out(services.kyc.case(principal, user_id))


@router.get(
    "/kyc/{user_id}/documents/{document_id}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "image/png": {}, "image/jpeg": {}}}},
)
def kyc_document(
    user_id: str, document_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    """A customer's document, decrypted; each reading is in the audit log (compliance)."""
    document, content = services.kyc.document(principal, user_id, document_id)
    return Response(
        content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document.id}"',
            "X-Content-SHA256": document.sha256,
            "Cache-Control": "no-store",
        },
    )


@router.get("/screening/hits", response_model=list[HitOut])
def screening_hits(
    principal: CurrentPrincipal,
    services: ServicesDep,
    state: Annotated[HitState | None, Query(description="Default: open")] = HitState.OPEN,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HitOut]:
    """Sanctions screening hits of customers, beneficial owners, payees and transfers (compliance)."""
    return [HitOut(**vars(h)) for h in services.kyc.hits(principal, state=state, limit=limit)]


@router.post("/screening/hits/{hit_id}", response_model=HitOut)
def decide_hit(
    hit_id: int, body: HitDecisionIn, principal: CurrentPrincipal, services: ServicesDep
) -> HitOut:
    """Clears a hit as a false positive, or confirms it (compliance)."""
    hit = services.kyc.decide_hit(
        principal, hit_id, confirmed=body.decision == "confirmed", reason=body.reason
    )
    return HitOut(**vars(hit))


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


# --------------------------------------------------------------------------- held transfers ---


@router.get("/held-transfers", response_model=list[HeldTransferOut])
def held_transfers(
    principal: CurrentPrincipal, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[HeldTransferOut]:
    """Transfers the policy held, oldest first, each with every rule that fired (compliance)."""
    return [HeldTransferOut(**vars(h)) for h in services.holds.queue(principal, limit=limit)]


@router.get("/held-transfers/{transfer_id}", response_model=HeldTransferOut)
def held_transfer(transfer_id: str, principal: CurrentPrincipal, services: ServicesDep) -> HeldTransferOut:
    """One transfer the policy judged, with its decision and its review (compliance)."""
    return HeldTransferOut(**vars(services.holds.get(principal, transfer_id)))


@router.post(
    "/held-transfers/{transfer_id}/release",
    status_code=status.HTTP_201_CREATED,
    response_model=ProposalOut,
    responses={200: {"model": ProposalOut, "description": "A repeated request: the original proposal"}},
)
def release_held_transfer(
    transfer_id: str,
    body: ReleaseIn,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> ProposalOut:
    """Proposes releasing a held transfer; a second compliance officer approves it at
    POST /v1/proposals/{id}/approve, and only then is it signed again and sent (compliance)."""
    view, created = services.holds.propose_release(
        principal, transfer_id, reason=body.reason, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ProposalOut(**vars(view))


@router.post("/held-transfers/{transfer_id}/reject", response_model=HeldTransferOut)
def reject_held_transfer(
    transfer_id: str, body: ReleaseIn, principal: CurrentPrincipal, services: ServicesDep
) -> HeldTransferOut:
    """Refuses a held transfer: it fails and its funds are free again (compliance)."""
    return HeldTransferOut(**vars(services.holds.reject(principal, transfer_id, reason=body.reason)))


# ----------------------------------------------------------------------------------- policy ---


@router.get("/policy", response_model=PolicyOut)
def policy(
    principal: CurrentPrincipal,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1, description="Default: the version in force")] = None,
) -> PolicyOut:
    """The transfer policy document in force, or an earlier version; a change is a `policy_change`
    proposal at POST /v1/proposals (compliance, operators, admins)."""
    return PolicyOut(**vars(services.policy.get(principal, version)))
