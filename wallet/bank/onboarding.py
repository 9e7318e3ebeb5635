"""Customers' identity verification, as far as the chain is concerned: nobody becomes a KYC-verified
holder by signing up. A customer starts `pending_kyc`; their accounts can be opened but stay
`pending_kyc`, and nothing is registered on chain. They submit their identity and documents
(`wallet.compliance.kyc`), which puts them `in_review`; only then may a compliance officer (or an
operator) verify them, and only with no screening hit left open. Verifying sets their transfer-policy
tier and their verification's expiry (the review period of their risk rating), and registers their
custodial address with the registry once, for all their accounts, until that expiry and in their
country of residence; a rejection leaves nothing on chain.

Who may decide is decided here: a customer cannot verify themself, and staff cannot be "verified".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.compliance.kyc import KycService
from wallet.db.models import User, WalletAccount, aware
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.vocabulary import KycStatus, Role

DECIDERS = (Role.COMPLIANCE, Role.OPERATOR)
OPEN = (KycStatus.PENDING_KYC, KycStatus.IN_REVIEW)


@dataclass(frozen=True)
class Applicant:
    """A customer waiting for (or given) a KYC decision."""

    user_id: str
    username: str
    kyc_status: KycStatus
    accounts: int
    created_at: datetime


class Onboarding:
    """The KYC queue and its decisions."""

    def __init__(self, bank: Bank, kyc: KycService | None = None) -> None:
        self.bank = bank
        self.kyc = kyc

    def queue(self, principal: Principal, *, limit: int = 100) -> list[Applicant]:
        """Customers whose verification is open, oldest first (compliance and operators)."""
        principal.require(*DECIDERS)
        with self.bank.readers() as session:
            users = list(
                session.scalars(
                    select(User)
                    .where(User.role == Role.CUSTOMER, User.kyc_status.in_(OPEN))
                    .order_by(User.created_at)
                    .limit(limit)
                )
            )
            per_user = (
                select(WalletAccount.user_id, func.count())
                .where(WalletAccount.user_id.in_([u.id for u in users]))
                .group_by(WalletAccount.user_id)
            )
            counts = {user_id: int(count) for user_id, count in session.execute(per_user)}
        return [Applicant(u.id, u.username, u.kyc_status, counts.get(u.id, 0), u.created_at) for u in users]

    def decide(
        self,
        principal: Principal,
        user_id: str,
        *,
        verified: bool,
        reason: str | None = None,
        tier: str | None = None,
    ) -> Applicant:
        """Verifies or rejects a customer. Verifying needs a submitted case (`in_review`) with no open
        screening hit; it sets the customer's `tier` (the policy's default unless given) and expiry, and
        registers their custodial address on chain (one registration for all their accounts, through the
        compliance key's outbox) in the same database transaction."""
        principal.require(*DECIDERS)
        if reason is not None and len(reason) > 500:
            raise InvalidRequestError("a reason is at most 500 characters")
        if not verified and not (reason or "").strip():
            raise InvalidRequestError("a rejection needs a reason")
        with self.bank.sessions.begin() as session:
            user = session.get(User, user_id, with_for_update=True)
            if user is None or user.role != Role.CUSTOMER:
                raise NotFoundError("customer", user_id)
            if user.kyc_status not in OPEN:
                raise ConflictError(f"the customer is {user.kyc_status} already")
            if verified:
                self._verifiable(session, user, tier)
            user.kyc_status = KycStatus.VERIFIED if verified else KycStatus.REJECTED
            user.kyc_decided_by = principal.user_id
            user.kyc_decided_at = datetime.now(UTC)
            user.kyc_reason = reason
            accounts = list(session.scalars(select(WalletAccount).where(WalletAccount.user_id == user_id)))
            if verified and accounts:
                registration = self.bank.enqueue_kyc(session, accounts[0].address, user=user)
                session.execute(
                    update(WalletAccount)
                    .where(WalletAccount.user_id == user_id, WalletAccount.kyc_tx_id.is_(None))
                    .values(kyc_tx_id=registration.id)
                )
            AuditLog.append(
                session,
                actor=principal.username,
                action="kyc.verified" if verified else "kyc.rejected",
                subject=f"user:{user.id}",
                details={
                    "role": principal.role,
                    "customer": user.username,
                    "reason": reason,
                    "tier": user.tier if verified else None,
                    "expires_at": aware(user.kyc_expires_at).isoformat()
                    if verified and user.kyc_expires_at
                    else None,
                },
            )
            return Applicant(user.id, user.username, user.kyc_status, len(accounts), user.created_at)

    def _verifiable(self, session: Session, user: User, tier: str | None) -> None:
        """Refuses a verification the case does not support; sets the tier and the expiry."""
        if user.kyc_status != KycStatus.IN_REVIEW:
            raise ConflictError("the customer has not submitted their identity and documents for review yet")
        if self.kyc is None:
            raise ConflictError("this bank has no KYC service")
        hits = self.kyc.open_hits(session, user.id)
        if hits:
            raise ConflictError(f"the customer has {hits} open screening hit(s); clear or confirm them first")
        policy = self.kyc.policy.current(session).document
        tiers = policy.tiers
        if tier is not None and tier not in tiers:
            raise InvalidRequestError(f"the tier is one of {', '.join(sorted(tiers))}, not {tier!r}")
        user.tier = tier or policy.default_tier
        user.kyc_expires_at = self.kyc.expiry_of(session, user.id)
        user.kyc_notice_at = None
