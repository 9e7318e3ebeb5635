"""Maker-checker: every powerful act is proposed by one user and carried out only when another user
holding the required role approves it.

Acts and who decides them (`APPROVER`): freezes (whole or partial), unfreezes, forced transfers (with
the legal order's reference and the SHA-256 of its document), account recovery, KYC revocation, blocks
and unblocks, and policy changes are compliance's; role grants and revocations and minter allowances are
the admins'; mints and burns above the approval threshold are the operators'. The proposer must hold
that role too, and can never decide their own proposal (the database refuses it as well:
`ck_proposals_four_eyes`).

A proposal is checked when it is made (its arguments, and the chain's estimate of its transactions, so
what the chain would refuse is refused at once) and again when it is approved: approving writes its
bank operations into the outbox in the same database transaction that closes the proposal, with their
audit records; if the chain would now refuse, nothing is stored and the proposal stays open. Proposals
expire after a time (`ttl`) and the proposer may withdraw them. Each step is idempotent: proposing
again with the same key returns the first proposal, and deciding again what one decided already returns
it unchanged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.door import check_amount
from wallet.bank.operations import OperationsService, PlannedOperation
from wallet.bank.users import Principal
from wallet.compliance.audit import SYSTEM, AuditLog
from wallet.db.models import Proposal, User, WalletAccount, aware
from wallet.errors import (
    InvalidRequestError,
    NotFoundError,
    ProposalClosedError,
    SelfApprovalError,
)
from wallet.idempotency import insert_or_replay, replay, request_hash, scoped_key
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import KycStatus, OperationKind, ProposalAction, ProposalState, Role

A = ProposalAction
APPROVER: dict[ProposalAction, Role] = {
    A.FREEZE: Role.COMPLIANCE,
    A.UNFREEZE: Role.COMPLIANCE,
    A.PARTIAL_FREEZE: Role.COMPLIANCE,
    A.FORCED_TRANSFER: Role.COMPLIANCE,
    A.RECOVER_ACCOUNT: Role.COMPLIANCE,
    A.REVOKE_KYC: Role.COMPLIANCE,
    A.BLOCK: Role.COMPLIANCE,
    A.UNBLOCK: Role.COMPLIANCE,
    A.POLICY_CHANGE: Role.COMPLIANCE,
    A.RELEASE_TRANSFER: Role.COMPLIANCE,
    A.GRANT_ROLE: Role.ADMIN,
    A.REVOKE_ROLE: Role.ADMIN,
    A.SET_ALLOWANCE: Role.ADMIN,
    A.MINT: Role.OPERATOR,
    A.BURN: Role.OPERATOR,
}
SHA256_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


# ------------------------------------------------------------------------------- parameters ---


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AddressParams(_Params):
    """An address, in one token (freeze, unfreeze) or in the registry (block, unblock, KYC revoke)."""

    address: str
    currency: str | None = Field(default=None, description="The token; required to freeze or unfreeze")


class PartialFreezeParams(_Params):
    address: str
    currency: str
    amount: str = Field(description="The frozen part of the balance, absolute (0 releases it)")


class LegalOrder(_Params):
    legal_order_reference: str = Field(min_length=1, max_length=140)
    legal_order_sha256: str = Field(description="SHA-256 (hex) of the legal order's document")


class ForcedTransferParams(LegalOrder):
    currency: str
    from_address: str
    to_address: str
    amount: str
    reason_code: int = Field(ge=0, lt=2**16)


class RecoveryParams(LegalOrder):
    currency: str
    lost_address: str
    replacement_address: str


class RoleParams(_Params):
    role: str
    address: str
    currency: str | None = None


class AllowanceParams(_Params):
    currency: str
    minter: str
    amount: str


class MintParams(_Params):
    currency: str
    amount: str
    to_account: str | None = None
    to_address: str | None = None


class BurnParams(_Params):
    currency: str
    amount: str


PARAMS: dict[ProposalAction, type[_Params]] = {
    A.FREEZE: AddressParams,
    A.UNFREEZE: AddressParams,
    A.PARTIAL_FREEZE: PartialFreezeParams,
    A.FORCED_TRANSFER: ForcedTransferParams,
    A.RECOVER_ACCOUNT: RecoveryParams,
    A.REVOKE_KYC: AddressParams,
    A.BLOCK: AddressParams,
    A.UNBLOCK: AddressParams,
    A.GRANT_ROLE: RoleParams,
    A.REVOKE_ROLE: RoleParams,
    A.SET_ALLOWANCE: AllowanceParams,
    A.MINT: MintParams,
    A.BURN: BurnParams,
}

# Acts carried out by a service, not by a transaction (a policy change, a held transfer's release):
# the validator normalizes a proposal's params (refusing what cannot be done), the executor carries the
# act out in the approving transaction, given the approver, the params and the proposal's id.
Validator = Callable[[dict[str, Any]], dict[str, Any]]
Executor = Callable[[Session, Principal, dict[str, Any], str], None]
LOCAL_ACTIONS = (A.POLICY_CHANGE, A.RELEASE_TRANSFER)


@dataclass(frozen=True)
class ProposalView:
    """A proposal as the users who may decide it see it."""

    id: str
    action: ProposalAction
    params: dict[str, Any]
    reason: str
    approver_role: Role
    proposed_by: str
    state: ProposalState
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    operation_ids: list[str]
    created_at: datetime


class Approvals:
    """Proposals, their queue and their decisions."""

    def __init__(
        self,
        bank: Bank,
        operations: OperationsService,
        *,
        ttl: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.operations = operations
        self.ttl = ttl
        self.clock = clock or (lambda: datetime.now(UTC))
        self.validators: dict[ProposalAction, Validator] = {}
        self.executors: dict[ProposalAction, Executor] = {}

    # ------------------------------------------------------------------------------- proposing ---

    def propose(
        self,
        principal: Principal,
        *,
        action: str,
        params: dict[str, Any],
        reason: str,
        idempotency_key: str,
    ) -> tuple[ProposalView, bool]:
        """Proposes `action`; returns the proposal and whether it was made now (False: a repeat of
        the same key and body)."""
        kind = _action(action)
        role = APPROVER[kind]
        principal.require(role)
        if not reason.strip() or len(reason) > 500:
            raise InvalidRequestError("a proposal needs a reason of 1 to 500 characters")
        normalized = self._normalize(kind, params)
        plans = self._plans(kind, normalized)  # everything a plan refuses (roles, accounts, amounts)
        body_hash = request_hash({"action": kind, "params": normalized, "reason": reason})
        key = scoped_key(principal.user_id, idempotency_key)
        existing = self._by_key(key)
        if existing is not None:
            return self._view(replay(existing, body_hash, idempotency_key)), False
        for plan in plans:  # the chain's refusal, at the door
            self.bank.estimate(plan.role, plan.call)

        def insert(session: Session) -> Proposal:
            row = Proposal(
                id=uuid.uuid4().hex,
                action=kind,
                params=normalized,
                reason=reason,
                approver_role=role,
                proposed_by=principal.user_id,
                idempotency_key=key,
                request_hash=body_hash,
                state=ProposalState.PENDING,
                expires_at=self.clock() + self.ttl,
                operation_ids=[],
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            self._audit(session, principal, "proposal.created", row, {"params": normalized, "reason": reason})
            return row

        row, created = insert_or_replay(
            self.bank.sessions, insert, lambda: self._by_key(key), body_hash=body_hash, key=idempotency_key
        )
        return self._view(row), created

    # -------------------------------------------------------------------------------- deciding ---

    def approve(self, principal: Principal, proposal_id: str, *, reason: str | None = None) -> ProposalView:
        """Approves and carries out the proposal: its operations go into the outbox in this same
        transaction. Approving again what one approved already returns it unchanged."""
        self._expire(proposal_id)
        with self.bank.sessions.begin() as session:
            row = self._decidable(session, principal, proposal_id, ProposalState.EXECUTED)
            if row.state == ProposalState.EXECUTED:
                return self._view(row, session)
            ids = []
            proposer = self._principal(session, row.proposed_by)
            if row.action in LOCAL_ACTIONS:
                executor = self.executors.get(row.action)
                if executor is None:
                    raise InvalidRequestError(f"this bank cannot carry out a {row.action}")
                executor(session, principal, dict(row.params), row.id)
            else:
                for plan in self._plans(row.action, dict(row.params)):
                    op = self.operations.enqueue(
                        session, proposer, plan, approved_by=principal, proposal_id=row.id
                    )
                    ids.append(op.id)
                if row.action == A.REVOKE_KYC:
                    self._revoke_customer(session, row.params["address"], row.id)
            self._close(row, principal, ProposalState.EXECUTED, reason)
            row.operation_ids = ids
            self._audit(session, principal, "proposal.approved", row, {"reason": reason, "operations": ids})
            return self._view(row, session)

    def reject(self, principal: Principal, proposal_id: str, *, reason: str) -> ProposalView:
        """Rejects the proposal; nothing is carried out."""
        if not reason.strip() or len(reason) > 500:
            raise InvalidRequestError("a rejection needs a reason of 1 to 500 characters")
        self._expire(proposal_id)
        with self.bank.sessions.begin() as session:
            row = self._decidable(session, principal, proposal_id, ProposalState.REJECTED)
            if row.state == ProposalState.PENDING:
                self._close(row, principal, ProposalState.REJECTED, reason)
                self._audit(session, principal, "proposal.rejected", row, {"reason": reason})
            return self._view(row, session)

    def withdraw(self, principal: Principal, proposal_id: str) -> ProposalView:
        """The proposer takes the proposal back; withdrawing again returns it unchanged."""
        self._expire(proposal_id)
        with self.bank.sessions.begin() as session:
            row = session.get(Proposal, proposal_id, with_for_update=True)
            if row is None or row.proposed_by != principal.user_id:
                raise NotFoundError("proposal", proposal_id)
            if row.state == ProposalState.WITHDRAWN:
                return self._view(row, session)
            if row.state != ProposalState.PENDING:
                raise ProposalClosedError(row.id, row.state)
            row.state = ProposalState.WITHDRAWN
            row.decided_at = self.clock()
            self._audit(session, principal, "proposal.withdrawn", row, {})
            return self._view(row, session)

    def expire_due(self) -> int:
        """Closes every pending proposal past its expiry, each with its audit record (a worker step)."""
        with self.bank.sessions.begin() as session:
            due = list(
                session.scalars(
                    select(Proposal)
                    .where(Proposal.state == ProposalState.PENDING, Proposal.expires_at <= self.clock())
                    .with_for_update()
                    .limit(100)
                )
            )
            for row in due:
                self._mark_expired(session, row)
        return len(due)

    # --------------------------------------------------------------------------------- reading ---

    def queue(
        self, principal: Principal, *, state: ProposalState | None = ProposalState.PENDING, limit: int = 100
    ) -> list[ProposalView]:
        """Proposals the caller's role decides (and the caller's own), newest first."""
        principal.require(Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
        self.expire_due()
        query = select(Proposal).where(
            (Proposal.approver_role == principal.role) | (Proposal.proposed_by == principal.user_id)
        )
        if state is not None:
            query = query.where(Proposal.state == state)
        with self.bank.readers() as session:
            rows = list(session.scalars(query.order_by(Proposal.created_at.desc()).limit(limit)))
            return [self._view(r, session) for r in rows]

    def get(self, principal: Principal, proposal_id: str) -> ProposalView:
        """One proposal, for the role that decides it and its proposer."""
        with self.bank.readers() as session:
            row = session.get(Proposal, proposal_id)
            if row is None or (row.approver_role != principal.role and row.proposed_by != principal.user_id):
                raise NotFoundError("proposal", proposal_id)
            return self._view(row, session)

    # --------------------------------------------------------------------------------- helpers ---

    def _normalize(self, kind: ProposalAction, params: dict[str, Any]) -> dict[str, Any]:
        if kind in LOCAL_ACTIONS:
            validator = self.validators.get(kind)
            if validator is None:
                raise InvalidRequestError(f"this bank cannot carry out a {kind}")
            return validator(params)
        try:
            model = PARAMS[kind].model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidRequestError(f"the {kind} proposal's params are not valid: {problems}") from None
        values = model.model_dump(exclude_none=True)
        for name in (
            "address",
            "from_address",
            "to_address",
            "lost_address",
            "replacement_address",
            "minter",
        ):
            if name in values:
                values[name] = _address(values[name], name)
        if "currency" in values:
            self.bank.token(values["currency"])
        if "amount" in values and kind != A.SET_ALLOWANCE:
            released = kind == A.PARTIAL_FREEZE and _is_zero(values["amount"])
            minor = 0 if released else parse_amount(values["amount"], values["currency"])
            check_amount(minor)
            values["amount"] = str(minor)
        if "legal_order_sha256" in values:
            digest = values["legal_order_sha256"]
            if not SHA256_HEX.match(digest):
                raise InvalidRequestError("legal_order_sha256 must be 64 hexadecimal digits")
            values["legal_order_sha256"] = digest.lower().removeprefix("0x")
        if kind in (A.FREEZE, A.UNFREEZE) and "currency" not in values:
            raise InvalidRequestError(f"a {kind} names the token: give its currency")
        if kind == A.FORCED_TRANSFER and values["from_address"] == values["to_address"]:
            raise InvalidRequestError("a forced transfer moves money between two different addresses")
        return values

    def _plans(self, kind: ProposalAction, p: dict[str, Any]) -> list[PlannedOperation]:
        ops, bank = self.operations, self.bank
        if kind in LOCAL_ACTIONS:
            return []  # carried out by a service (`executors`), not by a transaction
        if kind == A.MINT:
            amount = _decimal(p["amount"], p["currency"], bank)
            return [
                ops.plan_mint(
                    currency=p["currency"],
                    amount=amount,
                    to_account=p.get("to_account"),
                    to_address=p.get("to_address"),
                )
            ]
        if kind == A.BURN:
            return [ops.plan_burn(currency=p["currency"], amount=_decimal(p["amount"], p["currency"], bank))]
        if kind in (A.GRANT_ROLE, A.REVOKE_ROLE):
            grant = kind == A.GRANT_ROLE
            return [
                ops.plan_role(role=p["role"], address=p["address"], grant=grant, currency=p.get("currency"))
            ]
        if kind == A.SET_ALLOWANCE:
            return [ops.plan_allowance(currency=p["currency"], minter=p["minter"], amount=p["amount"])]
        if kind in (A.REVOKE_KYC, A.BLOCK, A.UNBLOCK):
            registry = bank.registry.functions
            call = (
                registry.revokeKyc(p["address"])
                if kind == A.REVOKE_KYC
                else registry.setBlocked(p["address"], kind == A.BLOCK)
            )
            op_kind = {A.REVOKE_KYC: OperationKind.REVOKE_KYC, A.BLOCK: OperationKind.BLOCK}.get(
                kind, OperationKind.UNBLOCK
            )
            return [PlannedOperation("compliance", call, op_kind, None, p["address"], None, {})]
        token = bank.token(p["currency"])
        functions = token.contract.functions
        if kind in (A.FREEZE, A.UNFREEZE):
            call = functions.freeze(p["address"]) if kind == A.FREEZE else functions.unfreeze(p["address"])
            op_kind = OperationKind.FREEZE if kind == A.FREEZE else OperationKind.UNFREEZE
            return [PlannedOperation("compliance", call, op_kind, p["currency"], p["address"], None, {})]
        if kind == A.PARTIAL_FREEZE:
            value = int(p["amount"])
            return [
                PlannedOperation(
                    "compliance",
                    functions.setFrozenAmount(p["address"], value),
                    OperationKind.PARTIAL_FREEZE,
                    p["currency"],
                    p["address"],
                    value or None,
                    {},
                )
            ]
        order = bytes.fromhex(p["legal_order_sha256"])
        legal = {
            "legal_order_reference": p["legal_order_reference"],
            "legal_order_sha256": p["legal_order_sha256"],
        }
        if kind == A.FORCED_TRANSFER:
            value = int(p["amount"])
            call = functions.forcedTransfer(
                p["from_address"], p["to_address"], value, p["reason_code"], order
            )
            details = {**legal, "from": p["from_address"], "reason_code": p["reason_code"]}
            return [
                PlannedOperation(
                    "compliance",
                    call,
                    OperationKind.FORCED_TRANSFER,
                    p["currency"],
                    p["to_address"],
                    value,
                    details,
                )
            ]
        if kind == A.RECOVER_ACCOUNT:
            call = functions.recoverAccount(p["lost_address"], p["replacement_address"], order)
            details = {**legal, "lost": p["lost_address"]}
            return [
                PlannedOperation(
                    "compliance",
                    call,
                    OperationKind.RECOVER_ACCOUNT,
                    p["currency"],
                    p["replacement_address"],
                    None,
                    details,
                )
            ]
        raise InvalidRequestError(f"no plan for {kind}")  # pragma: no cover - every action is above

    def _revoke_customer(self, session: Session, address: str, proposal_id: str) -> None:
        """A customer whose address loses its KYC on chain is no longer verified here either."""
        owner = session.scalar(select(WalletAccount.user_id).where(WalletAccount.address == address).limit(1))
        if owner is not None:
            session.execute(
                update(User)
                .where(User.id == owner)
                .values(kyc_status=KycStatus.REJECTED, kyc_reason=f"KYC revoked (proposal {proposal_id})")
            )

    def _expire(self, proposal_id: str) -> None:
        with self.bank.sessions.begin() as session:
            row = session.get(Proposal, proposal_id, with_for_update=True)
            if (
                row is not None
                and row.state == ProposalState.PENDING
                and aware(row.expires_at) <= self.clock()
            ):
                self._mark_expired(session, row)

    def _mark_expired(self, session: Session, row: Proposal) -> None:
        row.state = ProposalState.EXPIRED
        row.decided_at = self.clock()
        AuditLog.append(
            session,
            actor=SYSTEM,
            action="proposal.expired",
            subject=f"proposal:{row.id}",
            details={"action": row.action},
        )

    def _decidable(
        self, session: Session, principal: Principal, proposal_id: str, outcome: ProposalState
    ) -> Proposal:
        row = session.get(Proposal, proposal_id, with_for_update=True)
        if row is None or (row.approver_role != principal.role and row.proposed_by != principal.user_id):
            raise NotFoundError("proposal", proposal_id)
        principal.require(row.approver_role)
        if row.proposed_by == principal.user_id:
            raise SelfApprovalError("you proposed this; another user with the same role must decide it")
        if row.state == outcome and row.decided_by == principal.user_id:
            return row  # a repeat of one's own decision
        if row.state != ProposalState.PENDING:
            raise ProposalClosedError(row.id, row.state)
        return row

    def _close(self, row: Proposal, principal: Principal, state: ProposalState, reason: str | None) -> None:
        row.state = state
        row.decided_by = principal.user_id
        row.decided_at = self.clock()
        row.decision_reason = reason

    def _audit(
        self, session: Session, principal: Principal, action: str, row: Proposal, details: dict[str, Any]
    ) -> None:
        AuditLog.append(
            session,
            actor=principal.username,
            action=action,
            subject=f"proposal:{row.id}",
            details={"role": principal.role, "action": row.action, **details},
        )

    def _principal(self, session: Session, user_id: str) -> Principal:
        user = session.get(User, user_id)
        assert user is not None
        return Principal(user.id, user.username, user.role)

    def _by_key(self, key: str) -> Proposal | None:
        with self.bank.readers() as session:
            return session.scalars(select(Proposal).where(Proposal.idempotency_key == key)).first()

    def _view(self, row: Proposal, session: Session | None = None) -> ProposalView:
        if session is None:
            with self.bank.readers() as own:
                return self._view(row, own)
        ids = [i for i in (row.proposed_by, row.decided_by) if i]
        names = {i: n for i, n in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}
        return ProposalView(
            id=row.id,
            action=row.action,
            params=dict(row.params),
            reason=row.reason,
            approver_role=row.approver_role,
            proposed_by=names.get(row.proposed_by, row.proposed_by),
            state=row.state,
            expires_at=aware(row.expires_at),
            decided_by=names.get(row.decided_by, row.decided_by) if row.decided_by else None,
            decided_at=aware(row.decided_at) if row.decided_at else None,
            decision_reason=row.decision_reason,
            operation_ids=list(row.operation_ids or []),
            created_at=aware(row.created_at),
        )


def _action(action: str) -> ProposalAction:
    try:
        return ProposalAction(action)
    except ValueError:
        known = ", ".join(a.value for a in ProposalAction)
        raise InvalidRequestError(f"unknown action {action!r}; the actions are {known}") from None


def _address(value: str, name: str) -> str:
    if not is_address(value):
        raise InvalidRequestError(f"{name} {value!r} is not an Ethereum address")
    return to_checksum_address(value)


def _decimal(minor_units: str, currency: str, bank: Bank) -> str:
    """A normalized amount (minor units) back as the decimal string the plans parse."""
    return format_amount(int(minor_units), bank.token(currency).decimals)


def _is_zero(amount: str) -> bool:
    try:
        return Decimal(amount) == 0
    except InvalidOperation:
        return False
