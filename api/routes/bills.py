"""Bill pay: billers (registered by operators), the bills customers save, and their payments now, on a
date or on a schedule. Who may do what is decided in `wallet.retail.bills`."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import Amount, Strict

router = APIRouter(tags=["bill pay"])


class BillerCreate(Strict):
    account_id: str = Field(description="The corporate customer's account bills are paid into")
    name: str = Field(max_length=100)
    category: str = Field(
        max_length=40, description="A lowercase word: what spending analysis files it under"
    )
    reference_pattern: str = Field(
        max_length=200, description="A regular expression a reference matches in full"
    )
    reference_hint: str = Field(max_length=100, description="The format in words, for customers")


class BillCreate(Strict):
    biller_id: str
    reference: str = Field(max_length=64, description="Your reference with the biller, in its format")
    nickname: str | None = Field(default=None, max_length=100)


class ScheduleCreate(Strict):
    from_account: str
    amount: Amount
    kind: Literal["once", "monthly", "weekly"] = Field(
        description="once (on `start`, or now), monthly on `day`, weekly on `weekday`"
    )
    start: date | None = Field(
        default=None, description="The first date (default today: once today is paid now)"
    )
    day: int | None = Field(default=None, description="monthly: 1 to 31 (a shorter month: its last day)")
    weekday: int | None = Field(default=None, description="weekly: 0 (Monday) to 6 (Sunday)")
    until: date | None = Field(default=None, description="The last date a payment may fall on")
    totp: str | None = Field(default=None, description="Above the bank's threshold: authorises every payment")


@router.post("/v1/bank/billers", status_code=status.HTTP_201_CREATED)
def register_biller(body: BillerCreate, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Operators: registers a corporate customer as a biller, paid into the account given, with the
    format its payment references follow."""
    return services.bills.register_biller(
        principal,
        account_id=body.account_id,
        name=body.name,
        category=body.category,
        reference_pattern=body.reference_pattern,
        reference_hint=body.reference_hint,
    )


@router.get("/v1/billers")
def list_billers(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """The billers a bill can be saved for, with their reference formats."""
    return services.bills.billers(principal)


@router.post("/v1/bills", status_code=status.HTTP_201_CREATED)
def save_bill(body: BillCreate, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Saves a bill: a biller and your reference with it, checked against the biller's format."""
    return services.bills.save_bill(
        principal, biller_id=body.biller_id, reference=body.reference, nickname=body.nickname
    )


@router.get("/v1/bills")
def list_bills(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your bills, each with its schedules and payment history."""
    return services.bills.bills(principal)


@router.get("/v1/bills/{bill_id}")
def get_bill(bill_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """One of your bills (staff: any): schedules, and each due payment with its state and transfer."""
    return services.bills.bill(principal, bill_id)


@router.delete("/v1/bills/{bill_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_bill(bill_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """Forgets a bill that was never paid or scheduled."""
    services.bills.delete_bill(principal, bill_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/bills/{bill_id}/schedules", status_code=status.HTTP_201_CREATED)
def schedule_bill(
    bill_id: str, body: ScheduleCreate, principal: CurrentPrincipal, services: ServicesDep
) -> dict[str, Any]:
    """Pays the bill now (`once`, no `start`), on a date, or monthly or weekly. Each due payment is
    made exactly once; refused for funds, it is tried again after 1, 6 and 24 hours, then given up
    (`bill.failed` on the event stream)."""
    return services.bills.schedule(
        principal,
        bill_id,
        from_account=body.from_account,
        amount=body.amount,
        kind=body.kind,
        start=body.start,
        day=body.day,
        weekday=body.weekday,
        until=body.until,
        totp=body.totp,
    )


@router.post("/v1/bill-schedules/{schedule_id}/skip")
def skip_payment(schedule_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Skips the schedule's next payment."""
    return services.bills.skip(principal, schedule_id)


@router.post("/v1/bill-schedules/{schedule_id}/cancel")
def cancel_schedule(schedule_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """Ends the schedule: no more payments."""
    return services.bills.cancel(principal, schedule_id)
