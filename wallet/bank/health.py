"""How the machinery is doing, for operators: the outbox's transactions by state and the age of the
oldest still moving, each sending key's nonces (allocated here, mined and pending on the node), the
ledger mirror's lag behind the chain head, transfers not yet final, webhook deliveries owed, open
incidents, screening hits, reorgs, and the newest reconciliation. Read-only: one database read, and
two node calls per sending key and one for the head."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.db.models import (
    ChainTx,
    Incident,
    IndexerCursor,
    Reconciliation,
    RelayerNonce,
    Reorg,
    ScreeningHit,
    TransferRequest,
    WebhookDelivery,
)
from wallet.vocabulary import DeliveryStatus, RequestStatus, Role, TxStatus

VIEWERS = (Role.OPERATOR, Role.ADMIN, Role.COMPLIANCE)
MOVING = (TxStatus.INTENT, TxStatus.SIGNED, TxStatus.BROADCAST, TxStatus.INCLUDED, TxStatus.CONFIRMED)
UNSETTLED = (RequestStatus.HELD, RequestStatus.PENDING, RequestStatus.QUEUED)


@dataclass(frozen=True)
class Sender:
    """One sending key: the next nonce the database will hand out, and the node's mined and pending
    counts. `in_flight` is what the node has not mined yet of what was allocated."""

    role: str
    address: str
    next_nonce: int
    mined: int
    pending: int

    @property
    def in_flight(self) -> int:
        return max(self.next_nonce - self.mined, 0)


@dataclass(frozen=True)
class Health:
    head_block: int
    mirror_block: int | None
    outbox: dict[str, int]  # rows by status (final and failed included, as totals)
    oldest_moving_seconds: float | None
    senders: list[Sender]
    unsettled_transfers: dict[str, int]
    webhook_backlog: int
    open_incidents: dict[str, int]  # by severity
    reconciliation: dict[str, Any] | None
    screening_hits: dict[str, int]  # by state
    reorgs: int  # reorgs the indexer followed, ever

    @property
    def mirror_lag(self) -> int | None:
        return None if self.mirror_block is None else max(self.head_block - self.mirror_block, 0)


class HealthService:
    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def snapshot(self, principal: Principal) -> Health:
        """`read`, for operators, compliance officers and administrators."""
        principal.require(*VIEWERS)
        return self.read()

    def read(self) -> Health:
        """The figures now (for staff through `snapshot`, and for the metrics endpoint)."""
        bank = self.bank
        now = datetime.now(UTC)
        with bank.readers() as session:
            outbox = {
                str(status): int(count)
                for status, count in session.execute(
                    select(ChainTx.status, func.count())
                    .where(ChainTx.chain_id == bank.chain_id)
                    .group_by(ChainTx.status)
                )
            }
            oldest = session.scalar(
                select(func.min(ChainTx.created_at)).where(
                    ChainTx.chain_id == bank.chain_id, ChainTx.status.in_(MOVING)
                )
            )
            nonces = dict(
                session.execute(
                    select(RelayerNonce.address, RelayerNonce.next_nonce).where(
                        RelayerNonce.chain_id == bank.chain_id
                    )
                ).all()
            )
            unsettled = {
                str(status): int(count)
                for status, count in session.execute(
                    select(TransferRequest.status, func.count())
                    .where(TransferRequest.status.in_(UNSETTLED))
                    .group_by(TransferRequest.status)
                )
            }
            backlog = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            )
            incidents = {
                str(severity): int(count)
                for severity, count in session.execute(
                    select(Incident.severity, func.count())
                    .where(Incident.resolved_at.is_(None))
                    .group_by(Incident.severity)
                )
            }
            hits = {
                str(state): int(count)
                for state, count in session.execute(
                    select(ScreeningHit.state, func.count()).group_by(ScreeningHit.state)
                )
            }
            reorgs = int(
                session.scalar(select(func.count()).select_from(Reorg).where(Reorg.chain_id == bank.chain_id))
                or 0
            )
            cursor = session.get(IndexerCursor, bank.chain_id)
            last = session.scalars(
                select(Reconciliation)
                .where(Reconciliation.chain_id == bank.chain_id)
                .order_by(Reconciliation.id.desc())
                .limit(1)
            ).first()
            reconciliation = (
                None
                if last is None
                else {
                    "id": last.id,
                    "ok": last.difference_count == 0,
                    "differences": last.difference_count,
                    "at_block": last.at_block,
                    "finished_at": last.finished_at,
                }
            )
        senders = []
        for role, signer in sorted(bank.role_signers.items()):
            address = signer.address
            if address not in nonces:
                continue
            senders.append(
                Sender(
                    role=role,
                    address=address,
                    next_nonce=int(nonces[address]),
                    mined=bank.w3.eth.get_transaction_count(address, "latest"),
                    pending=bank.w3.eth.get_transaction_count(address, "pending"),
                )
            )
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return Health(
            head_block=bank.w3.eth.block_number,
            mirror_block=cursor.block_number if cursor else None,
            outbox=outbox,
            oldest_moving_seconds=(now - oldest).total_seconds() if oldest is not None else None,
            senders=senders,
            unsettled_transfers=unsettled,
            webhook_backlog=int(backlog or 0),
            open_incidents=incidents,
            reconciliation=reconciliation,
            screening_hits=hits,
            reorgs=reorgs,
        )


__all__ = ["Health", "HealthService", "Sender"]
