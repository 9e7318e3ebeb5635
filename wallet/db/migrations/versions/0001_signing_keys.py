"""signing keys

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("label", sa.String(200), primary_key=True),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("backend", sa.String(10), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("wrap_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("backend IN ('local', 'pkcs11')", name="ck_signing_keys_backend"),
        sa.CheckConstraint(
            "(backend = 'local' AND wrapped_key IS NOT NULL AND wrap_nonce IS NOT NULL"
            " AND kek_id IS NOT NULL) OR (backend = 'pkcs11' AND wrapped_key IS NULL)",
            name="ck_signing_keys_material",
        ),
        sa.UniqueConstraint("address", name="uq_signing_keys_address"),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
