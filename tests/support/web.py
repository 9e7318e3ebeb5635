"""A browser's session over HTTP (cookies, form tokens) on an `ApiBank`'s app, for the screens' tests."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api_bank import ApiBank, User

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
KEY = re.compile(r'name="key" value="([0-9a-f]{32})')


class Browser:
    """A cookie jar of its own on the bank's app, as one browser is."""

    def __init__(self, bank: ApiBank) -> None:
        self.client = TestClient(bank.client.app, base_url="http://testserver", follow_redirects=False)

    def csrf(self, path: str = "/app/sign-in") -> str:
        match = CSRF.search(self.client.get(path, follow_redirects=True).text)
        assert match, f"no form token on {path}"
        return match.group(1)

    def sign_in(self, user: User) -> Any:
        return self.client.post(
            "/app/sign-in",
            data={
                "csrf": self.csrf(),
                "username": user.username,
                "password": user.password,
                "totp": user.code(),
                "next": "/app",
            },
        )

    def form(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POSTs a form to `path` with the session's anti-forgery token."""
        return self.client.post(path, data={"csrf": self.csrf("/app"), **(data or {})}, **kwargs)

    def key(self, path: str) -> str:
        """The one-transfer key a page's form carries."""
        match = KEY.search(self.client.get(path).text)
        assert match, f"no form key on {path}"
        return match.group(1)
