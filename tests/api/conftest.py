"""Fixtures for the API tests: one bank per module and database (deploying is the slow part); each test
makes its own users, so tests do not depend on each other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_bank import ApiBank, User, build_api_bank
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bank(
    request: pytest.FixtureRequest,
    anvil: AnvilNode,
    compilation: Compilation,
    tmp_path_factory: pytest.TempPathFactory,
    new_postgres_database: Any,
) -> Iterator[ApiBank]:
    """A bank with its API, on SQLite or on PostgreSQL."""
    folder = tmp_path_factory.mktemp("api-bank")
    if request.param == "sqlite":
        yield from build_api_bank(f"sqlite:///{folder / 'tdw.db'}", anvil, compilation, folder)
        return
    with new_postgres_database() as url:
        yield from build_api_bank(url, anvil, compilation, folder)


@pytest.fixture(scope="module")
def operator(bank: ApiBank) -> User:
    return bank.signup("operator")


@pytest.fixture(scope="module")
def admin(bank: ApiBank) -> User:
    return bank.signup("admin")


@pytest.fixture(scope="module")
def compliance(bank: ApiBank) -> User:
    return bank.signup("compliance")


@pytest.fixture
def customer(bank: ApiBank) -> User:
    return bank.signup("customer")


@pytest.fixture
def funded(bank: ApiBank, operator: User) -> tuple[User, dict[str, Any]]:
    """A customer with a USD account holding 5000.00."""
    user = bank.signup("customer")
    account = bank.open_account(user)
    bank.mint(operator, account, "5000.00")
    bank.wait_balance(user, account, "5000.00")
    return user, account
