"""The partner-bank API: other banks are its clients. Every request is signed with HTTP Message
Signatures (RFC 9421, Ed25519) over the method, target URI, content type and body digest, by a key
registered for that partner; a replayed or stale signature is refused (`partner-signature`, 401).

A partner asks for a quote, pays one of our customers by sending a pacs.008.001.08 (we check it, sign
our leg and settle it on chain), reads a payment's status (JSON, or a pacs.002.001.11), tells us its
decision on a payment we offered it, and reads our positions with it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from api.deps import ServicesDep
from api.schemas import Amount, Currency, Strict
from wallet.db.models import Partner
from wallet.errors import InvalidRequestError

router = APIRouter(prefix="/v1/partner", tags=["partner banks"])


async def signed_partner(request: Request, services: ServicesDep) -> tuple[Partner, bytes]:
    """The partner whose key signed this request, and the request's body."""
    body = await request.body()
    partner = services.partner_auth.authenticate(
        method=request.method, url=str(request.url), headers=request.headers.items(), body=body
    )
    return partner, body


SignedPartner = Annotated[tuple[Partner, bytes], Depends(signed_partner)]


class PartnerQuoteRequest(Strict):
    sell: Currency
    buy: Currency
    sell_amount: Amount


@router.post("/quotes", status_code=status.HTTP_201_CREATED)
def partner_quote(caller: SignedPartner, services: ServicesDep) -> dict[str, Any]:
    """A quote for paying one of our customers: you pay `sell_amount` in the central bank's wholesale
    token of `sell`; we credit our customer in `buy`. It names our deposit token, treasury and the
    settlement contract the payment settles on."""
    partner, body = caller
    request = PartnerQuoteRequest.model_validate_json(body or b"{}")
    return services.crossborder.partner_quote(
        partner, sell=request.sell, buy=request.buy, sell_amount=request.sell_amount
    )


PACS008_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {
                "schema": {
                    "type": "string",
                    "description": "A pacs.008.001.08 document",
                }
            }
        },
    }
}
PACS002_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The pacs.002.001.11 status report",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/payments",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=PACS008_BODY,
    responses={200: {"description": "A repeated request: the payment as first received"}},
)
def receive_payment(
    caller: SignedPartner, services: ServicesDep, request: Request, response: Response
) -> dict[str, Any]:
    """Pays one of our customers: the body is a pacs.008.001.08 (`application/xml`) carrying the atomic
    settlement in its supplementary data, every leg but ours signed. We check it against our quote, our
    customer and our limits with you, sign our leg and settle it on chain; a repeat of the same
    `Idempotency-Key` (default: the end-to-end id) answers 200 with the payment."""
    partner, body = caller
    if not request.headers.get("content-type", "").startswith(("application/xml", "text/xml")):
        raise InvalidRequestError(
            "send the payment as a pacs.008.001.08 document (Content-Type: application/xml)"
        )
    key = request.headers.get("idempotency-key") or ""
    view, created = services.crossborder.receive(partner, body, idempotency_key=key or "pacs008")
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/payments/{end_to_end_id}")
def payment_status(end_to_end_id: str, caller: SignedPartner, services: ServicesDep) -> dict[str, Any]:
    """A payment between us, either way, by its end-to-end id."""
    return services.crossborder.partner_status(caller[0], end_to_end_id)


@router.get("/payments/{end_to_end_id}/pacs.002", response_class=Response, responses=PACS002_RESPONSE)
def payment_status_report(end_to_end_id: str, caller: SignedPartner, services: ServicesDep) -> Response:
    """The pacs.002.001.11 status report of a payment you sent us (ACSP accepted, ACSC settled, RJCT)."""
    return Response(
        services.crossborder.status_report(caller[0], end_to_end_id), media_type="application/xml"
    )


class Decision(Strict):
    reason: str | None = None


@router.post("/payments/{end_to_end_id}/accept")
def accept_payment(end_to_end_id: str, caller: SignedPartner, services: ServicesDep) -> dict[str, Any]:
    """You accept a payment we offered you (after your own review): you sign your leg and settle it."""
    return services.crossborder.partner_decision(caller[0], end_to_end_id, accepted=True, reason=None)


@router.post("/payments/{end_to_end_id}/reject")
def reject_payment(end_to_end_id: str, caller: SignedPartner, services: ServicesDep) -> dict[str, Any]:
    """You reject a payment we offered you: nothing moves, and our customer's funds are released."""
    partner, body = caller
    decision = Decision.model_validate_json(body or b"{}")
    return services.crossborder.partner_decision(
        partner, end_to_end_id, accepted=False, reason=decision.reason
    )


@router.get("/positions")
def partner_positions(caller: SignedPartner, services: ServicesDep) -> dict[str, Any]:
    """Today's bilateral positions between us per currency (UTC day), as our books show them."""
    return services.crossborder.positions(caller[0])
