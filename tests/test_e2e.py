"""End to end: `tdw dev` as a real process on free ports, used over real HTTP like a customer and an
operator would; then schemathesis fuzzes every operation of its OpenAPI schema; then the process is
stopped with Ctrl-C and started again on the same data folder. Last, `tdw serve` from production
settings: keys, deployment, first admin and a mint on PostgreSQL, as a bank would set it up."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import schemathesis
import xmlschema
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from web3 import Web3

from tests.support.cli import tdw
from tests.support.dev_server import DevServer
from tests.support.kyc import PASSPORT_PDF, identity
from tests.support.waiting import wait_for
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode, free_port, fund_from_dev_account
from wallet.keys.keystore import OPERATIONAL_ROLES

PASSWORD = "e2e customer password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    # Without rate limits, as the benchmarks ask (`tdw bench cross-border` below signs up and pays fast).
    dev = DevServer(
        tmp_path_factory.mktemp("tdw-dev"),
        free_port(),
        free_port(),
        env={"TDW_RATE_LIMITS_ENABLED": "false"},
    )
    out = dev.start()
    assert "deployed the demo bank" in out
    assert f"http://127.0.0.1:{dev.port}/docs" in out
    assert f"wallet    http://127.0.0.1:{dev.port}/app" in out
    for name in ("admin", "operator", "compliance", "alice", "bob", "dave"):
        assert f"  {name} " in out
    yield dev
    if dev.process is not None:
        dev.stop()


def _submit_identity(client: httpx.Client, headers: dict[str, str], name: str) -> None:
    """A new customer's side of KYC over HTTP: identity data, a passport scan, submitted for review."""
    r = client.put("/v1/kyc/profile", json=identity(name), headers=headers)
    assert r.status_code == 200, r.text
    r = client.post(
        "/v1/kyc/documents",
        data={"kind": "passport"},
        files={"file": ("passport.pdf", PASSPORT_PDF, "application/pdf")},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = client.post("/v1/kyc/submit", headers=headers)
    assert (r.status_code, r.json()["status"]) == (200, "in_review"), r.text


def _login(client: httpx.Client, username: str, password: str, secret: str) -> dict[str, str]:
    for _ in range(3):
        r = client.post(
            "/v1/auth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
                "totp": pyotp.TOTP(secret).now(),
            },
        )
        if r.status_code == 200:
            return {"Authorization": "Bearer " + r.json()["access_token"]}
        time.sleep(31 - time.time() % 30)  # this step's code was used already
    raise AssertionError(r.text)


def _until(check: Any, timeout: float = 60.0) -> Any:
    return wait_for(check, timeout=timeout, poll=0.2)


