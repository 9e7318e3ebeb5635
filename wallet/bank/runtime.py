"""Composition of a running bank: builds every service from settings, runs the background workers
(relayer and outboxes, indexer, event pump, webhook delivery), and, for the development bank, deploys
the contracts to operational keys and seeds demo users with accounts and balances.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.bank.accounts import AccountService
from wallet.bank.core import SENDING_ROLES, Bank, BankConfig
from wallet.bank.events import EventFeed, EventPump
from wallet.bank.operations import OperationsService
from wallet.bank.payments import PaymentService
from wallet.bank.users import AuthConfig, Principal, UserService
from wallet.bank.webhooks import WebhookConfig, WebhookService
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, Manifest, bank_contracts, deploy_bank, onboard
from wallet.chain.transact import Transactor
from wallet.db.models import ChainTx, User
from wallet.errors import ConfigurationError, UnknownKeyError, WalletError
from wallet.keys.base import Signer
from wallet.keys.keystore import OPERATIONAL_ROLES, Keystore, operational_keys
from wallet.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Every service of one bank, as the API uses them."""

    bank: Bank
    keystore: Keystore
    users: UserService
    accounts: AccountService
    payments: PaymentService
    operations: OperationsService
    feed: EventFeed
    pump: EventPump
    webhooks: WebhookService

    def close(self) -> None:
        """Releases HTTP clients."""
        self.webhooks.close()


def operational_signers(settings: Settings, keystore: Keystore) -> dict[str, Signer]:
    """The bank's key per role: from the local keystore, or generated in and used from the PKCS#11
    token (`TDW_SIGNER=pkcs11`)."""
    if settings.signer == "keystore":
        return dict(operational_keys(keystore))
    from wallet.keys.pkcs11 import Pkcs11Token  # needs the PKCS#11 module only when configured

    if settings.pkcs11_pin is None:
        raise ConfigurationError("TDW_SIGNER=pkcs11 needs TDW_PKCS11_PIN")
    token = Pkcs11Token(settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin)
    signers: dict[str, Signer] = {}
    for role in OPERATIONAL_ROLES:
        try:
            signers[role] = token.signer(f"role:{role}")
        except UnknownKeyError:
            signers[role] = token.generate(f"role:{role}")
    return signers


def build_services(
    settings: Settings,
    w3: Web3,
    sessions: sessionmaker[Session],
    manifest: Manifest,
    abis: Mapping[str, list[dict[str, Any]]],
    *,
    role_signers: Mapping[str, Signer] | None = None,
    hasher: PasswordHasher | None = None,
    webhook_config: WebhookConfig | None = None,
    stuck_after: float = 30.0,
) -> Services:
    """Every service of the bank in `manifest`, configured from `settings`."""
    keystore = Keystore(sessions, settings.kek, cache_size=settings.signer_cache_size)
    signers = dict(role_signers or operational_signers(settings, keystore))
    bank = Bank(
        w3=w3,
        sessions=sessions,
        manifest=manifest,
        abis=abis,
        role_signers=signers,
        customer_signer=keystore.signer_for_address,
        config=BankConfig(
            confirmations=settings.confirmations,
            totp_transfer_threshold=settings.totp_transfer_threshold,
            kyc_jurisdiction=settings.kyc_jurisdiction,
            kyc_valid_seconds=settings.kyc_valid_days * 24 * 3600,
        ),
        stuck_after=stuck_after,
    )
    users = user_service(settings, sessions, hasher=hasher)
    accounts = AccountService(bank, keystore)
    payments = PaymentService(bank, accounts, users)
    return Services(
        bank=bank,
        keystore=keystore,
        users=users,
        accounts=accounts,
        payments=payments,
        operations=OperationsService(bank, accounts),
        feed=EventFeed(bank),
        pump=EventPump(bank, payments),
        webhooks=WebhookService(
            bank, settings.kek, webhook_config or WebhookConfig(max_attempts=settings.webhook_max_attempts)
        ),
    )


def user_service(
    settings: Settings, sessions: sessionmaker[Session], *, hasher: PasswordHasher | None = None
) -> UserService:
    """The users of the bank's database, with token lifetimes and lockout from `settings`."""
    return UserService(
        sessions,
        settings.kek,
        settings.token_secret,
        AuthConfig(
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
            max_failed_logins=settings.max_failed_logins,
            lockout=timedelta(minutes=settings.lockout_minutes),
        ),
        hasher=hasher,
    )


REDEMPTION_KYC = "kyc-redemption"


def register_redemption_address(bank: Bank) -> ChainTx | None:
    """Customers redeem by paying the burner's address, so the registry must allow it to hold tokens.
    When the registry has never seen that address (a fresh deployment) and no registration is on its
    way, the compliance key's outbox gets one; returns it. An address the registry knows is left as
    compliance set it: a revoked or blocked redemption address is a decision, not a gap."""
    burner = bank.role_address("burner")
    verified, blocked, expiry, jurisdiction = bank.registry.functions.statusOf(burner).call()
    if verified or blocked or expiry or jurisdiction:
        return None
    with bank.sessions.begin() as session:
        underway = session.scalar(
            select(ChainTx.id).where(ChainTx.kind == REDEMPTION_KYC, ChainTx.status != "failed").limit(1)
        )
        if underway is not None:
            return None
        return bank.enqueue_kyc(session, burner, kind=REDEMPTION_KYC)


# ------------------------------------------------------------------------------------ workers ---


