"""Payments to partner banks' customers, for our customers; partner banks and positions, for staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.schemas import Amount, Currency, Strict
from wallet.partners import htlc
from wallet.vocabulary import Role

router = APIRouter(tags=["cross-border"])


class CrossBorderQuoteRequest(Strict):
    partner: str
    sell: Currency
    buy: Currency
    sell_amount: Amount


@router.post("/v1/cross-border/quotes", status_code=status.HTTP_201_CREATED)
def cross_border_quote(
    body: CrossBorderQuoteRequest, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """What paying a partner bank's customer gives: our fee (your tier's spread) off what you send, the
    rest paid to the partner bank at its quote, in the payee's currency."""
    return services.crossborder.quote(
        principal, partner=body.partner, sell=body.sell, buy=body.buy, sell_amount=body.sell_amount
    )


class Creditor(Strict):
    address: str
    name: str


class CrossBorderPaymentRequest(Strict):
    quote_id: str
    creditor: Creditor
    from_account: str | None = None
    reference: str | None = None


@router.post(
    "/v1/cross-border/payments",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A repeated request: the original payment"}},
)
def cross_border_pay(
    body: CrossBorderPaymentRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """Pays a partner bank's customer from your quote: your funds are reserved, the bank offers the
    settlement to the partner bank, and it settles on chain in one transaction once both banks have
    signed (`offered`, then `submitted` ... `final`). If the partner bank rejects it or does not sign
    before the deadline, nothing moves and your funds are released (`failed`)."""
    view, created = services.crossborder.pay(
        principal,
        idempotency_key=idempotency_key,
        quote_id=body.quote_id,
        creditor_address=body.creditor.address,
        creditor_name=body.creditor.name,
        from_account=body.from_account,
        reference=body.reference,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/v1/cross-border/payments")
def cross_border_history(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your payments with partner banks' customers, both ways, newest first."""
    return services.crossborder.history(principal)


@router.get("/v1/cross-border/payments/{payment_id}")
def cross_border_payment(
    payment_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """One payment with a partner bank's customer."""
    return services.crossborder.get(principal, payment_id)


@router.get(
    "/v1/cross-border/payments/{payment_id}/pacs.008",
    response_class=Response,
    responses={
        200: {
            "description": "The payment's pacs.008.001.08, with the settlement transaction once it settled",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
)
def cross_border_pacs008(payment_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The payment's ISO 20022 pacs.008.001.08, with the settlement transaction once it settled."""
    return Response(services.crossborder.document(principal, payment_id), media_type="application/xml")


@router.get("/v1/partners")
def list_partners(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """The partner banks the bank pays and is paid by."""
    return services.partners.list(principal)


class PartnerRegistration(Strict):
    id: str
    name: str
    bic: str
    key_id: str
    public_key: str
    base_url: str
    treasury: str
    max_payment: dict[str, Amount] = Field(default_factory=dict)
    max_open: dict[str, Amount] = Field(default_factory=dict)


@router.post("/v1/bank/partners", status_code=status.HTTP_201_CREATED)
def register_partner(
    body: PartnerRegistration, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """Registers a partner bank (administrators): its key for signed requests (base64 Ed25519), its
    partner API, its treasury on chain, and the limits kept with it per currency."""
    return services.partners.register(principal, **body.model_dump())


@router.get("/v1/bank/positions")
def positions(principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Today's bilateral positions with each partner bank, the netting per currency, and the treasury's
    settlement-token holdings by the ledger mirror and by the chain (staff)."""
    return services.crossborder.position_report(principal)


@router.get("/v1/bank/identity")
def identity(principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """What a partner bank registers us with: our BIC, key id and public key, treasury (staff)."""
    principal.require(Role.OPERATOR, Role.ADMIN)
    return services.crossborder.identity()


@router.get("/v1/bank/swaps")
def swaps(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Payments across two chains by hashed time-locks, newest first, each lock as its chain holds it
    now (operators, administrators, compliance officers). Empty where the bank is on one chain only."""
    return htlc.swaps(services.htlc, principal)
