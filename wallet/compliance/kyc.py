"""KYC onboarding: what a customer submits, how it is screened and rated, and how verification expires.

A customer (`pending_kyc` from sign-up) gives their identity (`submit_profile`): an individual their
legal name, date of birth, nationality, country of residence, ID document type and number, address
and expected activity; a corporate customer the company's name, registration number and country, its
address and activity, and its beneficial owners. They upload documents (`upload`: PDF, PNG or JPEG,
recognised by their content, at most `MAX_DOCUMENT_BYTES`), sealed under the KEK with AES-GCM bound to
the document's id, so a sealed document moved to another row does not open. `submit` sends the case to
review (`in_review`): the customer and each beneficial owner are screened against the sanctions lists
(hits are stored, audited, and must be cleared before verification), and the risk rules rate it.

Risk rules (`rate`), from the policy's jurisdiction lists and the screening:
- a country (residence, nationality, a beneficial owner's nationality) on the prohibited list: high;
- on the high-risk list: 2 points; expected activity `high`: 1 point; a corporate customer: 1 point;
- a screening hit not cleared: high;
- otherwise 2 points or more is high, 1 is medium, 0 is low.
The rating sets the review period (`REVIEW_PERIOD`: low 3 years, medium 2, high 1); verification is
valid that long, on chain too (the registry's expiry is the same instant). `expiry_step` (a worker)
tells a customer `NOTICE` ahead that their verification will expire, and at expiry moves them to
`expired` and revokes their registration on chain; they submit again to be reviewed again.

`rescreen_step` (a worker) screens every customer, beneficial owner and payee again whenever a
sanctions list gets a new version.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.audit import SYSTEM, AuditLog
from wallet.compliance.matching import Match, Subject, iso_country
from wallet.compliance.policy import PolicyStore
from wallet.compliance.screening import SanctionsLists
from wallet.db.models import (
    BeneficialOwner,
    Event,
    EventCursor,
    KycDocument,
    KycProfile,
    Payee,
    SanctionsList,
    ScreeningHit,
    User,
    WalletAccount,
    aware,
)
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.keys.keystore import KeyEncryptionKey
from wallet.vocabulary import HitState, KycStatus, Role

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Recognised by their first bytes: the type the client claims must agree with the content.
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
DOCUMENT_KINDS = (
    "passport",
    "national_id",
    "driving_licence",
    "proof_of_address",
    "company_registration",
    "ownership_register",
)
IDENTITY_DOCUMENTS = {"passport", "national_id", "driving_licence"}
EDITABLE = (KycStatus.PENDING_KYC, KycStatus.REJECTED, KycStatus.EXPIRED)
REVIEW_PERIOD = {
    "low": timedelta(days=3 * 365),
    "medium": timedelta(days=2 * 365),
    "high": timedelta(days=365),
}
NOTICE = timedelta(days=30)
RESCREEN_CURSOR = "sanctions-rescreen"


# ------------------------------------------------------------------------------- submissions ---


def _country(value: str | None) -> str | None:
    return None if value is None else iso_country(value)


# A profile's own fields (beneficial owners aside), as the customer gives them and reviewers read them.
PROFILE_FIELDS = (
    "kind",
    "legal_name",
    "birth_date",
    "nationality",
    "residence_country",
    "id_type",
    "id_number",
    "address",
    "expected_activity",
    "company_name",
    "registration_number",
)


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=140)
    birth_date: date | None = None
    nationality: str | None = None
    ownership_percent: int = Field(ge=1, le=100)

    @field_validator("nationality")
    @classmethod
    def _nationality(cls, value: str | None) -> str | None:
        return _country(value)


class ProfileIn(BaseModel):
    """What a customer submits about themself (or their company)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["individual", "corporate"] = "individual"
    legal_name: str = Field(min_length=1, max_length=140)
    birth_date: date | None = None
    nationality: str | None = None
    residence_country: str = Field(description="Of residence; a company's country of registration")
    id_type: Literal["passport", "national_id", "driving_licence"] | None = None
    id_number: str | None = Field(default=None, min_length=3, max_length=64)
    address: str = Field(min_length=5, max_length=300)
    expected_activity: Literal["low", "medium", "high"] = "low"
    company_name: str | None = Field(default=None, max_length=140)
    registration_number: str | None = Field(default=None, max_length=64)
    beneficial_owners: list[OwnerIn] = Field(default_factory=list, max_length=20)

    @field_validator("nationality", "residence_country")
    @classmethod
    def _countries(cls, value: str | None) -> str | None:
        return _country(value)

    @model_validator(mode="after")
    def _complete(self) -> ProfileIn:
        if self.kind == "individual":
            missing = [
                name
                for name in ("birth_date", "nationality", "id_type", "id_number")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"an individual gives {', '.join(missing)}")
            if self.birth_date is not None and self.birth_date >= datetime.now(UTC).date():
                raise ValueError("the date of birth is in the future")
            if self.beneficial_owners:
                raise ValueError("beneficial owners are a corporate customer's")
        else:
            if not self.company_name or not self.registration_number:
                raise ValueError("a corporate customer gives company_name and registration_number")
            if not self.beneficial_owners:
                raise ValueError("a corporate customer names its beneficial owners")
            if sum(o.ownership_percent for o in self.beneficial_owners) > 100:
                raise ValueError("the beneficial owners own more than 100%")
        return self


