"""KYC onboarding data: identity profiles with their risk rating, beneficial owners, sealed documents

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_profiles",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("legal_name", sa.String(length=140), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=True),
        sa.Column("residence_country", sa.String(length=2), nullable=False),
        sa.Column("id_type", sa.String(length=16), nullable=True),
        sa.Column("id_number", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("expected_activity", sa.String(length=8), nullable=False),
        sa.Column("company_name", sa.String(length=140), nullable=True),
        sa.Column("registration_number", sa.String(length=64), nullable=True),
        sa.Column("risk_rating", sa.String(length=8), nullable=True),
        sa.Column("risk_reasons", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('individual', 'corporate')", name=op.f("ck_kyc_profiles_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kyc_profiles_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_kyc_profiles")),
    )
    op.create_table(
        "beneficial_owners",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=True),
        sa.Column("ownership_percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_beneficial_owners_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beneficial_owners")),
    )
    op.create_index(op.f("ix_beneficial_owners_user_id"), "beneficial_owners", ["user_id"])
    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kyc_documents_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_documents")),
    )
    op.create_index(op.f("ix_kyc_documents_user_id"), "kyc_documents", ["user_id"])
    op.add_column("users", sa.Column("kyc_notice_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("kyc_notice_at")
    op.drop_index(op.f("ix_kyc_documents_user_id"), table_name="kyc_documents")
    op.drop_table("kyc_documents")
    op.drop_index(op.f("ix_beneficial_owners_user_id"), table_name="beneficial_owners")
    op.drop_table("beneficial_owners")
    op.drop_table("kyc_profiles")
