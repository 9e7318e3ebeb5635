"""The screens' routes under `/app` (and `/`, which opens them). Each calls the same `wallet` services as
the API with the signed-in principal; the services decide who may do what, as they do for the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.deps import client_address
from api.routes.accounts import statement_download
from api.routes.events import follow
from api.web.core import LANGUAGE, YEAR, Page, PageDep, PostDep, active_accounts, safe_path, signed_in
from api.web.i18n import LANGUAGES
from api.web.qr import svg_data_uri
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
OPEN_STATES = {
    TransferState.PENDING,
    TransferState.SUBMITTED,
    TransferState.EXECUTED,
    TransferState.CONFIRMED,
}
STATEMENT_FORMATS = {"pdf": "PDF", "csv": "CSV", "camt053": "ISO 20022 camt.053", "json": "JSON"}


# ------------------------------------------------------------------------------------ session ---


@router.get("/")
def root() -> Response:
    return RedirectResponse("/app", status_code=307)


@router.get("/app/sign-in")
def sign_in_form(current: PageDep, next: str = "/app", username: str = "") -> Response:
    if current.principal is not None:
        return current.redirect(safe_path(next))
    return current.render("sign_in.html", {"next": safe_path(next), "username": username})


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
            "sign_in.html", {"next": safe_path(next), "username": username, "error": refused}, status=401
        )
    return current.redirect(safe_path(next))


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
    return current.redirect(safe_path(back))


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
            "can_open": [c for c in services.bank.tokens if c not in {a.currency for a in accounts}],
        },
    )


@router.get("/app/accounts/{account_id}")
def account(current: PageDep, account_id: str, part: bool = False) -> Response:
    me = signed_in(current)
    services = current.services
    view = services.accounts.get(me, account_id)
    today = datetime.now(UTC).date()
    lines: list[Any] = []
    arriving: list[Any] = []
    balance = None
    if view.status == AccountStatus.ACTIVE:
        balance = services.accounts.balance(me, account_id)
        arriving = services.accounts.arriving(me, account_id)
        statement, _ = services.accounts.statement(me, account_id, today - timedelta(days=30), today, "json")
        lines = list(reversed(statement.lines))[:50]
    return current.render(
        "_account_live.html" if part else "account.html",
        {
            "account": view,
            "balance": balance,
            "lines": lines,
            "arriving": arriving,
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
def send_form(current: PageDep, from_account: str | None = None, payee: str | None = None) -> Response:
    me = signed_in(current)
    form = {"from_account": from_account or ""}
    if payee:
        form |= {"payee_kind": "payee", "payee": payee}
    return current.render("send.html", _send_context(current, me, form))


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


@router.get("/app/events")
def events(current: PageDep, request: Request) -> Response:
    """The screens' event stream: the signed-in customer's transfer states and incoming funds, as
    server-sent events named `transfer-state` and `funds-received` (htmx's SSE extension refreshes
    the parts of a page that listen). Starts at the newest event; a reconnect resumes after the last
    one seen (`Last-Event-ID`)."""
    me = signed_in(current)
    feed = current.services.feed
    user = None if me.is_staff else me.user_id
    resume = request.headers.get("last-event-id", "")
    start = int(resume) if resume.isascii() and resume.isdigit() and len(resume) < 19 else feed.latest_id()

    async def stream() -> AsyncIterator[str]:
        async for event in follow(request, feed, user, start):
            if event is None:
                yield ": keep-alive\n\n"
            else:
                yield f"id: {event.id}\nevent: {event.type.replace('.', '-')}\ndata: {event.id}\n\n"

    # The page's cookies go on the stream's answer: a refreshed session must reach the browser.
    return current.apply(
        StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    )


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


# ---------------------------------------------------------------------------------- helpers ---


class _Target(TypedDict):
    to_account: str | None
    to_address: str | None
    to_payee: str | None


def _target(kind: str, value: str) -> _Target:
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
    accounts = active_accounts(current, me)
    return {
        "accounts": accounts,
        "balances": {a.id: services.accounts.balance(me, a.id) for a in accounts},
        "payees": services.accounts.payees(me),
        "form": form,
        "error": error,
    }


__all__ = ["router"]
