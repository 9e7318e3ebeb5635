"""The request id (`wallet.logs`) of every HTTP request, as a plain ASGI middleware: the caller's
`X-Request-ID` when it is a plain token, else a new one; set for the request's work (log lines, the rows
it stores) and returned in the `X-Request-ID` header. Problem documents carry it too (`api.problems`),
including those Starlette's outermost error middleware sends, which pass no middleware: the id is set in
the request's own context and not reset, so their handler still reads it."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallet.logs import REQUEST_ID, new_request_id

HEADER = "x-request-id"


class RequestIds:
    """Gives each HTTP request of `app` its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(Headers(scope=scope).get(HEADER))
        REQUEST_ID.set(request_id)  # in this request's own context (each request is a task of its own)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if HEADER not in headers:
                    headers.append(HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)
