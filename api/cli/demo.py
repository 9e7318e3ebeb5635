"""The development bank that `tdw dev` runs: deployed to the operational keys on a development chain,
and seeded with demo users, accounts and balances. Development only: nothing here runs in `tdw serve`."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from web3 import Web3

from wallet.bank.accounts import AccountView
from wallet.bank.onboarding import OPEN
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, DeployedContract, Manifest, bank_contracts, deploy_bank, onboard
from wallet.chain.node import fund_from_dev_account
from wallet.chain.settlement import deploy_settlement
from wallet.chain.transact import Transactor
from wallet.db.models import User, WalletAccount
from wallet.errors import ConflictError, WalletError
from wallet.keys import PrivateKeySigner, Signer
from wallet.retail.batches import example_pain001
from wallet.settings import get_settings
from wallet.vocabulary import AccountStatus, KycStatus, Role, TransferState

DEMO_USERS = (
    ("admin", Role.ADMIN, "Ada Admin"),
    ("operator", Role.OPERATOR, "Otto Operator"),
    ("compliance", Role.COMPLIANCE, "Chloé Compliance"),
    ("checker", Role.COMPLIANCE, "Carl Checker"),  # the second officer maker-checker needs
    ("alice", Role.CUSTOMER, "Alice Example"),
    ("bob", Role.CUSTOMER, "Bob Müller"),
    ("dave", Role.CUSTOMER, "Dave Pending"),  # submitted, not verified: the KYC queue is not empty
    ("mira", Role.CUSTOMER, "Mira's Café"),  # a merchant: payment requests, paid and open
    ("power", Role.CUSTOMER, "Helvetia Power AG"),  # a biller: alice and bob pay its bills
)
# What the demo customers submit for their verification (fictional people, real country codes).
DEMO_IDENTITIES = {
    "alice": {
        "birth_date": "1988-04-12",
        "nationality": "CH",
        "residence_country": "CH",
        "address": "Bahnhofstrasse 10, 8001 Zürich",
        "id_number": "X0042117",
    },
    "bob": {
        "birth_date": "1979-11-02",
        "nationality": "DE",
        "residence_country": "DE",
        "address": "Torstraße 5, 10119 Berlin",
        "id_number": "C01X00T47",
        "expected_activity": "medium",
    },
    "carol": {  # a customer of the partner bank
        "birth_date": "1990-02-14",
        "nationality": "HK",
        "residence_country": "HK",
        "address": "18 Harbour Road, Wan Chai, Hong Kong",
        "id_number": "K1234567",
    },
    "mira": {
        "birth_date": "1985-09-21",
        "nationality": "AT",
        "residence_country": "AT",
        "address": "Kärntner Straße 21, 1010 Wien",
        "id_number": "P7781204",
    },
    "power": {
        "birth_date": "1961-01-01",
        "nationality": "CH",
        "residence_country": "CH",
        "address": "Werkstrasse 1, 3000 Bern",
        "id_number": "CHE100200300",
    },
    "dave": {
        "birth_date": "1992-07-30",
        "nationality": "GB",
        "residence_country": "NG",
        "address": "12 Awolowo Road, Ikoyi, Lagos",
        "id_number": "533380006",
    },
}
# A one-page PDF standing in for a passport scan.
DEMO_PASSPORT = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n"
    b"3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 420 297]>> endobj\n"
    b"trailer <</Root 1 0 R>>\n%%EOF\n"
)
DEMO_BALANCES = {"USD": "1000.00", "EUR": "500.00"}


def deploy_dev(
    w3: Web3,
    compilation: Compilation,
    deployer: Signer,
    signers: Mapping[str, Signer],
    *,
    bank_name: str,
    currencies: list[str],
    minter_allowance: int,
    settlement: Mapping[str, DeployedContract] | None = None,
) -> Manifest:
    """Deploys a development bank whose roles are the operational keys, funds every key with gas from
    the node's first account, and registers the redemption (burner) address, the treasury and the
    chain's settlement contracts with the registry. The settlement contracts are deployed unless
    `settlement` names those of the chain already (a second bank on the same chain)."""
    for signer in [deployer, *signers.values()]:
        if w3.eth.get_balance(signer.address) < 10**20:
            fund_from_dev_account(w3, signer.address, 10**21)
    abis = [c.abi for c in compilation.contracts.values()]
    roles = BankRoles(
        admin=signers["admin"].address,
        minter=signers["minter"].address,
        burner=signers["burner"].address,
        pauser=signers["pauser"].address,
        compliance=signers["compliance"].address,
    )
    manifest = deploy_bank(
        w3,
        Transactor(w3, deployer, abis),
        compilation,
        bank_name=bank_name,
        currencies=currencies,
        roles=roles,
        minter_allowance=minter_allowance,
    )
    if settlement is None:
        settlement = deploy_settlement(w3, Transactor(w3, deployer, abis), compilation)
    manifest = manifest.model_copy(
        update={"settlement": settlement["AtomicSettlement"], "timelock": settlement["HashedTimelock"]}
    )
    onboard(
        Transactor(w3, signers["compliance"], abis),
        bank_contracts(w3, compilation, manifest),
        [roles.burner, signers["treasury"].address, *(c.address for c in settlement.values())],
    )
    return manifest


def _write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` readable by its owner alone (0600), from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as file:
        file.write(text)


def demo_users(
    services: Services, users: Sequence[tuple[str, Role, str]], logins_path: Path
) -> tuple[list[dict[str, str]], dict[str, Principal]]:
    """The demo users (username, role, full name), created on a fresh database with their logins kept
    in `logins_path` (readable by its owner alone), or read back from there; and each as a principal."""
    if logins_path.exists():
        logins: list[dict[str, str]] = json.loads(logins_path.read_text())
    else:
        with services.bank.readers() as session:
            if session.scalar(select(func.count()).select_from(User)):
                raise WalletError(
                    f"the database has users but {logins_path} is missing; use a new data folder"
                )
        logins = []
        for username, role, full_name in users:
            password = f"{username}-demo-password"
            enrolment = services.users.create(username, password, role, full_name=full_name)
            logins.append(
                {
                    "username": username,
                    "password": password,
                    "role": role.value,
                    "totp_secret": enrolment.totp_secret,
                    "totp_uri": enrolment.totp_uri,
                }
            )
        logins_path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(logins_path, json.dumps(logins, indent=2) + "\n")
    principals = {}
    for login in logins:
        user = services.users.by_username(login["username"])
        if user is None:
            raise WalletError(f"{logins_path} names {login['username']!r}, who is not in the database")
        principals[login["username"]] = Principal(user.id, user.username, user.role)
    return logins, principals


def seed_demo(
    services: Services,
    logins_path: Path,
    *,
    timeout: float = 120.0,
    chain_clock: Callable[[int], object] | None = None,
) -> list[dict[str, str]]:
    """Creates the demo users, opens the customers' accounts and mints them a balance; safe to run
    again after an interruption (each step checks what exists; mints are idempotent). The background
    workers must be running. Returns the logins, kept in `logins_path` (development only: demo
    credentials).

    `chain_clock` sets a new development chain's clock (see `history_start`): the customers' payments
    of the months before this one then carry those months' block times, and the clock comes back to
    now before the rest is seeded. Without it that history lands today."""
    logins, principals = demo_users(services, DEMO_USERS, logins_path)
    _load_sample_lists(services)
    # The demo customers submit their identity and a passport, and the demo compliance officer
    # verifies Alice and Bob; Dave waits in the KYC queue with a USD account that registers nothing
    # on chain until he is verified.
    for name in ("alice", "bob", "mira", "power", "dave"):
        _submit_identity(services, principals[name])
    for name in ("alice", "bob", "mira", "power"):
        user = services.users.get(principals[name].user_id)
        if user.kyc_status in OPEN:
            services.onboarding.decide(principals["compliance"], user.id, verified=True)
    if "dave" in principals and not services.accounts.accounts_of(principals["dave"]):
        services.accounts.open(principals["dave"], "USD")
    accounts = []
    for name in ("alice", "bob", "mira", "power"):
        have = {a.currency: a for a in services.accounts.accounts_of(principals[name])}
        for code in services.bank.tokens:
            accounts.append(have[code] if code in have else services.accounts.open(principals[name], code))
    deadline = time.monotonic() + timeout
    for account in accounts:
        while services.accounts.get(principals["admin"], account.id).status != AccountStatus.ACTIVE:
            if time.monotonic() > deadline:
                raise WalletError("the demo accounts' KYC registration did not reach the chain")
            time.sleep(0.1)
    for account in accounts:
        services.operations.mint(
            principals["operator"],
            idempotency_key=f"demo-seed-{account.id}",
            currency=account.currency,
            amount=DEMO_BALANCES.get(account.currency, "100"),
            to_account=account.id,
        )
    _seed_history(services, principals, accounts, deadline, chain_clock)
    _seed_payments(services, principals, accounts, deadline)
    _seed_requests(services, principals)
    _seed_bills(services, principals, accounts)
    _seed_spending(services, principals, accounts)
    _seed_payroll(services, principals, accounts, deadline)
    _seed_invoices(services, principals, accounts)
    _seed_compliance(services, principals, accounts)
    seed_monitoring(services, principals["operator"], time.monotonic() + timeout)
    return logins


SAMPLE_LISTS = (("sdn.xml", "ofac"), ("eu.xml", "eu"), ("un.xml", "un"))


def _seed_compliance(
    services: Services, principals: dict[str, Principal], accounts: list[AccountView]
) -> None:
    """A proposal waiting for the second officer, and a payment held by the transfer policy (Alice pays
    a payee she saved under a name on the sample OFAC list), so the maker-checker, screening and
    held-transfer queues have data."""
    bob_usd = next(a for a in accounts if a.user_id == principals["bob"].user_id and a.currency == "USD")
    services.approvals.propose(
        principals["compliance"],
        action="partial_freeze",
        params={"currency": "USD", "address": bob_usd.address, "amount": "50.00"},
        reason="Chargeback dispute 2026-0042: hold 50.00 until the card network decides",
        idempotency_key="demo-partial-freeze-bob",
    )
    alice = principals["alice"]
    alice_usd = next(a for a in accounts if a.user_id == alice.user_id and a.currency == "USD")
    payee = next((p for p in services.accounts.payees(alice) if p.name == HELD_PAYEE), None)
    if payee is None:
        payee = services.accounts.add_payee(alice, HELD_PAYEE, bob_usd.address)
    services.payments.submit(
        alice,
        idempotency_key="demo-held-payment",
        from_account=alice_usd.id,
        amount="40.00",
        currency="USD",
        to_payee=payee.id,
        reference="Consulting 2026-11",
    )


HELD_PAYEE = "Ivan Petrovich Sokolov"  # on the sample OFAC list (tests/data/sanctions/sdn.xml)


def _load_sample_lists(services: Services) -> None:
    """The sample sanctions lists: fictional entries in the published formats, from tests/data."""
    folder = get_settings().project_root / "tests" / "data" / "sanctions"
    for file, name in SAMPLE_LISTS:
        if (folder / file).exists():
            services.sanctions.load(folder / file, name, actor="demo")


def _submit_identity(services: Services, customer: Principal) -> None:
    """The customer's identity data and passport, sent to review (once)."""
    if services.users.get(customer.user_id).kyc_status != KycStatus.PENDING_KYC:
        return
    user = services.users.get(customer.user_id)
    identity = {
        "legal_name": user.full_name or customer.username,
        "id_type": "passport",
        "expected_activity": "low",
        **DEMO_IDENTITIES[customer.username],
    }
    services.kyc.submit_profile(customer, identity)
    if not services.kyc.mine(customer).documents:
        services.kyc.upload(
            customer,
            kind="passport",
            filename=f"{customer.username}-passport.pdf",
            content_type="application/pdf",
            content=DEMO_PASSPORT,
        )
    services.kyc.submit(customer)


