"""A real bank behind the API for in-process tests: contracts on the session's anvil, a SQLite or a
PostgreSQL database, the background workers running, and an httpx-based `TestClient` on the app.
The fixtures that build it are in this folder's conftest.py; tests import the types from here (a
module named `conftest` is ambiguous: every test folder may have one).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.cli.demo import deploy_dev
from tests.support.kyc import verify
from tests.support.waiting import wait_for
from wallet.bank.runtime import Services, Workers, build_services
from wallet.bank.users import Principal
from wallet.bank.webhooks import WebhookConfig
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import DeployedContract, Manifest
from wallet.chain.network import admit_bank
from wallet.chain.node import AnvilNode, BlockTicker, connect, fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import Partner
from wallet.keys import PrivateKeySigner
from wallet.keys.base import Signer
from wallet.keys.keystore import Keystore, operational_keys
from wallet.settings import Settings
from wallet.vocabulary import Role

PASSWORD = "correct horse battery"


@dataclass
class User:
    """A logged-in test user."""

    user_id: str
    username: str
    password: str
    secret: str
    headers: dict[str, str]
    refresh_token: str

    def code(self, steps_ahead: int = 1) -> str:
        """A TOTP code not used yet: the login used the current step, so this is a later one."""
        return pyotp.TOTP(self.secret).at(time.time() + 30 * steps_ahead)


@dataclass
class ApiBank:
    """The bank, its services and a client on its API."""

    client: TestClient
    services: Services
    db: str
    officer: Principal | None = None

    def signup(
        self,
        role: str = "customer",
        *,
        verified: bool = True,
        full_name: str | None = None,
        tier: str | None = None,
    ) -> User:
        """A new logged-in user; a customer signs up through the API and, unless `verified` is False,
        is verified by compliance (so their accounts register on chain)."""
        username = f"{role}-{uuid.uuid4().hex[:10]}"
        if role == "customer":
            form = {"username": username, "password": PASSWORD}
            if full_name is not None:
                form["full_name"] = full_name
            r = self.client.post("/v1/auth/signup", json=form)
            assert r.status_code == 201, r.text
            body = r.json()
            if verified:
                verify(self.services, self._officer(), body["user_id"], tier=tier)
        else:
            enrolment = self.services.users.create(username, PASSWORD, Role(role))
            body = {"user_id": enrolment.user_id, "totp_secret": enrolment.totp_secret}
        tokens = self.login(username, PASSWORD, pyotp.TOTP(body["totp_secret"]).now())
        assert tokens.status_code == 200, tokens.text
        return User(
            user_id=body["user_id"],
            username=username,
            password=PASSWORD,
            secret=body["totp_secret"],
            headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
            refresh_token=tokens.json()["refresh_token"],
        )

    def _officer(self) -> Principal:
        if self.officer is None:
            enrolment = self.services.users.create(f"kyc-{uuid.uuid4().hex[:10]}", PASSWORD, Role.COMPLIANCE)
            self.officer = Principal(enrolment.user_id, enrolment.username, Role.COMPLIANCE)
        return self.officer

    def login(self, username: str, password: str, code: str) -> Any:
        return self.client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": password, "totp": code},
        )

    def open_account(self, user: User, currency: str = "USD") -> dict[str, Any]:
        r = self.client.post("/v1/accounts", json={"currency": currency}, headers=user.headers)
        assert r.status_code == 201, r.text
        account: dict[str, Any] = r.json()
        self.wait_for_status(user, account, "active")
        return account

    def wait_for_status(self, user: User, account: dict[str, Any], status: str) -> None:
        path = f"/v1/accounts/{account['id']}"
        wait_for(lambda: self.client.get(path, headers=user.headers).json()["status"] == status)

    def mint(self, operator: User, account: dict[str, Any], amount: str) -> dict[str, Any]:
        r = self.client.post(
            "/v1/bank/mint",
            json={"currency": account["currency"], "amount": amount, "to_account": account["id"]},
            headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 202, r.text
        return self.settle_operation(operator, r.json()["id"])

    def settle_operation(self, staff: User, operation_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            op = self.client.get(f"/v1/bank/operations/{operation_id}", headers=staff.headers).json()
            return op if op["state"] in ("final", "failed") else None

        return wait_for(done)

    def balance(self, user: User, account: dict[str, Any]) -> str:
        r = self.client.get(f"/v1/accounts/{account['id']}/balance", headers=user.headers)
        assert r.status_code == 200, r.text
        return str(r.json()["balance"])

    def wait_balance(self, user: User, account: dict[str, Any], expected: str) -> None:
        wait_for(lambda: self.balance(user, account) == expected)

    def chain_act(self, role: str, call: Any) -> None:
        """Sends `call` from the bank's `role` key through its outbox (as the bank's own services do) and
        waits until it is mined: a compliance act the API has no route for yet (freeze, block, pause)."""
        bank = self.services.bank
        if role not in bank.outboxes:  # a key the bank never sends with (the pauser): sent directly
            Transactor(bank.w3, bank.role_signers[role]).send(call)
            return
        with bank.sessions.begin() as session:
            tx_id = bank.enqueue(session, role, call, kind="test").id

        def mined() -> bool:
            tx = bank.chain_tx(tx_id)
            assert tx is not None
            assert tx.status != "failed", tx.error_name
            return tx.status in ("included", "confirmed", "final")

        wait_for(mined)

    def pay(
        self,
        payer: User,
        source: dict[str, Any],
        target: dict[str, Any],
        amount: str,
        *,
        reference: str | None = None,
    ) -> str:
        """Sends `amount` from `source` to the account `target` (accepted: 201); returns the transfer's id."""
        body = {
            "from_account": source["id"],
            "to_account": target["id"],
            "amount": amount,
            "currency": source["currency"],
        }
        if reference is not None:
            body["reference"] = reference
        r = self.client.post(
            "/v1/transfers", json=body, headers={**payer.headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def follow(self, user: User, transfer_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            t = self.client.get(f"/v1/transfers/{transfer_id}", headers=user.headers).json()
            return t if t["state"] in ("final", "failed") else None

        return wait_for(done)


def build_api_bank(
    db_url: str,
    anvil: AnvilNode,
    compilation: Compilation,
    folder: Path,
    *,
    automatic_recovery: bool = False,
    bank_name: str | None = None,
    currencies: tuple[str, ...] = ("USD", "EUR"),
    bic: str | None = None,
    settlement: Mapping[str, DeployedContract] | None = None,
    central: tuple[Manifest, Signer] | None = None,
    reserves: Mapping[str, int] | None = None,
    partner_transport: Callable[[Partner], httpx.Client] | None = None,
) -> Iterator[ApiBank]:
    """A bank behind its API. With `central` (the central bank's manifest and key), the bank is
    admitted to the settlement network with `reserves` of wholesale tokens; `settlement` names the
    chain's settlement contracts when another bank deployed them."""
    settings = Settings(
        data_dir=folder,
        database_url=db_url,
        kek=SecretStr("ab" * 32),
        confirmations=2,
        totp_transfer_threshold=1000,
        # The tests poll: the limits here are far away; tests of the limits set their own.
        rate_limit_client="100000/minute",
        rate_limit_user="100000/minute",
        rate_limit_signup="100000/minute",
        bank_bic=bic,
    )
    w3 = connect(anvil.url)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    signers = dict(operational_keys(Keystore(sessions, settings.kek)))
    manifest = deploy_dev(
        w3,
        compilation,
        _funded(w3),
        signers,
        bank_name=bank_name or f"API Bank {uuid.uuid4().hex[:6]}",
        currencies=list(currencies),
        minter_allowance=10**12,
        settlement=settlement,
    )
    if central is not None:
        manifest = admit_bank(
            w3, compilation, central[0], central[1], manifest, signers["treasury"].address, reserves=reserves
        )
    services = build_services(
        settings,
        w3,
        sessions,
        manifest,
        {n: c.abi for n, c in compilation.contracts.items()},
        role_signers=signers,
        hasher=PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),
        webhook_config=WebhookConfig(max_attempts=4, backoff_base=0.2),
        automatic_recovery=automatic_recovery,
        partner_transport=partner_transport,
    )
    workers = Workers(services).start()
    # The session's anvil mines only on transactions; a real chain keeps producing blocks, which is
    # what makes transactions final. Mine one every 0.3 s while this bank runs.
    ticker = BlockTicker(w3, interval=0.3).start()
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield ApiBank(client=client, services=services, db=db_url.split(":")[0])
    finally:
        ticker.stop()
        workers.stop()
        services.close()
        engine.dispose()


def _funded(w3: Any) -> PrivateKeySigner:
    signer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, signer.address, 10**21)
    return signer
