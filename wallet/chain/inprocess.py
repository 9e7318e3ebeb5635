"""The in-process chain: eth-tester on py-evm, for `tdw dev` on a machine without Node.js and for tests.

Both packages are beta and production never needs them, so they are the optional extra `tdw[eth-tester]`
and only this module imports them, when a caller asks for an in-process chain. Elsewhere the chain code
recognises eth-tester's answers without importing it (`revert_errors`, `wallet.chain.rpc`).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from wallet.errors import ConfigurationError


class _SerialEthereumTesterProvider(EthereumTesterProvider):
    """py-evm is not thread-safe; a service calls its chain from many threads (API requests, the
    relayer, the indexer, a block ticker), so each call here runs alone."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def make_request(self, method: Any, params: Any) -> Any:
        with self._lock:
            return super().make_request(method, params)


def eth_tester() -> Web3:
    """A `Web3` on a fresh in-process py-evm chain with funded, unlocked accounts; safe to share
    between threads. Needs the `eth-tester` extra."""
    try:
        import eth_tester  # noqa: F401 - only to say what is missing
    except ImportError:
        raise ConfigurationError(
            "the in-process chain needs the eth-tester extra: pip install 'tdw[eth-tester]'"
        ) from None
    return Web3(_SerialEthereumTesterProvider())


def loaded_exception(name: str) -> type[Exception] | None:
    """eth-tester's exception class `name` (`TransactionFailed`, `BlockNotFound`) once the in-process
    chain is loaded, else None: nothing can raise it then, and asking does not import eth-tester."""
    found = getattr(sys.modules.get("eth_tester.exceptions"), name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None