# Three months of everyday payments before this one: (day of the month, payer, payee, currency, amount,
# reference). Salaries from Helvetia Power, café visits at Mira's, electricity bills (the reference is
# the customer number at the biller), money between friends; the amounts change from month to month so
# the spending trends have something to show.
HISTORY_MONTHS = 3
DEMO_HISTORY: tuple[tuple[tuple[int, str, str, str, str, str], ...], ...] = (
    (  # three months ago
        (1, "power", "alice", "USD", "120.00", "Salary {month}"),
        (1, "power", "bob", "USD", "110.00", "Salary {month}"),
        (6, "alice", "power", "USD", "58.90", "HP-10004417"),
        (6, "bob", "power", "USD", "52.10", "HP-20008831"),
        (12, "alice", "mira", "USD", "8.40", "Café Mira {month}-12"),
        (12, "alice", "bob", "EUR", "19.90", "Books"),
        (20, "alice", "bob", "USD", "24.00", "Dinner share"),
        (20, "bob", "mira", "USD", "5.20", "Café Mira {month}-20"),
    ),
    (  # two months ago
        (1, "power", "alice", "USD", "120.00", "Salary {month}"),
        (1, "power", "bob", "USD", "110.00", "Salary {month}"),
        (6, "alice", "power", "USD", "61.40", "HP-10004417"),
        (6, "bob", "power", "USD", "55.80", "HP-20008831"),
        (12, "alice", "mira", "USD", "14.20", "Café Mira {month}-12"),
        (12, "bob", "mira", "USD", "7.90", "Café Mira {month}-12"),
        (20, "alice", "mira", "USD", "9.80", "Café Mira {month}-20"),
        (20, "bob", "alice", "EUR", "12.00", "Concert ticket"),
    ),
    (  # last month
        (1, "power", "alice", "USD", "120.00", "Salary {month}"),
        (1, "power", "bob", "USD", "110.00", "Salary {month}"),
        (6, "alice", "power", "USD", "63.10", "HP-10004417"),
        (6, "bob", "power", "USD", "49.70", "HP-20008831"),
        (12, "alice", "mira", "USD", "11.30", "Café Mira {month}-12"),
        (20, "alice", "bob", "USD", "15.00", "Cinema"),
        (20, "alice", "mira", "USD", "7.60", "Café Mira {month}-20"),
        (20, "alice", "bob", "EUR", "22.50", "Books"),
    ),
)


