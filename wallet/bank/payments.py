"""Customer payments: a transfer from one of the caller's accounts to another account of the bank, an
address, or a saved payee, signed with the customer's custodial key and relayed by the bank.

The caller's idempotency key is scoped to the caller (two customers may use the same key). A transfer
above the configured threshold needs a fresh TOTP code, except when it repeats a stored request: the
original result comes back whatever the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.users import Principal, UserService
from wallet.chain.addresses import checksum
from wallet.db.models import ChainTx, TransferRequest
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.idempotency import scoped_key
from wallet.money import parse_amount
from wallet.references import decode_reference, encode_reference
from wallet.vocabulary import RequestStatus, Role, TransferState, TxStatus

TRANSFER_STATES = tuple(TransferState)


def transfer_state(request_status: str, tx_status: str | None) -> TransferState:
    """The state a customer sees: pending (signed, waiting for the relayer), submitted (in a batch on
    its way to the chain), executed (mined), confirmed, final, or failed."""
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


class PaymentService:
    """Submits and reads customer transfers."""

    def __init__(self, bank: Bank, accounts: AccountService, users: UserService) -> None:
        self.bank = bank
        self.accounts = accounts
        self.users = users

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
    ) -> tuple[TransferView, bool]:
        """Submits a transfer; returns it and whether it was created now (False: a repeated request)."""
        principal.require(Role.CUSTOMER)
        key = scoped_key(principal.user_id, idempotency_key)
        account = self.accounts.owned(principal, from_account)
        token = self.bank.token(currency)  # an unknown currency is named as such
        if currency != account.currency:
            raise InvalidRequestError(f"the account {account.id} holds {account.currency}, not {currency}")
        value = parse_amount(amount, currency)
        door.check_amount(value)
        payee = self._payee(principal, account.currency, to_account, to_address, to_payee)
        if payee == account.address:
            raise InvalidRequestError("the payer and the payee are the same address")
        payment_reference = encode_reference(reference)
        threshold = self.bank.config.totp_transfer_threshold * 10**token.decimals
        # A repeat of a stored request gets the original back without a second TOTP code, and is not
        # judged again: what it was judged by has changed since (its own amount is spent, say).
        guard = None
        if self.bank.transfers.by_key(key) is None:
            if not self.accounts.is_active(account):
                raise ConflictError(
                    f"the account {account.id} is not active yet: your identity verification or its "
                    "registration on chain is pending"
                )
            standing = door.chain_standing(token, account.address, payee)
            door.check_standing(standing, currency)
            guard = door.FundsGuard(self.bank, token, account, value, standing.payer_frozen_amount)
            with self.bank.readers() as session:
                guard.check(session)
            if value > threshold:
                self.users.check_fresh_totp(principal.user_id, totp)
        request, created = self.bank.transfers.submit_or_get(
            idempotency_key=key,
            token=account.token,
            payer=account.address,
            payee=payee,
            value=value,
            payment_reference=payment_reference,
            owner_id=principal.user_id,
            memo=memo or None,
            guard=guard,
        )
        return self.view(request), created

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
        )

    def _payee(
        self,
        principal: Principal,
        currency: str,
        to_account: str | None,
        to_address: str | None,
        to_payee: str | None,
    ) -> str:
        given = [x for x in (to_account, to_address, to_payee) if x is not None]
        if len(given) != 1:
            raise InvalidRequestError("give exactly one of to_account, to_address and to_payee")
        if to_account is not None:
            target = self.accounts.any_account(to_account)
            if target.currency != currency:
                raise InvalidRequestError(f"the account {to_account} holds {target.currency}, not {currency}")
            return target.address
        if to_payee is not None:
            return self.accounts.payee(principal, to_payee).address
        address = checksum(to_address)
        if address is None:
            raise InvalidRequestError(f"{to_address!r} is not an Ethereum address")
        return address
