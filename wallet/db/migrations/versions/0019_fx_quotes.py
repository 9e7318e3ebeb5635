"""FX quotes: what a customer was quoted, at which rate and until when (`wallet.fx.quotes`).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fx_quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("sell_amount", sa.BigInteger(), nullable=False),
        sa.Column("buy_amount", sa.BigInteger(), nullable=False),
        sa.Column("mid_rate", sa.String(length=40), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("spread_bps", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("rates_source", sa.String(length=100), nullable=False),
        sa.Column("rates_as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'accepted', 'settled', 'failed')", name=op.f("ck_fx_quotes_state")
        ),
        sa.CheckConstraint("sell_amount > 0 AND buy_amount > 0", name=op.f("ck_fx_quotes_amounts")),
        sa.CheckConstraint("sell_currency <> buy_currency", name=op.f("ck_fx_quotes_pair")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_fx_quotes_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_quotes")),
    )
    with op.batch_alter_table("fx_quotes", schema=None) as batch_op:
        batch_op.create_index("ix_fx_quotes_user", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fx_quotes", schema=None) as batch_op:
        batch_op.drop_index("ix_fx_quotes_user")

    op.drop_table("fx_quotes")
