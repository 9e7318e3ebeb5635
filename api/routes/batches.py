"""Batch payments for corporate clients: a pain.001 (or CSV) file in, a pain.002 status report out. Who
may do what is decided in `wallet.retail.batches`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Response, UploadFile, status

from api.deps import CurrentPrincipal, ServicesDep
from wallet.errors import InvalidRequestError

router = APIRouter(prefix="/v1/batches", tags=["batch payments"])
MAX_FILE_BYTES = 5 * 1024 * 1024


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={200: {"description": "This file was sent before"}}
)
def upload_batch(
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    file: UploadFile,
    format: Annotated[
        Literal["pain.001", "csv"], Form(description="pain.001 (pain.001.001.10 XML) or csv")
    ] = "pain.001",
    message_id: Annotated[
        str | None, Form(max_length=35, description="csv: the file's id (pain.001: its MsgId)")
    ] = None,
    from_account: Annotated[
        str | None, Form(max_length=64, description="csv: the account it pays from")
    ] = None,
) -> dict[str, Any]:
    """Validates the whole file (every line's problems come back together as `batch-invalid`, and
    nothing moves), then pays each line as a transfer. The same message id again returns that batch."""
    content = file.file.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise InvalidRequestError("a batch file is at most 5 MiB")
    if format == "csv":
        if not message_id or not from_account:
            raise InvalidRequestError("a CSV batch needs message_id and from_account")
        view, created = services.batches.upload_csv(
            principal, content, message_id=message_id, from_account=from_account
        )
    else:
        view, created = services.batches.upload_pain001(principal, content)
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("")
def list_batches(principal: CurrentPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your batches, newest first."""
    return services.batches.mine(principal)


@router.get("/{batch_id}")
def get_batch(batch_id: str, principal: CurrentPrincipal, services: ServicesDep) -> dict[str, Any]:
    """A batch with each line's state: pending, submitted ... final, failed or rejected."""
    return services.batches.get(principal, batch_id)


@router.get(
    "/{batch_id}/pain.002", response_class=Response, responses={200: {"content": {"application/xml": {}}}}
)
def batch_status_report(batch_id: str, principal: CurrentPrincipal, services: ServicesDep) -> Response:
    """The customer payment status report (pain.002.001.11) of the batch as it stands."""
    return Response(services.batches.pain002(principal, batch_id), media_type="application/xml")
