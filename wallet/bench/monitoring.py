"""`tdw bench monitoring`: transaction monitoring and chain inspection on a large mirror.

Builds a ledger mirror of about `entries` journal entries in SQLite from the seeded synthetic activity
(`wallet.compliance.synthetic`: normal traffic with planted cases), posted through the same integrity
triggers as the indexer's, then measures in the same run:
- `backfill_entries_per_s`: entries read from the journal (the monitor's query, in its batch size) and
  run through every typology and the statistical detector;
- `address_view_ms` / `trace_3_hops_ms`: the inspector's address view and a 3-hop forward FIFO trace
  of random customers (p50 and max over `samples`);
- `indexer_events_per_s`: the indexer's own rate into SQLite on a real chain (a small `tdw bench index`
  run), the reference the monitor must keep up with;
- `block_to_alert_ms` (`steady_flow`): on a running bank (anvil, its indexer and monitor as `tdw dev`
  runs them), transfers over the reporting threshold sent at a steady rate from KYC'd wallets, each one
  a large-transfer alert; from the moment a block is first seen on the node to the moment its alert
  is stored.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.chain.transact import Transactor
from wallet.compliance.inspection import Inspector
from wallet.compliance.monitoring import ZERO, Detector, Movement, movement_of, movements_query
from wallet.compliance.policy import DEFAULT_POLICY, Policy
from wallet.compliance.synthetic import generate
from wallet.db import make_engine, readonly, session_factory, upgrade
from wallet.db.models import Alert, IndexerCursor, JournalEntry, JournalLeg, LedgerAccount
from wallet.errors import BenchError
from wallet.keys import Signer
from wallet.vocabulary import Role, Typology

CHAIN_ID = 31337
TOKEN = to_checksum_address("0x" + "7a" * 20)
OFFICER = Principal("bench", "bench", Role.COMPLIANCE)


@dataclass(frozen=True)
class _Token:
    currency: str
    address: str
    decimals: int
    contract: Any = None


class _Mirror:
    """What the inspector reads of a bank, for a mirror with no bank behind it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.readers = readonly(sessions)
        self.chain_id = CHAIN_ID
        self.tokens = {"USD": _Token("USD", TOKEN, 2)}

    def names(self) -> dict[str, str]:
        return {}

    def token(self, code: str) -> _Token:
        return self.tokens[code]


