"""A statement as a printed bank statement (PDF, with reportlab): on every page the bank's name and
address, the statement's number, account and period, and "Page X of Y"; on the first page the account
owner, the issue date, the block the balances are as of and a summary box (opening balance, credits,
debits, closing balance); then the entries, with long counterparties and references wrapped inside
their column, never over the amounts.

Fonts are Bitstream Vera, embedded (it ships with reportlab), so text extraction gives back the
text as written, accents included. The document is invariant: the same statement gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from wallet.ledger.statements import Statement
from wallet.money import format_amount

FONT, BOLD = "TdwVera", "TdwVera-Bold"
PAGE = landscape(A4)
MARGIN = 12 * mm
HEADER = 30 * mm  # the band each page's header is drawn in
# Date, counterparty, reference, debit, credit, balance: 273 mm between the margins.
COLUMNS = (32 * mm, 72 * mm, 72 * mm, 30 * mm, 30 * mm, 37 * mm)


def _fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    import reportlab

    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "VeraBd.ttf")))


def _title(s: Statement) -> str:
    if not s.closed:
        return "Interim account statement"
    return f"Statement of account no. {s.number}" + (f" (version {s.version})" if s.version > 1 else "")


def _numbered_canvas(s: Statement) -> type[Canvas]:
    """A canvas that holds its pages back until the end, then draws each one's header and footer
    knowing how many pages there are."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab has no type hints
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for page in self._pages:
                self.__dict__.update(page)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = PAGE
            top = height - MARGIN
            self.setFont(BOLD, 12)
            self.drawString(MARGIN, top - 4 * mm, s.bank.name)
            self.setFont(FONT, 8)
            for i, line in enumerate(s.bank.address[:3]):
                self.drawString(MARGIN, top - (9 + 4 * i) * mm, line)
            self.setFont(BOLD, 11)
            self.drawRightString(width - MARGIN, top - 4 * mm, _title(s))
            self.setFont(FONT, 8)
            self.drawRightString(width - MARGIN, top - 9 * mm, f"Account {s.account} ({s.currency})")
            self.drawRightString(
                width - MARGIN,
                top - 13 * mm,
                f"Period {s.period_from.isoformat()} to {s.period_to.isoformat()} (UTC)",
            )
            self.drawRightString(width - MARGIN, top - 17 * mm, f"Statement {s.identifier}")
            self.setStrokeColor(colors.black)
            self.setLineWidth(0.5)
            self.line(
                MARGIN, height - MARGIN - HEADER + 4 * mm, width - MARGIN, height - MARGIN - HEADER + 4 * mm
            )
            self.line(MARGIN, MARGIN + 5 * mm, width - MARGIN, MARGIN + 5 * mm)
            self.drawString(
                MARGIN,
                MARGIN,
                f"Issued {s.generated_at:%Y-%m-%d %H:%M:%S} UTC by {s.bank.name}",
            )
            self.drawRightString(width - MARGIN, MARGIN, f"Page {self._pageNumber} of {total}")

    return NumberedCanvas


def statement_pdf(s: Statement) -> bytes:
    """The statement as PDF bytes."""
    _fonts()
    normal = ParagraphStyle("tdw", fontName=FONT, fontSize=8, leading=10, splitLongWords=True)
    strong = ParagraphStyle("tdw-strong", parent=normal, fontName=BOLD, fontSize=10, leading=13)
    cell = ParagraphStyle("tdw-cell", parent=normal, fontSize=7.5, leading=9)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER,
        bottomMargin=MARGIN + 9 * mm,
        title=f"{_title(s)}: {s.account} {s.period_from} to {s.period_to}",
        author=s.bank.name,
        invariant=1,
    )

    def money(units: int) -> str:
        return format_amount(units, s.exponent)

    def p(text: str, style: ParagraphStyle = normal) -> Paragraph:
        return Paragraph(escape(text), style)

    (credit_count, credit_sum), (debit_count, debit_sum) = s.credits, s.debits
    owner = [
        p(s.owner_name or s.account_name or s.account, strong),
        p(f"Account {s.account}" + (f" ({s.account_name})" if s.account_name else "")),
        p(f"Currency {s.currency}, deposit token {s.token} on chain {s.chain_id}"),
        p(f"Issued {s.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
        p(f"Balances as of {s.as_of:%Y-%m-%d %H:%M:%S} UTC, block {s.as_of_block}"),
    ]
    if s.electronic_number is not None:
        owner.append(p(f"Statement no. {s.number}, electronic sequence {s.electronic_number}"))
    box = Table(
        [
            ["Opening balance", f"{money(s.opening_balance)} {s.currency}"],
            [f"Credits ({credit_count})", f"+{money(credit_sum)} {s.currency}"],
            [f"Debits ({debit_count})", f"-{money(debit_sum)} {s.currency}"],
            ["Closing balance", f"{money(s.closing_balance)} {s.currency}"],
        ],
        colWidths=(40 * mm, 50 * mm),
    )
    box.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 9),
                ("FONT", (0, -1), (-1, -1), BOLD, 9),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f4f6f8")),
            ]
        )
    )
    top = Table([[owner, box]], colWidths=(183 * mm, 90 * mm))
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, -1), 0)]))
    story: list[Any] = [top, Spacer(1, 3 * mm)]
    story += [p(note) for note in s.notes]
    story.append(Spacer(1, 3 * mm))

    rows: list[list[Any]] = [["Date (UTC)", "Counterparty", "Reference", "Debit", "Credit", "Balance"]]
    rows.append(["", p("Opening balance"), "", "", "", money(s.opening_balance)])
    for line in s.lines:
        who = escape(line.counterparty)
        if line.counterparty_name:
            who = f"{escape(line.counterparty_name)}<br/>{who}"
        rows.append(
            [
                line.time.strftime("%Y-%m-%d %H:%M:%S"),
                Paragraph(who, cell),
                Paragraph(escape(line.reference or ""), cell),
                money(-line.amount) if line.amount < 0 else "",
                money(line.amount) if line.amount > 0 else "",
                money(line.balance),
            ]
        )
    rows.append(["", p("Closing balance"), "", money(debit_sum), money(credit_sum), money(s.closing_balance)])
    table = Table(rows, repeatRows=1, colWidths=COLUMNS)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 7.5),
                ("FONT", (0, 0), (-1, 0), BOLD, 8),
                ("FONT", (0, -1), (-1, -1), BOLD, 7.5),
                ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
                ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#f2f2f2")]),
            ]
        )
    )
    story.append(table)
    story.append(Spacer(1, 4 * mm))
    story.append(
        KeepTogether(
            [
                p(
                    f"Closing balance {money(s.closing_balance)} {s.currency} as of "
                    f"{s.as_of:%Y-%m-%d %H:%M:%S} UTC (block {s.as_of_block}).",
                    strong,
                ),
                p(
                    "Amounts are the bank's deposit tokens on chain, one token unit for one unit of the "
                    "currency; every entry is identified by its transaction and log in the JSON and "
                    "camt.053 statements."
                ),
            ]
        )
    )
    doc.build(story, canvasmaker=_numbered_canvas(s))
    return out.getvalue()
