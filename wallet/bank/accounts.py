"""Customers' wallet accounts (one per currency, all on the customer's one custodial address), their
balances from the ledger mirror, their statements, and saved payees.

Who may see what is decided here, not in the HTTP layer: a customer sees only their own accounts and
payees (anyone else's is "not found", so ids cannot be probed); bank staff may read any account.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.chain.rpc import BlockTimes
from wallet.compliance.matching import Subject
from wallet.compliance.screening import SanctionsLists
from wallet.db.models import ChainTx, JournalEntry, JournalLeg, LedgerAccount, Payee, User, WalletAccount
from wallet.errors import (
    BlockedAddressError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from wallet.keys.keystore import Keystore, customer_key
from wallet.ledger.statements import FORMATS, Issuer, Statement, build_statement, render
from wallet.references import reference_text
from wallet.vocabulary import AccountStatus, EntryState, KycStatus, Role, TxStatus

MAX_STATEMENT_DAYS = 366


@dataclass(frozen=True)
class Movement:
    """A movement on an account as the mirror holds it, with how settled it is."""

    time: datetime
    block_number: int
    state: EntryState
    amount: int  # minor units, signed: positive credits the account
    counterparty: str
    counterparty_name: str | None
    reference: str | None


@dataclass(frozen=True)
class AccountView:
    """An account as its owner sees it."""

    id: str
    user_id: str
    currency: str
    address: ChecksumAddress
    token: ChecksumAddress
    status: AccountStatus  # pending (KYC registration on its way), active, or rejected
    created_at: datetime


@dataclass(frozen=True)
class Balance:
    """An account's balance from the ledger mirror, and the block it is as of."""

    account_id: str
    currency: str
    decimals: int
    balance: int
    as_of_block: int | None


def account_status(kyc_tx: ChainTx | None) -> AccountStatus:
    """An account is active once its KYC registration is on chain; without one (its customer is not
    verified yet) it is `pending_kyc`."""
    if kyc_tx is None:
        return AccountStatus.PENDING_KYC
    if kyc_tx.status in (TxStatus.INCLUDED, TxStatus.CONFIRMED, TxStatus.FINAL):
        return AccountStatus.ACTIVE
    return AccountStatus.REJECTED if kyc_tx.status == TxStatus.FAILED else AccountStatus.PENDING


