"""The wallet in a real Chromium (Debian's, installed by `scripts/bootstrap --browser`; Playwright drives
it, it does not download one): a customer signs in with her TOTP code and sends money that reaches final
on screen, a second customer sees it arrive and downloads a statement that opens, the pages fit a
phone's width, and axe-core (4.12, shipped by axe-playwright-python) finds no serious or critical
violation on any page of the journey. The pages' CSP stays on throughout: a violation would show in the
console, and the test fails on any."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
import zxingcpp
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright
from pypdf import PdfReader

from tests.support.dev_server import DevServer
from tests.support.kyc import PASSPORT_PDF
from wallet.chain.node import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    dev = DevServer(
        tmp_path_factory.mktemp("tdw-browser"),
        free_port(),
        free_port(),
        env={"TDW_RATE_LIMITS_ENABLED": "false"},
    )
    dev.start()
    yield dev
    if dev.process is not None:
        dev.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Codes:
    """TOTP codes, never the same step twice for a user (the bank refuses a used one)."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def next(self, login: dict[str, str]) -> str:
        step = int(time.time() // 30)
        if self.used.get(login["username"]) == step:
            time.sleep(30 - time.time() % 30 + 0.5)
            step = int(time.time() // 30)
        self.used[login["username"]] = step
        return pyotp.TOTP(login["totp_secret"]).now()


@pytest.fixture(scope="module")
def codes() -> Codes:
    return Codes()


def _axe(page: Page) -> None:
    results = Axe().run(page)
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {json.dumps(bad, indent=1)}"


def _watch_console(page: Page) -> list[str]:
    """The page's console errors (a CSP violation is one) and failed requests, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def _sign_in(
    page: Page, base: str, login: dict[str, str], codes: Codes, landing: str = "Your accounts"
) -> None:
    page.goto(base + "/app")
    expect(page).to_have_url(re.compile(r"/app/sign-in\?next="))
    _axe(page)
    page.get_by_label("Username").fill(login["username"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_label("Code from your authenticator app").fill(codes.next(login))
    page.get_by_role("button", name="Sign in").click()
    if landing == "Your accounts":
        expect(page.get_by_role("heading", name=landing)).to_be_visible()
    else:
        expect(page.get_by_role("link", name=landing).first).to_be_visible()


def test_alice_sends_bob_money_on_screen_and_bob_sees_it_and_downloads_his_statement(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    base, logins = server.url, server.logins()
    # Bob's USD account, as a program would find it.
    with httpx.Client(base_url=base, timeout=30) as api:
        token = api.post(
            "/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "bob",
                "password": logins["bob"]["password"],
                "totp": codes.next(logins["bob"]),
            },
        ).json()["access_token"]
        accounts = api.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"}).json()
    bobs = next(a for a in accounts if a["currency"] == "USD")
    # Bob has his account page open before Alice sends: the payment arrives on it by the event stream.
    bob = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    bobs_page = bob.new_page()
    bobs_console = _watch_console(bobs_page)
    streams: list[str] = []
    bobs_page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/app/events") else None)
    _sign_in(bobs_page, base, logins["bob"], codes)
    bobs_page.locator(f'a[href="/app/accounts/{bobs["id"]}"]').click()
    expect(bobs_page.locator("#account-live")).to_be_visible()
    assert streams, "the account page listens to the event stream"

    alice = browser.new_context(viewport={"width": 1280, "height": 900})
    page = alice.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["alice"], codes)
    expect(page.locator('.balance[data-currency="USD"]')).to_be_visible()
    _axe(page)

    page.get_by_role("link", name="Send money").click()
    page.get_by_label("From").select_option(
        label=next(o for o in page.locator("#from_account option").all_inner_texts() if o.startswith("USD"))
    )
    page.get_by_label("An account of this bank (its number)").check()
    page.get_by_label("Account number, address or payee").fill(bobs["id"])
    page.get_by_label("Amount").fill("1.25")
    page.get_by_label("Reference (optional)").fill("Browser test")
    _axe(page)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="The bank will send it.")).to_be_visible()
    _axe(page)
    page.get_by_role("button", name="Confirm and send").click()
    # The state follows the event stream until final (the fallback poll is every 30 s: slower than this).
    expect(page.locator('#transfer-state [data-state="final"]')).to_be_visible(timeout=25_000)
    _axe(page)
    assert console == [], console
    alice.close()

    # On Bob's page, without a reload: it arrives (not final yet, or final already), then is final.
    row = bobs_page.locator("#account-live tbody tr", has_text="Browser test")
    expect(row.first).to_be_visible(timeout=25_000)
    expect(row.first).to_contain_text("$1.25")
    expect(bobs_page.locator('tr[data-final="yes"]', has_text="Browser test")).to_be_visible(timeout=25_000)
    _axe(bobs_page)
    with bobs_page.expect_download() as download:
        bobs_page.get_by_role("button", name="Download").click()
    pdf = Path(download.value.path()).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Browser test" in text
    assert bobs_console == [], bobs_console
    bob.close()


def test_the_pages_fit_a_phone_and_speak_chinese(server: DevServer, browser: Browser, codes: Codes) -> None:
    logins = server.logins()
    phone = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, locale="zh-CN")
    page = phone.new_page()
    console = _watch_console(page)
    page.goto(server.url + "/app/sign-in")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    _axe(page)
    page.get_by_label("用户名").fill("dave")
    page.get_by_label("密码").fill(logins["dave"]["password"])
    page.get_by_label("身份验证器中的动态码").fill(codes.next(logins["dave"]))
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="我的账户")).to_be_visible()
    _axe(page)
    for path in ("/app", "/app/send", "/app/transfers"):
        page.goto(server.url + path)
        width: Any = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide on a 375px phone"
        _axe(page)
    assert console == [], console
    phone.close()


def test_a_freeze_proposed_by_one_officer_is_carried_out_when_a_second_approves(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    base, logins = server.url, server.logins()
    with httpx.Client(base_url=base, timeout=30) as api:
        bob = _api_login(api, logins["bob"], codes)
        euros = next(a for a in api.get("/v1/accounts", headers=bob).json() if a["currency"] == "EUR")

        maker = browser.new_context(viewport={"width": 1280, "height": 900})
        page = maker.new_page()
        console = _watch_console(page)
        _sign_in(page, base, logins["compliance"], codes, landing="Approvals")
        page.get_by_role("link", name="Approvals").first.click()
        _axe(page)
        page.get_by_label("Act").select_option("freeze")
        page.get_by_label("Address on chain").fill(euros["address"])
        page.get_by_label("Token (freeze and unfreeze)").select_option("EUR")
        page.get_by_label("Reason", exact=True).fill("Browser test: court order 2026-77")
        page.get_by_role("button", name="Propose").click()
        mine = page.locator("article.proposal", has_text="Browser test: court order 2026-77")
        expect(mine).to_contain_text("Your proposal: another officer decides it.")
        expect(mine.get_by_role("button", name="Approve")).to_have_count(0)
        proposal = mine.get_attribute("data-proposal")
        _axe(page)
        assert console == [], console
        maker.close()

        checker = browser.new_context(viewport={"width": 1280, "height": 900})
        page = checker.new_page()
        console = _watch_console(page)
        _sign_in(page, base, logins["checker"], codes, landing="Approvals")
        page.goto(base + "/app/proposals")
        theirs = page.locator(f'article.proposal[data-proposal="{proposal}"]')
        expect(theirs).to_contain_text("Browser test: court order 2026-77")
        theirs.get_by_role("button", name="Approve").click()
        expect(page.locator(f'tr[data-proposal="{proposal}"]')).to_have_attribute("data-state", "executed")
        _axe(page)
        # The demo's other queues, filled: Dave waits for KYC, Alice's payment to a listed name is held.
        page.get_by_role("link", name="Console").click()
        _axe(page)
        page.get_by_role("link", name="KYC queue").click()
        expect(page.locator('[data-applicant="dave"]')).to_be_visible()
        _axe(page)
        page.get_by_role("link", name="Console").click()
        page.get_by_role("link", name="Held transfers").click()
        expect(page.locator("article.proposal").first).to_contain_text("screening")
        _axe(page)
        assert console == [], console
        checker.close()

        # Carried out on chain: the EUR token holds Bob's address frozen, so his transfer is refused.
        officer = _api_login(api, logins["checker"], codes)
        assert api.get(f"/v1/proposals/{proposal}", headers=officer).json()["state"] == "executed"

        def refused() -> bool:
            r = api.post(
                "/v1/transfers/check",
                json={
                    "from_account": euros["id"],
                    "to_address": "0x000000000000000000000000000000000000dEaD",
                    "amount": "1.00",
                    "currency": "EUR",
                },
                headers=bob,
            )
            return r.status_code == 200 and r.json()["outcome"] == "reject"

        deadline = time.monotonic() + 60
        while not refused():
            assert time.monotonic() < deadline, "the freeze did not reach the chain"
            time.sleep(1)


def _api_login(api: httpx.Client, login: dict[str, str], codes: Codes) -> dict[str, str]:
    r = api.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": login["username"],
            "password": login["password"],
            "totp": codes.next(login),
        },
    )
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def test_a_new_customer_enrols_her_authenticator_from_the_qr_code_and_signs_in(
    server: DevServer, browser: Browser
) -> None:
    """The QR code is read by zxing-cpp, a decoder that is not our encoder, from the pixels Chromium
    drew; the code of the key it holds signs her in. She sends her identity for review and saves a
    payee."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    page.goto(server.url + "/app/sign-up")
    _axe(page)
    username = f"erin{int(time.time())}"
    page.get_by_label("Full name").fill("Erin Example")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("a long and unusual passphrase 42")
    page.get_by_role("button", name="Continue").click()
    qr = page.get_by_role("img", name="QR code of your authenticator key")
    expect(qr).to_be_visible()
    _axe(page)
    [found] = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(qr.screenshot())),
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
    )
    uri = found.text
    assert uri.startswith("otpauth://totp/")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert page.locator("code.secret").inner_text() == secret
    page.get_by_role("button", name="I have added it: sign in").click()
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill("a long and unusual passphrase 42")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, Erin Example")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("not verified")
    _axe(page)
    # She gives her identity and a passport scan, and sends them for review.
    page.get_by_role("link", name="Verify your identity").click()
    _axe(page)
    page.get_by_label("Legal name").fill("Erin Example")
    page.get_by_label("Date of birth").first.fill("1990-05-17")
    page.get_by_label("Nationality (country code)").fill("IE")
    page.get_by_label("Country of residence or registration").fill("IE")
    page.get_by_label("Identity document").select_option("passport")
    page.get_by_label("Its number").fill("PX1234567")
    page.get_by_label("Address", exact=True).fill("1 Merrion Square, Dublin 2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Legal name")).to_have_value("Erin Example")
    scan: FilePayload = {"name": "passport.pdf", "mimeType": "application/pdf", "buffer": PASSPORT_PDF}
    page.get_by_label("File (PDF, PNG or JPEG, at most 5 MiB)").set_input_files(files=scan)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator('[data-document="passport"]')).to_be_visible()
    page.get_by_role("button", name="Send for review").click()
    expect(page.locator("[data-kyc-status]")).to_have_attribute("data-kyc-status", "in_review")
    _axe(page)
    # And saves a payee.
    page.get_by_role("link", name="Payees").click()
    page.get_by_label("Name", exact=True).fill("Erin's landlord")
    page.get_by_label("Address on chain").fill("0x000000000000000000000000000000000000bEEF")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("tr[data-payee]")).to_contain_text("Erin's landlord")
    _axe(page)
    assert console == [], console
    context.close()


