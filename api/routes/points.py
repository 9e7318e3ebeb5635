"""Loyalty points: rules (operators), a customer's balance and statement, and redemptions for a credit
in deposit tokens. Decided in `wallet.retail.points`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import Field

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.schemas import Strict

router = APIRouter(tags=["points"])


class RuleCreate(Strict):
    name: str = Field(max_length=100)
    category: str = Field(
        max_length=40, description="A merchant category, as spending analysis files payments"
    )
    points_per_unit: int = Field(description="Points per whole unit of the payment's currency")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    monthly_cap: int | None = Field(
        default=None, description="Points a customer earns by it in a month, at most"
    )


class Redemption(Strict):
    points: int
    account_id: str


@router.post("/v1/bank/points-rules", status_code=status.HTTP_201_CREATED)
def add_rule(body: RuleCreate, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Operators: payments to merchants of a category earn points, within a campaign window and a cap."""
    return services.points.add_rule(
        principal,
        name=body.name,
        category=body.category,
        points_per_unit=body.points_per_unit,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        monthly_cap=body.monthly_cap,
    )


@router.get("/v1/points/rules")
def list_rules(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """How points are earned."""
    del principal
    return services.points.rules()


@router.get("/v1/points")
def statement(principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Your points: the balance, each entry (earned, redeemed, expired) with the balance after it, and
    what expires next."""
    return services.points.statement(principal)


@router.post("/v1/points/redemptions", status_code=status.HTTP_201_CREATED)
def redeem(
    body: Redemption, principal: CurrentPrincipal, services: ServicesDep, idempotency_key: IdempotencyKey
) -> dict[str, Any]:
    """Redeems points for a credit to your account (100 points are 1.00), paid by the bank on chain."""
    return services.points.redeem(
        principal, points=body.points, account_id=body.account_id, idempotency_key=idempotency_key
    )
