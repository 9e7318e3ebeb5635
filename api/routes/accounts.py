"""Wallet accounts, balances, statements and payees."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import AccountCreate, AccountOut, BalanceOut, PayeeCreate, PayeeOut, money
from wallet.bank.accounts import AccountView
from wallet.bank.runtime import Services
from wallet.bank.users import Principal

router = APIRouter(prefix="/v1", tags=["accounts"])

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "pdf": "application/pdf",
    "camt053": "application/xml",
}
EXTENSIONS = {"json": "json", "csv": "csv", "pdf": "pdf", "camt053": "xml"}


def _account(a: AccountView) -> AccountOut:
    return AccountOut(
        id=a.id,
        user_id=a.user_id,
        currency=a.currency,
        address=a.address,
        token=a.token,
        status=a.status,
        created_at=a.created_at,
    )


@router.post("/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
def open_account(body: AccountCreate, principal: CurrentPrincipal, services: ServicesDep) -> AccountOut:
    """Opens your account in a currency. Its address is registered with the compliance registry; the
    account is `pending` until that is on chain, then `active`."""
    return _account(services.accounts.open(principal, body.currency))


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(
    principal: CurrentPrincipal,
    services: ServicesDep,
    user_id: Annotated[str | None, Query(max_length=64, description="Staff: another user's accounts")] = None,
) -> list[AccountOut]:
    """Your accounts (staff may ask for another user's)."""
    return [_account(a) for a in services.accounts.accounts_of(principal, user_id)]


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: str, principal: CurrentPrincipal, services: ServicesDep) -> AccountOut:
    """One account."""
    return _account(services.accounts.get(principal, account_id))


@router.get("/accounts/{account_id}/balance", response_model=BalanceOut)
def get_balance(account_id: str, principal: CurrentPrincipal, services: ServicesDep) -> BalanceOut:
    """The balance from the ledger mirror, and the block it is as of."""
    b = services.accounts.balance(principal, account_id)
    return BalanceOut(
        account_id=b.account_id,
        currency=b.currency,
        balance=money(b.balance, b.decimals),
        as_of_block=b.as_of_block,
    )


@router.get(
    "/accounts/{account_id}/statements",
    responses={
        200: {
            "description": "The statement",
            "content": {
                t: {"schema": {"type": "string"}} for t in MEDIA_TYPES.values() if t != "application/json"
            },
        }
    },
)
def get_statement(
    account_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    from_: Annotated[date, Query(alias="from", description="First day (UTC)")],
    to: Annotated[date, Query(description="Last day (UTC), included")],
    format: Annotated[Literal["json", "csv", "pdf", "camt053"], Query()] = "json",
) -> Response:
    """The account's statement: opening balance, entries with counterparty and reference, closing
    balance, as JSON, CSV, PDF or ISO 20022 camt.053."""
    return statement_download(services, principal, account_id, from_, to, format)


def statement_download(
    services: Services, principal: Principal, account_id: str, from_: date, to: date, format: str
) -> Response:
    """The statement as a file to save (the API's and the screens' downloads alike)."""
    _, body = services.accounts.statement(principal, account_id, from_, to, format)
    filename = f"statement-{account_id}-{from_}-{to}.{EXTENSIONS[format]}"
    return Response(
        content=body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/payees", status_code=status.HTTP_201_CREATED, response_model=PayeeOut, tags=["payees"])
def add_payee(body: PayeeCreate, principal: CurrentPrincipal, services: ServicesDep) -> PayeeOut:
    """Saves an address under a name (and the payee's country, if known). It is screened as it is
    saved: an address on a sanctions list is refused."""
    p = services.accounts.add_payee(principal, body.name, body.address, body.country)
    return PayeeOut(id=p.id, name=p.name, address=p.address, country=p.country, created_at=p.created_at)


@router.get("/payees", response_model=list[PayeeOut], tags=["payees"])
def list_payees(principal: CurrentPrincipal, services: ServicesDep) -> list[PayeeOut]:
    """Your payees."""
    return [
        PayeeOut(id=p.id, name=p.name, address=p.address, country=p.country, created_at=p.created_at)
        for p in services.accounts.payees(principal)
    ]


@router.delete("/payees/{payee_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["payees"])
def delete_payee(payee_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """Removes a payee."""
    services.accounts.delete_payee(principal, payee_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
