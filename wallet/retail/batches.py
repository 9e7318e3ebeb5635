"""Batch payments for corporate clients: a payroll or supplier run uploaded as an ISO 20022 pain.001
customer credit transfer initiation (pain.001.001.10), or as a CSV file, answered by a pain.002
customer payment status report (pain.002.001.11).

- **Accounts in the file.** The debtor account (`DbtrAcct`) is one of the uploader's accounts, by its
  account number (`Id/Othr/Id`). A creditor account is either an account of this bank by its number
  (`Id/Othr/Id`), or any address on chain by proxy (`Prxy` of type `EVMADDR`, the address; the
  identification proper, which allows 34 characters, names the chain `EVM-<chain id>`), as in our
  pacs.008. The unstructured remittance information (`RmtInf/Ustrd`) is the payment reference.
- **Validated whole before anything moves.** The XML against the pain.001.001.10 schema (lxml, no
  entities, DTDs or network), then every line: amount and currency, the creditor, the reference's
  length, end-to-end ids unique in the file, the group header's count and control sum, and the whole
  file's total against each debtor account's available balance. Every line's problems come back
  together (`batch-invalid`, with `errors`: line, field, problem); nothing is stored.
- **Once per message id.** The same file again (its `MsgId`, per uploader) returns the stored batch; a
  different file under a used message id is refused. A CSV file's message id is given with it.
- **Out as one batch.** Each accepted line becomes a transfer (an EIP-3009 authorization signed by the
  debtor's key; the relayer sends waiting authorizations in batches), keyed `batch:<id>:<line>`, so
  submitting again after a crash stores each once. A line the bank refuses at that moment (its policy)
  is that line's own state, `RJCT` in the status report.
- **pain.002.** Group status `ACSC` (all final), `ACCP` (all accepted), `PART` or `RJCT`; per
  transaction `ACSP` (accepted, on its way), `ACSC` (final on chain) or `RJCT` with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.payments import PaymentService
from wallet.bank.users import Principal
from wallet.chain.addresses import checksum
from wallet.db.models import PaymentBatch, PaymentBatchLine, TransferRequest, WalletAccount, aware, utcnow
from wallet.errors import BatchInvalidError, ConflictError, InvalidRequestError, NotFoundError, WalletError
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import Role, TransferState

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.10"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.11"
SCHEMA = Path(__file__).parent / "schemas" / "pain.001.001.10.xsd"
PROXY_TYPE = "EVMADDR"
MAX_LINES = 2000
CSV_COLUMNS = ("end_to_end_id", "name", "to_account", "to_address", "amount", "currency", "reference")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_schema: etree.XMLSchema | None = None


@dataclass
class Line:
    """One credit transfer of a file, as read."""

    number: int
    end_to_end_id: str
    name: str | None
    to_account: str | None
    to_address: str | None
    amount: str
    currency: str
    reference: str | None
    debtor_account: str
    payment_info_id: str


@dataclass
class Parsed:
    """A file as read: its message id, header totals and lines (and the problems found reading it)."""

    message_id: str
    count: int | None
    control_sum: str | None
    lines: list[Line]
    errors: list[dict[str, Any]] = field(default_factory=list)


def schema() -> etree.XMLSchema:
    global _schema  # built once, on first use
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(SCHEMA), _PARSER))
    return _schema


def read_pain001(document: bytes) -> Parsed:
    """A pain.001.001.10 file's lines; `BatchInvalidError` when it is not one (each schema error listed)."""
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as bad:
        raise BatchInvalidError(
            "the file is not XML", [{"line": None, "field": "file", "problem": str(bad)}]
        ) from None
    check = schema()
    if not check.validate(root):
        problems = [
            {"line": e.line, "field": "xml", "problem": e.message} for e in list(check.error_log)[:50]
        ]
        raise BatchInvalidError("the file is not a valid pain.001.001.10 message", problems)
    ns = {"p": PAIN001}

    def text(node: Any, path: str) -> str | None:
        found = node.find(path, ns)
        return found.text.strip() if found is not None and found.text else None

    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", ns)
    lines = []
    number = 0
    for info in root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf", ns):
        debtor = text(info, "p:DbtrAcct/p:Id/p:Othr/p:Id") or ""
        for tx in info.iterfind("p:CdtTrfTxInf", ns):
            number += 1
            amount = tx.find("p:Amt/p:InstdAmt", ns)
            proxy_type = text(tx, "p:CdtrAcct/p:Prxy/p:Tp/p:Prtry") or text(tx, "p:CdtrAcct/p:Prxy/p:Tp/p:Cd")
            proxy = text(tx, "p:CdtrAcct/p:Prxy/p:Id")
            lines.append(
                Line(
                    number=number,
                    end_to_end_id=text(tx, "p:PmtId/p:EndToEndId") or "",
                    name=text(tx, "p:Cdtr/p:Nm"),
                    to_account=None if proxy else text(tx, "p:CdtrAcct/p:Id/p:Othr/p:Id"),
                    to_address=proxy if proxy and proxy_type == PROXY_TYPE else None,
                    amount=(amount.text or "").strip() if amount is not None else "",
                    currency=amount.get("Ccy", "") if amount is not None else "",
                    reference=text(tx, "p:RmtInf/p:Ustrd"),
                    debtor_account=debtor,
                    payment_info_id=text(info, "p:PmtInfId") or "",
                )
            )
            if proxy and proxy_type != PROXY_TYPE:
                lines[-1].to_account = None
    assert header is not None
    count = text(header, "p:NbOfTxs")
    return Parsed(
        message_id=text(header, "p:MsgId") or "",
        count=int(count) if count and count.isdigit() else None,
        control_sum=text(header, "p:CtrlSum"),
        lines=lines,
    )


