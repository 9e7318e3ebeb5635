"""Bank operations: the operator mints and burns (above the approval threshold, and for role and
allowance changes, through a proposal: `api.routes.proposals`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.problems import TYPE_PREFIX
from api.schemas import (
    BankOut,
    BurnRequest,
    MinterOut,
    MintRequest,
    OperationOut,
    TokenInfoOut,
    TransferError,
    money,
)
from wallet.bank.operations import OperationView

router = APIRouter(prefix="/v1", tags=["bank"])
ACCEPTED: dict[int | str, dict[str, Any]] = {
    200: {"model": OperationOut, "description": "A repeated request: the original operation"}
}


def _operation(o: OperationView) -> OperationOut:
    return OperationOut(
        id=o.id,
        kind=o.kind,
        state=o.state,
        currency=o.currency,
        amount=money(o.amount, o.decimals) if o.amount is not None and o.decimals is not None else None,
        target=o.target,
        details=o.details,
        sender=o.sender,
        tx_hash=o.tx_hash,
        error=TransferError(type=TYPE_PREFIX + "contract-revert", name=o.error["name"], args=o.error["args"])
        if o.error
        else None,
        created_at=o.created_at,
    )


@router.get("/bank", response_model=BankOut)
def bank_info(_principal: CurrentPrincipal, services: ServicesDep) -> BankOut:
    """The bank's contracts and its redemption address (any signed-in user)."""
    bank = services.bank
    return BankOut(
        name=bank.manifest.bank_name,
        chain_id=bank.chain_id,
        registry=bank.manifest.registry.address,
        tokens=[
            TokenInfoOut(currency=t.currency, address=t.address, decimals=t.decimals, name=t.name)
            for t in bank.tokens.values()
        ],
        redemption_address=bank.role_address("burner"),
    )


@router.post(
    "/bank/mint", status_code=status.HTTP_202_ACCEPTED, response_model=OperationOut, responses=ACCEPTED
)
def mint(
    body: MintRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OperationOut:
    """Operator: mints tokens for a fiat deposit, to a customer's account or a KYC'd address. The
    minter allowance is enforced by the contract: above it, the answer is a 422 naming the allowance."""
    view, created = services.operations.mint(
        principal,
        idempotency_key=idempotency_key,
        currency=body.currency,
        amount=body.amount,
        to_account=body.to_account,
        to_address=body.to_address,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _operation(view)


@router.post(
    "/bank/burn", status_code=status.HTTP_202_ACCEPTED, response_model=OperationOut, responses=ACCEPTED
)
def burn(
    body: BurnRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> OperationOut:
    """Operator: burns redeemed tokens from the redemption address (the fiat was paid out)."""
    view, created = services.operations.burn(
        principal, idempotency_key=idempotency_key, currency=body.currency, amount=body.amount
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _operation(view)


@router.get("/bank/minters/{currency}", response_model=MinterOut)
def minter(currency: str, principal: CurrentPrincipal, services: ServicesDep) -> MinterOut:
    """Operator or admin: the minter's remaining allowance and the redemption balance."""
    info = services.operations.minter(principal, currency)
    return MinterOut(
        currency=info.currency,
        minter=info.minter,
        allowance=money(info.allowance, info.decimals),
        redemption_address=info.redemption_address,
        redemption_balance=money(info.redemption_balance, info.decimals),
        total_supply=money(info.total_supply, info.decimals),
    )


@router.get("/bank/operations", response_model=list[OperationOut])
def list_operations(
    principal: CurrentPrincipal, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[OperationOut]:
    """Staff: the newest bank operations."""
    return [_operation(o) for o in services.operations.recent(principal, limit=limit)]


@router.get("/bank/operations/{operation_id}", response_model=OperationOut)
def get_operation(operation_id: str, principal: CurrentPrincipal, services: ServicesDep) -> OperationOut:
    """Staff: one bank operation and its transaction's state."""
    return _operation(services.operations.get(principal, operation_id))
