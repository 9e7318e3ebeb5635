"""Events for customers and operators: transfer state changes and incoming funds (and, for a credit that
pays a payment request, `payment_request.paid` to the request's owner).

The `EventPump` turns what the outbox and the indexer wrote into `events` rows: a transfer whose state
moved since its last event gets a `transfer.state` event (its `notified_state` moves in the same
database transaction, so each state is published once), and each posted journal leg that credits a
customer's account gets a `funds.received` event (a cursor on the leg id moves with it). A credit
that was announced and then vanished in a reorg gets a `funds.retracted` event (a cursor on the reorg
id). Readers (the SSE stream, the webhook dispatcher) follow the event ids.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.payments import PaymentService, transfer_state
from wallet.db.models import (
    UNNOTIFIED_TRANSFERS,
    ChainTx,
    Event,
    EventCursor,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    Reorg,
    ReorgedEntry,
    TransferRequest,
    WalletAccount,
)
from wallet.ledger.indexer import FUNDS_CURSOR
from wallet.money import format_amount
from wallet.references import reference_text
from wallet.retail.invoices import Invoices
from wallet.retail.requests import PaymentRequests

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "transfer.state",
    "settlement.state",
    "funds.received",
    "funds.retracted",
    "ledger.reorg",
    "incident.opened",
    "payment_request.paid",
    "bill.paid",
    "bill.failed",
    "budget.crossed",
    "invoice.paid",
    "bill.due",
    "kyc.expiring",
    "kyc.expired",
    "notification",
)


def unnotified_transfers(limit: int, after: str = "") -> Select[str, str, str | None, str]:
    """(id, status, notified state, chain tx status) of up to `limit` transfers whose newest state the
    pump may not have handled yet, in id order from `after`. Columns only: most of them have not moved
    since the last look, and building ORM objects for each every time cost more than the rest."""
    return (
        select(TransferRequest.id, TransferRequest.status, TransferRequest.notified_state, ChainTx.status)
        .outerjoin(ChainTx, ChainTx.id == TransferRequest.chain_tx_id)
        # Served by the covering partial index of that name, in its order (the primary key index would
        # serve the order too, but walks every transfer ever made).
        .where(text(UNNOTIFIED_TRANSFERS), TransferRequest.id > after)
        .order_by(TransferRequest.id)
        .limit(limit)
    )


def on_stream(event: Event) -> bool:
    """Whether the event stream carries `event`: all but a notification its customer wants on their
    webhooks only."""
    return event.type != "notification" or "stream" in (event.payload or {}).get("channels", [])


def event_json(event: Event) -> dict[str, Any]:
    """An event as it is sent to a stream or a webhook."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


