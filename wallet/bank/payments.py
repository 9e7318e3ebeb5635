"""Customer payments: a transfer from one of the caller's accounts to another account of the bank, an
address, or a saved payee, signed with the customer's custodial key and relayed by the bank.

The caller's idempotency key is scoped to the caller (two customers may use the same key). A transfer
above the configured threshold needs a fresh TOTP code, except when it repeats a stored request: the
original result comes back whatever the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank, Token
from wallet.bank.users import Principal, UserService
from wallet.chain.addresses import checksum
from wallet.compliance.audit import AuditLog
from wallet.compliance.policy import Counterparty, Decision, Screened, TransferPolicy, disclosed
from wallet.compliance.travelrule import TravelRule
from wallet.db.models import ChainTx, KycProfile, TransferRequest, User, WalletAccount
from wallet.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TransferRejectedError,
    WalletError,
)
from wallet.idempotency import scoped_key
from wallet.money import format_amount, parse_amount
from wallet.references import decode_reference, encode_reference
from wallet.vocabulary import PolicyOutcome, RequestStatus, Role, TransferState, TxStatus

TRANSFER_STATES = tuple(TransferState)


def transfer_state(request_status: str, tx_status: str | None) -> TransferState:
    """The state a customer sees: held (for a compliance officer), pending (signed, waiting for the
    relayer), submitted (in a batch on its way to the chain), executed (mined), confirmed, final, or
    failed."""
    if request_status == RequestStatus.HELD:
        return TransferState.HELD
    if request_status == RequestStatus.PENDING:
        return TransferState.PENDING
    if request_status == RequestStatus.FAILED:
        return TransferState.FAILED
    if request_status == RequestStatus.QUEUED:
        return TransferState.SUBMITTED
    if tx_status == TxStatus.CONFIRMED:
        return TransferState.CONFIRMED
    if tx_status == TxStatus.FINAL:
        return TransferState.FINAL
    return TransferState.EXECUTED


@dataclass(frozen=True)
class TransferView:
    """A transfer as its owner sees it."""

    id: str
    state: TransferState
    currency: str
    decimals: int
    amount: int
    payer: str
    payee: str
    reference: str | None
    memo: str | None
    tx_hash: str | None
    block_number: int | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    reasons: list[dict[str, Any]]  # the transfer policy's rules that fired, as the customer may read them


class PaymentService:
    """Submits and reads customer transfers."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        users: UserService,
        policy: TransferPolicy,
        *,
        travel: TravelRule | None = None,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.users = users
        self.policy = policy
        self.travel = travel  # IVMS101 records above the travel-rule threshold

    def submit(
        self,
        principal: Principal,
        *,
        idempotency_key: str,
        from_account: str,
        amount: object,
        currency: str,
        to_account: str | None = None,
        to_address: str | None = None,
        to_payee: str | None = None,
        reference: str | None = None,
        memo: str | None = None,
        totp: str | None = None,
        also: Callable[[Session, TransferRequest], None] | None = None,
        preauthorized: bool = False,
    ) -> tuple[TransferView, bool]:
        """Submits a transfer; returns it and whether it was created now (False: a repeated request).

        The transfer policy judges it before anything is signed: a rejection is refused here
        (`TransferRejectedError`, with the audit record of the decision), a hold is stored `held`.
        `also(session, request)` runs last in the transaction that stores a new request (what a payment
        request or a refund records beside it); an error it raises stores nothing. `preauthorized`: the
        customer gave a fresh TOTP code for it earlier (a scheduled bill payment), none is asked now."""
        principal.require(Role.CUSTOMER)
        key = scoped_key(principal.user_id, idempotency_key)
        order = self._order(principal, from_account, amount, currency, to_account, to_address, to_payee)
        payment_reference = encode_reference(reference)
        threshold = self.bank.config.totp_transfer_threshold * 10**order.token.decimals
        # A repeat of a stored request gets the original back without a second TOTP code, and is not
        # judged again: what it was judged by has changed since (its own amount is spent, say).
        guard = None
        if self.bank.transfers.by_key(key) is None:
            guard = self._door(principal, order)
            with self.bank.readers() as session:
                guard.funds.check(session)
                decision = guard.judge(session)
            if decision.outcome == PolicyOutcome.REJECT:
                raise self._rejected(principal, order, decision)
            if order.value > threshold and not preauthorized:
                self.users.check_fresh_totp(principal.user_id, totp)
            guard.also = also
        try:
            request, created = self.bank.transfers.submit_or_get(
                idempotency_key=key,
                token=order.account.token,
                payer=order.account.address,
                payee=order.counterparty.address,
                value=order.value,
                payment_reference=payment_reference,
                owner_id=principal.user_id,
                memo=memo or None,
                guard=guard,
            )
        except _RejectedError as rejected:  # judged again with the customer's row locked
            raise self._rejected(principal, order, rejected.decision) from None
        return self.view(request), created

    def check(
        self,
        principal: Principal,
        *,
        from_account: str,
        amount: object,
        currency: str,
        to_account: str | None = None,
        to_address: str | None = None,
        to_payee: str | None = None,
    ) -> TransferCheck:
        """A dry run: what `submit` would decide for this transfer now, and why. Nothing is stored or
        signed. A refusal at the door (funds, the account's or the payee's standing) is a `reject`
        with the rule `door` and the problem it would be."""
        principal.require(Role.CUSTOMER)
        order = self._order(principal, from_account, amount, currency, to_account, to_address, to_payee)
        try:
            guard = self._door(principal, order)
            with self.bank.readers() as session:
                available = guard.funds.check(session)
                decision = guard.judge(session)
        except WalletError as refused:
            if isinstance(refused, (NotFoundError, AuthError)):
                raise
            door_rule = {
                "rule": "door",
                "outcome": PolicyOutcome.REJECT.value,
                "explanation": str(refused),
                "problem": refused.code,
            }
            return TransferCheck(PolicyOutcome.REJECT, [door_rule], None, None)
        rules = disclosed(decision.as_json())
        return TransferCheck(decision.outcome, rules, decision.policy_version, available)

    def get(self, principal: Principal, transfer_id: str) -> TransferView:
        """A transfer the caller may read: their own, or any for staff."""
        request = self.bank.transfers.get(transfer_id)
        if request is None or (request.owner_id != principal.user_id and not principal.is_staff):
            raise NotFoundError("transfer", transfer_id)
        return self.view(request)

    def history(
        self, principal: Principal, *, limit: int = 50, before: str | None = None
    ) -> list[TransferView]:
        """The caller's transfers, newest first."""
        with self.bank.readers() as session:
            query = select(TransferRequest).where(TransferRequest.owner_id == principal.user_id)
            if before is not None:
                anchor = session.get(TransferRequest, before)
                if anchor is None or anchor.owner_id != principal.user_id:
                    raise NotFoundError("transfer", before)
                query = query.where(TransferRequest.created_at < anchor.created_at)
            rows = list(session.scalars(query.order_by(TransferRequest.created_at.desc()).limit(limit)))
        return [self.view(r) for r in rows]

    def view(self, request: TransferRequest, tx: ChainTx | None = None) -> TransferView:
        """The customer's view of a stored request."""
        if tx is None and request.chain_tx_id is not None:
            tx = self.bank.chain_tx(request.chain_tx_id)
        token = self.bank.token_at(request.token)
        error = (
            {
                "name": request.error_name,
                "args": request.error_args or {},
                "problem": door.customer_problem(request.error_name, request.error_args, request.payer),
            }
            if request.status == RequestStatus.FAILED
            else None
        )
        mined = request.status == RequestStatus.EXECUTED and tx is not None
        return TransferView(
            id=request.id,
            state=transfer_state(request.status, tx.status if tx else None),
            currency=token.currency,
            decimals=token.decimals,
            amount=request.value,
            payer=request.payer,
            payee=request.payee,
            reference=decode_reference(bytes(request.payment_reference)),
            memo=request.memo,
            tx_hash=(request.executed_tx_hash or tx.tx_hash) if mined and tx else None,
            block_number=(request.executed_block or tx.block_number) if mined and tx else None,
            error=error,
            created_at=request.created_at,
            updated_at=request.updated_at,
            reasons=disclosed(request.policy),
        )

    def _order(
        self,
        principal: Principal,
        from_account: str,
        amount: object,
        currency: str,
        to_account: str | None,
        to_address: str | None,
        to_payee: str | None,
    ) -> _Order:
        account = self.accounts.owned(principal, from_account)
        token = self.bank.token(currency)  # an unknown currency is named as such
        if currency != account.currency:
            raise InvalidRequestError(f"the account {account.id} holds {account.currency}, not {currency}")
        value = parse_amount(amount, currency)
        door.check_amount(value)
        counterparty = self._counterparty(principal, account.currency, to_account, to_address, to_payee)
        if counterparty.address == account.address:
            raise InvalidRequestError("the payer and the payee are the same address")
        return _Order(account, token, value, counterparty)

    def _door(self, principal: Principal, order: _Order) -> _Guard:
        """The refusals at the door (the account, the chain's standing of both parties), and the guard
        that judges the funds and the policy where the transfer is stored."""
        if not self.accounts.is_active(order.account):
            raise ConflictError(
                f"the account {order.account.id} is not active yet: your identity verification or its "
                "registration on chain is pending"
            )
        standing = door.chain_standing(order.token, order.account.address, order.counterparty.address)
        door.check_standing(standing, order.token.currency)
        funds = door.FundsGuard(
            self.bank, order.token, order.account, order.value, standing.payer_frozen_amount
        )
        return _Guard(
            self.policy, principal, order, funds, self.policy.screen(order.counterparty), self.travel
        )

    def _rejected(self, principal: Principal, order: _Order, decision: Decision) -> TransferRejectedError:
        """Writes the rejection to the audit log (its own transaction: nothing else is stored) and
        returns the customer's problem."""
        with self.bank.sessions.begin() as session:
            AuditLog.append(
                session,
                actor=principal.username,
                action="policy.rejected",
                subject=f"user:{principal.user_id}",
                details={**order.summary(), **decision.as_json()},
            )
        rules = disclosed(decision.as_json())
        detail = "; ".join(r["explanation"] for r in rules)
        return TransferRejectedError(f"the bank cannot make this payment: {detail}", rules)

    def _counterparty(
        self,
        principal: Principal,
        currency: str,
        to_account: str | None,
        to_address: str | None,
        to_payee: str | None,
    ) -> Counterparty:
        given = [x for x in (to_account, to_address, to_payee) if x is not None]
        if len(given) != 1:
            raise InvalidRequestError("give exactly one of to_account, to_address and to_payee")
        if to_account is not None:
            target = self.accounts.any_account(to_account)
            if target.currency != currency:
                raise InvalidRequestError(f"the account {to_account} holds {target.currency}, not {currency}")
            return self._customer(target.address, target.user_id)
        if to_payee is not None:
            payee = self.accounts.payee(principal, to_payee)
            own = self.accounts.by_address(payee.address, currency)
            if own is not None:
                return self._customer(payee.address, own.user_id, payee.name, payee.country)
            return Counterparty(payee.address, payee.name, payee.country)
        address = checksum(to_address)
        if address is None:
            raise InvalidRequestError(f"{to_address!r} is not an Ethereum address")
        own = self.accounts.by_address(address, currency)
        return self._customer(address, own.user_id) if own is not None else Counterparty(address)

    def _customer(
        self, address: str, user_id: str, name: str | None = None, country: str | None = None
    ) -> Counterparty:
        """A counterparty who is a customer of this bank: their own name and country as they gave them
        for their verification (and the name the payer saved them under, screened too)."""
        with self.bank.readers() as session:
            user = session.get(User, user_id)
            profile = session.get(KycProfile, user_id)
        others: tuple[str, ...] = ()
        if user is not None and user.full_name:
            others = (name,) if name and name != user.full_name else ()
            name = user.full_name
        if profile is not None:
            country = profile.residence_country
        return Counterparty(address, name, country, user_id, others)


