"""Account statements from the journal, as a bank issues them: the bank and the account owner, a
statement number, the period and the block the balances are as of, opening balance, every final entry
with its counterparty, reference, amount and running balance, totals of credits and debits, and the
closing balance; rendered as JSON, CSV, PDF or ISO 20022 camt.053.001.08.

What a statement holds:
- Only **final** entries (past the confirmation depth). Entries of the period not final yet are left
  out and counted, with a note; the balances are as of the newest block whose entries are all final.
- A statement ends at the period's end or at that final point, whichever is earlier: a period that is
  not over, or whose entries are not all final, gives an **interim** statement, dated when it was
  made, without a statement number.
- A **closed** period (over, everything in it final) gives a statement of account with a legal number
  (`LglSeqNb`, one per period of the account) and an electronic number (`ElctrncSeqNb`, one per
  document). It is recorded (`issued_statements`): asked again, the same period gives the same document,
  down to its issue time, unless the chain changed it since; then it is issued again as a new version
  that names the reorgs (and their incidents) in between.
- References are shown as the customer wrote them (`wallet.references`), in every format.

Amounts stay `int` minor units until rendering, where `format_amount` writes them exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from base64 import b32encode
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from wallet.db.models import (
    Incident,
    IndexerCursor,
    IssuedStatement,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    Reorg,
    aware,
)
from wallet.errors import LedgerError
from wallet.money import format_amount
from wallet.references import reference_text
from wallet.vocabulary import EntryState

Format = Literal["json", "csv", "pdf", "camt053"]
FORMATS: tuple[Format, ...] = ("json", "csv", "pdf", "camt053")
CAMT053_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


class ChainTimes(Protocol):
    """The chain's block times (`wallet.chain.rpc.BlockTimes` reads them from the node)."""

    def timestamp(self, number: int) -> int: ...

    def last_before(self, moment: int, high: int) -> int: ...


@dataclass(frozen=True)
class Issuer:
    """The bank that issues the statement, as printed on it."""

    name: str
    address: tuple[str, ...] = ()
    bic: str | None = None


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One movement on the account."""

    time: datetime
    block_number: int
    tx_hash: str
    log_index: int
    kind: str
    counterparty: str
    counterparty_name: str | None
    reference: str | None  # as the customer wrote it (see `wallet.references`)
    amount: int  # signed minor units: credit positive, debit negative
    balance: int  # running balance after this line


@dataclass(frozen=True)
class Correction:
    """A reorg between the previous version of a statement and this one."""

    reorg_id: int
    fork_block: int
    incident_id: int | None


@dataclass(frozen=True)
class Statement:
    """A statement of one account of one token over a period of days (UTC, both ends included)."""

    chain_id: int
    token: str
    currency: str
    exponent: int
    account: str
    account_name: str | None
    period_from: date
    period_to: date
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]
    generated_at: datetime  # the issue time
    as_of: datetime  # the balances are as of this moment (the period's end, or the final point)
    as_of_block: int  # ... and this block
    closed: bool = False  # the period is over and everything in it final: a statement of account
    pending_entries: int = 0  # entries of the period not final yet, left out
    owner_name: str | None = None
    bank: Issuer = field(default_factory=lambda: Issuer("tdw"))
    number: int | None = None  # LglSeqNb (closed statements)
    electronic_number: int | None = None  # ElctrncSeqNb (closed statements)
    version: int = 1
    corrections: tuple[Correction, ...] = ()

    @property
    def identifier(self) -> str:
        """The statement's id (Max35Text): account, period and, for an issued one, its version."""
        base = f"{self.account[2:10]}-{self.period_from:%Y%m%d}-{self.period_to:%Y%m%d}"
        return f"{base}-{self.version}" if self.closed else f"{base}-INTERIM"

    @property
    def credits(self) -> tuple[int, int]:
        """How many credits, and their sum."""
        amounts = [line.amount for line in self.lines if line.amount > 0]
        return len(amounts), sum(amounts)

    @property
    def debits(self) -> tuple[int, int]:
        """How many debits, and their sum (positive)."""
        amounts = [-line.amount for line in self.lines if line.amount < 0]
        return len(amounts), sum(amounts)

    @property
    def notes(self) -> list[str]:
        """What the reader must know beyond the entries: interim, pending entries, corrections."""
        notes = []
        if not self.closed:
            notes.append(
                f"Interim statement: balances as of {self.as_of:%Y-%m-%d %H:%M:%S} UTC (block "
                f"{self.as_of_block}); the statement of account is issued when the period is over and "
                "final."
            )
        if self.pending_entries:
            notes.append(
                f"{self.pending_entries} entries of the period are not final yet and are not on this "
                "statement."
            )
        if self.corrections:
            reorgs = ", ".join(
                f"reorg {c.reorg_id} at block {c.fork_block}"
                + (f" (incident {c.incident_id})" if c.incident_id else "")
                for c in self.corrections
            )
            notes.append(f"Version {self.version} replaces version {self.version - 1}: changed by {reorgs}.")
        elif self.version > 1:
            notes.append(f"Version {self.version} replaces version {self.version - 1}.")
        return notes


