"""Operators' webhooks: every event is POSTed as JSON to each registered URL that wants its type,
signed so the receiver can check it came from the bank and was not replayed.

Signature: header `X-TDW-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the
scheme Stripe uses; `X-TDW-Event-Id` names the event (receivers deduplicate on it, since delivery is at
least once). A delivery that does not get a 2xx answer is retried with exponential backoff until
`max_attempts`, then marked failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.events import EVENT_TYPES, event_json
from wallet.bank.users import Principal
from wallet.db.models import Event, EventCursor, Webhook, WebhookDelivery
from wallet.errors import InvalidRequestError, NotFoundError
from wallet.keys.keystore import KeyEncryptionKey
from wallet.vocabulary import DeliveryStatus, Role

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-TDW-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: checks the signature and that it is at most `tolerance` seconds old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")


@dataclass(frozen=True)
class WebhookConfig:
    """Delivery policy."""

    max_attempts: int = 8
    backoff_base: float = 1.0  # seconds before the first retry; doubles each attempt
    backoff_max: float = 3600.0
    timeout: float = 5.0


@dataclass(frozen=True)
class Registration:
    """A new webhook; its secret is shown once."""

    webhook: Webhook
    secret: str


class WebhookService:
    """Registers webhooks and delivers events to them."""

    def __init__(self, bank: Bank, kek: SecretStr, config: WebhookConfig | None = None) -> None:
        self.bank = bank
        self._kek = KeyEncryptionKey(kek)
        self.config = config or WebhookConfig()
        self._client = httpx.Client(timeout=self.config.timeout, follow_redirects=False)

    # ----------------------------------------------------------------------------- registering ---

    def register(
        self, principal: Principal, url: str, event_types: list[str] | None = None, *, owner: bool = False
    ) -> Registration:
        """Registers `url` for `event_types` (all when empty) and returns it with its new secret. With
        `owner`, a customer's own webhook: it gets their notifications on the webhook channel only."""
        if owner:
            principal.require(Role.CUSTOMER)
        else:
            principal.require(Role.OPERATOR, Role.ADMIN)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
            raise InvalidRequestError(f"a webhook URL is an http or https URL, not {url!r}")
        types = sorted(set(event_types or []))
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown:
            raise InvalidRequestError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
        secret = "whsec_" + secrets.token_hex(24)
        webhook_id = uuid.uuid4().hex
        wrapped, nonce = self._kek.wrap(secret.encode(), f"webhook:{webhook_id}")
        webhook = Webhook(
            id=webhook_id,
            url=url,
            secret_wrapped=wrapped,
            secret_nonce=nonce,
            event_types=types,
            active=True,
            created_by=principal.user_id,
            owner_id=principal.user_id if owner else None,
        )
        with self.bank.sessions.begin() as session:
            session.add(webhook)
            # Starts with the next event, not the whole history.
            self._cursor(session, webhook_id, start=self._latest_event(session))
        return Registration(webhook=webhook, secret=secret)

    def all(self, principal: Principal) -> list[Webhook]:
        """Every webhook of the bank's (customers' own are theirs to list)."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        with self.bank.readers() as session:
            return list(
                session.scalars(
                    select(Webhook).where(Webhook.owner_id.is_(None)).order_by(Webhook.created_at)
                )
            )

    def deactivate(self, principal: Principal, webhook_id: str, *, owner: bool = False) -> None:
        """Stops deliveries to a webhook (pending ones are dropped): the bank's (operators), or with
        `owner` the caller's own."""
        if not owner:
            principal.require(Role.OPERATOR, Role.ADMIN)
        with self.bank.sessions.begin() as session:
            webhook = session.get(Webhook, webhook_id)
            mine = webhook is not None and webhook.owner_id == (principal.user_id if owner else None)
            if webhook is None or not mine:
                raise NotFoundError("webhook", webhook_id)
            webhook.active = False
            for delivery in session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == DeliveryStatus.PENDING
                )
            ):
                delivery.status, delivery.last_error = DeliveryStatus.FAILED, "webhook deactivated"

    def deliveries(self, principal: Principal, webhook_id: str, limit: int = 100) -> list[WebhookDelivery]:
        """A webhook's newest deliveries."""
        principal.require(Role.OPERATOR, Role.ADMIN)
        with self.bank.readers() as session:
            if session.get(Webhook, webhook_id) is None:
                raise NotFoundError("webhook", webhook_id)
            return list(
                session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == webhook_id)
                    .order_by(WebhookDelivery.id.desc())
                    .limit(limit)
                )
            )

    # ------------------------------------------------------------------------------ delivering ---

    def step(self, now: datetime | None = None) -> int:
        """Fans new events out to deliveries, then attempts the deliveries that are due. Returns how
        many attempts were made."""
        self._fan_out()
        return self._deliver(now or datetime.now(UTC))

    def close(self) -> None:
        """Closes the HTTP client."""
        self._client.close()

    def _fan_out(self) -> None:
        with self.bank.sessions.begin() as session:
            for webhook in session.scalars(select(Webhook).where(Webhook.active.is_(True))):
                cursor = self._cursor(session, webhook.id)
                events = session.execute(
                    select(Event.id, Event.type, Event.user_id, Event.payload)
                    .where(Event.id > cursor.position)
                    .order_by(Event.id)
                    .limit(1000)
                ).all()
                for event_id, event_type, user_id, payload in events:
                    if webhook.owner_id is not None:
                        # A customer's own webhook: their notifications on the webhook channel.
                        wanted = (
                            user_id == webhook.owner_id
                            and event_type == "notification"
                            and "webhook" in (payload or {}).get("channels", [])
                        )
                    else:
                        wanted = not webhook.event_types or event_type in webhook.event_types
                    if wanted:
                        session.add(
                            WebhookDelivery(
                                webhook_id=webhook.id, event_id=event_id, status=DeliveryStatus.PENDING
                            )
                        )
                    cursor.position = event_id

    def _deliver(self, now: datetime) -> int:
        with self.bank.readers() as session:
            due = session.execute(
                select(WebhookDelivery, Webhook, Event)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(Event, Event.id == WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now
                )
                .order_by(WebhookDelivery.id)
                .limit(50)
            ).all()
        for delivery, webhook, event in due:
            self._attempt(delivery, webhook, event, now)
        return len(due)

    def _attempt(self, delivery: WebhookDelivery, webhook: Webhook, event: Event, now: datetime) -> None:
        secret = self._kek.unwrap(
            webhook.secret_wrapped, webhook.secret_nonce, f"webhook:{webhook.id}"
        ).decode()
        body = json.dumps(event_json(event), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tdw-webhooks/1",
            "X-TDW-Event-Id": str(event.id),
            "X-TDW-Event-Type": event.type,
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = self._client.post(webhook.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = delivery.attempts + 1
        with self.bank.sessions.begin() as session:
            row = session.get(WebhookDelivery, delivery.id)
            if row is None or row.status != DeliveryStatus.PENDING:
                return
            row.attempts, row.last_status_code, row.last_error = attempts, status_code, error
            if error is None:
                row.status, row.delivered_at = DeliveryStatus.DELIVERED, datetime.now(UTC)
            elif attempts >= self.config.max_attempts:
                row.status = DeliveryStatus.FAILED
            else:
                delay = min(self.config.backoff_base * 2 ** (attempts - 1), self.config.backoff_max)
                row.next_attempt_at = now + timedelta(seconds=delay)

    @staticmethod
    def _cursor(session: Session, webhook_id: str, start: int = 0) -> EventCursor:
        name = f"webhook:{webhook_id}"
        cursor = session.get(EventCursor, name)
        if cursor is None:
            cursor = EventCursor(name=name, position=start)
            session.add(cursor)
            session.flush()
        return cursor

    @staticmethod
    def _latest_event(session: Session) -> int:
        return int(session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0)
