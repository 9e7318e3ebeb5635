"""How settled something on chain is, from how many blocks confirm it (the including block counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wallet.chain import rpc
from wallet.vocabulary import EntryState


def confirmation_state(confirmations: int, required: int) -> EntryState:
    """`final` from `required` confirmations on, `included` with one (or none), `confirmed` between."""
    if confirmations >= required:
        return EntryState.FINAL
    return EntryState.INCLUDED if confirmations <= 1 else EntryState.CONFIRMED


def mined_state(
    block_number: int, head: int, required: int, durable_block: Callable[[int], int] | None = None
) -> EntryState:
    """`confirmation_state` of a transaction mined in `block_number` at `head`, never `final` above
    `durable_block(head)` (the last block a crash cannot take back, where the node's state is saved):
    deep enough but not yet durable is `confirmed`."""
    state = confirmation_state(head - block_number + 1, required)
    if state == EntryState.FINAL and durable_block is not None and block_number > durable_block(head):
        return EntryState.CONFIRMED
    return state


# Confirmations after which a transaction is final, per chain id, when `TDW_CONFIRMATIONS` is not set.
# Chains with a finality gadget also answer the `finalized` block tag, which `FinalizedTag` adds.
KNOWN_DEPTHS = {
    1: 64,  # Ethereum mainnet: two epochs
    11155111: 64,  # Sepolia
    17000: 64,  # Holesky
    137: 256,  # Polygon PoS
}
UNKNOWN_CHAIN_DEPTH = 12
DEVELOPMENT_DEPTH = 2  # `tdw dev` only: its chain state is saved before anything is final


def finality_depth(configured: int | None, chain_id: int, *, development: bool = False) -> int:
    """The confirmations after which something on `chain_id` is final: the configured number, else
    the development bank's short one, else the chain's known depth, else a safe default."""
    if configured is not None:
        return configured
    if development:
        return DEVELOPMENT_DEPTH
    return KNOWN_DEPTHS.get(chain_id, UNKNOWN_CHAIN_DEPTH)


class FinalizedTag:
    """The node's `finalized` block, as a cap on what is called final (`durable_block`), on chains that
    expose it; on a node that does not answer the tag, no cap (the depth alone decides)."""

    def __init__(self, w3: Any) -> None:
        self.w3 = w3
        self._cache: tuple[int, int] | None = None  # (head, finalized)
        self.supported = self._read() is not None

    def __call__(self, head: int) -> int:
        if not self.supported:
            return head
        if self._cache is None or self._cache[0] != head:
            finalized = self._read()
            self._cache = (head, head if finalized is None else finalized)
        return min(head, self._cache[1])

    def _read(self) -> int | None:
        try:
            block = rpc.block(self.w3, "finalized")
        except Exception:  # noqa: BLE001 - a node without the tag may answer in any way
            return None
        return None if not block else int(block["number"], 16)
