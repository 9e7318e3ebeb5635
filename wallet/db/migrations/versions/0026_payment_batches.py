"""Batch payments: pain.001 and CSV files customers upload (once per message id) and each payment
of them with its transfer (`wallet.retail.batches`).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "payment_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_payment_batches_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_batches")),
        sa.UniqueConstraint("owner_id", "message_id", name="uq_payment_batches_owner_message"),
    )
    op.create_table(
        "payment_batch_lines",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("payment_info_id", sa.String(length=35), nullable=False),
        sa.Column("creditor_name", sa.String(length=140), nullable=True),
        sa.Column("from_account", sa.String(length=32), nullable=False),
        sa.Column("to_account", sa.String(length=64), nullable=True),
        sa.Column("to_address", sa.String(length=42), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column("transfer_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_batch_lines_amount")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["payment_batches.id"], name=op.f("fk_payment_batch_lines_batch_id_payment_batches")
        ),
        sa.ForeignKeyConstraint(
            ["from_account"],
            ["wallet_accounts.id"],
            name=op.f("fk_payment_batch_lines_from_account_wallet_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_requests.id"],
            name=op.f("fk_payment_batch_lines_transfer_id_transfer_requests"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "number", name=op.f("pk_payment_batch_lines")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_payment_batch_lines_transfer_id")),
    )


def downgrade() -> None:

    op.drop_table("payment_batch_lines")
    op.drop_table("payment_batches")