def history_start(today: date) -> int:
    """When a new demo chain's clock starts (unix seconds): the first of the month `HISTORY_MONTHS`
    before `today`'s, 08:00 UTC."""
    return int(datetime(*_month_back(today, HISTORY_MONTHS), 1, 8, tzinfo=UTC).timestamp())


def _month_back(today: date, months: int) -> tuple[int, int]:
    index = today.year * 12 + today.month - 1 - months
    return index // 12, index % 12 + 1


def _seed_history(
    services: Services,
    principals: dict[str, Principal],
    accounts: list[AccountView],
    deadline: float,
    chain_clock: Callable[[int], object] | None,
) -> None:
    """The payments of `DEMO_HISTORY`, each day's on the chain's clock set to that day (when there is
    a clock) and executed before the clock moves on; then the clock comes back to now. Once: the keys
    name the month, so a second start replays the stored transfers."""
    by_owner = {(a.user_id, a.currency): a for a in accounts}
    today = datetime.now(UTC).date()
    _wait_for_balances(services, principals, by_owner, ("alice", "bob", "power"), deadline)
    for back, month_payments in zip(range(HISTORY_MONTHS, 0, -1), DEMO_HISTORY, strict=True):
        year, month = _month_back(today, back)
        label = f"{year}-{month:02d}"
        for day in sorted({p[0] for p in month_payments}):
            if chain_clock is not None:
                chain_clock(int(datetime(year, month, day, 9, tzinfo=UTC).timestamp()))
            sent = []
            for _, payer, payee, currency, amount, reference in (p for p in month_payments if p[0] == day):
                ref = reference.format(month=label)
                transfer, _ = services.payments.submit(
                    principals[payer],
                    idempotency_key=f"demo-history-{label}-{day}-{payer}-{payee}-{currency}-{ref}",
                    from_account=by_owner[(principals[payer].user_id, currency)].id,
                    amount=amount,
                    currency=currency,
                    to_account=by_owner[(principals[payee].user_id, currency)].id,
                    reference=ref,
                )
                sent.append((principals[payer], transfer.id))
            for payer_principal, transfer_id in sent:
                while services.payments.get(payer_principal, transfer_id).state not in ON_CHAIN:
                    if time.monotonic() > deadline:
                        raise WalletError("the demo's history payments did not reach the chain")
                    time.sleep(0.1)
    if chain_clock is not None:
        chain_clock(int(time.time()))


