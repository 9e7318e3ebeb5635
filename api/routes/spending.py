"""Spending analysis: outgoing payments by category per month, trends, budgets, charts and CSV. Who may
do what is decided in `wallet.retail.spending`."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import Amount, Currency, Strict

router = APIRouter(tags=["spending"])


class RuleCreate(Strict):
    match: Literal["address", "keyword"]
    pattern: str = Field(max_length=100, description="The payee's address, or a word in the reference")
    category: str = Field(max_length=40)


class MerchantCategory(Strict):
    address: str = Field(max_length=64)
    category: str = Field(max_length=40)


class BudgetSet(Strict):
    category: str = Field(max_length=40)
    currency: Currency
    amount: Amount = Field(description="Per month")


Months = Query(default=6, ge=1, le=24, description="How many months, this one included")


@router.get("/v1/spending")
def spending(
    principal: CurrentPrincipal, services: ServicesDep, currency: Currency = "USD", months: int = Months
) -> dict[str, Any]:
    """Your outgoing payments in `currency` per month and category, this month against the mean of the
    months before, and your budgets with this month's spending."""
    return services.spending.summary(principal, currency=currency, months=months)


@router.get(
    "/v1/spending/chart.{kind}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def spending_chart(
    kind: Literal["png", "svg"],
    principal: CurrentPrincipal,
    services: ServicesDep,
    currency: Currency = "USD",
    months: int = Months,
) -> Response:
    """The monthly totals per category as a chart."""
    image = services.spending.chart(principal, currency=currency, months=months, kind=kind)
    return Response(image, media_type="image/png" if kind == "png" else "image/svg+xml")


@router.get(
    "/v1/spending/payments.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def spending_csv(principal: CurrentPrincipal, services: ServicesDep, since: date | None = None) -> Response:
    """Your outgoing payments with their categories, as CSV."""
    return Response(
        services.spending.csv(principal, since=since),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="spending.csv"'},
    )


@router.get("/v1/spending/rules")
def list_rules(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your own rules, newest first (they come before the bank's)."""
    return services.spending.rules(principal)


@router.post("/v1/spending/rules", status_code=status.HTTP_201_CREATED)
def add_rule(body: RuleCreate, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Files payments to an address, or with a word in their reference, under a category of yours."""
    return services.spending.add_rule(
        principal, match=body.match, pattern=body.pattern, category=body.category
    )


@router.delete("/v1/spending/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    services.spending.delete_rule(principal, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/spending/budgets")
def list_budgets(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your monthly budgets, with this month's spending and whether it crossed them."""
    return services.spending.budgets(principal)


@router.put("/v1/spending/budgets")
def set_budget(body: BudgetSet, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Sets your monthly budget for a category in a currency; crossing it is told once a month on the
    event stream (`budget.crossed`)."""
    return services.spending.set_budget(
        principal, category=body.category, currency=body.currency, amount=body.amount
    )


@router.delete("/v1/spending/budgets/{budget_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_budget(budget_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    services.spending.delete_budget(principal, budget_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/bank/merchant-categories", status_code=status.HTTP_201_CREATED)
def merchant_category(
    body: MerchantCategory, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """Operators: the category payments to a merchant's address are filed under, for every customer."""
    return services.spending.add_merchant(principal, address=body.address, category=body.category)
