"""Statements from the mirror, read as a reconciliation team would: balances that agree with the chain,
final entries only, the period cut at what the chain has settled, numbers that stay the same when the
same period is asked again (unless a reorg changed it, which the new version names), and the same
statement in JSON, CSV, PDF (rendered to pictures and read back) and camt.053 (checked against the ISO
schema)."""

import csv
import io
import json
from base64 import b32decode
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pdfplumber
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.wallet.ledger.conftest import LedgerBank
from wallet.chain.rpc import BlockTimes
from wallet.db.models import Incident, JournalLeg
from wallet.errors import DeepReorgError, LedgerError
from wallet.ledger.statements import CAMT053_NS, Issuer, Statement, build_statement, render

XSD = Path(__file__).resolve().parents[2] / "data" / "camt.053.001.08.xsd"
# The last test of this module moves the chain's clock two days ahead: the open end is well past it.
ALL_TIME = (date(2000, 1, 1), datetime.now(UTC).date() + timedelta(days=30))
BANK = Issuer("Ledger Bank", ("1 Ledger Street", "Springfield 12345", "United States"), "LEDGUS33")


def _statement(
    bank: LedgerBank,
    holder: int,
    period: tuple[date, date] = ALL_TIME,
    names: dict[str, str] | None = None,
    **kwargs: Any,
) -> Statement:
    return build_statement(
        bank.sessions,
        BlockTimes(bank.w3),
        chain_id=bank.w3.eth.chain_id,
        token=bank.token.address,
        currency="USD",
        exponent=2,
        account=bank.holders[holder],
        period_from=period[0],
        period_to=period[1],
        names=names,
        bank=BANK,
        **kwargs,
    )


def _pay(bank: LedgerBank, src: int, dst: int, value: int, reference: bytes) -> None:
    tx = bank.token.functions.transferWithReference(
        bank.holders[dst], value, reference.ljust(32, b"\0")
    ).transact({"from": bank.holders[src]})
    assert bank.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def test_a_statement_runs_from_opening_to_closing_and_matches_the_chain(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 1_50)
    _pay(bank, 0, 2, 25, b"INV-2026-7")
    bank.transfer(3, 0, 10)
    bank.settle()
    st_ = _statement(bank, 0, names={bank.holders[1]: "Bob Example", "0x" + "00" * 20: "Issuance"})
    assert st_.opening_balance == 0
    assert [line.amount for line in st_.lines] == [1_000_000, -1_50, -25, 10]
    assert [line.balance for line in st_.lines] == [1_000_000, 999_850, 999_825, 999_835]
    assert st_.closing_balance == bank.token.functions.balanceOf(bank.holders[0]).call() == 999_835
    assert st_.lines[0].counterparty_name == "Issuance"
    assert st_.lines[1].counterparty_name == "Bob Example"
    assert st_.lines[2].reference == "INV-2026-7"  # as written, not bytes32 hex
    assert st_.lines[2].counterparty == bank.holders[2]
    assert st_.credits == (2, 1_000_010)
    assert st_.debits == (2, 1_75)


def test_entries_not_final_are_left_out_and_counted(bank: LedgerBank) -> None:
    bank.settle()
    bank.transfer(0, 1, 7)
    bank.indexer.run_until_head()  # mirrored, not final yet
    st_ = _statement(bank, 0)
    assert -7 not in [line.amount for line in st_.lines]
    assert st_.pending_entries == 1
    assert st_.closing_balance == bank.token.functions.balanceOf(bank.holders[0]).call() + 7
    assert not st_.closed
    assert st_.number is None
    assert any("not final yet" in note for note in st_.notes)
    bank.settle()
    assert _statement(bank, 0).lines[-1].amount == -7


def test_a_period_not_over_ends_at_the_settled_block_not_in_the_future(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 5)
    bank.settle()
    later = (ALL_TIME[1] + timedelta(days=1), ALL_TIME[1] + timedelta(days=3))
    st_ = _statement(bank, 0, period=later)
    assert st_.lines == []
    assert st_.opening_balance == st_.closing_balance == 1_000_000 - 5
    assert not st_.closed
    today = _statement(bank, 0)
    # As of the newest final block, whose time is the chain's, not 23:59:59 of a day not over yet.
    assert today.as_of_block == bank.w3.eth.block_number
    assert today.as_of == datetime.fromtimestamp(BlockTimes(bank.w3).timestamp(today.as_of_block), UTC)
    assert today.as_of <= datetime.now(UTC) + timedelta(seconds=5)
    with pytest.raises(LedgerError, match="ends"):
        _statement(bank, 0, period=(later[1], later[0]))


