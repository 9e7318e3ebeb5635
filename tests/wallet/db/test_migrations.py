from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

from wallet.bank.events import unnotified_transfers
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.migrate import downgrade
from wallet.db.models import SigningKey


def test_upgrade_creates_the_schema_and_downgrade_removes_it(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert "signing_keys" in inspect(engine).get_table_names()
    upgrade(engine)  # a second upgrade is a no-op
    downgrade(engine, "base")
    assert "signing_keys" not in inspect(engine).get_table_names()
    engine.dispose()


def test_the_database_refuses_a_local_key_without_wrapped_material(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(SigningKey(label="k", address="0x" + "11" * 20, backend="local"))


def test_the_database_refuses_an_hsm_key_with_key_material(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(SigningKey(label="k", address="0x" + "11" * 20, backend="pkcs11", wrapped_key=b"x"))


def test_the_database_refuses_an_unknown_backend(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(SigningKey(label="k", address="0x" + "11" * 20, backend="cloud"))


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_the_event_pumps_query_is_served_by_the_partial_index(engine: Engine) -> None:
    """The pump asks for unpublished transfer states several times a second; on either database that
    must be an index scan over open transfers, not a scan of every transfer ever made."""
    query = unnotified_transfers(500)
    compiled = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table would be scanned anyway
            plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN " + compiled))
    assert "ix_transfer_requests_unnotified" in plan, plan