def build_mirror(url: str, entries: int, seed: int = 7) -> tuple[sessionmaker[Session], list[str], int]:
    """A migrated database holding about `entries` posted entries; (sessions, customers, entries)."""
    customers = max(10, entries * 150 // 48_000)
    activity = generate(seed=seed, customers=customers, per_typology=max(10, customers // 15))
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    movements = [m for m in activity.items if isinstance(m, Movement)]
    holders = sorted({to_checksum_address(a) for m in movements for a in (m.sender, m.receiver)})
    with sessions.begin() as session:
        session.execute(
            insert(LedgerAccount), [{"chain_id": CHAIN_ID, "token": TOKEN, "holder": h} for h in holders]
        )
        ids = dict(session.execute(select(LedgerAccount.holder, LedgerAccount.id)).tuples().all())
    chunk = 50_000
    for start in range(0, len(movements), chunk):
        part = movements[start : start + chunk]
        with sessions.begin() as session:
            rows = [
                {
                    "chain_id": CHAIN_ID,
                    "token": TOKEN,
                    "block_number": start + i + 1,
                    "block_hash": "0x" + f"{start + i + 1:064x}",
                    "block_time": m.time,
                    "tx_hash": m.tx_hash,
                    "log_index": 0,
                    "kind": "mint" if m.sender == ZERO else "transfer",
                    "payment_reference": None,
                    "state": "final",
                    "posted": False,
                }
                for i, m in enumerate(part)
            ]
            session.execute(insert(JournalEntry), rows)
            first = session.scalar(select(JournalEntry.id).where(JournalEntry.block_number == start + 1))
            assert first is not None
            legs = []
            for i, m in enumerate(part):
                entry = first + i
                legs.append(
                    {"entry_id": entry, "account_id": ids[to_checksum_address(m.sender)], "amount": -m.amount}
                )
                legs.append(
                    {
                        "entry_id": entry,
                        "account_id": ids[to_checksum_address(m.receiver)],
                        "amount": m.amount,
                    }
                )
            session.execute(insert(JournalLeg), legs)
            session.execute(update(JournalEntry).where(JournalEntry.id >= first).values(posted=True))
    with sessions.begin() as session:
        session.add(IndexerCursor(chain_id=CHAIN_ID, block_number=len(movements), block_hash="0x" + "0" * 64))
    return sessions, [to_checksum_address(a) for a in activity.addresses], len(movements)


def backfill(sessions: sessionmaker[Session], batch: int = 5000) -> tuple[int, int, float]:
    """Every entry through every typology, as the monitor reads them; (entries, alerts, seconds)."""
    detector = Detector(Policy.compile(1, DEFAULT_POLICY))
    cursor, count, alerts = 0, 0, 0
    started = time.perf_counter()
    with sessions() as session:
        while True:
            rows = session.execute(movements_query(cursor, batch)).all()
            if not rows:
                break
            for row in rows:
                movement = movement_of(row, "USD")
                alerts += len(detector.feed(movement))
            count += len(rows)
            cursor = rows[-1].leg_id
    return count, alerts, time.perf_counter() - started


def inspection(sessions: sessionmaker[Session], customers: list[str], samples: int) -> dict[str, Any]:
    inspector = Inspector(_Mirror(sessions))
    rng = random.Random(11)  # noqa: S311 - which customers to sample, reproducibly
    views, traces = [], []
    for address in rng.sample(customers, min(samples, len(customers))):
        started = time.perf_counter()
        inspector.address(OFFICER, address)
        views.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        inspector.trace(OFFICER, address, currency="USD", hops=3, rule="fifo")
        traces.append((time.perf_counter() - started) * 1000)
    return {
        "address_view_ms": {"p50": round(statistics.median(views), 1), "max": round(max(views), 1)},
        "trace_3_hops_ms": {"p50": round(statistics.median(traces), 1), "max": round(max(traces), 1)},
        "samples": len(views),
    }


def run(url: str, entries: int, samples: int = 20) -> dict[str, Any]:
    """Builds the mirror and measures backfill and inspection on it."""
    started = time.perf_counter()
    sessions, customers, loaded = build_mirror(url, entries)
    build_s = time.perf_counter() - started
    count, alerts, seconds = backfill(sessions)
    return {
        "entries": loaded,
        "mirror_build_s": round(build_s, 1),
        "backfill_entries_per_s": round(count / seconds, 1),
        "alerts": alerts,
        **inspection(sessions, customers, samples),
    }


class _BlockWatch:
    """Records the wall-clock moment each block number is first seen on the node (polled every 5 ms)."""

    def __init__(self, services: Services) -> None:
        self.w3 = services.bank.w3
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-block-watch", daemon=True)

    def __enter__(self) -> _BlockWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = self.w3.eth.block_number
        while not self._stop.wait(0.005):
            number = self.w3.eth.block_number
            now = time.time()
            for n in range(last + 1, number + 1):
                self.seen.setdefault(n, now)
            last = max(last, number)


def steady_flow(
    services: Services, wallets: list[Signer], *, seconds: float, rate: float, amount: int
) -> dict[str, Any]:
    """Sends `rate` transfers a second of `amount` minor units of USD (over the reporting threshold)
    round `wallets` for `seconds` while `services`' workers run, and measures block to alert."""
    bank = services.bank
    token = bank.token("USD").contract
    senders = [Transactor(bank.w3, w) for w in wallets]

    def send(i: int) -> str:
        payee = wallets[(i + 1) % len(wallets)].address
        return "0x" + senders[i % len(senders)].submit(token.functions.transfer(payee, amount)).hex()

    def alerts_of(hashes: set[str]) -> dict[str, Alert]:
        with bank.readers() as session:
            rows = session.scalars(select(Alert).where(Alert.typology == Typology.LARGE))
            found = {}
            for alert in rows:
                tx = alert.movements[-1]["tx_hash"] if alert.movements else None
                if tx in hashes:
                    found[tx] = alert
            return found

    def wait_for(hashes: set[str], timeout: float) -> dict[str, Alert]:
        deadline = time.monotonic() + timeout
        while True:
            found = alerts_of(hashes)
            if len(found) == len(hashes):
                return found
            if time.monotonic() > deadline:
                raise BenchError(f"{len(hashes) - len(found)} of {len(hashes)} transfers raised no alert")
            time.sleep(0.05)

    # The monitor catches up with the setup's history first; the flow starts once a probe is alerted.
    wait_for({send(0)}, 120)
    with _BlockWatch(services) as watch:
        sent: set[str] = set()
        started = time.monotonic()
        count = max(1, int(seconds * rate))
        for i in range(count):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            sent.add(send(i + 1))
        found = wait_for(sent, 60 + seconds)
        latencies = []
        for alert in found.values():
            seen = watch.seen.get(alert.block_number)
            if seen is None:
                raise BenchError(f"block {alert.block_number} was never seen by the watch")
            created = alert.created_at
            stored = created.timestamp() if created.tzinfo else created.replace(tzinfo=UTC).timestamp()
            latencies.append(max(0.0, stored - seen) * 1000)
    latencies.sort()

    def pick(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {
        "transfers": len(sent),
        "rate_per_s": rate,
        "p50": pick(0.5),
        "p95": pick(0.95),
        "max": round(latencies[-1], 1),
    }


__all__ = ["backfill", "build_mirror", "inspection", "run", "steady_flow"]
