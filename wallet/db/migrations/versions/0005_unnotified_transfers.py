"""transfer requests: a covering partial index of those whose last state is not yet published

The event pump looks for transfers whose state may have moved since its last event. With only an
index on notified_state (useless for NOT IN), each pass scanned every transfer ever made.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from wallet.db.models import UNNOTIFIED_COLUMNS, UNNOTIFIED_TRANSFERS

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_requests_notified_state"))
    op.create_index(
        "ix_transfer_requests_unnotified",
        "transfer_requests",
        list(UNNOTIFIED_COLUMNS),
        unique=False,
        sqlite_where=sa.text(UNNOTIFIED_TRANSFERS),
        postgresql_where=sa.text(UNNOTIFIED_TRANSFERS),
    )


def downgrade() -> None:
    op.drop_index("ix_transfer_requests_unnotified", table_name="transfer_requests")
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_requests_notified_state"), ["notified_state"], unique=False
        )
