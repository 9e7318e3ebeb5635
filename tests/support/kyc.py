"""A customer's KYC case the short way, through the services (the API tests of onboarding go the long
way, over HTTP): identity data, a passport scan, submitted, then verified by an officer."""

from __future__ import annotations

from typing import Any

from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.vocabulary import Role

# A minimal PDF: what the upload checks is that the content is what its type says.
PASSPORT_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def identity(name: str = "Alex Example", **changes: Any) -> dict[str, Any]:
    """An individual's identity data."""
    return {
        "legal_name": name,
        "birth_date": "1985-06-15",
        "nationality": "CH",
        "residence_country": "CH",
        "id_type": "passport",
        "id_number": "X1234567",
        "address": "Bahnhofstrasse 1, 8001 Zurich",
        "expected_activity": "low",
        **changes,
    }


def submit_case(services: Services, user_id: str, name: str | None = None) -> Principal:
    """Gives the customer's identity and a passport and sends the case to review; returns the customer."""
    user = services.users.get(user_id)
    customer = Principal(user.id, user.username, Role.CUSTOMER)
    services.kyc.submit_profile(customer, identity(name or user.full_name or "Alex Example"))
    services.kyc.upload(
        customer,
        kind="passport",
        filename="passport.pdf",
        content_type="application/pdf",
        content=PASSPORT_PDF,
    )
    services.kyc.submit(customer)
    return customer


def verify(services: Services, officer: Principal, user_id: str, *, tier: str | None = None) -> None:
    """Submits the customer's case and verifies it."""
    submit_case(services, user_id)
    services.onboarding.decide(officer, user_id, verified=True, tier=tier)