ON_CHAIN = (TransferState.EXECUTED, TransferState.CONFIRMED, TransferState.FINAL)


def _wait_for_balances(
    services: Services,
    principals: dict[str, Principal],
    by_owner: Mapping[tuple[str, str], AccountView],
    names: Sequence[str],
    deadline: float,
) -> None:
    """Waits until the mints to `names`' accounts are in the mirror: the door lets no money out before."""
    for (user_id, _), account in by_owner.items():
        owner = next((principals[n] for n in names if principals[n].user_id == user_id), None)
        if owner is None:
            continue
        while services.accounts.balance(owner, account.id).balance == 0:
            if time.monotonic() > deadline:
                raise WalletError("the demo mints did not reach the ledger mirror")
            time.sleep(0.1)


# Payments between the demo customers, so that statements show references as written, names and totals.
DEMO_PAYMENTS = (
    ("alice", "bob", "USD", "12.50", "Café Zürich 3", "lunch"),
    ("bob", "alice", "USD", "250.00", "Rent November", None),
    ("alice", "bob", "EUR", "9.99", "Invoice 2026-114", None),
)


def _seed_payments(
    services: Services, principals: dict[str, Principal], accounts: list[AccountView], deadline: float
) -> None:
    by_owner = {(a.user_id, a.currency): a for a in accounts}
    for payer, payee, currency, amount, reference, memo in DEMO_PAYMENTS:
        source = by_owner[(principals[payer].user_id, currency)]
        target = by_owner[(principals[payee].user_id, currency)]
        # The mints must be in the mirror before the door lets the money out.
        while services.accounts.balance(principals[payer], source.id).balance == 0:
            if time.monotonic() > deadline:
                raise WalletError("the demo mints did not reach the ledger mirror")
            time.sleep(0.1)
        services.payments.submit(
            principals[payer],
            idempotency_key=f"demo-payment-{payer}-{payee}-{currency}-{reference}",
            from_account=source.id,
            amount=amount,
            currency=currency,
            to_account=target.id,
            reference=reference,
            memo=memo,
        )


