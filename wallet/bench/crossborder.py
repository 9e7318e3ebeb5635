"""`tdw bench cross-border`: payments between two banks and currencies, end to end over HTTP.

Needs a running `tdw dev` with its partner bank (the demo bank at `url`, Harbour Bank at `partner_url`).
Setup (not timed) is `tdw bench api`'s: `clients` fresh customers of the demo bank, verified, each with
a USD account and a minted balance; the payee is Harbour Bank's Carol and her HKD account (her login is
in the partner's `demo-logins.json`).

Then, in the same run and against the same servers, for `seconds` each:
- the reference: plain transfers (POST /v1/transfers) between the same customers in a ring;
- the measured: cross-border payments, each a quote (POST /v1/cross-border/quotes, USD sold, HKD
  bought) and the payment from it (POST /v1/cross-border/payments), every one settled on chain in one
  transaction once both banks signed.
Each phase follows everything it had accepted until it is final (or failed); `final_per_s` counts from
the phase's first request to its last final.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from wallet.bench import api as api_bench
from wallet.errors import BenchError

SELL, BUY, AMOUNT = "USD", "HKD", "1.00"


async def _payee(partner: httpx.AsyncClient, login: dict[str, str]) -> dict[str, str]:
    headers = await api_bench._login(partner, login["username"], login["password"], login["totp_secret"])
    accounts = (await partner.get("/v1/accounts", headers=headers)).json()
    account = next((a for a in accounts if a["currency"] == BUY and a["status"] == "active"), None)
    if account is None:
        raise BenchError(f"{login['username']} has no active {BUY} account at the partner bank")
    return {"address": account["address"], "name": login["name"]}


async def _pay_loop(
    client: httpx.AsyncClient,
    customers: list[dict[str, Any]],
    payee: dict[str, str],
    partner_id: str,
    seconds: float,
) -> tuple[list[float], list[tuple[int, str]], int]:
    """One quote-and-pay loop per customer for `seconds` (`run_loops`; a latency is the quote and the
    payment together)."""

    async def pay(i: int) -> tuple[httpx.Response, str | None]:
        me = customers[i]
        quote = await client.post(
            "/v1/cross-border/quotes",
            json={"partner": partner_id, "sell": SELL, "buy": BUY, "sell_amount": AMOUNT},
            headers=me["headers"],
        )
        if quote.status_code != 201:
            return quote, None
        r = await client.post(
            "/v1/cross-border/payments",
            json={
                "quote_id": quote.json()["id"],
                "creditor": payee,
                "from_account": me["account"],
                "reference": "bench",
            },
            headers={**me["headers"], "Idempotency-Key": uuid.uuid4().hex},
        )
        return r, r.json()["id"] if r.status_code == 201 else None

    return await api_bench.run_loops(len(customers), seconds, pay)


async def _follow(
    client: httpx.AsyncClient,
    customers: list[dict[str, Any]],
    accepted: list[tuple[int, str]],
    timeout: float,
) -> tuple[int, int, dict[str, int]]:
    """Follows every accepted payment until it is final or failed; returns (final, failed, the
    reasons of the failed ones)."""
    open_ids = {pid: i for i, pid in accepted}
    final = failed = 0
    reasons: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while open_ids and time.monotonic() < deadline:
        for pid, i in list(open_ids.items()):
            r = await client.get(f"/v1/cross-border/payments/{pid}", headers=customers[i]["headers"])
            p = r.json()
            if p.get("state") in ("final", "failed"):
                del open_ids[pid]
                final += p["state"] == "final"
                if p["state"] == "failed":
                    failed += 1
                    reason = str(p.get("error") or p.get("reason") or "unknown")
                    reasons[reason] = reasons.get(reason, 0) + 1
        if open_ids:
            await asyncio.sleep(0.5)
    return final, failed, reasons


def _phase(
    latencies: list[float],
    accepted: int,
    refused: int,
    final: int,
    failed: int,
    window: float,
    to_final: float,
) -> dict[str, Any]:
    return {
        "accepted": accepted,
        "refused": refused,
        "accepted_per_s": round(accepted / window, 2),
        "final": final,
        "failed": failed,
        "final_per_s": round(final / to_final, 2) if to_final else 0.0,
        "seconds_until_all_final": round(to_final, 2),
        "p50_ms": api_bench._ms(latencies, 0.50),
        "p95_ms": api_bench._ms(latencies, 0.95),
        "p99_ms": api_bench._ms(latencies, 0.99),
    }


async def _run(
    url: str,
    partner_url: str,
    partner_id: str,
    seconds: float,
    clients: int,
    operator: dict[str, str],
    payee_login: dict[str, str],
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with (
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client,
        httpx.AsyncClient(base_url=partner_url, timeout=60) as partner,
    ):
        payee = await _payee(partner, payee_login)
        customers = await api_bench._setup(client, clients, operator)

        started = time.monotonic()
        latencies, accepted, refused = await api_bench._load(client, customers, seconds, transfer=True)
        window = time.monotonic() - started
        final, failed = await api_bench._wait_final(client, customers, accepted, timeout=600)
        plain = _phase(latencies, len(accepted), refused, final, failed, window, time.monotonic() - started)

        started = time.monotonic()
        latencies, paid, refused = await _pay_loop(client, customers, payee, partner_id, seconds)
        window = time.monotonic() - started
        final, failed, reasons = await _follow(client, customers, paid, timeout=600)
        crossing = _phase(latencies, len(paid), refused, final, failed, window, time.monotonic() - started)
        crossing["failed_reasons"] = reasons
    return {
        "benchmark": "cross-border",
        "url": url,
        "partner_url": partner_url,
        "seconds": seconds,
        "clients": clients,
        "payment": f"{AMOUNT} {SELL} paid in {BUY} to {payee['name']} at {partner_id}",
        "cross_border": crossing,
        "reference": {"what": "plain USD transfers between the same customers, same servers", **plain},
        "final_vs_reference": (
            round(crossing["final_per_s"] / plain["final_per_s"], 3) if plain["final_per_s"] else None
        ),
    }


def run(
    url: str,
    partner_url: str,
    *,
    partner_id: str,
    seconds: float,
    clients: int,
    operator: dict[str, str],
    payee: dict[str, str],
) -> dict[str, Any]:
    """Runs the benchmark against the demo bank at `url` (its operator's login mints balances) paying
    `payee` (a login at the partner bank at `partner_url`, registered with us as `partner_id`, with the
    payee's `name` added)."""
    if clients < 2:
        raise BenchError("the benchmark needs at least 2 clients (the reference's customers pay in a ring)")
    try:
        return asyncio.run(
            _run(url.rstrip("/"), partner_url.rstrip("/"), partner_id, seconds, clients, operator, payee)
        )
    except httpx.HTTPError as exc:
        raise BenchError(f"an API did not answer: {exc}") from exc
