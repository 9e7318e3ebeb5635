"""`tdw bench transfers`: customer transfers end to end against plain pre-signed transfers, in one run.

(a) `raw_tx_per_s`: N plain `transfer` transactions, signed beforehand, sent one at a time with
    eth_sendRawTransaction, until the last is mined: the node's own pace, the reference.
(b) `e2e_transfers_per_s`: N customer transfers through the custody layer: each authorization signed by
    the customer's key and stored (idempotency key included), relayed in batches through the outbox,
    mined and confirmed.
`ratio` is b / a. Also the signing rates of the local keystore and of the PKCS#11 HSM.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from pydantic import SecretStr
from sqlalchemy import func, select
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, onboard
from wallet.chain.eip3009 import TokenDomain, typed_data
from wallet.chain.node import fund_from_dev_account
from wallet.chain.revert import ErrorDecoder
from wallet.chain.transact import base_fee
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import TransferRequest
from wallet.errors import BenchError
from wallet.keys import PrivateKeySigner, Signer
from wallet.keys.keystore import Keystore
from wallet.tx.outbox import Outbox, OutboxConfig
from wallet.tx.transfers import TokenInfo, TransferService
from wallet.vocabulary import RequestStatus

BENCH_KEK = SecretStr("be" * 32)
CUSTOMERS = 100
BATCH_SIZE = 200


def run(
    w3: Web3,
    compilation: Compilation,
    *,
    n: int,
    db_url: str,
    project_root: Path,
    pkcs11_module: Path,
) -> dict[str, Any]:
    """Runs the whole benchmark on `w3` (a development chain with funded unlocked accounts)."""
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    keystore = Keystore(sessions, BENCH_KEK)
    run_id = os.urandom(4).hex()
    abis = [c.abi for c in compilation.contracts.values()]
    admin, manifest, bank = deploy_dev_bank(w3, compilation, bank_name="Bench Bank")
    token = bank.tokens["USD"]
    customers = [keystore.create(f"bench-{run_id}:customer:{i}") for i in range(CUSTOMERS)]
    relayer = keystore.create(f"bench-{run_id}:relayer")
    addresses = [c.address for c in customers]
    onboard(admin, bank, addresses, balance=10**12)
    for signer in [*customers, relayer]:
        fund_from_dev_account(w3, signer.address, 10**20)

    raw = _raw_transfers(w3, token, customers, n)
    e2e = _e2e_transfers(
        w3, sessions, keystore, token, manifest.tokens["USD"].name, relayer, addresses, n, abis
    )
    domain = TokenDomain(name="Bench", chain_id=w3.eth.chain_id, address=token.address)
    result: dict[str, Any] = {
        "n": n,
        "database": engine.dialect.name,
        "raw_tx_per_s": round(n / raw, 1),
        "e2e_transfers_per_s": round(n / e2e, 1),
        "ratio": round(raw / e2e, 3),
        "batch_size": BATCH_SIZE,
        "local_signatures_per_s": _signing_rate(customers[0], domain, 500),
        "pkcs11_signatures_per_s": _pkcs11_rate(project_root, pkcs11_module, domain),
    }
    engine.dispose()
    return result


def _raw_transfers(w3: Web3, token: Any, customers: list[PrivateKeySigner], n: int) -> float:
    """Seconds to send n pre-signed plain transfers one at a time until the last is mined."""
    chain_id = w3.eth.chain_id
    base = base_fee(w3)
    nonces: dict[str, int] = {c.address: w3.eth.get_transaction_count(c.address) for c in customers}
    signed = []
    for i in range(n):
        payer = customers[i % len(customers)]
        payee = customers[(i + 1) % len(customers)]
        data = token.encode_abi("transfer", args=[payee.address, 1])
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonces[payer.address],
            "to": token.address,
            "value": 0,
            "data": data,
            "gas": 80_000,
            "maxFeePerGas": 4 * base + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        nonces[payer.address] += 1
        signed.append(payer.sign_transaction(tx).raw)
    started = time.perf_counter()
    last = HexBytes(b"")
    for raw in signed:
        last = w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(last, timeout=600, poll_latency=0.01)
    elapsed = time.perf_counter() - started
    if receipt["status"] != 1:
        raise BenchError("the last plain transfer reverted")
    return elapsed


def _e2e_transfers(
    w3: Web3,
    sessions: Any,
    keystore: Keystore,
    token: Any,
    token_name: str,
    relayer: Signer,
    addresses: Sequence[str],
    n: int,
    abis: list[Any],
) -> float:
    """Seconds for n customer transfers from request to confirmed batch."""
    decoder = ErrorDecoder(abis)
    domain = TokenDomain(name=token_name, chain_id=w3.eth.chain_id, address=token.address)
    signers = {a: keystore.signer_for_address(a) for a in addresses}  # unwrapped once, as a service would
    transfers = TransferService(
        sessions,
        w3,
        {token.address: TokenInfo(domain=domain, abi=token.abi)},
        signers.__getitem__,
        decoder=decoder,
        batch_size=BATCH_SIZE,
    )
    outbox = Outbox(
        sessions,
        w3,
        relayer,
        decoder=decoder,
        listener=transfers,
        config=OutboxConfig(confirmations=1, stuck_after=60),
    )
    run_id = os.urandom(4).hex()
    started = time.perf_counter()
    for i in range(n):
        transfers.submit(
            idempotency_key=f"{run_id}-{i}",
            token=token.address,
            payer=addresses[i % len(addresses)],
            payee=addresses[(i + 1) % len(addresses)],
            value=1,
        )
        if i % BATCH_SIZE == BATCH_SIZE - 1:
            transfers.relay(outbox)
            outbox.process()
    while transfers.relay(outbox) is not None:
        pass
    outbox.wait_until_settled(timeout=600, poll=0.01)
    elapsed = time.perf_counter() - started
    with sessions() as session:
        executed = session.scalar(
            select(func.count()).where(
                TransferRequest.status == RequestStatus.EXECUTED,
                TransferRequest.idempotency_key.startswith(run_id),
            )
        )
    if executed != n:
        raise BenchError(f"only {executed} of {n} customer transfers executed")
    return elapsed


def _signing_rate(signer: Signer, domain: TokenDomain, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        signer.sign_typed_data(
            typed_data(
                domain, "CancelAuthorization", {"authorizer": signer.address, "nonce": i.to_bytes(32, "big")}
            )
        )
    return round(count / (time.perf_counter() - started), 1)


def _pkcs11_rate(project_root: Path, module: Path, domain: TokenDomain) -> float:
    """Signatures per second of a fresh SoftHSM2 token made by `scripts/softhsm-token`."""
    from wallet.keys.pkcs11 import Pkcs11Token  # imported late: it loads the PKCS#11 library

    folder = Path(tempfile.mkdtemp(prefix="tdw-bench-hsm-"))
    out = subprocess.run(
        [str(project_root / "scripts" / "softhsm-token"), str(folder), "tdw-bench", "4321"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.environ["SOFTHSM2_CONF"] = out.strip().split("=", 1)[1]
    token = Pkcs11Token(module, "tdw-bench", SecretStr("4321"))
    try:
        return _signing_rate(token.generate("bench"), domain, 300)
    finally:
        token.close()
