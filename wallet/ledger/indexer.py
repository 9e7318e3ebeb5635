"""The indexer: follows the bank's tokens and registry with eth_getLogs and mirrors them into the
double-entry journal.

Each step fetches one block range (adaptive: it halves on a node's range or size error and grows
again while ranges are small), decodes the logs by slicing topics (web3's log processing is ~20x
slower), and writes, in ONE database transaction: the journal entries and their legs (each Transfer
log is an entry: -value on the sender, +value on the receiver, the zero address being the token's
issuance account), the non-money events (freezes, KYC, payment references), the hashes of the blocks
it applied, and the cursor. A crash anywhere resumes without loss or duplication; the unique key on
(chain, tx hash, log index) makes a replay impossible anyway.

Before each step the cursor's block hash is compared with the chain's. If they differ, the chain
reorganised: the mirror is rolled back to the newest applied block still on the chain and the new
branch is applied by the following steps. A rollback past final entries raises `DeepReorgError`.
The range's end block is read before and after its logs, so a reorg between the step's calls is seen
and the range read again, instead of one branch's logs being recorded under another's hashes.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.chain import rpc
from wallet.chain.confirmations import confirmation_state
from wallet.db.engine import readonly
from wallet.db.models import (
    ChainEvent,
    Event,
    EventCursor,
    IndexedBlock,
    IndexerCursor,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    Reorg,
    ReorgedEntry,
)
from wallet.errors import DeepReorgError, LedgerError, LogRangeTooLargeError
from wallet.incidents import open_incident
from wallet.vocabulary import EntryState, IncidentKind, Severity
from wallet.workers import run_forever

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x" + "00" * 20
# The event cursor of the pump that announces credits (`funds.received`): a journal leg id.
FUNDS_CURSOR = "funds"


def _topic(signature: str) -> bytes:
    return keccak(text=signature)


TRANSFER = _topic("Transfer(address,address,uint256)")
# The non-money events the mirror keeps (as `chain_events` rows). How to decode each is read from the
# contracts' compiled ABI when an indexer starts, so a changed event cannot be decoded with a stale layout.
MIRRORED_EVENTS = (
    "TransferReferenced",
    "TransferForced",
    "AccountFrozen",
    "AccountUnfrozen",
    "FrozenAmountChanged",
    "AccountRecovered",
    "KycUpdated",
    "BlockedUpdated",
    # What an officer must see of the compliance link itself: a token that stopped following the
    # registry, a new cache epoch, a pause.
    "TokenAttached",
    "TokenDetached",
    "TokenPushFailed",
    "RegistryLinkChanged",
    "Paused",
    "Unpaused",
)


@dataclass(frozen=True)
class EventLayout:
    """How to decode one mirrored event: its name, how many leading indexed topics are addresses, and
    the types and names of its data fields."""

    name: str
    accounts: int
    types: tuple[str, ...]
    names: tuple[str, ...]


def event_table(abis: Iterable[Iterable[Mapping[str, Any]]]) -> dict[bytes, EventLayout]:
    """The layout of every mirrored event by its topic, from compiled ABIs; a `LedgerError` names any
    mirrored event that none of them declares."""
    table: dict[bytes, EventLayout] = {}
    for abi in abis:
        for item in abi:
            if item.get("type") != "event" or item.get("name") not in MIRRORED_EVENTS:
                continue
            inputs = item["inputs"]
            indexed = [i["type"] for i in inputs if i["indexed"]]
            accounts = len(indexed) - len(list(itertools.dropwhile(lambda t: t == "address", indexed)))
            data = [i for i in inputs if not i["indexed"]]
            table[bytes(event_abi_to_log_topic(cast(ABIEvent, item)))] = EventLayout(
                name=item["name"],
                accounts=accounts,
                types=tuple(i["type"] for i in data),
                names=tuple(i["name"] for i in data),
            )
    missing = set(MIRRORED_EVENTS) - {layout.name for layout in table.values()}
    if missing:
        raise LedgerError(f"the contracts' ABI declares no event {', '.join(sorted(missing))}")
    return table


@dataclass
class IndexerConfig:
    """How the indexer walks the chain."""

    confirmations: int = 12
    start_block: int = 0
    initial_range: int = 2_000
    max_range: int = 50_000
    max_logs_per_range: int = 20_000


@dataclass
class StepResult:
    """What one step did."""

    from_block: int
    to_block: int
    entries: int
    events: int
    rolled_back_to: int | None = None
    retried: bool = False  # the chain reorganised while the range was read; nothing was written


class Indexer:
    """Mirrors one chain's token and registry events into the journal."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        contracts: Iterable[str],
        config: IndexerConfig | None = None,
        *,
        abis: Iterable[Iterable[Mapping[str, Any]]],
        durable_block: Callable[[int], int] | None = None,
    ) -> None:
        self._sessions = sessions
        # The newest block a crash of the node cannot take back (see `StateSaver`); nothing above it is
        # called final. None: every block the node has.
        self.durable_block = durable_block
        self.events = event_table(abis)
        self._topics = ["0x" + t.hex() for t in [TRANSFER, *self.events]]
        self._readers = readonly(sessions)
        self.w3 = w3
        self.contracts = [to_checksum_address(c) for c in contracts]
        self.config = config or IndexerConfig()
        self.chain_id = w3.eth.chain_id
        self._range = self.config.initial_range
        self._accounts: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------------------------ steps ---

    def step(self) -> StepResult | None:
        """Applies the next block range (or rolls back a reorg); None when the mirror is at the head."""
        head = self.w3.eth.block_number
        cursor = self._cursor()
        if cursor is not None and rpc.block_hash(self.w3, cursor[0]) != cursor[1]:
            return self._rollback(head)
        start = (cursor[0] + 1) if cursor is not None else self.config.start_block
        if start > head:
            self._update_states(head)
            return None
        while True:
            end = min(head, start + self._range - 1)
            end_before = rpc.block(self.w3, end)
            if end_before is None:
                return self._unsettled(start, end)  # the chain got shorter since `head` was read
            try:
                logs = self._get_logs(start, end)
            except LogRangeTooLargeError:
                if self._range == 1:
                    raise
                self._range = max(1, self._range // 2)
                continue
            break
        if not self._same_chain(cursor, end_before, logs):
            return self._unsettled(start, end)
        if len(logs) < self.config.max_logs_per_range // 4:
            self._range = min(self.config.max_range, self._range * 2)
        result = self._apply(start, end, logs, head, end_before)
        self._update_states(head)
        return result

    def _same_chain(
        self, cursor: tuple[int, str] | None, end_block: dict[str, Any], logs: Sequence[dict[str, Any]]
    ) -> bool:
        """Whether the logs provably belong to the branch whose hashes the step is about to record.

        A reorg between the step's reads would otherwise write one branch's entries under another
        branch's hashes, and no later step would notice. Any reorg that reaches into the range (or
        below it) replaces the range's end block, so the end is read before and after the logs: the
        same hash twice, the cursor's block still on the chain, and every log in the end block naming
        that hash, mean the logs come from that one branch."""
        end_after = rpc.block(self.w3, int(end_block["number"], 16))
        if end_after is None or end_after["hash"] != end_block["hash"]:
            return False
        if cursor is not None and rpc.block_hash(self.w3, cursor[0]) != cursor[1]:
            return False
        hashes: dict[str, str] = {end_block["number"]: end_block["hash"]}
        for item in logs:
            if hashes.setdefault(item["blockNumber"], item["blockHash"]) != item["blockHash"]:
                return False
        return True

    def _unsettled(self, start: int, end: int) -> StepResult:
        """The chain moved under the step: nothing is written, and the next step starts over."""
        log.info("the chain reorganised while blocks %d..%d were read; reading them again", start, end)
        return StepResult(from_block=start, to_block=end, entries=0, events=0, retried=True)

    def follow_step(self) -> int:
        """One step for a worker loop: 0 at the head, else 1. A deep reorg is logged loudly (by the
        rollback) and following goes on from the fork."""
        try:
            return 0 if self.step() is None else 1
        except DeepReorgError:
            return 1

    def follow(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Steps until `stop` is set, waiting `poll_interval` whenever the mirror is at the head; a
        failing step (the node away, a block it lost) is logged and retried with a backoff."""
        run_forever(self.follow_step, stop, name="indexer", idle=poll_interval)

    def run_until_head(self, max_steps: int = 1_000_000) -> int:
        """Steps until the mirror is at the head; returns how many entries were applied."""
        applied = 0
        for _ in range(max_steps):
            result = self.step()
            if result is None:
                return applied
            applied += result.entries
        return applied

    # ----------------------------------------------------------------------------- the chain ---

    def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        params = {
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "address": self.contracts,
            "topics": [self._topics],
        }
        response = rpc.request(self.w3, "eth_getLogs", [params])
        if "error" in response:
            message = str(response["error"].get("message", "")).lower()
            if any(word in message for word in ("range", "too many", "limit", "size", "exceed")):
                raise LogRangeTooLargeError(message)
            raise LedgerError(f"eth_getLogs {start}..{end} failed: {response['error']}")
        logs: list[dict[str, Any]] = response["result"]
        if len(logs) > self.config.max_logs_per_range and end > start:
            raise LogRangeTooLargeError(f"{len(logs)} logs")
        return logs

    def _block(self, number: int) -> dict[str, Any]:
        block = rpc.block(self.w3, number)
        if block is None:
            raise LedgerError(f"the node has no block {number}")
        return block

    # ------------------------------------------------------------------------------ applying ---

    def _apply(
        self, start: int, end: int, logs: Sequence[dict[str, Any]], head: int, end_block: dict[str, Any]
    ) -> StepResult:
        times: dict[int, int] = {end: int(end_block["timestamp"], 16)}
        blocks: dict[int, str] = {end: end_block["hash"].lower()}
        for entry in logs:
            number = int(entry["blockNumber"], 16)
            blocks.setdefault(number, entry["blockHash"].lower())
        for number in blocks:
            if number not in times:
                # Some nodes put the block's time in each log; otherwise ask for the header.
                stamp = next(
                    (e.get("blockTimestamp") for e in logs if int(e["blockNumber"], 16) == number), None
                )
                times[number] = int(stamp, 16) if stamp else int(self._block(number)["timestamp"], 16)

        durable = head if self.durable_block is None else self.durable_block(head)
        entries: list[dict[str, Any]] = []
        transfers: list[tuple[str, str, str, int]] = []  # token, from, to, value per entry
        events: list[dict[str, Any]] = []
        references: dict[tuple[str, int], str] = {}
        for item in logs:
            topics = item["topics"]
            topic0 = bytes.fromhex(topics[0][2:])
            number = int(item["blockNumber"], 16)
            tx_hash = item["transactionHash"].lower()  # hashes are stored in lower case (the database checks)
            log_index = int(item["logIndex"], 16)
            contract: str = _checksum(item["address"])
            if topic0 == TRANSFER:
                if len(topics) != 3:
                    continue  # not an ERC-20 Transfer (an ERC-721 would have 4 topics)
                sender: str = _checksum("0x" + topics[1][-40:])
                receiver: str = _checksum("0x" + topics[2][-40:])
                value = int(item["data"], 16)
                kind = (
                    "mint" if sender == ZERO_ADDRESS else "burn" if receiver == ZERO_ADDRESS else "transfer"
                )
                entries.append(
                    {
                        "chain_id": self.chain_id,
                        "token": contract,
                        "block_number": number,
                        "block_hash": item["blockHash"].lower(),
                        "block_time": times[number],
                        "tx_hash": tx_hash,
                        "log_index": log_index,
                        "kind": kind,
                        "payment_reference": None,
                        "state": self._state(head, number, durable),
                        "posted": False,
                    }
                )
                transfers.append((contract, sender, receiver, value))
                continue
            layout = self.events[topic0]
            name, indexed = layout.name, layout.accounts
            decoded = decode(layout.types, bytes.fromhex(item["data"][2:])) if layout.types else ()
            args: dict[str, Any] = {n: _jsonable(v) for n, v in zip(layout.names, decoded, strict=True)}
            accounts = [_checksum("0x" + t[-40:]) for t in topics[1 : 1 + indexed]]
            if name == "TransferReferenced":
                # Emitted right after its Transfer log in the same transaction.
                references[(tx_hash, log_index - 1)] = topics[3]
                args["to"] = accounts[1]
            elif indexed == 2:
                args["to"] = accounts[1]
            events.append(
                {
                    "chain_id": self.chain_id,
                    "contract": contract,
                    "block_number": number,
                    "tx_hash": tx_hash,
                    "log_index": log_index,
                    "name": name,
                    "account": accounts[0],
                    "args": args,
                }
            )
        for entry in entries:
            entry["payment_reference"] = references.get((entry["tx_hash"], entry["log_index"]))

        with self._sessions.begin() as session:
            if entries:
                # Plain executemany (pipelined by psycopg), then the ids in one query: INSERT ... RETURNING
                # over thousands of rows builds statements the driver is slow to prepare.
                connection = session.connection()
                connection.execute(insert(JournalEntry), entries)
                rows = connection.execute(
                    select(JournalEntry.tx_hash, JournalEntry.log_index, JournalEntry.id).where(
                        JournalEntry.chain_id == self.chain_id, JournalEntry.block_number.between(start, end)
                    )
                )
                by_log = {(tx_hash, log_index): entry_id for tx_hash, log_index, entry_id in rows}
                ids = [by_log[(e["tx_hash"], e["log_index"])] for e in entries]
                account_ids = self._account_ids(session, transfers)
                legs = []
                for entry_id, (token_address, sender, receiver, value) in zip(ids, transfers, strict=True):
                    if value == 0:
                        continue  # a zero transfer moves nothing; the entry stays unposted, as a record
                    legs.append(
                        {
                            "entry_id": entry_id,
                            "account_id": account_ids[(token_address, sender)],
                            "amount": -value,
                        }
                    )
                    legs.append(
                        {
                            "entry_id": entry_id,
                            "account_id": account_ids[(token_address, receiver)],
                            "amount": value,
                        }
                    )
                if legs:
                    connection.execute(insert(JournalLeg), legs)
                    posted = [e for e, t in zip(ids, transfers, strict=True) if t[3] != 0]
                    for chunk in _chunks(posted, 5_000):
                        session.execute(
                            update(JournalEntry).where(JournalEntry.id.in_(chunk)).values(posted=True)
                        )
            if events:
                session.connection().execute(insert(ChainEvent), events)
            session.execute(
                insert(IndexedBlock),
                [{"chain_id": self.chain_id, "number": n, "hash": h} for n, h in sorted(blocks.items())],
            )
            self._move_cursor(session, end, end_block["hash"].lower())
        return StepResult(from_block=start, to_block=end, entries=len(entries), events=len(events))

    def _state(self, head: int, number: int, durable: int) -> EntryState:
        state = confirmation_state(head - number + 1, self.config.confirmations)
        if state == EntryState.FINAL and number > durable:
            return EntryState.CONFIRMED  # deep enough, but not yet in a state a crash cannot take back
        return state

    def _account_ids(
        self, session: Session, transfers: Sequence[tuple[str, str, str, int]]
    ) -> dict[tuple[str, str], int]:
        wanted = {(token, holder) for token, a, b, _ in transfers for holder in (a, b)}
        missing = [key for key in wanted if key not in self._accounts]
        if missing:
            for token, holder in missing:
                found = session.scalar(
                    select(LedgerAccount.id).where(
                        LedgerAccount.chain_id == self.chain_id,
                        LedgerAccount.token == token,
                        LedgerAccount.holder == holder,
                    )
                )
                if found is None:
                    found = session.scalar(
                        insert(LedgerAccount)
                        .values(chain_id=self.chain_id, token=token, holder=holder)
                        .returning(LedgerAccount.id)
                    )
                assert found is not None
                self._accounts[(token, holder)] = found
        return {key: self._accounts[key] for key in wanted}

    def _cursor(self) -> tuple[int, str] | None:
        with self._readers() as session:
            cursor = session.get(IndexerCursor, self.chain_id)
            return None if cursor is None else (cursor.block_number, cursor.block_hash)

    def _move_cursor(self, session: Session, number: int, block_hash: str) -> None:
        moved = session.execute(
            update(IndexerCursor)
            .where(IndexerCursor.chain_id == self.chain_id)
            .values(block_number=number, block_hash=block_hash)
        ).rowcount  # type: ignore[attr-defined]
        if moved == 0:
            session.add(IndexerCursor(chain_id=self.chain_id, block_number=number, block_hash=block_hash))

    def _update_states(self, head: int) -> None:
        final_at = head - self.config.confirmations + 1
        if self.durable_block is not None:
            final_at = min(final_at, self.durable_block(head))
        with self._sessions.begin() as session:
            session.execute(
                update(JournalEntry)
                .where(
                    JournalEntry.chain_id == self.chain_id,
                    JournalEntry.state.in_((EntryState.INCLUDED, EntryState.CONFIRMED)),
                )
                .where(JournalEntry.block_number <= final_at)
                .values(state=EntryState.FINAL)
            )
            session.execute(
                update(JournalEntry)
                .where(JournalEntry.chain_id == self.chain_id, JournalEntry.state == EntryState.INCLUDED)
                .where(JournalEntry.block_number < head, JournalEntry.block_number > final_at)
                .values(state=EntryState.CONFIRMED)
            )

    # ------------------------------------------------------------------------------ reorgs ---

    def _rollback(self, head: int) -> StepResult:
        """Rolls the mirror back to the newest applied block that is still on the chain, keeping a
        record of the reorg and of every entry it removes (`reorgs`, `reorged_entries`), raising an
        incident, and announcing it as a `ledger.reorg` event."""
        with self._sessions() as session:
            applied = session.execute(
                select(IndexedBlock.number, IndexedBlock.hash)
                .where(IndexedBlock.chain_id == self.chain_id)
                .order_by(IndexedBlock.number.desc())
            ).all()
        ancestor = self.config.start_block - 1
        for number, block_hash in applied:
            if rpc.block_hash(self.w3, number) == block_hash:
                ancestor = number
                break
        with self._sessions.begin() as session:
            cursor = session.get(IndexerCursor, self.chain_id)
            assert cursor is not None  # only a step with a cursor rolls back
            old_head, old_hash = cursor.block_number, cursor.block_hash
            reorg = self._record_reorg(session, ancestor, old_head, old_hash)
            doomed = select(JournalEntry.id).where(
                JournalEntry.chain_id == self.chain_id, JournalEntry.block_number > ancestor
            )
            # Unposting is refused by the database, so whole entries go, their legs with them (the legs
            # of an entry being deleted are not those of a posted entry any more); the database lets a
            # posted entry go only with its `reorged_entries` row.
            session.execute(delete(JournalEntry).where(JournalEntry.id.in_(doomed)))
            session.execute(
                delete(ChainEvent).where(
                    ChainEvent.chain_id == self.chain_id, ChainEvent.block_number > ancestor
                )
            )
            session.execute(
                delete(IndexedBlock).where(
                    IndexedBlock.chain_id == self.chain_id, IndexedBlock.number > ancestor
                )
            )
            if ancestor < self.config.start_block:
                session.execute(delete(IndexerCursor).where(IndexerCursor.chain_id == self.chain_id))
            else:
                ancestor_hash = next(h for n, h in applied if n == ancestor)
                self._move_cursor(session, ancestor, ancestor_hash)
        log.warning(
            "reorg %d: rolled the mirror back from block %d to %d, dropping %d entries",
            reorg.id,
            old_head,
            ancestor,
            reorg.entries_dropped,
        )
        if reorg.final_dropped:
            raise DeepReorgError(ancestor, old_head)  # logged at CRITICAL by its incident
        return StepResult(
            from_block=ancestor + 1, to_block=head, entries=0, events=0, rolled_back_to=ancestor
        )

    def _record_reorg(self, session: Session, ancestor: int, old_head: int, old_hash: str) -> Reorg:
        # Which dropped credits customers were already told about (the event pump's cursor is a leg
        # id), read under a lock, so a pump pass in flight either finishes first or sees the legs gone.
        announced = (
            session.scalar(
                select(EventCursor.position).where(EventCursor.name == FUNDS_CURSOR).with_for_update()
            )
            or 0
        )
        entries = session.scalars(
            select(JournalEntry)
            .where(JournalEntry.chain_id == self.chain_id, JournalEntry.block_number > ancestor)
            .order_by(JournalEntry.id)
        ).all()
        legs: dict[int, list[dict[str, Any]]] = {}
        for chunk in _chunks([e.id for e in entries], 5_000):
            for leg_id, entry_id, holder, amount in session.execute(
                select(JournalLeg.id, JournalLeg.entry_id, LedgerAccount.holder, JournalLeg.amount)
                .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                .where(JournalLeg.entry_id.in_(chunk))
                .order_by(JournalLeg.id)
            ):
                legs.setdefault(entry_id, []).append(
                    {"id": leg_id, "holder": holder, "amount": str(amount), "announced": leg_id <= announced}
                )
        events_dropped = session.scalar(
            select(func.count())
            .select_from(ChainEvent)
            .where(ChainEvent.chain_id == self.chain_id, ChainEvent.block_number > ancestor)
        )
        reorg = Reorg(
            chain_id=self.chain_id,
            fork_block=ancestor,
            old_head=old_head,
            old_hash=old_hash,
            new_hash=rpc.block_hash(self.w3, old_head),
            entries_dropped=len(entries),
            events_dropped=events_dropped or 0,
            final_dropped=sum(1 for e in entries if e.state == EntryState.FINAL),
        )
        session.add(reorg)
        session.flush()
        if entries:
            session.execute(
                insert(ReorgedEntry),
                [
                    {
                        "reorg_id": reorg.id,
                        "entry_id": e.id,
                        "tx_hash": e.tx_hash,
                        "block_number": e.block_number,
                        "state": e.state,
                        "data": {
                            "token": e.token,
                            "block_hash": e.block_hash,
                            "block_time": e.block_time,
                            "log_index": e.log_index,
                            "kind": e.kind,
                            "payment_reference": e.payment_reference,
                            "posted": e.posted,
                            "legs": legs.get(e.id, []),
                        },
                    }
                    for e in entries
                ],
            )
        deep = reorg.final_dropped > 0
        summary = (
            ("reorg below final entries: " if deep else "")
            + f"the chain replaced blocks {ancestor + 1}..{old_head}: "
            + f"{reorg.entries_dropped} entries dropped, {reorg.final_dropped} of them final"
        )
        # A reorg within the finality depth is the chain working as designed: recorded, and resolved
        # by the rollback itself. One below final entries waits for an operator.
        open_incident(
            session,
            IncidentKind.DEEP_REORG if deep else IncidentKind.REORG,
            Severity.CRITICAL if deep else Severity.WARNING,
            summary,
            {"fork_block": ancestor, "old_head": old_head, "depth": reorg.depth},
            reorg_id=reorg.id,
            resolved_by=None if deep else "indexer",
            resolution=None if deep else "rolled back; the new branch is applied by the next steps",
        )
        session.add(
            Event(
                user_id=None,
                type="ledger.reorg",
                payload={
                    "reorg_id": reorg.id,
                    "chain_id": self.chain_id,
                    "fork_block": ancestor,
                    "old_head": old_head,
                    "depth": reorg.depth,
                    "entries_dropped": reorg.entries_dropped,
                    "final_dropped": reorg.final_dropped,
                },
            )
        )
        return reorg


@functools.lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    """EIP-55 checksum of an address, cached: a keccak per log and party was a sixth of indexing time."""
    return str(to_checksum_address(address))


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if value > 2**53 else value
    return value