# Mira's café asks to be paid: (reference, amount or None, single use, description, who pays and how much).
DEMO_REQUESTS = (
    ("TABLE-7", "18.40", True, "Table 7: two lunches", ("alice", None)),
    ("CAFE-TIPS", None, False, "Tips for the team", ("bob", "2.00")),
    ("TABLE-9", "23.10", True, "Table 9: brunch", None),  # open: a newcomer pays it from its QR code
)


def _seed_requests(services: Services, principals: dict[str, Principal]) -> None:
    """Mira's payment requests, two of them paid through the bank (once, however often this runs)."""
    mira = principals["mira"]
    have = {r["reference"]: r for r in services.requests.mine(mira)}
    for reference, amount, single_use, description, paid_by in DEMO_REQUESTS:
        request = have.get(reference) or services.requests.create(
            mira,
            currency="USD",
            amount=amount,
            reference=reference,
            description=description,
            single_use=single_use,
        )
        if paid_by is not None:
            payer, paid = paid_by
            services.requests.pay(principals[payer], request["id"], amount=paid)


def _seed_bills(services: Services, principals: dict[str, Principal], accounts: list[AccountView]) -> None:
    """Helvetia Power as a biller; alice's bill paid once now and monthly on the 31st, bob's weekly."""
    bills = services.bills
    power = next(a for a in accounts if a.user_id == principals["power"].user_id and a.currency == "USD")
    biller = next((b for b in bills.billers(principals["operator"]) if b["name"] == "Helvetia Power"), None)
    if biller is None:
        biller = bills.register_biller(
            principals["operator"],
            account_id=power.id,
            name="Helvetia Power",
            category="utilities",
            reference_pattern="HP-[0-9]{8}",
            reference_hint="HP- and the 8 digits of your customer number",
        )
    today = bills.clock().date()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)  # none falls due while seeding
    for name, reference, plans in (
        (
            "alice",
            "HP-10004417",
            (("once", "64.20", None, None, None), ("monthly", "64.20", 31, None, next_month)),
        ),
        ("bob", "HP-20008831", (("weekly", "15.00", None, (today.weekday() + 3) % 7, None),)),
    ):
        customer = principals[name]
        if any(b["reference"] == reference for b in bills.bills(customer)):
            continue  # seeded by an earlier start
        bill = bills.save_bill(customer, biller_id=biller["id"], reference=reference, nickname="Electricity")
        source = next(a for a in accounts if a.user_id == customer.user_id and a.currency == "USD")
        for kind, amount, day, weekday, start in plans:
            bills.schedule(
                customer,
                bill["id"],
                from_account=source.id,
                amount=amount,
                kind=kind,
                day=day,
                weekday=weekday,
                start=start,
            )


