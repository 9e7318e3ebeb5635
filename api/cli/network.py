"""The development network `tdw dev` runs beside the demo bank: a central bank that issues the wholesale
settlement tokens (its key and manifest in the data folder), and a partner bank, Harbour Bank (HKD and
USD), with its own database file, keystore, operational keys, manifest and API port, running the same
software in the same process. Each bank registers the other as its partner. Development only."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from eth_utils.crypto import keccak
from web3 import Web3

from api.cli.app import open_database
from api.cli.demo import _submit_identity, demo_users, deploy_dev
from wallet.bank.accounts import AccountView
from wallet.bank.onboarding import OPEN
from wallet.bank.runtime import Services, build_services
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import (
    DeployedContract,
    Manifest,
    bank_contracts,
    load_contract,
    manifest_fits,
    onboard,
    verify_manifest,
)
from wallet.chain.network import admit_bank, deploy_central_bank
from wallet.chain.node import fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.db import session_factory
from wallet.errors import ManifestError, WalletError
from wallet.keys import PrivateKeySigner, Signer, operational_signers
from wallet.keys.keystore import Keystore
from wallet.partners.htlc import Chain, HtlcCoordinator
from wallet.settings import Settings
from wallet.vocabulary import AccountStatus, Role

PARTNER_ID, DEMO_ID = "harbour", "demo"
SECOND_CHAIN_ID = 31338
PARTNER_SETTINGS = {
    "bank_name": "Harbour Bank",
    "currencies": ["HKD", "USD"],
    "bank_bic": "HARBHKHH",
    "kyc_jurisdiction": 344,
}
RESERVES = {"USD": 1_000_000_00, "EUR": 1_000_000_00, "HKD": 8_000_000_00}  # minor units, per bank
FX_BOOK = "100000.00"  # each bank's treasury, per currency
LIMITS = {
    "max_payment": {"USD": 5_000_000, "HKD": 40_000_000},
    "max_open": {"USD": 20_000_000, "HKD": 150_000_000},
}
PARTNER_USERS = (
    ("carol", Role.CUSTOMER, "Carol Chan"),
    ("harbour-ops", Role.OPERATOR, "Hana Harbour Operations"),
    ("harbour-compliance", Role.COMPLIANCE, "Hugo Harbour Compliance"),
)


def central_bank(
    running: contextlib.ExitStack, w3: Web3, compilation: Compilation, folder: Path, settings: Settings
) -> tuple[Manifest, Signer]:
    """The central bank of the development chain: deployed once, then found in the data folder."""
    engine = running.enter_context(open_database(f"sqlite:///{folder / 'central-bank.db'}"))
    signer = Keystore(session_factory(engine), settings.kek).get_or_create("central-bank:operator")
    if w3.eth.get_balance(signer.address) < 10**20:
        fund_from_dev_account(w3, signer.address, 10**21)
    path = folder / "central-bank.json"
    manifest = existing_manifest(w3, path, compilation)
    if manifest is None or manifest.roles.admin != signer.address:
        manifest = deploy_central_bank(w3, compilation, signer)
        manifest.write(path)
    return manifest, signer


def admitted(
    w3: Web3,
    compilation: Compilation,
    central: tuple[Manifest, Signer],
    manifest: Manifest,
    treasury: str,
    path: Path,
) -> Manifest:
    """`manifest` once the central bank has admitted the bank (done once; written to `path`)."""
    if manifest.wholesale:
        return manifest
    manifest = admit_bank(w3, compilation, central[0], central[1], manifest, treasury, reserves=RESERVES)
    manifest.write(path)
    return manifest


def partner_bank(
    running: contextlib.ExitStack,
    settings: Settings,
    folder: Path,
    w3: Web3,
    compilation: Compilation,
    central: tuple[Manifest, Signer],
    settlement: dict[str, DeployedContract],
    *,
    durable_block: Callable[[int], int] | None,
    minter_allowance: int,
) -> Services:
    """Harbour Bank's services: its own SQLite file and keys in `folder`/partner."""
    home = folder / "partner"
    home.mkdir(parents=True, exist_ok=True)
    own = settings.model_copy(update={**PARTNER_SETTINGS, "database_url": None})
    engine = running.enter_context(open_database(f"sqlite:///{home / 'tdw.db'}"))
    sessions = session_factory(engine)
    signers = operational_signers(own, Keystore(sessions, own.kek))
    path = home / "deployment.json"
    manifest = existing_manifest(w3, path, compilation)
    if manifest is None or not manifest_fits(manifest, signers):
        manifest = deploy_dev(
            w3,
            compilation,
            PrivateKeySigner(settings.deployer_key),
            signers,
            bank_name=own.bank_name,
            currencies=own.currencies,
            minter_allowance=minter_allowance,
            settlement=settlement,
        )
        manifest.write(path)
    manifest = admitted(w3, compilation, central, manifest, signers["treasury"].address, path)
    abis = {name: c.abi for name, c in compilation.contracts.items()}
    services = build_services(
        own,
        w3,
        sessions,
        manifest,
        abis,
        role_signers=signers,
        durable_block=durable_block,
        automatic_recovery=True,
    )
    running.callback(services.close)
    return services


