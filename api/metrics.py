"""Prometheus metrics at `/metrics` (the maintained `prometheus-client`; every name starts `tdw_`).

- `tdw_http_request_duration_seconds{method, route, status}`: a histogram per route template (not per
  path: `/v1/transfers/{transfer_id}`, so ids do not multiply series).
- Read from the database and the node at each scrape (`wallet.bank.health`): outbox transactions by
  state and the age of the oldest still moving, each sending key's nonces in flight, the ledger
  mirror's lag behind the head, transfers not executed yet by state (held ones are the policy's
  decisions waiting for an officer), webhook deliveries owed, screening hits by state, open incidents
  by severity, reorgs followed, and the newest reconciliation's differences.

Who may read it: anyone who reaches it while `TDW_METRICS_TOKEN` is unset in development; with the
token set, only a request bearing it (Prometheus's `authorization` setting); in production without a
token, nobody (fail closed: the figures describe the bank's business).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallet.bank.runtime import Services
from wallet.settings import Settings


class BankCollector(Collector):
    """The bank's figures, read when Prometheus scrapes."""

    def __init__(self, services: Callable[[], Services | None]) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        services = self.services()
        if services is None:
            return
        h = services.health.read()
        yield _gauge("tdw_chain_head_block", "The chain head the node reports", h.head_block)
        if h.mirror_lag is not None:
            yield _gauge(
                "tdw_indexer_lag_blocks", "Blocks the ledger mirror is behind the head", h.mirror_lag
            )
        yield _labelled("tdw_outbox_transactions", "Outbox transactions by state", "state", h.outbox)
        yield _gauge(
            "tdw_outbox_oldest_moving_seconds",
            "Age of the oldest outbox transaction not final or failed (0: none)",
            h.oldest_moving_seconds or 0.0,
        )
        nonces = GaugeMetricFamily(
            "tdw_relayer_nonces_in_flight",
            "Nonces a sending key was given that the node has not mined yet",
            labels=["role", "address"],
        )
        for sender in h.senders:
            nonces.add_metric([sender.role, sender.address], sender.in_flight)
        yield nonces
        yield _labelled(
            "tdw_transfers_open",
            "Transfers not executed yet, by state (held: waiting for an officer)",
            "state",
            h.unsettled_transfers,
        )
        yield _gauge("tdw_webhook_backlog", "Webhook deliveries owed", h.webhook_backlog)
        yield _labelled("tdw_screening_hits", "Sanctions screening hits by state", "state", h.screening_hits)
        yield _labelled("tdw_incidents_open", "Open incidents by severity", "severity", h.open_incidents)
        yield _gauge("tdw_reorgs", "Reorgs the indexer followed", h.reorgs)
        if h.reconciliation is not None:
            yield _gauge(
                "tdw_reconciliation_differences",
                "Differences the newest reconciliation found between the database and the chain",
                h.reconciliation["differences"],
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class RequestTimer:
    """ASGI middleware: each HTTP request's duration, labelled by its route's template."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.histogram.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


def install(app: FastAPI, settings: Settings) -> None:
    """Adds `/metrics` and the request timer to `app`, with a registry of its own."""
    registry = CollectorRegistry(auto_describe=True)
    histogram = Histogram(
        "tdw_http_request_duration_seconds",
        "HTTP request duration by method, route template and status",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    )
    registry.register(BankCollector(lambda: getattr(app.state, "services", None)))
    app.add_middleware(RequestTimer, histogram=histogram)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    production = settings.environment == "production"

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if token is None and production:
            return PlainTextResponse("set TDW_METRICS_TOKEN to read metrics in production\n", status_code=403)
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("a bearer token is needed\n", status_code=401)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


__all__ = ["BankCollector", "RequestTimer", "install"]
