"""sanctions lists as loaded from their published files

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sanctions_lists",
        sa.Column("id", ID, nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("list IN ('ofac', 'eu', 'un')", name=op.f("ck_sanctions_lists_list")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_lists")),
    )
    op.create_table(
        "sanctions_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("birth_dates", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["sanctions_lists.id"], name=op.f("fk_sanctions_entries_list_id_sanctions_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_entries")),
    )
    op.create_index(op.f("ix_sanctions_entries_list_id"), "sanctions_entries", ["list_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sanctions_entries_list_id"), table_name="sanctions_entries")
    op.drop_table("sanctions_entries")
    op.drop_table("sanctions_lists")
