"""The event stream (server-sent events) and operators' webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut
from wallet.bank.events import EventFeed, event_json, on_stream
from wallet.db.models import Event, Webhook

MAX_EVENT_ID = 2**63 - 1  # event ids are BIGINT; a larger `after` could only be a mistake

router = APIRouter(prefix="/v1", tags=["events"])

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


@router.get("/events", response_class=EventSourceResponse)
async def events(
    request: Request,
    principal: CurrentPrincipal,
    services: ServicesDep,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="Resume after this event id")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: your transfers' state changes (`transfer.state`) and incoming funds
    (`funds.received`); staff see every event. Each event's id resumes the stream (`Last-Event-ID`)."""
    feed = services.feed
    user = None if principal.is_staff else principal.user_id
    if after is None and last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        after = min(int(last_event_id), MAX_EVENT_ID)
    if after is None:
        after = await anyio.to_thread.run_sync(feed.latest_id)
    async for event in follow(request, feed, user, after):
        if event is None:
            yield ServerSentEvent(comment="keep-alive")
        else:
            yield ServerSentEvent(id=str(event.id), event=event.type, data=event_json(event))


async def follow(
    request: Request, feed: EventFeed, user: str | None, after: int
) -> AsyncIterator[Event | None]:
    """The feed's events for `user` (None: every event) after id `after`, as they come, until the client
    leaves; None after each `KEEPALIVE_SECONDS` of quiet (a keep-alive for proxies)."""
    position, idle = after, 0.0
    while not await request.is_disconnected():
        batch = await anyio.to_thread.run_sync(feed.since, user, position)
        for event in batch:
            position = event.id
            if on_stream(event):
                yield event
        if batch:
            idle = 0.0
            continue
        await anyio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield None


@router.post(
    "/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated, tags=["webhooks"]
)
def register_webhook(
    body: WebhookCreate, principal: CurrentPrincipal, services: ServicesDep
) -> WebhookCreated:
    """Operator: registers a URL for events. Each POST carries `X-TDW-Signature: t=<unix>,v1=<hex>`,
    the HMAC-SHA256 of `"<t>.<body>"` under the secret returned here (once); failed deliveries are
    retried with exponential backoff."""
    reg = services.webhooks.register(principal, body.url, list(body.event_types))
    return WebhookCreated(**_webhook(reg.webhook).model_dump(), secret=reg.secret)


@router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
def list_webhooks(principal: CurrentPrincipal, services: ServicesDep) -> list[WebhookOut]:
    """Operator: every webhook."""
    return [_webhook(w) for w in services.webhooks.all(principal)]


def _webhook(w: Webhook) -> WebhookOut:
    return WebhookOut(id=w.id, url=w.url, event_types=w.event_types, active=w.active, created_at=w.created_at)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["webhooks"])
def deactivate_webhook(webhook_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """Operator: stops deliveries to a webhook."""
    services.webhooks.deactivate(principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut], tags=["webhooks"])
def list_deliveries(webhook_id: str, principal: CurrentPrincipal, services: ServicesDep) -> list[DeliveryOut]:
    """Operator: a webhook's newest deliveries and their attempts."""
    return [
        DeliveryOut(
            id=d.id,
            event_id=d.event_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
        )
        for d in services.webhooks.deliveries(principal, webhook_id)
    ]
