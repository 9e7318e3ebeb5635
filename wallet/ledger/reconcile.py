"""Reconciliation: every mirrored balance against `balanceOf` on chain at the same block, and each
token's issuance account against `totalSupply`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from wallet.chain import rpc
from wallet.db.models import JournalEntry, JournalLeg, LedgerAccount
from wallet.ledger.indexer import ZERO_ADDRESS

BALANCE_OF = bytes.fromhex("70a08231")
TOTAL_SUPPLY = bytes.fromhex("18160ddd")


@dataclass(frozen=True)
class Difference:
    """One place where the mirror and the chain disagree."""

    token: str
    holder: str  # the zero address stands for the total supply
    mirror: int
    chain: int


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
    sessions: sessionmaker[Session], w3: Web3, tokens: list[str], at_block: int
) -> list[Difference]:
    """The differences between mirror and chain at `at_block`; empty when they agree."""
    mirror = mirrored_balances(sessions, w3.eth.chain_id, at_block)
    with sessions() as session:
        holders = session.execute(
            select(LedgerAccount.token, LedgerAccount.holder).where(LedgerAccount.chain_id == w3.eth.chain_id)
        ).all()
    differences = []
    for token in tokens:
        supply = _call_uint(w3, token, TOTAL_SUPPLY, at_block)
        issued = -mirror.get((token, ZERO_ADDRESS), 0)
        if issued != supply:
            differences.append(Difference(token, ZERO_ADDRESS, issued, supply))
    for token, holder in holders:
        if holder == ZERO_ADDRESS or token not in tokens:
            continue
        on_chain = _call_uint(w3, token, BALANCE_OF + bytes(12) + bytes.fromhex(holder[2:]), at_block)
        mirrored = mirror.get((token, holder), 0)
        if mirrored != on_chain:
            differences.append(Difference(token, holder, mirrored, on_chain))
    return differences


def _call_uint(w3: Web3, to: str, data: bytes, block: int) -> int:
    response = rpc.request(w3, "eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)])
    return int(response["result"], 16)
