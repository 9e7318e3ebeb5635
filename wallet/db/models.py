"""Table models. Invariants that matter for money live in the database as well as in the code."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from wallet.errors import MoneyError
from wallet.vocabulary import (
    AlertSeverity,
    BillRunState,
    CaseState,
    DeliveryStatus,
    Disposition,
    EntryState,
    HitState,
    IncidentKind,
    KycStatus,
    OperationKind,
    PaymentDirection,
    PaymentRequestState,
    ProposalAction,
    ProposalState,
    QuoteState,
    RequestStatus,
    Role,
    ScheduleKind,
    ScheduleState,
    SettlementStatus,
    Severity,
    TransferState,
    TxStatus,
    Typology,
    values,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A stored time with its zone: SQLite gives back naive datetimes for timezone-aware columns, and
    every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SigningKey(Base):
    """One key the custody layer signs with. A local key is stored wrapped (AES-256-GCM under the
    key-encryption key `kek_id`, with the address as associated data); an HSM key is only referenced."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("backend IN ('local', 'pkcs11')", name="backend"),
        CheckConstraint(
            "(backend = 'local' AND wrapped_key IS NOT NULL AND wrap_nonce IS NOT NULL"
            " AND kek_id IS NOT NULL) OR (backend = 'pkcs11' AND wrapped_key IS NULL)",
            name="material",
        ),
    )

    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    backend: Mapped[str] = mapped_column(String(10))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrap_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"SigningKey(label={self.label!r}, address={self.address}, backend={self.backend})"


