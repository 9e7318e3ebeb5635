"""Customer conversions: a customer carries out an FX quote between two of their own accounts, settled
on chain in one transaction against the bank's FX book.

A conversion is an atomic settlement (`wallet.tx.settlements`) of two legs: the customer pays what the
quote sells to the bank's treasury key (its FX book), and the treasury pays what the quote buys to the
customer. Both sign a `ReceiveWithAuthorization` to the settlement contract for their leg, so either
both legs move or neither does: no moment exists when the customer has paid and not been paid.

Everything the chain would refuse is refused before anything is signed, in the customer's terms: the
quote (theirs, open or accepted by them, not past its time, not carried out already), both accounts
(theirs, active), both tokens' standing at the chain's head (not paused, the customer may send the one
and receive the other), the customer's available balance (`wallet.bank.door`, counting every transfer
and settlement of theirs on its way) and the FX book's (`FxUnavailableError` when it is short). The
quote is accepted (if it was open) and the settlement stored in one database transaction, with the
customer's account locked and, on PostgreSQL, the FX book's currency too, so concurrent conversions
are judged one after the other; each quote is carried out at most once.

The settlement must reach the chain before its deadline (`validity_seconds` after acceptance,
10 minutes by default); one that cannot fails and releases the customer's funds, with nothing moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank, Token
from wallet.bank.users import Principal
from wallet.chain.settlement import Leg, Terms, sign_leg
from wallet.db.models import ChainTx, FxQuote, Settlement, aware
from wallet.errors import (
    AccountRestrictedError,
    FxUnavailableError,
    NotFoundError,
    PaymentsSuspendedError,
    QuoteUsedError,
)
from wallet.fx.quotes import Quotes, quote_to_carry_out, take_quote
from wallet.idempotency import insert_or_replay, replay, request_hash, scoped_key
from wallet.money import format_amount
from wallet.tx.settlements import SettlementService, settlement_state
from wallet.vocabulary import Role, SettlementStatus

KIND = "conversion"


class Conversions:
    """Carries out customers' FX quotes as atomic settlements against the bank's FX book."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        quotes: Quotes,
        *,
        validity_seconds: int = 600,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.quotes = quotes
        self.validity_seconds = validity_seconds
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def treasury(self) -> ChecksumAddress:
        """The address of the bank's FX book."""
        return self.bank.role_address("treasury")

    def convert(
        self,
        principal: Principal,
        *,
        idempotency_key: str,
        quote_id: str,
        from_account: str | None = None,
        to_account: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Carries out the customer's quote; returns the conversion and whether it was made now (False:
        the idempotency key's earlier conversion)."""
        principal.require(Role.CUSTOMER)
        settlements = self._settlements()
        key = scoped_key(principal.user_id, idempotency_key)
        body = {"quote_id": quote_id, "from_account": from_account, "to_account": to_account}
        body_hash = request_hash(body)
        existing = self._by_key(key)
        if existing is not None:
            return self._view(replay(existing, body_hash, key)), False

        with self.bank.readers() as session:
            quote = quote_to_carry_out(session, principal.user_id, quote_id, self.clock())
        sell, buy = self.bank.token(quote.sell_currency), self.bank.token(quote.buy_currency)
        payer = self.accounts.active_in(principal, from_account, sell.currency, field="from_account")
        payee = self.accounts.active_in(principal, to_account, buy.currency, field="to_account")
        frozen = self._check_chain(sell, buy, payer.address, payee.address)
        funds = door.FundsGuard(self.bank, sell, payer, quote.sell_amount, frozen)
        with self.bank.readers() as session:
            funds.check(session)
            self._check_book(session, buy, quote)

        deadline = int(time.time()) + self.validity_seconds
        treasury = self.treasury
        terms = Terms(
            ref=keccak(text=f"tdw:conversion:{quote.id}"),
            legs=(
                Leg(sell.address, to_checksum_address(payer.address), treasury, quote.sell_amount),
                Leg(buy.address, treasury, to_checksum_address(payee.address), quote.buy_amount),
            ),
            deadline=deadline,
        )
        domain = settlements.domain
        signatures = [
            sign_leg(self.bank.customer_signer(payer.address), self.bank.domain(sell), domain, terms, 0),
            sign_leg(self.bank.role_signers["treasury"], self.bank.domain(buy), domain, terms, 1),
        ]
        now = self.clock()

        def insert(session: Session) -> Settlement:
            funds.check_locked(session)
            self._lock_book(session, buy)
            self._check_book(session, buy, quote)
            take_quote(session, quote, now)
            return settlements.store(
                session,
                kind=KIND,
                idempotency_key=key,
                request_hash=body_hash,
                terms=terms,
                signatures=signatures,
                owner_id=principal.user_id,
                quote_id=quote.id,
            )

        try:
            row, created = insert_or_replay(
                self.bank.sessions, insert, lambda: self._by_key(key), body_hash=body_hash, key=key
            )
        except IntegrityError:
            # Not the key: the quote's own unique constraint. Another conversion took it at the same time.
            raise QuoteUsedError(f"quote {quote.id} is being carried out by another conversion") from None
        return self._view(row), created

    def get(self, principal: Principal, conversion_id: str) -> dict[str, Any]:
        """One conversion: the customer's own, or any for staff."""
        row = self._settlements().get(conversion_id)
        if row is None or row.kind != KIND or (row.owner_id != principal.user_id and not principal.is_staff):
            raise NotFoundError("conversion", conversion_id)
        return self._view(row)

    def history(self, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
        """The customer's conversions, newest first."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(Settlement)
                    .where(Settlement.owner_id == principal.user_id, Settlement.kind == KIND)
                    .order_by(Settlement.created_at.desc())
                    .limit(limit)
                )
            )
        return [self._view(row) for row in rows]

    # ------------------------------------------------------------------------------- the door ---

    def _settlements(self) -> SettlementService:
        if self.bank.settlements is None:
            raise FxUnavailableError("the bank has no settlement contract configured for conversions")
        return self.bank.settlements

    def _check_chain(self, sell: Token, buy: Token, payer: str, payee: str) -> int:
        """The tokens' view at the chain's head: the customer may send `sell` and receive `buy`; the
        FX book may receive `sell` and send `buy`; the settlement contract may hold both. Returns the
        customer's frozen amount of `sell`."""
        contract = self._settlements().contract.address
        treasury = self.treasury
        paying = door.chain_standing(sell, payer, contract)
        if paying.payee_allowed:
            door.check_standing(paying, sell.currency)
        book = door.chain_standing(buy, treasury, payee)
        if book.paused:
            raise PaymentsSuspendedError(
                f"payments in {buy.currency} are suspended by the bank; try again later"
            )
        if not book.payee_allowed:
            raise AccountRestrictedError(
                f"your {buy.currency} account cannot receive payments: it is restricted; contact the bank"
            )
        receiving = door.chain_standing(sell, treasury, contract)
        usable = paying.payee_allowed and book.payer_allowed and not book.payer_frozen
        if not (usable and receiving.payer_allowed and receiving.payee_allowed):
            raise FxUnavailableError("the bank's FX book cannot settle conversions now")
        return paying.payer_frozen_amount

    def _check_book(self, session: Session, buy: Token, quote: FxQuote) -> None:
        """The FX book holds the amount bought, counting every settlement it pays into on its way."""
        available, _ = door.available_to(session, self.bank.chain_id, buy.address, self.treasury)
        if available < quote.buy_amount:
            raise FxUnavailableError(
                f"the bank cannot sell {format_amount(quote.buy_amount, buy.decimals)} {buy.currency} now; "
                "try a smaller amount or later"
            )

    def _lock_book(self, session: Session, buy: Token) -> None:
        """Serialises conversions that buy the same currency (PostgreSQL; SQLite's one writer does)."""
        if session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(keccak(text=f"fx-book:{buy.address}")[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    # -------------------------------------------------------------------------------- reading ---

    def _by_key(self, key: str) -> Settlement | None:
        with self.bank.readers() as session:
            return session.scalars(select(Settlement).where(Settlement.idempotency_key == key)).one_or_none()

    def _view(self, row: Settlement) -> dict[str, Any]:
        with self.bank.readers() as session:
            quote = session.get(FxQuote, row.quote_id) if row.quote_id else None
            tx = session.get(ChainTx, row.chain_tx_id) if row.chain_tx_id else None
        assert quote is not None
        mined = row.status == SettlementStatus.SETTLED and tx is not None
        return {
            "id": row.id,
            "state": settlement_state(row.status, tx.status if tx else None),
            "quote_id": row.quote_id,
            "sell": {
                "currency": quote.sell_currency,
                "amount": self._amount(quote.sell_amount, quote.sell_currency),
            },
            "buy": {
                "currency": quote.buy_currency,
                "amount": self._amount(quote.buy_amount, quote.buy_currency),
            },
            "rate": quote.rate,
            "settlement_id": "0x" + bytes(row.settlement_hash).hex(),
            "deadline": datetime.fromtimestamp(row.deadline, UTC).isoformat(),
            "tx_hash": tx.tx_hash if mined and tx else None,
            "block_number": tx.block_number if mined and tx else None,
            "error": {"name": row.error_name, "args": row.error_args or {}} if row.error_name else None,
            "created_at": aware(row.created_at).isoformat(),
        }

    def _amount(self, units: int, code: str) -> str:
        return format_amount(units, self.bank.token(code).decimals)


__all__ = ["Conversions"]