def link(demo: Services, partner: Services, demo_url: str, partner_url: str) -> None:
    """Registers each bank as the other's partner (their keys, treasuries, API addresses, limits)."""
    for ours, theirs, their_id, url in (
        (demo, partner, PARTNER_ID, partner_url),
        (partner, demo, DEMO_ID, demo_url),
    ):
        identity = theirs.crossborder.identity()
        ours.partners.ensure(
            id=their_id,
            name=identity["name"],
            bic=identity["bic"],
            key_id=identity["key_id"],
            public_key=identity["public_key"],
            base_url=url,
            treasury=identity["treasury"],
            **LIMITS,
        )


def fund_fx_book(services: Services, operator: Principal) -> None:
    """Mints the bank's FX book (its treasury) in each of its currencies, once."""
    treasury = services.bank.role_address("treasury")
    for code in services.bank.tokens:
        services.operations.mint(
            operator, idempotency_key=f"fx-book-{code}", currency=code, amount=FX_BOOK, to_address=treasury
        )


def seed_partner(services: Services, logins_path: Path, *, timeout: float = 120.0) -> list[dict[str, str]]:
    """Harbour Bank's demo users: Carol (verified, with HKD and USD accounts and 10,000.00 HKD), an
    operator and a compliance officer; its FX book funded. Safe to run again."""
    logins, principals = demo_users(services, PARTNER_USERS, logins_path)
    carol = principals["carol"]
    _submit_identity(services, carol)
    if services.users.get(carol.user_id).kyc_status in OPEN:
        services.onboarding.decide(principals["harbour-compliance"], carol.user_id, verified=True)
    have = {a.currency: a for a in services.accounts.accounts_of(carol)}
    accounts = [have.get(code) or services.accounts.open(carol, code) for code in services.bank.tokens]
    deadline = time.monotonic() + timeout
    for account in accounts:
        while services.accounts.get(principals["harbour-ops"], account.id).status != AccountStatus.ACTIVE:
            if time.monotonic() > deadline:
                raise WalletError("Harbour Bank's demo accounts did not register on chain")
            time.sleep(0.1)
    hkd = next(a for a in accounts if a.currency == "HKD")
    services.operations.mint(
        principals["harbour-ops"],
        idempotency_key="demo-carol-hkd",
        currency="HKD",
        amount="10000.00",
        to_account=hkd.id,
    )
    fund_fx_book(services, principals["harbour-ops"])
    return logins