class EventPump:
    """Publishes transfer state changes and incoming funds as events."""

    def __init__(
        self,
        bank: Bank,
        payments: PaymentService,
        requests: PaymentRequests | None = None,
        invoices: Invoices | None = None,
        *,
        batch: int = 500,
    ) -> None:
        self.bank = bank
        self.payments = payments
        # Credits carrying a payment request's or an invoice's reference tell its owner too.
        self.requests = requests
        self.invoices = invoices
        self.batch = batch
        # Where the next look at open transfers starts: each pass reads the next `batch` of them, so
        # with more open than that, every one is still looked at every few passes.
        self._after = ""

    def step(self) -> int:
        """Publishes what changed since the last step; returns how many events were written."""
        return self._transfers() + self._incoming() + self._retractions()

    def _transfers(self) -> int:
        # Read and build the events outside the write transaction; write them in a short one, each
        # conditional on the state it was built from, so a concurrent pump cannot publish twice.
        with self.bank.readers() as session:
            candidates = session.execute(unnotified_transfers(self.batch, self._after)).all()
            self._after = candidates[-1][0] if len(candidates) == self.batch else ""
            moved = {
                request_id: notified
                for request_id, status, notified, tx_status in candidates
                if transfer_state(status, tx_status) != notified
            }
            rows = (
                session.execute(
                    select(TransferRequest, ChainTx)
                    .outerjoin(ChainTx, ChainTx.id == TransferRequest.chain_tx_id)
                    .where(TransferRequest.id.in_(list(moved)))
                ).all()
                if moved
                else []
            )
        changes = []
        for request, tx in rows:
            state = transfer_state(request.status, tx.status if tx else None)
            if state == request.notified_state:
                continue
            view = self.payments.view(request, tx)
            payload = {
                "transfer_id": view.id,
                "state": state,
                "currency": view.currency,
                "amount": format_amount(view.amount, view.decimals),
                "payer": view.payer,
                "payee": view.payee,
                "reference": view.reference,
                "tx_hash": view.tx_hash,
                "block_number": view.block_number,
                "error": view.error,
            }
            changes.append((request, state, payload))
        if not changes:
            return 0
        table = TransferRequest.metadata.tables[TransferRequest.__tablename__]
        with self.bank.sessions.begin() as session:
            # Publish only what no other pump published meanwhile: compare each row's notified state
            # with the one the event was built from, under a row lock (SQLite: the write lock).
            stored = dict(
                session.execute(
                    select(TransferRequest.id, TransferRequest.notified_state)
                    .where(TransferRequest.id.in_([request.id for request, _, _ in changes]))
                    .with_for_update()
                ).all()
            )
            fresh = [
                (request, state, payload)
                for request, state, payload in changes
                if request.id in stored and stored[request.id] == request.notified_state
            ]
            if not fresh:
                return 0
            # One statement each for all rows: per-row ORM updates held the write lock for most of a pass.
            session.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(notified_state=bindparam("state"), updated_at=table.c.updated_at),
                [{"row_id": request.id, "state": state} for request, state, _ in fresh],
            )
            events = [
                {"user_id": request.owner_id, "type": "transfer.state", "payload": payload}
                for request, _, payload in fresh
                if request.owner_id is not None  # a custody-only transfer has nobody to tell
            ]
            if events:
                session.execute(insert(Event.metadata.tables[Event.__tablename__]), events)
        return len(events)

    def _incoming(self) -> int:
        # Most passes find no new legs: find that out without taking the write lock, which transfer
        # requests wait for.
        with self.bank.readers() as session:
            position = (
                session.scalar(select(EventCursor.position).where(EventCursor.name == FUNDS_CURSOR)) or 0
            )
            newest = session.scalar(select(JournalLeg.id).order_by(JournalLeg.id.desc()).limit(1)) or 0
        if newest <= position:
            return 0
        with self.bank.sessions.begin() as session:
            cursor = self._cursor(session, FUNDS_CURSOR)
            last = session.scalar(select(JournalLeg.id).order_by(JournalLeg.id.desc()).limit(1)) or 0
            rows = session.execute(
                select(JournalLeg.id, JournalLeg.amount, JournalEntry, WalletAccount)
                .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                .join(
                    WalletAccount,
                    (WalletAccount.address == LedgerAccount.holder)
                    & (WalletAccount.token == LedgerAccount.token),
                )
                .where(JournalLeg.id > cursor.position, JournalLeg.id <= last, JournalEntry.posted.is_(True))
                .order_by(JournalLeg.id)
                .limit(self.batch)
            ).all()
            written = 0
            for leg_id, amount, entry, account in rows:
                cursor.position = max(cursor.position, leg_id)
                if amount <= 0:
                    continue
                payload = self._funds(
                    account, amount, entry.kind, entry.tx_hash, entry.block_number, entry.payment_reference
                )
                session.add(Event(user_id=account.user_id, type="funds.received", payload=payload))
                written += 1
                request = (
                    self.requests.paid_by(session, account, entry.payment_reference)
                    if self.requests
                    else None
                )
                if request is not None:
                    paid = {**payload, "request_id": request.id, "reference": request.reference}
                    session.add(Event(user_id=request.owner_id, type="payment_request.paid", payload=paid))
                    written += 1
                invoice = (
                    self.invoices.paid_by(session, account, entry.payment_reference)
                    if self.invoices
                    else None
                )
                if invoice is not None:
                    paid = {
                        **payload,
                        "invoice_id": invoice.id,
                        "number": invoice.number,
                        "reference": invoice.reference,
                    }
                    session.add(Event(user_id=invoice.seller_id, type="invoice.paid", payload=paid))
                    written += 1
            if len(rows) < self.batch:
                # Nothing of ours up to the newest leg: skip legs of other holders next time.
                cursor.position = max(cursor.position, last)
        return written

    def _funds(
        self,
        account: WalletAccount,
        amount: int,
        kind: str,
        tx_hash: str,
        block_number: int,
        reference: str | None,
    ) -> dict[str, Any]:
        """What `funds.received` says of a credit, and `funds.retracted` of the same credit taken back."""
        return {
            "account_id": account.id,
            "currency": account.currency,
            "amount": format_amount(amount, self.bank.token(account.currency).decimals),
            "kind": kind,
            "tx_hash": tx_hash,
            "block_number": block_number,
            "reference": reference_text(reference),
        }

    def _retractions(self) -> int:
        """A `funds.retracted` event for each announced credit to a customer that a reorg removed."""
        with self.bank.readers() as session:
            position = session.scalar(select(EventCursor.position).where(EventCursor.name == "reorgs")) or 0
            newest = session.scalar(select(func.max(Reorg.id))) or 0
        if newest <= position:
            return 0
        written = 0
        with self.bank.sessions.begin() as session:
            cursor = self._cursor(session, "reorgs")
            dropped = session.execute(
                select(ReorgedEntry, Reorg)
                .join(Reorg, Reorg.id == ReorgedEntry.reorg_id)
                .where(ReorgedEntry.reorg_id > cursor.position, ReorgedEntry.reorg_id <= newest)
                .order_by(ReorgedEntry.id)
            ).all()
            for entry, reorg in dropped:
                for leg in entry.data.get("legs", []):
                    amount = int(leg["amount"])
                    if amount <= 0 or not leg.get("announced"):
                        continue
                    account = session.scalar(
                        select(WalletAccount).where(
                            WalletAccount.address == leg["holder"], WalletAccount.token == entry.data["token"]
                        )
                    )
                    if account is None:
                        continue
                    payload = self._funds(
                        account,
                        amount,
                        entry.data["kind"],
                        entry.tx_hash,
                        entry.block_number,
                        entry.data.get("payment_reference"),
                    )
                    payload |= {"reason": "reorg", "reorg_id": reorg.id}
                    session.add(Event(user_id=account.user_id, type="funds.retracted", payload=payload))
                    written += 1
            cursor.position = max(cursor.position, newest)
        return written

    @staticmethod
    def _cursor(session: Session, name: str) -> EventCursor:
        cursor = session.get(EventCursor, name)
        if cursor is None:
            cursor = EventCursor(name=name, position=0)
            session.add(cursor)
            session.flush()
        return cursor


class EventFeed:
    """Reads events for one user (customers) or all of them (staff)."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def since(self, user_id: str | None, after: int, limit: int = 100) -> list[Event]:
        """Events with an id above `after`, oldest first; `user_id` None means every event."""
        with self.bank.readers() as session:
            query = select(Event).where(Event.id > after)
            if user_id is not None:
                query = query.where(Event.user_id == user_id)
            return list(session.scalars(query.order_by(Event.id).limit(limit)))

    def latest_id(self) -> int:
        """The newest event id (0 when there is none)."""
        with self.bank.readers() as session:
            return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
