"""RFC 9457 problem details for every error the API returns.

Each `WalletError` subclass has its own stable `type` (`urn:tdw:problem:` and the `code` the class
declares) and `title` (declared too), and the HTTP status of its nearest mapped ancestor. Request
validation errors and HTTP errors are problem details too, and anything unexpected becomes a 500
problem that names no internals. A node that does not answer is a `NodeUnreachableError` by the time
it gets here (`wallet.chain.node.NodeProvider`): a 503.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import web
from wallet import errors, logs
from wallet.errors import WalletError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:tdw:problem:"

# Nearest ancestor wins (looked up along the class's MRO).
STATUS: dict[type[BaseException], int] = {
    errors.IdempotencyConflictError: 409,
    errors.ConflictError: 409,
    errors.RateLimitedError: 429,
    errors.AuthenticationError: 401,
    errors.TotpRequiredError: 403,
    errors.PermissionDeniedError: 403,
    errors.AuthError: 401,
    errors.NotFoundError: 404,
    errors.InvalidRequestError: 422,
    errors.ContractRevertError: 422,
    errors.SigningError: 503,
    errors.ChainError: 503,
    errors.LedgerError: 503,
    errors.ConfigurationError: 503,
    errors.BenchError: 503,
    errors.RatesUnavailableError: 503,
    errors.FxUnavailableError: 503,
    errors.PartnerAuthError: 401,
    errors.PartnerLimitError: 422,
    WalletError: 500,
}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; some problems add fields (error_name, error_args, errors, ...)",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "Stable per error: urn:tdw:problem:<kind>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string", "description": "The request's id, as in its X-Request-ID header"},
    },
    "additionalProperties": True,
}
ERROR_STATUSES = {
    401: "Not authenticated: no, a wrong or an expired token or credentials",
    403: "Not allowed for this role, or a fresh TOTP code is needed",
    404: "Not found (or not yours)",
    409: "Conflicts with what is stored (an idempotency key used for another body, a duplicate)",
    422: "The request is not valid (amounts, currencies, addresses, fields), or the contract refuses it",
    429: "Too many requests, or too many failed logins from this address: wait `Retry-After` seconds",
    503: "The chain node, signer or ledger is not available right now",
}


def problem_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses documenting the problem details every route may answer."""
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status, text in ERROR_STATUSES.items()
    }


def problem_type(exc_type: type[WalletError]) -> str:
    """The stable `type` URI of an error class: `ContractRevertError` -> `urn:tdw:problem:contract-revert`."""
    return TYPE_PREFIX + exc_type.code


def status_of(exc_type: type[BaseException]) -> int:
    """The HTTP status for an error class."""
    for cls in exc_type.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem details response, with the request's id (`wallet.logs`) in its body and headers."""
    body = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }
    request_id = logs.request_id()
    if request_id is not None:
        body["request_id"] = request_id
        headers = {**(headers or {}), "X-Request-ID": request_id}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _extensions(exc: WalletError) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.ContractRevertError):
        extra["error_name"] = exc.error_name
        extra["error_args"] = {k: str(v) if isinstance(v, int) else v for k, v in exc.error_args.items()}
    if isinstance(exc, errors.UnknownCurrencyError):
        extra["currency"] = exc.currency
    if isinstance(exc, errors.RateLimitedError):
        extra["retry_after"] = exc.retry_after
    if isinstance(exc, errors.InsufficientFundsError):
        extra["available"] = exc.available_text
        extra["currency"] = exc.currency
        extra["as_of_block"] = exc.as_of_block
    if isinstance(exc, errors.TransferRejectedError):
        extra["rules"] = exc.rules
    if isinstance(exc, errors.BatchInvalidError):
        extra["errors"] = exc.errors
    return extra


def install(app: FastAPI) -> None:
    """Registers the problem handlers on `app`."""

    @app.exception_handler(WalletError)
    async def wallet_error(request: Request, exc: WalletError) -> Response:
        status = status_of(type(exc))
        if request.url.path.startswith("/app"):  # the screens answer with a page
            return await run_in_threadpool(web.error_page, request, status, exc)
        if status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(
            status,
            problem_type(type(exc)),
            exc.title,
            str(exc),
            request.url.path,
            headers,
            **_extensions(exc),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems)
        return problem(
            422,
            TYPE_PREFIX + "validation",
            "The request is not valid.",
            detail,
            request.url.path,
            errors=problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            TYPE_PREFIX + f"http-{exc.status_code}",
            str(exc.detail),
            str(exc.detail),
            request.url.path,
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(
            500,
            TYPE_PREFIX + "internal",
            "Internal error.",
            "an unexpected error happened; it was logged",
            request.url.path,
        )
