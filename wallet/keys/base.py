"""The `Signer` protocol that every key back end implements, and its small result types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from eth_typing import ChecksumAddress


class Signature(NamedTuple):
    """An ECDSA signature over secp256k1 with low s and Ethereum's v (27 or 28)."""

    v: int
    r: bytes
    s: bytes

    def to_bytes(self) -> bytes:
        """The 65-byte `r || s || v` form."""
        return self.r + self.s + bytes([self.v])

    @classmethod
    def from_bytes(cls, raw: bytes) -> Signature:
        """A signature from its 65-byte `r || s || v` form."""
        if len(raw) != 65:
            raise ValueError(f"a signature is 65 bytes, not {len(raw)}")
        return cls(v=raw[64], r=raw[:32], s=raw[32:64])


class SignedTransaction(NamedTuple):
    """A signed transaction ready for `eth_sendRawTransaction`."""

    raw: bytes
    hash: bytes


@runtime_checkable
class Signer(Protocol):
    """Something that holds one key and signs with it; it never hands out the key."""

    @property
    def address(self) -> ChecksumAddress:
        """The Ethereum address of the key."""
        ...

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """Signs a transaction dictionary (EIP-1559 or legacy) with every field filled in."""
        ...

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> Signature:
        """Signs EIP-712 typed data given as a full message (types, primaryType, domain, message)."""
        ...

    def sign_hash(self, digest: bytes) -> Signature:
        """Signs a 32-byte digest as it is. Dangerous: whoever chose the digest chose what is signed,
        so only callers that computed it themselves (an EIP-712 digest they built) may use this."""
        ...
