"""Engines and sessions. SQLite gets WAL, foreign keys and a busy timeout so that several processes can
share one file; PostgreSQL goes through psycopg 3."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (`sqlite:///path` or `postgresql+psycopg://...`), tuned for tdw."""
    if url.startswith("sqlite"):
        # Enough pooled connections for the API's worker threads, so requests do not queue for one.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 40)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite defers BEGIN and a deferred transaction that later writes gets SQLITE_BUSY at once when
        # another process holds the write lock (the busy timeout does not apply to lock upgrades in WAL
        # mode). BEGIN IMMEDIATE takes the write lock up front, waiting up to the timeout: writers from
        # several processes serialise instead of failing.
        # Read-only sessions (`readonly()`) begin deferred instead: in WAL mode readers never wait for the
        # writer, and they must not queue behind it for the write lock they will never use.
        # Within one process, writers queue on a lock: SQLite's busy handler polls with sleeps of up to
        # 100 ms, which under load turned a 2 ms wait for the write lock into a 100 ms one.
        _sqlite_transactions(engine)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_transactions(engine: Engine) -> None:
    """BEGIN IMMEDIATE for writers, behind an in-process lock; deferred BEGIN for read-only sessions."""
    writer = threading.Lock()

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("tdw_readonly"):
            conn.exec_driver_sql("BEGIN")
            return
        writer.acquire()
        conn.info["holds_writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            release(conn)
            raise

    def release(conn: Any) -> None:
        if conn.info.pop("holds_writer", False):
            writer.release()

    event.listen(engine, "begin", begin)
    # Released as the COMMIT or ROLLBACK is issued; the next writer's BEGIN IMMEDIATE then waits at
    # most for that statement.
    event.listen(engine, "commit", release)
    event.listen(engine, "rollback", release)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def readonly(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on the same engine for reads only. On SQLite they begin deferred, so they neither wait
    for nor block the writer; a write in one of them may fail with "database is locked"."""
    bind = sessions.kw["bind"]
    return sessionmaker(bind.execution_options(tdw_readonly=True), expire_on_commit=False)