@dataclass(frozen=True)
class DocumentView:
    id: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class HitView:
    id: int
    subject: str
    user_id: str | None
    name: str
    list_name: str
    entry_id: str
    score: int
    explanation: dict[str, Any]
    state: HitState
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class KycView:
    """A customer's verification: their status, what they submitted, their documents; compliance also
    sees the risk rating and the screening hits."""

    user_id: str
    username: str
    status: KycStatus
    profile: dict[str, Any] | None
    documents: list[DocumentView]
    submitted_at: datetime | None
    expires_at: datetime | None
    tier: str
    risk_rating: str | None = None
    risk_reasons: list[str] | None = None
    hits: list[HitView] | None = None


def rate(
    profile: KycProfile,
    owners: list[BeneficialOwner],
    hits: int,
    prohibited: set[str],
    high_risk: set[str],
) -> tuple[str, list[str]]:
    """The risk rating of a submission, with the reasons for it (the rules in the module's docstring)."""
    reasons: list[str] = []
    forced = False
    points = 0
    countries = {
        "residence": profile.residence_country,
        "nationality": profile.nationality,
        **{f"owner {o.name} nationality": o.nationality for o in owners},
    }
    for what, code in countries.items():
        if code in prohibited:
            forced = True
            reasons.append(f"{what} {code} is a prohibited jurisdiction")
        elif code in high_risk:
            points += 2
            reasons.append(f"{what} {code} is a high-risk jurisdiction")
    if profile.expected_activity == "high":
        points += 1
        reasons.append("high expected activity")
    if profile.kind == "corporate":
        points += 1
        reasons.append("a corporate customer")
    if hits:
        forced = True
        reasons.append(f"{hits} sanctions screening hit(s) not cleared")
    rating = "high" if forced or points >= 2 else "medium" if points == 1 else "low"
    return rating, reasons