def read_csv(document: bytes, *, message_id: str, from_account: str) -> Parsed:
    """A CSV batch: a header row naming `CSV_COLUMNS` (to_account or to_address filled per line)."""
    try:
        text = document.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchInvalidError(
            "the file is not UTF-8 text", [{"line": None, "field": "file", "problem": "not UTF-8"}]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("amount", "currency") if c not in (reader.fieldnames or [])]
    if missing or not ({"to_account", "to_address"} & set(reader.fieldnames or [])):
        raise BatchInvalidError(
            "the CSV file's header names its columns",
            [{"line": 1, "field": "header", "problem": f"expected the columns {', '.join(CSV_COLUMNS)}"}],
        )
    lines = []
    for number, row in enumerate(reader, start=1):
        lines.append(
            Line(
                number=number,
                end_to_end_id=(row.get("end_to_end_id") or f"LINE-{number}").strip(),
                name=(row.get("name") or "").strip() or None,
                to_account=(row.get("to_account") or "").strip() or None,
                to_address=(row.get("to_address") or "").strip() or None,
                amount=(row.get("amount") or "").strip(),
                currency=(row.get("currency") or "").strip(),
                reference=(row.get("reference") or "").strip() or None,
                debtor_account=from_account,
                payment_info_id="CSV",
            )
        )
    return Parsed(message_id=message_id, count=None, control_sum=None, lines=lines)


