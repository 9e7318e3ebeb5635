"""The staff screens every officer shares: the maker-checker queue, the KYC queue with its documents,
screening hits, and held transfers. Each calls the same `wallet` services as the API with the signed-in
principal; the services decide who may do what."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from api.web.core import PageDep, PostDep, signed_in
from wallet.errors import InvalidRequestError, NotFoundError
from wallet.vocabulary import HitState

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------------ staff: maker-checker ---

STAFF_ACTIONS = ("freeze", "unfreeze", "block", "unblock", "revoke_kyc")


@router.get("/app/proposals")
def proposals(current: PageDep) -> Response:
    """The maker-checker queue of the officer's role (and their own proposals), and a form to propose
    a freeze, a block or a KYC revocation."""
    me = signed_in(current)
    services = current.services
    return current.render(
        "proposals.html",
        {
            "pending": services.approvals.queue(me),
            "decided": [
                p for p in services.approvals.queue(me, state=None, limit=30) if p.state.value != "pending"
            ],
            "currencies": list(services.bank.tokens),
            "actions": STAFF_ACTIONS,
            "key": uuid.uuid4().hex,
        },
    )


@router.post("/app/proposals")
def propose(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form()],
    address: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)],
    currency: Annotated[str, Form()] = "",
) -> Response:
    me = signed_in(current)
    if action not in STAFF_ACTIONS:
        raise InvalidRequestError(f"the action must be one of {', '.join(STAFF_ACTIONS)}")
    params: dict[str, Any] = {"address": address.strip()}
    if action in ("freeze", "unfreeze"):
        params["currency"] = currency
    current.services.approvals.propose(
        me, action=action, params=params, reason=reason, idempotency_key=f"web-{key}"
    )
    return current.redirect("/app/proposals")


@router.post("/app/proposals/{proposal_id}/{decision}")
def decide(
    current: PostDep,
    proposal_id: str,
    decision: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    me = signed_in(current)
    approvals = current.services.approvals
    if decision == "approve":
        approvals.approve(me, proposal_id, reason=reason or None)
    elif decision == "reject":
        approvals.reject(me, proposal_id, reason=reason)
    elif decision == "withdraw":
        approvals.withdraw(me, proposal_id)
    else:
        raise NotFoundError("decision", decision)
    return current.redirect("/app/proposals")


# ------------------------------------------------------------------ staff: KYC and held transfers ---


@router.get("/app/kyc")
def kyc_queue(current: PageDep) -> Response:
    """Customers waiting for their identity decision, oldest first."""
    me = signed_in(current)
    return current.render("kyc.html", {"applicants": current.services.onboarding.queue(me)})


@router.post("/app/kyc/{user_id}")
def kyc_decide(
    current: PostDep,
    user_id: str,
    decision: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    me = signed_in(current)
    if decision not in ("verify", "reject"):
        raise InvalidRequestError("the decision is verify or reject")
    current.services.onboarding.decide(
        me, user_id, verified=decision == "verify", reason=reason.strip() or None
    )
    return current.redirect("/app/kyc")


@router.get("/app/held")
def held(current: PageDep) -> Response:
    """Transfers the policy held for review, with the rules that fired."""
    me = signed_in(current)
    return current.render(
        "held.html", {"transfers": current.services.holds.queue(me), "key": uuid.uuid4().hex}
    )


@router.post("/app/held/{transfer_id}")
def held_decide(
    current: PostDep,
    transfer_id: str,
    decision: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=500)],
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    me = signed_in(current)
    holds = current.services.holds
    if decision == "release":
        holds.propose_release(
            me, transfer_id, reason=reason, idempotency_key=f"web-{key or uuid.uuid4().hex}"
        )
        return current.redirect("/app/proposals")
    if decision != "reject":
        raise InvalidRequestError("the decision is release or reject")
    holds.reject(me, transfer_id, reason=reason)
    return current.redirect("/app/held")


@router.get("/app/kyc/{user_id}")
def kyc_case(current: PageDep, user_id: str) -> Response:
    """One customer's verification: identity data, documents, risk rating with its reasons, hits."""
    me = signed_in(current)
    return current.render("kyc_case.html", {"case": current.services.kyc.case(me, user_id)})


@router.get("/app/kyc/{user_id}/documents/{document_id}")
def kyc_document(current: PageDep, user_id: str, document_id: str) -> Response:
    """A customer's document, decrypted (each reading is in the audit log)."""
    me = signed_in(current)
    document, content = current.services.kyc.document(me, user_id, document_id)
    return current.download(content, document.content_type, document.id)


# -------------------------------------------------------------------------- screening hits ---


@router.get("/app/hits")
def hits(current: PageDep, state: str = "open") -> Response:
    """Sanctions screening hits, each with its explanation: the list entry, the names compared, the
    fields, the score and the threshold."""
    me = signed_in(current)
    chosen = HitState(state) if state in set(HitState) else HitState.OPEN
    found = current.services.kyc.hits(me, state=chosen, limit=100)
    return current.render("hits.html", {"hits": found, "state": chosen, "states": list(HitState)})


@router.post("/app/hits/{hit_id}")
def hit_decide(
    current: PostDep,
    hit_id: int,
    decision: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=500)],
) -> Response:
    me = signed_in(current)
    if decision not in ("cleared", "confirmed"):
        raise InvalidRequestError("the decision is cleared or confirmed")
    current.services.kyc.decide_hit(me, hit_id, confirmed=decision == "confirmed", reason=reason)
    return current.redirect("/app/hits")


__all__ = ["router"]
