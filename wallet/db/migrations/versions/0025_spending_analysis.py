"""Spending analysis: customers' and the bank's rules that file payments under categories, monthly
budgets, and each budget crossed in a month, told once (`wallet.retail.spending`).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "budgets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_budgets_amount")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_budgets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("user_id", "category", "currency", name="uq_budgets_user_category_currency"),
    )
    op.create_table(
        "spending_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("match IN ('address', 'keyword')", name=op.f("ck_spending_rules_match")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_spending_rules_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spending_rules")),
    )
    with op.batch_alter_table("spending_rules", schema=None) as batch_op:
        batch_op.create_index("ix_spending_rules_user", ["user_id"], unique=False)

    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("budget_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_alerts_budget_id_budgets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_alerts")),
        sa.UniqueConstraint("budget_id", "month", name="uq_budget_alerts_budget_month"),
    )


def downgrade() -> None:

    op.drop_table("budget_alerts")
    with op.batch_alter_table("spending_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_spending_rules_user")

    op.drop_table("spending_rules")
    op.drop_table("budgets")