def test_the_demo_logins_are_readable_by_their_owner_alone(server: DevServer) -> None:
    assert server.logins()  # written by the server's start
    mode = stat.S_IMODE((server.folder / "demo-logins.json").stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_the_demo_kyc_queue_holds_dave_with_nothing_on_chain(server: DevServer) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    login = server.logins()["compliance"]
    officer = _login(client, "compliance", login["password"], login["totp_secret"])
    queue = client.get("/v1/compliance/kyc", headers=officer).json()
    assert [(a["username"], a["kyc_status"], a["accounts"]) for a in queue] == [("dave", "in_review", 1)]
    case = client.get(f"/v1/compliance/kyc/{queue[0]['user_id']}/case", headers=officer).json()
    assert case["risk_rating"] == "high"  # resident in a high-risk jurisdiction (the demo policy's list)
    assert [d["kind"] for d in case["documents"]] == ["passport"]


def test_the_demo_holds_alices_payment_to_a_sanctioned_name(server: DevServer) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    login = server.logins()["checker"]
    checker = _login(client, "checker", login["password"], login["totp_secret"])
    [held] = client.get("/v1/compliance/held-transfers", headers=checker).json()
    assert (held["customer"], held["amount"], held["decision"]["outcome"]) == ("alice", "40.00", "hold")
    assert [r["rule"] for r in held["decision"]["rules"]] == ["screening_counterparty"]
    hits = client.get("/v1/compliance/screening/hits", headers=checker).json()
    assert {h["subject"].split(":")[0] for h in hits} >= {"payee", "transfer"}


def test_the_demo_has_a_proposal_waiting_and_sanctions_lists_loaded(server: DevServer) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    login = server.logins()["checker"]
    checker = _login(client, "checker", login["password"], login["totp_secret"])
    [proposal] = client.get("/v1/proposals", headers=checker).json()
    assert (proposal["action"], proposal["proposed_by"], proposal["state"]) == (
        "partial_freeze",
        "compliance",
        "pending",
    )
    hits = client.post("/v1/compliance/screening", json={"name": "Иван Соколов"}, headers=checker).json()
    assert [h["entry_id"] for h in hits] == ["90001"]


def test_the_demo_has_months_of_history_and_its_chain_runs_on_the_wall_clock_again(server: DevServer) -> None:
    """A new demo chain starts three months back: alice's spending shows every one of the last four
    months, each from block times of that month, and the clock came back to now."""
    logins = server.logins()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        alice = _login(client, "alice", logins["alice"]["password"], logins["alice"]["totp_secret"])
        summary = client.get("/v1/spending", params={"currency": "USD", "months": 4}, headers=alice).json()
        csv_rows = client.get("/v1/spending/payments.csv", headers=alice).text.splitlines()
    spent = {m["month"]: Decimal(m["amount"]) for m in summary["by_month"]}
    assert len(spent) == 4
    assert all(amount > 0 for amount in spent.values()), spent
    # Her electricity bill of three months ago, dated by its block in that month.
    assert any(row.startswith(summary["months"][0]) and "HP-10004417" in row for row in csv_rows[1:])
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{server.anvil_port}"))
    assert abs(int(w3.eth.get_block("latest")["timestamp"]) - time.time()) < 120
    assert int(w3.eth.get_block(1)["timestamp"]) < time.time() - 60 * 24 * 3600


def test_an_officer_works_a_planted_case_from_alert_to_goaml(server: DevServer) -> None:
    """The issue's journey in `tdw dev`: alerts on the demo's planted activity, a case opened, the
    address inspected at a past block by `tdw inspect --verify`, funds traced three hops with a
    picture, a freeze proposed and approved by a second officer, and a goAML report that validates."""
    client = httpx.Client(base_url=server.url, timeout=30)
    logins = server.logins()
    officer = _login(
        client, "compliance", logins["compliance"]["password"], logins["compliance"]["totp_secret"]
    )
    checker = _login(client, "checker", logins["checker"]["password"], logins["checker"]["totp_secret"])
    wanted = {
        "large_transfer",
        "structuring",
        "fan_out",
        "pass_through",
        "round_amounts",
        "high_risk_jurisdiction",
        "blocked_proximity",
    }

    def raised() -> list[dict[str, Any]] | None:
        alerts = client.get("/v1/compliance/alerts", params={"limit": 500}, headers=officer).json()
        return alerts if wanted <= {a["typology"] for a in alerts} else None

    alerts = _until(raised, timeout=120)
    large = next(a for a in alerts if a["typology"] == "large_transfer")
    assert large["figures"]["amount"] == "12000.00 USD"
    cases = client.get("/v1/compliance/cases", headers=officer).json()
    assert large["case_id"] in {c["id"] for c in cases}
    path = f"/v1/compliance/cases/{large['case_id']}"
    assert client.get(path, headers=officer).json()["alerts"][0]["id"] == large["id"]

    # The whale's address just before its large transfer, from the shell, checked against the node.
    env = {"TDW_DATA_DIR": str(server.folder), "TDW_RPC_URL": f"http://127.0.0.1:{server.anvil_port}"}
    before = str(large["block"] - 1)
    shown = tdw("inspect", "address", large["subject"], "--block", before, "--verify", env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    view = json.loads(shown.stdout)
    assert view["verified"] is True
    assert view["balances"][0]["balance"] == "15000.00 USD"

    trace = client.get(
        "/v1/compliance/trace",
        params={"start": large["subject"], "currency": "USD", "hops": 3, "format": "svg"},
        headers=officer,
    )
    assert trace.status_code == 200, trace.text
    assert trace.headers["content-type"] == "image/svg+xml"
    assert "12000.00 USD" in trace.text

    proposal = client.post(
        f"{path}/proposals",
        json={"action": "freeze", "currency": "USD", "reason": "large transfer from an outside wallet"},
        headers={**officer, "Idempotency-Key": "e2e-case-freeze"},
    ).json()
    assert client.post(f"/v1/proposals/{proposal['id']}/approve", json={}, headers=officer).status_code == 403
    approved = client.post(f"/v1/proposals/{proposal['id']}/approve", json={}, headers=checker)
    assert approved.status_code == 200, approved.text

    report = client.post(f"{path}/reports/goaml", headers=officer)
    assert report.status_code == 201, report.text
    xmlschema.XMLSchema11(str(Path(__file__).parent / "data" / "goAMLSchema.xsd")).validate(report.text)


def test_a_customer_signs_up_receives_a_mint_pays_and_downloads_statements(server: DevServer) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    signup = client.post("/v1/auth/signup", json={"username": "erin", "password": PASSWORD})
    assert signup.status_code == 201
    erin = _login(client, "erin", PASSWORD, signup.json()["totp_secret"])
    account = client.post("/v1/accounts", json={"currency": "USD"}, headers=erin).json()
    assert account["status"] == "pending_kyc"  # nothing on chain before compliance verifies erin
    officer_login = server.logins()["compliance"]
    officer = _login(client, "compliance", officer_login["password"], officer_login["totp_secret"])
    _submit_identity(client, erin, "Erin Example")
    verified = client.post(
        f"/v1/compliance/kyc/{signup.json()['user_id']}", json={"decision": "verified"}, headers=officer
    )
    assert verified.status_code == 200, verified.text
    _until(lambda: client.get(f"/v1/accounts/{account['id']}", headers=erin).json()["status"] == "active")

    events: list[dict[str, Any]] = []

    def listen() -> None:
        with httpx.stream("GET", f"{server.url}/v1/events?after=0", headers=erin, timeout=60) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if any(e["type"] == "transfer.state" and e["data"]["state"] == "final" for e in events):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()

    operator_login = server.logins()["operator"]
    operator = _login(client, "operator", operator_login["password"], operator_login["totp_secret"])
    mint = client.post(
        "/v1/bank/mint",
        json={"currency": "USD", "amount": "100.00", "to_account": account["id"]},
        headers={**operator, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert mint.status_code == 202
    balance = f"/v1/accounts/{account['id']}/balance"
    _until(lambda: client.get(balance, headers=erin).json()["balance"] == "100.00")

    bank = client.get("/v1/bank", headers=erin).json()
    sent = client.post(
        "/v1/transfers",
        json={
            "from_account": account["id"],
            "to_address": bank["redemption_address"],
            "amount": "40.50",
            "currency": "USD",
            "reference": "REDEEM-1",
        },
        headers={**erin, "Idempotency-Key": "e2e-1"},
    )
    assert sent.status_code == 201
    final = _until(
        lambda: (
            (t := client.get(f"/v1/transfers/{sent.json()['id']}", headers=erin).json())["state"] == "final"
            and t
        )
    )
    assert final["tx_hash"]
    assert final["reference"] == "REDEEM-1"
    _until(lambda: client.get(balance, headers=erin).json()["balance"] == "59.50")

    listener.join(timeout=30)
    # Her own events, and the notifications of the kinds a customer hears about by default.
    assert {e["type"] for e in events} <= {"funds.received", "transfer.state", "notification"}
    assert {"funds.received", "transfer.state"} <= {e["type"] for e in events}
    assert [e["data"]["amount"] for e in events if e["type"] == "funds.received"] == ["100.00"]
    assert [e["data"]["state"] for e in events if e["type"] == "transfer.state"][-1] == "final"

    today = datetime.now(UTC).date()
    period = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    kinds = {
        "json": "application/json",
        "csv": "text/csv",
        "pdf": "application/pdf",
        "camt053": "application/xml",
    }
    for fmt, media in kinds.items():
        r = client.get(
            f"/v1/accounts/{account['id']}/statements", params={**period, "format": fmt}, headers=erin
        )
        assert r.status_code == 200, fmt
        assert r.headers["content-type"].startswith(media), fmt
    statement = client.get(f"/v1/accounts/{account['id']}/statements", params=period, headers=erin).json()
    assert statement["closing_balance"] == "59.50"
    assert [e["amount"] for e in statement["entries"]] == ["100.00", "-40.50"]


def test_the_api_never_fails_and_always_answers_as_its_schema_says(server: DevServer) -> None:
    """Schemathesis generates requests for every operation (the event stream excepted: it never ends)
    with a customer's token; every answer must be below 500 and match the schema: status code,
    content type and body."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signup = client.post("/v1/auth/signup", json={"username": "fuzzer", "password": PASSWORD}).json()
        token = _login(client, "fuzzer", PASSWORD, signup["totp_secret"])
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would be a schema bug: let it raise
        if operation.path == "/v1/events":
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=server.url, headers={**token, **(case.headers or {})}, checks=checks
            )

        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - every failure of every operation is collected and shown
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 25
    assert not failures, json.dumps(failures, indent=2)


def test_ctrl_c_stops_everything_and_the_next_start_resumes(server: DevServer) -> None:
    server.stop()
    out = server.start()
    assert "resumed the demo bank" in out
    alice = server.logins()["alice"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        headers = _login(client, "alice", alice["password"], alice["totp_secret"])
        accounts = client.get("/v1/accounts", headers=headers).json()
        assert sorted(a["currency"] for a in accounts) == ["EUR", "USD"]
        usd = next(a for a in accounts if a["currency"] == "USD")
        # The demo minted 1000.00 and seeded two payments (12.50 to Bob, 250.00 from him), a conversion
        # of 50.00 to EUR, 100.00 to Carol at Harbour Bank, and 63.90 from her (500.00 HKD, less 0.50%
        # at Harbour and converted at the development rates less the interbank spread); 18.40 to Mira's
        # café by its payment request, 64.20 for her electricity bill, and 120.00 salary from Helvetia
        # Power's payroll file; before all that, three months of history (DEMO_HISTORY) left her 86.30
        # more.
        wait_for(
            lambda: (
                client.get(f"/v1/accounts/{usd['id']}/balance", headers=headers).json().get("balance")
                == "1275.10"
            ),
            what="the demo's mint and payments",
        )


def test_without_node_tdw_dev_runs_on_eth_tester_from_the_prebuilt_contracts(tmp_path: Path) -> None:
    """A machine without Node.js has no anvil and no compiler: `tdw dev` runs the in-process chain with
    the committed compiler output, and a customer's transfer still becomes final."""
    project = tmp_path / "project"
    shutil.copytree(Path(__file__).resolve().parent.parent / "contracts", project / "contracts")
    dev = DevServer(
        tmp_path / "data",
        free_port(),
        free_port(),
        env={"TDW_PROJECT_ROOT": str(project), "TDW_CACHE_DIR": str(tmp_path / "cache")},
    )
    out = dev.start()
    try:
        assert "in-process eth-tester chain" in out
        assert "deployed the demo bank" in out
        logins = dev.logins()
        with httpx.Client(base_url=dev.url, timeout=30) as client:
            alice = _login(client, "alice", logins["alice"]["password"], logins["alice"]["totp_secret"])
            bob = _login(client, "bob", logins["bob"]["password"], logins["bob"]["totp_secret"])
            source = next(
                a for a in client.get("/v1/accounts", headers=alice).json() if a["currency"] == "EUR"
            )
            target = next(a for a in client.get("/v1/accounts", headers=bob).json() if a["currency"] == "EUR")
            body = {
                "from_account": source["id"],
                "to_account": target["id"],
                "amount": "12.34",
                "currency": "EUR",
            }
            sent = client.post("/v1/transfers", json=body, headers={**alice, "Idempotency-Key": "no-node-1"})
            assert sent.status_code == 201, sent.text
            _until(
                lambda: (
                    client.get(f"/v1/transfers/{sent.json()['id']}", headers=alice).json()["state"] == "final"
                )
            )
            # 500.00 minted by the demo, 30.40 net from Alice in its history, 9.99 of its seeded payment
            # from Alice, and this one's 12.34.
            _until(
                lambda: (
                    client.get(f"/v1/accounts/{target['id']}/balance", headers=bob).json()["balance"]
                    == "552.73"
                )
            )
    finally:
        dev.stop()


def test_serve_refuses_development_secrets(tmp_path: Path) -> None:
    env = {**os.environ, "TDW_ENVIRONMENT": "production", "TDW_DATA_DIR": str(tmp_path)}
    result = tdw("serve", env=env)
    assert result.returncode == 2
    problems = (
        "TDW_RPC_URL is not set",
        "TDW_KEK is the development key-encryption key",
        "TDW_TOKEN_SECRET is the development token secret",
        "TDW_DATABASE_URL is not set",
    )
    for problem in problems:
        assert problem in result.stderr
    assert not list(tmp_path.iterdir())  # refused before touching anything


def test_serve_runs_a_bank_deployed_from_production_settings(
    project_root: Path, compilation: Compilation, tmp_path: Path, new_postgres_database: Any
) -> None:
    node = AnvilNode(project_root, block_time=1, mixed_mining=True)
    w3 = node.start()
    try:
        with new_postgres_database() as database_url:
            _serve_a_production_bank(
                w3, node.url, database_url, tmp_path, compilation.contracts["ComplianceRegistry"].abi
            )
    finally:
        node.stop()


def _serve_a_production_bank(
    w3: Any, rpc_url: str, database_url: str, folder: Path, registry_abi: list[dict[str, Any]]
) -> None:
    deployer = Account.create()
    fund_from_dev_account(w3, deployer.address, 10**20)
    port = free_port()
    env = {
        **os.environ,
        "TDW_ENVIRONMENT": "production",
        "TDW_RPC_URL": rpc_url,
        "TDW_DATABASE_URL": database_url,
        "TDW_KEK": secrets.token_hex(32),
        "TDW_TOKEN_SECRET": secrets.token_urlsafe(48),
        "TDW_DEPLOYER_KEY": deployer.key.hex(),
        "TDW_MANIFEST_PATH": str(folder / "deployment.json"),
        "TDW_API_PORT": str(port),
        "TDW_DATA_DIR": str(folder),
    }

    # The operational keys, created in the database's keystore; the same on every call.
    keys = tdw("keys", "--json", env=env)
    assert keys.returncode == 0, keys.stderr
    roles = json.loads(keys.stdout)
    assert set(roles) == set(OPERATIONAL_ROLES)
    assert json.loads(tdw("keys", "--json", env=env).stdout) == roles
    for address in roles.values():
        fund_from_dev_account(w3, address, 10**20)

    # A deployment whose roles are the deployer's is not this service's to run.
    foreign = tdw("deploy", "--currency", "USD", "--manifest", str(folder / "foreign.json"), env=env)
    assert foreign.returncode == 0, foreign.stderr
    refused = tdw("serve", env={**env, "TDW_MANIFEST_PATH": str(folder / "foreign.json")})
    assert refused.returncode == 2
    assert "not held by this service's operational keys" in refused.stderr

    deployed = tdw(
        "deploy",
        "--currency",
        "USD",
        "--manifest",
        str(folder / "deployment.json"),
        *(f"--{role}={roles[role]}" for role in ("admin", "minter", "burner", "pauser", "compliance")),
        env=env,
    )
    assert deployed.returncode == 0, deployed.stderr
    admin_password = "first admin password"
    added = tdw("add-user", "root", "--role", "admin", "--password", admin_password, env=env)
    assert added.returncode == 0, added.stderr
    admin_secret = next(
        line.split()[-1] for line in added.stdout.splitlines() if line.startswith("TOTP secret")
    )

    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "TDW_LOG_FORMAT": "json"},
    )
    output: list[str] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    try:
        assert process.stdout is not None
        # Log lines are JSON objects; the first other line is the banner.
        banner = next(line for line in process.stdout if not line.startswith("{"))
        assert banner.startswith(f"serving Demo Bank on http://127.0.0.1:{port}"), banner
        threading.Thread(target=drain, daemon=True).start()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            admin = _login(client, "root", admin_password, admin_secret)
            operator = client.post(
                "/v1/admin/users",
                json={"username": "ops", "password": PASSWORD, "role": "operator"},
                headers=admin,
            ).json()
            signup = client.post("/v1/auth/signup", json={"username": "frank", "password": PASSWORD}).json()
            frank = _login(client, "frank", PASSWORD, signup["totp_secret"])
            account = client.post("/v1/accounts", json={"currency": "USD"}, headers=frank).json()
            ops = _login(client, "ops", PASSWORD, operator["totp_secret"])
            _submit_identity(client, frank, "Frank Example")
            verified = client.post(
                f"/v1/compliance/kyc/{signup['user_id']}", json={"decision": "verified"}, headers=ops
            )
            assert verified.status_code == 200, verified.text
            _until(
                lambda: (
                    client.get(f"/v1/accounts/{account['id']}", headers=frank).json()["status"] == "active"
                )
            )
            mint = client.post(
                "/v1/bank/mint",
                json={"currency": "USD", "amount": "25.00", "to_account": account["id"]},
                headers={**ops, "Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": "mint-frank-1"},
            )
            assert mint.status_code == 202, mint.text
            assert mint.headers["x-request-id"] == "mint-frank-1"
            balance = f"/v1/accounts/{account['id']}/balance"
            _until(lambda: client.get(balance, headers=frank).json()["balance"] == "25.00")
            # The relayer's JSON line about the mint's broadcast names the HTTP request that asked for it.
            records = [json.loads(line) for line in list(output) if line.startswith("{")]
            [sent] = [
                r
                for r in records
                if r["logger"] == "wallet.tx.outbox" and "mint-frank-1" in r.get("request_ids", [])
            ]
            assert sent["tx_hash"].startswith("0x")
            assert {"time", "level", "message", "request_id"} <= sent.keys()
            # Serving registered the redemption address, so customers can redeem.
            redemption = client.get("/v1/bank", headers=frank).json()["redemption_address"]
            assert redemption == roles["burner"]
            registry = w3.eth.contract(
                address=json.loads((folder / "deployment.json").read_text())["registry"]["address"],
                abi=registry_abi,
            )
            _until(lambda: registry.functions.isAllowed(redemption).call())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_the_demo_pays_across_banks_and_converts(server: DevServer) -> None:
    """`tdw dev` runs the partner bank and the central bank too: Alice's conversion, her payment to Carol
    at Harbour Bank and Carol's to her are final, and the positions agree with the chain."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        logins = server.logins()
        alice = _login(client, "alice", logins["alice"]["password"], logins["alice"]["totp_secret"])
        admin = _login(client, "admin", logins["admin"]["password"], logins["admin"]["totp_secret"])

        def settled() -> list[dict[str, Any]] | None:
            payments = client.get("/v1/cross-border/payments", headers=alice).json()
            done = [p for p in payments if p["state"] == "final"]
            return payments if len(done) == 2 else None

        payments = wait_for(settled, timeout=120, what="the demo's payments between the banks")
        assert {p["direction"] for p in payments} == {"incoming", "outgoing"}
        conversions = client.get("/v1/fx/conversions", headers=alice).json()
        assert [c["state"] for c in conversions] == ["final"]
        positions = client.get("/v1/bank/positions", headers=admin).json()
        assert {b["currency"] for b in positions["bilateral"]} == {"USD", "HKD"}
        wait_for(
            lambda: all(
                h["agrees"] for h in client.get("/v1/bank/positions", headers=admin).json()["holdings"]
            ),
            what="the settlement-token holdings in the mirror",
        )

        # Across two chains: the demo bank paid Harbour Bank 100.00 USD on this chain, and Harbour Bank
        # paid Carol 778.10 HKD on the second chain, by hashed time-locks claimed on both.
        def swapped() -> list[dict[str, Any]] | None:
            found = client.get("/v1/bank/swaps", headers=admin).json()
            return found if found and found[0]["state"] == "done" else None

        [swap] = wait_for(swapped, timeout=60, what="the demo's payment across the chains")
        assert [leg["on_chain"] for leg in swap["legs"]] == ["claimed", "claimed"]
        assert [leg["chain_id"] for leg in swap["legs"]] == [31337, 31338]
        assert client.get("/v1/bank/swaps", headers=alice).status_code == 403
        # Read from the second chain's node itself: Carol holds the 778.10 HKD there.
        second = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{server.second_anvil_port}"))
        hkd = swap["legs"][1]
        token = second.eth.contract(
            address=hkd["token"],
            abi=[
                {
                    "name": "balanceOf",
                    "type": "function",
                    "stateMutability": "view",
                    "inputs": [{"name": "a", "type": "address"}],
                    "outputs": [{"name": "", "type": "uint256"}],
                }
            ],
        )
        assert token.functions.balanceOf(hkd["receiver"]).call() == 778_10


def test_bench_cross_border_settles_every_payment_beside_plain_transfers(server: DevServer) -> None:
    """`tdw bench cross-border` against the running banks: every payment it had accepted is final, and
    the plain transfers measured beside it in the same run are too."""
    result = tdw(
        "bench",
        "cross-border",
        "--url",
        server.url,
        "--partner-url",
        f"http://127.0.0.1:{server.partner_port}",
        "--data-dir",
        str(server.folder),
        "--seconds",
        "3",
        "--clients",
        "2",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    crossing, plain = report["cross_border"], report["reference"]
    assert crossing["accepted"] > 0
    assert crossing["refused"] == 0
    assert (crossing["final"], crossing["failed"]) == (crossing["accepted"], 0), crossing["failed_reasons"]
    assert plain["accepted"] > 0
    assert (plain["final"], plain["failed"]) == (plain["accepted"], 0)
    assert report["final_vs_reference"] == round(crossing["final_per_s"] / plain["final_per_s"], 3)