def seed_cross_border(demo: Services, partner: Services, *, timeout: float = 120.0) -> None:
    """The demo's conversions and payments between the banks (once both APIs listen): Alice converts
    USD to EUR, pays Carol 100.00 USD in HKD, and Carol pays Alice 500.00 HKD in USD."""
    alice = _principal(demo, "alice")
    carol = _principal(partner, "carol")
    deadline = time.monotonic() + timeout
    _wait_for_book(demo, deadline)
    _wait_for_book(partner, deadline)
    carol_hkd = next(a for a in partner.accounts.accounts_of(carol) if a.currency == "HKD")
    alice_usd = next(a for a in demo.accounts.accounts_of(alice) if a.currency == "USD")
    while partner.accounts.balance(carol, carol_hkd.id).balance == 0:
        if time.monotonic() > deadline:
            raise WalletError("Carol's demo balance did not reach the ledger mirror")
        time.sleep(0.2)
    # Each step once, however often a start was cut short between them.
    if not demo.conversions.history(alice):
        quote = demo.quotes.quote(alice, sell="USD", buy="EUR", sell_amount="50.00")
        demo.conversions.convert(alice, idempotency_key="demo-conversion", quote_id=quote["id"])
    if not any(p["direction"] == "outgoing" for p in demo.crossborder.history(alice)):
        quote = demo.crossborder.quote(alice, partner=PARTNER_ID, sell="USD", buy="HKD", sell_amount="100.00")
        demo.crossborder.pay(
            alice,
            idempotency_key="demo-to-carol",
            quote_id=quote["id"],
            creditor_address=carol_hkd.address,
            creditor_name="Carol Chan",
            reference="Tea set",
        )
    if not any(p["direction"] == "outgoing" for p in partner.crossborder.history(carol)):
        quote = partner.crossborder.quote(carol, partner=DEMO_ID, sell="HKD", buy="USD", sell_amount="500.00")
        partner.crossborder.pay(
            carol,
            idempotency_key="demo-to-alice",
            quote_id=quote["id"],
            creditor_address=alice_usd.address,
            creditor_name="Alice Example",
            reference="Concert tickets",
        )


def second_chain(
    w3: Web3,
    compilation: Compilation,
    settings: Settings,
    folder: Path,
    demo: Services,
    partner: Services,
    *,
    minter_allowance: int,
) -> HtlcCoordinator:
    """Harbour Bank's HKD on a second chain `w3` (deployed once, its manifest in `folder`/partner): its
    registry verifies Carol's HKD address and its treasury holds reserves there. Returns the coordinator
    of payments across the two chains, kept in the demo bank's database, with its own gas key on both.
    In dev the coordinator signs both banks' locks (one process hosts both banks); in production each
    bank signs its own."""
    signers = partner.bank.role_signers
    abis = [c.abi for c in compilation.contracts.values()]
    path = folder / "partner" / "second-chain.json"
    manifest = existing_manifest(w3, path, compilation)
    if manifest is None or not manifest_fits(manifest, signers):
        manifest = deploy_dev(
            w3,
            compilation,
            PrivateKeySigner(settings.deployer_key),
            signers,
            bank_name=str(PARTNER_SETTINGS["bank_name"]),
            currencies=["HKD"],
            minter_allowance=minter_allowance,
        )
        contracts = bank_contracts(w3, compilation, manifest)
        onboard(Transactor(w3, signers["compliance"], abis), contracts, [_carol_hkd(partner).address])
        token = contracts.tokens["HKD"]
        Transactor(w3, signers["minter"], abis).send(
            token.functions.mint(signers["treasury"].address, RESERVES["HKD"])
        )
        manifest.write(path)
    gas = demo.keystore.get_or_create("htlc:gas")
    for chain in (demo.bank.w3, w3):
        if chain.eth.get_balance(gas.address) < 10**20:
            fund_from_dev_account(chain, gas.address, 10**21)
    wholesale = demo.bank.manifest.wholesale["USD"]
    hkd = manifest.tokens["HKD"]
    first_timelock = demo.bank.manifest.timelock
    if first_timelock is None or manifest.timelock is None:
        raise ManifestError("a payment across chains needs the time-lock contract on both chains")
    treasury, their_treasury = demo.bank.role_signers["treasury"], signers["treasury"]
    chains = {
        demo.bank.manifest.chain_id: Chain(
            w3=demo.bank.w3,
            timelock=load_contract(demo.bank.w3, compilation, "HashedTimelock", first_timelock.address),
            token_names={wholesale.address: wholesale.name},
            gas=gas,
            senders={treasury.address: treasury},
            currencies={wholesale.address: "USD"},
        ),
        manifest.chain_id: Chain(
            w3=w3,
            timelock=load_contract(w3, compilation, "HashedTimelock", manifest.timelock.address),
            token_names={hkd.address: hkd.name},
            gas=gas,
            senders={their_treasury.address: their_treasury},
            currencies={hkd.address: "HKD"},
        ),
    }
    return HtlcCoordinator(demo.bank.sessions, settings.kek, chains)


