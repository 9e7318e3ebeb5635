"""The bank's services on anvil and SQLite, called directly: no HTTP between the test and wallet.bank."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.api_bank import PASSWORD, build_api_bank
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode
from wallet.vocabulary import Role


@pytest.fixture(scope="module")
def services(
    anvil: AnvilNode, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp("services")
    for bank in build_api_bank(f"sqlite:///{folder / 'tdw.db'}", anvil, compilation, folder):
        yield bank.services


def principal(services: Services, role: Role, *, verified: bool = True) -> Principal:
    """A new user of `role`, as the services see a caller; a customer is verified by compliance unless
    `verified` is False."""
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    enrolment = services.users.create(username, PASSWORD, role)
    if role == Role.CUSTOMER and verified:
        services.onboarding.decide(principal(services, Role.COMPLIANCE), enrolment.user_id, verified=True)
    return Principal(enrolment.user_id, username, role)
