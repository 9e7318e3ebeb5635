"""Bank operations: the operator mints on a fiat deposit and burns on redemption; role grants, minter
allowances, compliance acts (freezes, forced transfers, recoveries, blocks) and mints or burns above the
approval threshold are planned here and carried out when a second person approves their proposal
(`wallet.compliance.approvals`). Each is one transaction from the key of the role that may send it,
through that key's outbox, recorded as a `bank_operations` row and an audit record in the same database
transaction. Mints and burns take an idempotency key, like every request that moves money.

The contract is the authority: a mint above the minter's allowance is refused by the estimate with
`DepositTokenMinterAllowanceExceeded(minter, allowance, needed)` before anything is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.bank.accounts import AccountService
from wallet.bank.core import ROLE_NAMES, Bank
from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.db.models import BankOperation, ChainTx
from wallet.errors import ApprovalRequiredError, ConflictError, InvalidRequestError, NotFoundError
from wallet.idempotency import insert_or_replay, replay, request_hash, scoped_key
from wallet.money import format_amount, parse_amount
from wallet.vocabulary import OperationKind, OperationState, Role, TxStatus

DEFAULT_ADMIN_ROLE = bytes(32)


def operation_state(tx: ChainTx | None) -> OperationState:
    """pending (not yet broadcast), broadcast, executed (mined), confirmed, final, or failed."""
    if tx is None or tx.status in (TxStatus.INTENT, TxStatus.SIGNED):
        return OperationState.PENDING
    if tx.status == TxStatus.INCLUDED:
        return OperationState.EXECUTED
    return OperationState(tx.status.value)


@dataclass(frozen=True)
class PlannedOperation:
    """One transaction a bank operation will send: from which role's key, the call, and what it is."""

    role: str
    call: Any
    kind: OperationKind
    currency: str | None
    target: str | None
    amount: int | None
    details: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """What identifies the request (its idempotency hash and its audit record)."""
        return {
            "kind": self.kind,
            "currency": self.currency,
            "target": self.target,
            "amount": str(self.amount),
            **self.details,
        }


@dataclass(frozen=True)
class OperationView:
    """A bank operation and where its transaction is."""

    id: str
    kind: OperationKind
    state: OperationState
    currency: str | None
    decimals: int | None
    target: str | None
    amount: int | None
    details: dict[str, Any]
    sender: str
    tx_hash: str | None
    error: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class MinterInfo:
    """What the operator may still mint, and what waits to be burned."""

    currency: str
    decimals: int
    minter: str
    allowance: int
    redemption_address: str
    redemption_balance: int
    total_supply: int


