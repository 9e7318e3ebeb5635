"""Payment requests: ask to be paid (a payment link, an EIP-681 URI, a QR code of either), pay one,
refund a payment. Who may do what is decided in `wallet.retail.requests`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.routes.transfers import transfer_out
from api.schemas import Amount, Currency, Strict, TransferOut

router = APIRouter(prefix="/v1/payment-requests", tags=["payment requests"])


class PaymentRequestCreate(Strict):
    currency: Currency
    amount: Amount | None = Field(default=None, description="Leave out to let the payer choose")
    reference: str | None = Field(
        default=None, max_length=64, description="Printable text of at most 32 bytes; made up when left out"
    )
    description: str | None = Field(default=None, max_length=140)
    single_use: bool = True
    expires_in_minutes: int | None = Field(default=None, description="1 minute to 366 days; none: no expiry")
    account_id: str | None = Field(
        default=None, description="Your account to be paid into (default: your first)"
    )


class PaymentRequestPay(Strict):
    from_account: str | None = None
    amount: Amount | None = Field(default=None, description="Only for a request that leaves the amount open")
    totp: str | None = None


class RefundCreate(Strict):
    amount: Amount
    totp: str | None = None


@router.post("", status_code=status.HTTP_201_CREATED)
def create_request(
    body: PaymentRequestCreate, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """Asks to be paid into your account: returns the request with its payment link (`link`, for
    customers of this bank), its EIP-681 URI (`uri`, for any wallet on the chain) and where its QR code
    is (`/qr.png`, `/qr.svg`)."""
    return services.requests.create(
        principal,
        currency=body.currency,
        amount=body.amount,
        reference=body.reference,
        description=body.description,
        single_use=body.single_use,
        expires_in_minutes=body.expires_in_minutes,
        account_id=body.account_id,
    )


@router.get("")
def list_requests(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your payment requests, newest first, each with what the ledger mirror says it received."""
    return services.requests.mine(principal)


@router.get("/{request_id}")
def get_request(request_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """One of your payment requests (staff: any): its state (`open`, `paying`, `paid`, `failed`,
    `expired`, `cancelled`), what arrived, and each payment with its refunds."""
    return services.requests.get(principal, request_id)


@router.get(
    "/{request_id}/qr.{kind}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def request_qr(
    request_id: str,
    kind: Literal["png", "svg"],
    principal: CurrentPrincipal,
    services: ServicesDep,
    target: Literal["link", "uri"] = Query(default="link", description="The payment link or the EIP-681 URI"),
) -> Response:
    """The request's QR code, to show a payer: of its payment link, or (`target=uri`) its EIP-681 URI."""
    image = services.requests.qr(principal, request_id, target=target, kind=kind)
    return Response(image, media_type="image/png" if kind == "png" else "image/svg+xml")


@router.post("/{request_id}/cancel")
def cancel_request(request_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Closes your open request: it takes no more payments."""
    return services.requests.cancel(principal, request_id)


@router.get("/{request_id}/pay")
def open_request(request_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """What paying this request means (any customer with its link): who asks, how much, its reference,
    whether it still takes a payment, and your payment if you made one."""
    return services.requests.open(principal, request_id)


@router.post(
    "/{request_id}/pay",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses={200: {"description": "You paid it before: that payment"}},
)
def pay_request(
    request_id: str,
    body: PaymentRequestPay,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
) -> TransferOut:
    """Pays the request from your account in its currency, with its reference. Paying again (or
    twice at once) is the same payment; a single-use request paid by someone else is refused
    (`payment-request-closed`), as is a cancelled or expired one."""
    view, created = services.requests.pay(
        principal, request_id, from_account=body.from_account, amount=body.amount, totp=body.totp
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return transfer_out(view)


@router.post(
    "/{request_id}/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses={200: {"description": "A repeated request: the original refund"}},
)
def refund_payment(
    request_id: str,
    payment_id: str,
    body: RefundCreate,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> TransferOut:
    """Sends (part of) a payment that arrived back to the payer, with the request's reference; refunds
    of one payment add up to at most its amount (`refund-too-large`)."""
    view, created = services.requests.refund(
        principal, request_id, payment_id, amount=body.amount, idempotency_key=idempotency_key, totp=body.totp
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return transfer_out(view)
