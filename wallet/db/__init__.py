"""The custody layer's database: SQLite (WAL) embedded, PostgreSQL in production, Alembic migrations."""

from wallet.db.engine import make_engine, readonly, session_factory
from wallet.db.migrate import upgrade

__all__ = ["make_engine", "readonly", "session_factory", "upgrade"]