def relay_forever(bank: Bank, stop: threading.Event, idle: float = 0.05) -> None:
    """The relayer: packs pending transfers into batches and moves every outbox forward, until `stop`."""
    failures = 0
    while not stop.is_set():
        try:
            busy = 0
            while bank.transfers.relay(bank.outboxes["relayer"]) is not None:
                busy += 1
            for outbox in bank.outboxes.values():
                busy += outbox.process()
            failures = 0
        except Exception:
            failures += 1
            log.exception("relayer pass failed; retrying")
            stop.wait(min(5.0, 0.1 * 2**failures))
            continue
        if not busy:
            stop.wait(idle)


def index_forever(bank: Bank, stop: threading.Event, interval: float = 0.2) -> None:
    """The indexer, following the chain until `stop`; errors (a node restart) are logged and retried."""
    while not stop.is_set():
        try:
            bank.indexer.follow(stop, interval)
        except Exception:
            log.exception("indexer failed; retrying")
            stop.wait(1.0)


class Workers:
    """The background threads of one API process."""

    def __init__(self, services: Services) -> None:
        self.stop_event = threading.Event()
        bank = services.bank
        targets: dict[str, Callable[[], None]] = {
            "relayer": lambda: relay_forever(bank, self.stop_event),
            "indexer": lambda: index_forever(bank, self.stop_event),
            "events": lambda: services.pump.run(self.stop_event),
            "webhooks": lambda: services.webhooks.run(self.stop_event),
        }
        self.threads = [threading.Thread(target=t, name=f"tdw-{n}", daemon=True) for n, t in targets.items()]

    def start(self) -> Workers:
        """Starts every worker."""
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Asks every worker to stop and waits for them."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


# ------------------------------------------------------------------------------ development ---


def deploy_dev(
    w3: Web3, compilation: Compilation, deployer: Signer, signers: Mapping[str, Signer], *, bank_name: str,
    currencies: list[str], minter_allowance: int,
) -> Manifest:  # fmt: skip
    """Deploys a development bank whose roles are the operational keys, funds every key with gas from
    the node's first account, and registers the redemption (burner) address with the registry."""
    from wallet.chain.node import fund_from_dev_account  # development chains only

    for signer in [deployer, *signers.values()]:
        if w3.eth.get_balance(signer.address) < 10**20:
            fund_from_dev_account(w3, signer.address, 10**21)
    abis = [c.abi for c in compilation.contracts.values()]
    roles = BankRoles(
        admin=signers["admin"].address, minter=signers["minter"].address, burner=signers["burner"].address,
        pauser=signers["pauser"].address, compliance=signers["compliance"].address,
    )  # fmt: skip
    manifest = deploy_bank(
        w3, Transactor(w3, deployer, abis), compilation, bank_name=bank_name, currencies=currencies,
        roles=roles, minter_allowance=minter_allowance,
    )  # fmt: skip
    onboard(
        Transactor(w3, signers["compliance"], abis), bank_contracts(w3, compilation, manifest), [roles.burner]
    )
    return manifest


def manifest_fits(manifest: Manifest, signers: Mapping[str, Signer]) -> bool:
    """Whether a manifest's roles are held by these operational keys."""
    roles = manifest.roles.model_dump()
    return all(to_checksum_address(roles[r]) == signers[r].address for r in roles)


DEMO_USERS = (
    ("admin", "admin"),
    ("operator", "operator"),
    ("compliance", "compliance"),
    ("alice", "customer"),
    ("bob", "customer"),
)
DEMO_BALANCES = {"USD": "1000.00", "EUR": "500.00"}


def seed_demo(services: Services, logins_path: Path, *, timeout: float = 120.0) -> list[dict[str, str]]:
    """Creates the demo users, opens the customers' accounts and mints them a balance; safe to run
    again after an interruption (each step checks what exists; mints are idempotent). The background
    workers must be running. Returns the logins, kept in `logins_path` (development only: demo
    credentials)."""
    if logins_path.exists():
        logins: list[dict[str, str]] = json.loads(logins_path.read_text())
    else:
        with services.bank.readers() as session:
            if session.scalar(select(func.count()).select_from(User)):
                raise WalletError(
                    f"the database has users but {logins_path} is missing; use a new data folder"
                )
        logins = []
        for username, role in DEMO_USERS:
            password = f"{username}-demo-password"
            enrolment = services.users.create(username, password, role)  # type: ignore[arg-type]
            logins.append(
                {"username": username, "password": password, "role": role,
                 "totp_secret": enrolment.totp_secret, "totp_uri": enrolment.totp_uri}
            )  # fmt: skip
        logins_path.parent.mkdir(parents=True, exist_ok=True)
        logins_path.write_text(json.dumps(logins, indent=2) + "\n")
    principals = {}
    for login in logins:
        user = services.users.by_username(login["username"])
        if user is None:
            raise WalletError(f"{logins_path} names {login['username']!r}, who is not in the database")
        principals[login["username"]] = Principal(user.id, user.username, user.role)  # type: ignore[arg-type]
    accounts = []
    for name in ("alice", "bob"):
        have = {a.currency: a for a in services.accounts.accounts_of(principals[name])}
        for code in services.bank.tokens:
            accounts.append(have[code] if code in have else services.accounts.open(principals[name], code))
    deadline = time.monotonic() + timeout
    for account in accounts:
        while services.accounts.get(principals["admin"], account.id).status != "active":
            if time.monotonic() > deadline:
                raise WalletError("the demo accounts' KYC registration did not reach the chain")
            time.sleep(0.1)
    for account in accounts:
        services.operations.mint(
            principals["operator"], idempotency_key=f"demo-seed-{account.id}", currency=account.currency,
            amount=DEMO_BALANCES.get(account.currency, "100"), to_account=account.id,
        )  # fmt: skip
    return logins


__all__ = ["SENDING_ROLES", "Services", "Workers", "build_services", "deploy_dev", "seed_demo"]