def test_an_officer_works_an_alerts_case_inspects_the_address_and_verifies_the_audit_log(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """The demo's planted activity has raised alerts; the officer opens one's case, files a note,
    follows the subject into the inspector (the node agrees with the mirror, the trace picture is
    drawn) and verifies the audit log; axe checks every page, at a desktop's and a phone's width."""
    base, logins = server.url, server.logins()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["compliance"], codes, landing="Approvals")
    _axe(page)
    page.get_by_role("link", name="Alerts", exact=True).click()
    deadline = time.monotonic() + 90
    while page.locator("article[data-alert] a[href^='/app/cases/']").count() == 0:
        assert time.monotonic() < deadline, "the demo raised no alert with a case"
        time.sleep(2)
        page.reload()
    _axe(page)
    page.locator("article[data-alert] a[href^='/app/cases/']").first.click()
    expect(page.locator("[data-case-state]")).to_be_visible()
    _axe(page)
    page.get_by_label("Note").fill("Browser test: asked the customer for the source of funds")
    page.get_by_role("button", name="Add the note").click()
    expect(page.locator("ol.file")).to_contain_text(
        "Browser test: asked the customer for the source of funds"
    )
    page.locator("dd a[href^='/app/inspect']").first.click()
    expect(page.locator('[data-verified="yes"]')).to_be_visible()
    picture = page.locator("img.trace")
    expect(picture).to_be_visible()
    drawn: Any = picture.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert drawn > 0, "the trace picture did not load"
    expect(page.locator("table.timeline tbody tr").first).to_be_visible()
    _axe(page)
    page.get_by_role("link", name="Console").click()
    page.get_by_role("link", name="Audit log").click()
    _axe(page)
    page.get_by_role("button", name="Verify the whole log").click()
    expect(page.locator('[data-verification="ok"]')).to_contain_text("intact")
    _axe(page)
    for path in ("/app/hits", "/app/cases", "/app/held", "/app/kyc", "/app/partners", "/app/operations"):
        page.goto(base + path)
        _axe(page)
    assert console == [], console
    context.close()
    # At a phone's width the console's pages fit.
    phone = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    page = phone.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["checker"], codes, landing="Approvals")
    for path in ("/app", "/app/alerts", "/app/cases", "/app/audit"):
        page.goto(base + path)
        width: Any = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide on a 375px phone"
        _axe(page)
    assert console == [], console
    phone.close()


