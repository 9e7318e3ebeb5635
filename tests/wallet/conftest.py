"""Fixtures the custody-layer tests share: the bank's services on anvil and SQLite, called directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api_bank import build_api_bank
from wallet.bank.runtime import Services
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode


@pytest.fixture(scope="module")
def services(
    anvil: AnvilNode, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """One bank per test module: no HTTP between the test and the services."""
    folder = tmp_path_factory.mktemp("services")
    for bank in build_api_bank(f"sqlite:///{folder / 'tdw.db'}", anvil, compilation, folder):
        yield bank.services


@pytest.fixture
def fresh_services(
    anvil: AnvilNode, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """A bank of its own, for a test that tampers with its database."""
    folder = tmp_path_factory.mktemp("services-fresh")
    for bank in build_api_bank(f"sqlite:///{folder / 'tdw.db'}", anvil, compilation, folder):
        yield bank.services
