"""Atomic settlements and their legs (`wallet.tx.settlements`); partner banks, their signature nonces,
our HTTP signing key, the quotes we give partners and the payments between banks (`wallet.partners`).

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
        "htlc_swaps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("hashlock", sa.LargeBinary(), nullable=False),
        sa.Column("first", sa.JSON(), nullable=False),
        sa.Column("second", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_htlc_swaps")),
    )
    with op.batch_alter_table("htlc_swaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_htlc_swaps_state"), ["state"], unique=False)
    op.create_table(
        "http_signing_keys",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_http_signing_keys")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("treasury", sa.String(length=42), nullable=False),
        sa.Column("max_payment", sa.JSON(), nullable=False),
        sa.Column("max_open", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("key_id", name=op.f("uq_partners_key_id")),
    )
    op.create_table(
        "partner_nonces",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_nonces_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", "nonce", name=op.f("pk_partner_nonces")),
    )
    with op.batch_alter_table("partner_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "partner_quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("sell_amount", sa.BigInteger(), nullable=False),
        sa.Column("buy_amount", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'accepted', 'settled', 'failed')", name=op.f("ck_partner_quotes_state")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_quotes_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_quotes")),
    )
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
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("error_name", sa.String(length=100), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('offered', 'pending', 'submitted', 'settled', 'failed')",
            name=op.f("ck_settlements_status"),
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
        "cross_border_payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("settlement_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("quote_id", sa.String(length=32), nullable=True),
        sa.Column("debit_currency", sa.String(length=3), nullable=False),
        sa.Column("debit_amount", sa.BigInteger(), nullable=False),
        sa.Column("interbank_currency", sa.String(length=3), nullable=False),
        sa.Column("interbank_amount", sa.BigInteger(), nullable=False),
        sa.Column("credit_currency", sa.String(length=3), nullable=False),
        sa.Column("credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("debtor", sa.JSON(), nullable=False),
        sa.Column("creditor", sa.JSON(), nullable=False),
        sa.Column("pacs008", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("notified", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "direction IN ('outgoing', 'incoming')", name=op.f("ck_cross_border_payments_direction")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["wallet_accounts.id"],
            name=op.f("fk_cross_border_payments_account_id_wallet_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_cross_border_payments_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_cross_border_payments_settlement_id_settlements"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cross_border_payments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cross_border_payments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_cross_border_payments_idempotency_key")),
        sa.UniqueConstraint("partner_id", "end_to_end_id", name="uq_cross_border_payments_partner_e2e"),
        sa.UniqueConstraint("settlement_id", name=op.f("uq_cross_border_payments_settlement_id")),
    )
    with op.batch_alter_table("cross_border_payments", schema=None) as batch_op:
        batch_op.create_index("ix_cross_border_payments_user", ["user_id", "created_at"], unique=False)

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
            ["settlement_id"], ["settlements.id"], name=op.f("fk_settlement_legs_settlement_id_settlements")
        ),
        sa.PrimaryKeyConstraint("settlement_id", "idx", name=op.f("pk_settlement_legs")),
    )
    with op.batch_alter_table("settlement_legs", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_legs_payer", ["token", "payer"], unique=False)

    with op.batch_alter_table("fx_quotes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("partner_quote_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("partner_token", sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column("interbank_amount", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("htlc_swaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_htlc_swaps_state"))
    op.drop_table("htlc_swaps")
    with op.batch_alter_table("fx_quotes", schema=None) as batch_op:
        batch_op.drop_column("interbank_amount")
        batch_op.drop_column("partner_token")
        batch_op.drop_column("partner_quote_id")
        batch_op.drop_column("partner_id")

    with op.batch_alter_table("settlement_legs", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_legs_payer")

    op.drop_table("settlement_legs")
    with op.batch_alter_table("cross_border_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_cross_border_payments_user")

    op.drop_table("cross_border_payments")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_status"))
        batch_op.drop_index("ix_settlements_owner")
        batch_op.drop_index(batch_op.f("ix_settlements_chain_tx_id"))

    op.drop_table("settlements")
    op.drop_table("partner_quotes")
    with op.batch_alter_table("partner_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_nonces_seen_at"))

    op.drop_table("partner_nonces")
    op.drop_table("partners")
    op.drop_table("http_signing_keys")
