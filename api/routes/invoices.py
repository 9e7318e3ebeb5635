"""E-invoices: a corporate client issues them (UBL 2.1 XML, PDF, a QR code of the payment link); the
ledger mirror marks them paid by their reference; an aging report lists what is open. Who may do what
is decided in `wallet.retail.invoices`."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.routes.transfers import transfer_out
from api.schemas import Amount, Currency, Strict, TransferOut

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


class InvoiceLineIn(Strict):
    description: str = Field(max_length=200)
    quantity: str = Field(max_length=20, description="A decimal, for example 2 or 1.5")
    unit_price: Amount
    tax_rate: str = Field(default="0", max_length=8, description="VAT in percent, for example 19 or 7.7")


class InvoiceCreate(Strict):
    number: str = Field(max_length=30)
    currency: Currency
    buyer_name: str = Field(max_length=140)
    buyer_country: str = Field(max_length=2, description="ISO 3166 alpha-2")
    buyer_account: str | None = Field(
        default=None, description="The buyer's account here: they see the invoice"
    )
    seller_country: str = Field(default="CH", max_length=2)
    lines: list[InvoiceLineIn] = Field(max_length=100)
    issue_date: date | None = None
    due_date: date
    reference: str | None = Field(default=None, max_length=64, description="Default INV-<number>")
    note: str | None = Field(default=None, max_length=300)


class InvoicePay(Strict):
    from_account: str | None = None
    totp: str | None = None


@router.post("", status_code=status.HTTP_201_CREATED)
def issue_invoice(body: InvoiceCreate, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Issues an invoice paid into your account in its currency; totals and VAT per rate are worked
    out here, in minor units."""
    return services.invoices.issue(
        principal,
        number=body.number,
        currency=body.currency,
        buyer_name=body.buyer_name,
        buyer_country=body.buyer_country,
        buyer_account=body.buyer_account,
        seller_country=body.seller_country,
        lines=[line.model_dump() for line in body.lines],
        issue_date=body.issue_date,
        due_date=body.due_date,
        reference=body.reference,
        note=body.note,
    )


@router.get("")
def list_invoices(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Invoices you issued or received, newest first, each with what arrived for it."""
    return services.invoices.mine(principal)


@router.get("/aging")
def aging_report(
    principal: CurrentPrincipal, services: ServicesDep, currency: Currency | None = None
) -> dict[str, Any]:
    """Your open invoices by days past due: not due, 1-30, 31-60, 61-90, over 90."""
    return services.invoices.aging(principal, currency=currency)


@router.get("/{invoice_id}")
def get_invoice(invoice_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """An invoice you issued or received: open, partially_paid, paid or overpaid, from the chain."""
    return services.invoices.get(principal, invoice_id)


@router.get(
    "/{invoice_id}/ubl.xml", response_class=Response, responses={200: {"content": {"application/xml": {}}}}
)
def invoice_ubl(invoice_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The invoice as UBL 2.1 (EN 16931) XML."""
    return Response(services.invoices.ubl(principal, invoice_id), media_type="application/xml")


@router.get(
    "/{invoice_id}/invoice.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def invoice_pdf(invoice_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The invoice as a readable PDF."""
    return Response(services.invoices.pdf(principal, invoice_id), media_type="application/pdf")


@router.get("/{invoice_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def invoice_qr(invoice_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The invoice's payment link as a QR code."""
    return Response(services.invoices.qr(principal, invoice_id), media_type="image/png")


@router.get("/{invoice_id}/pay")
def open_invoice(invoice_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """What paying the invoice means (any customer with its link): seller, total, still owed, reference."""
    return services.invoices.open(principal, invoice_id)


@router.post("/{invoice_id}/pay", status_code=status.HTTP_201_CREATED, response_model=TransferOut)
def pay_invoice(
    invoice_id: str,
    body: InvoicePay,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> TransferOut:
    """Pays what is still owed, with the invoice's reference, into the seller's account."""
    view, created = services.invoices.pay(
        principal, invoice_id, from_account=body.from_account, idempotency_key=idempotency_key, totp=body.totp
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return transfer_out(view)
