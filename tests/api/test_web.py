"""The browser screens over HTTP (the journeys in a real Chromium are in tests/test_browser.py): the
session cookies and their flags, the anti-forgery token, the Content-Security-Policy, a transfer sent
from the screens that reaches final, another customer's pages not there, Chinese, the catalogue complete,
and the vendored assets byte for byte their npm packages' files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir

from api.web.i18n import translations
from tests.support.api_bank import ApiBank, User
from tests.support.kyc import PASSPORT_PDF, identity
from tests.support.waiting import wait_for
from tests.support.web import Browser

ROOT = Path(__file__).parents[2]


def test_pages_have_a_strict_content_security_policy_and_the_root_opens_the_wallet(bank: ApiBank) -> None:
    browser = Browser(bank)
    assert browser.client.get("/").headers["location"] == "/app"
    r = browser.client.get("/app")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/app/sign-in?next=")
    page = browser.client.get("/app/sign-in")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script
    assert ' style="' not in page.text  # nor inline style
    static = browser.client.get("/app/static/vendor/htmx.min.js")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


def test_signing_in_sets_http_only_strict_cookies_and_shows_the_balance(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    browser = Browser(bank)
    r = browser.sign_in(user)
    assert r.status_code == 303, r.text
    cookies = r.headers.get_list("set-cookie")
    session = [c for c in cookies if c.startswith(("tdw_access=", "tdw_refresh="))]
    assert len(session) == 2
    for cookie in session:
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
    home = browser.client.get("/app")
    assert home.status_code == 200
    assert "$5,000.00" in home.text
    assert f'href="/app/accounts/{account["id"]}"' in home.text
    # A wrong code is refused with the sign-in page again, and no session.
    stranger = Browser(bank)
    r = stranger.client.post(
        "/app/sign-in",
        data={"csrf": stranger.csrf(), "username": user.username, "password": "wrong", "totp": "000000"},
    )
    assert r.status_code == 401
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith("tdw_access=ey")]


def test_a_form_without_its_token_is_refused_and_nothing_moves(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    before = bank.client.get("/v1/transfers", headers=user.headers).json()
    form = {
        "key": "forged",
        "from_account": account["id"],
        "amount": "1.00",
        "payee_kind": "address",
        "payee": "0x000000000000000000000000000000000000dEaD",
    }
    for token in (None, "0" * 64):
        r = browser.client.post("/app/send", data=form | ({"csrf": token} if token else {}))
        assert r.status_code == 403
        assert "This form has expired" in r.text
    assert bank.client.get("/v1/transfers", headers=user.headers).json() == before


def test_a_customer_sends_money_from_the_screens_and_sees_it_final(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    payee = bank.signup("customer")
    target = bank.open_account(payee)
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    form = {
        "csrf": browser.csrf("/app/send"),
        "from_account": account["id"],
        "amount": "12.50",
        "payee_kind": "account",
        "payee": target["id"],
        "reference": "Lunch",
    }
    check = browser.client.post("/app/send/check", data=form)
    assert check.status_code == 200, check.text
    assert "The bank will send it." in check.text
    key = re.search(r'name="key" value="([0-9a-f]{32})"', check.text)
    assert key
    confirm = form | {"key": key.group(1), "totp": ""}
    sent = browser.client.post("/app/send", data=confirm)
    assert sent.status_code == 303, sent.text
    path = sent.headers["location"]
    # Sent twice (a double click): the same transfer.
    assert browser.client.post("/app/send", data=confirm).headers["location"] == path
    wait_for(
        lambda: 'data-state="final"' in browser.client.get(path + "?part=1").text, what="final on screen"
    )
    bank.wait_balance(payee, target, "12.50")
    assert len(bank.client.get("/v1/transfers", headers=user.headers).json()) == 1
    # The payee's account page shows it arrive, with the reference.
    theirs = Browser(bank)
    assert theirs.sign_in(payee).status_code == 303
    page = theirs.client.get(f"/app/accounts/{target['id']}")
    assert "$12.50" in page.text
    assert "Lunch" in page.text
    # And the statement downloads as a PDF.
    pdf = theirs.client.get(
        f"/app/accounts/{target['id']}/statement", params={"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_another_customers_pages_are_not_there(bank: ApiBank, funded: tuple[User, dict[str, Any]]) -> None:
    _, account = funded
    mallory = Browser(bank)
    assert mallory.sign_in(bank.signup("customer")).status_code == 303
    for path in (
        f"/app/accounts/{account['id']}",
        f"/app/accounts/{account['id']}/statement?from=2026-01-01&to=2026-01-02",
    ):
        r = mallory.client.get(path)
        assert r.status_code == 404
        assert "not yours to see" in r.text
        assert account["address"] not in r.text


def test_the_screens_speak_chinese_with_amounts_as_the_locale_writes_them(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, _ = funded
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    switched = browser.client.post(
        "/app/language", data={"csrf": browser.csrf("/app"), "language": "zh-Hans"}
    )
    assert switched.status_code == 303
    home = browser.client.get("/app")
    assert '<html lang="zh-Hans">' in home.text
    assert "我的账户" in home.text
    assert "US$5,000.00" in home.text
    # Without a choice, the browser's language decides.
    fresh = Browser(bank)
    assert "登录" in fresh.client.get("/app/sign-in", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text


def test_every_message_of_the_screens_has_its_chinese_translation() -> None:
    catalogue = translations("zh-Hans")
    messages = [
        m[2]
        for m in extract_from_dir(
            str(ROOT / "api" / "web"),
            method_map=[("templates/**.html", "jinja2")],
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    ]
    assert len(messages) > 50
    untranslated = [m for m in messages if isinstance(m, str) and catalogue.gettext(m) == m]
    assert untranslated == []


def test_the_vendored_assets_are_their_npm_packages_files() -> None:
    vendor = ROOT / "api" / "web" / "static" / "vendor"
    table = (vendor / "VENDOR.md").read_text()
    for package, source, name in (
        ("htmx.org", "dist/htmx.min.js", "htmx.min.js"),
        ("htmx-ext-sse", "dist/sse.min.js", "htmx-sse.min.js"),
        ("@picocss/pico", "css/pico.min.css", "pico.min.css"),
    ):
        folder = ROOT / "node_modules" / package
        if not folder.exists():
            pytest.skip("node_modules is not installed")
        version = json.loads((folder / "package.json").read_text())["version"]
        assert f"| {package} | {version} | {name} |" in table
        assert (vendor / name).read_bytes() == (folder / source).read_bytes()
        assert (vendor / f"{name}.LICENSE").exists()


def test_an_officer_cannot_approve_their_own_proposal_and_a_customer_sees_no_queue(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, account = funded
    maker, checker = bank.signup("compliance"), bank.signup("compliance")
    browser = Browser(bank)
    assert browser.sign_in(maker).status_code == 303
    page = browser.client.get("/app/proposals")
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page.text)
    assert key
    form = {
        "csrf": browser.csrf("/app/proposals"),
        "key": key.group(1),
        "action": "freeze",
        "address": account["address"],
        "currency": "USD",
        "reason": "test",
    }
    assert browser.client.post("/app/proposals", data=form).status_code == 303
    pending = bank.client.get("/v1/proposals", headers=maker.headers).json()
    [proposal] = [p for p in pending if p["params"]["address"] == account["address"]]
    own = browser.client.post(f"/app/proposals/{proposal['id']}/approve", data={"csrf": browser.csrf("/app")})
    assert own.status_code == 403
    assert (
        bank.client.get(f"/v1/proposals/{proposal['id']}", headers=maker.headers).json()["state"] == "pending"
    )
    # A customer has no queue to see.
    customer = Browser(bank)
    assert customer.sign_in(user).status_code == 303
    assert customer.client.get("/app/proposals").status_code == 403
    # The second officer rejects it, from the screens.
    second = Browser(bank)
    assert second.sign_in(checker).status_code == 303
    r = second.client.post(
        f"/app/proposals/{proposal['id']}/reject", data={"csrf": second.csrf("/app"), "reason": "no order"}
    )
    assert r.status_code == 303
    assert (
        bank.client.get(f"/v1/proposals/{proposal['id']}", headers=maker.headers).json()["state"]
        == "rejected"
    )


def test_an_officer_works_the_kyc_queue_and_sees_the_held_transfers(bank: ApiBank) -> None:
    applicant = bank.signup("customer", verified=False)
    officer = Browser(bank)
    assert officer.sign_in(bank.signup("compliance")).status_code == 303
    queue = officer.client.get("/app/kyc")
    assert queue.status_code == 200
    assert f'data-applicant="{applicant.username}"' in queue.text
    r = officer.client.post(
        f"/app/kyc/{applicant.user_id}",
        data={"csrf": officer.csrf("/app/kyc"), "decision": "reject", "reason": "documents do not match"},
    )
    assert r.status_code == 303
    assert applicant.username not in officer.client.get("/app/kyc").text
    me = bank.client.get("/v1/me", headers=applicant.headers).json()
    assert me["kyc_status"] == "rejected"
    assert officer.client.get("/app/held").status_code == 200
    # An operator decides KYC too, but has no held-transfer queue (compliance's alone).
    operator = Browser(bank)
    assert operator.sign_in(bank.signup("operator")).status_code == 303
    assert operator.client.get("/app/kyc").status_code == 200
    assert operator.client.get("/app/held").status_code == 403


def test_a_new_customer_verifies_her_identity_and_opens_an_account_from_the_screens(bank: ApiBank) -> None:
    newcomer = bank.signup(verified=False)
    browser = Browser(bank)
    assert browser.sign_in(newcomer).status_code == 303
    assert 'href="/app/verify"' in browser.client.get("/app").text
    # Bad data is refused in words, and what she typed stays on the form.
    profile = identity("Nora Newcomer") | {"residence_country": "Atlantis"}
    refused = browser.form("/app/verify/profile", {k: str(v) for k, v in profile.items()})
    assert refused.status_code == 400
    assert "residence_country" in refused.text
    assert 'value="Nora Newcomer"' in refused.text
    profile["residence_country"] = "DE"
    assert browser.form("/app/verify/profile", {k: str(v) for k, v in profile.items()}).status_code == 303
    not_a_pdf = browser.form(
        "/app/verify/documents", {"kind": "passport"}, files={"file": ("p.pdf", b"hello", "application/pdf")}
    )
    assert not_a_pdf.status_code == 400
    uploaded = browser.form(
        "/app/verify/documents",
        {"kind": "passport"},
        files={"file": ("p.pdf", PASSPORT_PDF, "application/pdf")},
    )
    assert uploaded.status_code == 303
    assert browser.form("/app/verify/submit").status_code == 303
    page = browser.client.get("/app/verify")
    assert 'data-kyc-status="in_review"' in page.text
    mine = bank.client.get("/v1/kyc", headers=newcomer.headers).json()
    assert (mine["status"], mine["profile"]["legal_name"], len(mine["documents"])) == (
        "in_review",
        "Nora Newcomer",
        1,
    )
    # She opens a EUR account; it waits for her verification.
    assert browser.form("/app/accounts", {"currency": "EUR"}).status_code == 303
    accounts = bank.client.get("/v1/accounts", headers=newcomer.headers).json()
    assert [(a["currency"], a["status"]) for a in accounts] == [("EUR", "pending_kyc")]


def test_a_customer_saves_pays_and_deletes_a_payee_from_the_screens(
    bank: ApiBank, funded: tuple[User, dict[str, Any]]
) -> None:
    user, _ = funded
    target = bank.open_account(bank.signup())
    browser = Browser(bank)
    assert browser.sign_in(user).status_code == 303
    bad = browser.form("/app/payees", {"name": "Landlord", "address": "0x1234"})
    assert bad.status_code == 400
    assert 'value="Landlord"' in bad.text
    assert browser.form("/app/payees", {"name": "Landlord", "address": target["address"]}).status_code == 303
    [payee] = [
        p for p in bank.client.get("/v1/payees", headers=user.headers).json() if p["name"] == "Landlord"
    ]
    page = browser.client.get("/app/payees")
    assert 'data-payee="Landlord"' in page.text
    send = browser.client.get(f"/app/send?payee={payee['id']}")
    assert f'value="{payee["id"]}"' in send.text
    assert browser.form(f"/app/payees/{payee['id']}/delete").status_code == 303
    assert 'data-payee="Landlord"' not in browser.client.get("/app/payees").text
    assert payee["id"] not in {p["id"] for p in bank.client.get("/v1/payees", headers=user.headers).json()}