def test_an_operator_mints_reconciles_and_sees_the_partner_banks(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    base, logins = server.url, server.logins()
    with httpx.Client(base_url=base, timeout=30) as api:
        bob = _api_login(api, logins["bob"], codes)
        dollars = next(a for a in api.get("/v1/accounts", headers=bob).json() if a["currency"] == "USD")
        before = api.get(f"/v1/accounts/{dollars['id']}/balance", headers=bob).json()["balance"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["operator"], codes, landing="Operations")
    page.get_by_role("link", name="Operations").first.click()
    expect(page.locator('[data-health="outbox"]')).to_be_visible()
    expect(page.locator("tr[data-sender]").first).to_be_visible()
    _axe(page)
    page.get_by_label("To account").fill(dollars["id"])
    page.get_by_label("Currency").first.select_option("USD")
    page.get_by_label("Amount").first.fill("10.00")
    page.get_by_role("button", name="Mint", exact=True).click()
    expect(page.locator('tr[data-operation="mint"]').first).to_be_visible()
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.locator("[data-reconciliation]")).to_be_visible()
    _axe(page)
    page.get_by_role("link", name="Partner banks").first.click()
    expect(page.locator("tr[data-partner]").first).to_be_visible()
    expect(page.locator("tr[data-payment]").first).to_be_visible()  # the demo's payment to Carol
    expect(page.locator("tr[data-holding]").first).to_be_visible()
    _axe(page)
    assert console == [], console
    context.close()
    with httpx.Client(base_url=base, timeout=30) as api:
        bob = _api_login(api, logins["bob"], codes)
        deadline = time.monotonic() + 60
        while True:
            now = api.get(f"/v1/accounts/{dollars['id']}/balance", headers=bob).json()["balance"]
            if Decimal(now) == Decimal(before) + Decimal("10.00"):
                break
            assert time.monotonic() < deadline, (before, now)
            time.sleep(0.5)


