"""transfer requests: the transaction that executed an authorization when it was not our batch

A front-runner can copy a customer's authorization out of the relayer's pending batch and submit it
first. The money moves as signed, and our batch then reports `AuthorizationAlreadyUsed`: the request is
executed, by the front-runner's transaction, which these columns name.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("executed_tx_hash", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("executed_block", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_column("executed_block")
        batch_op.drop_column("executed_tx_hash")
