"""The transaction outbox: every chain transaction of one sending key is a database row that only moves
forward, `intent -> signed -> broadcast -> included -> confirmed -> final`, or ends `failed` with its
decoded error.

Crash safety comes from the order of effects: the nonce is allocated and the intent written in the
caller's database transaction; the signed raw transaction is committed before it is broadcast; a
restart resumes every unfinished row from what the database says (rebroadcasting the stored raw
transaction), never re-creating it. Every state change is an UPDATE conditional on the row's version,
so several processes may advance the same rows: the loser of a race simply does nothing.

Nonces come from one atomic `UPDATE ... RETURNING` on `relayer_nonces`, which serialises concurrent
allocators on both SQLite and PostgreSQL, so processes can share one key without collisions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3Exception, Web3RPCError
from web3.types import TxReceipt

from wallet import logs
from wallet.chain.confirmations import mined_state
from wallet.chain.revert import ErrorDecoder, jsonable_args
from wallet.chain.transact import base_fee, replay_revert
from wallet.db.engine import readonly
from wallet.db.models import ChainTx, RelayerNonce, aware
from wallet.errors import SigningError, WalletError
from wallet.keys.base import Signer
from wallet.vocabulary import TxStatus

log = logging.getLogger(__name__)

UNFINISHED = (TxStatus.INTENT, TxStatus.SIGNED, TxStatus.BROADCAST, TxStatus.INCLUDED, TxStatus.CONFIRMED)


@dataclass(frozen=True)
class OutboxConfig:
    """How the outbox waits and replaces."""

    confirmations: int = 3  # blocks (the including one counted) after which a row is final
    stuck_after: float = 30.0  # seconds a broadcast may stay unmined before it is rebroadcast or replaced
    fee_bump_percent: int = 20  # nodes require at least 10% more for a replacement
    priority_fee: int = 10**9
    # The most any transaction may offer per gas (wei). A stuck row is replaced with higher fees only up
    # to here; past it the outbox keeps rebroadcasting what it signed and raises a critical alert once,
    # instead of bumping without end while the network's fees climb. None: no cap.
    max_fee_per_gas: int | None = 500 * 10**9


class OutboxListener(Protocol):
    """Told about outcomes inside the same database transaction as the row's state change."""

    def included(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        """`tx` was mined successfully in a block (again, after a reorg)."""

    def rolled_back(self, session: Session, tx: ChainTx) -> None:
        """A reorg took `tx` out of the chain; it is back to broadcast."""

    def failed(self, session: Session, tx: ChainTx) -> None:
        """`tx` reverted or can never be mined."""

    def final(self, session: Session, tx: ChainTx) -> None:
        """`tx` (mined successfully) became final: deep enough, and in a durable chain state."""


class NoListener:
    """An `OutboxListener` that ignores everything."""

    def included(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        pass

    def rolled_back(self, session: Session, tx: ChainTx) -> None:
        pass

    def failed(self, session: Session, tx: ChainTx) -> None:
        pass

    def final(self, session: Session, tx: ChainTx) -> None:
        pass


class Listeners:
    """Tells several listeners, in order (each looks at the rows of its own kinds)."""

    def __init__(self, *listeners: OutboxListener) -> None:
        self.listeners = listeners

    def included(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        for listener in self.listeners:
            listener.included(session, tx, receipt)

    def rolled_back(self, session: Session, tx: ChainTx) -> None:
        for listener in self.listeners:
            listener.rolled_back(session, tx)

    def failed(self, session: Session, tx: ChainTx) -> None:
        for listener in self.listeners:
            listener.failed(session, tx)

    def final(self, session: Session, tx: ChainTx) -> None:
        for listener in self.listeners:
            listener.final(session, tx)


class Outbox:
    """The outbox of one sending key on one chain."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        signer: Signer,
        *,
        decoder: ErrorDecoder,
        listener: OutboxListener | None = None,
        config: OutboxConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        durable_block: Callable[[int], int] | None = None,
    ) -> None:
        self._sessions = sessions
        # The newest block a crash of the node cannot take back (see `StateSaver`): no row above it is
        # final. None: every block the node has.
        self.durable_block = durable_block
        # The wall clock a row's waiting is measured by (tests inject one to let time pass).
        self.clock = clock or _now
        self._readers = readonly(sessions)
        self.w3 = w3
        self.signer = signer
        self.decoder = decoder
        self.listener: OutboxListener = listener or NoListener()
        self.config = config or OutboxConfig()
        self.chain_id = w3.eth.chain_id
        self._fee_cache: tuple[float, int] | None = None
        # Broadcast rows found unmined at a head: a receipt can only appear with a new block, so
        # they are not asked about again until the head moves.
        self._unmined_at: dict[str, int] = {}
        # Rows whose replacement hit the fee cap, alerted once per process.
        self._capped_rows: set[str] = set()
        self._ensure_nonce_row()

    @property
    def sender(self) -> ChecksumAddress:
        """The sending address."""
        return self.signer.address

    # ------------------------------------------------------------------------------- enqueueing ---

    def enqueue(
        self,
        session: Session,
        *,
        kind: str,
        to: str,
        data: bytes,
        gas_limit: int,
        value: int = 0,
        request_ids: list[str] | None = None,
    ) -> ChainTx:
        """Allocates the next nonce and writes an intent, inside the caller's database transaction.
        `request_ids`: the HTTP requests it serves; by default the one being served, if any."""
        tx = self._intent(
            self._allocate_nonce(session), kind=kind, to=to, data=data, gas_limit=gas_limit, value=value
        )
        if request_ids is None and (current := logs.request_id()) is not None:
            request_ids = [current]
        tx.request_ids = request_ids or None
        session.add(tx)
        session.flush()
        return tx

    def _intent(self, nonce: int, *, kind: str, to: str, data: bytes, gas_limit: int, value: int) -> ChainTx:
        max_fee, priority = self._fees()
        return ChainTx(
            id=uuid.uuid4().hex,
            chain_id=self.chain_id,
            sender=self.sender,
            nonce=nonce,
            kind=kind,
            to_address=to,
            data=data,
            value=value,
            gas_limit=gas_limit,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            status=TxStatus.INTENT,
            attempt_hashes=[],
            confirmations=0,
            version=0,
        )

    def _ensure_nonce_row(self) -> None:
        with self._sessions() as session:
            if session.get(RelayerNonce, (self.chain_id, self.sender)) is not None:
                return
        start = self.w3.eth.get_transaction_count(self.sender, "pending")
        try:
            with self._sessions.begin() as session:
                session.add(RelayerNonce(chain_id=self.chain_id, address=self.sender, next_nonce=start))
        except IntegrityError:
            pass  # another process made it first

    def _allocate_nonce(self, session: Session) -> int:
        stmt = (
            update(RelayerNonce)
            .where(RelayerNonce.chain_id == self.chain_id, RelayerNonce.address == self.sender)
            .values(next_nonce=RelayerNonce.next_nonce + 1)
            .returning(RelayerNonce.next_nonce)
        )
        allocated: int = session.execute(stmt).scalar_one() - 1
        return allocated

    def _fees(self) -> tuple[int, int]:
        # Read at most once a second: intents are written inside the caller's database transaction,
        # which should not wait for a node round trip each time. Twice the base fee covers the rise
        # of several full blocks.
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > 1.0:
            self._fee_cache = (now, base_fee(self.w3))
        priority = self.config.priority_fee
        return self._capped(2 * self._fee_cache[1] + priority, priority)

    def _capped(self, max_fee: int, priority: int) -> tuple[int, int]:
        cap = self.config.max_fee_per_gas
        if cap is None or max_fee <= cap:
            return max_fee, priority
        return cap, min(priority, cap)

    # ------------------------------------------------------------------------------- processing ---

    def unfinished(self) -> list[ChainTx]:
        """This key's rows that are not final or failed, lowest nonce first."""
        with self._readers() as session:
            return list(
                session.scalars(
                    select(ChainTx)
                    .where(
                        ChainTx.chain_id == self.chain_id,
                        ChainTx.sender == self.sender,
                        ChainTx.status.in_(UNFINISHED),
                    )
                    .order_by(ChainTx.nonce)
                )
            )

    def process(self) -> int:
        """Moves every unfinished row as far forward as it can go now; returns how many changed."""
        self._fill_gaps()
        rows = self.unfinished()
        if not rows:
            return 0
        head = self.w3.eth.block_number
        chain_nonce = self.w3.eth.get_transaction_count(self.sender, "latest")
        open_ids = {row.id for row in rows}
        self._unmined_at = {k: v for k, v in self._unmined_at.items() if k in open_ids}
        changed = 0
        for row in rows:
            changed += self._advance(row, head, chain_nonce)
        return changed

    def _advance(self, row: ChainTx, head: int, chain_nonce: int) -> int:
        if row.status == TxStatus.INTENT and not self._sign(row):
            return 0
        if row.status == TxStatus.SIGNED:
            self._broadcast(row.raw_tx)
            if not self._move(row, status=TxStatus.BROADCAST, broadcast_at=self.clock()):
                return 0
            log.info(
                "broadcast %s %s nonce %d",
                row.kind,
                row.tx_hash,
                row.nonce,
                extra={"chain_tx": row.id, "tx_hash": row.tx_hash, "request_ids": row.request_ids or []},
            )
        if row.status == TxStatus.BROADCAST:
            return self._check_broadcast(row, head, chain_nonce)
        return self._check_included(row, head)

    def _sign(self, row: ChainTx) -> bool:
        try:
            signed = self.signer.sign_transaction(
                _transaction(row, row.max_fee_per_gas, row.max_priority_fee_per_gas)
            )
        except SigningError as exc:
            self._move(
                row, status=TxStatus.FAILED, error_name="SigningError", error_args={"message": str(exc)}
            )
            return False
        tx_hash = "0x" + signed.hash.hex()
        return self._move(
            row, status=TxStatus.SIGNED, raw_tx=signed.raw, tx_hash=tx_hash, attempt_hashes=[tx_hash]
        )

    def _broadcast(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (Web3RPCError, ValueError) as exc:
            # "already known" and "nonce too low" mean it, or a replacement, is there already; anything
            # else is retried from the stored raw transaction on the next pass.
            log.info("broadcast of a stored transaction answered: %s", exc)

    def _receipt(self, row: ChainTx) -> TxReceipt | None:
        for tx_hash in reversed(row.attempt_hashes or []):
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                continue
        return None

    def _known(self, row: ChainTx) -> bool:
        """Whether the node knows any of the transactions this row was broadcast as (mined or pending)."""
        for tx_hash in row.attempt_hashes or []:
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                continue
            return True
        return False

    def _check_broadcast(self, row: ChainTx, head: int, chain_nonce: int) -> int:
        if self._unmined_at.get(row.id) != head:
            changed = self._check_receipt(row, head, chain_nonce)
            if changed is not None:
                self._unmined_at.pop(row.id, None)  # a reorg may bring it back to a head seen before
                return changed
            self._unmined_at[row.id] = head
        return self._check_stuck(row)

    def _check_receipt(self, row: ChainTx, head: int, chain_nonce: int) -> int | None:
        """What the row's receipt, or the nonce used without one, changed; None: unmined at `head`."""
        receipt = self._receipt(row)
        if receipt is not None:
            return self._mined(row, receipt, head)
        if chain_nonce > row.nonce:
            # The nonce is used on chain. A missing receipt alone does not prove it was used by another
            # transaction: a node can answer for the nonce before the receipt (seen on anvil under load).
            # Only when the node knows none of this row's transactions was the nonce taken elsewhere.
            if self._known(row):
                return 0
            return int(
                self._move(
                    row,
                    status=TxStatus.FAILED,
                    error_name="NonceUsedElsewhere",
                    error_args={"nonce": row.nonce},
                    notify="failed",
                )
            )
        return None

    def _check_stuck(self, row: ChainTx) -> int:
        """Sends a row again, or replaces it with higher fees, once it has waited `stuck_after`."""
        broadcast_at = aware(row.broadcast_at or self.clock())
        if self.clock() - broadcast_at < timedelta(seconds=self.config.stuck_after):
            return 0
        try:
            self.w3.eth.get_transaction(HexBytes(row.tx_hash or ""))
        except TransactionNotFound:
            self._broadcast(row.raw_tx)  # dropped from the pool: send the same bytes again
            return int(self._move(row, broadcast_at=self.clock()))
        return int(self._replace(row))

    def _replace(self, row: ChainTx) -> bool:
        """Re-signs the same nonce with higher fees; keeps every earlier hash to watch for receipts. At
        the fee cap, where no replacement the node would accept (10% more) fits, it rebroadcasts the
        signed bytes and waits instead, with a critical alert the first time."""
        bump = 100 + self.config.fee_bump_percent
        priority = max(row.max_priority_fee_per_gas * bump // 100, self.config.priority_fee)
        wanted = max(row.max_fee_per_gas * bump // 100, 2 * base_fee(self.w3) + priority)
        max_fee, priority = self._capped(wanted, priority)
        if max_fee * 10 < row.max_fee_per_gas * 11 or priority * 10 < row.max_priority_fee_per_gas * 11:
            if row.id not in self._capped_rows:
                self._capped_rows.add(row.id)
                log.critical(
                    "fee cap reached: %s row %s (nonce %s of %s) needs %s wei per gas, the cap is %s; "
                    "it waits at %s (raise TDW_MAX_FEE_GWEI or wait for fees to fall)",
                    row.kind,
                    row.id,
                    row.nonce,
                    row.sender,
                    wanted,
                    self.config.max_fee_per_gas,
                    row.max_fee_per_gas,
                )
            self._broadcast(row.raw_tx)
            return self._move(row, broadcast_at=self.clock())
        signed = self.signer.sign_transaction(_transaction(row, max_fee, priority))
        tx_hash = "0x" + signed.hash.hex()
        moved = self._move(
            row,
            raw_tx=signed.raw,
            tx_hash=tx_hash,
            attempt_hashes=[*row.attempt_hashes, tx_hash],
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            broadcast_at=self.clock(),
        )
        if moved:
            self._broadcast(signed.raw)
        return moved

    def _mined(self, row: ChainTx, receipt: TxReceipt, head: int) -> int:
        mined_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        if receipt["status"] != 1:
            error = replay_revert(self.w3, self.decoder, bytes(receipt["transactionHash"]), receipt)
            return int(
                self._move(
                    row,
                    status=TxStatus.FAILED,
                    tx_hash=mined_hash,
                    block_number=receipt["blockNumber"],
                    block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                    error_name=error.error_name,
                    error_args=jsonable_args(error.error_args),
                    notify="failed",
                )
            )
        confirmations = head - receipt["blockNumber"] + 1
        return int(
            self._move(
                row,
                status=self._status(receipt["blockNumber"], head),
                tx_hash=mined_hash,
                block_number=receipt["blockNumber"],
                block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                confirmations=confirmations,
                notify=("included", receipt),
            )
        )

    def _check_included(self, row: ChainTx, head: int) -> int:
        assert row.block_number is not None
        try:
            block_hash: str | None = "0x" + bytes(self.w3.eth.get_block(row.block_number)["hash"]).hex()
        except BlockNotFound:
            block_hash = None  # the chain is shorter than the row's block now: a reorg
        except (WalletError, Web3Exception) as exc:
            # A node that does not answer says nothing about the chain: look again on the next pass.
            # Taking it for a reorg sent mined transfers back to "submitted" and rebroadcast them.
            log.warning("could not read block %s for %s: %s", row.block_number, row.tx_hash, exc)
            return 0
        receipt = self._receipt(row)
        if block_hash != row.block_hash or receipt is None or receipt["blockNumber"] != row.block_number:
            log.warning(
                "reorg: %s (nonce %d) left block %s; back to broadcast",
                row.tx_hash,
                row.nonce,
                row.block_number,
            )
            self._broadcast(row.raw_tx)
            return int(
                self._move(
                    row,
                    status=TxStatus.BROADCAST,
                    block_number=None,
                    block_hash=None,
                    confirmations=0,
                    broadcast_at=self.clock(),
                    notify="rolled_back",
                )
            )
        confirmations = head - row.block_number + 1
        status = self._status(row.block_number, head)
        if status == row.status and confirmations == row.confirmations:
            return 0
        return int(self._move(row, status=status, confirmations=confirmations))

    def _status(self, block_number: int, head: int) -> TxStatus:
        """Final once deep enough and in a chain state a crash cannot take back (`mined_state`)."""
        return TxStatus(mined_state(block_number, head, self.config.confirmations, self.durable_block))

    # ------------------------------------------------------------------------------- recovery ---

    def recover(self, fork_block: int) -> int:
        """Brings the rows back to what the chain supports after it lost blocks above `fork_block` (a
        reorg past the finality depth, a restored backup, a dev chain that lost its state): every row
        the database holds mined there, final ones included, whose transaction is not on the chain
        any more goes back to broadcast with its signed bytes (rebroadcast in nonce order; the
        authorizations in it are unused on this chain, so each executes at most once); a reverted one
        that vanished leaves its nonce unused, and that gap is filled. Returns how many rows moved."""
        head = self.w3.eth.block_number
        with self._readers() as session:
            rows = list(
                session.scalars(
                    select(ChainTx)
                    .where(
                        ChainTx.chain_id == self.chain_id,
                        ChainTx.sender == self.sender,
                        ChainTx.block_number > fork_block,
                        ChainTx.status.in_((TxStatus.INCLUDED, TxStatus.CONFIRMED, TxStatus.FINAL)),
                    )
                    .order_by(ChainTx.nonce)
                )
            )
        moved = sum(self._check_included(row, head) for row in rows)
        self._fill_gaps(broadcast_too=True)
        self.rebroadcast()
        if moved:
            log.warning("recovery: %d transactions of %s are broadcast again", moved, self.sender)
        return moved

    def rebroadcast(self) -> int:
        """Sends every broadcast row's signed bytes again, in nonce order: after a node restart its pool
        is empty, and waiting `stuck_after` for each would hold every later nonce back."""
        rows = [r for r in self.unfinished() if r.status == TxStatus.BROADCAST]
        for row in rows:
            self._broadcast(row.raw_tx)
        return len(rows)

    def _fill_gaps(self, *, broadcast_too: bool = False) -> None:
        """A row that failed before it was ever broadcast leaves its nonce unused, which would hold back
        every later nonce: turn it into a zero-value transfer to ourselves with the same nonce. With
        `broadcast_too` (recovery), also the nonce of a failed row that was broadcast, when the chain
        has not used it: a reverted transaction that vanished with the blocks the chain lost."""
        live = aliased(ChainTx)
        never_broadcast = [] if broadcast_too else [ChainTx.broadcast_at.is_(None)]
        with self._readers() as session:
            gaps = list(
                session.scalars(
                    select(ChainTx).where(
                        ChainTx.chain_id == self.chain_id,
                        ChainTx.sender == self.sender,
                        ChainTx.status == TxStatus.FAILED,
                        *never_broadcast,
                        ~exists().where(
                            live.chain_id == ChainTx.chain_id,
                            live.sender == ChainTx.sender,
                            live.nonce == ChainTx.nonce,
                            live.status != TxStatus.FAILED,
                        ),
                    )
                )
            )
        if not gaps:
            return
        chain_nonce = self.w3.eth.get_transaction_count(self.sender, "latest")
        for row in gaps:
            if row.nonce < chain_nonce:
                continue
            filler = self._intent(row.nonce, kind="gap", to=self.sender, data=b"", gas_limit=21_000, value=0)
            try:
                with self._sessions.begin() as session:
                    session.add(filler)
            except IntegrityError:
                continue  # another process filled it first
            log.warning("filled the nonce gap at %d left by %s", row.nonce, row.id)

    # --------------------------------------------------------------------------------- plumbing ---

    def _move(self, row: ChainTx, *, notify: Any = None, **values: Any) -> bool:
        """Applies `values` to `row` if nobody changed it since it was read; tells the listener in the same
        database transaction. Updates `row` in place on success."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(ChainTx)
                .where(ChainTx.id == row.id, ChainTx.version == row.version)
                .values(version=row.version + 1, updated_at=self.clock(), **values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            was_final = row.status == TxStatus.FINAL
            for key, value in values.items():
                setattr(row, key, value)
            row.version += 1
            fresh = None
            if notify is not None:
                fresh = session.get(ChainTx, row.id)
                assert fresh is not None
                if notify == "failed":
                    self.listener.failed(session, fresh)
                elif notify == "rolled_back":
                    self.listener.rolled_back(session, fresh)
                else:
                    self.listener.included(session, fresh, notify[1])
            if values.get("status") == TxStatus.FINAL and not was_final:
                self.listener.final(session, fresh or session.get(ChainTx, row.id) or row)
        return True

    def wait_until_settled(self, *, timeout: float = 120.0, poll: float = 0.05) -> None:
        """Processes until no row is waiting to be mined (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process()
            if not any(
                r.status in (TxStatus.INTENT, TxStatus.SIGNED, TxStatus.BROADCAST) for r in self.unfinished()
            ):
                return
            time.sleep(poll)
        raise TimeoutError("the outbox did not settle")


def _transaction(row: ChainTx, max_fee: int, priority: int) -> dict[str, Any]:
    """The EIP-1559 transaction of `row` with the given fees, ready to sign."""
    return {
        "type": 2,
        "chainId": row.chain_id,
        "nonce": row.nonce,
        "to": row.to_address,
        "value": row.value,
        "data": row.data,
        "gas": row.gas_limit,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": priority,
    }


def _now() -> datetime:
    return datetime.now(UTC)


def statuses(rows: Iterable[ChainTx]) -> list[str]:
    """The statuses of `rows`, for logs and tests."""
    return [r.status for r in rows]