def test_alice_converts_and_pays_carol_abroad_on_screen(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """A conversion between her own accounts and a payment to Carol at Harbour Bank, each quoted first,
    each followed on screen until final."""
    base, logins = server.url, server.logins()
    with httpx.Client(base_url=server.partner_url, timeout=30) as partner:
        carol = _api_login(partner, server.partner_logins()["carol"], codes)
        hkd = next(a for a in partner.get("/v1/accounts", headers=carol).json() if a["currency"] == "HKD")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["alice"], codes)
    page.get_by_role("link", name="Exchange").click()
    expect(page.locator('tr[data-conversion][data-state="final"]').first).to_be_visible()  # the demo's
    _axe(page)
    page.get_by_label("Sell", exact=True).select_option("USD")
    page.get_by_label("Buy", exact=True).select_option("EUR")
    page.get_by_label("Amount to sell").fill("20.00")
    page.get_by_role("button", name="Get a quote").click()
    expect(page.locator("article[data-quote]")).to_contain_text("€")
    _axe(page)
    page.get_by_role("button", name="Convert").click()
    expect(page.locator("tr[data-conversion]").first).to_have_attribute("data-state", "final", timeout=25_000)
    page.get_by_role("link", name="Pay abroad").click()
    _axe(page)
    page.get_by_label("Payee's name").fill("Carol Chan")
    page.get_by_label("Payee's address at their bank").fill(hkd["address"])
    page.get_by_label("Amount", exact=True).fill("10.00")
    page.get_by_label("They receive (currency code)").fill("HKD")
    page.get_by_role("button", name="Get a quote").click()
    expect(page.locator("article[data-quote]")).to_contain_text("HK$")
    _axe(page)
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("tr[data-payment]").first).to_have_attribute("data-state", "final", timeout=60_000)
    _axe(page)
    assert console == [], console
    context.close()


