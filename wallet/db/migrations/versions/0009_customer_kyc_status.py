"""users: identity verification before anything is registered on chain

Sign-up used to make anyone a KYC-verified holder on chain as soon as they opened an account. Customers
now start `pending_kyc`, and their address is registered only when compliance verifies them. Users
that exist already had their addresses registered at sign-up: they are `verified`, so an upgrade locks
nobody out.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kyc_status", sa.String(length=16), nullable=False, server_default="pending_kyc")
        )
        batch_op.add_column(sa.Column("kyc_decided_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kyc_decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("kyc_reason", sa.String(length=500), nullable=True))
    op.execute("UPDATE users SET kyc_status = 'verified'")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_users_kyc_status"),
            "kyc_status IN ('pending_kyc', 'in_review', 'verified', 'rejected', 'expired')",
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_users_kyc_status"), type_="check")
        batch_op.drop_column("kyc_reason")
        batch_op.drop_column("kyc_decided_at")
        batch_op.drop_column("kyc_decided_by")
        batch_op.drop_column("kyc_status")