def seed_swap(demo: Services, partner: Services, coordinator: HtlcCoordinator, second_chain_id: int) -> None:
    """The demo's payment across the chains, once: the demo bank pays Harbour Bank 100.00 USD in
    settlement tokens on the first chain, Harbour Bank pays Carol 778.10 HKD on the second."""
    operator = _principal(demo, "operator")
    if coordinator.list(operator):
        return
    first_chain = demo.bank.manifest.chain_id
    coordinator.create(
        first=(
            first_chain,
            demo.bank.manifest.wholesale["USD"].address,
            demo.bank.role_address("treasury"),
            partner.bank.role_address("treasury"),
            100_00,
        ),
        second=(
            second_chain_id,
            next(a for a, code in coordinator.chains[second_chain_id].currencies.items() if code == "HKD"),
            partner.bank.role_address("treasury"),
            _carol_hkd(partner).address,
            778_10,
        ),
        ref=keccak(text="tdw:demo-swap"),
    )


def _carol_hkd(partner: Services) -> AccountView:
    carol = _principal(partner, "carol")
    return next(a for a in partner.accounts.accounts_of(carol) if a.currency == "HKD")


def _principal(services: Services, username: str) -> Principal:
    user = services.users.by_username(username)
    if user is None:
        raise WalletError(f"no demo user {username!r}")
    return Principal(user.id, user.username, user.role)


def _wait_for_book(services: Services, deadline: float) -> None:
    treasury = services.bank.role_address("treasury")
    for token in services.bank.tokens.values():
        while services.bank.mirrored_balance(token.address, treasury)[0] == 0:
            if time.monotonic() > deadline:
                raise WalletError(f"{services.bank.manifest.bank_name}'s FX book did not reach the mirror")
            time.sleep(0.2)


def existing_manifest(w3: Web3, path: Path, compilation: Compilation) -> Manifest | None:
    """The manifest at `path` when its contracts are still on this chain and match the sources."""
    if not path.exists():
        return None
    try:
        manifest = Manifest.read(path)
        if not verify_manifest(w3, manifest, compilation):
            return manifest
    except ManifestError:
        pass
    typer.echo(f"{path} does not match the chain or the sources; deploying anew", err=True)
    return None


def summary(services: Services, port: int, logins: list[dict[str, str]]) -> list[str]:
    """The partner bank's lines in `tdw dev`'s summary."""
    manifest = services.bank.manifest
    return [
        f"partner bank: {manifest.bank_name} (BIC {PARTNER_SETTINGS['bank_bic']})",
        *(f"  token     {code} {t.address}" for code, t in manifest.tokens.items()),
        f"  wallet    http://127.0.0.1:{port}/app   (open it in a browser)",
        f"  API       http://127.0.0.1:{port}/v1   docs http://127.0.0.1:{port}/docs",
        *(
            f"  {x['username']:<18} {x['role']:<10} {x['password']:<33} TOTP {x['totp_secret']}"
            for x in logins
        ),
        "settlement network: central bank wholesale tokens "
        + ", ".join(f"{code} {t.address}" for code, t in manifest.wholesale.items()),
    ]


__all__: list[Any] = []
