"""ledger: ids that never go back, reorgs kept for auditors, incidents, and the accounting rules the
database itself enforces

- `journal_legs` and `chain_events` get AUTOINCREMENT on SQLite: it reused the ids of rows a reorg
  deleted, and the event pump's cursor (a leg id) then skipped the credits of the new branch.
- `reorgs` and `reorged_entries` record every rollback and the entries it removed; both are
  append-only. A posted entry can be deleted only when its `reorged_entries` row exists.
- `incidents`: what operators must know about (reorgs, a chain behind the database, fee caps, failed
  reconciliations).
- Also refused now: a leg on an account in another token than its entry (USD legs balancing EUR
  legs), rewriting what an entry records of its log (token, hash, block, kind, reference), moving an
  entry's state backwards, re-pointing a ledger account to another holder, hashes not in lower case,
  and a second account for the same holder spelled in another letter case.

Revision ID: 0010
Revises: 0009
"""

# ruff: noqa: S608 - the SQL below is built from this file's own constants, never from input
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Changing a column that records the chain's log is tampering: only `state` (forward) and `posted`
# (once, by the posting rule) ever change.
ENTRY_IDENTITY = (
    "chain_id",
    "token",
    "block_number",
    "block_hash",
    "block_time",
    "tx_hash",
    "log_index",
    "kind",
    "payment_reference",
)
_IDENTITY_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in ENTRY_IDENTITY)
_PG_IDENTITY_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in ENTRY_IDENTITY)

MESSAGES = {
    "unposted": "a journal entry is inserted unposted, then posted",
    "balance": "journal entry legs must sum to zero, with at least two legs",
    "unpost": "a posted journal entry cannot be unposted",
    "legs": "the legs of a posted journal entry cannot change",
    "token": "a leg is on an account in its entry's token",
    "identity": "a journal entry records a chain log: what it records cannot be rewritten",
    "state": "a journal entry's state only moves forward (a reorg removes the entry instead)",
    "delete": "a posted journal entry leaves the journal only with a recorded reorg",
    "hash": "hashes are stored in lower case",
    "holder": "a ledger account's chain, token and holder cannot change",
    "append": "reorg records are append-only",
}


