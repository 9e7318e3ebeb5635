"""pacs.008.001.08 and pacs.002.001.11 as we write them, checked against ISO's own schemas
(tests/data/iso20022, see SOURCE.md there), read back exactly, and hostile XML refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlschema

from wallet.errors import InvalidRequestError
from wallet.partners.iso20022 import (
    Agent,
    CreditTransfer,
    Party,
    SettlementRef,
    pacs002,
    pacs008,
    parse_pacs008,
)

DATA = Path(__file__).parents[2] / "data" / "iso20022"


UETR = str(uuid.uuid4())


def _transfer() -> CreditTransfer:
    return CreditTransfer(
        message_id="TDW0123456789ABCDEF",
        end_to_end_id="TDW0123456789ABCDEF",
        uetr=UETR,
        created=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        interbank_currency="USD",
        interbank_amount=9_950,
        instructed_currency="USD",
        instructed_amount=10_000,
        debtor=Party("Alice Example", "0x" + "22" * 20, "CH", ("Bahnhofstrasse 10, 8001 Zürich",), "USD"),
        debtor_agent=Agent("DEMOCHZZ", "Demo Bank"),
        creditor=Party("陈嘉欣 Carol Chan", "0x" + "66" * 20, None, (), "HKD"),
        creditor_agent=Agent("HARBHKHH", "Harbour Bank"),
        settlement=SettlementRef(
            chain_id=31337,
            contract="0x" + "ab" * 20,
            settlement_id="0x" + "cd" * 32,
            ref="0x" + "00" * 32,
            deadline=1_800_000_000,
            legs=(
                {
                    "token": "0x" + "11" * 20,
                    "from": "0x" + "22" * 20,
                    "to": "0x" + "33" * 20,
                    "value": "10000",
                    "signature": "0x" + "44" * 65,
                },
                {
                    "token": "0x" + "55" * 20,
                    "from": "0x" + "33" * 20,
                    "to": "0x" + "66" * 20,
                    "value": "77000",
                    "signature": None,
                },
            ),
            quote_id="q-1",
        ),
        remittance="invoice 42",
    )


def test_a_pacs008_is_valid_by_the_iso_schema_and_reads_back() -> None:
    document = pacs008(_transfer())
    xmlschema.XMLSchema(DATA / "pacs.008.001.08.xsd").validate(document.decode())
    assert b'<IntrBkSttlmAmt Ccy="USD">99.50</IntrBkSttlmAmt>' in document
    back = parse_pacs008(document)
    assert back == _transfer()


@pytest.mark.parametrize("status", ["pending", "accepted", "settled", "rejected"])
def test_a_pacs002_is_valid_by_the_iso_schema(status: str) -> None:
    report = pacs002(
        message_id="STS1",
        original=_transfer(),
        status=status,
        reason="the creditor account is closed" if status == "rejected" else None,
        reporter=Agent("HARBHKHH", "Harbour Bank"),
        recipient=Agent("DEMOCHZZ", "Demo Bank"),
        tx_hash="0x" + "77" * 32 if status == "settled" else None,
    )
    xmlschema.XMLSchema(DATA / "pacs.002.001.11.xsd").validate(report.decode())


def test_hostile_or_wrong_documents_are_refused_in_words() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">&b;</Document>'
    )
    with pytest.raises(InvalidRequestError):
        parse_pacs008(bomb)
    with pytest.raises(InvalidRequestError, match=r"pacs\.008\.001\.08 Document"):
        parse_pacs008(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08"/>')
    without = pacs008(_transfer()).replace(b"<EndToEndId>TDW0123456789ABCDEF</EndToEndId>", b"")
    with pytest.raises(InvalidRequestError, match="EndToEndId"):
        parse_pacs008(without)
