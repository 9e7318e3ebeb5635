"""The browser screens (`/app`): the customer wallet first, then the compliance and operations consoles
and the partner view. Server-rendered with Jinja2 and made interactive with htmx (see
docs/architecture.md for why); served by the same process and over the same `wallet` services as the
API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.web import compliance, exchange, operations, profile, retail, staff
from api.web.core import ForgedFormError, Page, SignInRequiredError, page, sign_in_url
from api.web.routes import router
from wallet.errors import WalletError

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Adds the screens, their static files and their error pages to `app`."""
    for screens in (
        router,
        profile.router,
        exchange.router,
        retail.router,
        staff.router,
        compliance.router,
        operations.router,
    ):
        app.include_router(screens)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequiredError)
    async def sign_in_first(request: Request, exc: SignInRequiredError) -> Response:
        return exc.page.redirect(sign_in_url(request))

    @app.exception_handler(ForgedFormError)
    async def forged(request: Request, _: ForgedFormError) -> Response:
        return await run_in_threadpool(_forged, request)


def _forged(request: Request) -> Response:
    return page(request).render("error.html", {"status": 403, "forged": True}, status=403)


def error_page(request: Request, status: int, error: WalletError) -> Response:
    """A wallet error on a screen, as a page in the reader's language."""
    current: Page = page(request)
    return current.render("error.html", {"status": status, "error": error}, status=status)


__all__ = ["error_page", "install"]
