"""E-invoices for corporate clients: issued as EN 16931 structured data (UBL 2.1 Invoice XML) and as a
readable PDF, and marked paid by the ledger mirror.

- **Amounts.** Unit prices are minor units; quantities are decimal strings (up to 4 decimals). A line's
  net is quantity times unit price, rounded half up to the minor unit; VAT is computed per rate on the
  sum of the nets at that rate (EN 16931's VAT breakdown), rounded half up; the total is net plus VAT.
  No float is involved anywhere.
- **Paid by reference.** Each invoice has a payment reference (`INV-<number>` unless given; unique per
  seller account, at most 32 bytes). Credits to the seller's account carrying it, read from the mirror,
  make the invoice `paid` (exactly the total), `partially_paid` or `overpaid`; nobody marks it. The
  buyer pays from the invoice's link (or its QR code) or with an ordinary transfer carrying the
  reference. The seller is told (`invoice.paid`) as each such credit lands.
- **Aging.** What is open (not fully paid), by days past its due date: not due, 1-30, 31-60, 61-90
  and over 90.
"""

from __future__ import annotations

import io
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

import segno
from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.payments import PaymentService, TransferView
from wallet.bank.users import Principal
from wallet.db.models import (
    Invoice,
    User,
    WalletAccount,
    aware,
    utcnow,
)
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.ledger.journal import credited_with
from wallet.money import format_amount, parse_amount
from wallet.references import reference_text
from wallet.vocabulary import Role

UBL = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION = "urn:cen.eu:en16931:2017"
MAX_LINES = 100
AGING_BUCKETS = ("not_due", "1-30", "31-60", "61-90", "over_90")


def _quantity(text: object) -> Decimal:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,4})?", text.strip()):
        raise InvalidRequestError(
            "a quantity is a positive decimal with at most 4 decimals, for example 2 or 1.5"
        )
    value = Decimal(text.strip())
    if value <= 0:
        raise InvalidRequestError("a quantity is more than zero")
    return value


