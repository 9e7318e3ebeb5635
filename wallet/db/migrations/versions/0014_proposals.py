"""maker-checker proposals, and the compliance acts bank operations now include

- `proposals`: a powerful act proposed by one user and decided by another (the database refuses a
  decision by the proposer too).
- `bank_operations.kind`: freeze, unfreeze, partial freeze, forced transfer, account recovery, KYC
  revocation, block and unblock.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OLD_KINDS = ("mint", "burn", "grant_role", "revoke_role", "set_allowance")
NEW_KINDS = (
    *OLD_KINDS,
    "freeze",
    "unfreeze",
    "partial_freeze",
    "forced_transfer",
    "recover_account",
    "revoke_kyc",
    "block",
    "unblock",
)
ACTIONS = (
    "freeze",
    "unfreeze",
    "partial_freeze",
    "forced_transfer",
    "recover_account",
    "revoke_kyc",
    "block",
    "unblock",
    "grant_role",
    "revoke_role",
    "set_allowance",
    "mint",
    "burn",
    "policy_change",
)
STATES = ("pending", "executed", "rejected", "withdrawn", "expired")
ROLES = ("customer", "operator", "compliance", "admin")


def _kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("bank_operations") as batch_op:
        batch_op.drop_constraint(op.f("ck_bank_operations_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN {kinds}")


def upgrade() -> None:
    _kinds(NEW_KINDS)
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("approver_role", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("operation_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"action IN {ACTIONS}", name=op.f("ck_proposals_action")),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_proposals_state")),
        sa.CheckConstraint(f"approver_role IN {ROLES}", name=op.f("ck_proposals_approver_role")),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by", name=op.f("ck_proposals_four_eyes")
        ),
        sa.ForeignKeyConstraint(["proposed_by"], ["users.id"], name=op.f("fk_proposals_proposed_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_proposals_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_proposals_idempotency_key")),
    )
    op.create_index("ix_proposals_open", "proposals", ["state", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_proposals_open", table_name="proposals")
    op.drop_table("proposals")
    _kinds(OLD_KINDS)
