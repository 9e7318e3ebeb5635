"""A power cut of the whole embedded stack: `tdw dev` and its anvil are SIGKILLed together (their process
group) at a random point of a burst of transfers, five times over, and started again on the same data
folder. Every accepted transfer must end executed exactly once on chain, nothing may be shown in a
state the chain does not support, and reconciliation must pass.

Conversions (USD to EUR) and payments to the partner bank's Carol (USD to HKD) run in the same bursts:
each accepted one ends final, settled on chain once, and Alice's USD on chain moved by exactly what the
final transfers, conversions and payments took.

Before the fix, anvil wrote its state only every 60 s: the chain came back older than the database,
with transfers shown final whose blocks no longer existed."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from eth_typing import HexStr
from web3 import Web3

from tests.support.cli import tdw
from tests.support.dev_server import DevServer
from tests.support.waiting import wait_for
from wallet.chain.node import free_port

RUNS = 5
TRANSFERS = 200
LIMITS = {"TDW_RATE_LIMIT_USER": "100000/minute", "TDW_RATE_LIMIT_CLIENT": "100000/minute"}


@pytest.mark.anvil
@pytest.mark.slow
def test_sigkill_of_the_whole_stack_mid_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    stack = DevServer(tmp_path / "dev", free_port(), free_port(), env=LIMITS, own_process_group=True)
    stack.start()
    try:
        logins = stack.logins()
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            alice = _login(client, logins["alice"])
            bob = _login(client, logins["bob"])
            _allow_bursts(client, _login(client, logins["compliance"]), _login(client, logins["checker"]))
            source = _usd(client, alice)
            target = _usd(client, bob)
            # The demo's own payments between Alice and Bob are settled before the balance is read (the
            # one the policy holds for compliance stays held, its funds reserved).
            seeded = wait_for(
                lambda: (
                    rows
                    if (rows := _all_transfers(client, alice) + _all_transfers(client, bob))
                    and len(rows) >= 3
                    and all(t["state"] in ("final", "held") for t in rows)
                    else None
                ),
                timeout=120,
                what="the demo's payments final",
            )
            # And the demo's conversion and payments between the banks.
            wait_for(
                lambda: _settlements(client, alice) if _done(*_settlements(client, alice)) else None,
                timeout=120,
                what="the demo's conversion and payments between the banks final",
            )
            seeded_settlements = {x["id"] for rows in _settlements(client, alice) for x in rows}
            carol = _carol(stack)
        seeded_ids = {t["id"] for t in seeded}
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{stack.anvil_port}"))
        token = source["token"]
        start_balance = _balance_of(w3, token, target["address"])
        alice_start = _balance_of(w3, token, source["address"])
        accepted: list[str] = []
        settling: list[str] = []
        for _ in range(RUNS):
            kill_after = rng.randrange(10, TRANSFERS - 10)
            accepted += _burst_then_power_cut(stack, alice, source, target, kill_after, carol, settling)
            stack.start()
            w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{stack.anvil_port}"))
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            stored = _all_transfers(client, alice)

            def settled() -> list[dict[str, Any]] | None:
                rows = _all_transfers(client, alice)
                return rows if all(t["state"] in ("final", "failed", "held") for t in rows) else None

            stored = wait_for(settled, timeout=180, what="every transfer final")
            conversions, payments = wait_for(
                lambda: rows if _done(*(rows := _settlements(client, alice))) else None,
                timeout=180,
                what="every conversion and payment between the banks final",
            )
        by_id = {t["id"]: t for t in stored}
        # Every transfer the API accepted is there and final; the ones whose answer the power cut ate
        # may be there too, and count as much as any other.
        assert set(accepted) <= set(by_id)
        assert all(by_id[i]["state"] == "final" for i in accepted), [by_id[i] for i in accepted]
        final = [t for t in stored if t["state"] == "final" and t["id"] not in seeded_ids]
        # Executed exactly once: the payee's balance on chain moved by exactly the final transfers.
        moved = sum(int(t["amount"].replace(".", "")) for t in final)
        assert _balance_of(w3, token, target["address"]) - start_balance == moved
        # Every conversion and payment between the banks the API accepted is there and final, settled
        # once; with the transfers, they took exactly what Alice's USD on chain lost.
        settled_ids = {x["id"]: x for x in conversions + payments}
        assert set(settling) <= set(settled_ids)
        # A payment whose offer the power cut held back past the partner bank's quote is rejected by it
        # (the customer is told, nothing moves); anything else ends final.
        for x in (settled_ids[i] for i in settling):
            assert x["state"] == "final" or "expired" in (x.get("reason") or ""), x
        new_conversions = [
            c for c in conversions if c["id"] not in seeded_settlements and c["state"] == "final"
        ]
        new_payments = [p for p in payments if p["id"] not in seeded_settlements and p["state"] == "final"]
        assert len({x["tx_hash"] for x in new_conversions + new_payments}) == len(
            new_conversions + new_payments
        )
        taken = moved + sum(
            int(x["amount"].replace(".", ""))
            for x in [c["sell"] for c in new_conversions] + [p["debit"] for p in new_payments]
        )
        assert alice_start - _balance_of(w3, token, source["address"]) == taken
        # Nothing shown final that the chain does not hold: each one's transaction is there.
        for t in final + new_conversions + new_payments:
            receipt = w3.eth.get_transaction_receipt(t["tx_hash"])
            assert receipt["status"] == 1
            assert receipt["blockNumber"] == t["block_number"]
        head = w3.eth.block_number
        reconciled = tdw(
            "reconcile",
            "--at-block",
            str(head),
            "--manifest",
            str(stack.folder / "deployment.json"),
            "--rpc",
            w3.provider.endpoint_uri,  # type: ignore[attr-defined]
            "--db",
            f"sqlite:///{stack.folder / 'tdw.db'}",
        )
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    finally:
        if stack.process is not None:
            stack.stop()


def _burst_then_power_cut(
    stack: DevServer,
    payer: dict[str, str],
    source: dict[str, Any],
    target: dict[str, Any],
    kill_after: int,
    carol: dict[str, str],
    settling: list[str],
) -> list[str]:
    """Transfers from 8 threads until `kill_after` are accepted, then the power cut; every 20th request
    is a conversion or a payment to Carol instead (their accepted ids are added to `settling`)."""
    accepted: list[str] = []
    lock = threading.Lock()
    cut = threading.Event()

    def pay(i: int) -> None:
        if cut.is_set():
            return
        try:
            with httpx.Client(base_url=stack.url, timeout=10) as client:
                if i % 20 == 7:
                    made = _convert_or_pay_carol(client, payer, source, carol, i)
                    if made:
                        with lock:
                            settling.append(made)
                    return
                r = client.post(
                    "/v1/transfers",
                    json={
                        "from_account": source["id"],
                        "to_address": target["address"],
                        "amount": "0.01",
                        "currency": "USD",
                    },
                    headers={**payer, "Idempotency-Key": f"crash-{time.time_ns()}-{i}"},
                )
        except httpx.HTTPError:
            return  # the power cut came first
        if r.status_code == 201:
            with lock:
                accepted.append(r.json()["id"])
                if len(accepted) >= kill_after and not cut.is_set():
                    cut.set()
                    stack.power_cut()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(pay, range(TRANSFERS)))
    if not cut.is_set():
        stack.power_cut()
    return accepted


def _convert_or_pay_carol(
    client: httpx.Client, payer: dict[str, str], source: dict[str, Any], carol: dict[str, str], i: int
) -> str | None:
    """1.00 USD converted to EUR, or paid to Carol in HKD at the partner bank; the id if accepted."""
    to_carol = i % 40 == 7
    quote = client.post(
        "/v1/cross-border/quotes" if to_carol else "/v1/fx/quotes",
        json={"sell": "USD", "buy": "HKD" if to_carol else "EUR", "sell_amount": "1.00"}
        | ({"partner": "harbour"} if to_carol else {}),
        headers=payer,
    )
    if quote.status_code != 201:
        return None
    body: dict[str, Any] = {"quote_id": quote.json()["id"], "from_account": source["id"]}
    if to_carol:
        body["creditor"] = carol
    r = client.post(
        "/v1/cross-border/payments" if to_carol else "/v1/fx/conversions",
        json=body,
        headers={**payer, "Idempotency-Key": f"crash-settle-{time.time_ns()}-{i}"},
    )
    return str(r.json()["id"]) if r.status_code == 201 else None


def _settlements(client: httpx.Client, headers: dict[str, str]) -> list[list[dict[str, Any]]]:
    """The customer's conversions and payments between banks."""
    conversions = client.get("/v1/fx/conversions", headers=headers)
    payments = client.get("/v1/cross-border/payments", headers=headers)
    assert conversions.status_code == payments.status_code == 200, conversions.text + payments.text
    return [list(conversions.json()), list(payments.json())]