Names = Mapping[str, str]


def build_statement(
    sessions: sessionmaker[Session],
    times: ChainTimes,
    *,
    chain_id: int,
    token: str,
    currency: str,
    exponent: int,
    account: str,
    period_from: date,
    period_to: date,
    names: Names | None = None,
    lookup: Callable[[Iterable[str]], Names] | None = None,
    owner_name: str | None = None,
    bank: Issuer | None = None,
    now: datetime | None = None,
    issue: bool = True,
) -> Statement:
    """The statement of `account` in `token` from `period_from` to `period_to` (inclusive, UTC).

    `names` names addresses (the bank's own); `lookup` is asked for the names of the counterparties not
    in it (the bank's customers). With `issue`, a closed statement is numbered and recorded (see the
    module's description)."""
    if period_to < period_from:
        raise LedgerError(f"the period ends ({period_to}) before it starts ({period_from})")
    names = dict(names or {})
    now = now or datetime.now(UTC)
    start = int(datetime.combine(period_from, time.min, UTC).timestamp())
    end = int(datetime.combine(period_to + timedelta(days=1), time.min, UTC).timestamp())
    other_leg = aliased(JournalLeg)
    other_account = aliased(LedgerAccount)
    with sessions() as session:
        final_block = _final_block(session, chain_id, token)
        final_time = times.timestamp(final_block) if final_block >= 0 else 0
        account_id = session.scalar(
            select(LedgerAccount.id).where(
                LedgerAccount.chain_id == chain_id,
                LedgerAccount.token == token,
                LedgerAccount.holder == account,
            )
        )
        cut = min(end, final_time + 1)  # entries before this moment: the period, as far as final
        opening = pending = 0
        rows: Sequence[Any] = []
        if account_id is not None:
            mine = (JournalLeg.account_id == account_id, JournalEntry.posted.is_(True))
            opening = int(
                session.scalar(
                    select(func.coalesce(func.sum(JournalLeg.amount), 0))
                    .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                    .where(*mine, JournalEntry.state == EntryState.FINAL, JournalEntry.block_time < start)
                )
                or 0
            )
            pending = int(
                session.scalar(
                    select(func.count())
                    .select_from(JournalLeg)
                    .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                    .where(*mine, JournalEntry.state != EntryState.FINAL, JournalEntry.block_time < end)
                )
                or 0
            )
            # On the connection: the ORM's row loading cost a quarter of a 50,000-line statement.
            rows = (
                session.connection()
                .execute(
                    select(
                        JournalEntry.block_time,
                        JournalEntry.block_number,
                        JournalEntry.tx_hash,
                        JournalEntry.log_index,
                        JournalEntry.kind,
                        JournalEntry.payment_reference,
                        JournalLeg.amount,
                        other_account.holder,
                    )
                    .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                    .join(
                        other_leg,
                        and_(other_leg.entry_id == JournalLeg.entry_id, other_leg.id != JournalLeg.id),
                    )
                    .join(other_account, other_account.id == other_leg.account_id)
                    .where(
                        *mine,
                        JournalEntry.state == EntryState.FINAL,
                        JournalEntry.block_number <= final_block,
                        JournalEntry.block_time >= start,
                        JournalEntry.block_time < cut,
                    )
                    .order_by(JournalEntry.block_number, JournalEntry.log_index, JournalLeg.id)
                )
                .all()
            )
    closed = cut == end and pending == 0
    if cut == end:  # the chain has settled past the period's end: as of its last second
        as_of, as_of_block = datetime.fromtimestamp(end - 1, UTC), times.last_before(end, final_block)
    else:  # as of the newest final block, inside the period or before it
        as_of, as_of_block = datetime.fromtimestamp(final_time, UTC), final_block
    if lookup is not None:
        unknown = {row[7] for row in rows} - set(names)
        if unknown:
            names.update(lookup(unknown))
    balance = opening
    lines = []
    moments: dict[int, datetime] = {}  # a block's lines share its time
    references: dict[str, str | None] = {}
    for block_time, number, tx_hash, log_index, kind, reference, amount, counterparty in rows:
        balance += amount
        when = moments.get(block_time)
        if when is None:
            when = moments[block_time] = datetime.fromtimestamp(block_time, UTC)
        if reference not in references:
            references[reference] = reference_text(reference)
        lines.append(
            StatementLine(
                time=when,
                block_number=number,
                tx_hash=tx_hash,
                log_index=log_index,
                kind=kind,
                counterparty=counterparty,
                counterparty_name=names.get(counterparty),
                reference=references[reference],
                amount=amount,
                balance=balance,
            )
        )
    statement = Statement(
        chain_id=chain_id,
        token=token,
        currency=currency,
        exponent=exponent,
        account=account,
        account_name=names.get(account),
        period_from=period_from,
        period_to=period_to,
        opening_balance=opening,
        closing_balance=balance,
        lines=lines,
        generated_at=now,
        as_of=as_of,
        as_of_block=as_of_block,
        closed=closed,
        pending_entries=pending,
        owner_name=owner_name,
        bank=bank or Issuer("tdw"),
    )
    return issue_statement(sessions, statement) if issue and closed else statement


