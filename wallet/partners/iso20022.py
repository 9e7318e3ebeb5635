"""ISO 20022 messages of payments between banks: the pacs.008.001.08 FI-to-FI customer credit transfer
each cross-border payment is described by, and the pacs.002.001.11 status report that answers it.

What the standard has no element for travels in the message's supplementary data (`SplmtryData`, whose
envelope the schema leaves open), in our own namespace `urn:tdw:settlement:1`: the atomic settlement
(contract, chain, id, reference, deadline, each leg with its payer's signature), the quote it carries
out, and once it settled, the transaction hash and block. Accounts on chain are identified by proxy
(`Prxy`, type `EVMADDR`, the address); the account identification proper names the chain
(`Othr/Id` `EVM-<chain id>`), since an address is longer than the 34 characters it allows.

Amounts are written from integer minor units with the currency's own number of decimals, never through
a float. Parsing refuses entities, DTDs and network access.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from wallet.errors import InvalidRequestError
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount

PACS008 = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
PACS002 = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11"
TDW = "urn:tdw:settlement:1"
PROXY_TYPE = "EVMADDR"


@dataclass(frozen=True)
class Agent:
    """A bank as a message names it."""

    bic: str
    name: str


@dataclass(frozen=True)
class Party:
    """A debtor or creditor: name, country and address lines (from IVMS101), and the account on chain."""

    name: str
    address: str  # the account's address on chain
    country: str | None = None
    address_lines: tuple[str, ...] = ()
    currency: str | None = None


@dataclass(frozen=True)
class SettlementRef:
    """The atomic settlement a message describes."""

    chain_id: int
    contract: str
    settlement_id: str  # 0x-hex
    ref: str  # 0x-hex
    deadline: int
    legs: tuple[Mapping[str, Any], ...]  # token, from, to, value (str), signature (0x-hex or None)
    quote_id: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None


@dataclass(frozen=True)
class CreditTransfer:
    """What a pacs.008 says about one payment."""

    message_id: str
    end_to_end_id: str
    uetr: str
    created: datetime
    interbank_currency: str
    interbank_amount: int
    instructed_currency: str
    instructed_amount: int
    debtor: Party
    debtor_agent: Agent
    creditor: Party
    creditor_agent: Agent
    settlement: SettlementRef
    remittance: str | None = None


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, _q(ns, tag), **attrs)
    if text is not None:
        element.text = text
    return element


def _amount(units: int, code: str) -> str:
    return format_amount(units, iso_currency(code).exponent)


def _agent(parent: Any, ns: str, tag: str, agent: Agent) -> None:
    fin = _sub(_sub(parent, ns, tag), ns, "FinInstnId")
    _sub(fin, ns, "BICFI", agent.bic)
    _sub(fin, ns, "Nm", agent.name[:140])


def _party(parent: Any, tag: str, party: Party) -> None:
    element = _sub(parent, PACS008, tag)
    _sub(element, PACS008, "Nm", party.name[:140])
    if party.country or party.address_lines:
        postal = _sub(element, PACS008, "PstlAdr")
        if party.country:
            _sub(postal, PACS008, "Ctry", party.country)
        for line in party.address_lines[:7]:
            _sub(postal, PACS008, "AdrLine", line[:70])
    if party.country:
        _sub(element, PACS008, "CtryOfRes", party.country)


def _account(parent: Any, tag: str, party: Party, chain_id: int) -> None:
    account = _sub(parent, PACS008, tag)
    other = _sub(_sub(account, PACS008, "Id"), PACS008, "Othr")
    _sub(other, PACS008, "Id", f"EVM-{chain_id}")
    _sub(_sub(other, PACS008, "SchmeNm"), PACS008, "Prtry", "CHAIN")
    if party.currency:
        _sub(account, PACS008, "Ccy", party.currency)
    proxy = _sub(account, PACS008, "Prxy")
    _sub(_sub(proxy, PACS008, "Tp"), PACS008, "Prtry", PROXY_TYPE)
    _sub(proxy, PACS008, "Id", party.address)


def _settlement(parent: Any, ref: SettlementRef) -> None:
    data = _sub(parent, PACS008, "SplmtryData")
    _sub(data, PACS008, "PlcAndNm", "tdw atomic settlement")
    envelope = _sub(data, PACS008, "Envlp")
    attrs = {
        "chainId": str(ref.chain_id),
        "contract": ref.contract,
        "id": ref.settlement_id,
        "ref": ref.ref,
        "deadline": str(ref.deadline),
    }
    if ref.quote_id:
        attrs["quote"] = ref.quote_id
    if ref.tx_hash:
        attrs["txHash"] = ref.tx_hash
    if ref.block_number is not None:
        attrs["block"] = str(ref.block_number)
    settlement = etree.SubElement(envelope, _q(TDW, "Settlement"), attrs, nsmap={"tdw": TDW})
    for leg in ref.legs:
        leg_attrs = {k: str(leg[k]) for k in ("token", "from", "to", "value")}
        if leg.get("signature"):
            leg_attrs["signature"] = str(leg["signature"])
        etree.SubElement(settlement, _q(TDW, "Leg"), leg_attrs)


def pacs008(transfer: CreditTransfer) -> bytes:
    """The pacs.008.001.08 document of one payment, UTF-8 XML."""
    root = etree.Element(_q(PACS008, "Document"), nsmap={None: PACS008})
    body = _sub(root, PACS008, "FIToFICstmrCdtTrf")
    header = _sub(body, PACS008, "GrpHdr")
    _sub(header, PACS008, "MsgId", transfer.message_id)
    _sub(header, PACS008, "CreDtTm", transfer.created.astimezone(UTC).isoformat(timespec="seconds"))
    _sub(header, PACS008, "NbOfTxs", "1")
    settle = _sub(header, PACS008, "SttlmInf")
    _sub(settle, PACS008, "SttlmMtd", "CLRG")
    _sub(_sub(settle, PACS008, "ClrSys"), PACS008, "Prtry", "TDW-ATOMIC")
    _agent(header, PACS008, "InstgAgt", transfer.debtor_agent)
    _agent(header, PACS008, "InstdAgt", transfer.creditor_agent)
    tx = _sub(body, PACS008, "CdtTrfTxInf")
    ids = _sub(tx, PACS008, "PmtId")
    _sub(ids, PACS008, "InstrId", transfer.message_id)
    _sub(ids, PACS008, "EndToEndId", transfer.end_to_end_id)
    _sub(ids, PACS008, "UETR", transfer.uetr)
    _sub(
        tx,
        PACS008,
        "IntrBkSttlmAmt",
        _amount(transfer.interbank_amount, transfer.interbank_currency),
        Ccy=transfer.interbank_currency,
    )
    _sub(tx, PACS008, "IntrBkSttlmDt", transfer.created.astimezone(UTC).date().isoformat())
    _sub(
        tx,
        PACS008,
        "InstdAmt",
        _amount(transfer.instructed_amount, transfer.instructed_currency),
        Ccy=transfer.instructed_currency,
    )
    _sub(tx, PACS008, "ChrgBr", "SHAR")
    _party(tx, "Dbtr", transfer.debtor)
    _account(tx, "DbtrAcct", transfer.debtor, transfer.settlement.chain_id)
    _agent(tx, PACS008, "DbtrAgt", transfer.debtor_agent)
    _agent(tx, PACS008, "CdtrAgt", transfer.creditor_agent)
    _party(tx, "Cdtr", transfer.creditor)
    _account(tx, "CdtrAcct", transfer.creditor, transfer.settlement.chain_id)
    if transfer.remittance:
        _sub(_sub(tx, PACS008, "RmtInf"), PACS008, "Ustrd", transfer.remittance[:140])
    _settlement(tx, transfer.settlement)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_pacs008(document: bytes) -> CreditTransfer:
    """The one payment of a pacs.008.001.08 document; `InvalidRequestError` naming what is wrong."""
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidRequestError(f"the pacs.008 is not well-formed XML: {exc}") from None
    if root.tag != _q(PACS008, "Document"):
        raise InvalidRequestError(f"expected a pacs.008.001.08 Document ({PACS008}), not {root.tag}")
    ns = {"p": PACS008, "t": TDW}
    txs = root.findall("p:FIToFICstmrCdtTrf/p:CdtTrfTxInf", ns)
    if len(txs) != 1:
        raise InvalidRequestError(f"a pacs.008 carries one payment here, not {len(txs)}")
    tx = txs[0]

    def text(path: str, node: Any = tx, *, required: bool = True) -> str:
        found = node.find(path, ns)
        if found is None or not (found.text or "").strip():
            if required:
                raise InvalidRequestError(f"the pacs.008 has no {path.replace('p:', '')}")
            return ""
        return str(found.text).strip()

    def money(path: str) -> tuple[str, int]:
        found = tx.find(path, ns)
        if found is None:
            raise InvalidRequestError(f"the pacs.008 has no {path.replace('p:', '')}")
        code = str(found.get("Ccy", ""))
        return code, parse_amount(str(found.text or "").strip(), code)

    def party(tag: str) -> Party:
        node = tx.find(f"p:{tag}", ns)
        if node is None:
            raise InvalidRequestError(f"the pacs.008 has no {tag}")
        account = tx.find(f"p:{tag}Acct", ns)
        address = text("p:Prxy/p:Id", account) if account is not None else ""
        if not address:
            raise InvalidRequestError(f"the pacs.008's {tag}Acct names no address (Prxy {PROXY_TYPE})")
        return Party(
            name=text("p:Nm", node),
            address=address,
            country=text("p:CtryOfRes", node, required=False) or None,
            address_lines=tuple(str(e.text) for e in node.findall("p:PstlAdr/p:AdrLine", ns)),
            currency=text("p:Ccy", account, required=False) or None,
        )

    def agent(tag: str) -> Agent:
        return Agent(
            bic=text(f"p:{tag}/p:FinInstnId/p:BICFI"),
            name=text(f"p:{tag}/p:FinInstnId/p:Nm", required=False),
        )

    settlement = tx.find("p:SplmtryData/p:Envlp/t:Settlement", ns)
    if settlement is None:
        raise InvalidRequestError("the pacs.008 carries no settlement (SplmtryData/Envlp/tdw:Settlement)")
    try:
        ref = SettlementRef(
            chain_id=int(settlement.get("chainId", "")),
            contract=str(settlement.get("contract", "")),
            settlement_id=str(settlement.get("id", "")),
            ref=str(settlement.get("ref", "")),
            deadline=int(settlement.get("deadline", "")),
            legs=tuple(
                {
                    "token": leg.get("token", ""),
                    "from": leg.get("from", ""),
                    "to": leg.get("to", ""),
                    "value": leg.get("value", ""),
                    "signature": leg.get("signature"),
                }
                for leg in settlement.findall("t:Leg", ns)
            ),
            quote_id=settlement.get("quote"),
        )
    except ValueError:
        raise InvalidRequestError(
            "the pacs.008's settlement has a chain id or deadline that is not a number"
        ) from None
    interbank_code, interbank = money("p:IntrBkSttlmAmt")
    instructed_code, instructed = (
        money("p:InstdAmt")
        if tx.find("p:InstdAmt", ns) is not None
        else (
            interbank_code,
            interbank,
        )
    )
    header = root.find("p:FIToFICstmrCdtTrf/p:GrpHdr", ns)
    created = text("p:CreDtTm", header)
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        raise InvalidRequestError(f"the pacs.008's CreDtTm {created!r} is not an ISO date and time") from None
    return CreditTransfer(
        message_id=text("p:MsgId", header),
        end_to_end_id=text("p:PmtId/p:EndToEndId"),
        uetr=text("p:PmtId/p:UETR", required=False) or str(uuid.uuid4()),
        created=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
        interbank_currency=interbank_code,
        interbank_amount=interbank,
        instructed_currency=instructed_code,
        instructed_amount=instructed,
        debtor=party("Dbtr"),
        debtor_agent=agent("DbtrAgt"),
        creditor=party("Cdtr"),
        creditor_agent=agent("CdtrAgt"),
        settlement=ref,
        remittance=text("p:RmtInf/p:Ustrd", required=False) or None,
    )


# The pacs.002 transaction status codes (ISO 20022 external code list ExternalPaymentTransactionStatus1Code).
STATUS_CODES = {
    "pending": "PDNG",  # received, not yet accepted
    "accepted": "ACSP",  # accepted, settlement in process
    "settled": "ACSC",  # accepted, settlement completed
    "rejected": "RJCT",
}


def pacs002(
    *,
    message_id: str,
    original: CreditTransfer,
    status: str,
    reason: str | None = None,
    reporter: Agent,
    recipient: Agent,
    created: datetime | None = None,
    tx_hash: str | None = None,
) -> bytes:
    """The pacs.002.001.11 status report of `original` (`status`: pending, accepted, settled, rejected)."""
    root = etree.Element(_q(PACS002, "Document"), nsmap={None: PACS002})
    body = _sub(root, PACS002, "FIToFIPmtStsRpt")
    header = _sub(body, PACS002, "GrpHdr")
    _sub(header, PACS002, "MsgId", message_id[:35])
    _sub(
        header,
        PACS002,
        "CreDtTm",
        (created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    )
    _agent(header, PACS002, "InstgAgt", reporter)
    _agent(header, PACS002, "InstdAgt", recipient)
    group = _sub(body, PACS002, "OrgnlGrpInfAndSts")
    _sub(group, PACS002, "OrgnlMsgId", original.message_id)
    _sub(group, PACS002, "OrgnlMsgNmId", "pacs.008.001.08")
    tx = _sub(body, PACS002, "TxInfAndSts")
    _sub(tx, PACS002, "OrgnlInstrId", original.message_id)
    _sub(tx, PACS002, "OrgnlEndToEndId", original.end_to_end_id)
    _sub(tx, PACS002, "OrgnlUETR", original.uetr)
    _sub(tx, PACS002, "TxSts", STATUS_CODES[status])
    if reason:
        info = _sub(tx, PACS002, "StsRsnInf")
        _sub(_sub(info, PACS002, "Rsn"), PACS002, "Prtry", "NARR")
        for start in range(0, min(len(reason), 105 * 3), 105):
            _sub(info, PACS002, "AddtlInf", reason[start : start + 105])
    if tx_hash:
        data = _sub(tx, PACS002, "SplmtryData")
        _sub(data, PACS002, "PlcAndNm", "tdw atomic settlement")
        envelope = _sub(data, PACS002, "Envlp")
        etree.SubElement(envelope, _q(TDW, "Settled"), {"txHash": tx_hash}, nsmap={"tdw": TDW})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


__all__ = ["Agent", "CreditTransfer", "Party", "SettlementRef", "pacs002", "pacs008", "parse_pacs008"]