class Batches:
    """Uploads, validates and pays batch files; their lines' states and the pain.002 report."""

    def __init__(self, bank: Bank, accounts: AccountService, payments: PaymentService) -> None:
        self.bank = bank
        self.accounts = accounts
        self.payments = payments

    def upload_pain001(self, principal: Principal, document: bytes) -> tuple[dict[str, Any], bool]:
        """A pain.001 file: the batch, and whether it was created now (False: this message id's)."""
        principal.require(Role.CUSTOMER)
        return self._upload(principal, read_pain001(document), "pain.001", document)

    def upload_csv(
        self, principal: Principal, document: bytes, *, message_id: str, from_account: str
    ) -> tuple[dict[str, Any], bool]:
        """A CSV batch paid from `from_account`, under the caller's `message_id`."""
        principal.require(Role.CUSTOMER)
        if not message_id or len(message_id) > 35:
            raise InvalidRequestError("a message id is 1 to 35 characters")
        return self._upload(
            principal, read_csv(document, message_id=message_id, from_account=from_account), "csv", document
        )

    def _upload(
        self, principal: Principal, parsed: Parsed, kind: str, document: bytes
    ) -> tuple[dict[str, Any], bool]:
        digest = hashlib.sha256(document).hexdigest()
        with self.bank.readers() as session:
            stored = session.scalar(
                select(PaymentBatch).where(
                    PaymentBatch.owner_id == principal.user_id, PaymentBatch.message_id == parsed.message_id
                )
            )
        if stored is not None:
            if stored.file_hash != digest:
                raise ConflictError(f"the message id {parsed.message_id!r} names another file you sent")
            return self.get(principal, stored.id), False
        orders = self._validate(principal, parsed)
        batch = PaymentBatch(
            id=uuid.uuid4().hex,
            owner_id=principal.user_id,
            message_id=parsed.message_id,
            kind=kind,
            file_hash=digest,
            line_count=len(orders),
            created_at=utcnow(),
        )
        rows = [
            PaymentBatchLine(
                batch_id=batch.id,
                number=line.number,
                end_to_end_id=line.end_to_end_id,
                payment_info_id=line.payment_info_id,
                creditor_name=line.name,
                from_account=line.debtor_account,
                to_account=line.to_account,
                to_address=line.to_address,
                amount=value,
                currency=line.currency,
                reference=line.reference,
            )
            for line, value in orders
        ]
        try:
            with self.bank.sessions.begin() as session:
                session.add(batch)
                session.flush()
                session.add_all(rows)
        except IntegrityError:
            return self._upload(principal, parsed, kind, document)  # the same file, sent twice at once
        self._send(principal, batch.id)
        return self.get(principal, batch.id), True

    def _validate(self, principal: Principal, parsed: Parsed) -> list[tuple[Line, int]]:
        errors = list(parsed.errors)

        def problem(line: Line | None, name: str, text: str) -> None:
            errors.append({"line": line.number if line else None, "field": name, "problem": text})

        if not parsed.message_id:
            problem(None, "MsgId", "the message has no id")
        if not parsed.lines:
            problem(None, "file", "the file has no payments")
        if len(parsed.lines) > MAX_LINES:
            problem(None, "file", f"at most {MAX_LINES} payments in one file")
        if parsed.count is not None and parsed.count != len(parsed.lines):
            problem(None, "NbOfTxs", f"says {parsed.count} payments; the file has {len(parsed.lines)}")
        seen: set[str] = set()
        orders: list[tuple[Line, int]] = []
        totals: dict[str, int] = defaultdict(int)
        sum_all = 0
        debtors: dict[str, WalletAccount | None] = {}
        for line in parsed.lines:
            if line.debtor_account not in debtors:
                try:
                    debtors[line.debtor_account] = self.accounts.owned(principal, line.debtor_account)
                except NotFoundError:
                    debtors[line.debtor_account] = None
            debtor = debtors[line.debtor_account]
            if debtor is None:
                problem(line, "DbtrAcct", f"{line.debtor_account!r} is not an account of yours")
            if not line.end_to_end_id or len(line.end_to_end_id) > 35:
                problem(line, "EndToEndId", "an end-to-end id is 1 to 35 characters")
            elif line.end_to_end_id in seen:
                problem(line, "EndToEndId", f"{line.end_to_end_id!r} is used by an earlier line")
            seen.add(line.end_to_end_id)
            value = None
            try:
                value = parse_amount(line.amount, line.currency)
                door.check_amount(value)
            except WalletError as bad:
                problem(line, "InstdAmt", str(bad))
            if debtor is not None and line.currency != debtor.currency:
                problem(
                    line,
                    "Ccy",
                    f"the debtor account holds {debtor.currency}, not {line.currency or 'nothing'}",
                )
            if line.reference is not None and len(line.reference.encode()) > 32:
                problem(line, "Ustrd", "a reference is at most 32 bytes")
            target = self._creditor(line, problem)
            if target is not None and debtor is not None and target == debtor.address:
                problem(line, "CdtrAcct", "the creditor is the debtor account itself")
            if value is not None and debtor is not None:
                totals[debtor.id] += value
                sum_all += value
                orders.append((line, value))
        if parsed.control_sum is not None and parsed.lines:
            currency = parsed.lines[0].currency
            try:
                if parse_amount(parsed.control_sum, currency) != sum_all:
                    problem(
                        None,
                        "CtrlSum",
                        f"says {parsed.control_sum}; the payments add up to {self._money(sum_all, currency)}",
                    )
            except WalletError as bad:
                problem(None, "CtrlSum", str(bad))
        if not errors:
            for account_id, total in totals.items():
                debtor = debtors[account_id]
                assert debtor is not None
                token = self.bank.token(debtor.currency)
                guard = door.FundsGuard(self.bank, token, debtor, total, 0)
                try:
                    with self.bank.readers() as session:
                        guard.check(session)
                except WalletError as short:
                    problem(
                        None,
                        "DbtrAcct",
                        f"the file pays {self._money(total, debtor.currency)} from {account_id}: {short}",
                    )
        if errors:
            raise BatchInvalidError(f"{len(errors)} problem(s) in the file; nothing was paid", errors)
        return orders

    def _creditor(self, line: Line, problem: Any) -> str | None:
        if line.to_address:
            address = checksum(line.to_address)
            if address is None:
                problem(line, "CdtrAcct", f"{line.to_address!r} is not an address on chain")
            return address
        if not line.to_account:
            problem(
                line, "CdtrAcct", "no creditor account: an account number, or an address by proxy (EVMADDR)"
            )
            return None
        try:
            target = self.accounts.any_account(line.to_account)
        except WalletError:
            problem(line, "CdtrAcct", f"{line.to_account!r} is not an account of this bank")
            return None
        if target.currency != line.currency:
            problem(
                line,
                "CdtrAcct",
                f"the account {line.to_account} holds {target.currency}, not {line.currency}",
            )
        return target.address

    def _send(self, principal: Principal, batch_id: str) -> None:
        """Submits every line not submitted yet (again after a crash: the keys make each one once)."""
        with self.bank.readers() as session:
            lines = list(
                session.scalars(
                    select(PaymentBatchLine)
                    .where(PaymentBatchLine.batch_id == batch_id, PaymentBatchLine.transfer_id.is_(None))
                    .where(PaymentBatchLine.error.is_(None))
                    .order_by(PaymentBatchLine.number)
                )
            )
        for line in lines:
            decimals = self.bank.token(line.currency).decimals
            transfer_id, error = None, None
            try:
                view, _ = self.payments.submit(
                    principal,
                    idempotency_key=f"batch:{batch_id}:{line.number}",
                    from_account=line.from_account,
                    amount=format_amount(line.amount, decimals),
                    currency=line.currency,
                    to_account=line.to_account,
                    to_address=line.to_address,
                    reference=line.reference,
                    memo=(line.creditor_name or "")[:140] or None,
                    preauthorized=True,  # the file is the customer's instruction, line by line
                )
                transfer_id = view.id
            except WalletError as refused:
                error = f"{refused.code}: {refused}"[:500]
            with self.bank.sessions.begin() as session:
                row = session.get(PaymentBatchLine, (line.batch_id, line.number))
                assert row is not None
                row.transfer_id, row.error = transfer_id, error

    # ---------------------------------------------------------------------------------- reading ---

    def get(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        """The batch with each line's state (its owner's, or any for staff)."""
        batch, lines, states = self._load(principal, batch_id)
        rows: list[dict[str, Any]] = []
        for line in lines:
            decimals = self.bank.token(line.currency).decimals
            rows.append(
                {
                    "line": line.number,
                    "end_to_end_id": line.end_to_end_id,
                    "creditor": line.creditor_name,
                    "to_account": line.to_account,
                    "to_address": line.to_address,
                    "amount": format_amount(line.amount, decimals),
                    "currency": line.currency,
                    "reference": line.reference,
                    "transfer_id": line.transfer_id,
                    "state": "rejected" if line.error else states.get(line.transfer_id or "", "pending"),
                    "error": line.error,
                }
            )
        return {
            "id": batch.id,
            "message_id": batch.message_id,
            "kind": batch.kind,
            "created_at": aware(batch.created_at),
            "lines": rows,
            "status": _group_status([str(r["state"]) for r in rows]),
        }

    def mine(self, principal: Principal) -> list[dict[str, Any]]:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            ids = list(
                session.scalars(
                    select(PaymentBatch.id)
                    .where(PaymentBatch.owner_id == principal.user_id)
                    .order_by(PaymentBatch.created_at.desc())
                    .limit(50)
                )
            )
        return [self.get(principal, i) for i in ids]

    def pain002(self, principal: Principal, batch_id: str) -> bytes:
        """The customer payment status report (pain.002.001.11) of the batch, as it stands now."""
        view = self.get(principal, batch_id)
        batch, lines, _ = self._load(principal, batch_id)
        e = _builder(PAIN002)
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        by_info: dict[str, list[tuple[PaymentBatchLine, dict[str, Any]]]] = defaultdict(list)
        for line, row in zip(lines, view["lines"], strict=True):
            by_info[line.payment_info_id].append((line, row))
        infos = []
        for info_id, items in by_info.items():
            txs = []
            for line, row in items:
                status = _tx_status(row["state"])
                reason = []
                if status == "RJCT":
                    reason = [
                        e(
                            "StsRsnInf",
                            e("Rsn", e("Prtry", (row["error"] or "FAILED").split(":")[0][:35])),
                            e("AddtlInf", (row["error"] or "refused")[:105]),
                        )
                    ]
                txs.append(
                    e(
                        "TxInfAndSts",
                        e("StsId", f"{batch.id[:16]}-{line.number}"),
                        e("OrgnlEndToEndId", line.end_to_end_id),
                        e("TxSts", status),
                        *reason,
                    )
                )
            infos.append(
                e(
                    "OrgnlPmtInfAndSts",
                    e("OrgnlPmtInfId", info_id[:35] or "NOTPROVIDED"),
                    e("OrgnlNbOfTxs", str(len(items))),
                    *txs,
                )
            )
        document = e(
            "Document",
            e(
                "CstmrPmtStsRpt",
                e("GrpHdr", e("MsgId", f"TDW-{batch.id[:31]}"), e("CreDtTm", now)),
                e(
                    "OrgnlGrpInfAndSts",
                    e("OrgnlMsgId", batch.message_id[:35]),
                    e("OrgnlMsgNmId", "pain.001.001.10" if batch.kind == "pain.001" else "CSV"),
                    e("OrgnlNbOfTxs", str(len(lines))),
                    e("GrpSts", view["status"]),
                ),
                *infos,
            ),
        )
        return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))

    def _load(
        self, principal: Principal, batch_id: str
    ) -> tuple[PaymentBatch, list[PaymentBatchLine], dict[str, str]]:
        with self.bank.readers() as session:
            batch = session.get(PaymentBatch, batch_id)
            if batch is None or (batch.owner_id != principal.user_id and not principal.is_staff):
                raise NotFoundError("batch", batch_id)
            lines = list(
                session.scalars(
                    select(PaymentBatchLine)
                    .where(PaymentBatchLine.batch_id == batch_id)
                    .order_by(PaymentBatchLine.number)
                )
            )
            ids = [line.transfer_id for line in lines if line.transfer_id]
            requests = (
                list(session.scalars(select(TransferRequest).where(TransferRequest.id.in_(ids))))
                if ids
                else []
            )
        states = {r.id: self.payments.view(r).state.value for r in requests}
        return batch, lines, states

    def _money(self, units: int, currency: str) -> str:
        try:
            return f"{format_amount(units, self.bank.token(currency).decimals)} {currency}"
        except WalletError:
            return str(units)