class KycService:
    """Customers' submissions and documents, their screening, the review queue's details, and the
    workers that keep verification current."""

    def __init__(
        self,
        bank: Bank,
        kek: SecretStr,
        sanctions: SanctionsLists,
        policy: PolicyStore,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self._kek = KeyEncryptionKey(kek)
        self.sanctions = sanctions
        self.policy = policy
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------------------ customers ---

    def submit_profile(self, principal: Principal, data: dict[str, Any]) -> KycView:
        """Stores (or replaces) the customer's identity data; only while it is not under review."""
        principal.require(Role.CUSTOMER)
        try:
            given = ProfileIn.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidRequestError(f"the identity data is not valid: {problems}") from None
        with self.bank.sessions.begin() as session:
            user = self._editable(session, principal.user_id)
            values = given.model_dump(exclude={"beneficial_owners"})
            profile = session.get(KycProfile, user.id)
            if profile is None:
                profile = KycProfile(user_id=user.id, risk_reasons=[], **values)
                session.add(profile)
            else:
                for name, value in values.items():
                    setattr(profile, name, value)
                profile.risk_rating, profile.risk_reasons, profile.submitted_at = None, [], None
            session.execute(delete(BeneficialOwner).where(BeneficialOwner.user_id == user.id))
            for owner in given.beneficial_owners:
                session.add(BeneficialOwner(id=uuid.uuid4().hex, user_id=user.id, **owner.model_dump()))
            user.full_name = given.legal_name if given.kind == "individual" else given.company_name
            if user.kyc_status != KycStatus.PENDING_KYC:
                user.kyc_status = KycStatus.PENDING_KYC
            session.flush()
            return self._view(session, user, staff=False)

    def upload(
        self, principal: Principal, *, kind: str, filename: str, content_type: str, content: bytes
    ) -> DocumentView:
        """Stores a document, sealed; its type must be what its content is."""
        principal.require(Role.CUSTOMER)
        if kind not in DOCUMENT_KINDS:
            raise InvalidRequestError(f"a document is one of {', '.join(DOCUMENT_KINDS)}, not {kind!r}")
        if content_type not in SIGNATURES:
            raise InvalidRequestError(f"a document is PDF, PNG or JPEG, not {content_type!r}")
        if not content:
            raise InvalidRequestError("the document is empty")
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InvalidRequestError(f"a document is at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
        if not content.startswith(SIGNATURES[content_type]):
            raise InvalidRequestError(f"the file's content is not {content_type}")
        name = "".join(c for c in filename if c.isprintable() and c not in "/\\")[:200] or "document"
        document_id = uuid.uuid4().hex
        sealed, nonce = self._kek.wrap(content, f"kyc-document:{document_id}")
        with self.bank.sessions.begin() as session:
            self._editable(session, principal.user_id)
            count = session.scalar(
                select(func.count()).select_from(KycDocument).where(KycDocument.user_id == principal.user_id)
            )
            if (count or 0) >= 20:
                raise ConflictError("at most 20 documents per customer")
            row = KycDocument(
                id=document_id,
                user_id=principal.user_id,
                kind=kind,
                filename=name,
                content_type=content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                sealed=sealed,
                nonce=nonce,
                kek_id=self._kek.kek_id,
                created_at=self.clock(),
            )
            session.add(row)
            return _document(row)

    def submit(self, principal: Principal) -> KycView:
        """Sends the customer's case to review: screened and rated now. The screening runs before the
        writing transaction (SQLite has one writer, and the index reads the lists); the case is then
        checked again under the customer's row lock, so a profile changed in between is not sent."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            profile = session.get(KycProfile, principal.user_id)
            if profile is None:
                raise ConflictError("give your identity data first (PUT /v1/kyc/profile)")
            owners = list(
                session.scalars(select(BeneficialOwner).where(BeneficialOwner.user_id == principal.user_id))
            )
        screened = [self._screen_profile(profile), *(self._screen_owner(o) for o in owners)]
        with self.bank.sessions.begin() as session:
            user = self._editable(session, principal.user_id)
            current = session.get(KycProfile, user.id)
            if current is None or aware(current.updated_at) != aware(profile.updated_at):
                raise ConflictError("your identity data changed while it was being screened; submit again")
            profile = current
            kinds = set(session.scalars(select(KycDocument.kind).where(KycDocument.user_id == user.id)))
            if profile.kind == "individual" and not kinds & IDENTITY_DOCUMENTS:
                raise ConflictError("upload an identity document (passport, national ID or driving licence)")
            if profile.kind == "corporate" and "company_registration" not in kinds:
                raise ConflictError("upload the company's registration document")
            for subject, name, matches in screened:
                self.sanctions.record(
                    session,
                    subject=subject,
                    user_id=user.id,
                    name=name,
                    matches=matches,
                    actor=principal.username,
                )
            self._rate(session, profile, owners)
            profile.submitted_at = self.clock()
            user.kyc_status = KycStatus.IN_REVIEW
            AuditLog.append(
                session,
                actor=principal.username,
                action="kyc.submitted",
                subject=f"user:{user.id}",
                details={"kind": profile.kind, "risk": profile.risk_rating, "reasons": profile.risk_reasons},
            )
            return self._view(session, user, staff=False)

    def mine(self, principal: Principal) -> KycView:
        """The caller's own verification."""
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            user = session.get(User, principal.user_id)
            if user is None:
                raise NotFoundError("customer", principal.user_id)
            return self._view(session, user, staff=False)

    # ----------------------------------------------------------------------------- compliance ---

    def case(self, principal: Principal, user_id: str) -> KycView:
        """A customer's case as the reviewer sees it: data, documents, rating and hits."""
        principal.require(Role.COMPLIANCE, Role.OPERATOR)
        with self.bank.readers() as session:
            user = session.get(User, user_id)
            if user is None or user.role != Role.CUSTOMER:
                raise NotFoundError("customer", user_id)
            return self._view(session, user, staff=True)

    def document(self, principal: Principal, user_id: str, document_id: str) -> tuple[DocumentView, bytes]:
        """A document, opened; reading it is audited."""
        principal.require(Role.COMPLIANCE)
        with self.bank.sessions.begin() as session:
            row = session.get(KycDocument, document_id)
            if row is None or row.user_id != user_id:
                raise NotFoundError("document", document_id)
            content = self._kek.unwrap(bytes(row.sealed), bytes(row.nonce), f"kyc-document:{row.id}")
            if hashlib.sha256(content).hexdigest() != row.sha256:  # pragma: no cover - AES-GCM would fail
                raise ConflictError("the document does not match its hash")
            AuditLog.append(
                session,
                actor=principal.username,
                action="kyc.document_read",
                subject=f"user:{user_id}",
                details={"document": row.id, "kind": row.kind, "sha256": row.sha256},
            )
            return _document(row), content

    def hits(
        self, principal: Principal, *, state: HitState | None = HitState.OPEN, limit: int = 100
    ) -> list[HitView]:
        """Screening hits, newest first."""
        principal.require(Role.COMPLIANCE)
        query = select(ScreeningHit)
        if state is not None:
            query = query.where(ScreeningHit.state == state)
        with self.bank.readers() as session:
            return [_hit(h) for h in session.scalars(query.order_by(ScreeningHit.id.desc()).limit(limit))]

    def decide_hit(self, principal: Principal, hit_id: int, *, confirmed: bool, reason: str) -> HitView:
        """Clears a hit as a false positive, or confirms it; deciding again the same way is a no-op."""
        principal.require(Role.COMPLIANCE)
        if not reason.strip() or len(reason) > 500:
            raise InvalidRequestError("a decision on a hit needs a reason of 1 to 500 characters")
        outcome = HitState.CONFIRMED if confirmed else HitState.CLEARED
        with self.bank.sessions.begin() as session:
            hit = session.get(ScreeningHit, hit_id, with_for_update=True)
            if hit is None:
                raise NotFoundError("screening hit", str(hit_id))
            if hit.state == outcome:
                return _hit(hit)
            if hit.state != HitState.OPEN:
                raise ConflictError(f"the hit is {hit.state} already")
            hit.state, hit.decided_by, hit.decided_at = outcome, principal.username, self.clock()
            hit.decision_reason = reason
            AuditLog.append(
                session,
                actor=principal.username,
                action=f"screening.{outcome}",
                subject=hit.subject,
                details={"hit": hit.id, "entry": f"{hit.list_name}:{hit.entry_id}", "reason": reason},
            )
            return _hit(hit)

    def expiry_of(self, session: Session, user_id: str) -> datetime:
        """When a verification decided now expires: the review period of the customer's rating."""
        profile = session.get(KycProfile, user_id)
        rating = (profile.risk_rating if profile else None) or "high"
        return self.clock() + REVIEW_PERIOD[rating]

    @staticmethod
    def open_hits(session: Session, user_id: str) -> int:
        """The customer's own open hits (their name or a beneficial owner's)."""
        return len(SanctionsLists.open_hits(session, user_id))

    # -------------------------------------------------------------------------------- workers ---

    def expiry_step(self) -> int:
        """Notices of coming expiries, and expiries: a verified customer whose verification ends within
        `NOTICE` is told once; one whose verification ended is `expired`, told, and revoked on chain."""
        now = self.clock()
        done = 0
        with self.bank.sessions.begin() as session:
            due = list(
                session.scalars(
                    select(User)
                    .where(
                        User.kyc_status == KycStatus.VERIFIED,
                        User.kyc_expires_at.is_not(None),
                        User.kyc_expires_at <= now + NOTICE,
                    )
                    .with_for_update()
                    .limit(200)
                )
            )
            for user in due:
                expires = aware(user.kyc_expires_at) if user.kyc_expires_at else now
                if expires <= now:
                    user.kyc_status = KycStatus.EXPIRED
                    address = session.scalar(
                        select(WalletAccount.address).where(WalletAccount.user_id == user.id).limit(1)
                    )
                    if address is not None:
                        self.bank.enqueue(
                            session,
                            "compliance",
                            self.bank.registry.functions.revokeKyc(address),
                            kind="kyc-expiry",
                        )
                    kind = "kyc.expired"
                elif user.kyc_notice_at is None:
                    user.kyc_notice_at = now
                    kind = "kyc.expiring"
                else:
                    continue
                session.add(Event(user_id=user.id, type=kind, payload={"expires_at": expires.isoformat()}))
                AuditLog.append(
                    session,
                    actor=SYSTEM,
                    action=kind,
                    subject=f"user:{user.id}",
                    details={"expires_at": expires.isoformat()},
                )
                done += 1
        return done

    def rescreen_step(self) -> int:
        """Screens every customer, beneficial owner and payee again when a list has a new version;
        returns the number of new hits."""
        with self.bank.readers() as session:
            newest = session.scalar(select(func.max(SanctionsList.id)).where(SanctionsList.current)) or 0
            cursor = session.get(EventCursor, RESCREEN_CURSOR)
            if newest <= (cursor.position if cursor else 0):
                return 0
            profiles = list(session.scalars(select(KycProfile)))
            owners = list(session.scalars(select(BeneficialOwner)))
            payees = list(session.scalars(select(Payee)))
        screened = [self._screen_profile(p) for p in profiles]
        screened += [self._screen_owner(o) for o in owners]
        screened += [(f"payee:{p.id}", p.name, self.sanctions.screen(Subject(p.name))) for p in payees]
        users = {f"user:{p.user_id}": p.user_id for p in profiles}
        users |= {f"owner:{o.id}": o.user_id for o in owners}
        users |= {f"payee:{p.id}": p.user_id for p in payees}
        found = 0
        with self.bank.sessions.begin() as session:
            for subject, name, matches in screened:
                found += len(
                    self.sanctions.record(
                        session,
                        subject=subject,
                        user_id=users[subject],
                        name=name,
                        matches=matches,
                        actor=SYSTEM,
                    )
                )
            row = session.get(EventCursor, RESCREEN_CURSOR)
            if row is None:
                session.add(EventCursor(name=RESCREEN_CURSOR, position=newest))
            else:
                row.position = newest
        return found

    # -------------------------------------------------------------------------------- helpers ---

    def _editable(self, session: Session, user_id: str) -> User:
        user = session.get(User, user_id, with_for_update=True)
        if user is None or user.role != Role.CUSTOMER:
            raise NotFoundError("customer", user_id)
        if user.kyc_status not in EDITABLE:
            raise ConflictError(f"your verification is {user.kyc_status}; it cannot be changed now")
        return user

    def _screen_profile(self, profile: KycProfile) -> tuple[str, str, list[Match]]:
        """(subject, name, matches) of the customer's own name."""
        name = (
            profile.company_name
            if profile.kind == "corporate" and profile.company_name
            else profile.legal_name
        )
        countries = tuple(c for c in (profile.nationality, profile.residence_country) if c)
        return (
            f"user:{profile.user_id}",
            name,
            self.sanctions.screen(Subject(name, profile.birth_date, countries)),
        )

    def _screen_owner(self, owner: BeneficialOwner) -> tuple[str, str, list[Match]]:
        """(subject, name, matches) of a beneficial owner."""
        countries = (owner.nationality,) if owner.nationality else ()
        return (
            f"owner:{owner.id}",
            owner.name,
            self.sanctions.screen(Subject(owner.name, owner.birth_date, countries)),
        )

    def _rate(self, session: Session, profile: KycProfile, owners: list[BeneficialOwner]) -> None:
        jurisdictions = self.policy.current(session).document.jurisdictions
        hits = self.open_hits(session, profile.user_id)
        profile.risk_rating, profile.risk_reasons = rate(
            profile, owners, hits, set(jurisdictions.prohibited), set(jurisdictions.high_risk)
        )

    def _view(self, session: Session, user: User, *, staff: bool) -> KycView:
        profile = session.get(KycProfile, user.id)
        documents = [
            _document(d)
            for d in session.scalars(
                select(KycDocument).where(KycDocument.user_id == user.id).order_by(KycDocument.created_at)
            )
        ]
        data = None
        if profile is not None:
            data = {name: getattr(profile, name) for name in PROFILE_FIELDS}
            if isinstance(data["birth_date"], date):
                data["birth_date"] = data["birth_date"].isoformat()
            owners = session.scalars(select(BeneficialOwner).where(BeneficialOwner.user_id == user.id))
            data["beneficial_owners"] = [
                {
                    "name": o.name,
                    "birth_date": o.birth_date.isoformat() if o.birth_date else None,
                    "nationality": o.nationality,
                    "ownership_percent": o.ownership_percent,
                }
                for o in owners
            ]
        hits = None
        if staff:
            hits = [
                _hit(h)
                for h in session.scalars(
                    select(ScreeningHit).where(ScreeningHit.user_id == user.id).order_by(ScreeningHit.id)
                )
            ]
        return KycView(
            user_id=user.id,
            username=user.username,
            status=user.kyc_status,
            profile=data,
            documents=documents,
            submitted_at=aware(profile.submitted_at) if profile and profile.submitted_at else None,
            expires_at=aware(user.kyc_expires_at) if user.kyc_expires_at else None,
            tier=user.tier,
            risk_rating=profile.risk_rating if staff and profile else None,
            risk_reasons=list(profile.risk_reasons or []) if staff and profile else None,
            hits=hits,
        )


def _document(row: KycDocument) -> DocumentView:
    return DocumentView(
        row.id, row.kind, row.filename, row.content_type, row.size, row.sha256, aware(row.created_at)
    )


def _hit(row: ScreeningHit) -> HitView:
    return HitView(
        id=row.id,
        subject=row.subject,
        user_id=row.user_id,
        name=row.name,
        list_name=row.list_name,
        entry_id=row.entry_id,
        score=row.score,
        explanation=dict(row.explanation),
        state=row.state,
        decided_by=row.decided_by,
        decided_at=aware(row.decided_at) if row.decided_at else None,
        decision_reason=row.decision_reason,
        created_at=aware(row.created_at),
    )
