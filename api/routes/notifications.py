"""Notifications: what a customer hears about (money in and out, bills due, budgets crossed, KYC
expiring) and how (the event stream, their own webhooks). Decided in `wallet.retail.notifications`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import Strict

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


class Preferences(Strict):
    channels: dict[str, list[str]] = Field(
        description="For each kind (money_in, money_out, bill_due, budget_crossed, kyc_expiring), its "
        "channels: stream, webhook (an empty list: not told)"
    )


class CustomerWebhook(Strict):
    url: str = Field(max_length=2000)


@router.get("")
def list_notifications(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your newest notifications."""
    return services.notifications.mine(principal)


@router.get("/preferences")
def get_preferences(principal: CurrentPrincipal, services: ServicesDep) -> dict[str, list[str]]:
    """What you hear about, and how."""
    return services.notifications.preferences(principal)


@router.put("/preferences")
def set_preferences(
    body: Preferences, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, list[str]]:
    """Sets the channels of the kinds given; the others stay as they were."""
    return services.notifications.choose(principal, body.channels)


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def add_webhook(body: CustomerWebhook, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Your own webhook (for a corporate client's systems): notifications on the webhook channel are
    POSTed to it, signed `X-TDW-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 of `"<t>.<body>"` under the
    secret returned here, once), and retried with backoff until delivered."""
    registration = services.notifications.add_webhook(principal, body.url)
    return {"id": registration.webhook.id, "url": registration.webhook.url, "secret": registration.secret}


@router.get("/webhooks")
def list_webhooks(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your webhooks."""
    return [
        {"id": w.id, "url": w.url, "active": w.active, "created_at": w.created_at}
        for w in services.notifications.my_webhooks(principal)
    ]


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_webhook(webhook_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """Stops deliveries to one of your webhooks."""
    services.notifications.remove_webhook(principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
