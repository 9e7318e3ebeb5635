"""Refusing at the door what the chain would refuse, in the customer's terms, before anything is signed.

A customer transfer is checked in the order the token checks it (docs/token-design.md, "Rules on every
movement"): the token is not paused, the payer may send (verified, not expired, not blocked, not
frozen), the amount is within the available balance, the payee may receive. The compliance state is
read from the token itself at the chain's head, since the token's own cache is what a transfer is judged
by; the balance comes from the ledger mirror.

Available = the mirrored balance - the frozen amount - the customer's own transfers accepted and not yet
in the mirror (held by the transfer policy, waiting, or on their way) - the customer's legs of
settlements (conversions, payments between banks) accepted and not yet in the mirror.

The last part is summed inside the database transaction that stores the new transfer,
with the payer's account row locked (PostgreSQL) or the write lock held (SQLite), so concurrent submits
of one payer are judged one after the other and cannot overspend together.

The chain stays the judge: a transfer that passes here and is refused on chain after all (a freeze in
between) ends `failed`, and `customer_problem` names that failure with the same problem type as these
refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Numeric, Select, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from wallet.bank.core import Bank, Token
from wallet.db.models import (
    ChainTx,
    IndexerCursor,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    Settlement,
    SettlementLeg,
    TransferRequest,
    WalletAccount,
)
from wallet.errors import (
    AccountRestrictedError,
    InsufficientFundsError,
    MoneyError,
    PayeeNotVerifiedError,
    PaymentsSuspendedError,
    TransferRejectedError,
)
from wallet.ledger.indexer import ZERO_ADDRESS
from wallet.ledger.reconcile import holder_balance_query
from wallet.money import format_amount
from wallet.vocabulary import RequestStatus, SettlementStatus

REJECTED_BY_COMPLIANCE = "RejectedByCompliance"  # a held transfer's `error_name` when an officer refuses it
MAX_TOKEN_AMOUNT = 2**96 - 1  # the token's supply cap: no balance, so no transfer, is ever larger

# The token's errors, as the customer is told them (the account they name decides payer or payee).
_COMPLIANCE_ERRORS = {
    "DepositTokenAccountNotVerified",
    "DepositTokenAccountBlocked",
    "DepositTokenKycExpired",
    "DepositTokenAccountFrozen",
    "DepositTokenComplianceStale",
}
_FUNDS_ERRORS = {"ERC20InsufficientBalance", "DepositTokenInsufficientUnfrozenBalance"}


@dataclass(frozen=True)
class ChainStanding:
    """What the token says about a payment's two parties, at the chain's head."""

    paused: bool
    payer_allowed: bool
    payer_frozen: bool
    payer_frozen_amount: int
    payee_allowed: bool


def chain_standing(token: Token, payer: str, payee: str) -> ChainStanding:
    """Reads the token's view of `payer` and `payee` (five calls at the head block)."""
    functions = token.contract.functions
    head = token.contract.w3.eth.block_number
    return ChainStanding(
        paused=bool(functions.paused().call(block_identifier=head)),
        payer_allowed=bool(functions.isAllowed(payer).call(block_identifier=head)),
        payer_frozen=bool(functions.isFrozen(payer).call(block_identifier=head)),
        payer_frozen_amount=int(functions.frozenBalanceOf(payer).call(block_identifier=head)),
        payee_allowed=payee != ZERO_ADDRESS and bool(functions.isAllowed(payee).call(block_identifier=head)),
    )


def check_standing(standing: ChainStanding, currency: str) -> None:
    """Raises the customer's problem for the first rule the token would break, in the token's order."""
    if standing.paused:
        raise PaymentsSuspendedError(f"payments in {currency} are suspended by the bank; try again later")
    if not standing.payer_allowed:
        raise AccountRestrictedError(
            "your account cannot send payments: its verification expired or it is restricted; "
            "contact the bank"
        )
    if standing.payer_frozen:
        raise AccountRestrictedError("your account is frozen; contact the bank")
    if not standing.payee_allowed:
        raise PayeeNotVerifiedError(
            "the payee cannot receive this payment: it is not a verified account of a bank on this chain"
        )


def check_amount(value: int) -> None:
    """No balance can exceed the token's supply cap; an amount above it is refused as such."""
    if value > MAX_TOKEN_AMOUNT:
        raise MoneyError("the amount is larger than any deposit token balance can be")