def test_mira_shows_a_qr_code_bob_scans_it_and_pays_and_mira_sees_it_paid(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """Mira's café asks for 4.80; zxing-cpp reads the payment link from the pixels Chromium drew; Bob
    opens it (signing in on the way), pays in one step, and Mira's open page turns paid without a
    reload when the chain carries the payment. The demo's requests are there: one paid, one open."""
    base, logins = server.url, server.logins()
    mira = browser.new_context(viewport={"width": 1280, "height": 900})
    page = mira.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["mira"], codes)
    page.get_by_role("link", name="Requests").click()
    expect(page.locator('tr[data-request="TABLE-7"] [data-state="paid"]')).to_be_visible(timeout=25_000)
    expect(page.locator('tr[data-request="TABLE-9"] [data-state="open"]')).to_be_visible()
    _axe(page)
    page.get_by_label("Amount (leave empty to let the payer choose)").fill("4.80")
    page.get_by_label("Reference (optional)").fill("ESPRESSO-2")
    page.get_by_label("Description (optional)").fill("Two espressos")
    page.get_by_role("button", name="Create the request").click()
    qr = page.get_by_role("img", name="QR code of the payment link")
    expect(qr).to_be_visible()
    _axe(page)
    [found] = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(qr.screenshot())),
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
    )
    link = urlparse(found.text)
    assert link.path.startswith("/app/pay/")
    assert found.text == page.locator("a[data-link]").inner_text()

    bob = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    phone = bob.new_page()
    phone_console = _watch_console(phone)
    phone.goto(base + link.path)  # scanned: the link, on this server
    expect(phone).to_have_url(re.compile(r"/app/sign-in\?next="))
    phone.get_by_label("Username").fill("bob")
    phone.get_by_label("Password").fill(logins["bob"]["password"])
    phone.get_by_label("Code from your authenticator app").fill(codes.next(logins["bob"]))
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("heading", name="Pay Mira's Café")).to_be_visible()
    expect(phone.locator("dd.amount")).to_contain_text("$4.80")
    _axe(phone)
    phone.get_by_role("button", name="Pay", exact=True).click()
    expect(phone.locator('#transfer-state [data-state="final"]')).to_be_visible(timeout=25_000)
    assert phone_console == [], phone_console
    bob.close()

    # On Mira's page, without a reload: paid, with Bob's payment final.
    expect(page.locator('#request-live [data-state="paid"]')).to_be_visible(timeout=25_000)
    expect(page.locator("[data-received]")).to_contain_text("$4.80")
    _axe(page)
    assert console == [], console
    mira.close()


