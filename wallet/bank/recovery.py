"""When the chain is behind the database: detection, recovery, and the incidents operators see.

The database can hold as mined, even final, transactions that the chain no longer has: a reorg past
the confirmation depth, a node restored from an older backup, a development chain that lost its state.
`Recovery.check` finds that out cheaply: block hashes chain each block to its parents, so when the
newest block the outbox recorded is still the chain's block at that height, every older one is too;
otherwise it walks down to the newest recorded block that is (the fork).

`Recovery.recover(fork)` then brings the database back to what the chain supports: every outbox row
mined above the fork whose transaction is gone goes back to broadcast with its signed bytes (its
transfers become `submitted` again and their customers get a `transfer.state` event; the indexer's
own rollback drops the mirror's entries and the event pump retracts vanished credits), nonce gaps are
filled, and the open incidents about it are resolved.

In `tdw dev` that happens on its own (`automatic`). In `tdw serve` the workers stop sending, a critical
incident is opened (logged, announced to operators' webhooks as `incident.opened`, failing
`/readyz`), and `tdw recover` applies the same recovery on an operator's word.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.chain import rpc
from wallet.db.models import ChainTx, Incident, Reorg
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError
from wallet.incidents import close_incident, open_incident
from wallet.vocabulary import IncidentKind, Role, Severity, TxStatus

log = logging.getLogger(__name__)

VIEWERS = (Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
RESOLVERS = (Role.OPERATOR, Role.ADMIN)
# The incidents that stop the workers from sending until they are resolved.
HALTING = (IncidentKind.CHAIN_BEHIND, IncidentKind.DEEP_REORG)


@dataclass(frozen=True)
class IncidentView:
    """An incident as operators see it."""

    id: int
    kind: IncidentKind
    severity: Severity
    summary: str
    details: dict[str, Any]
    reorg_id: int | None
    opened_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


def incident_view(incident: Incident) -> IncidentView:
    """What staff see of an incident row."""
    return IncidentView(
        id=incident.id,
        kind=incident.kind,
        severity=incident.severity,
        summary=incident.summary,
        details=dict(incident.details or {}),
        reorg_id=incident.reorg_id,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        resolution=incident.resolution,
    )


class Incidents:
    """The incident list: opened by the workers, read by staff, resolved by operators."""

    def __init__(self, bank: Bank, *, halt_check_interval: float = 0.5) -> None:
        self.bank = bank
        self.halt_check_interval = halt_check_interval
        self._halted: tuple[float, bool] = (-1e9, False)

    def recent(
        self, principal: Principal, *, open_only: bool = False, limit: int = 100
    ) -> list[IncidentView]:
        """Incidents, newest first (operators, compliance, admins)."""
        principal.require(*VIEWERS)
        query = select(Incident).order_by(Incident.id.desc()).limit(limit)
        if open_only:
            query = query.where(Incident.resolved_at.is_(None))
        with self.bank.readers() as session:
            return [incident_view(i) for i in session.scalars(query)]

    def resolve(self, principal: Principal, incident_id: int, resolution: str) -> IncidentView:
        """Marks an open incident resolved, with what was done (operators and admins)."""
        principal.require(*RESOLVERS)
        if not resolution.strip() or len(resolution) > 500:
            raise InvalidRequestError("a resolution says what was done, in at most 500 characters")
        with self.bank.sessions.begin() as session:
            incident = session.get(Incident, incident_id, with_for_update=True)
            if incident is None:
                raise NotFoundError("incident", str(incident_id))
            if incident.resolved_at is not None:
                raise ConflictError("the incident is resolved already")
            close_incident(incident, principal.user_id, resolution)
            return incident_view(incident)

    def open_critical(self) -> list[IncidentView]:
        """Open critical incidents (for `/readyz` and the workers; no principal)."""
        with self.bank.readers() as session:
            return [
                incident_view(i)
                for i in session.scalars(
                    select(Incident).where(
                        Incident.resolved_at.is_(None), Incident.severity == Severity.CRITICAL
                    )
                )
            ]

    def halted(self) -> bool:
        """Whether an open incident says the chain is behind the database: sending waits for recovery.
        Read again at most every `halt_check_interval` seconds (the relayer asks on every pass)."""
        checked_at, halted = self._halted
        if time.monotonic() - checked_at >= self.halt_check_interval:
            halted = any(i.kind in HALTING for i in self.open_critical())
            self._halted = (time.monotonic(), halted)
        return halted

    def resolve_halting(self, session: Session, by: str, resolution: str) -> int:
        """Resolves every open incident that halts sending; returns how many."""
        rows = list(
            session.scalars(
                select(Incident).where(Incident.resolved_at.is_(None), Incident.kind.in_(HALTING))
            )
        )
        for incident in rows:
            close_incident(incident, by, resolution)
        self._halted = (-1e9, False)
        return len(rows)


@dataclass(frozen=True)
class RecoveryReport:
    """What a recovery did."""

    fork_block: int
    rows_rebroadcast: int
    incidents_resolved: int


class Recovery:
    """Finds a chain behind the database and brings the database back to it."""

    def __init__(self, bank: Bank, incidents: Incidents, *, automatic: bool) -> None:
        self.bank = bank
        self.incidents = incidents
        self.automatic = automatic
        self._looked_after_reorg = 0  # the indexer's reorgs up to this id were followed by a full look

    def check(self, *, max_blocks: int = 10_000) -> int | None:
        """The fork block (the newest block of a settled outbox row that the chain still has) when a
        settled row's block is not the chain's any more; None when the chain holds all of them.

        Settled: final rows, and reverted ones past the confirmation depth. Rows still within it are
        the outbox's own business (it follows shallow reorgs on every pass).

        The newest settled block alone vouches for the older ones only while every recorded hash comes
        from one chain. After a reorg a row can be mined again on the new branch and settle above blocks
        whose recorded rows the new branch dropped; so when the indexer has recorded a reorg since the
        last full look, every settled block above that reorg's fork is checked, and the fork is the
        newest block below all the lost ones."""
        head = self.bank.w3.eth.block_number
        settled_below = head - self.bank.config.confirmations + 1
        settled = (
            select(ChainTx.block_number, ChainTx.block_hash)
            .where(
                ChainTx.chain_id == self.bank.chain_id,
                ChainTx.block_hash.is_not(None),
                ChainTx.block_number.is_not(None),
                (ChainTx.status == TxStatus.FINAL)
                | ((ChainTx.status == TxStatus.FAILED) & (ChainTx.block_number <= settled_below)),
            )
            .distinct()
            .order_by(ChainTx.block_number.desc())
        )
        reorgs = select(func.max(Reorg.id), func.min(Reorg.fork_block)).where(
            Reorg.chain_id == self.bank.chain_id,
            Reorg.id > self._looked_after_reorg,
            Reorg.fork_block >= head - max_blocks,
        )
        # The watchdog asks every second, and nearly always the newest block settles it: read the
        # rest only when that one is gone or a reorg happened.
        with self.bank.readers() as session:
            newest = session.execute(settled.limit(1)).first()
            if newest is None:
                return None
            reorg, reorg_fork = session.execute(reorgs).one()
            if reorg is None:
                if self._on_chain(newest, head):
                    return None
                recorded = session.execute(settled.offset(1).limit(max_blocks)).all()
                for number, block_hash in recorded:  # one chain: the newest still there is the fork
                    if self._on_chain((number, block_hash), head):
                        return int(number or 0)  # the query left out rows without a block
                return -1
            recorded = session.execute(
                settled.where(ChainTx.block_number > reorg_fork).limit(max_blocks)
            ).all()
        present = {int(n or 0): self._on_chain((n, h), head) for n, h in recorded}
        lost = [n for n, there in present.items() if not there]
        if not lost:
            self._looked_after_reorg = int(reorg)
            return None
        below = [n for n, there in present.items() if there and n < min(lost)]
        return max(below, default=int(reorg_fork))

    def _on_chain(self, row: Any, head: int) -> bool:
        number, block_hash = row
        return bool(number <= head and rpc.block_hash(self.bank.w3, number) == str(block_hash).lower())

    def recover(self, fork_block: int, *, by: str) -> RecoveryReport:
        """Moves every outbox back to what the chain supports above `fork_block` and resolves the
        incidents that halted sending."""
        moved = sum(outbox.recover(fork_block) for outbox in self.bank.outboxes.values())
        with self.bank.sessions.begin() as session:
            resolved = self.incidents.resolve_halting(
                session, by, f"recovered: {moved} transactions above block {fork_block} broadcast again"
            )
        log.warning("recovery above block %d: %d transactions broadcast again", fork_block, moved)
        return RecoveryReport(fork_block=fork_block, rows_rebroadcast=moved, incidents_resolved=resolved)

    def step(self) -> int:
        """One pass of the watchdog: in automatic mode recovers at once; otherwise opens a critical
        incident (once) and leaves the recovery to an operator (`tdw recover`)."""
        fork = self.check()
        if fork is None:
            if self.automatic and self.incidents.halted():
                # The indexer found a reorg past final entries that the outbox had not recorded.
                with self.bank.sessions.begin() as session:
                    self.incidents.resolve_halting(
                        session, "tdw dev", "the outbox holds nothing the chain lost"
                    )
            return 0
        if self.automatic:
            self.recover(fork, by="tdw dev")
            return 1
        if not self.incidents.halted():
            with self.bank.sessions.begin() as session:
                open_incident(
                    session,
                    IncidentKind.CHAIN_BEHIND,
                    Severity.CRITICAL,
                    f"the chain no longer holds transactions the database recorded above block {fork}; "
                    "sending is stopped until `tdw recover`",
                    {"fork_block": fork},
                )
        return 0
