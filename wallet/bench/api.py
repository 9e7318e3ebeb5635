"""`tdw bench api`: customer transfers through a running API, end to end over HTTP.

Setup (not timed): signs up `clients` customers (TOTP enrolment included), logs them in, has them
submit their identity and a passport and the operator verify them (KYC, institutional tier), opens a
USD account each and has the operator mint them a balance. Then for
`seconds`, `clients` concurrent customers each POST /v1/transfers to the next customer in the ring (a
fresh Idempotency-Key and the bearer token on every request), as fast as the answers come. Afterwards
it follows every accepted transfer until it is final.

The reference, measured in the same run against the same server: an authenticated GET /v1/me at the
same concurrency, which is the server's floor for an authenticated request that touches the database.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pyotp

from wallet.errors import BenchError

CURRENCY = "USD"
MINT_EACH = "1000000.00"
IDENTITY = {
    "birth_date": "1990-01-01",
    "nationality": "CH",
    "residence_country": "CH",
    "id_type": "passport",
    "id_number": "B0000001",
    "address": "Paradeplatz 8, 8001 Zurich",
    "expected_activity": "high",
}
PASSPORT = ("passport.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
LIMITED = "the server limits requests (429): start it with TDW_RATE_LIMITS_ENABLED=false to measure it"


async def _login(client: httpx.AsyncClient, username: str, password: str, secret: str) -> dict[str, str]:
    for _ in range(3):
        code = pyotp.TOTP(secret).now()
        r = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": password, "totp": code},
        )
        if r.status_code == 200:
            return {"Authorization": "Bearer " + r.json()["access_token"]}
        await asyncio.sleep(31 - time.time() % 30)  # the code of this step was used: wait for the next
    raise BenchError(f"login of {username} failed: {r.status_code} {r.text}")


async def _customer(client: httpx.AsyncClient, run: str, n: int, op: dict[str, str]) -> dict[str, Any]:
    username, password = f"bench-{run}-{n}", f"bench-password-{run}"
    r = await client.post("/v1/auth/signup", json={"username": username, "password": password})
    if r.status_code == 429:
        raise BenchError(LIMITED)
    if r.status_code != 201:
        raise BenchError(f"signup failed: {r.status_code} {r.text}")
    user_id, secret = r.json()["user_id"], r.json()["totp_secret"]
    headers = await _login(client, username, password, secret)
    for method, path, kwargs in (
        ("PUT", "/v1/kyc/profile", {"json": {**IDENTITY, "legal_name": f"Bench Customer {run} {n}"}}),
        ("POST", "/v1/kyc/documents", {"data": {"kind": "passport"}, "files": {"file": PASSPORT}}),
        ("POST", "/v1/kyc/submit", {}),
    ):
        r = await client.request(method, path, headers=headers, **kwargs)
        if r.status_code not in (200, 201):
            raise BenchError(f"{method} {path} failed: {r.status_code} {r.text}")
    # Institutional: a tier whose velocity a load test stays within (a retail tier would hold it).
    r = await client.post(
        f"/v1/compliance/kyc/{user_id}", json={"decision": "verified", "tier": "institutional"}, headers=op
    )
    if r.status_code != 200:
        raise BenchError(f"verifying the customer failed: {r.status_code} {r.text}")
    r = await client.post("/v1/accounts", json={"currency": CURRENCY}, headers=headers)
    if r.status_code != 201:
        raise BenchError(f"opening an account failed: {r.status_code} {r.text}")
    return {"headers": headers, "account": r.json()["id"]}


async def _setup(client: httpx.AsyncClient, clients: int, operator: dict[str, str]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    op = await _login(client, operator["username"], operator["password"], operator["totp_secret"])
    customers = await asyncio.gather(*(_customer(client, run, n, op) for n in range(clients)))
    deadline = time.monotonic() + 120
    for c in customers:
        while True:
            r = await client.get(f"/v1/accounts/{c['account']}", headers=c["headers"])
            if r.json()["status"] == "active":
                break
            if time.monotonic() > deadline:
                raise BenchError("accounts did not become active")
            await asyncio.sleep(0.2)
        r = await client.post(
            "/v1/bank/mint",
            json={"currency": CURRENCY, "amount": MINT_EACH, "to_account": c["account"]},
            headers={**op, "Idempotency-Key": f"bench-{run}-{c['account']}"},
        )
        if r.status_code not in (200, 202):
            raise BenchError(f"mint failed: {r.status_code} {r.text}")
    for c in customers:
        while True:
            r = await client.get(f"/v1/accounts/{c['account']}/balance", headers=c["headers"])
            if r.json()["balance"] == MINT_EACH:
                break
            if time.monotonic() > deadline:
                raise BenchError("mints did not reach the ledger mirror")
            await asyncio.sleep(0.2)
    return list(customers)


# One pass of a customer's loop: the last answer, and the id of what it made when it was accepted ("" for
# an accepted read); None when refused.
Attempt = Callable[[int], Awaitable[tuple[httpx.Response, str | None]]]


async def run_loops(
    count: int, seconds: float, attempt: Attempt
) -> tuple[list[float], list[tuple[int, str]], int]:
    """Runs one loop per customer (index 0 to `count` - 1) for `seconds`, each calling `attempt` as fast
    as the answers come; returns latencies (s), accepted (customer index, id) and the number refused.
    A 429 stops the run: the server limits requests."""
    latencies: list[float] = []
    accepted: list[tuple[int, str]] = []
    refused = 0
    end = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal refused
        while time.monotonic() < end:
            started = time.monotonic()
            r, made = await attempt(i)
            latencies.append(time.monotonic() - started)
            if r.status_code == 429:
                raise BenchError(LIMITED)
            if made is None:
                refused += 1
            else:
                accepted.append((i, made))

    await asyncio.gather(*(worker(i) for i in range(count)))
    return latencies, accepted, refused


async def _load(
    client: httpx.AsyncClient, customers: list[dict[str, Any]], seconds: float, transfer: bool
) -> tuple[list[float], list[tuple[int, str]], int]:
    """Transfers to the next customer in the ring (or, the reference, GET /v1/me) from every customer
    for `seconds` (`run_loops`)."""

    async def pay(i: int) -> tuple[httpx.Response, str | None]:
        me, payee = customers[i], customers[(i + 1) % len(customers)]
        r = await client.post(
            "/v1/transfers",
            json={
                "from_account": me["account"],
                "to_account": payee["account"],
                "amount": "0.01",
                "currency": CURRENCY,
            },
            headers={**me["headers"], "Idempotency-Key": uuid.uuid4().hex},
        )
        return r, r.json()["id"] if r.status_code == 201 else None

    async def read(i: int) -> tuple[httpx.Response, str | None]:
        r = await client.get("/v1/me", headers=customers[i]["headers"])
        return r, "" if r.status_code == 200 else None

    return await run_loops(len(customers), seconds, pay if transfer else read)


async def _wait_final(
    client: httpx.AsyncClient,
    customers: list[dict[str, Any]],
    accepted: list[tuple[int, str]],
    timeout: float,
) -> tuple[int, int]:
    """Follows every accepted transfer (through each customer's transfer list) until it is final or
    failed; returns (final, failed)."""
    open_ids = {tid for _, tid in accepted}
    final = failed = 0
    deadline = time.monotonic() + timeout
    while open_ids and time.monotonic() < deadline:
        for c in customers:
            before = None
            while True:
                params: dict[str, Any] = {"limit": 200}
                if before:
                    params["before"] = before
                page = (await client.get("/v1/transfers", params=params, headers=c["headers"])).json()
                for t in page:
                    if t["id"] in open_ids and t["state"] in ("final", "failed"):
                        open_ids.discard(t["id"])
                        final += t["state"] == "final"
                        failed += t["state"] == "failed"
                if len(page) < 200:
                    break
                before = page[-1]["id"]
        if open_ids:
            await asyncio.sleep(0.5)
    return final, failed


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _run(url: str, seconds: float, clients: int, operator: dict[str, str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        customers = await _setup(client, clients, operator)
        ref_seconds = min(10.0, seconds)
        ref_latencies, _, ref_refused = await _load(client, customers, ref_seconds, transfer=False)
        started = time.monotonic()
        latencies, accepted, refused = await _load(client, customers, seconds, transfer=True)
        window = time.monotonic() - started
        final, failed = await _wait_final(client, customers, accepted, timeout=300)
        to_final = time.monotonic() - started
    accepted_per_s = len(accepted) / window
    reference_per_s = (len(ref_latencies) - ref_refused) / ref_seconds
    return {
        "benchmark": "api",
        "url": url,
        "seconds": seconds,
        "clients": clients,
        "accepted": len(accepted),
        "refused": refused,
        "accepted_per_s": round(accepted_per_s, 1),
        "final": final,
        "failed": failed,
        "final_per_s": round(final / to_final, 1),
        "seconds_until_all_final": round(to_final, 2),
        "p50_ms": _ms(latencies, 0.50),
        "p95_ms": _ms(latencies, 0.95),
        "p99_ms": _ms(latencies, 0.99),
        "mean_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else 0.0,
        "reference": {
            "what": "authenticated GET /v1/me, same clients and server",
            "requests_per_s": round(reference_per_s, 1),
            "p50_ms": _ms(ref_latencies, 0.50),
            "p99_ms": _ms(ref_latencies, 0.99),
        },
        "accepted_vs_reference": round(accepted_per_s / reference_per_s, 3) if reference_per_s else None,
    }


def run(url: str, *, seconds: float, clients: int, operator: dict[str, str]) -> dict[str, Any]:
    """Runs the benchmark against the API at `url` with the operator's login (to mint balances)."""
    if clients < 2:
        raise BenchError("the benchmark needs at least 2 clients (customers pay each other in a ring)")
    try:
        return asyncio.run(_run(url.rstrip("/"), seconds, clients, operator))
    except httpx.HTTPError as exc:
        raise BenchError(f"the API at {url} did not answer: {exc}") from exc
