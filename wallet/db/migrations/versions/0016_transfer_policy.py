"""the transfer policy: its versions, held transfers, screening hits, customer tiers, payee countries

- `policies`: the versioned policy document; version 1 is the default policy of the code installing
  this migration (`wallet.compliance.policy.DEFAULT_POLICY`).
- `transfer_requests`: a `held` status, the policy's decision, and a compliance officer's review.
- `screening_hits`: sanctions matches of customers, payees and transfer counterparties.
- `users.tier` and `users.kyc_expires_at`, `payees.country`; `proposals.action` gains `release_transfer`.

Revision ID: 0016
Revises: 0015
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from wallet.compliance.policy import DEFAULT_POLICY, Policy, digest

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATUSES = ("pending", "queued", "executed", "failed")
NEW_STATUSES = ("held", *OLD_STATUSES)
OLD_ACTIONS = (
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
NEW_ACTIONS = (*OLD_ACTIONS, "release_transfer")
# The event pump's partial index (0005), which SQLite's table rebuild would lose.
UNNOTIFIED = "(notified_state IS NULL OR notified_state NOT IN ('final', 'failed'))"
UNNOTIFIED_COLUMNS = ["id", "status", "notified_state", "chain_tx_id"]


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("proposal_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policies")),
    )
    document = Policy.compile(1, DEFAULT_POLICY).normalized()
    policies = sa.table(
        "policies",
        sa.column("version", sa.Integer()),
        sa.column("document", sa.JSON()),
        sa.column("sha256", sa.String()),
        sa.column("created_by", sa.String()),
        sa.column("proposal_id", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        policies,
        [
            {
                "version": 1,
                "document": document,
                "sha256": digest(document),
                "created_by": "system",
                "proposal_id": None,
                "created_at": datetime.now(UTC),
            }
        ],
    )
    op.create_table(
        "screening_hits",
        sa.Column("id", ID, nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("list_name", sa.String(length=8), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'cleared', 'confirmed')", name=op.f("ck_screening_hits_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_hits")),
    )
    op.create_index("ix_screening_hits_subject", "screening_hits", ["subject", "state"])
    op.create_index(op.f("ix_screening_hits_user_id"), "screening_hits", ["user_id"])
    op.add_column("users", sa.Column("tier", sa.String(length=16), server_default="standard", nullable=False))
    op.add_column("users", sa.Column("kyc_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("payees", sa.Column("country", sa.String(length=2), nullable=True))
    _statuses(NEW_STATUSES, add=True)
    with op.batch_alter_table("proposals") as batch_op:
        batch_op.drop_constraint(op.f("ck_proposals_action"), type_="check")
        batch_op.create_check_constraint("action", f"action IN {NEW_ACTIONS}")


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch_op:
        batch_op.drop_constraint(op.f("ck_proposals_action"), type_="check")
        batch_op.create_check_constraint("action", f"action IN {OLD_ACTIONS}")
    op.execute("UPDATE transfer_requests SET status = 'failed' WHERE status = 'held'")
    _statuses(OLD_STATUSES, add=False)
    with op.batch_alter_table("payees") as batch_op:
        batch_op.drop_column("country")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("kyc_expires_at")
        batch_op.drop_column("tier")
    op.drop_index(op.f("ix_screening_hits_user_id"), table_name="screening_hits")
    op.drop_index("ix_screening_hits_subject", table_name="screening_hits")
    op.drop_table("screening_hits")
    op.drop_table("policies")


def _statuses(statuses: tuple[str, ...], *, add: bool) -> None:
    op.drop_index("ix_transfer_requests_unnotified", table_name="transfer_requests")
    with op.batch_alter_table("transfer_requests") as batch_op:
        batch_op.drop_constraint(op.f("ck_transfer_requests_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN {statuses}")
        if add:
            batch_op.add_column(sa.Column("policy", sa.JSON(), nullable=True))
            batch_op.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("review_reason", sa.String(length=500), nullable=True))
        else:
            for column in ("review_reason", "reviewed_at", "reviewed_by", "policy"):
                batch_op.drop_column(column)
    op.create_index(
        "ix_transfer_requests_unnotified",
        "transfer_requests",
        UNNOTIFIED_COLUMNS,
        sqlite_where=sa.text(UNNOTIFIED),
        postgresql_where=sa.text(UNNOTIFIED),
    )