def _seed_spending(services: Services, principals: dict[str, Principal], accounts: list[AccountView]) -> None:
    """Mira's café filed as `cafes` for everyone, and payments there earning 10 points per dollar; alice's
    budgets (two of them crossed by her payments) and a rule of her own that files her electricity bill
    as `home-energy`."""
    spending = services.spending
    cafe = next(a for a in accounts if a.user_id == principals["mira"].user_id and a.currency == "USD")
    alice = principals["alice"]
    with contextlib.suppress(ConflictError):
        spending.add_merchant(principals["operator"], address=cafe.address, category="cafes")
    with contextlib.suppress(ConflictError):
        spending.add_rule(alice, match="keyword", pattern="HP-", category="home-energy")
    for category, amount in (("dining", "10.00"), ("cafes", "15.00"), ("home-energy", "100.00")):
        spending.set_budget(alice, category=category, currency="USD", amount=amount)
    if not services.points.rules():
        services.points.add_rule(
            principals["operator"], name="Café bonus", category="cafes", points_per_unit=10, monthly_cap=500
        )


def _seed_payroll(
    services: Services, principals: dict[str, Principal], accounts: list[AccountView], deadline: float
) -> None:
    """Helvetia Power pays its staff, alice and bob, from a pain.001 file (once: its message id)."""
    power = principals["power"]
    usd = {a.user_id: a for a in accounts if a.currency == "USD"}
    source = usd[power.user_id]
    while services.accounts.balance(power, source.id).balance == 0:
        if time.monotonic() > deadline:
            raise WalletError("the demo mints did not reach the ledger mirror")
        time.sleep(0.1)
    with services.bank.readers() as session:
        debtor = session.get(WalletAccount, source.id)
    assert debtor is not None
    payroll = [
        ("SAL-ALICE", "Alice Example", usd[principals["alice"].user_id].id, "120.00", "Salary"),
        ("SAL-BOB", "Bob Müller", usd[principals["bob"].user_id].id, "110.00", "Salary"),
    ]
    if any(b["message_id"] == "PAYROLL-DEMO-1" for b in services.batches.mine(power)):
        return  # paid at an earlier start (the file made now would differ in its creation time)
    document = example_pain001("PAYROLL-DEMO-1", debtor, payroll, payer="Helvetia Power AG")
    services.batches.upload_pain001(power, document)


def _seed_invoices(services: Services, principals: dict[str, Principal], accounts: list[AccountView]) -> None:
    """Mira's café invoices Helvetia Power for catering (one paid, one overdue) and alice for a party
    (open: a newcomer pays it from its link and sees it turn paid)."""
    invoices = services.invoices
    mira = principals["mira"]
    usd = {a.user_id: a for a in accounts if a.currency == "USD"}
    have = {i["number"] for i in invoices.mine(mira)}
    today = invoices.clock().date()
    catering = [
        {"description": "Catering, team lunch", "quantity": "3", "unit_price": "45.00", "tax_rate": "7.7"}
    ]
    plans = (
        ("2026-001", "power", "Helvetia Power AG", catering, today, today + timedelta(days=30), True),
        (
            "2026-002",
            "power",
            "Helvetia Power AG",
            catering,
            today - timedelta(days=75),
            today - timedelta(days=40),
            False,
        ),
        (
            "2026-003",
            "alice",
            "Alice Example",
            [
                {"description": "Birthday cake", "quantity": "1", "unit_price": "38.00", "tax_rate": "2.6"},
                {"description": "Coffee for 12", "quantity": "12", "unit_price": "3.50", "tax_rate": "8.1"},
            ],
            today,
            today + timedelta(days=14),
            False,
        ),
    )
    for number, buyer, name, lines, issued, due, pay in plans:
        if number in have:
            continue
        invoice = invoices.issue(
            mira,
            number=number,
            currency="USD",
            buyer_name=name,
            buyer_country="CH",
            buyer_account=usd[principals[buyer].user_id].id,
            lines=lines,
            issue_date=issued,
            due_date=due,
        )
        if pay:
            invoices.pay(
                principals[buyer], invoice["id"], from_account=None, idempotency_key=f"demo-{number}"
            )


