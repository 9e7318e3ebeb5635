"""The tamper-evident audit log: every privileged action, policy decision, screening hit and approval
is appended as one record, in the same database transaction as the act it records.

Each record's body is its canonical JSON (RFC 8785, the `rfc8785` package): its sequence number, time,
actor, action, subject, details, and `prev`, the SHA-256 of the record before it (64 zeros for the
first). Its hash is the SHA-256 of that body. Rewriting a record changes its hash, which the next
record names; rewriting all that follow is caught by the anchors: from time to time the head's sequence
number and hash are published on chain (`AuditAnchor`, an `AuditAnchored` event), where no database
administrator can reach them. The database itself refuses UPDATE and DELETE on the table (triggers,
migration 0013).

Appends are serialized: on PostgreSQL by a transaction-scoped advisory lock taken just before the
insert, on SQLite by its single writer. The lock is held until the acting transaction commits, so the
order of sequence numbers is the order of commits.

`verify` checks, record by record, that each body is canonical, agrees with its columns, names the
previous hash and hashes to its own; then that every anchor on chain names a record that exists and
has that hash. It names the first bad record. Records after the newest anchor are protected by the
hash chain alone until the next anchor (`docs/audit.md` says how an auditor checks an export).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from eth_utils.crypto import keccak
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.bank.users import Principal
from wallet.db.models import AuditAnchorTx, AuditRecord, ChainTx, aware
from wallet.vocabulary import Role, TxStatus

log = logging.getLogger(__name__)

GENESIS = "0" * 64
ADVISORY_LOCK = 0x7464_7761_7564_6974  # "tdwaudit": PostgreSQL's transaction lock on appends
ANCHORED_TOPIC = "0x" + keccak(text="AuditAnchored(uint64,bytes32,address)").hex()
SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers are written as strings
SYSTEM = "system"  # the actor of what a worker does on its own
READERS = (Role.COMPLIANCE, Role.ADMIN)  # who may read and verify the log


def canonical(value: Any) -> str:
    """`value` as RFC 8785 canonical JSON text."""
    return rfc8785.dumps(_jsonable(value)).decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if abs(value) <= SAFE_INTEGER else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=canonical) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def timestamp(moment: datetime) -> str:
    """A time as the log writes it: UTC, microseconds, `Z`."""
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def head_of(session: Session) -> tuple[int, str]:
    """(sequence number, hash) of the newest record as `session` sees it; (0, 64 zeros) when empty."""
    last = session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS)


def record_hash(body: str) -> str:
    """The SHA-256 (hex) of a record's canonical body."""
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One audit record as readers see it."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: AuditRecord) -> Entry:
        body = json.loads(row.body)
        return cls(
            seq=row.seq,
            at=aware(row.at),
            actor=row.actor,
            action=row.action,
            subject=row.subject,
            details=body.get("details", {}),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


@dataclass(frozen=True)
class Anchor:
    """An `AuditAnchored` event on chain."""

    seq: int
    head: str
    block_number: int
    tx_hash: str


@dataclass
class Verification:
    """What `verify` found. `ok` is False when a record or an anchor disagrees; `first_bad` is the first
    record that does, with `problem` saying how."""

    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    anchors: int = 0
    last_anchored_seq: int = 0
    anchors_checked: bool = True
    first_bad: int | None = None
    problem: str | None = None
    unanchored: int = 0  # records after the newest anchor, protected by the hash chain alone so far

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "anchors": self.anchors,
            "anchors_checked": self.anchors_checked,
            "last_anchored_seq": self.last_anchored_seq,
            "unanchored_records": self.unanchored,
            "first_bad_record": self.first_bad,
            "problem": self.problem,
        }