def example_pain001(
    message_id: str,
    debtor: WalletAccount,
    payments: Sequence[tuple[str, str, str, str, str | None]],
    *,
    payer: str,
) -> bytes:
    """A pain.001.001.10 file paying `payments` (end-to-end id, creditor's name, account number, amount;
    and a reference) from `debtor`: the demo's payroll, and the example a customer downloads."""
    e = _builder(PAIN001)
    txs = []
    total = 0
    decimals = iso_currency(debtor.currency).exponent
    for end_to_end, name, account, amount, reference in payments:
        total += parse_amount(amount, debtor.currency)
        txs.append(
            e(
                "CdtTrfTxInf",
                e("PmtId", e("EndToEndId", end_to_end)),
                _amount(e, amount, debtor.currency),
                e("Cdtr", e("Nm", name)),
                e("CdtrAcct", e("Id", e("Othr", e("Id", account)))),
                *([e("RmtInf", e("Ustrd", reference))] if reference else []),
            )
        )
    document = e(
        "Document",
        e(
            "CstmrCdtTrfInitn",
            e(
                "GrpHdr",
                e("MsgId", message_id),
                e("CreDtTm", datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat()),
                e("NbOfTxs", str(len(txs))),
                e("CtrlSum", format_amount(total, decimals)),
                e("InitgPty", e("Nm", payer)),
            ),
            e(
                "PmtInf",
                e("PmtInfId", message_id),
                e("PmtMtd", "TRF"),
                e("ReqdExctnDt", e("Dt", datetime.now(UTC).date().isoformat())),
                e("Dbtr", e("Nm", payer)),
                e("DbtrAcct", e("Id", e("Othr", e("Id", debtor.id)))),
                e("DbtrAgt", e("FinInstnId", e("Othr", e("Id", "TDW")))),
                *txs,
            ),
        ),
    )
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _amount(e: Any, amount: str, currency: str) -> Any:
    node = e("Amt", e("InstdAmt", amount))
    node[0].set("Ccy", currency)
    return node


def _tx_status(state: str) -> str:
    if state == TransferState.FINAL.value:
        return "ACSC"
    if state in ("rejected", TransferState.FAILED.value):
        return "RJCT"
    return "ACSP"


def _group_status(states: list[str]) -> str:
    codes = {_tx_status(s) for s in states}
    if codes == {"RJCT"}:
        return "RJCT"
    if "RJCT" in codes:
        return "PART"
    if codes == {"ACSC"}:
        return "ACSC"
    return "ACCP"


def _builder(namespace: str) -> Any:
    def element(tag: str, *children: Any) -> Any:
        node = etree.Element(f"{{{namespace}}}{tag}", nsmap={None: namespace})
        for child in children:
            if isinstance(child, str):
                node.text = child
            else:
                node.append(child)
        return node

    return element


__all__ = ["PAIN001", "PAIN002", "Batches", "example_pain001", "read_csv", "read_pain001"]
