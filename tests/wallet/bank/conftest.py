"""Callers of the bank's services (the `services` fixture is tests/wallet/conftest.py's)."""

from __future__ import annotations

import uuid

from tests.support.api_bank import PASSWORD
from tests.support.kyc import verify
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.vocabulary import Role


def principal(services: Services, role: Role, *, verified: bool = True) -> Principal:
    """A new user of `role`, as the services see a caller; a customer is verified by compliance unless
    `verified` is False."""
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    enrolment = services.users.create(username, PASSWORD, role)
    if role == Role.CUSTOMER and verified:
        verify(services, principal(services, Role.COMPLIANCE), enrolment.user_id)
    return Principal(enrolment.user_id, username, role)
