"""refresh tokens: a family per login, so a replayed (stolen) token revokes every token of its login

RFC 6819 5.2.2.3 and the OAuth 2.0 Security BCP: a refresh token that is presented after it was used
means two parties hold it; the whole chain of tokens descended from that login is revoked. Tokens
issued before this migration are each a family of their own.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("family_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE refresh_tokens SET family_id = token_hash")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column("family_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family_id"), ["family_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_family_id"))
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("family_id")
