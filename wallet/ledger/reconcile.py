"""Reconciliation: the database against the chain, as a reconciliation team would check it.

- **Balances**: every mirrored balance against `balanceOf` on chain at the same block, and each
  token's issuance account against `totalSupply`.
- **Transactions**: every outbox row the database holds as mined is on chain at the block (and with
  the block hash) it recorded, succeeded or reverted as recorded.
- **Transfers**: every executed transfer (executed, confirmed or final to its customer) has its
  transaction at the recorded block, with the `AuthorizationUsed` log of its authorization and the
  `Transfer` of its amount from payer to payee.
- **Bank operations**: every mined mint has its `Minted` log (minter, recipient, amount), every burn
  its `Burned` log.
- **Nonces**: each sending address's next nonce in the database is not below what the chain has used,
  and every nonce between the two has a transaction that will use it (a gap holds back every later
  transaction of that sender for ever).

What was mined after `at_block` is only checked for the chain having reached its block: it may still
be inside the confirmation window, which the outbox follows by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.chain import rpc
from wallet.db.models import (
    BankOperation,
    ChainTx,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    RelayerNonce,
    TransferRequest,
)
from wallet.errors import NodeError
from wallet.ledger.indexer import TRANSFER, ZERO_ADDRESS
from wallet.tx.transfers import AUTHORIZATION_USED
from wallet.vocabulary import OperationKind, RequestStatus, TxStatus

BALANCE_OF = bytes.fromhex("70a08231")
TOTAL_SUPPLY = bytes.fromhex("18160ddd")
# Log topics as receipts spell them (0x and lower-case hex).
TRANSFER_TOPIC = "0x" + TRANSFER.hex()
AUTHORIZATION_USED_TOPIC = "0x" + AUTHORIZATION_USED.hex()
MINTED = "0x" + keccak(text="Minted(address,address,uint256)").hex()
BURNED = "0x" + keccak(text="Burned(address,uint256)").hex()
MINED = (TxStatus.INCLUDED, TxStatus.CONFIRMED, TxStatus.FINAL)


@dataclass(frozen=True)
class Difference:
    """One place where the database and the chain disagree.

    `kind` is what was compared (balance, supply, transaction, transfer, operation, nonce); `subject`
    what it is about (a holder's address, an outbox row, a transfer, an operation, a sender); and
    `database` and `chain` what each holds, as numbers for balances and as short text otherwise."""

    kind: str
    subject: str
    database: int | str
    chain: int | str
    token: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What the difference is about, whatever the values (the same difference seen twice)."""
        return (self.kind, self.subject, self.token)

    def line(self) -> str:
        """One line for an operator."""
        what = "total supply" if self.kind == "supply" else f"{self.kind} {self.subject}"
        token = f" {self.token}" if self.token else ""
        ours = "mirror" if self.kind in ("balance", "supply") else "database"
        return f"DIFFERENCE{token} {what}: {ours} {self.database}, chain {self.chain}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Checked:
    """How much a reconciliation compared, by kind."""

    balances: int = 0
    transactions: int = 0
    transfers: int = 0
    operations: int = 0
    senders: int = 0


@dataclass
class Report:
    """What a reconciliation compared and where it found the database and the chain apart."""

    at_block: int
    head_block: int
    balances_at: int | None = None  # None: balances were not compared (the mirror had not started)
    checked: Checked = field(default_factory=Checked)
    differences: list[Difference] = field(default_factory=list)


def holder_balance_query(chain_id: int, token: str, holder: str) -> Select[int]:
    """The query of `holder`'s balance in `token` in the mirror now (posted entries)."""
    return (
        select(func.coalesce(func.sum(JournalLeg.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
        .where(
            LedgerAccount.chain_id == chain_id,
            LedgerAccount.token == token,
            LedgerAccount.holder == holder,
            JournalEntry.posted.is_(True),
        )
    )


def holder_balance(session: Session, chain_id: int, token: str, holder: str) -> int:
    """`holder`'s balance in `token` in the mirror now (posted entries), read in `session`."""
    return int(session.scalar(holder_balance_query(chain_id, token, holder)) or 0)


def mirrored_balances(
    sessions: sessionmaker[Session], chain_id: int, at_block: int
) -> dict[tuple[str, str], int]:
    """Every account's balance in the mirror as of `at_block` (posted entries only)."""
    with sessions() as session:
        rows = session.execute(
            select(LedgerAccount.token, LedgerAccount.holder, func.sum(JournalLeg.amount))
            .join(JournalLeg, JournalLeg.account_id == LedgerAccount.id)
            .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
            .where(
                LedgerAccount.chain_id == chain_id,
                JournalEntry.posted.is_(True),
                JournalEntry.block_number <= at_block,
            )
            .group_by(LedgerAccount.token, LedgerAccount.holder)
        ).all()
    return {(token, holder): int(total) for token, holder, total in rows}


def reconcile(
    sessions: sessionmaker[Session], w3: Web3, tokens: Sequence[str], at_block: int
) -> list[Difference]:
    """The differences between the mirror's balances and the chain's at `at_block`; empty when they
    agree. (`reconcile_all` also checks transactions, transfers, operations and nonces.)"""
    return _balances(sessions, w3, w3.eth.chain_id, tokens, at_block, Checked())


def reconcile_all(
    sessions: sessionmaker[Session],
    w3: Web3,
    tokens: Sequence[str],
    at_block: int,
    *,
    balances_at: int | None = None,
) -> Report:
    """Every check of this module. Balances are compared at `balances_at` (default `at_block`; the
    workers pass the block the mirror has reached), transactions mined up to `at_block` in full."""
    head, chain_id = w3.eth.block_number, w3.eth.chain_id
    report = Report(at_block=at_block, head_block=head)
    if balances_at is None or balances_at >= 0:
        report.balances_at = at_block if balances_at is None else balances_at
        report.differences += _balances(sessions, w3, chain_id, tokens, report.balances_at, report.checked)
    run = _Run(sessions, chain_id, _Receipts(w3), at_block, head, report.checked)
    report.differences += _transactions(run)
    report.differences += _transfers(run)
    report.differences += _operations(run)
    report.differences += _nonces(sessions, w3, chain_id, report.checked)
    return report


# ------------------------------------------------------------------------------------- balances ---


def _balances(
    sessions: sessionmaker[Session],
    w3: Web3,
    chain_id: int,
    tokens: Sequence[str],
    at_block: int,
    checked: Checked,
) -> list[Difference]:
    mirror = mirrored_balances(sessions, chain_id, at_block)
    with sessions() as session:
        holders = session.execute(
            select(LedgerAccount.token, LedgerAccount.holder).where(LedgerAccount.chain_id == chain_id)
        ).all()
    differences = []
    for token in tokens:
        supply = _call_uint(w3, token, TOTAL_SUPPLY, at_block)
        issued = -mirror.get((token, ZERO_ADDRESS), 0)
        checked.balances += 1
        if issued != supply:
            differences.append(Difference("supply", ZERO_ADDRESS, issued, supply, token))
    for token, holder in holders:
        if holder == ZERO_ADDRESS or token not in tokens:
            continue
        on_chain = _call_uint(w3, token, BALANCE_OF + bytes(12) + bytes.fromhex(holder[2:]), at_block)
        mirrored = mirror.get((token, holder), 0)
        checked.balances += 1
        if mirrored != on_chain:
            differences.append(Difference("balance", holder, mirrored, on_chain, token))
    return differences


def _call_uint(w3: Web3, to: str, data: bytes, block: int) -> int:
    response = rpc.request(w3, "eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)])
    if "result" not in response:  # e.g. a node that has not (yet) loaded the block: try again later
        raise NodeError(f"eth_call to {to} at block {block} failed: {response.get('error')}")
    return int(response["result"], 16)


# --------------------------------------------------------------------------------- transactions ---


class _Receipts:
    """Receipts by transaction hash, each read once (a batch carries many transfers)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._cache: dict[str, dict[str, Any] | None] = {}

    def get(self, tx_hash: str) -> dict[str, Any] | None:
        key = tx_hash.lower()
        if key not in self._cache:
            self._cache[key] = rpc.request(self.w3, "eth_getTransactionReceipt", [key]).get("result")
        return self._cache[key]


@dataclass(frozen=True)
class _Run:
    """What the transaction checks of one reconciliation share."""

    sessions: sessionmaker[Session]
    chain_id: int
    receipts: _Receipts
    at_block: int  # mined up to here: checked in full
    head: int  # mined above it: only a chain that has not reached the block is a difference
    checked: Checked


def _where(receipt: dict[str, Any] | None, block: int | None, block_hash: str | None) -> str | None:
    """What is wrong with `receipt` for a transaction recorded in `block` (`block_hash`); None if
    nothing."""
    if receipt is None:
        return "no such transaction"
    number = int(receipt["blockNumber"], 16)
    if number != block:
        return f"in block {number}"
    if block_hash is not None and str(receipt["blockHash"]).lower() != block_hash.lower():
        return f"in block {number} with hash {receipt['blockHash']}"
    return None


def _recorded(block: int | None, block_hash: str | None = None) -> str:
    return f"block {block}" if block_hash is None else f"block {block} ({block_hash})"


def _transactions(run: _Run) -> list[Difference]:
    """Outbox rows recorded as mined (or mined and reverted) against their receipts."""
    with run.sessions() as session:
        rows = session.execute(
            select(
                ChainTx.id, ChainTx.status, ChainTx.tx_hash, ChainTx.block_number, ChainTx.block_hash
            ).where(
                ChainTx.chain_id == run.chain_id,
                ChainTx.block_number.is_not(None),
                ChainTx.status.in_((*MINED, TxStatus.FAILED)),
            )
        ).all()
    differences = []
    for row_id, status, tx_hash, recorded_block, block_hash in rows:
        block = int(recorded_block or 0)  # the query left out rows without one
        recorded = f"{status} in {_recorded(block, block_hash)}"
        if block > run.at_block:
            if block > run.head:
                differences.append(Difference("transaction", row_id, recorded, f"head is block {run.head}"))
            continue
        run.checked.transactions += 1
        receipt = run.receipts.get(tx_hash) if tx_hash else None
        wrong = _where(receipt, block, block_hash)
        if wrong is None and receipt is not None:
            succeeded = int(receipt["status"], 16) == 1
            if succeeded != (status != TxStatus.FAILED):
                wrong = "succeeded" if succeeded else "reverted"
        if wrong is not None:
            differences.append(Difference("transaction", row_id, recorded, wrong))
    return differences


def _transfers(run: _Run) -> list[Difference]:
    """Executed transfers against the logs of the transaction that executed them."""
    with run.sessions() as session:
        rows = session.execute(
            select(TransferRequest, ChainTx.tx_hash, ChainTx.block_number, ChainTx.block_hash, ChainTx.status)
            .outerjoin(ChainTx, ChainTx.id == TransferRequest.chain_tx_id)
            .where(TransferRequest.status == RequestStatus.EXECUTED)
            .where((ChainTx.chain_id == run.chain_id) | (ChainTx.id.is_(None)))
        ).all()
    differences = []
    for request, batch_hash, batch_block, batch_block_hash, batch_status in rows:
        tx_hash: str | None
        if request.executed_tx_hash is not None:  # executed by someone else's transaction
            tx_hash, block, block_hash = request.executed_tx_hash, request.executed_block, None
        else:
            tx_hash, block, block_hash = batch_hash, batch_block, batch_block_hash
        mined = request.executed_tx_hash is not None or batch_status in MINED
        if tx_hash is None or block is None or not mined:
            differences.append(
                Difference("transfer", request.id, f"executed, batch {batch_status}", "not checked: no block")
            )
            continue
        recorded = f"executed in {_recorded(block, block_hash)} by {tx_hash}"
        if block > run.at_block:
            if block > run.head:
                differences.append(Difference("transfer", request.id, recorded, f"head is block {run.head}"))
            continue
        run.checked.transfers += 1
        receipt = run.receipts.get(tx_hash)
        wrong = _where(receipt, block, block_hash)
        if wrong is None and receipt is not None:
            token = request.token.lower()
            if not _has_log(
                receipt, token, AUTHORIZATION_USED_TOPIC, [request.payer, bytes(request.auth_nonce)]
            ):
                wrong = "no AuthorizationUsed log for its authorization"
            elif not _has_log(receipt, token, TRANSFER_TOPIC, [request.payer, request.payee], request.value):
                wrong = f"no Transfer of {request.value} from {request.payer} to {request.payee}"
        if wrong is not None:
            differences.append(Difference("transfer", request.id, recorded, wrong))
    return differences


def _operations(run: _Run) -> list[Difference]:
    """Mined mints and burns against their `Minted` and `Burned` logs (the transaction itself, its
    block and its status are `_transactions`' part)."""
    with run.sessions() as session:
        rows = session.execute(
            select(BankOperation, ChainTx.tx_hash, ChainTx.block_number, ChainTx.sender, ChainTx.to_address)
            .join(ChainTx, ChainTx.id == BankOperation.chain_tx_id)
            .where(
                ChainTx.chain_id == run.chain_id,
                ChainTx.status.in_(MINED),
                ChainTx.block_number <= run.at_block,
                BankOperation.kind.in_((OperationKind.MINT, OperationKind.BURN)),
            )
        ).all()
    differences = []
    for operation, tx_hash, block, sender, token in rows:
        run.checked.operations += 1
        receipt = run.receipts.get(tx_hash) if tx_hash else None
        if receipt is None:
            continue  # `_transactions` reports it
        if operation.kind == OperationKind.MINT:
            found = _has_log(receipt, token.lower(), MINTED, [sender, operation.target], operation.amount)
            expected = f"Minted {operation.amount} to {operation.target}"
        else:
            found = _has_log(receipt, token.lower(), BURNED, [sender], operation.amount)
            expected = f"Burned {operation.amount}"
        if not found:
            differences.append(
                Difference("operation", operation.id, f"{expected} in block {block}", "no such log")
            )
    return differences


def _topic(value: str | bytes) -> str:
    raw = bytes.fromhex(value[2:]) if isinstance(value, str) else value
    return "0x" + raw.rjust(32, b"\0").hex()


def _has_log(
    receipt: dict[str, Any],
    address: str,
    event: str,
    indexed: Iterable[str | bytes | None],
    value: int | None = None,
) -> bool:
    """Whether `receipt` has a log of `event` emitted by `address` with the `indexed` topics (and, when
    given, `value` as the first word of its data)."""
    topics = [event, *(_topic(v or ZERO_ADDRESS) for v in indexed)]
    for entry in receipt["logs"]:
        if str(entry["address"]).lower() != address or [str(t).lower() for t in entry["topics"]] != topics:
            continue
        data = str(entry["data"])
        if value is None or (len(data) >= 66 and int(data[2:66], 16) == value):
            return True
    return False


# ------------------------------------------------------------------------------------------ nonces ---


def _nonces(sessions: sessionmaker[Session], w3: Web3, chain_id: int, checked: Checked) -> list[Difference]:
    """Each sender's next nonce against the chain's, and the nonces between them against live rows."""
    with sessions() as session:
        senders = session.execute(
            select(RelayerNonce.address, RelayerNonce.next_nonce).where(RelayerNonce.chain_id == chain_id)
        ).all()
    differences = []
    for sender, next_nonce in senders:
        checked.senders += 1
        used = w3.eth.get_transaction_count(to_checksum_address(sender), "latest")
        if used > next_nonce:
            differences.append(Difference("nonce", sender, f"next nonce {next_nonce}", f"{used} used"))
            continue
        with sessions() as session:
            live = set(
                session.scalars(
                    select(ChainTx.nonce).where(
                        ChainTx.chain_id == chain_id,
                        ChainTx.sender == sender,
                        ChainTx.nonce >= used,
                        ChainTx.status != TxStatus.FAILED,
                    )
                )
            )
        gaps = [n for n in range(used, next_nonce) if n not in live]
        if gaps:
            shown = ", ".join(map(str, gaps[:10])) + (" ..." if len(gaps) > 10 else "")
            differences.append(
                Difference(
                    "nonce",
                    sender,
                    f"next nonce {next_nonce}, no transaction for nonce {shown}",
                    f"{used} used",
                )
            )
    return differences
