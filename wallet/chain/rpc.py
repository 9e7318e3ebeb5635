"""Raw JSON-RPC calls for the hot paths (the indexer, reconciliation): web3's request and result
formatting costs far more than the call on a local node, so these go straight to the provider and
read the JSON as it comes.

The in-process eth-tester chain is the exception: it answers only through web3's middleware, in Python
types. There the call takes web3's formatted path and the answer is turned back into JSON-RPC's shape
(quantities as hex strings, bytes as 0x-hex), so callers see one format on every chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from wallet.chain.inprocess import loaded_exception


def request(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    """`method(params)` on `w3`'s node: the JSON-RPC response, `result` or `error`."""
    if not isinstance(w3.provider, EthereumTesterProvider):
        return cast(dict[str, Any], w3.provider.make_request(method, params))  # type: ignore[arg-type]
    try:
        result = w3.manager.request_blocking(method, params)  # type: ignore[arg-type]
    except Exception as exc:
        block_not_found = loaded_exception("BlockNotFound")
        if block_not_found is None or not isinstance(exc, block_not_found):
            raise
        result = None
    return {"jsonrpc": "2.0", "result": as_json_rpc(result)}


def block(w3: Web3, number: int | str) -> dict[str, Any] | None:
    """The header of block `number` (or a tag: "latest", "finalized") as JSON-RPC gives it, without
    its transactions; None when the node has no such block."""
    tag = hex(number) if isinstance(number, int) else number
    found: dict[str, Any] | None = request(w3, "eth_getBlockByNumber", [tag, False]).get("result")
    return found


def block_hash(w3: Web3, number: int) -> str | None:
    """The hash of the chain's block `number` now, in lower case; None when the node has none."""
    found = block(w3, number)
    return None if found is None else str(found["hash"]).lower()


class BlockTimes:
    """Block timestamps from `w3`'s node, for statements: a block's time, and the newest block before
    a moment (found by bisection, as every block's time is at least its parent's)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._times: dict[int, int] = {}

    def timestamp(self, number: int) -> int:
        """The time of block `number` (seconds since the epoch)."""
        if number not in self._times:
            found = block(self.w3, number)
            if found is None:
                raise LookupError(f"the node has no block {number}")
            self._times[number] = int(found["timestamp"], 16)  # `request` answers in JSON-RPC's hex
        return self._times[number]

    def last_before(self, moment: int, high: int) -> int:
        """The newest block up to `high` whose time is before `moment`; -1 when even block 0 is not."""
        low, best = 0, -1
        while low <= high:
            middle = (low + high) // 2
            if self.timestamp(middle) < moment:
                best, low = middle, middle + 1
            else:
                high = middle - 1
        return best


def as_json_rpc(value: Any) -> Any:
    """web3's Python types as JSON-RPC writes them: ints as hex quantities, bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {key: as_json_rpc(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_json_rpc(item) for item in value]
    raise TypeError(f"no JSON-RPC form for {type(value).__name__}")
