"""Atomic settlements the bank submits, and their legs (`wallet.tx.settlements`).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from wallet.db.models import Amount

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=True),
        sa.Column("quote_id", sa.String(length=32), nullable=True),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("settlement_hash", sa.LargeBinary(), nullable=False),
        sa.Column("ref", sa.LargeBinary(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chain_tx_id", sa.String(length=32), nullable=True),
        sa.Column("error_name", sa.String(length=100), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'settled', 'failed')", name=op.f("ck_settlements_status")
        ),
        sa.ForeignKeyConstraint(
            ["chain_tx_id"], ["chain_txs.id"], name=op.f("fk_settlements_chain_tx_id_chain_txs")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_settlements_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["fx_quotes.id"], name=op.f("fk_settlements_quote_id_fx_quotes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_settlements_idempotency_key")),
        sa.UniqueConstraint("quote_id", name=op.f("uq_settlements_quote_id")),
        sa.UniqueConstraint("settlement_hash", name=op.f("uq_settlements_settlement_hash")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_chain_tx_id"), ["chain_tx_id"], unique=False)
        batch_op.create_index("ix_settlements_owner", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_status"), ["status"], unique=False)

    op.create_table(
        "settlement_legs",
        sa.Column("settlement_id", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("value", Amount(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_legs_settlement_id_settlements"),
        ),
        sa.PrimaryKeyConstraint("settlement_id", "idx", name=op.f("pk_settlement_legs")),
    )
    with op.batch_alter_table("settlement_legs", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_legs_payer", ["token", "payer"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("settlement_legs", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_legs_payer")
    op.drop_table("settlement_legs")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_status"))
        batch_op.drop_index("ix_settlements_owner")
        batch_op.drop_index(batch_op.f("ix_settlements_chain_tx_id"))
    op.drop_table("settlements")
