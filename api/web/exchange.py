"""A customer's money across currencies and borders: converting between their own accounts at a quoted
rate, and paying a partner bank's customer in the payee's currency. Both quote first (what it gives,
the fee, until when), then carry the quote out; each calls the same `wallet` services as the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from api.web.core import Page, PageDep, PostDep, signed_in
from wallet.bank.users import Principal
from wallet.errors import WalletError

router = APIRouter(include_in_schema=False)
OPEN = {"pending", "offered", "submitted", "executed", "confirmed"}


# ---------------------------------------------------------------------------------- exchange ---


@router.get("/app/exchange")
def exchange(current: PageDep, rows: bool = False) -> Response:
    """The conversion form and the customer's conversions (refreshed as they settle)."""
    me = signed_in(current)
    context = _exchange_context(current, me)
    return current.render("_conversions.html" if rows else "exchange.html", context)


def _exchange_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    history = current.services.conversions.history(me, limit=20)
    return {
        "currencies": list(current.services.bank.tokens),
        "conversions": history,
        "live": any(c["state"] in OPEN for c in history),
        "form": {},
        **extra,
    }


@router.post("/app/exchange/quote")
def exchange_quote(
    current: PostDep,
    sell: Annotated[str, Form(max_length=3)],
    buy: Annotated[str, Form(max_length=3)],
    sell_amount: Annotated[str, Form(max_length=40)],
) -> Response:
    """What selling `sell_amount` gives, at the mid rate less the customer's spread, until it expires."""
    me = signed_in(current)
    form = {"sell": sell, "buy": buy, "sell_amount": sell_amount.strip()}
    try:
        quote = current.services.quotes.quote(me, sell=sell, buy=buy, sell_amount=form["sell_amount"])
    except WalletError as refused:
        return current.render("exchange.html", _exchange_context(current, me, form=form, error=refused), 400)
    context = _exchange_context(current, me, form=form, quote=quote, key=uuid.uuid4().hex)
    return current.render("exchange.html", context)


@router.post("/app/exchange/convert")
def exchange_convert(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    quote_id: Annotated[str, Form(max_length=64)],
) -> Response:
    """Carries the quote out between the customer's two accounts, both sides in one transaction."""
    me = signed_in(current)
    try:
        current.services.conversions.convert(me, idempotency_key=f"web-{key}", quote_id=quote_id)
    except WalletError as refused:
        return current.render("exchange.html", _exchange_context(current, me, error=refused), 400)
    return current.redirect("/app/exchange")


# ------------------------------------------------------------------------------------ abroad ---


@router.get("/app/abroad")
def abroad(current: PageDep, rows: bool = False) -> Response:
    """The form to pay a partner bank's customer, and the customer's payments across borders."""
    me = signed_in(current)
    context = _abroad_context(current, me)
    return current.render("_abroad_rows.html" if rows else "abroad.html", context)


def _abroad_context(current: Page, me: Principal, **extra: Any) -> dict[str, Any]:
    services = current.services
    history = services.crossborder.history(me, limit=20)
    return {
        "partners": services.partners.list(me),
        "currencies": list(services.bank.tokens),
        "payments": history,
        "live": any(p["state"] in OPEN for p in history),
        "form": {},
        **extra,
    }


@router.post("/app/abroad/quote")
def abroad_quote(
    current: PostDep,
    partner: Annotated[str, Form(max_length=64)],
    sell: Annotated[str, Form(max_length=3)],
    buy: Annotated[str, Form(max_length=3)],
    sell_amount: Annotated[str, Form(max_length=40)],
    creditor_name: Annotated[str, Form(max_length=140)],
    creditor_address: Annotated[str, Form(max_length=64)],
    reference: Annotated[str, Form(max_length=140)] = "",
) -> Response:
    """Our fee and the partner bank's quote: what the payee receives, in their currency."""
    me = signed_in(current)
    form = {
        "partner": partner,
        "sell": sell,
        "buy": buy.strip().upper(),
        "sell_amount": sell_amount.strip(),
        "creditor_name": creditor_name.strip(),
        "creditor_address": creditor_address.strip(),
        "reference": reference.strip(),
    }
    try:
        quote = current.services.crossborder.quote(
            me, partner=partner, sell=sell, buy=form["buy"], sell_amount=form["sell_amount"]
        )
    except WalletError as refused:
        return current.render("abroad.html", _abroad_context(current, me, form=form, error=refused), 400)
    return current.render(
        "abroad.html", _abroad_context(current, me, form=form, quote=quote, key=uuid.uuid4().hex)
    )


@router.post("/app/abroad/pay")
def abroad_pay(
    current: PostDep,
    key: Annotated[str, Form(max_length=64)],
    quote_id: Annotated[str, Form(max_length=64)],
    creditor_name: Annotated[str, Form(max_length=140)],
    creditor_address: Annotated[str, Form(max_length=64)],
    reference: Annotated[str, Form(max_length=140)] = "",
) -> Response:
    """Pays the quote: funds reserved, the settlement offered to the partner bank, settled on chain
    once both banks signed."""
    me = signed_in(current)
    try:
        current.services.crossborder.pay(
            me,
            idempotency_key=f"web-{key}",
            quote_id=quote_id,
            creditor_address=creditor_address.strip(),
            creditor_name=creditor_name.strip(),
            reference=reference.strip() or None,
        )
    except WalletError as refused:
        return current.render("abroad.html", _abroad_context(current, me, error=refused), 400)
    return current.redirect("/app/abroad")


@router.get("/app/abroad/{payment_id}/pacs.008")
def abroad_document(current: PageDep, payment_id: str) -> Response:
    """The payment's ISO 20022 pacs.008, with the settlement transaction once it settled."""
    me = signed_in(current)
    xml = current.services.crossborder.document(me, payment_id)
    return current.download(xml, "application/xml", f"pacs.008-{payment_id}.xml")


__all__ = ["router"]
