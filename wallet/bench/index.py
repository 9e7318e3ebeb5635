"""`tdw bench index`: how fast the indexer mirrors transfer events, against plain fetch-and-decode.

Generates N Transfer events on a development chain (EIP-3009 authorizations, 250 per batch call; half
of them pay one account, so it has N/2 statement entries), then measures in the same run:
- `raw_events_per_s`: eth_getLogs over the same ranges and decoding, no database;
- `sqlite_events_per_s` / `postgres_events_per_s`: the indexer from scratch into each database;
- `statement_<k>_s`: seconds to build and render the JSON statement of the account with k entries.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import Manifest, deploy_dev_bank, onboard
from wallet.chain.eip3009 import TokenDomain, sign_transfer_authorization
from wallet.chain.rpc import BlockTimes
from wallet.db import make_engine, session_factory, upgrade
from wallet.errors import BenchError
from wallet.keys import PrivateKeySigner
from wallet.ledger.indexer import TRANSFER, Indexer, IndexerConfig
from wallet.ledger.statements import build_statement, render

PER_BATCH = 250
PAYERS = 40


@dataclass(frozen=True)
class GeneratedChain:
    """A bank whose token emitted `transfers` Transfer events after its mints."""

    manifest: Manifest
    transfers: int
    events: int  # transfers plus the mints
    busy_account: str  # receives every second transfer


def generate_transfers(
    w3: Web3, compilation: Compilation, transfers: int, *, seed: int = 4
) -> GeneratedChain:
    """Deploys a bank on `w3` and has it emit `transfers` transfers through batched authorizations."""
    admin, manifest, bank = deploy_dev_bank(w3, compilation, bank_name="Busy Bank")
    token = bank.tokens["USD"]
    payers = [PrivateKeySigner.generate() for _ in range(PAYERS)]
    busy = PrivateKeySigner.generate().address
    addresses = [p.address for p in payers]
    onboard(admin, bank, [*addresses, busy], balance=10**12)
    domain = TokenDomain(name=manifest.tokens["USD"].name, chain_id=w3.eth.chain_id, address=token.address)
    rng = random.Random(seed)  # noqa: S311 - reproducible amounts for a benchmark, not a secret
    pending = []
    for start in range(0, transfers, PER_BATCH):
        batch = [
            sign_transfer_authorization(
                payers[i % PAYERS],
                domain,
                to=busy if i % 2 == 0 else addresses[(i * 7 + 3) % PAYERS],
                value=1 + rng.randrange(1000),
                valid_after=0,
                valid_before=2**40,
                nonce=i.to_bytes(32, "big"),
            ).as_tuple()
            for i in range(start, min(start + PER_BATCH, transfers))
        ]
        pending.append(admin.submit(token.functions.batchTransferWithAuthorization(batch), gas=14_000_000))
    for tx in pending:
        admin.wait(tx)
    return GeneratedChain(
        manifest=manifest, transfers=transfers, events=transfers + PAYERS + 1, busy_account=busy
    )


def _raw_fetch(w3: Web3, chain: GeneratedChain, step: int) -> tuple[int, float]:
    """Fetches and decodes every Transfer log of the token, range by range; (events, seconds)."""
    token = chain.manifest.tokens["USD"].address
    head = w3.eth.block_number
    started = time.perf_counter()
    count = 0
    total = 0
    for start in range(chain.manifest.start_block, head + 1, step):
        params = {
            "fromBlock": hex(start),
            "toBlock": hex(min(head, start + step - 1)),
            "address": [token],
            "topics": [["0x" + TRANSFER.hex()]],
        }
        for item in w3.provider.make_request("eth_getLogs", [params])["result"]:  # type: ignore[arg-type]
            topics = item["topics"]
            # Decode what the indexer decodes.
            total += int(item["data"], 16) + len(topics[1]) + len(topics[2])
            count += 1
    return count, time.perf_counter() - started


def _index_into(w3: Web3, chain: GeneratedChain, db_url: str, abis: list[Any]) -> tuple[float, Any]:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    contracts = [chain.manifest.registry.address, chain.manifest.tokens["USD"].address]
    indexer = Indexer(
        sessions,
        w3,
        contracts,
        IndexerConfig(confirmations=1, start_block=chain.manifest.start_block),
        abis=abis,
    )
    started = time.perf_counter()
    applied = indexer.run_until_head()
    elapsed = time.perf_counter() - started
    if applied != chain.events:
        raise BenchError(f"indexed {applied} entries, the chain has {chain.events}")
    return elapsed, sessions


def run(
    w3: Web3, compilation: Compilation, *, events: int, sqlite_url: str, postgres_admin_url: str | None
) -> dict[str, Any]:
    """The whole benchmark; PostgreSQL is skipped (and reported as null) without an admin URL."""
    chain = generate_transfers(w3, compilation, events)
    abis = [c.abi for c in compilation.contracts.values()]
    raw_count, raw_s = _raw_fetch(w3, chain, 2_000)
    sqlite_s, sqlite_sessions = _index_into(w3, chain, sqlite_url, abis)
    result: dict[str, Any] = {
        "events": chain.events,
        "raw_events_per_s": round(raw_count / raw_s, 1),
        "sqlite_events_per_s": round(chain.events / sqlite_s, 1),
        "postgres_events_per_s": None,
    }
    if postgres_admin_url:
        name = f"tdw_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
            pg_s, pg_sessions = _index_into(w3, chain, url, abis)
            pg_sessions.kw["bind"].dispose()
            result["postgres_events_per_s"] = round(chain.events / pg_s, 1)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    statement = build_statement(
        sqlite_sessions,
        BlockTimes(w3),
        issue=False,
        chain_id=w3.eth.chain_id,
        token=chain.manifest.tokens["USD"].address,
        currency="USD",
        exponent=2,
        account=chain.busy_account,
        period_from=today - timedelta(days=1),
        period_to=today + timedelta(days=1),
    )
    body = render(statement, "json")
    result[f"statement_{len(statement.lines) // 1000}k_s"] = round(time.perf_counter() - started, 3)
    result["statement_entries"] = len(statement.lines)
    result["statement_bytes"] = len(body)
    return result
