"""outbox and transfer requests

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from wallet.db.models import Amount

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_txs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("value", Amount(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", Amount(), nullable=False),
        sa.Column("max_priority_fee_per_gas", Amount(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("attempt_hashes", sa.JSON(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("error_name", sa.String(length=100), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("broadcast_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('intent', 'failed') OR raw_tx IS NOT NULL",
            name=op.f("ck_chain_txs_raw_before_broadcast"),
        ),
        sa.CheckConstraint(
            "status IN ('intent', 'signed', 'broadcast', 'included', 'confirmed', 'final', 'failed')",
            name=op.f("ck_chain_txs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_txs")),
    )
    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_txs_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_chain_txs_live_nonce",
            ["chain_id", "sender", "nonce"],
            unique=True,
            sqlite_where=sa.text("status <> 'failed'"),
            postgresql_where=sa.text("status <> 'failed'"),
        )

    op.create_table(
        "relayer_nonces",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "address", name=op.f("pk_relayer_nonces")),
    )
    op.create_table(
        "transfer_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("value", Amount(), nullable=False),
        sa.Column("payment_reference", sa.LargeBinary(), nullable=False),
        sa.Column("valid_before", sa.BigInteger(), nullable=False),
        sa.Column("auth_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chain_tx_id", sa.String(length=32), nullable=True),
        sa.Column("error_name", sa.String(length=100), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'executed', 'failed')", name=op.f("ck_transfer_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["chain_tx_id"], ["chain_txs.id"], name=op.f("fk_transfer_requests_chain_tx_id_chain_txs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_requests")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_transfer_requests_idempotency_key")),
        sa.UniqueConstraint("payer", "auth_nonce", name="uq_transfer_requests_payer_nonce"),
    )
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_requests_chain_tx_id"), ["chain_tx_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfer_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_requests_status"))
        batch_op.drop_index(batch_op.f("ix_transfer_requests_chain_tx_id"))

    op.drop_table("transfer_requests")
    op.drop_table("relayer_nonces")
    with op.batch_alter_table("chain_txs", schema=None) as batch_op:
        batch_op.drop_index("uq_chain_txs_live_nonce")
        batch_op.drop_index(batch_op.f("ix_chain_txs_status"))

    op.drop_table("chain_txs")
