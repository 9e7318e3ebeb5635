"""The FastAPI application: `/v1` routes over the bank's services, problem details for every error."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from api import metrics, problems, web
from api.deps import ServicesDep, limit_client
from api.problems import problem_responses
from api.request_ids import RequestIds
from api.routes import (
    accounts,
    auth,
    bank,
    batches,
    bills,
    cases,
    compliance,
    crossborder,
    events,
    fx,
    inspection,
    invoices,
    kyc,
    notifications,
    operations,
    partner,
    points,
    proposals,
    requests,
    spending,
    transfers,
)
from api.schemas import HealthOut, ReadyOut, ReconciliationSummary
from api.security import SecurityHeaders
from wallet.bank.runtime import Services
from wallet.settings import get_settings

DESCRIPTION = """Tokenized deposit wallet API.

Log in at `POST /v1/auth/token` (form: `grant_type=password`, `username`, `password`, `totp`) and send
the access token as `Authorization: Bearer ...`. Amounts are decimal strings with a currency. Every
request that moves money takes an `Idempotency-Key` header. Errors are RFC 9457 problem details.
"""


def create_app(services: Services, *, docs: bool = True) -> FastAPI:
    """The API over `services`; `docs=False` serves no `/docs`, `/redoc` or `/openapi.json` (production,
    unless `TDW_API_DOCS` asks for them)."""
    app = FastAPI(
        title="tdw",
        version="1",
        description=DESCRIPTION,
        responses=problem_responses(),
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        dependencies=[Depends(limit_client)],
    )
    app.state.services = services
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestIds)  # outermost of ours: every response and log line has the id
    metrics.install(app, get_settings())
    problems.install(app)
    for module in (
        auth,
        accounts,
        kyc,
        transfers,
        bank,
        proposals,
        compliance,
        cases,
        inspection,
        events,
        operations,
        fx,
        crossborder,
        partner,
        requests,
        bills,
        spending,
        batches,
        invoices,
        notifications,
        points,
    ):
        app.include_router(module.router)
    web.install(app)

    @app.get("/healthz", response_model=HealthOut, tags=["health"])
    def health(services: ServicesDep) -> HealthOut:
        """Liveness: the node answers; how far the ledger mirror is."""
        bank = services.bank
        return HealthOut(
            status="ok",
            chain_id=bank.chain_id,
            head_block=bank.w3.eth.block_number,
            mirror_block=bank.mirror_block(),
        )

    @app.get("/readyz", response_model=ReadyOut, tags=["health"], responses={503: {"model": ReadyOut}})
    def ready(services: ServicesDep) -> ReadyOut | JSONResponse:
        """Readiness: the node and the database answer, the ledger mirror is close to the chain head
        (`TDW_READY_MAX_LAG_BLOCKS`), no critical incident is open (a chain behind the database, a reorg
        past final entries) and the newest reconciliation found the database and the chain in
        agreement. 503 otherwise, with the problems listed."""
        problems: list[str] = []
        head = mirror = reconciliation = None
        try:
            head = services.bank.w3.eth.block_number
        except Exception:  # noqa: BLE001 - any failure of the node is "not ready"
            problems.append("the chain node does not answer")
        try:
            mirror = services.bank.mirror_block()
            allowed = get_settings().ready_max_lag_blocks
            if head is not None and mirror is not None and head - mirror > allowed:
                problems.append(
                    f"the ledger mirror is {head - mirror} blocks behind the chain (at most {allowed})"
                )
            problems += [
                f"incident {i.id} ({i.kind}): {i.summary}" for i in services.incidents.open_critical()
            ]
            last = services.reconciler.latest()
            if last is not None:
                reconciliation = ReconciliationSummary(
                    id=last.id,
                    ok=last.ok,
                    difference_count=last.difference_count,
                    at_block=last.at_block,
                    finished_at=last.finished_at,
                )
                if not last.ok:
                    problems.append(
                        f"reconciliation {last.id} found {last.difference_count} differences with the chain"
                    )
        except Exception:  # noqa: BLE001 - any failure of the database is "not ready"
            problems.append("the database does not answer")
        out = ReadyOut(
            status="not-ready" if problems else "ready",
            head_block=head,
            mirror_block=mirror,
            reconciliation=reconciliation,
            problems=problems,
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=503) if problems else out

    return app
