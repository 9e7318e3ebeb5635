"""Composition of a running bank: builds every service from settings, runs the background workers
(relayer and outboxes, indexer, event pump, webhook delivery), and, for the development bank, deploys
the contracts to operational keys and seeds demo users with accounts and balances.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.bank.accounts import AccountService
from wallet.bank.core import SENDING_ROLES, Bank, BankConfig
from wallet.bank.events import EventFeed, EventPump
from wallet.bank.health import HealthService
from wallet.bank.onboarding import Onboarding
from wallet.bank.operations import OperationsService
from wallet.bank.payments import PaymentService
from wallet.bank.ratelimits import RateLimitConfig, RateLimits
from wallet.bank.reconciliation import Reconciler
from wallet.bank.recovery import Incidents, Recovery
from wallet.bank.users import AuthConfig, UserService
from wallet.bank.webhooks import WebhookConfig, WebhookService
from wallet.chain.confirmations import FinalizedTag, finality_depth
from wallet.chain.deploy import Manifest
from wallet.compliance.approvals import Approvals
from wallet.compliance.audit import Anchor, Anchorer, AuditLog, chain_anchors
from wallet.compliance.cases import Cases
from wallet.compliance.holds import HeldTransfers
from wallet.compliance.inspection import Inspector
from wallet.compliance.kyc import KycService
from wallet.compliance.monitoring import Monitor
from wallet.compliance.policy import PolicyStore, TransferPolicy
from wallet.compliance.reports import Reports, country_of
from wallet.compliance.screening import SanctionsLists
from wallet.compliance.travelrule import TravelRule
from wallet.db.models import Partner
from wallet.fx.conversions import Conversions
from wallet.fx.quotes import Quotes
from wallet.fx.rates import DEV_RATES, NoRates, RateFile, RateProvider
from wallet.keys import operational_signers
from wallet.keys.base import Signer
from wallet.keys.keystore import Keystore
from wallet.partners.htlc import HtlcCoordinator
from wallet.partners.payments import CrossBorder
from wallet.partners.registry import Partners
from wallet.partners.signatures import HttpKeys, PartnerAuthenticator
from wallet.retail.batches import Batches
from wallet.retail.bills import BillPay
from wallet.retail.invoices import Invoices
from wallet.retail.notifications import Notifications
from wallet.retail.points import Points
from wallet.retail.requests import PaymentRequests
from wallet.retail.spending import Spending
from wallet.settings import Settings
from wallet.vocabulary import ProposalAction
from wallet.workers import run_forever

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
    limits: RateLimits
    onboarding: Onboarding
    incidents: Incidents
    recovery: Recovery
    reconciler: Reconciler
    health: HealthService
    audit: AuditLog
    anchorer: Anchorer
    approvals: Approvals
    sanctions: SanctionsLists
    policy: PolicyStore
    holds: HeldTransfers
    kyc: KycService
    cases: Cases
    monitor: Monitor
    inspector: Inspector
    travel: TravelRule
    reports: Reports
    quotes: Quotes
    conversions: Conversions
    partners: Partners
    partner_auth: PartnerAuthenticator
    crossborder: CrossBorder
    requests: PaymentRequests
    bills: BillPay
    spending: Spending
    batches: Batches
    invoices: Invoices
    notifications: Notifications
    points: Points
    # Payments across two chains by hashed time-locks, where the bank is set up on a second chain
    # (`tdw dev --second-chain`); None otherwise.
    htlc: HtlcCoordinator | None = None

    def close(self) -> None:
        """Releases HTTP clients."""
        self.webhooks.close()
        self.partners.close()


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
    durable_block: Callable[[int], int] | None = None,
    automatic_recovery: bool = False,
    partner_transport: Callable[[Partner], httpx.Client] | None = None,
) -> Services:
    """Every service of the bank in `manifest`, configured from `settings`. `durable_block` caps what
    is called final (see `StateSaver`); `automatic_recovery` brings the database back to a chain that
    lost blocks without waiting for an operator (`tdw dev` only)."""
    keystore = Keystore(sessions, settings.kek, cache_size=settings.signer_cache_size)
    if durable_block is None and settings.confirmations is None and not automatic_recovery:
        finalized = FinalizedTag(w3)
        durable_block = finalized if finalized.supported else None
    signers = dict(role_signers or operational_signers(settings, keystore))
    bank = Bank(
        w3=w3,
        sessions=sessions,
        manifest=manifest,
        abis=abis,
        role_signers=signers,
        customer_signer=keystore.signer_for_address,
        config=BankConfig(
            confirmations=finality_depth(
                settings.confirmations, manifest.chain_id, development=automatic_recovery
            ),
            totp_transfer_threshold=settings.totp_transfer_threshold,
            approval_threshold=settings.approval_threshold,
            kyc_jurisdiction=settings.kyc_jurisdiction,
            kyc_valid_seconds=settings.kyc_valid_days * 24 * 3600,
            max_fee_per_gas=settings.max_fee_gwei * 10**9,
            address=settings.bank_address_lines,
            bic=settings.bank_bic,
        ),
        stuck_after=stuck_after,
        durable_block=durable_block,
    )
    users = user_service(settings, sessions, hasher=hasher)
    incidents = Incidents(bank)
    sanctions = SanctionsLists(sessions)
    policy = PolicyStore(sessions)
    accounts = AccountService(bank, keystore, sanctions)
    kyc = KycService(bank, settings.kek, sanctions, policy)
    travel = TravelRule(bank, policy, settings.kek)
    payments = PaymentService(bank, accounts, users, TransferPolicy(policy, sanctions), travel=travel)
    operations = OperationsService(bank, accounts)
    approvals = Approvals(bank, operations, ttl=timedelta(hours=settings.proposal_ttl_hours))
    approvals.validators[ProposalAction.POLICY_CHANGE] = policy.validate
    approvals.executors[ProposalAction.POLICY_CHANGE] = policy.install
    cases = Cases(bank, policy, settings.kek, approvals)
    inspector = Inspector(bank)
    audit = AuditLog(sessions, _anchor_reader(w3, manifest))
    rates = rate_source(settings)
    quotes = Quotes(sessions, policy, rates, currencies=manifest.tokens, audit=audit)
    requests = PaymentRequests(bank, accounts, payments, public_url=settings.effective_public_url())
    invoices = Invoices(bank, accounts, payments, public_url=settings.effective_public_url())
    spending = Spending(bank)
    webhooks = WebhookService(
        bank, settings.kek, webhook_config or WebhookConfig(max_attempts=settings.webhook_max_attempts)
    )
    partners = Partners(
        sessions,
        HttpKeys(sessions, settings.kek, f"{settings.bank_bic or 'tdw'}-partner-1"),
        transport=partner_transport,
    )
    return Services(
        bank=bank,
        keystore=keystore,
        users=users,
        accounts=accounts,
        payments=payments,
        operations=operations,
        feed=EventFeed(bank),
        pump=EventPump(bank, payments, requests, invoices),
        webhooks=webhooks,
        limits=rate_limits(settings),
        onboarding=Onboarding(bank, kyc),
        incidents=incidents,
        recovery=Recovery(bank, incidents, automatic=automatic_recovery),
        reconciler=Reconciler(bank, interval=settings.reconcile_interval_seconds),
        health=HealthService(bank),
        audit=audit,
        anchorer=Anchorer(
            sessions,
            bank.enqueue_anchor if bank.audit_anchor is not None else None,
            interval=settings.audit_anchor_seconds,
        ),
        approvals=approvals,
        sanctions=sanctions,
        policy=policy,
        holds=HeldTransfers(bank, approvals),
        kyc=kyc,
        cases=cases,
        monitor=Monitor(bank, policy, cases),
        inspector=inspector,
        travel=travel,
        reports=Reports(
            bank,
            cases,
            policy,
            inspector,
            rentity_id=settings.goaml_rentity_id,
            rentity_branch=settings.goaml_rentity_branch,
            country=country_of(settings.kyc_jurisdiction),
        ),
        quotes=quotes,
        conversions=Conversions(bank, accounts, quotes),
        partners=partners,
        partner_auth=PartnerAuthenticator(sessions),
        crossborder=CrossBorder(bank, accounts, partners, policy, rates, sanctions),
        requests=requests,
        bills=BillPay(bank, accounts, payments),
        spending=spending,
        batches=Batches(bank, accounts, payments),
        invoices=invoices,
        notifications=Notifications(bank, webhooks),
        points=Points(bank, accounts, operations, spending),
    )


def rate_source(settings: Settings) -> RateProvider:
    """The FX rates `settings` name: their file, the development rates, or none in production."""
    max_age = settings.fx_rates_max_age_seconds
    age = timedelta(seconds=max_age) if max_age is not None else None
    if settings.fx_rates_path is not None:
        return RateFile(settings.fx_rates_path, max_age=age)
    if settings.environment == "production":
        return NoRates("no FX rate source is configured (TDW_FX_RATES_PATH)")
    return RateFile(DEV_RATES, max_age=age)


def _anchor_reader(w3: Web3, manifest: Manifest) -> Callable[[], list[Anchor]] | None:
    anchor = manifest.audit_anchor
    if anchor is None:
        return None
    return lambda: chain_anchors(w3, anchor.address, manifest.start_block)


def rate_limits(settings: Settings) -> RateLimits:
    """The request limits configured in `settings`."""
    return RateLimits(
        RateLimitConfig(
            enabled=settings.rate_limits_enabled,
            limits={
                "client": settings.rate_limit_client,
                "user": settings.rate_limit_user,
                "signup": settings.rate_limit_signup,
            },
            storage=settings.rate_limit_storage,
        )
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
            free_failures=settings.login_free_failures,
            max_failed_logins=settings.max_failed_logins,
            lockout=timedelta(minutes=settings.lockout_minutes),
        ),
        hasher=hasher,
    )


# ------------------------------------------------------------------------------------ workers ---


def relay_step(bank: Bank, incidents: Incidents | None = None) -> int:
    """One pass of the relayer: packs pending transfers into batches, sends signed settlements, then
    moves every outbox forward; returns how much it did. Nothing is sent while an open incident says
    the chain is behind the database (fail closed: the nonces and states it would build on are not
    the chain's)."""
    if incidents is not None and incidents.halted():
        return 0
    busy = 0
    while bank.transfers.relay(bank.outboxes["relayer"]) is not None:
        busy += 1
    if bank.settlements is not None:
        busy += bank.settlements.relay()
    for outbox in bank.outboxes.values():
        busy += outbox.process()
    return busy


class Workers:
    """The background threads of one API process."""

    def __init__(self, services: Services) -> None:
        self.stop_event = threading.Event()
        bank = services.bank
        stop = self.stop_event
        # (step, seconds to wait after an idle step, after a busy one): the event pump pauses between
        # busy passes too, so that it does not rescan open transfers back to back.
        loops: dict[str, tuple[Callable[[], int], float, float]] = {
            "relayer": (lambda: relay_step(bank, services.incidents), 0.05, 0.0),
            "recovery": (services.recovery.step, 1.0, 1.0),
            "reconciliation": (services.reconciler.step, 1.0, 1.0),
            "audit-anchor": (services.anchorer.step, 1.0, 1.0),
            "proposals": (services.approvals.expire_due, 5.0, 1.0),
            "kyc-expiry": (services.kyc.expiry_step, 60.0, 1.0),
            "sanctions-rescreen": (services.kyc.rescreen_step, 10.0, 10.0),
            "indexer": (bank.indexer.follow_step, 0.2, 0.0),
            "events": (services.pump.step, 0.2, 0.05),
            "monitoring": (services.monitor.step, 0.2, 0.0),
            "webhooks": (services.webhooks.step, 0.2, 0.0),
            "cross-border": (services.crossborder.step, 0.5, 0.2),
            "bills": (services.bills.step, 5.0, 0.2),
            "budgets": (services.spending.step, 10.0, 1.0),
            "notifications": (services.notifications.step, 0.5, 0.1),
            "points": (services.points.step, 1.0, 0.2),
            # Set up after the workers start, or never (a bank on one chain).
            "swaps": (lambda: services.htlc.step_open() if services.htlc else 0, 1.0, 1.0),
        }
        self.threads = [
            threading.Thread(
                target=run_forever,
                args=(step, stop),
                kwargs={"name": name, "idle": idle, "busy": busy},
                name=f"tdw-{name}",
                daemon=True,
            )
            for name, (step, idle, busy) in loops.items()
        ]

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


__all__ = ["SENDING_ROLES", "Services", "Workers", "build_services", "rate_limits", "user_service"]
