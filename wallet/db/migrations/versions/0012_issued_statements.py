"""issued statements and customers' names

- `issued_statements`: the numbers and content hash of each statement of account issued for a closed
  period, so the same period asked again gives the same document, and a reorg that changed it gives a
  new version that says so.
- `users.full_name`: the name statements print for the account owner and for counterparties who are
  the bank's customers (never their login name).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "issued_statements",
        sa.Column("id", ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("electronic_number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("as_of_block", sa.BigInteger(), nullable=False),
        sa.Column("corrections", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_statements")),
        sa.UniqueConstraint(
            "chain_id", "token", "account", "electronic_number", name="uq_issued_statements_number"
        ),
    )
    op.create_index(
        "ix_issued_statements_period",
        "issued_statements",
        ["chain_id", "token", "account", "period_from", "period_to"],
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("full_name", sa.String(length=140), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("full_name")
    op.drop_index("ix_issued_statements_period", table_name="issued_statements")
    op.drop_table("issued_statements")