def _final_block(session: Session, chain_id: int, token: str) -> int:
    """The newest block whose entries of `token` are all final: below the oldest entry that is not,
    else the mirror's cursor; -1 when the mirror has not started."""
    oldest_open = session.scalar(
        select(func.min(JournalEntry.block_number)).where(
            JournalEntry.chain_id == chain_id,
            JournalEntry.token == token,
            JournalEntry.state != EntryState.FINAL,
        )
    )
    cursor = session.get(IndexerCursor, chain_id)
    head = cursor.block_number if cursor is not None else -1
    return head if oldest_open is None else min(head, int(oldest_open) - 1)


def content_hash(statement: Statement) -> str:
    """What a statement says, hashed: the same period gives the same hash unless the chain changed."""
    s = statement
    canonical = [
        s.chain_id,
        s.token.lower(),
        s.account.lower(),
        s.period_from.isoformat(),
        s.period_to.isoformat(),
        s.opening_balance,
        s.closing_balance,
        s.as_of_block,
        [[line.block_number, line.tx_hash, line.log_index, line.amount] for line in s.lines],
    ]
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def issue_statement(sessions: sessionmaker[Session], statement: Statement, *, attempts: int = 3) -> Statement:
    """Numbers a closed statement: the one issued before for the same period if it said the same, else
    a new version (naming the reorgs since the previous one)."""
    digest = content_hash(statement)
    key = (
        IssuedStatement.chain_id == statement.chain_id,
        IssuedStatement.token == statement.token,
        IssuedStatement.account == statement.account,
    )
    for attempt in range(attempts):
        try:
            with sessions.begin() as session:
                previous = session.scalars(
                    select(IssuedStatement)
                    .where(
                        *key,
                        IssuedStatement.period_from == statement.period_from,
                        IssuedStatement.period_to == statement.period_to,
                    )
                    .order_by(IssuedStatement.version.desc())
                    .limit(1)
                ).first()
                if previous is not None and previous.content_hash == digest:
                    return _numbered(statement, previous)
                electronic = int(
                    session.scalar(select(func.max(IssuedStatement.electronic_number)).where(*key)) or 0
                )
                if previous is None:
                    legal = int(session.scalar(select(func.max(IssuedStatement.number)).where(*key)) or 0) + 1
                    corrections: list[dict[str, Any]] = []
                else:
                    legal = previous.number
                    corrections = _reorgs_since(session, statement.chain_id, previous)
                row = IssuedStatement(
                    chain_id=statement.chain_id,
                    token=statement.token,
                    account=statement.account,
                    period_from=statement.period_from,
                    period_to=statement.period_to,
                    number=legal,
                    electronic_number=electronic + 1,
                    version=1 if previous is None else previous.version + 1,
                    content_hash=digest,
                    as_of_block=statement.as_of_block,
                    corrections=corrections,
                    issued_at=statement.generated_at.replace(microsecond=0),
                )
                session.add(row)
                session.flush()
                return _numbered(statement, row)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _reorgs_since(session: Session, chain_id: int, previous: IssuedStatement) -> list[dict[str, Any]]:
    """The reorgs detected since `previous` was issued that forked at or below its final block."""
    issued_at = aware(previous.issued_at)
    found = []
    for reorg in session.scalars(
        select(Reorg)
        .where(Reorg.chain_id == chain_id, Reorg.fork_block < previous.as_of_block)
        .order_by(Reorg.id)
    ):
        if aware(reorg.detected_at) < issued_at:
            continue
        incident = session.scalars(select(Incident.id).where(Incident.reorg_id == reorg.id).limit(1)).first()
        found.append({"reorg_id": reorg.id, "fork_block": reorg.fork_block, "incident_id": incident})
    return found


