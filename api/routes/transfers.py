"""Customer transfers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentPrincipal, IdempotencyKey, ServicesDep
from api.problems import TYPE_PREFIX
from api.schemas import (
    PolicyRuleOut,
    TransferCheckIn,
    TransferCheckOut,
    TransferCreate,
    TransferError,
    TransferOut,
    money,
)
from wallet.bank.payments import TransferView

router = APIRouter(prefix="/v1", tags=["transfers"])


def transfer_out(t: TransferView) -> TransferOut:
    """The API body of a transfer."""
    return TransferOut(
        id=t.id,
        state=t.state,
        currency=t.currency,
        amount=money(t.amount, t.decimals),
        payer=t.payer,
        payee=t.payee,
        reference=t.reference,
        memo=t.memo,
        tx_hash=t.tx_hash,
        block_number=t.block_number,
        error=TransferError(
            type=TYPE_PREFIX + (t.error["problem"] or "contract-revert"),
            name=t.error["name"],
            args=t.error["args"],
        )
        if t.error
        else None,
        created_at=t.created_at,
        updated_at=t.updated_at,
        reasons=[PolicyRuleOut(**r) for r in t.reasons],
    )


@router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses={200: {"model": TransferOut, "description": "A repeated request: the original transfer"}},
)
def create_transfer(
    body: TransferCreate,
    principal: CurrentPrincipal,
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
    response: Response,
) -> TransferOut:
    """Sends money from one of your accounts to another account of the bank, an address, or a saved
    payee. The customer's key signs an EIP-3009 authorization and the bank relays it; follow the state
    with GET /v1/transfers/{id} or the event stream. Above the bank's threshold a fresh TOTP code is
    required in `totp`."""
    view, created = services.payments.submit(
        principal,
        idempotency_key=idempotency_key,
        from_account=body.from_account,
        amount=body.amount,
        currency=body.currency,
        to_account=body.to_account,
        to_address=body.to_address,
        to_payee=body.to_payee,
        reference=body.reference,
        memo=body.memo,
        totp=body.totp,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return transfer_out(view)


@router.post("/transfers/check", response_model=TransferCheckOut)
def check_transfer(
    body: TransferCheckIn, principal: CurrentPrincipal, services: ServicesDep
) -> TransferCheckOut:
    """A dry run: whether this transfer would be sent now, held for review, or refused, and why. Nothing
    is stored or signed, and no TOTP code is needed."""
    result = services.payments.check(
        principal,
        from_account=body.from_account,
        amount=body.amount,
        currency=body.currency,
        to_account=body.to_account,
        to_address=body.to_address,
        to_payee=body.to_payee,
    )
    decimals = services.bank.token(body.currency).decimals
    return TransferCheckOut(
        outcome=result.outcome,
        rules=[PolicyRuleOut(**r) for r in result.rules],
        policy_version=result.policy_version,
        available=money(result.available, decimals) if result.available is not None else None,
    )


@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(
    principal: CurrentPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(max_length=64, description="A transfer id: older ones")] = None,
) -> list[TransferOut]:
    """Your transfers, newest first."""
    return [transfer_out(t) for t in services.payments.history(principal, limit=limit, before=before)]


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, principal: CurrentPrincipal, services: ServicesDep) -> TransferOut:
    """One transfer, with its state: held (for the bank's review), pending, submitted, executed,
    confirmed, final, or failed with the contract's decoded error (or the bank's refusal)."""
    return transfer_out(services.payments.get(principal, transfer_id))
