"""reconciliations: each run of the reconciliation worker, for `/readyz` and operators

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("at_block", sa.BigInteger(), nullable=False),
        sa.Column("balances_at", sa.BigInteger(), nullable=True),
        sa.Column("head_block", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.JSON(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("difference_count", sa.Integer(), nullable=False),
        sa.Column("incident_id", ID, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_reconciliations_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliations")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_reconciliations_chain_id"), "reconciliations", ["chain_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reconciliations_chain_id"), table_name="reconciliations")
    op.drop_table("reconciliations")
