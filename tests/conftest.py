"""Shared fixtures: the compiled contracts, a real anvil node, an in-process eth-tester chain, a funded
signer, fresh SQLite and PostgreSQL databases, and a real SoftHSM2 token. Nothing here is mocked."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from web3 import Web3

from tests.support.anvil import anvil_fixture
from wallet.chain.compiler import Compilation, compile_contracts
from wallet.chain.inprocess import eth_tester
from wallet.chain.node import AnvilNode, fund_from_dev_account, http_web3
from wallet.db import make_engine, upgrade
from wallet.keys import PrivateKeySigner
from wallet.keys.pkcs11 import Pkcs11Token
from wallet.settings import PROJECT_ROOT, Settings


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def compilation(project_root: Path) -> Compilation:
    return compile_contracts(project_root, project_root / ".cache")


anvil = anvil_fixture("session", "The session's shared anvil: tests on it leave its chain as it goes.")


@pytest.fixture(scope="session")
def anvil_w3(anvil: AnvilNode) -> Web3:
    return http_web3(anvil.url)


@pytest.fixture(params=["eth_tester", "anvil"])
def w3(request: pytest.FixtureRequest) -> Web3:
    """Each test that takes `w3` runs on in-process py-evm and on anvil."""
    if request.param == "eth_tester":
        return eth_tester()
    anvil_w3: Web3 = request.getfixturevalue("anvil_w3")
    return anvil_w3


@pytest.fixture
def funded_signer(w3: Web3) -> PrivateKeySigner:
    signer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, signer.address, 10**21)
    return signer


# ------------------------------------------------------------------------------------------ databases ---

POSTGRES_ADMIN_URL = os.environ.get(
    "TDW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database created for the caller alone, dropped afterwards; yields its URL."""
    name = f"tdw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def new_postgres_database() -> Any:
    """`postgres_database`, for fixtures in other folders (conftest modules cannot import each other)."""
    return postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL database created for this test alone."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tdw.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to the newest schema."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


# --------------------------------------------------------------------------------------------- the HSM ---

HSM_PIN = "2718"


@pytest.fixture(scope="session")
def hsm_token(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pkcs11Token]:
    """A fresh SoftHSM2 token made by the project's own script (which installs SoftHSM2 if missing)."""
    folder = tmp_path_factory.mktemp("softhsm")
    out = subprocess.run(
        [str(project_root / "scripts" / "softhsm-token"), str(folder), "tdw-test", HSM_PIN],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.environ["SOFTHSM2_CONF"] = out.strip().split("=", 1)[1]
    token = Pkcs11Token(Settings().pkcs11_module, "tdw-test", SecretStr(HSM_PIN))
    yield token
    token.close()
