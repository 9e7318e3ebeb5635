import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

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


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