class AuditLog:
    """Appends to, reads and verifies the audit log of one database."""

    def __init__(
        self, sessions: sessionmaker[Session], anchors: Callable[[], list[Anchor]] | None = None
    ) -> None:
        self.sessions = sessions
        self.anchors = anchors  # reads the anchors on chain (None: this bank has no anchor contract)

    def read(self, principal: Principal, **query: Any) -> list[Entry]:
        """`entries` for compliance officers and admins."""
        principal.require(*READERS)
        return self.entries(**query)

    def check(self, principal: Principal) -> Verification:
        """`verify` against the anchors on chain, for compliance officers and admins."""
        principal.require(*READERS)
        return self.verify(self.anchors() if self.anchors is not None else None)

    # -------------------------------------------------------------------------------- writing ---

    @staticmethod
    def append(
        session: Session,
        *,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Appends one record inside `session`'s transaction (it commits or rolls back with the act it
        records). `details` must be JSON-like; integers beyond 2^53 are written as strings."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        last_seq, prev = head_of(session)
        seq = last_seq + 1
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        body = canonical(
            {
                "seq": seq,
                "at": timestamp(moment),
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": dict(details or {}),
                "prev": prev,
            }
        )
        row = AuditRecord(
            seq=seq,
            at=moment,
            actor=actor,
            action=action,
            subject=subject,
            body=body,
            prev_hash=prev,
            hash=record_hash(body),
        )
        session.add(row)
        session.flush()
        return row

    def record(self, **fields: Any) -> Entry:
        """Appends one record in a transaction of its own."""
        with self.sessions.begin() as session:
            return Entry.of(self.append(session, **fields))

    # -------------------------------------------------------------------------------- reading ---

    def entries(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        action: str | None = None,
        subject: str | None = None,
        before: int | None = None,
        newest: bool = False,
    ) -> list[Entry]:
        """Records after sequence number `after` (and before `before`), oldest first; with `newest`,
        the newest `limit` of them, newest first."""
        query = select(AuditRecord).where(AuditRecord.seq > after)
        if before is not None:
            query = query.where(AuditRecord.seq < before)
        if action is not None:
            query = query.where(AuditRecord.action == action)
        if subject is not None:
            query = query.where(AuditRecord.subject == subject)
        with self.sessions() as session:
            order = AuditRecord.seq.desc() if newest else AuditRecord.seq
            return [Entry.of(r) for r in session.scalars(query.order_by(order).limit(limit))]

    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the newest record; (0, 64 zeros) for an empty log."""
        with self.sessions() as session:
            return head_of(session)

    def export(self, *, after: int = 0) -> Iterator[str]:
        """The log as JSON Lines: each line `{"seq", "hash", "record"}` where `record` is the canonical
        body exactly as hashed (an auditor re-hashes the string, see `docs/audit.md`)."""
        with self.sessions() as session:
            rows = session.execute(
                select(AuditRecord.seq, AuditRecord.hash, AuditRecord.body)
                .where(AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .execution_options(yield_per=1000)
            )
            for seq, digest, body in rows:
                yield json.dumps({"seq": seq, "hash": digest, "record": body}, ensure_ascii=False)

    # ------------------------------------------------------------------------------ verifying ---

    def verify(self, anchors: Iterable[Anchor] | None) -> Verification:
        """Checks the hash chain and, unless `anchors` is None (not checked, and said so), each anchor."""
        result = Verification(anchors_checked=anchors is not None)
        expected = {a.seq: a for a in anchors or ()}
        result.anchors = len(expected)
        result.last_anchored_seq = max(expected, default=0)
        prev, seq = GENESIS, 0
        with self.sessions() as session:
            rows = session.scalars(
                select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=1000)
            )
            for row in rows:
                seq += 1
                problem = _check_record(row, seq, prev)
                anchor = expected.get(row.seq)
                if problem is None and anchor is not None and anchor.head != row.hash:
                    problem = (
                        f"the chain anchored record {row.seq} with hash {anchor.head} in block "
                        f"{anchor.block_number} (transaction {anchor.tx_hash}); the log's record "
                        f"{row.seq} hashes to {row.hash}: this record or one before it was rewritten"
                    )
                if problem is not None:
                    result.first_bad, result.problem = min(seq, row.seq), problem
                    break
                prev = row.hash
                result.records, result.head_seq, result.head_hash = seq, row.seq, row.hash
        if result.first_bad is None:
            missing = sorted(s for s in expected if s > result.head_seq)
            if missing:
                result.first_bad = result.head_seq + 1
                result.problem = (
                    f"the chain anchored record {missing[0]} (block {expected[missing[0]].block_number}) "
                    f"but the log ends at record {result.head_seq}: records were removed"
                )
        result.unanchored = max(0, result.head_seq - result.last_anchored_seq)
        return result


def _check_record(row: AuditRecord, seq: int, prev: str) -> str | None:
    if row.seq != seq:
        return f"record {seq} is missing: the log goes from {seq - 1} to {row.seq}"
    try:
        body = json.loads(row.body)
    except ValueError:
        return f"record {row.seq}'s body is not JSON"
    if not isinstance(body, dict) or canonical(body) != row.body:
        return f"record {row.seq}'s body is not canonical JSON"
    if record_hash(row.body) != row.hash:
        return f"record {row.seq} does not hash to its stored hash: its body was changed"
    if body.get("prev") != prev or row.prev_hash != prev:
        return f"record {row.seq} does not name the hash of record {row.seq - 1}: the chain is broken"
    columns = {
        "seq": row.seq,
        "at": timestamp(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
    }
    for name, value in columns.items():
        if body.get(name) != value:
            return f"record {row.seq}'s {name} column says {value!r}, its hashed body {body.get(name)!r}"
    return None


# ---------------------------------------------------------------------------------- anchoring ---


def chain_anchors(w3: Web3, address: str, from_block: int = 0, to_block: int | None = None) -> list[Anchor]:
    """Every `AuditAnchored` event of the anchor contract at `address`, oldest first."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(address),
            "fromBlock": from_block,
            "toBlock": to_block if to_block is not None else "latest",
            "topics": [ANCHORED_TOPIC],
        }
    )
    return [
        Anchor(
            seq=int.from_bytes(bytes(entry["topics"][1]), "big"),
            head=bytes(entry["data"])[:32].hex(),
            block_number=int(entry["blockNumber"]),
            tx_hash="0x" + bytes(entry["transactionHash"]).hex(),
        )
        for entry in logs
    ]


