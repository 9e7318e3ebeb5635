"""Compliance part 2: monitoring alerts, cases and their files, travel-rule records; indexes for inspection

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=42), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=32), nullable=True),
        sa.Column("disposition", sa.String(length=16), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(state = 'closed') = (disposition IS NOT NULL)", name=op.f("ck_cases_closed_disposed")
        ),
        sa.CheckConstraint(
            "disposition IS NULL OR disposition IN ('false_positive', 'risk_accepted', 'reported')",
            name=op.f("ck_cases_disposition"),
        ),
        sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f("ck_cases_severity")),
        sa.CheckConstraint(
            "state IN ('open', 'investigating', 'escalated', 'closed')", name=op.f("ck_cases_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_queue", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_cases_subject", ["subject", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_user_id"), ["user_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("typology", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=42), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("explanation", sa.String(length=1000), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("movements", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f("ck_alerts_severity")),
        sa.CheckConstraint(
            "typology IN ('large_transfer', 'structuring', 'pass_through', 'fan_in', 'fan_out', "
            "'round_amounts', 'dormant_reactivated', 'high_risk_jurisdiction', 'blocked_proximity', "
            "'anomaly')",
            name=op.f("ck_alerts_typology"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_alerts_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name="uq_alerts_key"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_alerts_subject", ["subject", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "case_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=60), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_items_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_items")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("case_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_items_case_id"), ["case_id"], unique=False)

    op.create_table(
        "travel_rule_records",
        sa.Column("transfer_id", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_requests.id"],
            name=op.f("fk_travel_rule_records_transfer_id_transfer_requests"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_travel_rule_records")),
    )
    op.create_index("ix_ledger_accounts_by_holder", "ledger_accounts", ["holder", "chain_id"])
    op.create_index("ix_journal_entries_tx_hash", "journal_entries", ["tx_hash"])


def downgrade() -> None:
    op.drop_index("ix_journal_entries_tx_hash", table_name="journal_entries")
    op.drop_index("ix_ledger_accounts_by_holder", table_name="ledger_accounts")
    op.drop_table("travel_rule_records")
    with op.batch_alter_table("case_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_items_case_id"))

    op.drop_table("case_items")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_user_id"))
        batch_op.drop_index("ix_alerts_subject")
        batch_op.drop_index(batch_op.f("ix_alerts_case_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_user_id"))
        batch_op.drop_index("ix_cases_subject")
        batch_op.drop_index("ix_cases_queue")

    op.drop_table("cases")
