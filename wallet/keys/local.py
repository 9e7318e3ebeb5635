"""A signer holding one private key in memory, for deployer and development keys given in settings.

The key is kept only inside an eth-account `LocalAccount`; `repr`, `str` and errors show the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import coincurve
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from pydantic import SecretStr

from wallet.errors import SigningError
from wallet.keys.base import Signature, SignedTransaction


class PrivateKeySigner:
    """Signs with a private key held in memory."""

    __slots__ = ("_account", "_curve_key")

    def __init__(self, private_key: SecretStr | bytes) -> None:
        secret = private_key.get_secret_value() if isinstance(private_key, SecretStr) else private_key
        try:
            self._account: LocalAccount = Account.from_key(secret)
        except (ValueError, TypeError):
            # The cause is dropped on purpose: its message can contain the key.
            raise SigningError("the private key is not a valid secp256k1 key") from None
        self._curve_key = coincurve.PrivateKey(bytes(self._account.key))

    @classmethod
    def generate(cls) -> PrivateKeySigner:
        """A signer with a fresh random key (tests and throwaway development accounts)."""
        return cls(bytes(Account.create().key))

    @property
    def address(self) -> ChecksumAddress:
        """The Ethereum address of the key."""
        return self._account.address

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """Signs a complete transaction dictionary."""
        signed = self._account.sign_transaction(dict(tx))
        return SignedTransaction(raw=bytes(signed.raw_transaction), hash=bytes(signed.hash))

    def sign_hash(self, digest: bytes) -> Signature:
        """Signs a 32-byte digest as it is (low s, recovery id in v as 27 or 28). Unsafe for digests
        of unknown origin: whatever hashes to them gets signed. The EIP-712 fast path computes its own
        (`wallet.chain.eip3009`); eth-account's general typed-data encoder was an eighth of an API
        transfer's time."""
        if len(digest) != 32:
            raise SigningError("a digest to sign is 32 bytes")
        raw = self._curve_key.sign_recoverable(digest, hasher=None)
        return Signature(v=raw[64] + 27, r=raw[:32], s=raw[32:64])

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> Signature:
        """Signs EIP-712 typed data."""
        signed = self._account.sign_typed_data(full_message=dict(full_message))
        return Signature(v=signed.v, r=signed.r.to_bytes(32, "big"), s=signed.s.to_bytes(32, "big"))

    def __repr__(self) -> str:
        return f"PrivateKeySigner(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a signer cannot be pickled: it would copy the key")
