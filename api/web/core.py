"""What every screen shares: the Jinja2 environments (one per language, with its catalogue), the
browser session (HttpOnly, SameSite=Strict cookies holding the API's own access and refresh tokens),
the anti-forgery token of every form, and rendering.

Sessions: signing in calls the same `UserService.login` as `POST /v1/auth/token`; the access token
rides in a cookie the page scripts cannot read, and is refreshed from the refresh cookie when it
expires. Cookies are `Secure` when the request came over HTTPS (directly, or through a TLS proxy
uvicorn trusts); `tdw dev` over plain HTTP on the loopback sets them without it.

Forgery: every form and every htmx request carries `csrf`, an HMAC (under the bank's token secret) of a
random value in the `tdw_csrf` cookie; an unsafe request whose token does not match is refused (403).
A fresh value is set at sign-in and sign-out.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.web.i18n import LANGUAGES, Formats, choose, translations
from wallet.bank.accounts import AccountView
from wallet.bank.runtime import Services
from wallet.bank.users import Principal, TokenPair
from wallet.errors import AuthError, WalletError
from wallet.vocabulary import AccountStatus

TEMPLATES = Path(__file__).parent / "templates"
ACCESS, REFRESH, CSRF, LANGUAGE = "tdw_access", "tdw_refresh", "tdw_csrf", "tdw_lang"
CSRF_PURPOSE = "web-csrf"
YEAR = 365 * 24 * 3600


@cache
def environment(language: str) -> Environment:
    """The templates in `language`: autoescaped, with `{% trans %}` and `_()` from its catalogue."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


@dataclass
class Page:
    """One request's view of the browser session: who is signed in, in which language, the form token,
    and the cookies to set on the answer."""

    request: Request
    services: Services
    language: str
    principal: Principal | None = None
    cookies: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # name -> (value, max-age)

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https"

    @property
    def csrf_seed(self) -> str:
        if CSRF in self.cookies:
            return self.cookies[CSRF][0]
        seed = self.request.cookies.get(CSRF)
        if not seed or len(seed) != 43:
            seed = secrets.token_urlsafe(32)
            self.cookies[CSRF] = (seed, None)
        return seed

    @property
    def csrf(self) -> str:
        """The token the page's forms carry."""
        return self.services.users.tag(CSRF_PURPOSE, self.csrf_seed)

    def csrf_ok(self, token: str | None) -> bool:
        seed = self.request.cookies.get(CSRF)
        if not seed or not token:
            return False
        return hmac.compare_digest(self.services.users.tag(CSRF_PURPOSE, seed), token)

    def sign_in(self, pair: TokenPair) -> None:
        self.cookies[ACCESS] = (pair.access_token, pair.expires_in)
        self.cookies[REFRESH] = (pair.refresh_token, YEAR)
        self.cookies[CSRF] = (secrets.token_urlsafe(32), None)  # a fresh token for the new session
        self.principal = self.services.users.authenticate(pair.access_token)

    def sign_out(self) -> None:
        refresh = self.request.cookies.get(REFRESH)
        if refresh:
            with contextlib.suppress(WalletError):  # already revoked or expired: signed out the same
                self.services.users.revoke(refresh)
        self.cookies[ACCESS] = ("", 0)
        self.cookies[REFRESH] = ("", 0)
        self.cookies[CSRF] = (secrets.token_urlsafe(32), None)
        self.principal = None

    def apply(self, response: Response) -> Response:
        """Sets the page's cookies on `response`."""
        for name, (value, max_age) in self.cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=self.secure,
                httponly=True,
                samesite="strict",
            )
        return response

    @property
    def formats(self) -> Formats:
        return Formats(self.language)

    def render(self, template: str, context: Mapping[str, Any] | None = None, status: int = 200) -> Response:
        """`template` in the reader's language, with the session's globals, as the answer."""
        env = environment(self.language)
        html = env.get_template(template).render(
            {
                "page": self,
                "me": self.principal,
                "csrf": self.csrf,
                "fmt": self.formats,
                "languages": LANGUAGES,
                "language": self.language,
                "path": self.request.url.path,
                "bank_name": self.services.bank.manifest.bank_name,
                **(context or {}),
            }
        )
        return self.apply(HTMLResponse(html, status_code=status))

    def download(self, content: bytes, media_type: str, filename: str) -> Response:
        """`content` as a file to save (`Content-Disposition: attachment`), with the page's cookies."""
        return self.apply(
            Response(
                content,
                media_type=media_type,
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        )

    def redirect(self, url: str, status: int = 303) -> Response:
        """A redirect (after a form, 303 See Other); for htmx requests, its `HX-Redirect` instead."""
        if self.request.headers.get("HX-Request") == "true":
            response: Response = Response(status_code=200, headers={"HX-Redirect": url})
        else:
            response = RedirectResponse(url, status_code=status)
        return self.apply(response)


def page(request: Request) -> Page:
    """The request's `Page`, with the signed-in principal when the cookies hold a valid session (an
    expired access token is refreshed from the refresh cookie)."""
    services: Services = request.app.state.services
    current = Page(
        request, services, choose(request.cookies.get(LANGUAGE), request.headers.get("accept-language"))
    )
    access = request.cookies.get(ACCESS)
    if access:
        try:
            current.principal = services.users.authenticate(access)
            return current
        except AuthError:
            pass
    refresh = request.cookies.get(REFRESH)
    if refresh:
        try:
            pair = services.users.refresh(refresh)
        except (AuthError, WalletError):
            current.cookies[REFRESH] = ("", 0)
            current.cookies[ACCESS] = ("", 0)
            return current
        current.cookies[ACCESS] = (pair.access_token, pair.expires_in)
        current.cookies[REFRESH] = (pair.refresh_token, YEAR)
        current.principal = services.users.authenticate(pair.access_token)
    return current


class SignInRequiredError(Exception):
    """Raised by a page that needs a signed-in user: the answer is the sign-in page (then back)."""

    def __init__(self, current: Page) -> None:
        self.page = current


def active_accounts(current: Page, me: Principal, currency: str | None = None) -> list[AccountView]:
    """The customer's accounts that can pay now (in `currency`, when given), for a form's choice."""
    return [
        a
        for a in current.services.accounts.accounts_of(me)
        if a.status == AccountStatus.ACTIVE and currency in (None, a.currency)
    ]


def signed_in(current: Page) -> Principal:
    if current.principal is None:
        raise SignInRequiredError(current)
    return current.principal


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/app/sign-in?next=" + quote(target, safe="")


PageDep = Annotated[Page, Depends(page)]


class ForgedFormError(Exception):
    """A request whose anti-forgery token does not match: refused before anything is done."""


async def checked(request: Request, current: PageDep) -> Page:
    """The page of an unsafe request, after its anti-forgery token (form field `csrf`, or the
    `X-CSRF-Token` header htmx sends) matched."""
    form = await request.form()
    token = request.headers.get("X-CSRF-Token") or form.get("csrf")
    if not current.csrf_ok(token if isinstance(token, str) else None):
        raise ForgedFormError
    return current


PostDep = Annotated[Page, Depends(checked)]


def safe_path(target: str) -> str:
    """Only a path of this site (no scheme, no host): a sign-in never sends anyone elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/app"
    return target


__all__ = [
    "ForgedFormError",
    "Page",
    "PageDep",
    "PostDep",
    "SignInRequiredError",
    "page",
    "safe_path",
    "sign_in_url",
    "signed_in",
]