def test_alice_finds_her_electricity_bill_paid_and_schedules_it_weekly(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """The demo's bill: paid once, and monthly on the 31st; she adds a weekly payment and skips its first."""
    base, logins = server.url, server.logins()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["alice"], codes)
    page.get_by_role("link", name="Bills").click()
    bill = page.locator('article[data-bill="HP-10004417"]')
    expect(bill).to_contain_text("Helvetia Power")
    expect(bill.locator('tr[data-state="active"]')).to_have_count(1)  # monthly on the 31st
    bill.get_by_text("History").click()
    expect(bill.locator('li[data-state="sent"]')).to_have_count(1)
    _axe(page)
    bill.get_by_label("Amount").fill("2.00")
    bill.get_by_label("When").select_option("weekly")
    bill.get_by_label("Weekday").select_option(label="Friday")
    bill.get_by_role("button", name="Pay or schedule").click()
    rows = page.locator('article[data-bill="HP-10004417"] tr[data-state="active"]')
    expect(rows).to_have_count(2)
    weekly = rows.filter(has_text="Friday")
    before = weekly.locator("td").nth(2).inner_text()
    weekly.get_by_role("button", name="Skip the next").click()
    after = page.locator('article[data-bill="HP-10004417"] tr[data-state="active"]').filter(has_text="Friday")
    expect(after.locator("td").nth(2)).not_to_have_text(before)
    _axe(page)
    assert console == [], console
    context.close()


def test_alice_looks_at_her_spending_chart_and_budgets(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """The chart (matplotlib's PNG) draws; the demo's payments are filed by category; her café budget
    is crossed by Mira's bill."""
    base, logins = server.url, server.logins()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["alice"], codes)
    page.get_by_role("link", name="Spending").click()
    chart = page.locator("img[data-chart]")
    expect(chart).to_be_visible()
    drawn = 0
    for _ in range(100):  # the image arrives after the page (no wait_for_function: the CSP forbids eval)
        drawn = page.evaluate("document.querySelector('img[data-chart]').naturalWidth")
        if drawn:
            break
        page.wait_for_timeout(100)
    assert drawn == 700
    expect(page.locator('tr[data-category="cafes"]')).to_contain_text("$18.40")
    expect(page.locator('li[data-budget="cafes"][data-crossed="yes"]')).to_be_visible()
    _axe(page)
    # Mira's café earns 10 points per dollar: her 18.40 this month and 51.30 in the three months of the
    # demo's history gave 697.
    page.get_by_role("link", name="Points").click()
    expect(page.locator("[data-points]")).to_have_text("697", timeout=20_000)
    earned = page.locator('tr[data-kind="earn"]')
    expect(earned).to_have_count(6)  # a payment each: this month's and five in the history
    expect(earned.first).to_contain_text("Café bonus")
    _axe(page)
    assert console == [], console
    context.close()


