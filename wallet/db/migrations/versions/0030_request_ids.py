"""The HTTP request ids (wallet.logs) a transfer request and an outbox row keep.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_ids", sa.JSON(), nullable=True))

    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_column("request_id")

    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.drop_column("request_ids")
