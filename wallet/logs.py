"""Logs, and the request id that ties a line to the HTTP request it served.

The API gives each request an id (the caller's `X-Request-ID` when it is a plain token, else a new one),
sets it here for the request's work, returns it in a response header and in every problem document.
What the request stores keeps it: a transfer request's row, and the outbox row of the chain transaction
that carries it (a batch lists the ids of every transfer in it), so the relayer's line about the
broadcast names the HTTP requests it serves. Every log line carries the current id (`-` outside a
request); `configure` writes lines as JSON objects (python-json-logger) or as text.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import IO, Literal

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("tdw_request_id", default=None)
# What a caller may send as its own id: a token a log search can match, nothing that breaks a line.
_CALLER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def request_id() -> str | None:
    """The id of the HTTP request being served, or None (a background worker)."""
    return REQUEST_ID.get()


def new_request_id(offered: str | None = None) -> str:
    """The caller's id when it is a plain token of at most 64 characters, else a new random one."""
    if offered is not None and _CALLER_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (`-` outside a request), unless the line names its
    own (`extra={"request_id": ...}`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


def formatter(kind: LogFormat) -> logging.Formatter:
    """JSON objects (time, level, logger, message, request id and any `extra` fields), or text."""
    if kind == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(kind: LogFormat = "text", *, stream: IO[str] | None = None) -> logging.Handler:
    """Sends the root logger's lines to `stream` (stderr) in `kind`, warnings and up from libraries and
    information from the wallet; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("wallet").setLevel(logging.INFO)
    return handler


__all__ = [
    "REQUEST_ID",
    "TEXT_FORMAT",
    "LogFormat",
    "RequestIdFilter",
    "configure",
    "formatter",
    "new_request_id",
    "request_id",
]