class AccountService:
    """Opens and reads wallet accounts; manages payees."""

    def __init__(self, bank: Bank, keystore: Keystore, sanctions: SanctionsLists | None = None) -> None:
        self.bank = bank
        self.keystore = keystore
        self.sanctions = sanctions
        # Account rows never change once registered (a pending_kyc row gets its registration when the
        # customer is verified, so only registered rows are cached), and an account whose KYC
        # registration is final stays active: both are cached, saving two reads on every transfer.
        self._rows: dict[str, WalletAccount] = {}
        self._final_kyc: set[str] = set()

    def is_active(self, account: WalletAccount) -> bool:
        """Whether the account's KYC registration is on chain."""
        if account.id in self._final_kyc:
            return True
        tx = self.bank.chain_tx(account.kyc_tx_id)
        if tx is not None and tx.status == TxStatus.FINAL:
            self._final_kyc.add(account.id)
        return account_status(tx) == AccountStatus.ACTIVE

    # -------------------------------------------------------------------------------- accounts ---

    def open(self, principal: Principal, currency: str) -> AccountView:
        """Opens `principal`'s account in `currency` on their custodial address (created on first use).
        A verified customer's address is registered with the compliance registry by the compliance key,
        once for all currencies; an unverified customer's account is `pending_kyc`, and nothing goes on
        chain until compliance verifies them (`Onboarding.decide`)."""
        principal.require(Role.CUSTOMER)
        token = self.bank.token(currency)
        address = customer_key(self.keystore, principal.user_id).address
        with self.bank.sessions.begin() as session:
            # Locked, so that a verification deciding at the same moment sees this account or precedes it.
            user = session.get(User, principal.user_id, with_for_update=True)
            if user is None:
                raise NotFoundError("user", principal.user_id)
            if user.kyc_status == KycStatus.REJECTED:
                raise PermissionDeniedError("your identity verification was declined; contact the bank")
            mine = list(
                session.scalars(select(WalletAccount).where(WalletAccount.user_id == principal.user_id))
            )
            if any(a.currency == currency for a in mine):
                raise ConflictError(f"you have a {currency} account already")
            kyc_tx_id = next((a.kyc_tx_id for a in mine if a.kyc_tx_id), None)
            if kyc_tx_id is None and user.kyc_status == KycStatus.VERIFIED:
                kyc_tx_id = self.bank.enqueue_kyc(session, address, user=user).id
            account = WalletAccount(
                id=uuid.uuid4().hex,
                user_id=principal.user_id,
                currency=currency,
                token=token.address,
                address=address,
                kyc_tx_id=kyc_tx_id,
            )
            session.add(account)
            try:
                session.flush()
            except IntegrityError:
                raise ConflictError(f"you have a {currency} account already") from None
        return self._view(account)

    def accounts_of(self, principal: Principal, user_id: str | None = None) -> list[AccountView]:
        """The caller's accounts; staff may list another user's with `user_id`."""
        owner = principal.user_id
        if user_id is not None and user_id != principal.user_id:
            if not principal.is_staff:
                raise NotFoundError("user", user_id)
            owner = user_id
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(WalletAccount)
                    .where(WalletAccount.user_id == owner)
                    .order_by(WalletAccount.created_at)
                )
            )
        return [self._view(a) for a in rows]

    def get(self, principal: Principal, account_id: str) -> AccountView:
        """An account the caller may read."""
        return self._view(self.row(principal, account_id))

    def row(self, principal: Principal, account_id: str) -> WalletAccount:
        """The account row, if the caller may read it: its owner or staff."""
        account = self._row(account_id)
        if account is None or (account.user_id != principal.user_id and not principal.is_staff):
            raise NotFoundError("account", account_id)
        return account

    def owned(self, principal: Principal, account_id: str) -> WalletAccount:
        """The account, if the caller owns it (moving money needs ownership, not just sight)."""
        account = self.row(principal, account_id)
        if account.user_id != principal.user_id:
            raise NotFoundError("account", account_id)
        return account

    def active_in(
        self, principal: Principal, account_id: str | None, currency: str, *, field: str = "account"
    ) -> WalletAccount:
        """The caller's active account in `currency` that a settlement pays from or into: `account_id`
        (named as `field` in a refusal), or by default their first account in that currency."""
        if account_id is not None:
            account = self.owned(principal, account_id)
            if account.currency != currency:
                raise InvalidRequestError(f"{field} {account_id} holds {account.currency}, not {currency}")
        else:
            with self.bank.readers() as session:
                found = session.scalars(
                    select(WalletAccount)
                    .where(WalletAccount.user_id == principal.user_id, WalletAccount.currency == currency)
                    .order_by(WalletAccount.created_at)
                ).first()
            if found is None:
                raise InvalidRequestError(f"you have no {currency} account; open one first")
            account = found
        if not self.is_active(account):
            raise InvalidRequestError(
                f"the account {account.id} is not active yet: its registration on chain is pending"
            )
        return account

    def balance(self, principal: Principal, account_id: str) -> Balance:
        """The account's balance from the ledger mirror."""
        account = self.row(principal, account_id)
        token = self.bank.token(account.currency)
        amount, block = self.bank.mirrored_balance(account.token, account.address)
        return Balance(account.id, account.currency, token.decimals, amount, block)

    def statement(
        self, principal: Principal, account_id: str, period_from: date, period_to: date, fmt: str
    ) -> tuple[Statement, bytes]:
        """The account's statement for a period (inclusive, UTC days) in one of `FORMATS`."""
        if fmt not in FORMATS:
            raise InvalidRequestError(f"the format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if period_to < period_from:
            raise InvalidRequestError(f"the period ends ({period_to}) before it starts ({period_from})")
        if (period_to - period_from).days >= MAX_STATEMENT_DAYS:
            raise InvalidRequestError(f"a statement covers at most {MAX_STATEMENT_DAYS} days")
        if period_from > datetime.now(UTC).date():
            # Also keeps the period's end (at most MAX_STATEMENT_DAYS later) far from date.max.
            raise InvalidRequestError(f"the period starts ({period_from}) in the future")
        account = self.row(principal, account_id)
        token = self.bank.token(account.currency)
        names = self.bank.names()
        names[account.address] = f"account {account.id}"
        with self.bank.readers() as session:
            owner = session.get(User, account.user_id)
            owner_name = (owner.full_name or owner.username) if owner is not None else None

        def customers(addresses: Iterable[str]) -> dict[str, str]:
            """The names of the bank's customers among `addresses` (never their login names)."""
            with self.bank.readers() as session:
                rows = session.execute(
                    select(WalletAccount.address, User.full_name)
                    .join(User, User.id == WalletAccount.user_id)
                    .where(WalletAccount.address.in_(list(addresses)))
                ).all()
            bank = self.bank.manifest.bank_name
            return {address: name or f"{bank} customer" for address, name in rows}

        statement = build_statement(
            self.bank.sessions,
            BlockTimes(self.bank.w3),
            chain_id=self.bank.chain_id,
            token=token.address,
            currency=account.currency,
            exponent=token.decimals,
            account=account.address,
            period_from=period_from,
            period_to=period_to,
            names=names,
            lookup=customers,
            owner_name=owner_name,
            bank=Issuer(self.bank.manifest.bank_name, self.bank.config.address, self.bank.config.bic),
        )
        return statement, render(statement, fmt)

    def arriving(self, principal: Principal, account_id: str, *, limit: int = 50) -> list[Movement]:
        """What moved on the account that the chain has not settled past the finality depth yet
        (statements hold final movements only), newest first, each with how settled it is."""
        account = self.row(principal, account_id)
        token = self.bank.token(account.currency)
        other_leg, other_account = aliased(JournalLeg), aliased(LedgerAccount)
        names = self.bank.names()
        with self.bank.readers() as session:
            rows = session.execute(
                select(
                    JournalEntry.block_time,
                    JournalEntry.block_number,
                    JournalEntry.state,
                    JournalEntry.payment_reference,
                    JournalLeg.amount,
                    other_account.holder,
                )
                .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                .join(
                    other_leg, (other_leg.entry_id == JournalLeg.entry_id) & (other_leg.id != JournalLeg.id)
                )
                .join(other_account, other_account.id == other_leg.account_id)
                .where(
                    LedgerAccount.chain_id == self.bank.chain_id,
                    LedgerAccount.token == token.address,
                    LedgerAccount.holder == account.address,
                    JournalEntry.posted.is_(True),
                    JournalEntry.state != EntryState.FINAL,
                )
                .order_by(JournalEntry.block_number.desc(), JournalEntry.log_index.desc())
                .limit(limit)
            ).all()
            customers = dict(
                session.execute(
                    select(WalletAccount.address, User.full_name)
                    .join(User, User.id == WalletAccount.user_id)
                    .where(WalletAccount.address.in_({row[5] for row in rows}))
                ).all()
            )
        return [
            Movement(
                time=datetime.fromtimestamp(block_time, UTC),
                block_number=number,
                state=state,
                amount=int(amount),
                counterparty=holder,
                counterparty_name=names.get(holder) or customers.get(holder),
                reference=reference_text(reference),
            )
            for block_time, number, state, reference, amount, holder in rows
        ]

    def by_address(self, address: str, currency: str) -> WalletAccount | None:
        """The account on `address` in `currency`, if a customer of this bank has one."""
        with self.bank.readers() as session:
            return session.scalars(
                select(WalletAccount).where(
                    WalletAccount.address == address, WalletAccount.currency == currency
                )
            ).first()

    def any_account(self, account_id: str) -> WalletAccount:
        """Any customer's account by id: a payment target (only its address is used)."""
        account = self._row(account_id)
        if account is None:
            raise NotFoundError("account", account_id)
        return account

    def _row(self, account_id: str) -> WalletAccount | None:
        account = self._rows.get(account_id)
        if account is None:
            with self.bank.readers() as session:
                account = session.get(WalletAccount, account_id)
            if account is not None and account.kyc_tx_id is not None:
                if len(self._rows) > 100_000:
                    self._rows.clear()
                self._rows[account_id] = account
        return account

    def _view(self, account: WalletAccount) -> AccountView:
        return AccountView(
            id=account.id,
            user_id=account.user_id,
            currency=account.currency,
            address=to_checksum_address(account.address),
            token=to_checksum_address(account.token),
            status=account_status(self.bank.chain_tx(account.kyc_tx_id)),
            created_at=account.created_at,
        )

    # ---------------------------------------------------------------------------------- payees ---

    def add_payee(self, principal: Principal, name: str, address: str, country: str | None = None) -> Payee:
        """Saves `address` under `name` (and the payee's `country`, if known) for the caller."""
        principal.require(Role.CUSTOMER)
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidRequestError("a payee name is 1 to 100 characters")
        if not is_address(address):
            raise InvalidRequestError(f"{address!r} is not an Ethereum address")
        if country is not None:
            country = country.strip().upper()
            if len(country) != 2 or not country.isalpha():
                raise InvalidRequestError("a payee's country is an ISO 3166-1 alpha-2 code, like 'CH'")
        payee = Payee(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            name=name,
            address=to_checksum_address(address),
            country=country,
        )
        # Screened as it is saved: an address on a sanctions list is refused; a name that matches an
        # entry is saved with its hit, which holds every transfer to it for compliance.
        matches = []
        if self.sanctions is not None:
            if self.sanctions.blocked(payee.address) is not None:
                raise BlockedAddressError("this address cannot be paid: it is on a sanctions list")
            matches = self.sanctions.screen(Subject(name, countries=(country,) if country else ()))
        try:
            with self.bank.sessions.begin() as session:
                session.add(payee)
                session.flush()
                if matches and self.sanctions is not None:
                    self.sanctions.record(
                        session,
                        subject=f"payee:{payee.id}",
                        user_id=principal.user_id,
                        name=name,
                        matches=matches,
                        actor=principal.username,
                    )
        except IntegrityError:
            raise ConflictError(f"you have a payee called {name!r} already") from None
        return payee

    def payees(self, principal: Principal) -> list[Payee]:
        """The caller's payees."""
        with self.bank.readers() as session:
            return list(
                session.scalars(select(Payee).where(Payee.user_id == principal.user_id).order_by(Payee.name))
            )

    def payee(self, principal: Principal, payee_id: str) -> Payee:
        """One of the caller's payees."""
        with self.bank.readers() as session:
            payee = session.get(Payee, payee_id)
        if payee is None or payee.user_id != principal.user_id:
            raise NotFoundError("payee", payee_id)
        return payee

    def delete_payee(self, principal: Principal, payee_id: str) -> None:
        """Removes one of the caller's payees."""
        with self.bank.sessions.begin() as session:
            payee = session.get(Payee, payee_id)
            if payee is None or payee.user_id != principal.user_id:
                raise NotFoundError("payee", payee_id)
            session.delete(payee)