def available_query(chain_id: int, token: str, payer: str) -> Select[int, int, int | None]:
    """One statement, so one snapshot on either database: (the payer's mirrored balance, the sum of
    their transfers accepted and not yet in the mirror, the mirror's block). Not yet in the mirror:
    waiting for the relayer, on their way, or mined in a block the mirror has not reached. Read in two
    statements, an indexer step committed between them counts a transfer twice (in the balance, and
    as ahead of the block read before)."""
    mirror_block = (
        select(IndexerCursor.block_number).where(IndexerCursor.chain_id == chain_id).scalar_subquery()
    )
    # A queued transfer whose batch the indexer mirrored before the outbox saw its receipt is in the
    # balance already: its own debit (the payer's leg of that amount in that transaction) is there.
    mirrored = (
        select(JournalLeg.id)
        .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
        .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
        .where(
            JournalEntry.chain_id == chain_id,
            JournalEntry.tx_hash == ChainTx.tx_hash,
            LedgerAccount.token == token,
            LedgerAccount.holder == payer,
            JournalLeg.amount == -type_coerce(TransferRequest.value, Numeric()),
        )
        .exists()
    )
    in_flight = (
        TransferRequest.status.in_([RequestStatus.HELD, RequestStatus.PENDING, RequestStatus.QUEUED])
        & ~mirrored
    )
    mined_ahead = (TransferRequest.status == RequestStatus.EXECUTED) & or_(
        ChainTx.block_number.is_(None), ChainTx.block_number > func.coalesce(mirror_block, -1)
    )
    spent = (
        select(func.coalesce(func.sum(TransferRequest.value), 0))
        .outerjoin(ChainTx, ChainTx.id == TransferRequest.chain_tx_id)
        .where(TransferRequest.token == token, TransferRequest.payer == payer, or_(in_flight, mined_ahead))
        .scalar_subquery()
    )
    balance = holder_balance_query(chain_id, token, payer).scalar_subquery()
    settling = _settling(chain_id, token, payer, mirror_block)
    # Amounts are strings to SQLAlchemy on SQLite (see `Amount`): added as numbers, not concatenated.
    return select(balance, type_coerce(spent, Numeric()) + type_coerce(settling, Numeric()), mirror_block)


def _settling(chain_id: int, token: str, payer: str, mirror_block: Any) -> Any:
    """The payer's legs of settlements accepted and not yet in the mirror (`wallet.tx.settlements`),
    by the same rules as transfers: pending or on their way unless the mirror holds the leg's debit
    already, or settled in a block the mirror has not reached."""
    mirrored = (
        select(JournalLeg.id)
        .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
        .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
        .where(
            JournalEntry.chain_id == chain_id,
            JournalEntry.tx_hash == ChainTx.tx_hash,
            LedgerAccount.token == token,
            LedgerAccount.holder == payer,
            JournalLeg.amount == -type_coerce(SettlementLeg.value, Numeric()),
        )
        .exists()
    )
    in_flight = Settlement.status.in_([SettlementStatus.PENDING, SettlementStatus.SUBMITTED]) & ~mirrored
    settled_ahead = (Settlement.status == SettlementStatus.SETTLED) & or_(
        ChainTx.block_number.is_(None), ChainTx.block_number > func.coalesce(mirror_block, -1)
    )
    return (
        select(func.coalesce(func.sum(SettlementLeg.value), 0))
        .join(Settlement, Settlement.id == SettlementLeg.settlement_id)
        .outerjoin(ChainTx, ChainTx.id == Settlement.chain_tx_id)
        .where(SettlementLeg.token == token, SettlementLeg.payer == payer, or_(in_flight, settled_ahead))
        .scalar_subquery()
    )


def available_to(
    session: Session, chain_id: int, token: str, holder: str, *, frozen: int = 0
) -> tuple[int, int | None]:
    """(what `holder` can still pay in `token` as `session` sees it, the mirror's block): the mirrored
    balance less `frozen` and less everything of theirs accepted and not yet in the mirror."""
    balance, spent, block = session.execute(available_query(chain_id, token, holder)).one()
    return max(0, int(balance) - frozen - int(spent)), block


class FundsGuard:
    """Checks, inside the transaction that stores a transfer, that its payer can afford it."""

    def __init__(self, bank: Bank, token: Token, account: WalletAccount, value: int, frozen: int) -> None:
        self.bank = bank
        self.token = token
        self.account = account
        self.value = value
        self.frozen = frozen

    def available(self, session: Session) -> tuple[int, int | None]:
        """(available minor units, the mirror's block), read in `session`."""
        return available_to(
            session, self.bank.chain_id, self.token.address, self.account.address, frozen=self.frozen
        )

    def check(self, session: Session) -> int:
        """Raises `InsufficientFundsError` unless the payer can afford the transfer as `session` sees it
        (the early look, before a TOTP code is spent or anything signed); returns the available amount."""
        available, block = self.available(session)
        if self.value > available:
            raise InsufficientFundsError(
                available, self.token.currency, format_amount(available, self.token.decimals), block
            )
        return available

    def check_locked(self, session: Session) -> None:
        """`check`, inside the transaction that stores the transfer, with the payer's account row locked
        until it commits, so concurrent submits queue here."""
        session.scalar(select(WalletAccount.id).where(WalletAccount.id == self.account.id).with_for_update())
        self.check(session)


def customer_problem(error_name: str | None, error_args: dict[str, Any] | None, payer: str) -> str | None:
    """The problem code a customer is shown for a transfer the chain refused, matching the refusals at
    the door: `insufficient-funds`, `account-restricted` (the payer's own standing), `payee-not-verified`
    or `payments-suspended`; None for anything else (the contract's own error is shown as it is)."""
    if error_name is None:
        return None
    if error_name in _FUNDS_ERRORS:
        return InsufficientFundsError.code
    if error_name == "EnforcedPause":
        return PaymentsSuspendedError.code
    if error_name in _COMPLIANCE_ERRORS:
        account = str((error_args or {}).get("account", ""))
        return AccountRestrictedError.code if account.lower() == payer.lower() else PayeeNotVerifiedError.code
    if error_name == REJECTED_BY_COMPLIANCE:
        return TransferRejectedError.code
    if error_name == "DepositTokenZeroAddress":
        return PayeeNotVerifiedError.code
    return None


__all__ = [
    "MAX_TOKEN_AMOUNT",
    "ChainStanding",
    "FundsGuard",
    "available_to",
    "chain_standing",
    "check_amount",
    "check_standing",
    "customer_problem",
]