class Amount(TypeDecorator[int]):
    """A non-negative integer up to 2^256: NUMERIC(78, 0) on PostgreSQL, a decimal string on SQLite
    (whose NUMERIC affinity would turn values above 2^63 into lossy REALs). Python sees `int` only."""

    impl: TypeEngine[Any] | type[TypeEngine[Any]] = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(self._sqlite_type())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"amounts are int minor units, not {type(value).__name__}")
        return Decimal(value) if dialect.name == "postgresql" else self._sqlite_value(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:  # noqa: ARG002 - TypeDecorator's signature
        return None if value is None else int(value)

    def _sqlite_type(self) -> TypeEngine[Any]:
        return String(80)

    def _sqlite_value(self, value: int) -> Any:
        return str(value)


class SignedAmount(Amount):
    """A signed integer amount that SQL can sum exactly: NUMERIC(78, 0) on PostgreSQL; on SQLite a 64-bit
    INTEGER, refusing (not rounding) anything beyond it, since SQLite has no exact wider type."""

    impl = BigInteger
    cache_ok = True

    def _sqlite_type(self) -> TypeEngine[Any]:
        return BigInteger()

    def _sqlite_value(self, value: int) -> Any:
        if not -(2**63) <= value < 2**63:
            raise MoneyError(f"{value} minor units is beyond what SQLite stores exactly; use PostgreSQL")
        return value


TX_STATUSES = values(TxStatus)
REQUEST_STATUSES = values(RequestStatus)


class Term(TypeDecorator[Any]):
    """A word of one of `wallet.vocabulary`'s enums, stored as its text. Binding checks it (a typo in a
    query is a `ValueError`, not a silent miss) and loading gives back the enum member."""

    impl = String
    cache_ok = True

    def __init__(self, vocabulary: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.vocabulary = vocabulary

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002 - TypeDecorator's signature
        return None if value is None else self.vocabulary(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:  # noqa: ARG002 - TypeDecorator's signature
        return None if value is None else self.vocabulary(value)


class RelayerNonce(Base):
    """The next nonce of a sending address, allocated with one atomic UPDATE ... RETURNING."""

    __tablename__ = "relayer_nonces"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class ChainTx(Base):
    """One chain transaction of the outbox. It only moves forward:
    intent -> signed -> broadcast -> included -> confirmed -> final, or failed; a reorg sends an
    included or confirmed row back to broadcast. The raw transaction is stored before it is broadcast."""

    __tablename__ = "chain_txs"
    __table_args__ = (
        # One live transaction per nonce. A row that failed before it was broadcast leaves its nonce to
        # the zero-value filler that closes the gap.
        Index(
            "uq_chain_txs_live_nonce",
            "chain_id",
            "sender",
            "nonce",
            unique=True,
            sqlite_where=text("status <> 'failed'"),
            postgresql_where=text("status <> 'failed'"),
        ),
        CheckConstraint(f"status IN {TX_STATUSES}", name="status"),
        CheckConstraint("status IN ('intent', 'failed') OR raw_tx IS NOT NULL", name="raw_before_broadcast"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[int] = mapped_column(Amount, default=0)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(Amount)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(Amount)
    status: Mapped[TxStatus] = mapped_column(Term(TxStatus), default=TxStatus.INTENT, index=True)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    # Every hash this row was ever broadcast under (replacements keep the nonce, change the hash).
    attempt_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    error_name: Mapped[str | None] = mapped_column(String(100))
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    broadcast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The HTTP requests it serves (`wallet.logs`): the one that asked for it, or every transfer's in a batch.
    request_ids: Mapped[list[str] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# Transfers whose final state the event pump has not handled yet. Written out (not built from bound
# parameters) so that SQLite's planner matches it to the partial index of that name.
UNNOTIFIED_TRANSFERS = "(notified_state IS NULL OR notified_state NOT IN ('final', 'failed'))"
# What the pump reads of them: the index covers it, so SQLite prefers it to the primary key's.
UNNOTIFIED_COLUMNS = ("id", "status", "notified_state", "chain_tx_id")


class TransferRequest(Base):
    """A customer's transfer: an EIP-3009 authorization signed by the customer's key, waiting for the
    relayer. `auth_nonce` derives from the idempotency key, so a request can execute at most once."""

    __tablename__ = "transfer_requests"
    __table_args__ = (
        UniqueConstraint("payer", "auth_nonce", name="uq_transfer_requests_payer_nonce"),
        CheckConstraint(f"status IN {REQUEST_STATUSES}", name="status"),
        Index(
            "ix_transfer_requests_unnotified",
            *UNNOTIFIED_COLUMNS,
            sqlite_where=text(UNNOTIFIED_TRANSFERS),
            postgresql_where=text(UNNOTIFIED_TRANSFERS),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(42))
    payer: Mapped[str] = mapped_column(String(42))
    payee: Mapped[str] = mapped_column(String(42))
    value: Mapped[int] = mapped_column(Amount)
    payment_reference: Mapped[bytes] = mapped_column(LargeBinary)
    valid_before: Mapped[int] = mapped_column(BigInteger)
    auth_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[RequestStatus] = mapped_column(
        Term(RequestStatus), default=RequestStatus.PENDING, index=True
    )
    chain_tx_id: Mapped[str | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    error_name: Mapped[str | None] = mapped_column(String(100))
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when someone else executed the authorization before our batch (a front-runner who copied it
    # from the pending batch): the transaction and block that moved the money.
    executed_tx_hash: Mapped[str | None] = mapped_column(String(66))
    executed_block: Mapped[int | None] = mapped_column(BigInteger)
    # Who asked (a customer's user id) and their free-text memo; None for requests made outside the API.
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    memo: Mapped[str | None] = mapped_column(String(140))
    request_id: Mapped[str | None] = mapped_column(String(64))  # the HTTP request that submitted it
    # The last state an event was published for; the event pump compares it with the current one.
    notified_state: Mapped[TransferState | None] = mapped_column(Term(TransferState))
    # The transfer policy's decision (`wallet.compliance.policy.Decision.as_json`), and a compliance
    # officer's review of a held transfer.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


ENTRY_STATES = values(EntryState)


class IndexerCursor(Base):
    """How far the indexer has applied the chain: moved in the same transaction as the entries."""

    __tablename__ = "indexer_cursors"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))


class IndexedBlock(Base):
    """A block the indexer applied (one with logs, or the end of a range): its hash finds the fork point."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))


class LedgerAccount(Base):
    """One holder of one token. The zero address is the token's issuance account: minting debits it,
    burning credits it, so its balance is minus the total supply."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("chain_id", "token", "holder", name="uq_ledger_accounts_holder"),
        # Inspection looks an address up in every token.
        Index("ix_ledger_accounts_by_holder", "holder", "chain_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str] = mapped_column(String(42))
    holder: Mapped[str] = mapped_column(String(42))


class JournalEntry(Base):
    """One movement on chain (a Transfer log), applied at most once. Its legs sum to zero: the database
    refuses to post it otherwise (see migration 0003)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_journal_entries_log"),
        CheckConstraint(f"state IN {ENTRY_STATES}", name="state"),
        # After every step the indexer looks for the few entries of its chain not yet final.
        Index("ix_journal_entries_chain_state", "chain_id", "state"),
        # Tracing starts from a transaction.
        Index("ix_journal_entries_tx_hash", "tx_hash"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    payment_reference: Mapped[str | None] = mapped_column(String(66))
    state: Mapped[EntryState] = mapped_column(Term(EntryState), default=EntryState.INCLUDED)
    posted: Mapped[bool] = mapped_column(default=False)


class JournalLeg(Base):
    """One side of a journal entry: a signed amount on one ledger account, never zero. Ids only grow
    (AUTOINCREMENT on SQLite, which otherwise reuses the ids of legs a reorg deleted): the event pump's
    cursor is a leg id."""

    __tablename__ = "journal_legs"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        # Covering: an account's legs, and an entry's legs, read from the index alone (migration 0022).
        Index("ix_journal_legs_account_entry", "account_id", "entry_id", "amount"),
        Index("ix_journal_legs_entry_account", "entry_id", "amount", "account_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(SignedAmount)


class ChainEvent(Base):
    """A non-money event the mirror keeps: freezes, KYC and blocklist changes, payment references."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_chain_events_log"),
        CheckConstraint("tx_hash = lower(tx_hash)", name="tx_hash_lower"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(42), index=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)


USER_ROLES = values(Role)


class User(Base):
    """Someone who logs in to the API: a customer or a member of the bank's staff. The password is an
    argon2 hash; the TOTP secret is sealed under the key-encryption key like a signing key."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {USER_ROLES}", name="role"),
        CheckConstraint(f"kyc_status IN {values(KycStatus)}", name="kyc_status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Term(Role))
    totp_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    totp_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    totp_confirmed: Mapped[bool] = mapped_column(default=False)
    # The last TOTP time step accepted: a code is good once, so a seen code cannot be replayed.
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # Part of every access token; bumped by logout, a replayed refresh token, a role change or a
    # disablement, so the access tokens issued before stop working at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by an administrator: the user cannot log in, and their tokens are dead.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A customer's identity verification: nothing of theirs is registered on chain until `verified`.
    kyc_status: Mapped[KycStatus] = mapped_column(
        Term(KycStatus), default=KycStatus.PENDING_KYC, server_default=KycStatus.PENDING_KYC.value
    )
    kyc_decided_by: Mapped[str | None] = mapped_column(String(32))
    kyc_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kyc_reason: Mapped[str | None] = mapped_column(String(500))
    # The name statements print for the customer and for the bank's other customers who pay them.
    full_name: Mapped[str | None] = mapped_column(String(140))
    # The transfer policy's tier (limits and velocity); set with the KYC decision.
    tier: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    kyc_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kyc_notice_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # expiry notice sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginThrottle(Base):
    """Failed logins for one username from one client address. Keyed by the name as typed, whether or
    not a user has it, so an unknown name and a real one are throttled alike (no enumeration), and a
    stranger's failures slow only the stranger's own address, never the account's owner elsewhere."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RefreshToken(Base):
    """A refresh token, stored as its SHA-256 only; used once, then replaced by the next of its family
    (the tokens descended from one login). A used token presented again revokes the whole family."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WalletAccount(Base):
    """A customer's account in one currency: their custodial address on that currency's token. The
    address is registered with the compliance registry by the transaction `kyc_tx_id`."""

    __tablename__ = "wallet_accounts"
    __table_args__ = (UniqueConstraint("user_id", "currency", name="uq_wallet_accounts_user_currency"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    token: Mapped[str] = mapped_column(String(42))
    address: Mapped[str] = mapped_column(String(42), index=True)
    kyc_tx_id: Mapped[str | None] = mapped_column(ForeignKey("chain_txs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payee(Base):
    """An address a customer saved under a name."""

    __tablename__ = "payees"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_payees_user_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(42))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2, if the customer gave it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


BANK_OPERATION_KINDS = values(OperationKind)


class BankOperation(Base):
    """A bank operation sent through an operational key's outbox: a mint, a burn, a role change or a
    minter allowance. Money-moving ones carry the caller's idempotency key."""

    __tablename__ = "bank_operations"
    __table_args__ = (CheckConstraint(f"kind IN {BANK_OPERATION_KINDS}", name="kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[OperationKind] = mapped_column(Term(OperationKind))
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    target: Mapped[str | None] = mapped_column(String(42))
    amount: Mapped[int | None] = mapped_column(Amount)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    chain_tx_id: Mapped[str] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reorg(Base):
    """A reorganisation the indexer rolled back: where the chains forked, how far the mirror had gone
    on the old branch, and what it dropped (each dropped entry is kept in `reorged_entries`)."""

    __tablename__ = "reorgs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    fork_block: Mapped[int] = mapped_column(BigInteger)  # the newest block both branches share
    old_head: Mapped[int] = mapped_column(BigInteger)  # the mirror's cursor on the old branch
    old_hash: Mapped[str] = mapped_column(String(66))  # the old branch's block at `old_head`
    new_hash: Mapped[str | None] = mapped_column(String(66))  # the chain's block there now, if any
    entries_dropped: Mapped[int] = mapped_column(Integer)
    events_dropped: Mapped[int] = mapped_column(Integer)
    final_dropped: Mapped[int] = mapped_column(Integer)  # dropped entries that had been shown final
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def depth(self) -> int:
        """How many applied blocks the reorg replaced."""
        return self.old_head - self.fork_block


class ReorgedEntry(Base):
    """A journal entry a reorg removed, as it was (its legs included), for auditors. A posted entry can
    leave the journal only with one of these rows (the database refuses it otherwise)."""

    __tablename__ = "reorged_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    reorg_id: Mapped[int] = mapped_column(ForeignKey("reorgs.id"), index=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[EntryState] = mapped_column(Term(EntryState))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the entry's columns and legs


class Incident(Base):
    """Something operators must know about: raised by the workers (reorgs, a chain behind the
    database, a fee cap reached, a failed reconciliation), listed by `tdw incidents` and the API, and
    resolved by an operator. An open critical incident fails `/readyz`."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(f"kind IN {values(IncidentKind)}", name="kind"),
        CheckConstraint(f"severity IN {values(Severity)}", name="severity"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[IncidentKind] = mapped_column(Term(IncidentKind))
    severity: Mapped[Severity] = mapped_column(Term(Severity))
    summary: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reorg_id: Mapped[int | None] = mapped_column(ForeignKey("reorgs.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(500))


class Event(Base):
    """Something a customer or an operator is told about (SSE stream, webhooks). Ids only grow, so a
    reader resumes after the last id it saw."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventCursor(Base):
    """How far a background reader (the event pump, the webhook fan-out) has read its source."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


class Webhook(Base):
    """An operator's webhook: events are POSTed to `url`, signed with HMAC-SHA256 under its secret
    (sealed under the key-encryption key)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    secret_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # A customer's own webhook (`wallet.retail.notifications`): only their notifications go to it.
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


DELIVERY_STATUSES = values(DeliveryStatus)


class WebhookDelivery(Base):
    """One event owed to one webhook, retried with backoff until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    status: Mapped[DeliveryStatus] = mapped_column(Term(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Reconciliation(Base):
    """One run of the reconciliation worker (or `POST /v1/operations/reconciliation`): what it compared,
    up to which block, and the differences it found, in order. The newest is shown in `/readyz`."""

    __tablename__ = "reconciliations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at_block: Mapped[int] = mapped_column(BigInteger)  # transactions mined up to here were checked in full
    balances_at: Mapped[int | None] = mapped_column(BigInteger)  # balances compared as of this block
    head_block: Mapped[int] = mapped_column(BigInteger)
    checked: Mapped[dict[str, int]] = mapped_column(JSON)
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # at most MAX_KEPT, in order
    difference_count: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IssuedStatement(Base):
    """A statement of account the bank issued for a closed period: its numbers and a hash of what it
    said. Asked again, the same period gives the same document (same numbers, same issue time); if the
    chain changed it since (a reorg), a new version is issued and names the reorgs in between."""

    __tablename__ = "issued_statements"
    __table_args__ = (
        UniqueConstraint(
            "chain_id", "token", "account", "electronic_number", name="uq_issued_statements_number"
        ),
        Index("ix_issued_statements_period", "chain_id", "token", "account", "period_from", "period_to"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str] = mapped_column(String(42))
    account: Mapped[str] = mapped_column(String(42))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    number: Mapped[int] = mapped_column(Integer)  # LglSeqNb: one per period of the account
    electronic_number: Mapped[int] = mapped_column(Integer)  # ElctrncSeqNb: one per document issued
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    as_of_block: Mapped[int] = mapped_column(BigInteger)
    corrections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRecord(Base):
    """One record of the tamper-evident audit log (`wallet.compliance.audit`). `body` is the record's
    canonical JSON (RFC 8785), which names the previous record's hash; `hash` is the SHA-256 of `body`.
    The other columns repeat fields of the body for queries. The database refuses UPDATE and DELETE on
    this table (triggers, migration 0013)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject", "seq"),
        Index("ix_audit_log_action", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(String)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditAnchorTx(Base):
    """An anchor of the audit log sent to the chain: record `seq` with hash `head`, by the outbox row
    `chain_tx_id`. The chain's `AuditAnchored` events are what verification trusts; this row only tells
    the anchoring worker what it sent already."""

    __tablename__ = "audit_anchors"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head: Mapped[str] = mapped_column(String(64))
    chain_tx_id: Mapped[str] = mapped_column(ForeignKey("chain_txs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Proposal(Base):
    """A powerful act proposed by one user, executed only when another user holding the required role
    approves it (`wallet.compliance.approvals`). `params` are the act's normalized arguments; on
    approval, `operation_ids` name the bank operations that carried it out."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint(f"action IN {values(ProposalAction)}", name="action"),
        CheckConstraint(f"state IN {values(ProposalState)}", name="state"),
        CheckConstraint(f"approver_role IN {USER_ROLES}", name="approver_role"),
        CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name="four_eyes"),
        Index("ix_proposals_open", "state", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[ProposalAction] = mapped_column(Term(ProposalAction))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500))
    approver_role: Mapped[Role] = mapped_column(Term(Role))
    proposed_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[ProposalState] = mapped_column(Term(ProposalState), default=ProposalState.PENDING)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    operation_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SanctionsList(Base):
    """One version of a published sanctions list as loaded (`tdw sanctions load`): the publisher's
    version, the file's SHA-256, and whether it is the list's current version."""

    __tablename__ = "sanctions_lists"
    __table_args__ = (CheckConstraint("list IN ('ofac', 'eu', 'un')", name="list"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list: Mapped[str] = mapped_column(String(8))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(default=True)
    loaded_by: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SanctionsEntry(Base):
    """One entry of a loaded list version, with every name it is known by."""

    __tablename__ = "sanctions_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_lists.id"), index=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    names: Mapped[list[str]] = mapped_column(JSON)
    birth_dates: Mapped[list[str]] = mapped_column(JSON)
    countries: Mapped[list[str]] = mapped_column(JSON)
    programs: Mapped[list[str]] = mapped_column(JSON)
    addresses: Mapped[list[str]] = mapped_column(JSON)


class PolicyVersion(Base):
    """One version of the transfer policy document (`wallet.compliance.policy`). The newest is in force;
    versions after the first are installed by an approved `policy_change` proposal."""

    __tablename__ = "policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScreeningHit(Base):
    """A name or address that matched a sanctions list entry: a customer, a beneficial owner, a payee or
    a transfer's counterparty (`subject`), with the match's explanation and the list versions screened.
    Open until a compliance officer clears it (a false positive) or confirms it."""

    __tablename__ = "screening_hits"
    __table_args__ = (
        CheckConstraint(f"state IN {values(HitState)}", name="state"),
        Index("ix_screening_hits_subject", "subject", "state"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)  # the customer concerned
    name: Mapped[str] = mapped_column(String(200))  # what was screened (a name or an address)
    list_name: Mapped[str] = mapped_column(String(8))
    entry_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)  # the match score, 0-100
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[HitState] = mapped_column(Term(HitState), default=HitState.OPEN)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KycProfile(Base):
    """A customer's identity as they submitted it (`wallet.compliance.kyc`), and the risk rating the
    bank's rules gave it when it was submitted for review."""

    __tablename__ = "kyc_profiles"
    __table_args__ = (CheckConstraint("kind IN ('individual', 'corporate')", name="kind"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    legal_name: Mapped[str] = mapped_column(String(140))
    birth_date: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(2))
    residence_country: Mapped[str] = mapped_column(String(2))
    id_type: Mapped[str | None] = mapped_column(String(16))
    id_number: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(300))
    expected_activity: Mapped[str] = mapped_column(String(8))
    company_name: Mapped[str | None] = mapped_column(String(140))
    registration_number: Mapped[str | None] = mapped_column(String(64))
    risk_rating: Mapped[str | None] = mapped_column(String(8))
    risk_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class BeneficialOwner(Base):
    """A person who owns or controls a corporate customer; each is screened."""

    __tablename__ = "beneficial_owners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(140))
    birth_date: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(2))
    ownership_percent: Mapped[int] = mapped_column(Integer)


class KycDocument(Base):
    """A document a customer uploaded for their verification: its content sealed under the KEK
    (AES-GCM, bound to the document's id), with its type, size and SHA-256 in the clear."""

    __tablename__ = "kyc_documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Alert(Base):
    """A transaction-monitoring alert (`wallet.compliance.monitoring`): its rule, its subject (an address;
    the customer when it is one of ours), the movements involved and the figures that made it fire.
    `key` (rule, token, subject, triggering log) is unique: a monitor that re-reads stores it once."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("key", name="uq_alerts_key"),
        CheckConstraint(f"typology IN {values(Typology)}", name="typology"),
        CheckConstraint(f"severity IN {values(AlertSeverity)}", name="severity"),
        Index("ix_alerts_subject", "subject", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    typology: Mapped[Typology] = mapped_column(Term(Typology, 24))
    severity: Mapped[AlertSeverity] = mapped_column(Term(AlertSeverity))
    subject: Mapped[str] = mapped_column(String(42))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    token: Mapped[str] = mapped_column(String(42))
    currency: Mapped[str] = mapped_column(String(3))
    block_number: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the triggering block's time
    explanation: Mapped[str] = mapped_column(String(1000))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    movements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(Base):
    """Alerts about one customer (or one outside address) worked by compliance to a disposition."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"state IN {values(CaseState)}", name="state"),
        CheckConstraint(f"severity IN {values(AlertSeverity)}", name="severity"),
        CheckConstraint(f"disposition IS NULL OR disposition IN {values(Disposition)}", name="disposition"),
        CheckConstraint("(state = 'closed') = (disposition IS NOT NULL)", name="closed_disposed"),
        Index("ix_cases_subject", "subject", "state"),
        Index("ix_cases_queue", "state", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(42))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[CaseState] = mapped_column(Term(CaseState), default=CaseState.OPEN)
    severity: Mapped[AlertSeverity] = mapped_column(Term(AlertSeverity))
    assignee: Mapped[str | None] = mapped_column(String(32))
    disposition: Mapped[Disposition | None] = mapped_column(Term(Disposition))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CaseItem(Base):
    """One thing in a case's file: a note, an alert filed, a state change, an action proposed, or a
    piece of evidence (sealed under the KEK, bound to the item's id, with its SHA-256 in the clear)."""

    __tablename__ = "case_items"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(String(4000))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(60))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TravelRuleRecord(Base):
    """IVMS101 originator and beneficiary data of one transfer above the travel-rule threshold, sealed
    under the KEK and bound to the transfer's id."""

    __tablename__ = "travel_rule_records"

    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfer_requests.id"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FxQuote(Base):
    """An FX quote given to a customer (`wallet.fx.quotes`): what they sell and buy, in minor units, at
    which rate (the mid rate less the spread of their tier), from which rates, until when."""

    __tablename__ = "fx_quotes"
    __table_args__ = (
        CheckConstraint(f"state IN {values(QuoteState)}", name="state"),
        CheckConstraint("sell_amount > 0 AND buy_amount > 0", name="amounts"),
        CheckConstraint("sell_currency <> buy_currency", name="pair"),
        Index("ix_fx_quotes_user", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    tier: Mapped[str] = mapped_column(String(16))
    sell_currency: Mapped[str] = mapped_column(String(3))
    buy_currency: Mapped[str] = mapped_column(String(3))
    sell_amount: Mapped[int] = mapped_column(BigInteger)
    buy_amount: Mapped[int] = mapped_column(BigInteger)
    mid_rate: Mapped[str] = mapped_column(String(40))  # units of buy per unit of sell, a decimal string
    rate: Mapped[str] = mapped_column(String(40))  # the customer's: mid less the spread
    spread_bps: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    rates_source: Mapped[str] = mapped_column(String(100))
    rates_as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[QuoteState] = mapped_column(Term(QuoteState), default=QuoteState.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A quote for paying a partner bank's customer: the partner, its quote, and what we pay it (in the
    # sold currency's wholesale token: the sold amount less our fee). None for a conversion.
    partner_id: Mapped[str | None] = mapped_column(String(32))
    partner_quote_id: Mapped[str | None] = mapped_column(String(64))
    partner_token: Mapped[str | None] = mapped_column(String(42))  # its deposit token, which pays the payee
    interbank_amount: Mapped[int | None] = mapped_column(BigInteger)


class Settlement(Base):
    """An atomic settlement the bank submits to the settlement contract (`wallet.tx.settlements`): its
    terms (reference, deadline, legs in `SettlementLeg`), the payers' signatures, and where it is. A
    customer conversion (`kind` `conversion`) names the quote it carries out; a quote is carried out
    once (`quote_id` is unique)."""

    __tablename__ = "settlements"
    __table_args__ = (
        CheckConstraint(f"status IN {values(SettlementStatus)}", name="status"),
        Index("ix_settlements_owner", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    quote_id: Mapped[str | None] = mapped_column(ForeignKey("fx_quotes.id"), unique=True)
    contract: Mapped[str] = mapped_column(String(42))
    settlement_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)  # the id on chain
    ref: Mapped[bytes] = mapped_column(LargeBinary)
    deadline: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[SettlementStatus] = mapped_column(
        Term(SettlementStatus), default=SettlementStatus.PENDING, index=True
    )
    chain_tx_id: Mapped[str | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    # Where it settled, when another bank submitted it (an offered settlement has no transaction of ours).
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error_name: Mapped[str | None] = mapped_column(String(100))
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SettlementLeg(Base):
    """One leg of a settlement: `value` of `token` from `payer` to `payee`, with the payer's signed
    `ReceiveWithAuthorization` to the settlement contract (None until the payer has signed)."""

    __tablename__ = "settlement_legs"
    __table_args__ = (Index("ix_settlement_legs_payer", "token", "payer"),)

    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(42))
    payer: Mapped[str] = mapped_column(String(42))
    payee: Mapped[str] = mapped_column(String(42))
    value: Mapped[int] = mapped_column(Amount)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)


class Partner(Base):
    """A partner bank: who it is, the key its requests to our partner API are signed with (RFC 9421,
    Ed25519), where its own partner API is, its treasury on chain, and the limits we keep with it."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # a short name, e.g. "harbour"
    name: Mapped[str] = mapped_column(String(140))
    bic: Mapped[str] = mapped_column(String(11))
    key_id: Mapped[str] = mapped_column(String(100), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # Ed25519, 32 bytes
    base_url: Mapped[str] = mapped_column(String(300))
    treasury: Mapped[str] = mapped_column(String(42))
    # Per currency (minor units): the largest single payment, and the most in flight at once.
    max_payment: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    max_open: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PartnerNonce(Base):
    """A signature nonce a partner used: seen once within the replay window, never again."""

    __tablename__ = "partner_nonces"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class HttpSigningKey(Base):
    """The bank's own Ed25519 key for signing its requests to partners, wrapped under the KEK."""

    __tablename__ = "http_signing_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PartnerQuote(Base):
    """An FX quote we gave a partner bank: it pays `sell_amount` in a wholesale token, and we credit our
    customer `buy_amount` of our deposit token."""

    __tablename__ = "partner_quotes"
    __table_args__ = (CheckConstraint(f"state IN {values(QuoteState)}", name="state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    sell_currency: Mapped[str] = mapped_column(String(3))
    buy_currency: Mapped[str] = mapped_column(String(3))
    sell_amount: Mapped[int] = mapped_column(BigInteger)
    buy_amount: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[str] = mapped_column(String(40))
    state: Mapped[QuoteState] = mapped_column(Term(QuoteState), default=QuoteState.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrossBorderPayment(Base):
    """A payment between a customer of ours and a customer of a partner bank, settled on chain in one
    atomic settlement (`settlement_id`), with its ISO 20022 pacs.008 and the travel-rule data of both
    parties (IVMS101)."""

    __tablename__ = "cross_border_payments"
    __table_args__ = (
        CheckConstraint(f"direction IN {values(PaymentDirection)}", name="direction"),
        UniqueConstraint("partner_id", "end_to_end_id", name="uq_cross_border_payments_partner_e2e"),
        Index("ix_cross_border_payments_user", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    direction: Mapped[PaymentDirection] = mapped_column(Term(PaymentDirection))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), unique=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("wallet_accounts.id"))
    quote_id: Mapped[str | None] = mapped_column(String(32))  # an FxQuote (ours) or PartnerQuote (theirs)
    debit_currency: Mapped[str] = mapped_column(String(3))
    debit_amount: Mapped[int] = mapped_column(BigInteger)
    interbank_currency: Mapped[str] = mapped_column(String(3))
    interbank_amount: Mapped[int] = mapped_column(BigInteger)
    credit_currency: Mapped[str] = mapped_column(String(3))
    credit_amount: Mapped[int] = mapped_column(BigInteger)
    debtor: Mapped[dict[str, Any]] = mapped_column(JSON)  # IVMS101 originator
    creditor: Mapped[dict[str, Any]] = mapped_column(JSON)  # IVMS101 beneficiary
    pacs008: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(500))  # why the other bank rejected it
    notified: Mapped[str | None] = mapped_column(String(16))  # the last state told to the partner
    # When a sender claimed the offer's delivery ("sending"); a claim older than the lease is a sender
    # that died, and the offer is sent again (the partner stores an offer once by its end-to-end id).
    sending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HtlcSwap(Base):
    """A payment across two chains by hashed time-locks (`wallet.partners.htlc`): the secret (wrapped
    under the KEK), the two locks' terms and ids, and how far the coordinator has taken it."""

    __tablename__ = "htlc_swaps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # wrapped
    secret_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    hashlock: Mapped[bytes] = mapped_column(LargeBinary)
    first: Mapped[dict[str, Any]] = mapped_column(JSON)  # chain, contract and lock terms: payer's chain
    second: Mapped[dict[str, Any]] = mapped_column(JSON)  # the same on the payee's chain
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PaymentRequest(Base):
    """A request for a payment into the owner's account (`wallet.retail.requests`): a fixed amount or
    the payer's, a reference the payment carries on chain (unique per account, so the ledger mirror
    tells which request a credit pays), single-use or reusable, until an expiry if it has one."""

    __tablename__ = "payment_requests"
    __table_args__ = (
        UniqueConstraint("account_id", "reference", name="uq_payment_requests_account_reference"),
        CheckConstraint(f"state IN {values(PaymentRequestState)}", name="state"),
        CheckConstraint("amount IS NULL OR amount > 0", name="amount"),
        Index("ix_payment_requests_owner", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("wallet_accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int | None] = mapped_column(BigInteger)  # None: the payer says how much
    reference: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(140))
    single_use: Mapped[bool] = mapped_column(default=True)
    state: Mapped[PaymentRequestState] = mapped_column(
        Term(PaymentRequestState), default=PaymentRequestState.OPEN
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentRequestPayment(Base):
    """A payer's transfer for a payment request: one per request and payer (paying again is the same
    payment), or a refund of one (`refund_of`), sent by the request's owner with its reference."""

    __tablename__ = "payment_request_payments"
    __table_args__ = (
        # One payment per request and payer; refunds (refund_of set) are any number, within the paid amount.
        Index(
            "uq_payment_request_payments_payer",
            "request_id",
            "payer_id",
            unique=True,
            sqlite_where=text("refund_of IS NULL"),
            postgresql_where=text("refund_of IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("payment_requests.id"), index=True)
    payer_id: Mapped[str] = mapped_column(ForeignKey("users.id"))  # of a refund: the request's owner
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfer_requests.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    refund_of: Mapped[str | None] = mapped_column(ForeignKey("payment_request_payments.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Biller(Base):
    """A corporate customer registered (by an operator) to be paid bills: into its account, with a
    payment reference in the format it gives (a regular expression, and a hint for customers)."""

    __tablename__ = "billers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("wallet_accounts.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(String(40))  # what spending analysis files its bills under
    reference_pattern: Mapped[str] = mapped_column(String(200))
    reference_hint: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Bill(Base):
    """A bill a customer saved: a biller and the customer's reference with it (their contract number)."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("user_id", "biller_id", "reference", name="uq_bills_user_biller_reference"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    biller_id: Mapped[str] = mapped_column(ForeignKey("billers.id"))
    reference: Mapped[str] = mapped_column(String(32))
    nickname: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillSchedule(Base):
    """When and how much of a bill is paid, from which account: once on a date, monthly on a day (the
    last day of a shorter month), weekly on a weekday; `next_due` is the next date not yet claimed."""

    __tablename__ = "bill_schedules"
    __table_args__ = (
        CheckConstraint(f"kind IN {values(ScheduleKind)}", name="kind"),
        CheckConstraint(f"state IN {values(ScheduleState)}", name="state"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_bill_schedules_due", "state", "next_due"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    from_account: Mapped[str] = mapped_column(ForeignKey("wallet_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[ScheduleKind] = mapped_column(Term(ScheduleKind))
    day: Mapped[int | None] = mapped_column(Integer)  # monthly: 1 to 31
    weekday: Mapped[int | None] = mapped_column(Integer)  # weekly: 0 (Monday) to 6
    next_due: Mapped[date | None] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    noticed_due: Mapped[date | None] = mapped_column(Date)  # the due date the customer was told of
    state: Mapped[ScheduleState] = mapped_column(Term(ScheduleState), default=ScheduleState.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillRun(Base):
    """One due payment of a schedule, claimed once (the unique schedule and date), with its transfer."""

    __tablename__ = "bill_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_date", name="uq_bill_runs_schedule_due"),
        CheckConstraint(f"state IN {values(BillRunState)}", name="state"),
        Index("ix_bill_runs_open", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("bill_schedules.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    state: Mapped[BillRunState] = mapped_column(Term(BillRunState))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transfer_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_requests.id"))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SpendingRule(Base):
    """How an outgoing payment is filed for spending analysis (`wallet.retail.spending`): a customer's own
    rule (`user_id`), or the bank's for every customer (no `user_id`: a merchant's category, by its
    address); `match` is `address` (the payee) or `keyword` (in the payment's reference)."""

    __tablename__ = "spending_rules"
    __table_args__ = (
        CheckConstraint("match IN ('address', 'keyword')", name="match"),
        Index("ix_spending_rules_user", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    match: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Budget(Base):
    """A customer's monthly budget for one category in one currency, in minor units."""

    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("user_id", "category", "currency", name="uq_budgets_user_category_currency"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BudgetAlert(Base):
    """A budget crossed in a month: written once (the unique budget and month), with the event."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("budget_id", "month", name="uq_budget_alerts_budget_month"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    budget_id: Mapped[str] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    spent: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentBatch(Base):
    """A batch payment file a customer uploaded (`wallet.retail.batches`): once per message id."""

    __tablename__ = "payment_batches"
    __table_args__ = (UniqueConstraint("owner_id", "message_id", name="uq_payment_batches_owner_message"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    message_id: Mapped[str] = mapped_column(String(35))
    kind: Mapped[str] = mapped_column(String(16))  # pain.001 or csv
    file_hash: Mapped[str] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentBatchLine(Base):
    """One payment of a batch: what the file asked, and the transfer it became (or why it was refused)."""

    __tablename__ = "payment_batch_lines"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    batch_id: Mapped[str] = mapped_column(ForeignKey("payment_batches.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    payment_info_id: Mapped[str] = mapped_column(String(35))
    creditor_name: Mapped[str | None] = mapped_column(String(140))
    from_account: Mapped[str] = mapped_column(ForeignKey("wallet_accounts.id"))
    to_account: Mapped[str | None] = mapped_column(String(64))
    to_address: Mapped[str | None] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(140))
    transfer_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_requests.id"), unique=True)
    error: Mapped[str | None] = mapped_column(String(500))


class Invoice(Base):
    """An invoice a corporate client issued (`wallet.retail.invoices`): parties, lines (quantity as a
    decimal string, unit price in minor units, VAT rate), totals in minor units, and the payment
    reference the mirror's credits are matched by."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("seller_id", "number", name="uq_invoices_seller_number"),
        UniqueConstraint("account_id", "reference", name="uq_invoices_account_reference"),
        CheckConstraint("total = net + tax AND net >= 0 AND tax >= 0", name="totals"),
        Index("ix_invoices_buyer", "buyer_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("wallet_accounts.id"))
    number: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    buyer_name: Mapped[str] = mapped_column(String(140))
    buyer_country: Mapped[str] = mapped_column(String(2))
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    seller_country: Mapped[str] = mapped_column(String(2))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    net: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationPreference(Base):
    """What a customer hears about and how (`wallet.retail.notifications`): for each kind, its channels."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    channels: Mapped[dict[str, list[str]]] = mapped_column(JSON)  # kind -> ["stream", "webhook"]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Notification(Base):
    """A notification written once per event it tells of (the unique source event)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source_event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(300))
    channels: Mapped[list[str]] = mapped_column(JSON)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))  # the `notification` event
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PointsRule(Base):
    """How payments to merchants of a category earn points (`wallet.retail.points`)."""

    __tablename__ = "points_rules"
    __table_args__ = (CheckConstraint("points_per_unit > 0", name="points"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    points_per_unit: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    monthly_cap: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PointsEntry(Base):
    """One double entry of points (currency PTS): `amount` moves from `debit` to `credit`, so each entry
    balances by construction. Earned entries are lots: `remaining` is what redemptions and expiry have
    not taken yet. `source` makes each earning, redemption and expiry happen once."""

    __tablename__ = "points_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("debit <> credit", name="accounts"),
        CheckConstraint("kind IN ('earn', 'redeem', 'expire')", name="kind"),
        CheckConstraint("remaining IS NULL OR (remaining >= 0 AND remaining <= amount)", name="remaining"),
        Index("ix_points_entries_credit", "credit", "kind"),
        Index("ix_points_entries_debit", "debit"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    debit: Mapped[str] = mapped_column(String(64))
    credit: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(200), unique=True)
    rule_id: Mapped[str | None] = mapped_column(ForeignKey("points_rules.id"))
    operation_id: Mapped[str | None] = mapped_column(ForeignKey("bank_operations.id"))
    description: Mapped[str] = mapped_column(String(200))
    earned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
