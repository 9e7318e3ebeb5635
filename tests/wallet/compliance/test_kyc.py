"""KYC onboarding in the custody layer: what a submission must hold, documents checked by content and
sealed, corporate owners screened, the risk rules, re-screening on a new list version, and expiry with
its notice and the chain following."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.api_bank import PASSWORD
from tests.support.kyc import PASSPORT_PDF, identity, submit_case
from tests.support.waiting import wait_for
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.db.models import Event, KycDocument, ScreeningHit, User
from wallet.errors import ConflictError, InvalidRequestError, SigningError
from wallet.vocabulary import KycStatus, Role

SANCTIONS = Path(__file__).parents[2] / "data" / "sanctions"


def _user(services: Services, role: Role = Role.CUSTOMER) -> Principal:
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    enrolment = services.users.create(username, PASSWORD, role)
    return Principal(enrolment.user_id, username, role)


def test_a_submission_needs_complete_data_and_an_identity_document(services: Services) -> None:
    customer = _user(services)
    with pytest.raises(InvalidRequestError, match="birth_date"):
        services.kyc.submit_profile(customer, {**identity(), "birth_date": None})
    with pytest.raises(InvalidRequestError, match="ISO 3166"):
        services.kyc.submit_profile(customer, identity(residence_country="Atlantis"))
    with pytest.raises(ConflictError, match="identity data first"):
        services.kyc.submit(customer)
    services.kyc.submit_profile(customer, identity("Greta Gründlich"))
    with pytest.raises(ConflictError, match="identity document"):
        services.kyc.submit(customer)
    for content_type, content, message in (
        ("application/pdf", b"\x89PNG\r\n\x1a\n....", "not application/pdf"),  # a PNG claiming to be a PDF
        ("text/html", b"<html>", "PDF, PNG or JPEG"),
        ("application/pdf", b"", "empty"),
        ("application/pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "at most 5 MiB"),
    ):
        with pytest.raises(InvalidRequestError, match=message):
            services.kyc.upload(
                customer, kind="passport", filename="x", content_type=content_type, content=content
            )
    doc = services.kyc.upload(
        customer,
        kind="passport",
        filename="../../etc/passwd.pdf",
        content_type="application/pdf",
        content=PASSPORT_PDF,
    )
    assert "/" not in doc.filename
    assert services.kyc.submit(customer).status == KycStatus.IN_REVIEW
    with pytest.raises(ConflictError, match="in_review"):
        services.kyc.submit_profile(customer, identity("Someone Else"))
    # A sealed document opens only in its own row: moved to another, AES-GCM refuses it.
    officer = _user(services, Role.COMPLIANCE)
    _, content = services.kyc.document(officer, customer.user_id, doc.id)
    assert content == PASSPORT_PDF
    other = _user(services)
    services.kyc.submit_profile(other, identity("Otto Other"))
    copy = services.kyc.upload(
        other, kind="passport", filename="o.pdf", content_type="application/pdf", content=b"%PDF-other"
    )
    with services.bank.sessions.begin() as session:
        original = session.get(KycDocument, doc.id)
        moved = session.get(KycDocument, copy.id)
        assert original is not None
        assert moved is not None
        moved.sealed, moved.nonce, moved.sha256 = original.sealed, original.nonce, original.sha256
    with pytest.raises(SigningError, match="does not open"):
        services.kyc.document(officer, other.user_id, copy.id)


def test_a_corporate_customers_owners_are_screened_and_a_hit_blocks_verification(services: Services) -> None:
    services.sanctions.load(SANCTIONS / "sdn.xml", "ofac", actor="test")
    officer = _user(services, Role.COMPLIANCE)
    company = _user(services)
    with pytest.raises(InvalidRequestError, match="beneficial owners"):
        services.kyc.submit_profile(
            company,
            {
                **identity("Acme"),
                "kind": "corporate",
                "company_name": "Acme AG",
                "registration_number": "CHE-1",
            },
        )
    services.kyc.submit_profile(
        company,
        {
            "kind": "corporate",
            "legal_name": "Acme Trading AG",
            "company_name": "Acme Trading AG",
            "registration_number": "CHE-123.456.789",
            "residence_country": "CH",
            "address": "Seestrasse 1, 8002 Zurich",
            "expected_activity": "high",
            "beneficial_owners": [
                {"name": "Anna Ackermann", "nationality": "CH", "ownership_percent": 60},
                {"name": "Иван Петрович Соколов", "ownership_percent": 40},
            ],
        },
    )
    services.kyc.upload(
        company,
        kind="company_registration",
        filename="hr.pdf",
        content_type="application/pdf",
        content=PASSPORT_PDF,
    )
    services.kyc.submit(company)
    case = services.kyc.case(officer, company.user_id)
    assert case.risk_rating == "high"
    assert case.risk_reasons is not None
    assert any("screening" in r for r in case.risk_reasons)
    assert case.hits is not None
    (hit,) = case.hits
    assert (hit.subject.split(":")[0], hit.entry_id) == ("owner", "90001")
    with pytest.raises(ConflictError, match="open screening hit"):
        services.onboarding.decide(officer, company.user_id, verified=True)
    services.kyc.decide_hit(officer, hit.id, confirmed=False, reason="namesake: different birth date")
    services.onboarding.decide(officer, company.user_id, verified=True, tier="institutional")
    with services.bank.readers() as session:
        user = session.get(User, company.user_id)
        assert user is not None
        assert (user.kyc_status, user.tier) == (KycStatus.VERIFIED, "institutional")
        assert user.kyc_expires_at is not None


@pytest.mark.parametrize(
    ("changes", "rating"),
    [
        ({}, "low"),
        ({"expected_activity": "high"}, "medium"),
        ({"residence_country": "NG"}, "high"),  # high-risk (2 points)
        ({"nationality": "KP"}, "high"),  # prohibited
    ],
)
def test_the_risk_rating_follows_the_documented_rules(
    services: Services, changes: dict[str, str], rating: str
) -> None:
    customer = _user(services)
    services.kyc.submit_profile(customer, identity("Rita Rating", **changes))
    services.kyc.upload(
        customer, kind="passport", filename="p.pdf", content_type="application/pdf", content=PASSPORT_PDF
    )
    services.kyc.submit(customer)
    assert services.kyc.case(_user(services, Role.COMPLIANCE), customer.user_id).risk_rating == rating


def test_a_new_list_version_rescreens_customers_and_payees(services: Services) -> None:
    """Names on the UN sample list only, given before that list is loaded: nothing then; a hit each
    once the list is loaded and the worker has run, and nothing more when it runs again."""
    officer = _user(services, Role.COMPLIANCE)
    customer = _user(services)
    services.kyc.submit_profile(
        customer,
        identity("Abdul Ghafoor Mansoori", birth_date="1970-05-01", nationality="AF", residence_country="AF"),
    )
    services.kyc.upload(
        customer, kind="passport", filename="p.pdf", content_type="application/pdf", content=PASSPORT_PDF
    )
    services.kyc.submit(customer)
    services.accounts.add_payee(customer, "Noor Relief Trust", "0x" + "5a" * 20)
    services.kyc.rescreen_step()
    with services.bank.readers() as session:
        mine = select(ScreeningHit.subject).where(ScreeningHit.user_id == customer.user_id)
        assert list(session.scalars(mine)) == []
    services.sanctions.load(SANCTIONS / "un.xml", "un", actor="test")
    assert services.kyc.rescreen_step() >= 2
    with services.bank.readers() as session:
        subjects = set(session.scalars(mine))
    assert f"user:{customer.user_id}" in subjects
    assert any(s.startswith("payee:") for s in subjects)
    assert services.kyc.rescreen_step() == 0  # no new version: nothing screened again
    assert any(h.user_id == customer.user_id for h in services.kyc.hits(officer))


def test_verification_expires_with_a_notice_first_and_the_chain_follows(services: Services) -> None:
    officer = _user(services, Role.COMPLIANCE)
    customer = _user(services)
    submit_case(services, customer.user_id, "Eva Expiring")
    services.onboarding.decide(officer, customer.user_id, verified=True)
    account = services.accounts.open(customer, "USD")
    registry = services.bank.registry.functions
    wait_for(lambda: registry.isAllowed(account.address).call())
    with services.bank.readers() as session:
        user = session.get(User, customer.user_id)
        assert user is not None
        expires = user.kyc_expires_at
    assert expires is not None
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    _, _, on_chain, _ = registry.statusOf(account.address).call()
    assert on_chain == int(expires.timestamp())
    clock = services.kyc.clock
    try:
        services.kyc.clock = lambda: expires - timedelta(days=10)
        services.kyc.expiry_step()
        services.kyc.expiry_step()  # told once
        services.kyc.clock = lambda: expires + timedelta(seconds=1)
        services.kyc.expiry_step()
    finally:
        services.kyc.clock = clock
    with services.bank.readers() as session:
        kinds = list(
            session.scalars(select(Event.type).where(Event.user_id == customer.user_id).order_by(Event.id))
        )
        status = session.scalar(select(User.kyc_status).where(User.id == customer.user_id))
    assert [k for k in kinds if k.startswith("kyc.")] == ["kyc.expiring", "kyc.expired"]
    assert status == KycStatus.EXPIRED
    wait_for(lambda: not registry.isAllowed(account.address).call())
    # Expired customers submit again.
    services.kyc.submit_profile(customer, identity("Eva Expiring"))
    with services.bank.readers() as session:
        assert session.scalars(select(KycDocument).where(KycDocument.user_id == customer.user_id)).first()
