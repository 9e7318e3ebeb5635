"""FX quotes for customers: ask what a conversion gives, read a quote, accept it (once, before it expires)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import CurrentPrincipal, ServicesDep
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
