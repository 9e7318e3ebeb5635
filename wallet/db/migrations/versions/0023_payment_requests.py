"""Payment requests (QR and payment links) and the payments and refunds made for them
(`wallet.retail.requests`).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.Column("single_use", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'taken', 'cancelled')", name=op.f("ck_payment_requests_state")),
        sa.CheckConstraint("amount IS NULL OR amount > 0", name=op.f("ck_payment_requests_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["wallet_accounts.id"],
            name=op.f("fk_payment_requests_account_id_wallet_accounts"),
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_payment_requests_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_requests")),
        sa.UniqueConstraint("account_id", "reference", name="uq_payment_requests_account_reference"),
    )
    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.create_index("ix_payment_requests_owner", ["owner_id", "created_at"], unique=False)

    op.create_table(
        "payment_request_payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("payer_id", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refund_of", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["users.id"], name=op.f("fk_payment_request_payments_payer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["refund_of"],
            ["payment_request_payments.id"],
            name=op.f("fk_payment_request_payments_refund_of_payment_request_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["payment_requests.id"],
            name=op.f("fk_payment_request_payments_request_id_payment_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_requests.id"],
            name=op.f("fk_payment_request_payments_transfer_id_transfer_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_request_payments")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_payment_request_payments_transfer_id")),
    )
    with op.batch_alter_table("payment_request_payments", schema=None) as batch_op:
        batch_op.create_index("ix_payment_request_payments_request_id", ["request_id"], unique=False)
        batch_op.create_index(
            "uq_payment_request_payments_payer",
            ["request_id", "payer_id"],
            unique=True,
            sqlite_where=sa.text("refund_of IS NULL"),
            postgresql_where=sa.text("refund_of IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_request_payments", schema=None) as batch_op:
        batch_op.drop_index("uq_payment_request_payments_payer")
        batch_op.drop_index("ix_payment_request_payments_request_id")
    op.drop_table("payment_request_payments")
    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_requests_owner")
    op.drop_table("payment_requests")
