"""Notifications: customers choose which events they hear about and how.

Kinds (`KINDS`) group the events a customer may hear of: `money_in` (funds received, a payment request
or an invoice paid), `money_out` (a transfer of theirs final or failed), `bill_due` (a bill due
tomorrow, paid, or given up), `budget_crossed`, `kyc_expiring`. Channels: `stream` (the event stream
and the screens, as a `notification` event) and `webhook` (the customer's own webhooks, signed like
the bank's; for corporate clients' systems). By default every kind goes to the stream and none to
webhooks.

The notifier follows the event table with a cursor; for each event of a customer that a kind of theirs
covers, it writes one `notifications` row (unique per source event: written once, also with two
notifiers) and, when the stream is chosen, a `notification` event. The webhook service delivers each
notification to the customer's webhooks at least once (retried with backoff; its deliveries are unique
per webhook and event). The events themselves are written once by whoever writes them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.bank.webhooks import Registration, WebhookService
from wallet.db.models import Event, EventCursor, Notification, NotificationPreference, Webhook
from wallet.errors import InvalidRequestError, NotFoundError
from wallet.vocabulary import Role

log = logging.getLogger(__name__)

CURSOR = "notifications"
CHANNELS = ("stream", "webhook")
KINDS: dict[str, tuple[str, ...]] = {
    "money_in": ("funds.received", "payment_request.paid", "invoice.paid"),
    "money_out": ("transfer.state",),
    "bill_due": ("bill.due", "bill.paid", "bill.failed"),
    "budget_crossed": ("budget.crossed",),
    "kyc_expiring": ("kyc.expiring", "kyc.expired"),
}
DEFAULT = {kind: ["stream"] for kind in KINDS}
KIND_OF = {event_type: kind for kind, types in KINDS.items() for event_type in types}


def message(event_type: str, payload: dict[str, Any]) -> str | None:
    """What a notification says of an event, in words (None: this event is not told, such as a
    transfer's intermediate states)."""
    p = payload
    bill = f"Your {p.get('biller')} bill {p.get('reference')}"
    money = f"{p.get('amount')} {p.get('currency')}"
    if event_type == "funds.received":
        return f"{p.get('amount')} {p.get('currency')} arrived" + (
            f" ({p['reference']})" if p.get("reference") else ""
        )
    if event_type == "payment_request.paid":
        return f"Your payment request {p.get('reference')} was paid {p.get('amount')} {p.get('currency')}"
    if event_type == "invoice.paid":
        return f"Invoice {p.get('number')} was paid {p.get('amount')} {p.get('currency')}"
    if event_type == "transfer.state":
        if p.get("state") == "final":
            return f"You paid {p.get('amount')} {p.get('currency')} to {p.get('payee')}"
        if p.get("state") == "failed":
            return f"Your payment of {p.get('amount')} {p.get('currency')} did not go through"
        return None
    if event_type == "bill.due":
        return f"{bill} of {money} is paid tomorrow"
    if event_type == "bill.paid":
        return f"{bill} was paid: {money}"
    if event_type == "bill.failed":
        return f"{bill} could not be paid: {p.get('error')}"
    if event_type == "budget.crossed":
        spent = f"{p.get('spent')} {p.get('currency')}"
        return f"You spent {spent} on {p.get('category')} this month, over {p.get('budget')}"
    if event_type == "kyc.expiring":
        return f"Your identity verification ends on {str(p.get('expires_at'))[:10]}: renew it to keep paying"
    if event_type == "kyc.expired":
        return "Your identity verification has ended: renew it to pay again"
    return None


class Notifications:
    """Preferences, the customer's webhooks, the notifier worker and the list of notifications."""

    def __init__(self, bank: Bank, webhooks: WebhookService, *, batch: int = 500) -> None:
        self.bank = bank
        self.webhooks = webhooks
        self.batch = batch

    # ---------------------------------------------------------------------------- preferences ---

    def preferences(self, principal: Principal) -> dict[str, list[str]]:
        """For each kind, the channels the customer hears it on."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            row = session.get(NotificationPreference, principal.user_id)
        return {**DEFAULT, **(row.channels if row else {})}

    def choose(self, principal: Principal, channels: dict[str, list[str]]) -> dict[str, list[str]]:
        """Sets the channels of the kinds given (an empty list: not told); the others stay."""
        principal.require(Role.CUSTOMER)
        for kind, chosen in channels.items():
            if kind not in KINDS:
                raise InvalidRequestError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
            unknown = [c for c in chosen if c not in CHANNELS]
            if unknown:
                raise InvalidRequestError(f"unknown channels {unknown}; known: {', '.join(CHANNELS)}")
        with self.bank.sessions.begin() as session:
            row = session.get(NotificationPreference, principal.user_id, with_for_update=True)
            merged = {
                **DEFAULT,
                **(row.channels if row else {}),
                **{k: sorted(set(v)) for k, v in channels.items()},
            }
            if row is None:
                session.add(NotificationPreference(user_id=principal.user_id, channels=merged))
            else:
                row.channels = merged
        return merged

    # ---------------------------------------------------------------------------------- webhooks ---

    def add_webhook(self, principal: Principal, url: str) -> Registration:
        """A webhook of the customer's own: their notifications on the webhook channel are POSTed to it,
        signed with the secret returned here (once)."""
        principal.require(Role.CUSTOMER)
        return self.webhooks.register(principal, url, ["notification"], owner=True)

    def my_webhooks(self, principal: Principal) -> list[Webhook]:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            return list(
                session.scalars(
                    select(Webhook).where(Webhook.owner_id == principal.user_id).order_by(Webhook.created_at)
                )
            )

    def remove_webhook(self, principal: Principal, webhook_id: str) -> None:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            row = session.get(Webhook, webhook_id)
        if row is None or row.owner_id != principal.user_id:
            raise NotFoundError("webhook", webhook_id)
        self.webhooks.deactivate(principal, webhook_id, owner=True)

    # ------------------------------------------------------------------------------- notifying ---

    def mine(self, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
        """The customer's newest notifications."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(Notification)
                    .where(Notification.user_id == principal.user_id)
                    .order_by(Notification.id.desc())
                    .limit(limit)
                )
            )
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "message": r.message,
                "channels": r.channels,
                "created_at": r.created_at,
            }
            for r in rows
        ]

    def step(self) -> int:
        """Writes the notifications of the events since the cursor; returns how many it wrote."""
        with self.bank.readers() as session:
            position = session.scalar(select(EventCursor.position).where(EventCursor.name == CURSOR))
            if position is None:
                # A first start tells of what happens from now on, not of the whole history.
                position = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
                with self.bank.sessions.begin() as writing:
                    if writing.get(EventCursor, CURSOR) is None:
                        writing.add(EventCursor(name=CURSOR, position=position))
                return 0
            # The newest id first, then the events up to it: one read later, an event committed between
            # the two reads would be counted as seen without being read.
            last = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or position
            events = list(
                session.scalars(
                    select(Event)
                    .where(
                        Event.id > position,
                        Event.id <= last,
                        Event.type.in_(list(KIND_OF)),
                        Event.user_id.is_not(None),
                    )
                    .order_by(Event.id)
                    .limit(self.batch)
                )
            )
            users = {e.user_id for e in events}
            chosen = {
                row.user_id: {**DEFAULT, **row.channels}
                for row in session.scalars(
                    select(NotificationPreference).where(NotificationPreference.user_id.in_(users))
                )
            }
        written = 0
        for event in events:
            assert event.user_id is not None
            kind = KIND_OF[event.type]
            channels = chosen.get(event.user_id, DEFAULT).get(kind, [])
            text = message(event.type, event.payload or {})
            if not channels or text is None:
                continue
            try:
                with self.bank.sessions.begin() as session:
                    note = Notification(
                        source_event_id=event.id,
                        user_id=event.user_id,
                        kind=kind,
                        message=text[:300],
                        channels=channels,
                    )
                    session.add(note)
                    session.flush()
                    told = Event(
                        user_id=event.user_id,
                        type="notification",
                        payload={
                            "kind": kind,
                            "message": text[:300],
                            "channels": channels,
                            "source_event_id": event.id,
                        },
                    )
                    session.add(told)
                    session.flush()
                    note.event_id = told.id
                written += 1
            except IntegrityError:
                continue  # another notifier wrote it
        end = events[-1].id if len(events) == self.batch else last
        with self.bank.sessions.begin() as session:
            cursor = session.get(EventCursor, CURSOR, with_for_update=True)
            assert cursor is not None
            cursor.position = max(cursor.position, end)
        return written


__all__ = ["CHANNELS", "KINDS", "Notifications", "message"]