def _sql(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


SQLITE_TRIGGERS = {
    "journal_entries_insert_unposted": f"""BEFORE INSERT ON journal_entries WHEN NEW.posted <> 0
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["unposted"])}); END""",
    "journal_entries_insert_hashes": f"""BEFORE INSERT ON journal_entries
      WHEN NEW.tx_hash <> lower(NEW.tx_hash) OR NEW.block_hash <> lower(NEW.block_hash)
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["hash"])}); END""",
    "journal_entries_post": f"""BEFORE UPDATE OF posted ON journal_entries
      WHEN NEW.posted <> 0 AND OLD.posted = 0
      BEGIN
        SELECT RAISE(ABORT, {_sql(MESSAGES["balance"])})
        WHERE (SELECT COUNT(*) FROM journal_legs WHERE entry_id = NEW.id) < 2
           OR (SELECT SUM(amount) FROM journal_legs WHERE entry_id = NEW.id) <> 0;
      END""",
    "journal_entries_unpost": f"""BEFORE UPDATE OF posted ON journal_entries
      WHEN OLD.posted <> 0 AND NEW.posted = 0
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["unpost"])}); END""",
    "journal_entries_identity": f"""BEFORE UPDATE ON journal_entries WHEN {_IDENTITY_CHANGED}
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["identity"])}); END""",
    "journal_entries_state": f"""BEFORE UPDATE OF state ON journal_entries
      WHEN NEW.state <> OLD.state AND (OLD.state = 'final' OR NEW.state = 'included')
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["state"])}); END""",
    "journal_entries_delete_posted": f"""BEFORE DELETE ON journal_entries
      WHEN OLD.posted <> 0 AND NOT EXISTS (SELECT 1 FROM reorged_entries WHERE entry_id = OLD.id)
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["delete"])}); END""",
    "journal_legs_insert_posted": f"""BEFORE INSERT ON journal_legs
      WHEN (SELECT posted FROM journal_entries WHERE id = NEW.entry_id) <> 0
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["legs"])}); END""",
    "journal_legs_update_posted": f"""BEFORE UPDATE ON journal_legs
      WHEN (SELECT posted FROM journal_entries WHERE id = OLD.entry_id) <> 0
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["legs"])}); END""",
    "journal_legs_delete_posted": f"""BEFORE DELETE ON journal_legs
      WHEN (SELECT posted FROM journal_entries WHERE id = OLD.entry_id) <> 0
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["legs"])}); END""",
    "journal_legs_insert_token": f"""BEFORE INSERT ON journal_legs
      WHEN NOT EXISTS (
        SELECT 1 FROM journal_entries e, ledger_accounts a
        WHERE e.id = NEW.entry_id AND a.id = NEW.account_id AND a.token = e.token AND a.chain_id = e.chain_id)
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["token"])}); END""",
    "journal_legs_update_token": f"""BEFORE UPDATE OF entry_id, account_id ON journal_legs
      WHEN NOT EXISTS (
        SELECT 1 FROM journal_entries e, ledger_accounts a
        WHERE e.id = NEW.entry_id AND a.id = NEW.account_id AND a.token = e.token AND a.chain_id = e.chain_id)
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["token"])}); END""",
    "ledger_accounts_identity": f"""BEFORE UPDATE ON ledger_accounts
      WHEN NEW.chain_id IS NOT OLD.chain_id OR NEW.token IS NOT OLD.token OR NEW.holder IS NOT OLD.holder
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["holder"])}); END""",
    "reorgs_update": f"""BEFORE UPDATE ON reorgs
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["append"])}); END""",
    "reorgs_delete": f"""BEFORE DELETE ON reorgs
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["append"])}); END""",
    "reorged_entries_update": f"""BEFORE UPDATE ON reorged_entries
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["append"])}); END""",
    "reorged_entries_delete": f"""BEFORE DELETE ON reorged_entries
      BEGIN SELECT RAISE(ABORT, {_sql(MESSAGES["append"])}); END""",
}

# The row checks of journal entries run per row; the checks over legs run once per statement over
# transition tables (a query per leg made indexing three times slower, see 0003).
POSTGRES_STATEMENTS = [
    f"""CREATE OR REPLACE FUNCTION journal_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        IF OLD.posted AND NOT EXISTS (SELECT 1 FROM reorged_entries WHERE entry_id = OLD.id) THEN
          RAISE EXCEPTION {_sql(MESSAGES["delete"])};
        END IF;
        RETURN OLD;
      END IF;
      IF NEW.tx_hash <> lower(NEW.tx_hash) OR NEW.block_hash <> lower(NEW.block_hash) THEN
        RAISE EXCEPTION {_sql(MESSAGES["hash"])};
      END IF;
      IF TG_OP = 'INSERT' THEN
        IF NEW.posted THEN
          RAISE EXCEPTION {_sql(MESSAGES["unposted"])};
        END IF;
        RETURN NEW;
      END IF;
      IF OLD.posted AND NOT NEW.posted THEN
        RAISE EXCEPTION {_sql(MESSAGES["unpost"])};
      END IF;
      IF {_PG_IDENTITY_CHANGED} THEN
        RAISE EXCEPTION {_sql(MESSAGES["identity"])};
      END IF;
      IF NEW.state <> OLD.state AND (OLD.state = 'final' OR NEW.state = 'included') THEN
        RAISE EXCEPTION {_sql(MESSAGES["state"])};
      END IF;
      RETURN NEW;
    END $$""",
    "DROP TRIGGER IF EXISTS journal_entries_guard ON journal_entries",
    """CREATE TRIGGER journal_entries_guard BEFORE INSERT OR UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_guard()""",
    f"""CREATE FUNCTION journal_legs_token_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (
        SELECT 1 FROM changed_legs c
        JOIN journal_entries e ON e.id = c.entry_id
        JOIN ledger_accounts a ON a.id = c.account_id
        WHERE a.token <> e.token OR a.chain_id <> e.chain_id
      ) THEN
        RAISE EXCEPTION {_sql(MESSAGES["token"])};
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER journal_legs_token_insert AFTER INSERT ON journal_legs
    REFERENCING NEW TABLE AS changed_legs FOR EACH STATEMENT EXECUTE FUNCTION journal_legs_token_check()""",
    """CREATE TRIGGER journal_legs_token_update AFTER UPDATE ON journal_legs
    REFERENCING NEW TABLE AS changed_legs FOR EACH STATEMENT EXECUTE FUNCTION journal_legs_token_check()""",
    f"""CREATE FUNCTION ledger_accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.chain_id IS DISTINCT FROM OLD.chain_id OR NEW.token IS DISTINCT FROM OLD.token
         OR NEW.holder IS DISTINCT FROM OLD.holder THEN
        RAISE EXCEPTION {_sql(MESSAGES["holder"])};
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER ledger_accounts_guard BEFORE UPDATE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_guard()""",
    f"""CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION {_sql(MESSAGES["append"])};
    END $$""",
    """CREATE TRIGGER reorgs_append_only BEFORE UPDATE OR DELETE ON reorgs
    FOR EACH ROW EXECUTE FUNCTION append_only()""",
    """CREATE TRIGGER reorged_entries_append_only BEFORE UPDATE OR DELETE ON reorged_entries
    FOR EACH ROW EXECUTE FUNCTION append_only()""",
]

# 0003's entry guard, restored on downgrade.
POSTGRES_0003_ENTRY_GUARD = [
    """CREATE OR REPLACE FUNCTION journal_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' AND NEW.posted THEN
        RAISE EXCEPTION 'a journal entry is inserted unposted, then posted';
      END IF;
      IF TG_OP = 'UPDATE' AND OLD.posted AND NOT NEW.posted THEN
        RAISE EXCEPTION 'a posted journal entry cannot be unposted';
      END IF;
      RETURN NEW;
    END $$""",
    "DROP TRIGGER IF EXISTS journal_entries_guard ON journal_entries",
    """CREATE TRIGGER journal_entries_guard BEFORE INSERT OR UPDATE OF posted ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_guard()""",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "reorgs",
        sa.Column("id", ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("fork_block", sa.BigInteger(), nullable=False),
        sa.Column("old_head", sa.BigInteger(), nullable=False),
        sa.Column("old_hash", sa.String(length=66), nullable=False),
        sa.Column("new_hash", sa.String(length=66), nullable=True),
        sa.Column("entries_dropped", sa.Integer(), nullable=False),
        sa.Column("events_dropped", sa.Integer(), nullable=False),
        sa.Column("final_dropped", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reorgs")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "reorged_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("reorg_id", ID, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["reorg_id"], ["reorgs.id"], name=op.f("fk_reorged_entries_reorg_id_reorgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reorged_entries")),
    )
    op.create_index(op.f("ix_reorged_entries_reorg_id"), "reorged_entries", ["reorg_id"])
    op.create_index(op.f("ix_reorged_entries_entry_id"), "reorged_entries", ["entry_id"])
    op.create_table(
        "incidents",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("reorg_id", ID, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "kind IN ('reorg', 'deep_reorg', 'chain_behind', 'fee_cap', 'reconciliation')",
            name=op.f("ck_incidents_kind"),
        ),
        sa.CheckConstraint("severity IN ('warning', 'critical')", name=op.f("ck_incidents_severity")),
        sa.ForeignKeyConstraint(["reorg_id"], ["reorgs.id"], name=op.f("fk_incidents_reorg_id_reorgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sqlite_autoincrement=True,
    )
    if postgres:
        # A sequence never goes back: nothing to change but the rules.
        _holder_index()
        op.create_check_constraint("tx_hash_lower", "chain_events", "tx_hash = lower(tx_hash)")
        for statement in POSTGRES_STATEMENTS:
            op.execute(statement)
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # SQLite gives a new row the largest id + 1, so the ids of deleted rows came back: recreate the
    # tables a reorg deletes from with AUTOINCREMENT.
    with op.batch_alter_table(
        "journal_legs", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        pass
    with op.batch_alter_table(
        "chain_events", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.create_check_constraint("tx_hash_lower", "tx_hash = lower(tx_hash)")
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    _holder_index()  # after the batches: they reflect ledger_accounts, which cannot reflect it


def _holder_index() -> None:
    op.create_index(
        "uq_ledger_accounts_holder_nocase",
        "ledger_accounts",
        ["chain_id", sa.text("lower(token)"), sa.text("lower(holder)")],
        unique=True,
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for trigger, table in (
            ("reorgs_append_only", "reorgs"),
            ("reorged_entries_append_only", "reorged_entries"),
            ("ledger_accounts_guard", "ledger_accounts"),
            ("journal_legs_token_insert", "journal_legs"),
            ("journal_legs_token_update", "journal_legs"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in ("append_only", "ledger_accounts_guard", "journal_legs_token_check"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        for statement in POSTGRES_0003_ENTRY_GUARD:
            op.execute(statement)
        op.drop_constraint(op.f("ck_chain_events_tx_hash_lower"), "chain_events", type_="check")
    else:
        for name in (
            "journal_entries_insert_hashes",
            "journal_entries_identity",
            "journal_entries_state",
            "journal_entries_delete_posted",
            "journal_legs_insert_token",
            "journal_legs_update_token",
            "ledger_accounts_identity",
            "reorgs_update",
            "reorgs_delete",
            "reorged_entries_update",
            "reorged_entries_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        with op.batch_alter_table("chain_events") as batch_op:
            batch_op.drop_constraint(op.f("ck_chain_events_tx_hash_lower"), type_="check")
    op.drop_index("uq_ledger_accounts_holder_nocase", table_name="ledger_accounts")
    op.drop_table("incidents")
    op.drop_index(op.f("ix_reorged_entries_entry_id"), table_name="reorged_entries")
    op.drop_index(op.f("ix_reorged_entries_reorg_id"), table_name="reorged_entries")
    op.drop_table("reorged_entries")
    op.drop_table("reorgs")