def test_every_format_carries_the_same_statement(bank: LedgerBank) -> None:
    _pay(bank, 0, 1, 1_23, "Café Zürich 3".encode())
    _pay(bank, 0, 2, 1, b"X" * 32)
    bank.settle()
    names = {bank.holders[0]: "Alice Example", bank.holders[1]: "Bob Müller"}
    st_ = _statement(bank, 0, names=names, owner_name="Alice Example")

    doc = json.loads(render(st_, "json"))
    assert (doc["opening_balance"], doc["closing_balance"], doc["currency"]) == ("0.00", "9998.76", "USD")
    assert [e["amount"] for e in doc["entries"]] == ["10000.00", "-1.23", "-0.01"]
    assert [e["reference"] for e in doc["entries"]] == [None, "Café Zürich 3", "X" * 32]
    assert doc["summary"] == {
        "credits": {"count": 1, "total": "10000.00"},
        "debits": {"count": 2, "total": "1.24"},
        "net": "9998.76",
    }
    assert doc["bank"]["name"] == "Ledger Bank"
    assert doc["as_of_block"] == st_.as_of_block
    assert doc["type"] == "interim"

    rows = list(csv.DictReader(io.StringIO(render(st_, "csv").decode())))
    assert [r["kind"] for r in rows] == ["opening_balance", "mint", "transfer", "transfer", "closing_balance"]
    assert (rows[0]["balance"], rows[-1]["balance"], rows[-1]["block"]) == (
        "0.00",
        "9998.76",
        str(st_.as_of_block),
    )
    assert rows[2]["reference"] == "Café Zürich 3"

    xml = render(st_, "camt053")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(xml)  # raises with the first violation of the ISO 20022 schema
    data: Any = schema.to_dict(xml)
    stmt = data["BkToCstmrStmt"]["Stmt"][0]
    balances = {b["Tp"]["CdOrPrtry"]["Cd"]: (Decimal(b["Amt"]["$"]), b["CdtDbtInd"]) for b in stmt["Bal"]}
    assert balances == {"OPBD": (Decimal("0.00"), "CRDT"), "CLBD": (Decimal("9998.76"), "CRDT")}
    entries = stmt["Ntry"]
    got = [(e["CdtDbtInd"], Decimal(e["Amt"]["$"]), e["Sts"]["Cd"]) for e in entries]
    assert got == [
        ("CRDT", Decimal("10000.00"), "BOOK"),
        ("DBIT", Decimal("1.23"), "BOOK"),
        ("DBIT", Decimal("0.01"), "BOOK"),
    ]
    account = stmt["Acct"]
    assert account["Prxy"]["Id"] == bank.holders[0]
    assert b32decode(account["Id"]["Othr"]["Id"]) == bytes.fromhex(bank.holders[0][2:])
    assert account["Ownr"]["Nm"] == "Alice Example"
    assert account["Svcr"]["FinInstnId"]["Nm"] == "Ledger Bank"
    assert account["Svcr"]["FinInstnId"]["BICFI"] == "LEDGUS33"
    details = entries[1]["NtryDtls"][0]["TxDtls"][0]
    assert details["RmtInf"]["Ustrd"] == ["Café Zürich 3"]  # the reference where remittance info goes
    assert details["Refs"]["EndToEndId"] == "NOTPROVIDED"
    assert details["RltdPties"]["Cdtr"]["Pty"]["Nm"] == "Bob Müller"
    summary = stmt["TxsSummry"]
    assert (summary["TtlCdtNtries"]["NbOfNtries"], Decimal(summary["TtlCdtNtries"]["Sum"])) == (
        "1",
        Decimal("10000.00"),
    )
    assert (summary["TtlDbtNtries"]["NbOfNtries"], Decimal(summary["TtlDbtNtries"]["Sum"])) == (
        "2",
        Decimal("1.24"),
    )
    assert summary["TtlNtries"]["TtlNetNtry"]["CdtDbtInd"] == "CRDT"
    assert "LglSeqNb" not in stmt  # interim: not numbered
    assert "Interim statement" in stmt["AddtlStmtInf"]
    assert CAMT053_NS in xml.decode()

    with pdfplumber.open(io.BytesIO(render(st_, "pdf"))) as pdf:
        text = pdf.pages[0].extract_text()
    for expected in (
        "Ledger Bank",
        "1 Ledger Street",
        "Alice Example",
        "Café Zürich 3",
        "Bob Müller",
        "Opening balance",
        "Credits (1)",
        "Debits (2)",
        "Closing balance",
        "Page 1 of 1",
        "Interim account statement",
        f"block {st_.as_of_block}",
    ):
        assert expected in text, expected


