"""Alembic environment: the engine comes from `wallet.db.migrate` through the config's attributes."""

from alembic import context

from wallet.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