class Anchorer:
    """The worker that publishes the log's head on chain, at most every `interval` seconds and only
    when the log grew. `enqueue(session, seq, head)` writes the anchor transaction into the compliance
    key's outbox inside `session` (the bank provides it); the anchor row goes in the same transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        enqueue: Any | None,
        *,
        interval: float = 60.0,
        clock: Any = None,
    ) -> None:
        self.sessions = sessions
        self.enqueue = enqueue
        self.interval = interval
        self.clock = clock or (lambda: datetime.now(UTC))

    def step(self) -> int:
        """Anchors the head when it moved since the last anchor and no anchor is still on its way or
        younger than the interval; returns 1 when it sent one. A bank deployed before the anchor
        contract existed (`enqueue` None) anchors nothing."""
        if self.enqueue is None:
            return 0
        with self.sessions.begin() as session:
            last = session.scalars(select(AuditAnchorTx).order_by(AuditAnchorTx.seq.desc()).limit(1)).first()
            seq, digest = head_of(session)
            if seq == 0 or (last is not None and last.seq >= seq):
                return 0
            if last is not None:
                tx = session.get(ChainTx, last.chain_tx_id)
                underway = tx is not None and tx.status not in (TxStatus.FINAL, TxStatus.FAILED)
                young = (self.clock() - aware(last.created_at)).total_seconds() < self.interval
                if underway or young:
                    return 0
            tx = self.enqueue(session, seq, digest)
            session.add(AuditAnchorTx(seq=seq, head=digest, chain_tx_id=tx.id))
        log.info("anchoring audit record %s", seq)
        return 1