class OperationsService:
    """Mints, burns, role grants and allowances."""

    def __init__(self, bank: Bank, accounts: AccountService) -> None:
        self.bank = bank
        self.accounts = accounts

    # ------------------------------------------------------------------------------- treasury ---

    def mint(
        self,
        principal: Principal,
        *,
        idempotency_key: str,
        currency: str,
        amount: object,
        to_account: str | None = None,
        to_address: str | None = None,
    ) -> tuple[OperationView, bool]:
        """Mints `amount` to a customer's account (a fiat deposit arrived) or a KYC'd address. Above the
        approval threshold it needs a second operator: `ApprovalRequiredError` (propose it instead)."""
        principal.require(Role.OPERATOR)
        plan = self.plan_mint(currency=currency, amount=amount, to_account=to_account, to_address=to_address)
        self._require_below_threshold(plan)
        return self._submit(principal, idempotency_key, plan)

    def plan_mint(
        self, *, currency: str, amount: object, to_account: str | None = None, to_address: str | None = None
    ) -> PlannedOperation:
        """The mint's transaction, checked (the account's currency and standing, the address)."""
        token = self.bank.token(currency)
        value = parse_amount(amount, currency)
        if (to_account is None) == (to_address is None):
            raise InvalidRequestError("give exactly one of to_account and to_address")
        if to_account is not None:
            account = self.accounts.any_account(to_account)
            if account.currency != currency:
                raise InvalidRequestError(
                    f"the account {to_account} holds {account.currency}, not {currency}"
                )
            if not self.accounts.is_active(account):
                raise ConflictError(f"the account {to_account} is not active yet (KYC registration pending)")
            target = to_checksum_address(account.address)
        else:
            assert to_address is not None
            if not is_address(to_address):
                raise InvalidRequestError(f"{to_address!r} is not an Ethereum address")
            target = to_checksum_address(to_address)
        return PlannedOperation(
            "minter",
            token.contract.functions.mint(target, value),
            kind=OperationKind.MINT,
            currency=currency,
            target=target,
            amount=value,
            details={"to_account": to_account} if to_account else {},
        )

    def burn(
        self, principal: Principal, *, idempotency_key: str, currency: str, amount: object
    ) -> tuple[OperationView, bool]:
        """Burns `amount` from the redemption address (where customers send what they redeem). Above
        the approval threshold it needs a second operator (`ApprovalRequiredError`)."""
        principal.require(Role.OPERATOR)
        plan = self.plan_burn(currency=currency, amount=amount)
        self._require_below_threshold(plan)
        return self._submit(principal, idempotency_key, plan)

    def plan_burn(self, *, currency: str, amount: object) -> PlannedOperation:
        """The burn's transaction."""
        token = self.bank.token(currency)
        value = parse_amount(amount, currency)
        return PlannedOperation(
            "burner",
            token.contract.functions.burn(value),
            kind=OperationKind.BURN,
            currency=currency,
            target=self.bank.role_address("burner"),
            amount=value,
            details={},
        )

    def minter(self, principal: Principal, currency: str) -> MinterInfo:
        """The minter's remaining allowance and the redemption address's balance."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        token = self.bank.token(currency)
        minter, burner = self.bank.role_address("minter"), self.bank.role_address("burner")
        functions = token.contract.functions
        return MinterInfo(
            currency=currency,
            decimals=token.decimals,
            minter=minter,
            allowance=functions.minterAllowance(minter).call(),
            redemption_address=burner,
            redemption_balance=functions.balanceOf(burner).call(),
            total_supply=functions.totalSupply().call(),
        )

    # ---------------------------------------------------------------------------------- admin ---

    def plan_role(
        self, *, role: str, address: str, grant: bool, currency: str | None = None
    ) -> PlannedOperation:
        """Granting or revoking `role` on a token (or, without a currency, on the registry). Role
        changes are proposed and approved by two admins (`wallet.compliance.approvals`)."""
        if role not in ROLE_NAMES:
            raise InvalidRequestError(f"the role must be one of {', '.join(ROLE_NAMES)}, not {role!r}")
        if not is_address(address):
            raise InvalidRequestError(f"{address!r} is not an Ethereum address")
        target = to_checksum_address(address)
        if currency is None:
            if role not in ("compliance", "admin"):
                raise InvalidRequestError("the registry has only the compliance and admin roles")
            contract = self.bank.registry
        else:
            contract = self.bank.token(currency).contract
        role_id = DEFAULT_ADMIN_ROLE if role == "admin" else contract.functions[ROLE_NAMES[role]]().call()
        if not grant and role == "admin" and target == self.bank.role_address("admin"):
            raise ConflictError(
                "revoking the admin role from the bank's own admin key would lock the bank out"
            )
        fn = contract.functions.grantRole if grant else contract.functions.revokeRole
        return PlannedOperation(
            "admin",
            fn(role_id, target),
            kind=OperationKind.GRANT_ROLE if grant else OperationKind.REVOKE_ROLE,
            currency=currency,
            target=target,
            amount=None,
            details={"role": role},
        )

    def plan_allowance(self, *, currency: str, minter: str, amount: object) -> PlannedOperation:
        """Making `minter` a minter of `currency` with an allowance of `amount` (replacing the old one);
        proposed and approved by two admins."""
        token = self.bank.token(currency)
        if not is_address(minter):
            raise InvalidRequestError(f"{minter!r} is not an Ethereum address")
        value = 0 if amount == "0" else parse_amount(amount, currency)
        target = to_checksum_address(minter)
        return PlannedOperation(
            "admin",
            token.contract.functions.configureMinter(target, value),
            kind=OperationKind.SET_ALLOWANCE,
            currency=currency,
            target=target,
            amount=value or None,
            details={},
        )

    # ---------------------------------------------------------------------------------- reads ---

    def get(self, principal: Principal, operation_id: str) -> OperationView:
        """An operation; staff only."""
        if not principal.is_staff:
            raise NotFoundError("operation", operation_id)
        with self.bank.readers() as session:
            row = session.get(BankOperation, operation_id)
        if row is None:
            raise NotFoundError("operation", operation_id)
        return self._view(row)

    def recent(self, principal: Principal, *, limit: int = 50) -> list[OperationView]:
        """The newest operations; staff only."""
        principal.require(Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(select(BankOperation).order_by(BankOperation.created_at.desc()).limit(limit))
            )
        return [self._view(r) for r in rows]

    # -------------------------------------------------------------------------------- helpers ---

    def _require_below_threshold(self, plan: PlannedOperation) -> None:
        assert plan.currency is not None
        assert plan.amount is not None
        token = self.bank.token(plan.currency)
        threshold = self.bank.config.approval_threshold * 10**token.decimals
        if plan.amount > threshold:
            raise ApprovalRequiredError(
                f"a {plan.kind} above {format_amount(threshold, token.decimals)} {plan.currency} needs a "
                f"second operator: propose it (POST /v1/proposals, action {plan.kind!r})"
            )

    def _submit(
        self, principal: Principal, idempotency_key: str | None, plan: PlannedOperation
    ) -> tuple[OperationView, bool]:
        body_hash = request_hash(plan.body())
        key = scoped_key(principal.user_id, idempotency_key) if idempotency_key is not None else None
        if key is not None:
            existing = self._by_key(key)
            if existing is not None:
                return self._view(replay(existing, body_hash, idempotency_key or key)), False
        row, created = insert_or_replay(
            self.bank.sessions,
            lambda session: self.enqueue(session, principal, plan, idempotency_key=key),
            lambda: self._by_key(key) if key is not None else None,
            body_hash=body_hash,
            key=idempotency_key or "",
        )
        return self._view(row), created

    def enqueue(
        self,
        session: Session,
        principal: Principal,
        plan: PlannedOperation,
        *,
        idempotency_key: str | None = None,
        approved_by: Principal | None = None,
        proposal_id: str | None = None,
    ) -> BankOperation:
        """Writes `plan` as a bank operation and its outbox intent inside `session`'s transaction, with
        its audit record. `principal` requested it; `approved_by` approved its proposal, if any."""
        body = plan.body()
        details = dict(plan.details)
        if proposal_id is not None:
            details["proposal"] = proposal_id
        row = BankOperation(
            id=uuid.uuid4().hex,
            kind=plan.kind,
            requested_by=principal.user_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash(body),
            currency=plan.currency,
            target=plan.target,
            amount=plan.amount,
            details=details,
        )
        row.chain_tx_id = self.bank.enqueue(session, plan.role, plan.call, kind=plan.kind).id
        session.add(row)
        actor = approved_by or principal
        AuditLog.append(
            session,
            actor=actor.username,
            action=f"operation.{plan.kind}",
            subject=f"operation:{row.id}",
            details={
                "role": actor.role,
                **body,
                "requested_by": principal.username,
                "proposal": proposal_id,
                "chain_tx": row.chain_tx_id,
            },
        )
        return row

    def _by_key(self, key: str) -> BankOperation | None:
        with self.bank.readers() as session:
            return session.scalars(select(BankOperation).where(BankOperation.idempotency_key == key)).first()

    def _view(self, row: BankOperation) -> OperationView:
        tx = self.bank.chain_tx(row.chain_tx_id)
        token = self.bank.tokens.get(row.currency) if row.currency else None
        error = (
            {"name": tx.error_name, "args": tx.error_args or {}}
            if tx and tx.status == TxStatus.FAILED
            else None
        )
        return OperationView(
            id=row.id,
            kind=row.kind,
            state=operation_state(tx),
            currency=row.currency,
            decimals=token.decimals if token else None,
            target=row.target,
            amount=row.amount,
            details=row.details,
            sender=tx.sender if tx else "",
            tx_hash=tx.tx_hash if tx else None,
            error=error,
            created_at=row.created_at,
        )
