"""Cases: monitoring alerts grouped per subject and worked by compliance officers to a disposition.

The monitor files every alert into the open case of its subject (the customer when the address is one
of ours, else the address itself), opening one when there is none. A case is `open`, `investigating`,
`escalated` or `closed`; it is closed only with a disposition (false positive, risk accepted, reported)
and a reason. Its due date comes from the policy (`monitoring.case_due_days`, by severity) when it is
opened, and moves earlier when a more severe alert joins it. Its file holds notes, the alerts filed,
state changes, the actions proposed from it and evidence: inspection snapshots, trace pictures, reports
and uploaded documents, sealed under the KEK and bound to the item's id (like KYC documents).

From a case an officer proposes a freeze, a partial freeze, a block or a KYC revocation of its subject
through maker-checker (`wallet.compliance.approvals`): the proposal goes to a second officer like any
other. Everything here is compliance's alone, and every act is written to the audit log in the same
transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.approvals import Approvals, ProposalView
from wallet.compliance.audit import SYSTEM, AuditLog
from wallet.compliance.policy import PolicyStore
from wallet.db.models import Alert, Case, CaseItem, User, WalletAccount, aware
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.keys.keystore import KeyEncryptionKey
from wallet.vocabulary import AlertSeverity, CaseState, Disposition, ProposalAction, Role

RANK = {AlertSeverity.LOW: 0, AlertSeverity.MEDIUM: 1, AlertSeverity.HIGH: 2}
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
EVIDENCE_TYPES = {
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/json",
    "application/xml",
    "text/csv",
    "text/plain",
}
CASE_ACTIONS = {
    ProposalAction.FREEZE,
    ProposalAction.PARTIAL_FREEZE,
    ProposalAction.BLOCK,
    ProposalAction.REVOKE_KYC,
}


@dataclass(frozen=True)
class AlertView:
    id: int
    typology: str
    severity: str
    subject: str
    user_id: str | None
    currency: str
    block: int
    occurred_at: datetime
    explanation: str
    figures: dict[str, Any]
    movements: list[dict[str, Any]]
    case_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class CaseView:
    id: str
    subject: str
    user_id: str | None
    title: str
    state: CaseState
    severity: AlertSeverity
    assignee: str | None
    disposition: Disposition | None
    due_at: datetime
    overdue: bool
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    alerts: int


@dataclass(frozen=True)
class CaseItemView:
    id: int
    kind: str
    author: str
    body: str
    details: dict[str, Any]
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    created_at: datetime


@dataclass(frozen=True)
class CaseFile:
    case: CaseView
    alerts: list[AlertView]
    items: list[CaseItemView]


def alert_view(row: Alert) -> AlertView:
    return AlertView(
        row.id,
        row.typology.value,
        row.severity.value,
        row.subject,
        row.user_id,
        row.currency,
        row.block_number,
        aware(row.occurred_at),
        row.explanation,
        row.figures,
        row.movements,
        row.case_id,
        aware(row.created_at),
    )


class Cases:
    """The compliance case file."""

    def __init__(
        self,
        bank: Bank,
        policy: PolicyStore,
        kek: SecretStr,
        approvals: Approvals,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.policy = policy
        self._kek = KeyEncryptionKey(kek)
        self.approvals = approvals
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------------- the monitor's ---

    def file(self, session: Session, alert: Alert) -> Case:
        """Files `alert` (stored, in `session`) into its subject's open case, opening one if needed."""
        now = self.clock()
        due_days = self.policy.current(session).document.monitoring.case_due_days
        due = now + timedelta(days=getattr(due_days, alert.severity.value))
        case = session.scalars(
            select(Case)
            .where(Case.subject == alert.subject, Case.state != CaseState.CLOSED)
            .order_by(Case.opened_at)
            .limit(1)
        ).first()
        if case is None:
            case = Case(
                id=uuid.uuid4().hex,
                subject=alert.subject,
                user_id=alert.user_id,
                title=f"{alert.typology.value.replace('_', ' ')}: {alert.subject}",
                state=CaseState.OPEN,
                severity=alert.severity,
                due_at=due,
                opened_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            AuditLog.append(
                session,
                actor=SYSTEM,
                action="case.opened",
                subject=f"case:{case.id}",
                details={
                    "subject": alert.subject,
                    "user_id": alert.user_id,
                    "severity": alert.severity.value,
                },
            )
        elif RANK[alert.severity] > RANK[case.severity]:
            case.severity = alert.severity
            case.due_at = min(aware(case.due_at), due)
        case.updated_at = now
        alert.case_id = case.id
        session.add(
            CaseItem(
                case_id=case.id,
                kind="alert",
                author=SYSTEM,
                body=alert.explanation,
                details={
                    "alert": alert.id,
                    "typology": alert.typology.value,
                    "severity": alert.severity.value,
                },
                created_at=now,
            )
        )
        return case

    # ---------------------------------------------------------------------------- the officer's ---

    def alerts(
        self,
        principal: Principal,
        *,
        subject: str | None = None,
        typology: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AlertView]:
        """Alerts, newest first (or, with `after`, those after an id, oldest first)."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            query = select(Alert)
            if subject:
                query = query.where(func.lower(Alert.subject) == subject.lower())
            if typology:
                query = query.where(Alert.typology == typology)
            if after:
                query = query.where(Alert.id > after).order_by(Alert.id)
            else:
                query = query.order_by(Alert.id.desc())
            return [alert_view(row) for row in session.scalars(query.limit(limit))]

    def queue(
        self,
        principal: Principal,
        *,
        state: CaseState | None = None,
        assignee: str | None = None,
        limit: int = 100,
    ) -> list[CaseView]:
        """Cases not closed (or in `state`), the earliest due first."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            query = select(Case)
            query = query.where(Case.state == state) if state else query.where(Case.state != CaseState.CLOSED)
            if assignee:
                query = query.where(Case.assignee == assignee)
            rows = list(session.scalars(query.order_by(Case.due_at, Case.id).limit(limit)))
            counts = self._alert_counts(session, [row.id for row in rows])
            return [self._view(session, row, counts.get(row.id, 0)) for row in rows]

    def get(self, principal: Principal, case_id: str) -> CaseFile:
        """A case with its alerts and its file."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            case = self._case(session, case_id)
            alerts = session.scalars(select(Alert).where(Alert.case_id == case.id).order_by(Alert.id))
            items = session.scalars(select(CaseItem).where(CaseItem.case_id == case.id).order_by(CaseItem.id))
            return CaseFile(
                self._view(session, case), [alert_view(a) for a in alerts], [self._item(i) for i in items]
            )

    def assign(self, principal: Principal, case_id: str, assignee: str) -> CaseView:
        """Gives the case to a compliance officer (by user id or username)."""
        principal.require(Role.COMPLIANCE)
        with self.bank.sessions.begin() as session:
            case = self._open_case(session, case_id)
            officer = session.scalars(
                select(User).where((User.id == assignee) | (User.username == assignee))
            ).first()
            if officer is None or officer.role != Role.COMPLIANCE or officer.disabled_at is not None:
                raise InvalidRequestError(f"{assignee!r} is not an active compliance officer")
            case.assignee = officer.id
            self._record(
                session,
                principal,
                case,
                "assignment",
                f"assigned to {officer.username}",
                {"assignee": officer.id},
            )
            return self._view(session, case)

    def move(self, principal: Principal, case_id: str, state: CaseState, reason: str) -> CaseView:
        """Moves a case to open, investigating or escalated (closing takes `close`)."""
        principal.require(Role.COMPLIANCE)
        if state is CaseState.CLOSED:
            raise InvalidRequestError("a case is closed with a disposition: use close")
        _reason(reason)
        with self.bank.sessions.begin() as session:
            case = self._open_case(session, case_id)
            before = case.state
            case.state = state
            self._record(
                session, principal, case, "status", reason, {"from": before.value, "to": state.value}
            )
            return self._view(session, case)

    def note(self, principal: Principal, case_id: str, text: str) -> CaseItemView:
        """Adds a note to the case's file."""
        principal.require(Role.COMPLIANCE)
        if not text.strip() or len(text) > 4000:
            raise InvalidRequestError("a note is 1 to 4000 characters")
        with self.bank.sessions.begin() as session:
            case = self._case(session, case_id)
            return self._item(self._record(session, principal, case, "note", text.strip(), {}))

    def attach(
        self,
        principal: Principal,
        case_id: str,
        *,
        filename: str,
        content_type: str,
        content: bytes,
        description: str,
        kind: str = "evidence",
        details: dict[str, Any] | None = None,
    ) -> CaseItemView:
        """Adds evidence to the case's file, sealed."""
        principal.require(Role.COMPLIANCE)
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in EVIDENCE_TYPES:
            raise InvalidRequestError(f"evidence may be one of {', '.join(sorted(EVIDENCE_TYPES))}")
        if not content or len(content) > MAX_EVIDENCE_BYTES:
            raise InvalidRequestError(f"evidence is 1 byte to {MAX_EVIDENCE_BYTES // 1024 // 1024} MiB")
        clean = "".join(c for c in filename if c.isalnum() or c in "._- ")[:200].strip() or "evidence"
        digest = hashlib.sha256(content).hexdigest()
        with self.bank.sessions.begin() as session:
            case = self._case(session, case_id)
            item = self._record(
                session,
                principal,
                case,
                kind,
                description.strip()[:4000] or clean,
                {**(details or {}), "sha256": digest},
            )
            item.filename, item.content_type, item.size, item.sha256 = (
                clean,
                content_type,
                len(content),
                digest,
            )
            item.sealed, item.nonce = self._kek.wrap(content, f"case-item:{item.id}")
            return self._item(item)

    def evidence(self, principal: Principal, case_id: str, item_id: int) -> tuple[CaseItemView, bytes]:
        """One piece of evidence, opened (the read is audited)."""
        principal.require(Role.COMPLIANCE)
        with self.bank.sessions.begin() as session:
            item = session.get(CaseItem, item_id)
            if item is None or item.case_id != case_id or item.sealed is None or item.nonce is None:
                raise NotFoundError("evidence", str(item_id))
            content = self._kek.unwrap(bytes(item.sealed), bytes(item.nonce), f"case-item:{item.id}")
            AuditLog.append(
                session,
                actor=principal.username,
                action="case.evidence_read",
                subject=f"case:{case_id}",
                details={"item": item.id, "sha256": item.sha256},
            )
            return self._item(item), content

    def close(self, principal: Principal, case_id: str, disposition: Disposition, reason: str) -> CaseView:
        """Closes the case with its disposition."""
        principal.require(Role.COMPLIANCE)
        _reason(reason)
        with self.bank.sessions.begin() as session:
            case = self._open_case(session, case_id)
            case.state, case.disposition, case.closed_at = CaseState.CLOSED, disposition, self.clock()
            self._record(
                session, principal, case, "status", reason, {"to": "closed", "disposition": disposition.value}
            )
            return self._view(session, case)

    def propose(
        self,
        principal: Principal,
        case_id: str,
        *,
        action: str,
        reason: str,
        idempotency_key: str,
        currency: str | None = None,
        amount: str | None = None,
    ) -> tuple[ProposalView, bool]:
        """Proposes, through maker-checker, a freeze, partial freeze, block or KYC revocation of the
        case's subject; the proposal is recorded in the case's file."""
        principal.require(Role.COMPLIANCE)
        try:
            kind = ProposalAction(action)
        except ValueError:
            kind = None
        if kind not in CASE_ACTIONS:
            raise InvalidRequestError(f"from a case one proposes one of {', '.join(sorted(CASE_ACTIONS))}")
        with self.bank.readers() as session:
            case = self._case(session, case_id)
            if case.state is CaseState.CLOSED:
                raise ConflictError("the case is closed")
            subject = case.subject
        params: dict[str, Any] = {"address": subject}
        if kind in (ProposalAction.FREEZE, ProposalAction.PARTIAL_FREEZE):
            if currency is None:
                raise InvalidRequestError("a freeze needs the currency of the token")
            params["currency"] = currency
        if kind is ProposalAction.PARTIAL_FREEZE:
            if amount is None:
                raise InvalidRequestError("a partial freeze needs the amount to freeze")
            params["amount"] = amount
        proposal, created = self.approvals.propose(
            principal,
            action=kind,
            params=params,
            reason=f"case {case_id}: {reason}",
            idempotency_key=idempotency_key,
        )
        if created:
            with self.bank.sessions.begin() as session:
                case = self._case(session, case_id)
                self._record(
                    session,
                    principal,
                    case,
                    "action",
                    f"proposed {kind.value}: {reason}",
                    {"proposal": proposal.id, "action": kind.value, "params": params},
                )
        return proposal, created

    # --------------------------------------------------------------------------------- helpers ---

    def _record(
        self,
        session: Session,
        principal: Principal,
        case: Case,
        kind: str,
        body: str,
        details: dict[str, Any],
    ) -> CaseItem:
        now = self.clock()
        item = CaseItem(
            case_id=case.id, kind=kind, author=principal.username, body=body, details=details, created_at=now
        )
        session.add(item)
        session.flush()
        case.updated_at = now
        AuditLog.append(
            session,
            actor=principal.username,
            action=f"case.{kind}",
            subject=f"case:{case.id}",
            details={"item": item.id, "body": body[:500], **details},
        )
        return item

    @staticmethod
    def _case(session: Session, case_id: str) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFoundError("case", case_id)
        return case

    def _open_case(self, session: Session, case_id: str) -> Case:
        case = self._case(session, case_id)
        if case.state is CaseState.CLOSED:
            raise ConflictError("the case is closed")
        return case

    @staticmethod
    def _alert_counts(session: Session, case_ids: list[str]) -> dict[str, int]:
        """How many alerts each case holds, in one query."""
        if not case_ids:
            return {}
        rows = session.execute(
            select(Alert.case_id, func.count()).where(Alert.case_id.in_(case_ids)).group_by(Alert.case_id)
        )
        return {case_id: count for case_id, count in rows if case_id is not None}

    def _view(self, session: Session, case: Case, count: int | None = None) -> CaseView:
        if count is None:
            count = self._alert_counts(session, [case.id]).get(case.id, 0)
        due = aware(case.due_at)
        return CaseView(
            case.id,
            case.subject,
            case.user_id,
            case.title,
            case.state,
            case.severity,
            case.assignee,
            case.disposition,
            due,
            case.state is not CaseState.CLOSED and due < self.clock(),
            aware(case.opened_at),
            aware(case.updated_at),
            aware(case.closed_at) if case.closed_at else None,
            count,
        )

    @staticmethod
    def _item(item: CaseItem) -> CaseItemView:
        return CaseItemView(
            item.id,
            item.kind,
            item.author,
            item.body,
            item.details,
            item.filename,
            item.content_type,
            item.size,
            item.sha256,
            aware(item.created_at),
        )


def customer_of(session: Session, address: str) -> str | None:
    """The customer whose custodial address `address` is, if any."""
    if not is_address(address):
        return None
    return session.scalars(
        select(WalletAccount.user_id).where(WalletAccount.address == to_checksum_address(address)).limit(1)
    ).first()


def _reason(reason: str) -> None:
    if not reason.strip() or len(reason) > 500:
        raise InvalidRequestError("a reason of 1 to 500 characters is needed")


__all__ = ["AlertView", "CaseFile", "CaseItemView", "CaseView", "Cases", "alert_view", "customer_of"]
