"""Bill pay: billers, the bills customers saved, their payment schedules and each due payment, claimed
once per schedule and date (`wallet.retail.bills`).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "billers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("reference_pattern", sa.String(length=200), nullable=False),
        sa.Column("reference_hint", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["wallet_accounts.id"], name=op.f("fk_billers_account_id_wallet_accounts")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_billers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billers")),
        sa.UniqueConstraint("account_id", name=op.f("uq_billers_account_id")),
        sa.UniqueConstraint("name", name=op.f("uq_billers_name")),
    )
    op.create_table(
        "bills",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("biller_id", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("nickname", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["biller_id"], ["billers.id"], name=op.f("fk_bills_biller_id_billers")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bills_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("user_id", "biller_id", "reference", name="uq_bills_user_biller_reference"),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bills_user_id"), ["user_id"], unique=False)

    op.create_table(
        "bill_schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bill_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("from_account", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('once', 'monthly', 'weekly')", name=op.f("ck_bill_schedules_kind")),
        sa.CheckConstraint("state IN ('active', 'done', 'cancelled')", name=op.f("ck_bill_schedules_state")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_bill_schedules_amount")),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_bill_schedules_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["from_account"],
            ["wallet_accounts.id"],
            name=op.f("fk_bill_schedules_from_account_wallet_accounts"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bill_schedules_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_schedules")),
    )
    with op.batch_alter_table("bill_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_schedules_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index("ix_bill_schedules_due", ["state", "next_due"], unique=False)

    op.create_table(
        "bill_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('claimed', 'sent', 'retrying', 'failed', 'skipped')", name=op.f("ck_bill_runs_state")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["bill_schedules.id"], name=op.f("fk_bill_runs_schedule_id_bill_schedules")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfer_requests.id"], name=op.f("fk_bill_runs_transfer_id_transfer_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_runs")),
        sa.UniqueConstraint("schedule_id", "due_date", name="uq_bill_runs_schedule_due"),
    )
    with op.batch_alter_table("bill_runs", schema=None) as batch_op:
        batch_op.create_index("ix_bill_runs_open", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_bill_runs_schedule_id"), ["schedule_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("bill_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bill_runs_schedule_id"))
        batch_op.drop_index("ix_bill_runs_open")

    op.drop_table("bill_runs")
    with op.batch_alter_table("bill_schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_bill_schedules_due")
        batch_op.drop_index(batch_op.f("ix_bill_schedules_bill_id"))

    op.drop_table("bill_schedules")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bills_user_id"))

    op.drop_table("bills")
    op.drop_table("billers")
