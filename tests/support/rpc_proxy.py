"""A JSON-RPC proxy in front of a node, for tests that put faults between the code and the chain: it
forwards every request unchanged, except those a rule picks, which it answers with an HTTP 502 (what a
load balancer in front of a node that is away sends) or a JSON-RPC error, and runs hooks a test sets
after a method answers and before the answer goes back (to reorganise the chain between two calls)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RpcProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to `upstream`; `fail(method, times)` makes the
    next `times` calls of `method` fail."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy._should_fail(body):
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = proxy._session.post(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=30
                )
                for hook in proxy._hooks_for(body):
                    hook()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` get a 502."""
        with self._lock:
            self._faults[method] = self._faults.get(method, 0) + times

    def after(self, method: str, hook: Callable[[], None]) -> None:
        """Runs `hook` once, after the next call of `method` has its answer from upstream and before
        the caller gets it."""
        with self._lock:
            self._hooks.setdefault(method, []).append(hook)

    def _hooks_for(self, body: bytes) -> list[Callable[[], None]]:
        try:
            request = json.loads(body)
        except ValueError:
            return []
        hooks = []
        with self._lock:
            for r in request if isinstance(request, list) else [request]:
                pending = self._hooks.get(r.get("method", ""), [])
                if pending:
                    hooks.append(pending.pop(0))
        return hooks

    def _should_fail(self, body: bytes) -> bool:
        try:
            request = json.loads(body)
        except ValueError:
            return False
        methods = [r.get("method", "") for r in (request if isinstance(request, list) else [request])]
        with self._lock:
            for method in methods:
                self.calls[method] = self.calls.get(method, 0) + 1
            for method in methods:
                if self._faults.get(method, 0) > 0:
                    self._faults[method] -= 1
                    return True
        return False

    @contextmanager
    def running(self) -> Iterator[RpcProxy]:
        """Serves until the block ends."""
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._session.close()
