"""FX for customers: ask what a conversion gives, read a quote, accept it (once, before it expires), and
carry it out between your own accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.schemas import Amount, Currency, Strict

router = APIRouter(prefix="/v1/fx", tags=["fx"])


class QuoteRequest(Strict):
    sell: Currency
    buy: Currency
    sell_amount: Amount | None = None
    buy_amount: Amount | None = None


@router.post("/quotes", status_code=status.HTTP_201_CREATED)
def new_quote(body: QuoteRequest, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """A quote for selling one of the bank's currencies for another: give the amount to sell or the
    amount to buy; the other is worked out at the mid rate less your tier's spread, rounded to the bank.
    It holds for the policy's time to live (30 s by default)."""
    return services.quotes.quote(
        principal, sell=body.sell, buy=body.buy, sell_amount=body.sell_amount, buy_amount=body.buy_amount
    )


@router.get("/quotes/{quote_id}")
def get_quote(quote_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """One of your quotes (staff: any), with its state: open, expired, accepted, settled or failed."""
    return services.quotes.get(principal, quote_id)


@router.post("/quotes/{quote_id}/accept")
def accept_quote(quote_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Locks your open quote for one conversion; an expired quote is refused (`quote-expired`), one
    accepted already too (`quote-used`)."""
    return services.quotes.accept(principal, quote_id)


class ConversionRequest(Strict):
    quote_id: str
    from_account: str | None = None
    to_account: str | None = None


@router.post(
    "/conversions",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A repeated request: the original conversion"}},
)
def convert(
    body: ConversionRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """Carries out your quote between two of your accounts (by default your accounts in its two
    currencies): the quote is accepted if it was open, both sides are signed, and the bank settles them
    on chain in one transaction against its FX book, so both move or neither does. Refused before
    anything is signed when the quote expired or was used, your funds are short, an account cannot send
    or receive, or the bank cannot sell the amount (`fx-unavailable`). Follow the state with
    GET /v1/fx/conversions/{id} or the event stream (`settlement.state`)."""
    view, created = services.conversions.convert(
        principal,
        idempotency_key=idempotency_key,
        quote_id=body.quote_id,
        from_account=body.from_account,
        to_account=body.to_account,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/conversions")
def list_conversions(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your conversions, newest first."""
    return services.conversions.history(principal)


@router.get("/conversions/{conversion_id}")
def get_conversion(conversion_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """One of your conversions (staff: any): pending, submitted, executed, confirmed, final or failed."""
    return services.conversions.get(principal, conversion_id)
