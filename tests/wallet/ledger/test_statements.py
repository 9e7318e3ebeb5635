"""Statements from the mirror: balances that agree with the chain, in JSON, CSV, PDF and camt.053."""

import csv
import io
import json
from base64 import b32decode
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.wallet.ledger.conftest import LedgerBank
from wallet.db.models import JournalLeg
from wallet.errors import LedgerError
from wallet.ledger.statements import CAMT053_NS, Statement, build_statement, render

XSD = Path(__file__).resolve().parents[2] / "data" / "camt.053.001.08.xsd"
ALL_TIME = (date(2000, 1, 1), datetime.now(UTC).date() + timedelta(days=2))


def _statement(
    bank: LedgerBank,
    holder: int,
    period: tuple[date, date] = ALL_TIME,
    names: dict[str, str] | None = None,
) -> Statement:
    return build_statement(
        bank.sessions,
        chain_id=bank.w3.eth.chain_id,
        token=bank.token.address,
        currency="USD",
        exponent=2,
        account=bank.holders[holder],
        period_from=period[0],
        period_to=period[1],
        names=names,
    )


def test_a_statement_runs_from_opening_to_closing_and_matches_the_chain(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 1_50)
    ref = b"INV-2026-7".ljust(32, b"\x00")
    tx = bank.token.functions.transferWithReference(bank.holders[2], 25, ref).transact(
        {"from": bank.holders[0]}
    )
    bank.w3.eth.wait_for_transaction_receipt(tx)
    bank.transfer(3, 0, 10)
    bank.indexer.run_until_head()
    st_ = _statement(bank, 0, names={bank.holders[1]: "Bob Example", "0x" + "00" * 20: "Issuance"})
    assert st_.opening_balance == 0
    assert [line.amount for line in st_.lines] == [1_000_000, -1_50, -25, 10]
    assert [line.balance for line in st_.lines] == [1_000_000, 999_850, 999_825, 999_835]
    assert st_.closing_balance == bank.token.functions.balanceOf(bank.holders[0]).call() == 999_835
    assert st_.lines[0].counterparty_name == "Issuance"
    assert st_.lines[1].counterparty_name == "Bob Example"
    assert st_.lines[2].reference == "0x" + ref.hex()
    assert st_.lines[2].counterparty == bank.holders[2]


def test_a_period_after_the_movements_has_them_in_its_opening_balance(bank: LedgerBank) -> None:
    bank.transfer(0, 1, 5)
    bank.indexer.run_until_head()
    later = (ALL_TIME[1] + timedelta(days=1), ALL_TIME[1] + timedelta(days=3))
    st_ = _statement(bank, 0, period=later)
    assert st_.lines == []
    assert st_.opening_balance == st_.closing_balance == 1_000_000 - 5
    with pytest.raises(LedgerError, match="ends"):
        _statement(bank, 0, period=(later[1], later[0]))


def test_every_format_carries_the_same_statement(bank: LedgerBank) -> None:
    ref = b"BILL-99".ljust(32, b"\x00")
    tx = bank.token.functions.transferWithReference(bank.holders[1], 1_23, ref).transact(
        {"from": bank.holders[0]}
    )
    bank.w3.eth.wait_for_transaction_receipt(tx)
    bank.indexer.run_until_head()
    st_ = _statement(bank, 0, names={bank.holders[0]: "Alice Example"})

    doc = json.loads(render(st_, "json"))
    assert (doc["opening_balance"], doc["closing_balance"], doc["currency"]) == ("0.00", "9998.77", "USD")
    assert [e["amount"] for e in doc["entries"]] == ["10000.00", "-1.23"]

    rows = list(csv.DictReader(io.StringIO(render(st_, "csv").decode())))
    assert [(r["amount"], r["balance"]) for r in rows] == [("10000.00", "10000.00"), ("-1.23", "9998.77")]

    pdf = PdfReader(io.BytesIO(render(st_, "pdf")))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "Closing balance: 9998.77 USD" in text
    assert "BILL-99" in text
    assert "Alice Example" in text

    xml = render(st_, "camt053")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(xml)  # raises with the first violation of the ISO 20022 schema
    data: Any = schema.to_dict(xml)
    stmt = data["BkToCstmrStmt"]["Stmt"][0]
    balances = {b["Tp"]["CdOrPrtry"]["Cd"]: (Decimal(b["Amt"]["$"]), b["CdtDbtInd"]) for b in stmt["Bal"]}
    assert balances == {"OPBD": (Decimal("0.00"), "CRDT"), "CLBD": (Decimal("9998.77"), "CRDT")}
    entries = stmt["Ntry"]
    got = [(e["CdtDbtInd"], Decimal(e["Amt"]["$"])) for e in entries]
    assert got == [("CRDT", Decimal("10000.00")), ("DBIT", Decimal("1.23"))]
    account = stmt["Acct"]
    assert account["Prxy"]["Id"] == bank.holders[0]
    assert b32decode(account["Id"]["Othr"]["Id"]) == bytes.fromhex(bank.holders[0][2:])
    assert entries[1]["NtryDtls"][0]["TxDtls"][0]["Refs"]["EndToEndId"] == "BILL-99"
    assert CAMT053_NS in xml.decode()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 50_000)), max_size=6))
def test_statements_close_at_the_on_chain_balance_and_entries_sum_to_zero(
    bank: LedgerBank, history: list[tuple[int, int, int]]
) -> None:
    for src, dst, value in history:
        if bank.token.functions.balanceOf(bank.holders[src]).call() >= value:
            bank.transfer(src, dst, value)
    bank.indexer.run_until_head()
    for holder in range(5):
        closing = _statement(bank, holder).closing_balance
        assert closing == bank.token.functions.balanceOf(bank.holders[holder]).call()
    with bank.sessions() as s:
        assert s.scalar(select(func.sum(JournalLeg.amount))) == 0
