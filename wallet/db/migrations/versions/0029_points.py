"""Loyalty points: the rules that earn them and their double-entry journal in PTS
(`wallet.retail.points`).

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "points_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("points_per_unit", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points_per_unit > 0", name=op.f("ck_points_rules_points")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_rules")),
    )
    op.create_table(
        "points_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("debit", sa.String(length=64), nullable=False),
        sa.Column("credit", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=True),
        sa.Column("operation_id", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('earn', 'redeem', 'expire')", name=op.f("ck_points_entries_kind")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_points_entries_amount")),
        sa.CheckConstraint("debit <> credit", name=op.f("ck_points_entries_accounts")),
        sa.CheckConstraint(
            "remaining IS NULL OR (remaining >= 0 AND remaining <= amount)",
            name=op.f("ck_points_entries_remaining"),
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["bank_operations.id"],
            name=op.f("fk_points_entries_operation_id_bank_operations"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["points_rules.id"], name=op.f("fk_points_entries_rule_id_points_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_entries")),
        sa.UniqueConstraint("source", name=op.f("uq_points_entries_source")),
    )
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.create_index("ix_points_entries_credit", ["credit", "kind"], unique=False)
        batch_op.create_index("ix_points_entries_debit", ["debit"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_points_entries_debit")
        batch_op.drop_index("ix_points_entries_credit")

    op.drop_table("points_entries")
    op.drop_table("points_rules")