# Outside wallets (KYC'd on chain, not customers of the API) whose transfers plant a case of several
# monitoring typologies among the demo's normal payments: the monitor sees them in the mirror like any
# movement. (sender, receiver, amount in USD) in order; "#block" blocks the wallet named after it.
DEMO_WALLETS = {  # name -> ISO 3166 numeric jurisdiction
    "whale": 756,
    "mule": 756,
    "fan": 756,
    "source": 756,
    "pass": 756,
    "roundy": 756,
    "payer": 840,
    "lagos": 566,
    "bad": 756,
    "middle": 756,
    "late": 840,
    **{f"r{i}": 756 for i in range(1, 9)},
}
DEMO_MINTS = {
    "whale": "15000.00",
    "mule": "30000.00",
    "fan": "1000.00",
    "source": "6000.00",
    "roundy": "5000.00",
    "payer": "500.00",
    "bad": "500.00",
    "late": "200.00",
}
DEMO_PLANTED = (
    ("whale", "r1", "12000.00"),  # large transfer
    ("mule", "r2", "9200.00"),
    ("mule", "r3", "9450.00"),
    ("mule", "r4", "8900.00"),  # structuring
    *(("fan", f"r{i}", "50.00") for i in range(1, 9)),  # fan-out to eight new addresses
    ("source", "pass", "5000.00"),
    ("pass", "r5", "4800.00"),  # rapid pass-through
    ("roundy", "r6", "1000.00"),
    ("roundy", "r7", "2000.00"),
    ("roundy", "r8", "1000.00"),  # round
    ("payer", "lagos", "120.00"),  # a counterparty in a high-risk jurisdiction (NG)
    ("bad", "middle", "100.00"),
    ("#block", "bad", ""),
    ("late", "middle", "25.00"),  # one hop
)


def demo_wallet(name: str) -> PrivateKeySigner:
    """The demo's outside wallet `name`: a fixed development key (never for real money)."""
    return PrivateKeySigner(keccak(text=f"tdw demo wallet {name}"))


def seed_monitoring(services: Services, operator: Principal, deadline: float) -> None:
    """Registers the outside wallets, mints them USD and sends the planted transfers from their own
    keys (once: skipped when the first wallet is registered already)."""
    bank = services.bank
    wallets = {name: demo_wallet(name) for name in DEMO_WALLETS}
    if bank.registry.functions.statusOf(wallets["whale"].address).call()[0]:
        return
    expiry = int(time.time()) + 365 * 24 * 3600
    addresses = [wallets[n].address for n in DEMO_WALLETS]
    call = bank.registry.functions.setKycBatch(
        addresses, [expiry] * len(addresses), list(DEMO_WALLETS.values())
    )
    _send_and_wait(services, "compliance", call, deadline)
    for name, amount in DEMO_MINTS.items():
        services.operations.mint(
            operator,
            idempotency_key=f"demo-wallet-{name}",
            currency="USD",
            amount=amount,
            to_address=wallets[name].address,
        )
    token = bank.token("USD").contract
    for name in {sender for sender, _, _ in DEMO_PLANTED if not sender.startswith("#")}:
        fund_from_dev_account(bank.w3, wallets[name].address, 10**17)  # gas, on a development chain
    for name, amount in DEMO_MINTS.items():
        while token.functions.balanceOf(wallets[name].address).call() < int(amount.replace(".", "")):
            if time.monotonic() > deadline:
                raise WalletError("the demo wallets' mints did not reach the chain")
            time.sleep(0.1)
    for sender, receiver, amount in DEMO_PLANTED:
        if sender == "#block":
            _send_and_wait(
                services,
                "compliance",
                bank.registry.functions.setBlocked(wallets[receiver].address, True),
                deadline,
            )
            continue
        units = int(amount.replace(".", ""))
        Transactor(bank.w3, wallets[sender]).send(token.functions.transfer(wallets[receiver].address, units))


def _send_and_wait(services: Services, role: str, call: Any, deadline: float) -> None:
    bank = services.bank
    with bank.sessions.begin() as session:
        tx_id = bank.enqueue(session, role, call, kind="demo").id
    while True:
        tx = bank.chain_tx(tx_id)
        if tx is not None and tx.status in ("included", "confirmed", "final"):
            return
        if (tx is not None and tx.status == "failed") or time.monotonic() > deadline:
            raise WalletError(f"the demo's {role} transaction did not reach the chain")
        time.sleep(0.1)
