"""Signs, sends and waits for transactions from one signer, decoding reverts into `ContractRevertError`.

This is the direct path used by deployment, administration and benchmarks, where the caller waits for
each receipt. Customer money moves through the crash-safe transaction outbox instead.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from wallet.chain.inprocess import loaded_exception
from wallet.chain.revert import ErrorDecoder
from wallet.errors import ContractRevertError
from wallet.keys.base import Signer

Callable = ContractFunction | ContractConstructor


class Transactor:
    """Sends transactions signed by `signer`, numbering them with a locally tracked nonce."""

    def __init__(
        self, w3: Web3, signer: Signer, error_abis: Iterable[Iterable[Mapping[str, Any]]] = ()
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.decoder = ErrorDecoder(error_abis)
        self._chain_id = w3.eth.chain_id
        self._nonce: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        """The sending address."""
        return self.signer.address

    def forget_nonce(self) -> None:
        """Reads the nonce from the node again at the next submit (after the chain lost transactions of
        this sender: a reorg, a restored node, a reverted development snapshot)."""
        self._nonce = None

    def submit(self, call: Callable, *, gas: int | None = None, value: int = 0) -> bytes:
        """Signs and broadcasts `call`; returns the transaction hash without waiting.

        A call that would revert raises `ContractRevertError` before anything is signed.
        """
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        params: dict[str, Any] = {
            "from": self.address,
            "nonce": self._nonce,
            "chainId": self._chain_id,
            "value": value,
        }
        if gas is not None:
            params["gas"] = gas
        try:
            tx = call.build_transaction(params)  # type: ignore[arg-type]
        except revert_errors() as exc:
            raise self._revert_error(exc) from None
        signed = self.signer.sign_transaction(tx)
        self.w3.eth.send_raw_transaction(signed.raw)
        self._nonce += 1
        return signed.hash

    def wait(self, tx_hash: bytes, *, timeout: float = 120.0) -> TxReceipt:
        """Waits for the receipt; a reverted transaction raises `ContractRevertError`, decoded."""
        receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout)
        if receipt["status"] != 1:
            raise self._replay_revert(tx_hash, receipt)
        return receipt

    def send(self, call: Callable, *, gas: int | None = None, value: int = 0) -> TxReceipt:
        """`submit` then `wait`."""
        return self.wait(self.submit(call, gas=gas, value=value))

    def decode_revert(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decodes revert data with the ABIs this transactor knows."""
        return self.decoder.decode(data)

    def _revert_error(self, exc: Exception, tx_hash: str | None = None) -> ContractRevertError:
        raw = revert_data(exc)
        name, args = self.decoder.decode(raw)
        return ContractRevertError(name, args, tx_hash=tx_hash, raw=raw)

    def _replay_revert(self, tx_hash: bytes, receipt: TxReceipt) -> ContractRevertError:
        return replay_revert(self.w3, self.decoder, tx_hash, receipt)


def replay_revert(w3: Web3, decoder: ErrorDecoder, tx_hash: bytes, receipt: TxReceipt) -> ContractRevertError:
    """Re-runs a mined, reverted transaction as a call on the state before its block to decode why."""
    tx = w3.eth.get_transaction(HexBytes(tx_hash))
    call: dict[str, Any] = {"from": tx["from"], "to": tx.get("to"), "data": tx["input"], "value": tx["value"]}
    hex_hash = "0x" + tx_hash.hex()
    try:
        w3.eth.call(call, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
    except revert_errors() as exc:
        raw = revert_data(exc)
        name, args = decoder.decode(raw)
        return ContractRevertError(name, args, tx_hash=hex_hash, raw=raw)
    return ContractRevertError(
        "UnknownError", {"reason": "reverted on chain; replay succeeded"}, tx_hash=hex_hash
    )


def revert_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean a call or an estimate reverted: web3's `ContractLogicError`, and
    eth-tester's `TransactionFailed` once the in-process chain is loaded (only it can raise that, so
    this never imports eth-tester)."""
    failed = loaded_exception("TransactionFailed")
    return (ContractLogicError,) if failed is None else (ContractLogicError, failed)


def _is_eth_tester_failure(exc: BaseException) -> bool:
    failed = loaded_exception("TransactionFailed")
    return failed is not None and isinstance(exc, failed)


def revert_data(exc: BaseException) -> bytes:
    """The raw revert data behind a failed call, from a JSON-RPC node (web3's `ContractLogicError.data`)
    or from eth-tester (whose `TransactionFailed` carries the bytes, sometimes on a chained cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContractLogicError) and isinstance(seen.data, str):
            return bytes(HexBytes(seen.data))
        if _is_eth_tester_failure(seen) and seen.args:
            # eth-tester wraps py-evm's Revert(bytes) as TransactionFailed(Revert(bytes)).
            inner = seen.args[0]
            if isinstance(inner, BaseException) and inner.args:
                inner = inner.args[0]
            if isinstance(inner, bytes):
                return inner
            if isinstance(inner, str):
                # For eth_call it carries the bytes' repr: "execution reverted: b'...'".
                text = inner.removeprefix("execution reverted: ")
                if text[:2] in ("b'", 'b"'):
                    with contextlib.suppress(ValueError, SyntaxError):
                        value = ast.literal_eval(text)
                        if isinstance(value, bytes):
                            return value
        seen = seen.__cause__ or seen.__context__
    return b""


def base_fee(w3: Web3) -> int:
    """The latest block's base fee per gas (0 before London)."""
    return int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
