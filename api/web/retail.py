"""Everyday payments in the browser: payment requests (a merchant shows a QR code, a payer opens its link
and pays), each calling the same `wallet.retail` services as the API with the signed-in principal."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from babel.dates import get_day_names
from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.web.core import Page, PageDep, PostDep, active_accounts, signed_in
from api.web.qr import svg_data_uri
from wallet.bank.users import Principal
from wallet.errors import InvalidRequestError, NotFoundError, WalletError
from wallet.retail.notifications import CHANNELS, KINDS

router = APIRouter(include_in_schema=False)
OPEN = {"open", "paying"}


# ---------------------------------------------------------------------------- the merchant ---


@router.get("/app/requests")
def requests(current: PageDep) -> Response:
    """The customer's payment requests and the form for a new one."""
    me = signed_in(current)
    return current.render("requests.html", _requests_context(current, me))


def _requests_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    return {
        "requests": current.services.requests.mine(me, limit=30),
        "currencies": [a.currency for a in current.services.accounts.accounts_of(me)],
        "form": {"single_use": "1"},
        **extra,
    }


@router.post("/app/requests")
def create_request(
    current: PostDep,
    currency: Annotated[str, Form(max_length=3)],
    amount: Annotated[str, Form(max_length=40)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
    description: Annotated[str, Form(max_length=140)] = "",
    single_use: Annotated[str, Form(max_length=1)] = "",
    expires_in_minutes: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    """A new request: shown next with its QR code."""
    me = signed_in(current)
    form = {
        "currency": currency,
        "amount": amount.strip(),
        "reference": reference.strip(),
        "description": description.strip(),
        "single_use": single_use,
        "expires_in_minutes": expires_in_minutes.strip(),
    }
    try:
        minutes = form["expires_in_minutes"]
        if minutes and not minutes.isdigit():
            raise InvalidRequestError("the expiry is a whole number of minutes")
        created = current.services.requests.create(
            me,
            currency=currency,
            amount=form["amount"] or None,
            reference=form["reference"] or None,
            description=form["description"] or None,
            single_use=single_use == "1",
            expires_in_minutes=int(minutes) if minutes else None,
        )
    except WalletError as refused:
        return current.render("requests.html", _requests_context(current, me, form=form, error=refused), 400)
    return current.redirect(f"/app/requests/{created['id']}")


@router.get("/app/requests/{request_id}")
def request_page(current: PageDep, request_id: str, part: bool = False) -> Response:
    """One request: its QR code and link, what arrived, each payment with a refund form."""
    me = signed_in(current)
    return current.render(
        "_request_live.html" if part else "request.html", _request_context(current, me, request_id)
    )


def _request_context(current: Page, me: Principal, request_id: str, **extra: Any) -> dict[str, Any]:
    view = current.services.requests.get(me, request_id)
    return {
        "r": view,
        "qr": svg_data_uri(view["link"]),
        "live": view["state"] in OPEN or any(p["state"] != "final" for p in view["payments"]),
        "key": uuid.uuid4().hex,
        **extra,
    }


@router.post("/app/requests/{request_id}/cancel")
def cancel_request(current: PostDep, request_id: str) -> Response:
    me = signed_in(current)
    try:
        current.services.requests.cancel(me, request_id)
    except WalletError as refused:
        return current.render("request.html", _request_context(current, me, request_id, error=refused), 400)
    return current.redirect(f"/app/requests/{request_id}")


@router.post("/app/requests/{request_id}/payments/{payment_id}/refund")
def refund(
    current: PostDep,
    request_id: str,
    payment_id: str,
    key: Annotated[str, Form(max_length=64)],
    amount: Annotated[str, Form(max_length=40)],
) -> Response:
    """Gives (part of) a payment back to the payer; the form's key makes a second press the same refund."""
    me = signed_in(current)
    try:
        current.services.requests.refund(
            me, request_id, payment_id, amount=amount.strip(), idempotency_key=f"web-{key}"
        )
    except WalletError as refused:
        return current.render("request.html", _request_context(current, me, request_id, error=refused), 400)
    return current.redirect(f"/app/requests/{request_id}")


# -------------------------------------------------------------------------------- the payer ---


@router.get("/app/pay/{request_id}")
def pay_page(current: PageDep, request_id: str) -> Response:
    """Where a payment link leads (signed in first): who asks, for what, and the button that pays."""
    me = signed_in(current)
    return current.render("pay.html", _pay_context(current, me, request_id))


def _pay_context(current: Page, me: Principal, request_id: str, **extra: Any) -> dict[str, Any]:
    terms = current.services.requests.open(me, request_id)
    accounts = active_accounts(current, me, terms["currency"])
    return {"r": terms, "accounts": accounts, "form": {}, **extra}


@router.post("/app/pay/{request_id}")
def pay(
    current: PostDep,
    request_id: str,
    from_account: Annotated[str, Form(max_length=64)],
    amount: Annotated[str, Form(max_length=40)] = "",
    totp: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Pays the request (pressing twice is one payment) and shows the transfer."""
    me = signed_in(current)
    try:
        view, _ = current.services.requests.pay(
            me,
            request_id,
            from_account=from_account,
            amount=amount.strip() or None,
            totp=totp.strip() or None,
        )
    except WalletError as refused:
        form = {"amount": amount, "from_account": from_account}
        return current.render(
            "pay.html", _pay_context(current, me, request_id, form=form, error=refused), 400
        )
    return current.redirect(f"/app/transfers/{view.id}")


# -------------------------------------------------------------------------------------- bills ---


@router.get("/app/bills")
def bills(current: PageDep) -> Response:
    """The customer's bills with their schedules and payments, and the forms to save and schedule."""
    me = signed_in(current)
    return current.render("bills.html", _bills_context(current, me))


def _bills_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    services = current.services
    return {
        "bills": services.bills.bills(me),
        "billers": services.bills.billers(me),
        "accounts": active_accounts(current, me),
        "form": {},
        "today": services.bills.clock().date().isoformat(),
        "weekdays": [str(n) for _, n in sorted(get_day_names("wide", locale=current.formats.locale).items())],
        **extra,
    }


@router.post("/app/bills")
def save_bill(
    current: PostDep,
    biller_id: Annotated[str, Form(max_length=64)],
    reference: Annotated[str, Form(max_length=64)],
    nickname: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Saves a bill; a reference not in the biller's format is refused in words."""
    me = signed_in(current)
    try:
        current.services.bills.save_bill(
            me, biller_id=biller_id, reference=reference, nickname=nickname.strip() or None
        )
    except WalletError as refused:
        form = {"biller_id": biller_id, "reference": reference, "nickname": nickname}
        return current.render("bills.html", _bills_context(current, me, form=form, error=refused), 400)
    return current.redirect("/app/bills")


@router.post("/app/bills/{bill_id}/schedule")
def schedule_bill(
    current: PostDep,
    bill_id: str,
    from_account: Annotated[str, Form(max_length=64)],
    amount: Annotated[str, Form(max_length=40)],
    kind: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=10)] = "",
    day: Annotated[str, Form(max_length=2)] = "",
    weekday: Annotated[str, Form(max_length=1)] = "",
    totp: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Pays the bill now, on a date, monthly or weekly."""
    me = signed_in(current)
    try:
        try:
            first = date.fromisoformat(start) if start else None
        except ValueError:
            raise InvalidRequestError("the start is a date (YYYY-MM-DD)") from None
        if (day and not day.isdigit()) or (weekday and not weekday.isdigit()):
            raise InvalidRequestError("the day of the month and the weekday are numbers")
        current.services.bills.schedule(
            me,
            bill_id,
            from_account=from_account,
            amount=amount.strip(),
            kind=kind,
            start=first,
            day=int(day) if day and kind == "monthly" else None,
            weekday=int(weekday) if weekday and kind == "weekly" else None,
            totp=totp.strip() or None,
        )
    except NotFoundError:
        raise  # not theirs: the not-found page
    except WalletError as refused:
        return current.render("bills.html", _bills_context(current, me, error=refused), 400)
    return current.redirect("/app/bills")


@router.post("/app/bill-schedules/{schedule_id}/{action}")
def change_schedule(current: PostDep, schedule_id: str, action: str) -> Response:
    """Skips the next payment of a schedule, or cancels it."""
    me = signed_in(current)
    bills_ = current.services.bills
    try:
        if action == "skip":
            bills_.skip(me, schedule_id)
        elif action == "cancel":
            bills_.cancel(me, schedule_id)
        else:
            raise InvalidRequestError(f"{action!r}: skip or cancel")
    except NotFoundError:
        raise  # not theirs: the not-found page
    except WalletError as refused:
        return current.render("bills.html", _bills_context(current, me, error=refused), 400)
    return current.redirect("/app/bills")


# ----------------------------------------------------------------------------------- spending ---


@router.get("/app/spending")
def spending(current: PageDep, currency: str = "USD") -> Response:
    """Where the money went: the chart, this month against the months before, budgets and rules."""
    me = signed_in(current)
    return current.render("spending.html", _spending_context(current, me, currency))


def _spending_context(current: Page, me: Principal, currency: str, **extra: Any) -> dict[str, Any]:
    services = current.services
    if currency not in services.bank.tokens:
        currency = next(iter(services.bank.tokens))
    return {
        "figures": services.spending.summary(me, currency=currency, months=6),
        "rules": services.spending.rules(me),
        "currencies": list(services.bank.tokens),
        "currency": currency,
        "form": {},
        **extra,
    }


@router.get("/app/spending/chart.png")
def spending_chart(current: PageDep, currency: str = "USD") -> Response:
    me = signed_in(current)
    return Response(
        current.services.spending.chart(me, currency=currency, months=6, kind="png"),
        media_type="image/png",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/app/spending/payments.csv")
def spending_csv(current: PageDep) -> Response:
    me = signed_in(current)
    return current.download(current.services.spending.csv(me).encode(), "text/csv", "spending.csv")


@router.post("/app/spending/budgets")
def set_budget(
    current: PostDep,
    category: Annotated[str, Form(max_length=40)],
    currency: Annotated[str, Form(max_length=3)],
    amount: Annotated[str, Form(max_length=40)],
) -> Response:
    me = signed_in(current)
    try:
        current.services.spending.set_budget(me, category=category, currency=currency, amount=amount.strip())
    except WalletError as refused:
        form = {"category": category, "amount": amount}
        context = _spending_context(current, me, currency, form=form, error=refused)
        return current.render("spending.html", context, 400)
    return current.redirect(f"/app/spending?currency={currency}")


@router.post("/app/spending/rules")
def add_rule(
    current: PostDep,
    match: Annotated[str, Form(max_length=10)],
    pattern: Annotated[str, Form(max_length=100)],
    category: Annotated[str, Form(max_length=40)],
) -> Response:
    me = signed_in(current)
    try:
        current.services.spending.add_rule(me, match=match, pattern=pattern, category=category)
    except WalletError as refused:
        form = {"match": match, "pattern": pattern, "rule_category": category}
        return current.render(
            "spending.html", _spending_context(current, me, "USD", form=form, error=refused), 400
        )
    return current.redirect("/app/spending")


@router.post("/app/spending/rules/{rule_id}/delete")
def delete_rule(current: PostDep, rule_id: str) -> Response:
    me = signed_in(current)
    current.services.spending.delete_rule(me, rule_id)
    return current.redirect("/app/spending")


# ------------------------------------------------------------------------------------ batches ---


@router.get("/app/batches")
def batches(current: PageDep) -> Response:
    """Batch payments: the upload form and the customer's batches."""
    me = signed_in(current)
    return current.render("batches.html", _batches_context(current, me))


def _batches_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    services = current.services
    return {
        "batches": services.batches.mine(me),
        "accounts": active_accounts(current, me),
        "form": {},
        **extra,
    }


@router.post("/app/batches")
async def upload_batch(
    current: PostDep,
    file: UploadFile,
    format: Annotated[str, Form(max_length=10)] = "pain.001",
    message_id: Annotated[str, Form(max_length=35)] = "",
    from_account: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Uploads a pain.001 or CSV file: all of its problems shown together, or the batch paid."""
    me = signed_in(current)
    content = await file.read(5 * 1024 * 1024 + 1)

    def upload() -> Response:
        try:
            if len(content) > 5 * 1024 * 1024:
                raise InvalidRequestError("a batch file is at most 5 MiB")
            if format == "csv":
                view, _ = current.services.batches.upload_csv(
                    me, content, message_id=message_id.strip(), from_account=from_account
                )
            else:
                view, _ = current.services.batches.upload_pain001(me, content)
        except WalletError as refused:
            problems = getattr(refused, "errors", [])
            form = {"format": format, "message_id": message_id, "from_account": from_account}
            context = _batches_context(current, me, form=form, error=refused, problems=problems)
            return current.render("batches.html", context, 400)
        return current.redirect(f"/app/batches/{view['id']}")

    return await run_in_threadpool(upload)


@router.get("/app/batches/{batch_id}")
def batch_page(current: PageDep, batch_id: str) -> Response:
    me = signed_in(current)
    view = current.services.batches.get(me, batch_id)
    live = any(line["state"] not in ("final", "failed", "rejected") for line in view["lines"])
    return current.render("batch.html", {"b": view, "live": live})


@router.get("/app/batches/{batch_id}/pain.002")
def batch_report(current: PageDep, batch_id: str) -> Response:
    me = signed_in(current)
    report = current.services.batches.pain002(me, batch_id)
    return current.download(report, "application/xml", f"pain.002-{batch_id}.xml")


# ----------------------------------------------------------------------------------- invoices ---

INVOICE_ROWS = 3  # line rows on the form (the API takes up to 100)


@router.get("/app/invoices")
def invoices(current: PageDep) -> Response:
    """Invoices issued and received, the aging of what is open, and the form for a new one."""
    me = signed_in(current)
    return current.render("invoices.html", _invoices_context(current, me))


def _invoices_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    services = current.services
    return {
        "invoices": services.invoices.mine(me),
        "aging": services.invoices.aging(me),
        "me": me.user_id,
        "currencies": [a.currency for a in active_accounts(current, me)],
        "rows": range(INVOICE_ROWS),
        "form": {},
        "due": (services.invoices.clock().date() + timedelta(days=30)).isoformat(),
        **extra,
    }


@router.post("/app/invoices")
async def issue_invoice(current: PostDep) -> Response:
    """Issues an invoice from the form's filled line rows."""
    me = signed_in(current)
    form = {k: str(v) for k, v in (await current.request.form()).items() if k != "csrf"}

    def issue() -> Response:
        lines = [
            {
                "description": form.get(f"description_{n}", "").strip(),
                "quantity": form.get(f"quantity_{n}", "").strip(),
                "unit_price": form.get(f"unit_price_{n}", "").strip(),
                "tax_rate": form.get(f"tax_rate_{n}", "").strip() or "0",
            }
            for n in range(INVOICE_ROWS)
            if form.get(f"description_{n}", "").strip()
        ]
        try:
            try:
                due = date.fromisoformat(form.get("due_date", ""))
            except ValueError:
                raise InvalidRequestError("the due date is a date (YYYY-MM-DD)") from None
            view = current.services.invoices.issue(
                me,
                number=form.get("number", ""),
                currency=form.get("currency", ""),
                buyer_name=form.get("buyer_name", ""),
                buyer_country=form.get("buyer_country", "").strip().upper(),
                buyer_account=form.get("buyer_account", "").strip() or None,
                lines=lines,
                due_date=due,
            )
        except WalletError as refused:
            return current.render(
                "invoices.html", _invoices_context(current, me, form=form, error=refused), 400
            )
        return current.redirect(f"/app/invoices/{view['id']}")

    return await run_in_threadpool(issue)


@router.get("/app/invoices/{invoice_id}")
def invoice_page(current: PageDep, invoice_id: str) -> Response:
    me = signed_in(current)
    view = current.services.invoices.get(me, invoice_id)
    return current.render("invoice.html", {"i": view, "qr": svg_data_uri(view["link"])})


@router.get("/app/invoices/{invoice_id}/{kind}")
def invoice_file(current: PageDep, invoice_id: str, kind: str) -> Response:
    """The invoice's UBL XML (`ubl.xml`) or PDF (`invoice.pdf`); its pay page (`pay`)."""
    me = signed_in(current)
    services = current.services
    if kind == "pay":
        terms = services.invoices.open(me, invoice_id)
        accounts = active_accounts(current, me, terms["currency"])
        return current.render("invoice_pay.html", {"i": terms, "accounts": accounts, "key": uuid.uuid4().hex})
    if kind == "ubl.xml":
        return current.download(
            services.invoices.ubl(me, invoice_id), "application/xml", f"invoice-{invoice_id}.xml"
        )
    if kind == "invoice.pdf":
        return current.download(
            services.invoices.pdf(me, invoice_id), "application/pdf", f"invoice-{invoice_id}.pdf"
        )
    raise NotFoundError("page", kind)


@router.post("/app/invoices/{invoice_id}/pay")
def pay_invoice(
    current: PostDep,
    invoice_id: str,
    key: Annotated[str, Form(max_length=64)],
    from_account: Annotated[str, Form(max_length=64)],
    totp: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Pays what is still owed on the invoice (the form's key: pressing twice is one payment)."""
    me = signed_in(current)
    try:
        view, _ = current.services.invoices.pay(
            me, invoice_id, from_account=from_account, idempotency_key=f"web-{key}", totp=totp.strip() or None
        )
    except NotFoundError:
        raise
    except WalletError as refused:
        terms = current.services.invoices.open(me, invoice_id)
        context = {"i": terms, "accounts": [], "key": uuid.uuid4().hex, "error": refused}
        return current.render("invoice_pay.html", context, 400)
    return current.redirect(f"/app/transfers/{view.id}")


# ------------------------------------------------------------------------------ notifications ---


@router.get("/app/notifications")
def notifications(current: PageDep) -> Response:
    """The customer's notifications, and what they hear about on which channel."""
    me = signed_in(current)
    return current.render("notifications.html", _notifications_context(current, me))


def _notifications_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    service = current.services.notifications
    return {
        "notes": service.mine(me),
        "preferences": service.preferences(me),
        "kinds": list(KINDS),
        "webhooks": service.my_webhooks(me),
        **extra,
    }


@router.post("/app/notifications")
async def choose_notifications(current: PostDep) -> Response:
    """Saves the channel of each kind from the form's check boxes."""
    me = signed_in(current)
    form = await current.request.form()
    chosen = {kind: [c for c in CHANNELS if form.get(f"{kind}:{c}") == "1"] for kind in KINDS}

    def save() -> Response:
        current.services.notifications.choose(me, chosen)
        return current.redirect("/app/notifications")

    return await run_in_threadpool(save)


@router.post("/app/notifications/webhooks")
def add_webhook(current: PostDep, url: Annotated[str, Form(max_length=2000)]) -> Response:
    """Adds a webhook of the customer's own; its secret is shown once, on the page that answers."""
    me = signed_in(current)
    try:
        registration = current.services.notifications.add_webhook(me, url.strip())
    except WalletError as refused:
        context = _notifications_context(current, me, error=refused, url=url)
        return current.render("notifications.html", context, 400)
    context = _notifications_context(current, me, secret=registration.secret)
    return current.render("notifications.html", context)


# ------------------------------------------------------------------------------------- points ---


@router.get("/app/points")
def points(current: PageDep) -> Response:
    """The customer's points: balance, statement, how they are earned, and the redeem form."""
    me = signed_in(current)
    return current.render("points.html", _points_context(current, me))


def _points_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    services = current.services
    return {
        "statement": services.points.statement(me, limit=50),
        "rules": services.points.rules(),
        "accounts": active_accounts(current, me),
        "key": uuid.uuid4().hex,
        **extra,
    }


@router.post("/app/points/redeem")
def redeem_points(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    account_id: Annotated[str, Form(max_length=64)],
    amount: Annotated[str, Form(max_length=9)],
) -> Response:
    """Redeems points for a credit (pressing twice is one redemption)."""
    me = signed_in(current)
    try:
        if not amount.strip().isdigit():
            raise InvalidRequestError("points are a whole number")
        current.services.points.redeem(
            me, points=int(amount), account_id=account_id, idempotency_key=f"web-{key}"
        )
    except WalletError as refused:
        return current.render("points.html", _points_context(current, me, error=refused), 400)
    return current.redirect("/app/points")
