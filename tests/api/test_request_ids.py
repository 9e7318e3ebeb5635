"""A request id from the HTTP request to the chain transaction: returned in the `X-Request-ID` header of
every response and in every problem document (500s included), kept on the transfer request's row and
the outbox row of the batch that carries it, and named by the relayer's log line about the broadcast;
log lines as JSON objects carry it (`wallet.logs`)."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.api_bank import ApiBank, User
from wallet import logs
from wallet.db.models import ChainTx, TransferRequest

HEX_ID = re.compile(r"[0-9a-f]{32}")


def test_every_response_and_problem_carries_its_request_id(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = funded
    ok = bank.client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:1"})
    assert ok.headers["x-request-id"] == "lb-7f3a:1"
    # Not a plain token (a space, too long): replaced by a new id, never echoed into logs.
    for offered in ("has space", "x" * 65, "line\u2028break"):
        r = bank.client.get("/healthz", headers={"X-Request-ID": offered.encode()})
        assert HEX_ID.fullmatch(r.headers["x-request-id"]), offered
    first, second = bank.client.get("/healthz"), bank.client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]

    missing = bank.client.get("/v1/transfers/nope", headers={**user.headers, "X-Request-ID": "req-404"})
    assert (missing.status_code, missing.json()["request_id"]) == (404, "req-404")
    assert missing.headers["x-request-id"] == "req-404"
    invalid = bank.client.post(
        "/v1/transfers", json={"amount": 5}, headers={**user.headers, "X-Request-ID": "req-422"}
    )
    assert (invalid.status_code, invalid.json()["request_id"]) == (422, "req-422")
    anonymous = bank.client.get("/v1/accounts", headers={"X-Request-ID": "req-401"})
    assert (anonymous.status_code, anonymous.json()["request_id"]) == (401, "req-401")

    # An unexpected error: Starlette's outermost middleware answers it, past every other middleware.
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(bank.services.accounts, "accounts_of", broken)
    crashed = bank.client.get("/v1/accounts", headers={**user.headers, "X-Request-ID": "req-500"})
    assert crashed.status_code == 500
    assert crashed.json()["request_id"] == "req-500"
    assert crashed.headers["x-request-id"] == "req-500"
    assert "boom" not in crashed.text


def test_a_transfers_request_id_reaches_its_row_its_batch_and_the_broadcast_log_line(
    bank: ApiBank, funded: tuple[User, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    user, account = funded
    payee = bank.open_account(bank.signup())
    caplog.set_level(logging.INFO, logger="wallet.tx.outbox")
    sent = bank.client.post(
        "/v1/transfers",
        json={"from_account": account["id"], "to_account": payee["id"], "amount": "1.25", "currency": "USD"},
        headers={**user.headers, "Idempotency-Key": "request-id-1", "X-Request-ID": "pay-4711"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.headers["x-request-id"] == "pay-4711"
    assert bank.follow(user, sent.json()["id"])["state"] == "final"
    with bank.services.bank.readers() as session:
        request = session.scalars(
            select(TransferRequest).where(TransferRequest.idempotency_key.like("%request-id-1"))
        ).one()
        assert request.request_id == "pay-4711"
        batch = session.get(ChainTx, request.chain_tx_id)
        assert batch is not None
        assert "pay-4711" in (batch.request_ids or [])
    [line] = [
        r for r in caplog.records if r.name == "wallet.tx.outbox" and getattr(r, "chain_tx", None) == batch.id
    ]
    assert "pay-4711" in line.request_ids  # type: ignore[attr-defined]
    assert line.tx_hash == batch.tx_hash  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_request_id_and_the_lines_own_fields() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.RequestIdFilter())
    logger = logging.getLogger("tests.request_ids")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside a request")
        token = logs.REQUEST_ID.set("req-json-1")
        try:
            logger.info("sent %s", "0xabc", extra={"request_ids": ["req-json-1"], "chain_tx": "c1"})
        finally:
            logs.REQUEST_ID.reset(token)
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert (outside["message"], outside["request_id"], outside["level"]) == ("outside a request", "-", "INFO")
    assert outside["logger"] == "tests.request_ids"
    assert "time" in outside
    assert (inside["message"], inside["request_id"]) == ("sent 0xabc", "req-json-1")
    assert (inside["request_ids"], inside["chain_tx"]) == (["req-json-1"], "c1")


def test_configure_writes_text_or_json_lines_from_the_root_logger() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("wallet").level)
    try:
        for kind in ("text", "json"):
            out = io.StringIO()
            logs.configure(kind, stream=out)
            logging.getLogger("wallet.example").info("hello")
            logging.getLogger("some.library").info("too chatty")  # libraries: warnings and up
            [line] = out.getvalue().splitlines()
            if kind == "json":
                assert json.loads(line)["message"] == "hello"
            else:
                assert line.endswith("INFO wallet.example [-]: hello")
    finally:
        handlers, level, wallet_level = saved
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("wallet").setLevel(wallet_level)
