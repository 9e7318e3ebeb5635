"""Engines and sessions. SQLite gets WAL, foreign keys and a busy timeout so that several processes can
share one file; PostgreSQL goes through psycopg 3."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (`sqlite:///path` or `postgresql+psycopg://...`), tuned for tdw."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite defers BEGIN and a deferred transaction that later writes gets SQLITE_BUSY at once when
        # another process holds the write lock (the busy timeout does not apply to lock upgrades in WAL
        # mode). BEGIN IMMEDIATE takes the write lock up front, waiting up to the timeout: writers from
        # several processes serialise instead of failing.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
