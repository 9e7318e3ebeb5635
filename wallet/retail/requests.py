"""Payment requests: a customer (a merchant, or anyone) asks to be paid into one of their accounts.

A request names a currency, an amount (or none: the payer chooses), a payment reference, whether it
is good for one payment or many, and an optional expiry. It is shown three ways:

- a bank payment link (`<public url>/app/pay/<id>`), which a customer of this bank opens (or scans)
  and pays; the transfer carries the request's reference on chain;
- an EIP-681 URI (`ethereum:<token>@<chainId>/transfer?address=<payee>&uint256=<minor units>`), for
  any wallet on the chain (a plain `transfer` carries no reference, so such a payment is money in the
  account, not matched to the request);
- a QR code of either, as PNG or SVG (segno).

Paying is idempotent per request and payer (the transfer's idempotency key is the request's id,
scoped to the payer), and a single-use request takes one payment only, also when two payers press
at the same moment: the payment is recorded in the same database transaction as its transfer, behind
a conditional update of the request's row. What was received is read from the ledger mirror (credits
to the request's account carrying its reference), never from what was accepted: a request is `paid`
when the chain says so. A refund is a transfer back to the payer's address with the request's
reference, at most what the payment brought in.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import segno
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank
from wallet.bank.payments import PaymentService, TransferView
from wallet.bank.users import Principal
from wallet.db.models import (
    PaymentRequest,
    PaymentRequestPayment,
    TransferRequest,
    User,
    WalletAccount,
    aware,
    utcnow,
)
from wallet.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PaymentRequestClosedError,
    RefundTooLargeError,
)
from wallet.idempotency import scoped_key
from wallet.ledger.journal import credited_with
from wallet.money import format_amount, parse_amount
from wallet.references import encode_reference, reference_text
from wallet.vocabulary import PaymentRequestState, Role, TransferState

MAX_LIFETIME = timedelta(days=366)
QrTarget = Literal["link", "uri"]
QrKind = Literal["png", "svg"]


def reference_hex(reference: str) -> str:
    """A reference as the ledger mirror stores it: 0x and the 64 hex digits of its bytes32."""
    return "0x" + encode_reference(reference).hex()


class PaymentRequests:
    """Creates payment requests, takes payments and refunds for them, and says what arrived."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        payments: PaymentService,
        *,
        public_url: str,
        clock: Any = utcnow,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.payments = payments
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    # ---------------------------------------------------------------------------- the merchant ---

    def create(
        self,
        principal: Principal,
        *,
        currency: str,
        amount: object = None,
        reference: str | None = None,
        description: str | None = None,
        single_use: bool = True,
        expires_in_minutes: int | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """A new request to be paid into the caller's account in `currency` (`account_id`, or their
        first). Without `amount` the payer says how much; without `reference` one is made up."""
        principal.require(Role.CUSTOMER)
        self.bank.token(currency)  # an unknown currency is named as such
        account = self.accounts.active_in(principal, account_id, currency, field="account_id")
        value = None
        if amount is not None and amount != "":
            value = parse_amount(amount, currency)
            door.check_amount(value)
        request_id = uuid.uuid4().hex
        reference = _reference(reference) if reference else f"PR-{request_id[:12].upper()}"
        if description is not None and len(description) > 140:
            raise InvalidRequestError("a description is at most 140 characters")
        now = self.clock()
        expires_at = None
        if expires_in_minutes is not None:
            if isinstance(expires_in_minutes, bool) or not isinstance(expires_in_minutes, int):
                raise InvalidRequestError("expires_in_minutes is a whole number of minutes")
            if expires_in_minutes <= 0 or timedelta(minutes=expires_in_minutes) > MAX_LIFETIME:
                raise InvalidRequestError("a payment request expires within 1 minute to 366 days")
            expires_at = now + timedelta(minutes=expires_in_minutes)
        row = PaymentRequest(
            id=request_id,
            owner_id=principal.user_id,
            account_id=account.id,
            currency=currency,
            amount=value,
            reference=reference,
            description=description or None,
            single_use=single_use,
            state=PaymentRequestState.OPEN,
            expires_at=expires_at,
            created_at=now,
        )
        with self.bank.sessions.begin() as session:
            taken = session.scalar(
                select(PaymentRequest.id).where(
                    PaymentRequest.account_id == account.id, PaymentRequest.reference == reference
                )
            )
            if taken is not None:
                raise ConflictError(f"the reference {reference!r} names another request of this account")
            session.add(row)
        return self.get(principal, request_id)

    def mine(self, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
        """The caller's requests, newest first."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            ids = list(
                session.scalars(
                    select(PaymentRequest.id)
                    .where(PaymentRequest.owner_id == principal.user_id)
                    .order_by(PaymentRequest.created_at.desc())
                    .limit(limit)
                )
            )
        return [self.get(principal, request_id) for request_id in ids]

    def get(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """The request with its payments and refunds: its owner's, or any for staff."""
        row = self._owned(principal, request_id, staff=True)
        with self.bank.readers() as session:
            account = session.get(WalletAccount, row.account_id)
            assert account is not None
            received, final = self._received(session, row, account)
            paid = list(
                session.scalars(
                    select(PaymentRequestPayment)
                    .where(PaymentRequestPayment.request_id == row.id)
                    .order_by(PaymentRequestPayment.created_at)
                )
            )
        views = self._views([p.transfer_id for p in paid])
        transfers = {p.id: views[p.transfer_id] for p in paid}
        decimals = self.bank.token(row.currency).decimals
        payments = []
        for p in paid:
            if p.refund_of is not None:
                continue
            refunds = [r for r in paid if r.refund_of == p.id]
            payments.append(
                {
                    **self._movement(p, transfers[p.id], decimals),
                    "payer": transfers[p.id].payer,
                    "refunded": format_amount(sum(r.amount for r in refunds), decimals),
                    "refunds": [self._movement(r, transfers[r.id], decimals) for r in refunds],
                }
            )
        refunded = sum(p.amount for p in paid if p.refund_of is not None)
        return {
            **self._terms(row, decimals),
            "state": self._state(row, received, [transfers[p.id] for p in paid if p.refund_of is None]),
            "account_id": row.account_id,
            "payee": account.address,
            "received": format_amount(received, decimals),
            "received_final": format_amount(final, decimals),
            "refunded": format_amount(refunded, decimals),
            "link": self.link(row.id),
            "uri": self.uri(row, account.address),
            "payments": payments,
        }

    def cancel(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """Closes an open request: it takes no more payments (ones accepted before stand)."""
        row = self._owned(principal, request_id)
        with self.bank.sessions.begin() as session:
            done = session.execute(
                update(PaymentRequest)
                .where(PaymentRequest.id == row.id, PaymentRequest.state == PaymentRequestState.OPEN)
                .values(state=PaymentRequestState.CANCELLED)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        if done != 1:
            raise PaymentRequestClosedError(
                f"the payment request {request_id} is {row.state.value}, not open"
            )
        return self.get(principal, request_id)

    def refund(
        self,
        principal: Principal,
        request_id: str,
        payment_id: str,
        *,
        amount: object,
        idempotency_key: str,
        totp: str | None = None,
    ) -> tuple[TransferView, bool]:
        """Sends (part of) a payment back to the address it came from, carrying the request's reference.
        Refunds of one payment add up to at most its amount, also when two are sent at once."""
        row = self._owned(principal, request_id)
        with self.bank.readers() as session:
            payment = session.get(PaymentRequestPayment, payment_id)
        if payment is None or payment.request_id != row.id or payment.refund_of is not None:
            raise NotFoundError("payment", payment_id)
        original = self._views([payment.transfer_id])[payment.transfer_id]
        value = parse_amount(amount, row.currency)

        def check(session: Session) -> None:
            before = int(
                session.scalar(
                    select(func.coalesce(func.sum(PaymentRequestPayment.amount), 0)).where(
                        PaymentRequestPayment.refund_of == payment.id
                    )
                )
                or 0
            )
            if before + value > payment.amount:
                left = format_amount(payment.amount - before, original.decimals)
                raise RefundTooLargeError(f"at most {left} {row.currency} of this payment is left to refund")

        def record(session: Session, transfer: TransferRequest) -> None:
            session.scalar(
                select(PaymentRequestPayment.id)
                .where(PaymentRequestPayment.id == payment.id)
                .with_for_update()
            )
            check(session)  # again, with the payment's row locked: two refunds at once add up
            session.add(transfer)
            session.flush()
            session.add(
                PaymentRequestPayment(
                    id=uuid.uuid4().hex,
                    request_id=row.id,
                    payer_id=principal.user_id,
                    transfer_id=transfer.id,
                    amount=value,
                    refund_of=payment.id,
                    created_at=self.clock(),
                )
            )

        if not self._refund_stored(principal, idempotency_key):
            if original.state != TransferState.FINAL:
                raise ConflictError("the payment has not arrived yet: a refund waits until it is final")
            with self.bank.readers() as session:
                check(session)  # at the door, before the funds: the customer's own terms first
        return self.payments.submit(
            principal,
            idempotency_key=idempotency_key,
            from_account=row.account_id,
            amount=amount,
            currency=row.currency,
            to_address=original.payer,
            reference=row.reference,
            memo=f"refund of transfer {original.id}",
            totp=totp,
            also=record,
        )

    def qr(self, principal: Principal, request_id: str, *, target: QrTarget, kind: QrKind) -> bytes:
        """The request's payment link (`link`) or EIP-681 URI (`uri`) as a QR code image."""
        row = self._owned(principal, request_id, staff=True)
        if target == "link":
            text = self.link(row.id)
        else:
            with self.bank.readers() as session:
                account = session.get(WalletAccount, row.account_id)
            assert account is not None
            text = self.uri(row, account.address)
        code = segno.make(text, error="m")
        out = io.BytesIO()
        if kind == "png":
            code.save(out, kind="png", scale=8, border=4)
        else:
            code.save(out, kind="svg", scale=8, border=4, xmldecl=False, svgns=True, title="Payment request")
        return out.getvalue()

    def link(self, request_id: str) -> str:
        """The bank's payment link of a request: a signed-in customer opens it and pays."""
        return f"{self.public_url}/app/pay/{request_id}"

    def uri(self, row: PaymentRequest, payee: str) -> str:
        """The request as an EIP-681 URI: a `transfer` of the token to the payee (and the amount in
        the token's minor units, when the request fixes one)."""
        token = self.bank.token(row.currency)
        uri = f"ethereum:{token.address}@{self.bank.chain_id}/transfer?address={payee}"
        return uri if row.amount is None else f"{uri}&uint256={row.amount}"

    # -------------------------------------------------------------------------------- the payer ---

    def open(self, principal: Principal, request_id: str) -> dict[str, Any]:
        """What a customer about to pay is shown: who asks, for what, and whether it takes a payment
        (and the payment they made already, if any)."""
        principal.require(Role.CUSTOMER)
        row = self._row(request_id)
        with self.bank.readers() as session:
            owner = session.get(User, row.owner_id)
            account = session.get(WalletAccount, row.account_id)
            assert owner is not None
            assert account is not None
            received, _ = self._received(session, row, account)
            mine = session.scalar(
                select(PaymentRequestPayment.transfer_id).where(
                    PaymentRequestPayment.request_id == row.id,
                    PaymentRequestPayment.payer_id == principal.user_id,
                    PaymentRequestPayment.refund_of.is_(None),
                )
            )
            taken = list(
                session.scalars(
                    select(PaymentRequestPayment.transfer_id).where(
                        PaymentRequestPayment.request_id == row.id, PaymentRequestPayment.refund_of.is_(None)
                    )
                )
            )
        transfers = list(self._views(taken).values())
        decimals = self.bank.token(row.currency).decimals
        return {
            **self._terms(row, decimals),
            "state": self._state(row, received, transfers),
            "payee_name": owner.full_name or owner.username,
            "payee": account.address,
            "mine": row.owner_id == principal.user_id,
            "your_transfer_id": mine,
        }

    def pay(
        self,
        principal: Principal,
        request_id: str,
        *,
        from_account: str | None = None,
        amount: object = None,
        totp: str | None = None,
    ) -> tuple[TransferView, bool]:
        """Pays the request from the caller's account in its currency: a transfer into the requester's
        account with the request's reference. Paying again returns the same transfer."""
        principal.require(Role.CUSTOMER)
        row = self._row(request_id)
        if row.owner_id == principal.user_id:
            raise InvalidRequestError("this is your own payment request")
        key = f"payment-request:{row.id}"
        with self.bank.readers() as session:
            earlier = session.scalar(
                select(PaymentRequestPayment.transfer_id).where(
                    PaymentRequestPayment.request_id == row.id,
                    PaymentRequestPayment.payer_id == principal.user_id,
                    PaymentRequestPayment.refund_of.is_(None),
                )
            )
        if earlier is not None:
            return self.payments.get(principal, earlier), False
        now = self.clock()
        self._check_open(row, now)
        decimals = self.bank.token(row.currency).decimals
        if row.amount is None:
            if amount is None or amount == "":
                raise InvalidRequestError("this request leaves the amount to you: give one")
            value = parse_amount(amount, row.currency)
        else:
            if amount is not None and amount != "" and parse_amount(amount, row.currency) != row.amount:
                raise InvalidRequestError(
                    f"this request is for {format_amount(row.amount, decimals)} {row.currency}; leave the "
                    "amount out or give that one"
                )
            value = row.amount
        payer = self.accounts.active_in(principal, from_account, row.currency, field="from_account")

        def record(session: Session, transfer: TransferRequest) -> None:
            # Takes the request's row (a concurrent payer of a single-use request, or its cancellation,
            # waits here and finds it taken) and records the payment with the transfer.
            took = session.execute(
                update(PaymentRequest)
                .where(
                    PaymentRequest.id == row.id,
                    PaymentRequest.state == PaymentRequestState.OPEN,
                    or_(PaymentRequest.expires_at.is_(None), PaymentRequest.expires_at > now),
                )
                .values(state=PaymentRequestState.TAKEN if row.single_use else PaymentRequestState.OPEN)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if took != 1:
                raise PaymentRequestClosedError(
                    f"the payment request {row.id} was paid, cancelled or expired"
                )
            session.add(transfer)
            session.flush()
            session.add(
                PaymentRequestPayment(
                    id=uuid.uuid4().hex,
                    request_id=row.id,
                    payer_id=principal.user_id,
                    transfer_id=transfer.id,
                    amount=value,
                    created_at=now,
                )
            )

        return self.payments.submit(
            principal,
            idempotency_key=key,
            from_account=payer.id,
            amount=format_amount(value, decimals),
            currency=row.currency,
            to_account=row.account_id,
            reference=row.reference,
            memo=row.description,
            totp=totp,
            also=record,
        )

    # ------------------------------------------------------------------------------ the ledger ---

    def paid_by(
        self, session: Session, account: WalletAccount, reference: str | None
    ) -> PaymentRequest | None:
        """The request of `account` a credit carrying `reference` (as the mirror stores it) pays."""
        text = reference_text(reference)
        if text is None:
            return None
        return session.scalar(
            select(PaymentRequest).where(
                PaymentRequest.account_id == account.id, PaymentRequest.reference == text
            )
        )

    # ---------------------------------------------------------------------------------- helpers ---

    def _received(self, session: Session, row: PaymentRequest, account: WalletAccount) -> tuple[int, int]:
        """(credits to the request's account carrying its reference in the mirror, the final part)."""
        return credited_with(session, self.bank.chain_id, account.token, account.address, row.reference)

    def _state(self, row: PaymentRequest, received: int, payments: list[TransferView]) -> str:
        """`open`, `paying` (a single-use request's payment accepted, not in the chain yet), `paid` (the
        mirror holds what was asked for; a single-use request with no amount: anything), `failed` (a
        single-use request's payment the chain refused), `expired` or `cancelled`."""
        if row.single_use and received > 0 and (row.amount is None or received >= row.amount):
            return "paid"
        if row.state == PaymentRequestState.CANCELLED:
            return "cancelled"
        if row.state == PaymentRequestState.TAKEN:
            return (
                "failed" if payments and all(p.state == TransferState.FAILED for p in payments) else "paying"
            )
        if row.expires_at is not None and aware(row.expires_at) <= self.clock():
            return "expired"
        return "open"

    def _check_open(self, row: PaymentRequest, now: datetime) -> None:
        if row.state != PaymentRequestState.OPEN:
            raise PaymentRequestClosedError(
                f"the payment request {row.id} was paid already"
                if row.state == PaymentRequestState.TAKEN
                else f"the payment request {row.id} was cancelled"
            )
        if row.expires_at is not None and aware(row.expires_at) <= now:
            raise PaymentRequestClosedError(
                f"the payment request {row.id} expired at {aware(row.expires_at)}"
            )

    def _terms(self, row: PaymentRequest, decimals: int) -> dict[str, Any]:
        return {
            "id": row.id,
            "currency": row.currency,
            "amount": format_amount(row.amount, decimals) if row.amount is not None else None,
            "reference": row.reference,
            "description": row.description,
            "single_use": row.single_use,
            "expires_at": aware(row.expires_at) if row.expires_at else None,
            "created_at": aware(row.created_at),
        }

    @staticmethod
    def _movement(p: PaymentRequestPayment, transfer: TransferView, decimals: int) -> dict[str, Any]:
        return {
            "id": p.id,
            "transfer_id": p.transfer_id,
            "amount": format_amount(p.amount, decimals),
            "state": transfer.state.value,
            "tx_hash": transfer.tx_hash,
            "created_at": aware(p.created_at),
        }

    def _views(self, ids: list[str]) -> dict[str, TransferView]:
        """The transfers `ids` as their owners see them (a payer's payment, shown to the request's owner)."""
        if not ids:
            return {}
        with self.bank.readers() as session:
            rows = list(session.scalars(select(TransferRequest).where(TransferRequest.id.in_(ids))))
        return {row.id: self.payments.view(row) for row in rows}

    def _refund_stored(self, principal: Principal, key: str) -> bool:
        return self.bank.transfers.by_key(scoped_key(principal.user_id, key)) is not None

    def _row(self, request_id: str) -> PaymentRequest:
        with self.bank.readers() as session:
            row = session.get(PaymentRequest, request_id)
        if row is None:
            raise NotFoundError("payment request", request_id)
        return row

    def _owned(self, principal: Principal, request_id: str, *, staff: bool = False) -> PaymentRequest:
        """The request, if the caller owns it (or, with `staff`, may read it as staff)."""
        with self.bank.readers() as session:
            row = session.get(PaymentRequest, request_id)
        if row is None or (row.owner_id != principal.user_id and not (staff and principal.is_staff)):
            raise NotFoundError("payment request", request_id)
        return row


def _reference(text: str) -> str:
    """A request's reference as given: printable text of 1 to 32 bytes (it travels as a bytes32)."""
    text = text.strip()
    if not text or not text.isprintable() or len(text.encode()) > 32:
        raise InvalidRequestError("a reference is printable text of at most 32 bytes")
    if text.startswith("0x"):
        raise InvalidRequestError("a reference is text; it cannot start with 0x")
    return text


__all__ = ["PaymentRequests", "reference_hex"]