@dataclass(frozen=True)
class TransferCheck:
    """A dry run's answer: the outcome, the rules a customer may read, the policy version, and the
    available balance (None when refused at the door)."""

    outcome: PolicyOutcome
    rules: list[dict[str, Any]]
    policy_version: int | None
    available: int | None


@dataclass(frozen=True)
class _Order:
    """A transfer as asked, checked for form: the paying account, its token, the amount, the payee."""

    account: WalletAccount
    token: Token
    value: int
    counterparty: Counterparty

    def summary(self) -> dict[str, Any]:
        return {
            "currency": self.token.currency,
            "amount": format_amount(self.value, self.token.decimals),
            "from": self.account.address,
            "to": self.counterparty.address,
            "to_name": self.counterparty.name,
        }


class _RejectedError(Exception):
    """The policy, judging again inside the storing transaction, rejects: nothing is stored."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.outcome)
        self.decision = decision


class _Guard:
    """Runs inside the transaction that stores a new transfer: with the customer's row locked (so their
    concurrent transfers are judged one after the other), checks the funds, judges the policy, and
    stamps the decision on the request (held, if so), with its audit record and any screening hits."""

    def __init__(
        self,
        policy: TransferPolicy,
        principal: Principal,
        order: _Order,
        funds: door.FundsGuard,
        screened: Screened,
        travel: TravelRule | None = None,
    ) -> None:
        self.policy = policy
        self.principal = principal
        self.order = order
        self.funds = funds
        self.screened = screened
        self.travel = travel
        self.also: Callable[[Session, TransferRequest], None] | None = None

    def judge(self, session: Session) -> Decision:
        user = session.get(User, self.principal.user_id)
        if user is None:
            raise NotFoundError("customer", self.principal.user_id)
        return self.policy.decide(
            session,
            user=user,
            token=self.order.token.address,
            currency=self.order.token.currency,
            value=self.order.value,
            counterparty=self.order.counterparty,
            screened=self.screened,
        )

    def __call__(self, session: Session, request: TransferRequest) -> None:
        repeat = session.scalar(
            select(TransferRequest.id).where(TransferRequest.idempotency_key == request.idempotency_key)
        )
        if repeat is not None:
            return  # answered with the stored request, not judged again
        session.scalar(select(User.id).where(User.id == self.principal.user_id).with_for_update())
        self.funds.check_locked(session)
        decision = self.judge(session)
        if decision.outcome == PolicyOutcome.REJECT:
            raise _RejectedError(decision)
        request.policy = decision.as_json()
        if decision.outcome == PolicyOutcome.HOLD:
            request.status = RequestStatus.HELD
        subject = f"transfer:{request.id}"
        AuditLog.append(
            session,
            actor=self.principal.username,
            action=f"policy.{'held' if decision.outcome == PolicyOutcome.HOLD else 'allowed'}",
            subject=subject,
            details={**self.order.summary(), **decision.as_json()},
        )
        if self.travel is not None:
            self.travel.record(
                session,
                request,
                currency=self.order.token.currency,
                payer_id=self.principal.user_id,
                payee_user_id=self.order.counterparty.user_id,
                payee_name=self.order.counterparty.name,
            )
        if self.screened.matches:
            self.policy.sanctions.record(
                session,
                subject=subject,
                user_id=self.principal.user_id,
                name=self.order.counterparty.name or "",
                matches=list(self.screened.matches),
                actor=self.principal.username,
            )
        if self.also is not None:
            self.also(session, request)
