"""The operations console and the partner-bank view: minting and burning within the minters'
allowances, role and allowance changes proposed for an administrator's approval, the outbox's and the
relayer's health, incidents, reconciliation; cross-border payments, positions with each partner bank,
and swaps across chains. Each calls the same `wallet` services as the API with the signed-in principal;
the services decide who may do what."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from api.web.core import Page, PageDep, PostDep, signed_in
from wallet.bank.users import Principal
from wallet.errors import ApprovalRequiredError, InvalidRequestError, WalletError
from wallet.partners import htlc
from wallet.vocabulary import ProposalAction, Role

router = APIRouter(include_in_schema=False)
ADMIN_ACTIONS = (ProposalAction.SET_ALLOWANCE, ProposalAction.GRANT_ROLE, ProposalAction.REVOKE_ROLE)


@router.get("/app/operations")
def operations(current: PageDep) -> Response:
    """Minters, the newest operations, health, incidents and the newest reconciliation."""
    me = signed_in(current)
    return current.render("operations.html", _operations_context(current, me))


def _operations_context(
    current: Page, me: Principal, error: WalletError | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    services = current.services
    minters = []
    if me.role in (Role.OPERATOR, Role.ADMIN):
        minters = [services.operations.minter(me, code) for code in services.bank.tokens]
    return {
        "minters": minters,
        "operations": services.operations.recent(me, limit=20),
        "health": services.health.snapshot(me),
        "incidents": services.incidents.recent(me, limit=20),
        "reconciliation": services.reconciler.last(me),
        "currencies": list(services.bank.tokens),
        "roles": sorted(services.bank.role_signers),
        "admin_actions": [a.value for a in ADMIN_ACTIONS],
        "key": uuid.uuid4().hex,
        "error": error,
        "form": form or {},
    }


@router.post("/app/operations/{kind}")
def mint_or_burn(
    current: PostDep,
    kind: str,
    key: Annotated[str, Form(max_length=64)],
    currency: Annotated[str, Form()],
    amount: Annotated[str, Form(max_length=40)],
    to_account: Annotated[str, Form(max_length=64)] = "",
    propose: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Mints to an account (a fiat deposit arrived) or burns from the redemption address; above the
    approval threshold, or when asked, it is proposed for a second operator."""
    me = signed_in(current)
    services = current.services
    form = {"kind": kind, "currency": currency, "amount": amount.strip(), "to_account": to_account.strip()}
    if kind not in ("mint", "burn"):
        raise InvalidRequestError("an operation is mint or burn")
    try:
        if propose:
            params = {"currency": currency, "amount": form["amount"]}
            if kind == "mint":
                params["to_account"] = form["to_account"]
            services.approvals.propose(
                me,
                action=kind,
                params=params,
                reason=reason or f"{kind} {form['amount']} {currency}",
                idempotency_key=f"web-{key}",
            )
            return current.redirect("/app/proposals")
        if kind == "mint":
            services.operations.mint(
                me,
                idempotency_key=f"web-{key}",
                currency=currency,
                amount=form["amount"],
                to_account=form["to_account"] or None,
                to_address=None,
            )
        else:
            services.operations.burn(
                me, idempotency_key=f"web-{key}", currency=currency, amount=form["amount"]
            )
    except ApprovalRequiredError as refused:
        return current.render(
            "operations.html", _operations_context(current, me, refused, form | {"needs_approval": "1"}), 409
        )
    except WalletError as refused:
        return current.render("operations.html", _operations_context(current, me, refused, form), 400)
    return current.redirect("/app/operations")


@router.post("/app/operations-proposals")
def propose_change(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form()],
    currency: Annotated[str, Form()],
    address: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)],
    role: Annotated[str, Form(max_length=32)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A minter allowance or a role change on a token, for an administrator to approve."""
    me = signed_in(current)
    if action not in {a.value for a in ADMIN_ACTIONS}:
        raise InvalidRequestError(f"the change is one of {', '.join(a.value for a in ADMIN_ACTIONS)}")
    params: dict[str, Any] = {"currency": currency}
    if action == ProposalAction.SET_ALLOWANCE:
        params |= {"minter": address.strip(), "amount": amount.strip()}
    else:
        params |= {"role": role, "address": address.strip()}
    current.services.approvals.propose(
        me, action=action, params=params, reason=reason, idempotency_key=f"web-{key}"
    )
    return current.redirect("/app/proposals")


@router.post("/app/incidents/{incident_id}/resolve")
def resolve(current: PostDep, incident_id: int, resolution: Annotated[str, Form(max_length=500)]) -> Response:
    me = signed_in(current)
    current.services.incidents.resolve(me, incident_id, resolution)
    return current.redirect("/app/operations")


@router.post("/app/reconciliation")
def reconcile(current: PostDep) -> Response:
    """Reconciles the database with the chain now (a difference opens a critical incident)."""
    me = signed_in(current)
    current.services.reconciler.run_now(me)
    return current.redirect("/app/operations")


# ---------------------------------------------------------------------------- partner banks ---


@router.get("/app/partners")
def partners(current: PageDep) -> Response:
    """Partner banks, today's bilateral positions and netting, the treasury's settlement tokens by the
    mirror and by the chain, the newest cross-border payments and swaps across chains."""
    me = signed_in(current)
    services = current.services
    return current.render(
        "partners.html",
        {
            "partners": services.partners.list(me),
            "positions": services.crossborder.position_report(me),
            "payments": services.crossborder.book(me, limit=50),
            "swaps": htlc.swaps(services.htlc, me)[:20],
        },
    )


__all__ = ["router"]