def _rate(text: object) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidRequestError("a VAT rate is a percentage, for example 19 or 7.7") from None
    if not value.is_finite() or value < 0 or value > 100 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidRequestError("a VAT rate is a percentage from 0 to 100 with at most 2 decimals")
    return value


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def totals(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each line's net, the VAT per rate and the invoice's net, VAT and total, in minor units."""
    nets = [_round(Decimal(line["quantity"]) * line["unit_price"]) for line in lines]
    by_rate: dict[str, int] = defaultdict(int)
    for line, net in zip(lines, nets, strict=True):
        by_rate[line["tax_rate"]] += net
    vat = {rate: _round(Decimal(base) * Decimal(rate) / 100) for rate, base in by_rate.items()}
    net = sum(nets)
    tax = sum(vat.values())
    return {
        "lines": nets,
        "breakdown": [
            {"rate": r, "taxable": by_rate[r], "tax": vat[r]} for r in sorted(by_rate, key=Decimal)
        ],
        "net": net,
        "tax": tax,
        "total": net + tax,
    }


class Invoices:
    """Issues invoices, renders them (UBL, PDF, QR), says what was paid and what is open."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        payments: PaymentService,
        *,
        public_url: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.payments = payments
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    # -------------------------------------------------------------------------------- issuing ---

    def issue(
        self,
        principal: Principal,
        *,
        number: str,
        currency: str,
        buyer_name: str,
        buyer_country: str,
        lines: Sequence[dict[str, Any]],
        due_date: date,
        issue_date: date | None = None,
        seller_country: str = "CH",
        buyer_account: str | None = None,
        reference: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Issues an invoice paid into the caller's account in `currency`. Each line: description,
        quantity (a decimal string), unit_price (a decimal string in the currency), tax_rate (percent)."""
        principal.require(Role.CUSTOMER)
        self.bank.token(currency)  # an unknown currency is named as such
        account = self.accounts.active_in(principal, None, currency)
        number = number.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,29}", number):
            raise InvalidRequestError("an invoice number is 1 to 30 letters, digits, / . _ or -")
        if not buyer_name.strip() or len(buyer_name) > 140:
            raise InvalidRequestError("the buyer's name is 1 to 140 characters")
        for name, code in (("buyer", buyer_country), ("seller", seller_country)):
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise InvalidRequestError(f"the {name}'s country is an ISO 3166 code such as DE")
        if not lines or len(lines) > MAX_LINES:
            raise InvalidRequestError(f"an invoice has 1 to {MAX_LINES} lines")
        clean = []
        for n, line in enumerate(lines, start=1):
            description = str(line.get("description", "")).strip()
            if not description or len(description) > 200:
                raise InvalidRequestError(f"line {n}: a description is 1 to 200 characters")
            try:
                quantity = _quantity(line.get("quantity"))
                unit_price = parse_amount(line.get("unit_price"), currency)
                rate = _rate(line.get("tax_rate", "0"))
            except InvalidRequestError as bad:
                raise InvalidRequestError(f"line {n}: {bad}") from None
            except Exception as bad:  # noqa: BLE001 - a money error, named with its line
                raise InvalidRequestError(f"line {n}: {bad}") from None
            clean.append(
                {
                    "description": description,
                    "quantity": str(quantity),
                    "unit_price": unit_price,
                    "tax_rate": str(rate),
                }
            )
        figures = totals(clean)
        today = self.clock().date()
        issue_date = issue_date or today
        if due_date < issue_date:
            raise InvalidRequestError("the due date is on or after the issue date")
        reference = (reference or f"INV-{number}").strip()
        if not reference.isprintable() or len(reference.encode()) > 32 or reference.startswith("0x"):
            raise InvalidRequestError("a payment reference is printable text of at most 32 bytes")
        buyer_id = None
        if buyer_account is not None:
            buyer_id = self.accounts.any_account(buyer_account).user_id
        row = Invoice(
            id=uuid.uuid4().hex,
            seller_id=principal.user_id,
            account_id=account.id,
            number=number,
            currency=currency,
            buyer_name=buyer_name.strip(),
            buyer_country=buyer_country,
            buyer_id=buyer_id,
            seller_country=seller_country,
            issue_date=issue_date,
            due_date=due_date,
            lines=clean,
            net=figures["net"],
            tax=figures["tax"],
            total=figures["total"],
            reference=reference,
            note=(note or "").strip()[:300] or None,
        )
        try:
            with self.bank.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise ConflictError(f"the invoice number {number} or its reference is used already") from None
        return self.get(principal, row.id)

    # -------------------------------------------------------------------------------- reading ---

    def get(self, principal: Principal, invoice_id: str) -> dict[str, Any]:
        """The invoice with what arrived: the seller's, the buyer's (when named), or any for staff."""
        row = self._row(principal, invoice_id)
        return self._view(row)

    def mine(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's invoices, issued and received, newest first."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(Invoice)
                    .where((Invoice.seller_id == principal.user_id) | (Invoice.buyer_id == principal.user_id))
                    .order_by(Invoice.created_at.desc())
                    .limit(100)
                )
            )
        return [self._view(r) for r in rows]

    def aging(self, principal: Principal, *, currency: str | None = None) -> dict[str, Any]:
        """The seller's open invoices by days past due, with totals per bucket and currency."""
        principal.require(Role.CUSTOMER)
        today = self.clock().date()
        with self.bank.readers() as session:
            rows = list(session.scalars(select(Invoice).where(Invoice.seller_id == principal.user_id)))
        buckets: dict[str, list[dict[str, Any]]] = {b: [] for b in AGING_BUCKETS}
        sums: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            if currency and row.currency != currency:
                continue
            received = self._received(row)[0]
            if received >= row.total:  # paid or overpaid: nothing open
                continue
            late = (today - row.due_date).days
            bucket = (
                "not_due"
                if late <= 0
                else "1-30"
                if late <= 30
                else "31-60"
                if late <= 60
                else "61-90"
                if late <= 90
                else "over_90"
            )
            decimals = self.bank.token(row.currency).decimals
            outstanding = row.total - received
            buckets[bucket].append(
                {
                    "id": row.id,
                    "number": row.number,
                    "buyer": row.buyer_name,
                    "due_date": row.due_date.isoformat(),
                    "days_late": max(late, 0),
                    "currency": row.currency,
                    "outstanding": format_amount(outstanding, decimals),
                }
            )
            sums[(bucket, row.currency)] += outstanding
        return {
            "as_of": today.isoformat(),
            "buckets": [
                {
                    "bucket": b,
                    "invoices": buckets[b],
                    "totals": {
                        c: format_amount(v, self.bank.token(c).decimals)
                        for (bb, c), v in sorted(sums.items())
                        if bb == b
                    },
                }
                for b in AGING_BUCKETS
            ],
        }

    # ------------------------------------------------------------------------------ renditions ---

    def ubl(self, principal: Principal, invoice_id: str) -> bytes:
        """The invoice as a UBL 2.1 Invoice (EN 16931 customization)."""
        row = self._row(principal, invoice_id)
        with self.bank.readers() as session:
            seller = session.get(User, row.seller_id)
        assert seller is not None
        decimals = self.bank.token(row.currency).decimals
        figures = totals(row.lines)

        def money(units: int) -> str:
            return format_amount(units, decimals)

        def cbc(tag: str, text: str, **attrs: str) -> Any:
            node = etree.Element(f"{{{CBC}}}{tag}", **attrs)
            node.text = text
            return node

        def cac(tag: str, *children: Any) -> Any:
            node = etree.Element(f"{{{CAC}}}{tag}")
            node.extend(children)
            return node

        def party(name: str, country: str) -> Any:
            return cac(
                "Party",
                cac("PartyName", cbc("Name", name)),
                cac("PostalAddress", cac("Country", cbc("IdentificationCode", country))),
                cac("PartyLegalEntity", cbc("RegistrationName", name)),
            )

        def tax_category(rate: str) -> Any:
            return cac(
                "ClassifiedTaxCategory",
                cbc("ID", "S" if Decimal(rate) > 0 else "Z"),
                cbc("Percent", rate),
                cac("TaxScheme", cbc("ID", "VAT")),
            )

        root = etree.Element(f"{{{UBL}}}Invoice", nsmap={None: UBL, "cac": CAC, "cbc": CBC})
        root.extend(
            [
                cbc("CustomizationID", CUSTOMIZATION),
                cbc("ID", row.number),
                cbc("IssueDate", row.issue_date.isoformat()),
                cbc("DueDate", row.due_date.isoformat()),
                cbc("InvoiceTypeCode", "380"),
                *([cbc("Note", row.note)] if row.note else []),
                cbc("DocumentCurrencyCode", row.currency),
                cbc("BuyerReference", row.reference),
                cac(
                    "AccountingSupplierParty", party(seller.full_name or seller.username, row.seller_country)
                ),
                cac("AccountingCustomerParty", party(row.buyer_name, row.buyer_country)),
                cac(
                    "PaymentMeans",
                    cbc("PaymentMeansCode", "30"),
                    cbc("PaymentID", row.reference),
                    cac("PayeeFinancialAccount", cbc("ID", row.account_id)),
                ),
                cac(
                    "TaxTotal",
                    cbc("TaxAmount", money(figures["tax"]), currencyID=row.currency),
                    *[
                        cac(
                            "TaxSubtotal",
                            cbc("TaxableAmount", money(b["taxable"]), currencyID=row.currency),
                            cbc("TaxAmount", money(b["tax"]), currencyID=row.currency),
                            cac(
                                "TaxCategory",
                                cbc("ID", "S" if Decimal(b["rate"]) > 0 else "Z"),
                                cbc("Percent", b["rate"]),
                                cac("TaxScheme", cbc("ID", "VAT")),
                            ),
                        )
                        for b in figures["breakdown"]
                    ],
                ),
                cac(
                    "LegalMonetaryTotal",
                    cbc("LineExtensionAmount", money(figures["net"]), currencyID=row.currency),
                    cbc("TaxExclusiveAmount", money(figures["net"]), currencyID=row.currency),
                    cbc("TaxInclusiveAmount", money(figures["total"]), currencyID=row.currency),
                    cbc("PayableAmount", money(figures["total"]), currencyID=row.currency),
                ),
                *[
                    cac(
                        "InvoiceLine",
                        cbc("ID", str(n)),
                        cbc("InvoicedQuantity", line["quantity"], unitCode="C62"),
                        cbc("LineExtensionAmount", money(net), currencyID=row.currency),
                        cac("Item", cbc("Name", line["description"]), tax_category(line["tax_rate"])),
                        cac("Price", cbc("PriceAmount", money(line["unit_price"]), currencyID=row.currency)),
                    )
                    for n, (line, net) in enumerate(zip(row.lines, figures["lines"], strict=True), start=1)
                ],
            ]
        )
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))

    def pdf(self, principal: Principal, invoice_id: str) -> bytes:
        """The invoice as a readable PDF: parties, lines, VAT per rate, total, how to pay, its QR code."""
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

        from wallet.ledger.statement_pdf import BOLD, FONT, _fonts

        row = self._row(principal, invoice_id)
        view = self._view(row)
        with self.bank.readers() as session:
            seller = session.get(User, row.seller_id)
        assert seller is not None
        _fonts()
        normal = ParagraphStyle("inv", fontName=FONT, fontSize=9, leading=12)
        strong = ParagraphStyle("inv-strong", parent=normal, fontName=BOLD, fontSize=14, leading=18)
        decimals = self.bank.token(row.currency).decimals
        figures = totals(row.lines)

        def money(units: int) -> str:
            return f"{format_amount(units, decimals)} {row.currency}"

        def p(text: str, style: ParagraphStyle = normal) -> Paragraph:
            return Paragraph(escape(text), style)

        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=A4,
            title=f"Invoice {row.number}",
            author=seller.full_name or seller.username,
            invariant=1,
        )
        table = [["#", "Description", "Quantity", "Unit price", "VAT %", "Net"]]
        for n, (line, net) in enumerate(zip(row.lines, figures["lines"], strict=True), start=1):
            table.append(
                [
                    str(n),
                    line["description"],
                    line["quantity"],
                    money(line["unit_price"]),
                    line["tax_rate"],
                    money(net),
                ]
            )
        for b in figures["breakdown"]:
            table.append(["", f"VAT {b['rate']}% on {money(b['taxable'])}", "", "", "", money(b["tax"])])
        table.append(["", "Total", "", "", "", money(figures["total"])])
        lines = Table(table, colWidths=(8 * mm, 72 * mm, 18 * mm, 28 * mm, 14 * mm, 30 * mm))
        lines.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                    ("FONT", (0, 0), (-1, 0), BOLD, 8.5),
                    ("FONT", (0, -1), (-1, -1), BOLD, 9),
                    ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, "black"),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.6, "black"),
                ]
            )
        )
        qr = io.BytesIO()
        segno.make(self.link(row.id), error="m").save(qr, kind="png", scale=4, border=2)
        qr.seek(0)
        story = [
            p(f"Invoice {row.number}", strong),
            p(f"From {seller.full_name or seller.username} ({row.seller_country})"),
            p(f"To {row.buyer_name} ({row.buyer_country})"),
            p(f"Issued {row.issue_date.isoformat()}, due {row.due_date.isoformat()}"),
            Spacer(1, 6 * mm),
            lines,
            Spacer(1, 6 * mm),
            p(f"Pay {money(row.total)} into account {row.account_id} with the reference {row.reference}."),
            p(f"Or scan the code, or open {self.link(row.id)}"),
            Image(qr, width=30 * mm, height=30 * mm),
            p(
                f"State when this copy was made: {view['state'].replace('_', ' ')}, "
                f"received {view['received']} {row.currency}"
            ),
        ]
        if row.note:
            story.insert(4, p(row.note))
        doc.build(story)
        return out.getvalue()

    def qr(self, principal: Principal, invoice_id: str) -> bytes:
        """The invoice's payment link as a QR code (PNG)."""
        row = self._row(principal, invoice_id)
        out = io.BytesIO()
        segno.make(self.link(row.id), error="m").save(out, kind="png", scale=6, border=4)
        return out.getvalue()

    def link(self, invoice_id: str) -> str:
        return f"{self.public_url}/app/invoices/{invoice_id}/pay"

    # --------------------------------------------------------------------------------- paying ---

    def open(self, principal: Principal, invoice_id: str) -> dict[str, Any]:
        """What a customer about to pay an invoice sees (anyone with its link): seller, total, what is
        still owed, its reference."""
        principal.require(Role.CUSTOMER)
        row = self._any(invoice_id)
        view = self._view(row)
        with self.bank.readers() as session:
            seller = session.get(User, row.seller_id)
        assert seller is not None
        return {k: v for k, v in view.items() if k in _PUBLIC} | {
            "seller": seller.full_name or seller.username
        }

    def pay(
        self,
        principal: Principal,
        invoice_id: str,
        *,
        from_account: str | None,
        idempotency_key: str,
        totp: str | None = None,
    ) -> tuple[TransferView, bool]:
        """Pays what is still owed on the invoice, with its reference, into the seller's account."""
        principal.require(Role.CUSTOMER)
        row = self._any(invoice_id)
        if row.seller_id == principal.user_id:
            raise InvalidRequestError("this is your own invoice")
        owed = row.total - self._received(row)[0]
        if owed <= 0:
            raise ConflictError(f"the invoice {row.number} is paid")
        payer = self.accounts.active_in(principal, from_account, row.currency, field="from_account")
        return self.payments.submit(
            principal,
            idempotency_key=idempotency_key,
            from_account=payer.id,
            amount=format_amount(owed, self.bank.token(row.currency).decimals),
            currency=row.currency,
            to_account=row.account_id,
            reference=row.reference,
            memo=f"Invoice {row.number}",
            totp=totp,
        )

    def paid_by(self, session: Session, account: WalletAccount, reference: str | None) -> Invoice | None:
        """The invoice of `account` a credit carrying `reference` (as the mirror stores it) pays."""
        text = reference_text(reference)
        if text is None:
            return None
        return session.scalar(
            select(Invoice).where(Invoice.account_id == account.id, Invoice.reference == text)
        )

    # -------------------------------------------------------------------------------- helpers ---

    def _view(self, row: Invoice) -> dict[str, Any]:
        received, final = self._received(row)
        decimals = self.bank.token(row.currency).decimals
        state = (
            "open"
            if received == 0
            else "partially_paid"
            if received < row.total
            else "paid"
            if received == row.total
            else "overpaid"
        )
        figures = totals(row.lines)
        return {
            "id": row.id,
            "number": row.number,
            "state": state,
            "currency": row.currency,
            "buyer_name": row.buyer_name,
            "buyer_country": row.buyer_country,
            "issue_date": row.issue_date.isoformat(),
            "due_date": row.due_date.isoformat(),
            "reference": row.reference,
            "account_id": row.account_id,
            "lines": [
                {
                    **line,
                    "unit_price": format_amount(line["unit_price"], decimals),
                    "net": format_amount(net, decimals),
                }
                for line, net in zip(row.lines, figures["lines"], strict=True)
            ],
            "vat": [
                {
                    "rate": b["rate"],
                    "taxable": format_amount(b["taxable"], decimals),
                    "tax": format_amount(b["tax"], decimals),
                }
                for b in figures["breakdown"]
            ],
            "net": format_amount(row.net, decimals),
            "tax": format_amount(row.tax, decimals),
            "total": format_amount(row.total, decimals),
            "received": format_amount(received, decimals),
            "received_final": format_amount(final, decimals),
            "outstanding": format_amount(max(row.total - received, 0), decimals),
            "link": self.link(row.id),
            "created_at": aware(row.created_at),
        }

    def _received(self, row: Invoice) -> tuple[int, int]:
        with self.bank.readers() as session:
            account = session.get(WalletAccount, row.account_id)
            assert account is not None
            return credited_with(session, self.bank.chain_id, account.token, account.address, row.reference)

    def _any(self, invoice_id: str) -> Invoice:
        with self.bank.readers() as session:
            row = session.get(Invoice, invoice_id)
        if row is None:
            raise NotFoundError("invoice", invoice_id)
        return row

    def _row(self, principal: Principal, invoice_id: str) -> Invoice:
        with self.bank.readers() as session:
            row = session.get(Invoice, invoice_id)
        if row is None or (principal.user_id not in (row.seller_id, row.buyer_id) and not principal.is_staff):
            raise NotFoundError("invoice", invoice_id)
        return row


# What anyone with an invoice's link sees before paying it.
_PUBLIC = {
    "id",
    "number",
    "state",
    "currency",
    "buyer_name",
    "due_date",
    "reference",
    "total",
    "outstanding",
    "lines",
    "vat",
}

__all__ = ["AGING_BUCKETS", "Invoices", "totals"]
