"""Security headers on every response, as a plain ASGI middleware (Starlette's BaseHTTPMiddleware
costs a task and a queue per request on the transfer path).

- `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` everywhere;
- `Cache-Control: no-store` on everything under `/v1` (tokens, balances, transfers: nothing a shared
  cache or the browser's history should keep), unless a route set its own;
- on the browser screens (`/app`): a Content-Security-Policy that allows scripts, styles, fonts and
  requests from this origin only (no inline script or style, no `eval`), images also from `data:` (QR
  codes), no framing, forms posting only here; and `no-store` on every page (not on static files);
- `Strict-Transport-Security` when the request came over HTTPS (directly, or through a TLS proxy whose
  forwarded scheme uvicorn trusts).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
NO_STORE = (b"cache-control", b"no-store")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
)


class SecurityHeaders:
    """Adds the headers above to each HTTP response of `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(ALWAYS)
        path = scope["path"]
        if path.startswith("/v1"):
            extra.append(NO_STORE)
        elif path == "/app" or path.startswith("/app/"):
            extra.append(CSP)
            if not path.startswith("/app/static/"):
                extra.append(NO_STORE)
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
