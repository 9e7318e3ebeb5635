"""`/metrics` read by Prometheus's own text parser: request durations per route template, and the bank's
figures as the database holds them at the scrape; the endpoint closed in production without a token,
and behind the token when one is set."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select

from api import metrics
from tests.support.api_bank import ApiBank, User
from tests.support.waiting import wait_for
from wallet.db.models import ChainTx, TransferRequest
from wallet.settings import Settings


def _scrape(client: TestClient, **headers: str) -> dict[str, list[Any]]:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(r.text):
        assert family.name.startswith("tdw_"), family.name
        found[family.name] = family.samples
    return found


def test_metrics_show_request_durations_by_route_and_the_banks_figures(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    payee = bank.open_account(bank.signup())
    r = bank.client.post(
        "/v1/transfers",
        json={"from_account": account["id"], "to_account": payee["id"], "amount": "1.00", "currency": "USD"},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    bank.client.get(f"/v1/transfers/{r.json()['id']}", headers=user.headers)
    found = _scrape(bank.client)
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in found["tdw_http_request_duration_seconds"]
        if s.name.endswith("_count")
    }
    assert counts[("POST", "/v1/transfers", "201")] >= 1
    assert counts[("GET", "/v1/transfers/{transfer_id}", "200")] >= 1  # the template, not the id
    # The figures are the database's at the scrape (compared once the transfer is final and the outbox
    # is still: a scrape and a read a moment apart may straddle a transaction's step).
    bank.follow(user, r.json()["id"])

    def agree() -> dict[str, list[Any]] | None:
        found = _scrape(bank.client)
        with bank.services.bank.readers() as session:
            outbox = dict(
                session.execute(select(ChainTx.status, func.count()).group_by(ChainTx.status)).all()
            )
            held = session.scalar(
                select(func.count()).select_from(TransferRequest).where(TransferRequest.status == "held")
            )
        scraped = {s.labels["state"]: s.value for s in found["tdw_outbox_transactions"]}
        open_transfers = {s.labels["state"]: s.value for s in found["tdw_transfers_open"]}
        same = scraped == {str(k): float(v) for k, v in outbox.items()}
        return found if same and open_transfers.get("held", 0) == held else None

    found = wait_for(agree, timeout=30)
    assert found["tdw_chain_head_block"][0].value >= 1
    assert found["tdw_indexer_lag_blocks"][0].value >= 0
    assert {s.labels["role"] for s in found["tdw_relayer_nonces_in_flight"]} >= {"relayer", "minter"}


def test_metrics_are_closed_in_production_without_a_token_and_behind_the_token(bank: ApiBank) -> None:
    def app_with(settings: Settings) -> TestClient:
        app = FastAPI()
        app.state.services = bank.services
        metrics.install(app, settings)
        return TestClient(app)

    production = app_with(Settings.model_construct(environment="production", metrics_token=None))
    assert production.get("/metrics").status_code == 403
    guarded = app_with(Settings.model_construct(environment="production", metrics_token=SecretStr("s3cret")))
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "tdw_outbox_transactions" in _scrape(guarded, Authorization="Bearer s3cret")
