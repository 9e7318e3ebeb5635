"""E-invoices: what corporate clients invoiced, with the reference their payments carry
(`wallet.retail.invoices`).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("buyer_name", sa.String(length=140), nullable=False),
        sa.Column("buyer_country", sa.String(length=2), nullable=False),
        sa.Column("buyer_id", sa.String(length=32), nullable=True),
        sa.Column("seller_country", sa.String(length=2), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total = net + tax AND net >= 0 AND tax >= 0", name=op.f("ck_invoices_totals")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["wallet_accounts.id"], name=op.f("fk_invoices_account_id_wallet_accounts")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_invoices_buyer_id_users")),
        sa.ForeignKeyConstraint(["seller_id"], ["users.id"], name=op.f("fk_invoices_seller_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("account_id", "reference", name="uq_invoices_account_reference"),
        sa.UniqueConstraint("seller_id", "number", name="uq_invoices_seller_number"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_buyer", ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_seller_id"), ["seller_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_seller_id"))
        batch_op.drop_index("ix_invoices_buyer")

    op.drop_table("invoices")