def _numbered(statement: Statement, row: IssuedStatement) -> Statement:
    return replace(
        statement,
        number=row.number,
        electronic_number=row.electronic_number,
        version=row.version,
        generated_at=aware(row.issued_at),
        corrections=tuple(Correction(**c) for c in row.corrections),
    )


def render(statement: Statement, fmt: Format) -> bytes:
    """The statement in one of `FORMATS`."""
    if fmt == "json":
        return to_json(statement).encode()
    if fmt == "csv":
        return to_csv(statement).encode()
    if fmt == "pdf":
        return to_pdf(statement)
    if fmt == "camt053":
        return to_camt053(statement)
    raise LedgerError(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _money(statement: Statement, units: int) -> str:
    return format_amount(units, statement.exponent)


def _moment(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat()


def to_json(statement: Statement) -> str:
    """JSON with amounts as decimal strings next to the currency."""
    s = statement
    iso: dict[datetime, str] = {}

    def when(moment: datetime) -> str:
        text = iso.get(moment)
        if text is None:
            text = iso[moment] = moment.isoformat()
        return text

    credits, debits = s.credits, s.debits
    doc = {
        "statement_id": s.identifier,
        "type": "statement" if s.closed else "interim",
        "number": s.number,
        "electronic_number": s.electronic_number,
        "version": s.version,
        "issued_at": _moment(s.generated_at),
        "bank": {"name": s.bank.name, "address": list(s.bank.address), "bic": s.bank.bic},
        "owner_name": s.owner_name,
        "account": s.account,
        "account_name": s.account_name,
        "token": s.token,
        "chain_id": s.chain_id,
        "currency": s.currency,
        "from": s.period_from.isoformat(),
        "to": s.period_to.isoformat(),
        "as_of": _moment(s.as_of),
        "as_of_block": s.as_of_block,
        "opening_balance": _money(s, s.opening_balance),
        "closing_balance": _money(s, s.closing_balance),
        "summary": {
            "credits": {"count": credits[0], "total": _money(s, credits[1])},
            "debits": {"count": debits[0], "total": _money(s, debits[1])},
            "net": _money(s, credits[1] - debits[1]),
        },
        "pending_entries": s.pending_entries,
        "corrections": [asdict(c) for c in s.corrections],
        "notes": s.notes,
        "entries": [
            {
                "time": when(line.time),
                "block": line.block_number,
                "tx_hash": line.tx_hash,
                "log_index": line.log_index,
                "kind": line.kind,
                "counterparty": line.counterparty,
                "counterparty_name": line.counterparty_name,
                "reference": line.reference,
                "amount": _money(s, line.amount),
                "balance": _money(s, line.balance),
            }
            for line in s.lines
        ],
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


CSV_HEADER = [
    "time",
    "block",
    "tx_hash",
    "log_index",
    "kind",
    "counterparty",
    "counterparty_name",
    "reference",
    "amount",
    "balance",
    "currency",
]


def to_csv(statement: Statement) -> str:
    """CSV: one row per entry between an `opening_balance` row (at the period's start) and a
    `closing_balance` row (at the moment the statement is as of, with its block), so that an empty
    period still says what the balance was; amounts as decimal strings."""
    s = statement
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    start = datetime.combine(s.period_from, time.min, UTC)
    label = f"statement {s.identifier}" + (f" no. {s.number}" if s.number else "")
    writer.writerow(
        [
            _moment(start),
            "",
            "",
            "",
            "opening_balance",
            "",
            "",
            label,
            "",
            _money(s, s.opening_balance),
            s.currency,
        ]
    )
    for line in s.lines:
        writer.writerow(
            [
                line.time.isoformat(),
                line.block_number,
                line.tx_hash,
                line.log_index,
                line.kind,
                line.counterparty,
                line.counterparty_name or "",
                line.reference or "",
                _money(s, line.amount),
                _money(s, line.balance),
                s.currency,
            ]
        )
    note = " ".join(s.notes)
    writer.writerow(
        [
            _moment(s.as_of),
            s.as_of_block,
            "",
            "",
            "closing_balance",
            "",
            "",
            note,
            "",
            _money(s, s.closing_balance),
            s.currency,
        ]
    )
    return out.getvalue()


def to_pdf(statement: Statement) -> bytes:
    """A printable statement (see `wallet.ledger.statement_pdf`)."""
    from wallet.ledger.statement_pdf import statement_pdf

    return statement_pdf(statement)


def to_camt053(statement: Statement) -> bytes:
    """ISO 20022 camt.053.001.08 (BkToCstmrStmt): the owner and the servicing bank, balances OPBD and
    CLBD, the transaction summary, one booked entry per line with its reference as remittance
    information; a closed statement carries its legal and electronic sequence numbers."""
    s = statement
    ET.register_namespace("", CAMT053_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        child = ET.SubElement(parent, f"{{{CAMT053_NS}}}{tag}", attrs)
        if text is not None:
            child.text = text
        return child

    def amount(parent: ET.Element, units: int) -> None:
        el(parent, "Amt", _money(s, abs(units)), Ccy=s.currency)
        el(parent, "CdtDbtInd", "CRDT" if units >= 0 else "DBIT")

    def account(
        parent: ET.Element,
        address: str,
        currency: str | None = None,
        name: str | None = None,
        owner: str | None = None,
        servicer: Issuer | None = None,
    ) -> None:
        # Othr/Id is Max34Text and an address is 42 characters: it carries the address's 20 bytes in
        # base32 (32 characters, reversible), the proxy carries the address as written on chain.
        other = el(el(parent, "Id"), "Othr")
        el(other, "Id", b32encode(bytes.fromhex(address[2:])).decode().rstrip("="))
        el(el(other, "SchmeNm"), "Prtry", "EVMB32")
        if currency:
            el(parent, "Ccy", currency)
        if name:
            el(parent, "Nm", name[:70])
        proxy = el(parent, "Prxy")
        el(el(proxy, "Tp"), "Prtry", "EVM")
        el(proxy, "Id", address)
        if owner:
            el(el(parent, "Ownr"), "Nm", owner[:140])
        if servicer is not None:
            institution = el(el(parent, "Svcr"), "FinInstnId")
            if servicer.bic:
                el(institution, "BICFI", servicer.bic)
            el(institution, "Nm", servicer.name[:140])
            if servicer.address:
                postal = el(institution, "PstlAdr")
                for line in servicer.address[:7]:
                    el(postal, "AdrLine", line[:70])

    def summary(parent: ET.Element, tag: str, count: int, total: int) -> ET.Element:
        node = el(parent, tag)
        el(node, "NbOfNtries", str(count))
        el(node, "Sum", _money(s, total))
        return node

    created = _moment(s.generated_at)
    start = datetime.combine(s.period_from, time.min, UTC).isoformat()
    end = _moment(s.as_of)
    root = ET.Element(f"{{{CAMT053_NS}}}Document")
    report = el(root, "BkToCstmrStmt")
    header = el(report, "GrpHdr")
    el(header, "MsgId", f"TDW{s.generated_at:%Y%m%d%H%M%S}{s.account[2:10]}{s.electronic_number or ''}"[:35])
    el(header, "CreDtTm", created)
    stmt = el(report, "Stmt")
    el(stmt, "Id", s.identifier)
    if s.electronic_number is not None:
        el(stmt, "ElctrncSeqNb", str(s.electronic_number))
    if s.number is not None:
        el(stmt, "LglSeqNb", str(s.number))
    el(stmt, "CreDtTm", created)
    period = el(stmt, "FrToDt")
    el(period, "FrDtTm", start)
    el(period, "ToDtTm", end)
    account(el(stmt, "Acct"), s.account, s.currency, s.account_name, s.owner_name, s.bank)
    for code, units, when in (("OPBD", s.opening_balance, start), ("CLBD", s.closing_balance, end)):
        bal = el(stmt, "Bal")
        el(el(el(bal, "Tp"), "CdOrPrtry"), "Cd", code)
        amount(bal, units)
        el(el(bal, "Dt"), "DtTm", when)
    (credits, credit_sum), (debits, debit_sum) = s.credits, s.debits
    totals = el(stmt, "TxsSummry")
    everything = summary(totals, "TtlNtries", credits + debits, credit_sum + debit_sum)
    amount_and_direction = el(everything, "TtlNetNtry")
    el(amount_and_direction, "Amt", _money(s, abs(credit_sum - debit_sum)))
    el(amount_and_direction, "CdtDbtInd", "CRDT" if credit_sum >= debit_sum else "DBIT")
    summary(totals, "TtlCdtNtries", credits, credit_sum)
    summary(totals, "TtlDbtNtries", debits, debit_sum)
    for line in s.lines:
        entry = el(stmt, "Ntry")
        el(entry, "NtryRef", f"{line.block_number}-{line.log_index}")
        amount(entry, line.amount)
        el(el(entry, "Sts"), "Cd", "BOOK")  # only final entries are on a statement
        el(el(entry, "BookgDt"), "DtTm", line.time.isoformat())
        el(el(entry, "ValDt"), "DtTm", line.time.isoformat())
        # Max35Text: the log's identity, shortened; the whole hash is in AddtlNtryInf.
        el(entry, "AcctSvcrRef", f"{line.tx_hash[2:26]}:{line.log_index}")
        el(el(el(entry, "BkTxCd"), "Prtry"), "Cd", line.kind.upper())
        details = el(el(entry, "NtryDtls"), "TxDtls")
        refs = el(details, "Refs")
        el(refs, "AcctSvcrRef", f"{line.tx_hash[2:26]}:{line.log_index}")
        el(refs, "EndToEndId", "NOTPROVIDED")
        parties = el(details, "RltdPties")
        debit = line.amount < 0
        for role, address in (
            ("Dbtr", s.account if debit else line.counterparty),
            ("Cdtr", line.counterparty if debit else s.account),
        ):
            name = (s.owner_name or s.account_name) if address == s.account else line.counterparty_name
            party = el(el(parties, role), "Pty")
            el(party, "Nm", (name or address)[:140])
            account(el(parties, f"{role}Acct"), address)
        if line.reference:
            el(el(details, "RmtInf"), "Ustrd", line.reference[:140])
        el(entry, "AddtlNtryInf", f"tx {line.tx_hash} log {line.log_index} block {line.block_number}")
    notes = " ".join(s.notes)
    if notes:
        el(stmt, "AddtlStmtInf", notes[:500])
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
