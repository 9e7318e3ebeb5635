"""The PKCS#11 back end: secp256k1 keys generated inside an HSM (SoftHSM2 here) that never leave it.

The HSM returns a raw ECDSA signature (r || s) over a 32-byte digest. Ethereum needs s in the lower
half of the curve order (EIP-2) and a recovery id, so `sign_hash` normalises s and finds the recovery id
by recovering the public key both ways.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pkcs11

# eth-account has no public API to sign a transaction with an external signer; these helpers are what
# its own `sign_transaction` uses (pinned version, see pyproject.toml).
from eth_account._utils.legacy_transactions import (
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account._utils.signing import to_eth_v
from eth_account.messages import encode_typed_data
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_keys.main import KeyAPI
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
from pydantic import SecretStr

from wallet.errors import SigningError, UnknownKeyError
from wallet.keys.base import Signature, SignedTransaction

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2


class Pkcs11Token:
    """A logged-in session on one HSM token, shared by the signers of its keys (serialised by a lock)."""

    def __init__(self, module: Path, token_label: str, pin: SecretStr) -> None:
        try:
            lib = pkcs11.lib(str(module))
            token = lib.get_token(token_label=token_label)
            self._session = token.open(user_pin=pin.get_secret_value(), rw=True)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise SigningError(
                f"cannot open PKCS#11 token {token_label!r} with {module}: {type(exc).__name__}"
            ) from None
        self.lock = threading.Lock()
        self.label = token_label

    @property
    def session(self) -> Any:
        """The PKCS#11 session; hold `lock` while using it."""
        return self._session

    def generate(self, label: str) -> Pkcs11Signer:
        """Generates a secp256k1 key pair inside the token under `label`: sensitive, not extractable."""
        with self.lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) is not None:
                raise SigningError(f"the token has a key labelled {label!r} already")
            params = self._session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256k1")}, local=True
            )
            params.generate_keypair(
                store=True,
                label=label,
                public_template={Attribute.VERIFY: True},
                private_template={
                    Attribute.SIGN: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.PRIVATE: True,
                },
            )
        return Pkcs11Signer(self, label)

    def signer(self, label: str) -> Pkcs11Signer:
        """The signer for the key pair under `label`; `UnknownKeyError` when there is none."""
        return Pkcs11Signer(self, label)

    def _find(self, object_class: ObjectClass, label: str) -> Any:
        found = list(self._session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
        return found[0] if found else None

    def close(self) -> None:
        """Logs out and closes the session."""
        with self.lock:
            self._session.close()

    def __repr__(self) -> str:
        return f"Pkcs11Token(label={self.label!r})"


class Pkcs11Signer:
    """Signs with one HSM key; only the public key and address are ever read out of the token."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self._token = token
        self.label = label
        with token.lock:
            private = token._find(ObjectClass.PRIVATE_KEY, label)
            public = token._find(ObjectClass.PUBLIC_KEY, label)
            if private is None or public is None:
                raise UnknownKeyError(label)
            self._private = private
            point = bytes(public[Attribute.EC_POINT])
        # EC_POINT is a DER OCTET STRING around the 65-byte uncompressed point.
        if len(point) == 67 and point[:2] == b"\x04\x41":
            point = point[2:]
        if len(point) != 65 or point[0] != 4:
            raise SigningError(f"unexpected EC point encoding for key {label!r}")
        self._public_key = KeyAPI.PublicKey(point[1:])
        self._address = self._public_key.to_checksum_address()

    @property
    def address(self) -> ChecksumAddress:
        """The Ethereum address of the HSM key."""
        return self._address

    def sign_hash(self, digest: bytes) -> Signature:
        """Signs a 32-byte digest in the HSM; low s, v = 27 + recovery id.

        Dangerous: whatever the digest commits to is signed, so callers hash only messages they built.
        """
        if len(digest) != 32:
            raise SigningError("the digest must be 32 bytes")
        with self._token.lock:
            raw = bytes(self._private.sign(digest, mechanism=Mechanism.ECDSA))
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if s > _HALF_N:
            s = SECP256K1_N - s
        for recovery_id in (0, 1):
            candidate = KeyAPI.Signature(vrs=(recovery_id, r, s))
            if candidate.recover_public_key_from_msg_hash(digest) == self._public_key:
                return Signature(v=27 + recovery_id, r=r.to_bytes(32, "big"), s=s.to_bytes(32, "big"))
        raise SigningError("the HSM signature does not recover to its own public key")

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """Signs a complete transaction dictionary in the HSM."""
        unsigned = serializable_unsigned_transaction_from_dict(dict(tx))
        sig = self.sign_hash(unsigned.hash())
        recovery_id = sig.v - 27
        r, s = int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big")
        if isinstance(unsigned, TypedTransaction):
            v = recovery_id
        else:
            v = to_eth_v(recovery_id, tx.get("chainId"))
        raw = encode_transaction(unsigned, vrs=(v, r, s))
        return SignedTransaction(raw=bytes(raw), hash=keccak(raw))

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> Signature:
        """Signs EIP-712 typed data in the HSM."""
        signable = encode_typed_data(full_message=dict(full_message))
        return self.sign_hash(keccak(b"\x19" + signable.version + signable.header + signable.body))

    def __repr__(self) -> str:
        return f"Pkcs11Signer(label={self.label!r}, address={self.address})"

    def __reduce__(self) -> Any:
        raise TypeError("an HSM signer cannot be pickled")