def test_a_long_statement_has_its_header_and_page_numbers_on_every_page_and_references_stay_in_their_column(
    bank: LedgerBank,
) -> None:
    long_reference = "Rechnung 2026/11 Müller & Sohn"  # 31 bytes of UTF-8, with spaces to wrap at
    for i in range(70):
        _pay(bank, 0, 1 + i % 4, 1 + i, long_reference.encode() if i % 2 else bytes.fromhex("ff" * 32))
    bank.settle()
    st_ = _statement(bank, 0, owner_name="Alice Example")
    pdf_bytes = render(st_, "pdf")
    with pdfplumber.open(io.BytesIO(pdf_bytes)) as pdf:
        pages = pdf.pages
        assert len(pages) >= 3
        for number, page in enumerate(pages, start=1):
            text = page.extract_text()
            assert "Ledger Bank" in text  # the header, on every page
            assert bank.holders[0] in text
            assert f"Page {number} of {len(pages)}" in text
            assert "Date (UTC)" in text  # the table's header row repeats
            # Rendered to a picture, the page has ink in its header band and in its body.
            image = page.to_image(resolution=40).original.convert("L")
            width, height = image.size
            for band in ((0, 0, width, height // 6), (0, height // 3, width, height * 5 // 6)):
                darkest = cast(int, image.crop(band).getextrema()[0])  # "L": (darkest, lightest)
                assert darkest < 128, band
            # Nothing of the reference column reaches into the amount columns.
            words = page.extract_words()
            headings = {w["text"]: w for w in words if w["top"] < page.height * 0.5}
            debit_left = min(w["x0"] for w in words if w["text"] == "Debit")
            for w in words:
                if w["text"] in {"Rechnung", "2026/11", "Müller", "&", "Sohn"}:
                    assert w["x1"] < debit_left - 10, (w, debit_left)
            assert "Debit" in headings
        last = pages[-1].extract_text()
        assert "Closing balance" in last
    # A reference that is not text is shown as hex, inside its column (wrapped, not overprinted).
    assert "0x" + "ff" * 32 in [line.reference for line in st_.lines]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 50_000)), max_size=6))
def test_statements_close_at_the_on_chain_balance_and_entries_sum_to_zero(
    bank: LedgerBank, history: list[tuple[int, int, int]]
) -> None:
    for src, dst, value in history:
        if bank.token.functions.balanceOf(bank.holders[src]).call() >= value:
            bank.transfer(src, dst, value)
    bank.settle()
    for holder in range(5):
        closing = _statement(bank, holder).closing_balance
        assert closing == bank.token.functions.balanceOf(bank.holders[holder]).call()
    with bank.sessions() as s:
        assert s.scalar(select(func.sum(JournalLeg.amount))) == 0


def test_a_closed_period_is_numbered_reproducible_and_a_reorg_issues_a_new_version_naming_it(
    bank: LedgerBank,
) -> None:
    """Runs last in this module: it moves the chain's clock a day ahead to close today's period."""
    bank.settle()
    day = datetime.fromtimestamp(bank.w3.eth.get_block("latest")["timestamp"], UTC).date()
    snapshot = bank.rpc("evm_snapshot")
    _pay(bank, 0, 1, 4_00, b"rent")
    bank.rpc("evm_increaseTime", 86_400)
    bank.settle()
    period = (day, day)
    first = _statement(bank, 0, period)
    assert first.closed
    assert (first.number, first.electronic_number, first.version) == (1, 1, 1)
    assert first.lines[-1].reference == "rent"
    assert first.as_of == datetime.combine(day, datetime.max.time(), UTC).replace(microsecond=0)
    assert BlockTimes(bank.w3).timestamp(first.as_of_block) < first.as_of.timestamp() + 1
    # Asked again, later: the same document, byte for byte, in every format.
    again = _statement(bank, 0, period, now=datetime.now(UTC) + timedelta(hours=5))
    for fmt in ("json", "csv", "pdf", "camt053"):
        assert render(again, fmt) == render(first, fmt), fmt
    xml: Any = xmlschema.XMLSchema(str(XSD)).to_dict(render(first, "camt053"))
    stmt = xml["BkToCstmrStmt"]["Stmt"][0]
    assert (stmt["LglSeqNb"], stmt["ElctrncSeqNb"]) == (Decimal(1), Decimal(1))
    # Another period of the same account gets the next number.
    other = _statement(bank, 0, (day - timedelta(days=1), day - timedelta(days=1)))
    assert (other.number, other.electronic_number) == (2, 2)

    # The chain loses the day's payment (a reorg past final entries) and the period is asked again.
    assert bank.rpc("evm_revert", snapshot) is True
    bank.rpc("evm_increaseTime", 86_400)
    for _ in range(5):
        bank.rpc("evm_mine")
    with pytest.raises(DeepReorgError):
        bank.indexer.run_until_head()
    bank.settle()
    changed = _statement(bank, 0, period)
    assert "rent" not in [line.reference for line in changed.lines]
    assert (changed.number, changed.version, changed.electronic_number) == (1, 2, 3)
    assert len(changed.corrections) == 1
    with bank.sessions() as s:
        incident = s.scalars(
            select(Incident).where(Incident.reorg_id == changed.corrections[0].reorg_id)
        ).one()
    assert changed.corrections[0].incident_id == incident.id
    assert f"incident {incident.id}" in " ".join(changed.notes)
    doc = json.loads(render(changed, "json"))
    assert doc["corrections"][0]["incident_id"] == incident.id
    camt: Any = xmlschema.XMLSchema(str(XSD)).to_dict(render(changed, "camt053"))
    assert f"incident {incident.id}" in camt["BkToCstmrStmt"]["Stmt"][0]["AddtlStmtInf"]