def _done(conversions: list[dict[str, Any]], payments: list[dict[str, Any]]) -> bool:
    return (
        bool(conversions)
        and len(payments) >= 2
        and all(x["state"] in ("final", "failed") for x in conversions + payments)
    )


def _carol(stack: DevServer) -> dict[str, str]:
    """Carol's HKD address at the partner bank, by her own login there."""
    login = next(
        x
        for x in json.loads((stack.folder / "partner" / "demo-logins.json").read_text())
        if x["username"] == "carol"
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.partner_port}", timeout=30) as client:
        accounts = client.get("/v1/accounts", headers=_login(client, login)).json()
    return {"address": next(a["address"] for a in accounts if a["currency"] == "HKD"), "name": "Carol Chan"}


def _allow_bursts(client: httpx.Client, maker: dict[str, str], checker: dict[str, str]) -> None:
    """A thousand transfers an hour is far above a retail customer's velocity: two compliance officers
    change the policy (the standard tier's velocity), as the bank would for such a customer."""
    document = client.get("/v1/compliance/policy", headers=maker).json()["document"]
    document["tiers"]["standard"]["velocity_per_hour"] = 100_000
    r = client.post(
        "/v1/proposals",
        json={"action": "policy_change", "params": {"document": document}, "reason": "crash test bursts"},
        headers={**maker, "Idempotency-Key": "crash-policy"},
    )
    assert r.status_code == 201, r.text
    approved = client.post(f"/v1/proposals/{r.json()['id']}/approve", json={}, headers=checker)
    assert approved.status_code == 200, approved.text


def _login(client: httpx.Client, login: dict[str, str]) -> dict[str, str]:
    r = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": login["username"],
            "password": login["password"],
            "totp": pyotp.TOTP(login["totp_secret"]).now(),
        },
    )
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def _usd(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    accounts = client.get("/v1/accounts", headers=headers).json()
    account: dict[str, Any] = next(a for a in accounts if a["currency"] == "USD")
    bank = client.get("/v1/bank", headers=headers).json()
    account["token"] = next(t["address"] for t in bank["tokens"] if t["currency"] == "USD")
    return account


def _balance_of(w3: Web3, token: str, holder: str) -> int:
    data = HexStr("0x70a08231" + holder[2:].lower().rjust(64, "0"))
    return int(w3.eth.call({"to": Web3.to_checksum_address(token), "data": data}).hex() or "0", 16)


def _all_transfers(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 200}
        if rows:
            params["before"] = rows[-1]["id"]
        r = client.get("/v1/transfers", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = list(r.json())
        rows += page
        if len(page) < 200:
            return rows
