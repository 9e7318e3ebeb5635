"""A real bank for the custody tests: contracts on a chain, a database, a keystore with customer and
relayer keys, an outbox and a transfer service. Also used by the crash-test child process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, onboard
from wallet.chain.eip3009 import TokenDomain
from wallet.chain.node import fund_from_dev_account
from wallet.chain.revert import ErrorDecoder
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import TransferRequest
from wallet.keys.keystore import Keystore
from wallet.tx.outbox import Outbox, OutboxConfig
from wallet.tx.transfers import TokenInfo, TransferService

KEK = SecretStr("c3" * 32)


@dataclass
class Custody:
    w3: Web3
    sessions: sessionmaker[Session]
    keystore: Keystore
    outbox: Outbox
    transfers: TransferService
    token: Any
    registry: Any
    admin: Transactor | None  # None in a process that attached to a bank another one deployed
    customers: list[str]

    def request(self, request_id: str) -> TransferRequest:
        """The stored transfer request `request_id`, which must exist."""
        found = self.transfers.get(request_id)
        assert found is not None, request_id
        return found

    def request_by_key(self, key: str) -> TransferRequest:
        """The stored transfer request under idempotency key `key`, which must exist."""
        found = self.transfers.by_key(key)
        assert found is not None, key
        return found

    def settle(self, timeout: float = 120.0) -> None:
        """Relays and processes until nothing is pending, queued or waiting to be mined."""
        import time

        from sqlalchemy import func, select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.transfers.relay(self.outbox) is not None:
                pass
            self.outbox.process()
            with self.sessions() as s:
                open_requests = s.scalar(
                    select(func.count()).where(TransferRequest.status.in_(("pending", "queued")))
                )
            if not open_requests and not any(
                r.status in ("intent", "signed", "broadcast") for r in self.outbox.unfinished()
            ):
                return
            time.sleep(0.02)
        raise TimeoutError("transfers did not settle")


def build(
    w3: Web3,
    compilation: Compilation,
    db_url: str,
    *,
    customers: int,
    balance: int,
    batch_size: int = 100,
    confirmations: int = 1,
) -> tuple[Custody, dict[str, Any]]:
    """Deploys a bank and sets up custody; returns it and the config a child process needs to attach."""
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    keystore = Keystore(sessions, KEK)
    admin, manifest, bank = deploy_dev_bank(w3, compilation, bank_name="Custody Bank")
    relayer = keystore.get_or_create("role:relayer")
    fund_from_dev_account(w3, relayer.address, 10**21)
    addresses = [keystore.get_or_create(f"customer:{i}").address for i in range(customers)]
    token, registry = bank.tokens["USD"], bank.registry
    onboard(admin, bank, addresses, balance=balance)
    config = {
        "db_url": db_url,
        "rpc_url": getattr(w3.provider, "endpoint_uri", None),
        "token": token.address,
        "token_name": manifest.tokens["USD"].name,
        "customers": addresses,
        "batch_size": batch_size,
        "confirmations": confirmations,
        "abis": {n: c.abi for n, c in compilation.contracts.items()},
    }
    custody = attach(w3, config)
    custody.registry, custody.admin = registry, admin
    return custody, config


def attach(w3: Web3, config: dict[str, Any]) -> Custody:
    """Custody over an existing bank, database and keystore (what a restarted process does)."""
    sessions = session_factory(make_engine(config["db_url"]))
    keystore = Keystore(sessions, KEK)
    decoder = ErrorDecoder(config["abis"].values())
    token_abi = config["abis"]["DepositToken"]
    domain = TokenDomain(name=config["token_name"], chain_id=w3.eth.chain_id, address=config["token"])
    transfers = TransferService(
        sessions,
        w3,
        {config["token"]: TokenInfo(domain=domain, abi=token_abi)},
        keystore.signer_for_address,
        decoder=decoder,
        batch_size=config["batch_size"],
    )
    outbox = Outbox(
        sessions,
        w3,
        keystore.signer("role:relayer"),
        decoder=decoder,
        listener=transfers,
        config=OutboxConfig(confirmations=config["confirmations"], stuck_after=5.0),
    )
    token = w3.eth.contract(address=config["token"], abi=token_abi)
    return Custody(
        w3=w3,
        sessions=sessions,
        keystore=keystore,
        outbox=outbox,
        transfers=transfers,
        token=token,
        registry=None,
        admin=None,
        customers=config["customers"],
    )


def write_config(config: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(config))
