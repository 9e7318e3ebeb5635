"""The screens' routes under `/app` (and `/`, which opens them). Each calls the same `wallet` services as
the API with the signed-in principal; the services decide who may do what, as they do for the API."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import client_address
from api.routes.accounts import statement_download
from api.web.core import LANGUAGE, YEAR, Page, page, signed_in
from api.web.i18n import LANGUAGES
from api.web.qr import svg_data_uri
from wallet.bank.accounts import AccountView
from wallet.errors import (
    AuthError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    TotpRequiredError,
    WalletError,
)
from wallet.vocabulary import AccountStatus, Role, TransferState

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(page)]
OPEN_STATES = {
    TransferState.PENDING,
    TransferState.SUBMITTED,
    TransferState.EXECUTED,
    TransferState.CONFIRMED,
}
STATEMENT_FORMATS = {"pdf": "PDF", "csv": "CSV", "camt053": "ISO 20022 camt.053", "json": "JSON"}


class ForgedFormError(Exception):
    """A request whose anti-forgery token does not match: refused before anything is done."""


async def checked(request: Request, current: PageDep) -> Page:
    """The page of an unsafe request, after its anti-forgery token (form field `csrf`, or the
    `X-CSRF-Token` header htmx sends) matched."""
    form = await request.form()
    token = request.headers.get("X-CSRF-Token") or form.get("csrf")
    if not current.csrf_ok(token if isinstance(token, str) else None):
        raise ForgedFormError
    return current


PostDep = Annotated[Page, Depends(checked)]


# ------------------------------------------------------------------------------------ session ---


@router.get("/")
def root() -> Response:
    return RedirectResponse("/app", status_code=307)


@router.get("/app/sign-in")
def sign_in_form(current: PageDep, next: str = "/app", username: str = "") -> Response:
    if current.principal is not None:
        return current.redirect(_safe(next))
    return current.render("sign_in.html", {"next": _safe(next), "username": username})


@router.post("/app/sign-in")
def sign_in(
    current: PostDep,
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
    totp: Annotated[str, Form(max_length=10)],
    next: Annotated[str, Form(max_length=500)] = "/app",
) -> Response:
    try:
        login = current.services.users.login(username, password, totp.strip(), client=client_address(request))
        current.sign_in(login)
    except AuthError as refused:
        return current.render(
            "sign_in.html", {"next": _safe(next), "username": username, "error": refused}, status=401
        )
    return current.redirect(_safe(next))


@router.post("/app/sign-out")
def sign_out(current: PostDep) -> Response:
    current.sign_out()
    return current.redirect("/app/sign-in")


@router.get("/app/sign-up")
def sign_up_form(current: PageDep) -> Response:
    return current.render("sign_up.html", {})


@router.post("/app/sign-up")
def sign_up(
    current: PostDep,
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=128)],
) -> Response:
    services = current.services
    try:
        services.limits.hit("signup", client_address(request))
        enrolment = services.users.create(username, password, Role.CUSTOMER, full_name=full_name)
    except WalletError as refused:
        form = {"username": username, "full_name": full_name}
        return current.render("sign_up.html", {"error": refused, "form": form}, status=400)
    return current.render(
        "enrolled.html",
        {"enrolment": enrolment, "qr": svg_data_uri(enrolment.totp_uri)},
    )


@router.post("/app/language")
def language(
    current: PostDep, language: Annotated[str, Form()], back: Annotated[str, Form()] = "/app"
) -> Response:
    if language in LANGUAGES:
        current.cookies[LANGUAGE] = (language, YEAR)
    return current.redirect(_safe(back))


# ----------------------------------------------------------------------------------- customer ---


@router.get("/app")
def home(current: PageDep) -> Response:
    me = signed_in(current)
    if me.role != Role.CUSTOMER:
        return current.render("staff.html", {})
    services = current.services
    accounts = services.accounts.accounts_of(me)
    balances = {
        a.id: services.accounts.balance(me, a.id) for a in accounts if a.status == AccountStatus.ACTIVE
    }
    recent = services.payments.history(me, limit=5)
    return current.render(
        "home.html",
        {
            "accounts": accounts,
            "balances": balances,
            "recent": recent,
            "user": services.users.get(me.user_id),
        },
    )


@router.get("/app/accounts/{account_id}")
def account(current: PageDep, account_id: str) -> Response:
    me = signed_in(current)
    services = current.services
    view = services.accounts.get(me, account_id)
    today = datetime.now(UTC).date()
    lines: list[Any] = []
    balance = None
    if view.status == AccountStatus.ACTIVE:
        balance = services.accounts.balance(me, account_id)
        statement, _ = services.accounts.statement(me, account_id, today - timedelta(days=30), today, "json")
        lines = list(reversed(statement.lines))[:50]
    return current.render(
        "account.html",
        {
            "account": view,
            "balance": balance,
            "lines": lines,
            "exponent": services.bank.token(view.currency).decimals,
            "formats": STATEMENT_FORMATS,
            "first_day": (today - timedelta(days=30)).isoformat(),
            "today": today.isoformat(),
        },
    )


@router.get("/app/accounts/{account_id}/statement")
def statement(
    current: PageDep,
    account_id: str,
    from_: Annotated[date, Query(alias="from")],
    to: Annotated[date, Query()],
    format: Annotated[str, Query()] = "pdf",
) -> Response:
    me = signed_in(current)
    return current.apply(statement_download(current.services, me, account_id, from_, to, format))


@router.get("/app/send")
def send_form(current: PageDep, from_account: str | None = None) -> Response:
    me = signed_in(current)
    return current.render("send.html", _send_context(current, me, {"from_account": from_account or ""}))


@router.post("/app/send/check")
def send_check(
    current: PostDep,
    from_account: Annotated[str, Form()],
    amount: Annotated[str, Form(max_length=40)],
    payee_kind: Annotated[str, Form()] = "account",
    payee: Annotated[str, Form(max_length=100)] = "",
    reference: Annotated[str, Form(max_length=140)] = "",
) -> Response:
    """The pre-check: what the bank would decide now, and why, before anything is signed."""
    me = signed_in(current)
    form = {
        "from_account": from_account,
        "amount": amount.strip(),
        "payee_kind": payee_kind,
        "payee": payee.strip(),
        "reference": reference.strip(),
    }
    try:
        source = current.services.accounts.get(me, from_account)
        target = _target(payee_kind, payee.strip())
        check = current.services.payments.check(
            me, from_account=from_account, amount=form["amount"], currency=source.currency, **target
        )
    except (InvalidRequestError, NotFoundError, PermissionDeniedError) as refused:
        return current.render("send.html", _send_context(current, me, form, error=refused), status=400)
    threshold = current.services.bank.config.totp_transfer_threshold
    return current.render(
        "send_check.html",
        {
            "form": form,
            "source": source,
            "check": check,
            "exponent": current.services.bank.token(source.currency).decimals,
            "key": uuid.uuid4().hex,  # one transfer however often the confirmation is sent
            "threshold": threshold,
        },
    )


@router.post("/app/send")
def send(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    from_account: Annotated[str, Form()],
    amount: Annotated[str, Form(max_length=40)],
    payee_kind: Annotated[str, Form()],
    payee: Annotated[str, Form(max_length=100)],
    reference: Annotated[str, Form(max_length=140)] = "",
    totp: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    me = signed_in(current)
    services = current.services
    form = {
        "from_account": from_account,
        "amount": amount,
        "payee_kind": payee_kind,
        "payee": payee,
        "reference": reference,
    }
    try:
        source = services.accounts.get(me, from_account)
        view, _ = services.payments.submit(
            me,
            idempotency_key=f"web-{key}",
            from_account=from_account,
            amount=amount,
            currency=source.currency,
            reference=reference or None,
            totp=totp.strip() or None,
            **_target(payee_kind, payee),
        )
    except TotpRequiredError as refused:
        check = services.payments.check(
            me,
            from_account=from_account,
            amount=amount,
            currency=source.currency,
            **_target(payee_kind, payee),
        )
        return current.render(
            "send_check.html",
            {
                "form": form,
                "source": source,
                "check": check,
                "exponent": services.bank.token(source.currency).decimals,
                "key": key,
                "threshold": services.bank.config.totp_transfer_threshold,
                "needs_code": True,
                "error": refused,
            },
            status=400,
        )
    except WalletError as refused:
        return current.render("send.html", _send_context(current, me, form, error=refused), status=400)
    return current.redirect(f"/app/transfers/{view.id}")


@router.get("/app/transfers")
def transfers(current: PageDep, rows: bool = False) -> Response:
    me = signed_in(current)
    history = current.services.payments.history(me, limit=50)
    context = {"transfers": history, "live": any(t.state in OPEN_STATES for t in history)}
    return current.render("_transfer_rows.html" if rows else "transfers.html", context)


@router.get("/app/transfers/{transfer_id}")
def transfer(current: PageDep, transfer_id: str, part: bool = False) -> Response:
    me = signed_in(current)
    view = current.services.payments.get(me, transfer_id)
    context = {"t": view, "live": view.state in OPEN_STATES or view.state == TransferState.HELD}
    return current.render("_transfer_state.html" if part else "transfer.html", context)


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


# ---------------------------------------------------------------------------------- helpers ---


def _safe(target: str) -> str:
    """Only a path of this site (no scheme, no host): a sign-in never sends anyone elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/app"
    return target


def _target(kind: str, value: str) -> dict[str, str | None]:
    if not value:
        raise InvalidRequestError("say whom to pay: an account number, an address or a saved payee")
    if kind == "address":
        return {"to_account": None, "to_address": value, "to_payee": None}
    if kind == "payee":
        return {"to_account": None, "to_address": None, "to_payee": value}
    return {"to_account": value, "to_address": None, "to_payee": None}


def _send_context(
    current: Page, me: Any, form: dict[str, str], error: WalletError | None = None
) -> dict[str, Any]:
    services = current.services
    accounts: list[AccountView] = [
        a for a in services.accounts.accounts_of(me) if a.status == AccountStatus.ACTIVE
    ]
    return {
        "accounts": accounts,
        "balances": {a.id: services.accounts.balance(me, a.id) for a in accounts},
        "payees": services.accounts.payees(me),
        "form": form,
        "error": error,
    }


__all__ = ["ForgedFormError", "router"]