def test_alice_pays_mira_s_invoice_from_its_link_and_sees_it_turn_paid(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """The demo's open invoice 2026-003: its page links to the pay page; one press pays what is owed,
    and the invoice reads paid once the chain carries the payment."""
    base, logins = server.url, server.logins()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["alice"], codes)
    page.get_by_role("link", name="Invoices").click()
    row = page.locator('tr[data-invoice="2026-003"]')
    expect(row).to_have_attribute("data-state", "open")
    _axe(page)
    row.get_by_role("link", name="2026-003").click()
    expect(page.get_by_role("heading", name="Invoice 2026-003")).to_be_visible()
    _axe(page)
    page.locator("figcaption a").click()  # the payment link the QR code holds
    expect(page.locator("[data-outstanding]")).to_contain_text("$84.39")
    _axe(page)
    page.get_by_role("button", name="Pay what is owed").click()
    expect(page.locator('#transfer-state [data-state="final"]')).to_be_visible(timeout=25_000)
    page.goto(base + "/app/invoices")
    expect(page.locator('tr[data-invoice="2026-003"]')).to_have_attribute(
        "data-state", "paid", timeout=15_000
    )
    assert console == [], console
    context.close()


def test_helvetia_power_uploads_a_bonus_run_fixes_the_file_and_sees_every_line_paid(
    server: DevServer, browser: Browser, codes: Codes
) -> None:
    """A CSV file with two bad lines is refused whole, both problems listed at once and nothing paid;
    the fixed file pays its line, the batch page shows it final, and its pain.002 says settled (ACSC)."""
    base, logins = server.url, server.logins()
    with httpx.Client(base_url=base, timeout=30) as client:
        alice = _api_login(client, logins["alice"], codes)
        usd = next(a for a in client.get("/v1/accounts", headers=alice).json() if a["currency"] == "USD")
        before = client.get(f"/v1/accounts/{usd['id']}/balance", headers=alice).json()["balance"]
    message_id = f"BONUS-{int(time.time())}"
    header = "end_to_end_id,name,to_account,to_address,amount,currency,reference\n"
    bad = header + f"B-1,Alice,,{usd['address']},-3.00,USD,Bonus\nB-2,Nobody,,0x1234,2.00,USD,Bonus\n"
    good = header + f"B-1,Alice,,{usd['address']},3.00,USD,Bonus\n"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = _watch_console(page)
    _sign_in(page, base, logins["power"], codes)
    page.get_by_role("link", name="Batches").click()
    expect(page.locator('tr[data-batch="PAYROLL-DEMO-1"]')).to_be_visible()
    _axe(page)

    def upload(content: str) -> None:
        page.get_by_label("File").set_input_files(
            FilePayload(name="bonus.csv", mimeType="text/csv", buffer=content.encode())
        )
        page.get_by_label("Format").select_option("csv")
        page.get_by_label("Message id (CSV only)").fill(message_id)
        dollars = page.locator("#batch-account option", has_text="USD").first.get_attribute("value")
        page.get_by_label("Pay from (CSV only)").select_option(dollars)
        page.get_by_role("button", name="Check and pay").click()

    upload(bad)
    problems = page.locator("table[data-problems] tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("1")
    expect(problems.nth(1)).to_contain_text("2")
    expect(page.locator(f'tr[data-batch="{message_id}"]')).to_have_count(0)
    _axe(page)
    # The refused file's page answers 400, the one failed response the journey expects.
    assert sorted(console) == [
        f"400 {base}/app/batches",
        "Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ], console  # in whichever order the browser reports them
    console.clear()
    upload(good)
    expect(page.get_by_role("heading", name=f"Batch {message_id}")).to_be_visible()
    line = page.locator('tr[data-line="B-1"]')
    for _ in range(60):  # the page is not live: read it again until the chain has carried the line
        if line.get_attribute("data-state") == "final":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(line).to_have_attribute("data-state", "final")
    _axe(page)
    href = page.get_by_role("link", name="Status report (pain.002)").get_attribute("href")
    report = page.request.get(base + (href or ""))
    assert report.ok
    body = report.body().decode()
    assert re.search(r"<GrpSts>ACSC</GrpSts>", body), body  # every line final
    assert re.search(r"<TxSts>ACSC</TxSts>", body), body
    assert console == [], console
    context.close()
    with httpx.Client(base_url=base, timeout=30) as client:
        alice = _api_login(client, logins["alice"], codes)
        after = client.get(f"/v1/accounts/{usd['id']}/balance", headers=alice).json()["balance"]
    assert Decimal(after) == Decimal(before) + 3
