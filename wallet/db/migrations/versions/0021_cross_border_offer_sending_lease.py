"""Cross-border offers: when their delivery was claimed, so that an offer whose sender died mid-send
is sent again once the claim is older than the lease.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cross_border_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cross_border_payments", schema=None) as batch_op:
        batch_op.drop_column("sending_since")
