"""Table models. Invariants that matter for money live in the database as well as in the code."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


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
