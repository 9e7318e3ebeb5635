"""Transfers the policy held, waiting for compliance.

A held transfer reserves its funds (the payer's available balance counts it) and is not relayed. A
compliance officer reads the queue with each transfer's decision: every rule that fired, the sanctions
matches with their explanations. Releasing is four-eyes: one officer proposes it (`release_transfer`),
another approves, and the approval signs the customer's authorization again (it may have waited longer
than its first signature was valid) and hands the transfer to the relayer. Rejecting is one officer's
act: the transfer fails with `RejectedByCompliance` and its funds are free again. Both are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.door import REJECTED_BY_COMPLIANCE
from wallet.bank.users import Principal
from wallet.compliance.approvals import Approvals, ProposalView
from wallet.compliance.audit import AuditLog
from wallet.db.models import TransferRequest, User, aware
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.money import format_amount
from wallet.vocabulary import ProposalAction, RequestStatus, Role


@dataclass(frozen=True)
class HeldView:
    """A held (or reviewed) transfer as compliance sees it."""

    id: str
    status: RequestStatus
    customer: str | None
    currency: str
    amount: str
    payer: str
    payee: str
    decision: dict[str, Any]
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    created_at: datetime


class HeldTransfers:
    """The compliance queue of held transfers, and their release and rejection."""

    def __init__(self, bank: Bank, approvals: Approvals) -> None:
        self.bank = bank
        self.approvals = approvals
        approvals.validators[ProposalAction.RELEASE_TRANSFER] = self._validate
        approvals.executors[ProposalAction.RELEASE_TRANSFER] = self._release

    def queue(self, principal: Principal, *, limit: int = 100) -> list[HeldView]:
        """Held transfers, oldest first."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            rows = session.scalars(
                select(TransferRequest)
                .where(TransferRequest.status == RequestStatus.HELD)
                .order_by(TransferRequest.created_at)
                .limit(limit)
            )
            return [self._view(session, r) for r in rows]

    def get(self, principal: Principal, transfer_id: str) -> HeldView:
        """One transfer the policy judged, with its decision."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            row = session.get(TransferRequest, transfer_id)
            if row is None or row.policy is None:
                raise NotFoundError("transfer", transfer_id)
            return self._view(session, row)

    def propose_release(
        self, principal: Principal, transfer_id: str, *, reason: str, idempotency_key: str
    ) -> tuple[ProposalView, bool]:
        """Proposes releasing a held transfer; another compliance officer decides."""
        return self.approvals.propose(
            principal,
            action=ProposalAction.RELEASE_TRANSFER,
            params={"transfer_id": transfer_id},
            reason=reason,
            idempotency_key=idempotency_key,
        )

    def reject(self, principal: Principal, transfer_id: str, *, reason: str) -> HeldView:
        """Refuses a held transfer: it fails, and its funds are free again. Rejecting again what one
        rejected already returns it unchanged."""
        principal.require(Role.COMPLIANCE)
        if not reason.strip() or len(reason) > 500:
            raise InvalidRequestError("a rejection needs a reason of 1 to 500 characters")
        with self.bank.sessions.begin() as session:
            row = session.get(TransferRequest, transfer_id, with_for_update=True)
            if row is None or row.policy is None:
                raise NotFoundError("transfer", transfer_id)
            if row.status == RequestStatus.FAILED and row.error_name == REJECTED_BY_COMPLIANCE:
                return self._view(session, row)
            if row.status != RequestStatus.HELD:
                raise ConflictError(f"the transfer is {row.status}, not held")
            row.status = RequestStatus.FAILED
            row.error_name = REJECTED_BY_COMPLIANCE
            row.error_args = {}
            self._reviewed(row, principal, reason)
            AuditLog.append(
                session,
                actor=principal.username,
                action="transfer.rejected",
                subject=f"transfer:{row.id}",
                details={"role": principal.role, "reason": reason},
            )
            return self._view(session, row)

    # ------------------------------------------------------------------------------ the release ---

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        transfer_id = params.get("transfer_id")
        if set(params) != {"transfer_id"} or not isinstance(transfer_id, str):
            raise InvalidRequestError("a release_transfer proposal's params are {transfer_id}")
        with self.bank.readers() as session:
            row = session.get(TransferRequest, transfer_id)
        if row is None or row.policy is None:
            raise NotFoundError("transfer", transfer_id)
        if row.status != RequestStatus.HELD:
            raise ConflictError(f"the transfer is {row.status}, not held")
        return {"transfer_id": transfer_id}

    def _release(
        self, session: Session, approver: Principal, params: dict[str, Any], proposal_id: str
    ) -> None:
        row = session.get(TransferRequest, params["transfer_id"], with_for_update=True)
        if row is None:
            raise NotFoundError("transfer", params["transfer_id"])
        if row.status != RequestStatus.HELD:
            raise ConflictError(f"the transfer is {row.status}, not held; reject the proposal")
        self.bank.transfers.resign(row)
        row.status = RequestStatus.PENDING
        self._reviewed(row, approver, f"released (proposal {proposal_id})")
        AuditLog.append(
            session,
            actor=approver.username,
            action="transfer.released",
            subject=f"transfer:{row.id}",
            details={"role": approver.role, "proposal": proposal_id},
        )

    # --------------------------------------------------------------------------------- helpers ---

    @staticmethod
    def _reviewed(row: TransferRequest, principal: Principal, reason: str) -> None:
        row.reviewed_by = principal.username
        row.reviewed_at = datetime.now(UTC)
        row.review_reason = reason

    def _view(self, session: Session, row: TransferRequest) -> HeldView:
        token = self.bank.token_at(row.token)
        customer = (
            session.scalar(select(User.username).where(User.id == row.owner_id)) if row.owner_id else None
        )
        return HeldView(
            id=row.id,
            status=row.status,
            customer=customer,
            currency=token.currency,
            amount=format_amount(row.value, token.decimals),
            payer=row.payer,
            payee=row.payee,
            decision=dict(row.policy or {}),
            reviewed_by=row.reviewed_by,
            reviewed_at=aware(row.reviewed_at) if row.reviewed_at else None,
            review_reason=row.review_reason,
            created_at=aware(row.created_at),
        )
