"""The local keystore: secp256k1 keys generated here and stored in the database wrapped under a
key-encryption key (KEK) from settings.

Each key is sealed with AES-256-GCM under the KEK, with its address as associated data, so a wrapped key
copied onto another row fails to open. `rotate` re-wraps every key under a new KEK in one database
transaction; addresses never change. Unwrapped keys live only inside the `PrivateKeySigner` returned.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.engine import readonly
from wallet.db.models import SigningKey
from wallet.errors import ConfigurationError, SigningError, UnknownKeyError
from wallet.keys.local import PrivateKeySigner


class KeyEncryptionKey:
    """A 256-bit key-encryption key; `kek_id` names it without revealing it."""

    __slots__ = ("_aead", "kek_id")

    def __init__(self, secret: SecretStr) -> None:
        text = secret.get_secret_value().removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ConfigurationError("the key-encryption key must be 64 hex characters (32 bytes)") from None
        if len(raw) != 32:
            raise ConfigurationError("the key-encryption key must be 64 hex characters (32 bytes)")
        self._aead = AESGCM(raw)
        self.kek_id = hashlib.sha256(b"tdw-kek-id|" + raw).hexdigest()[:32]

    def wrap(self, key: bytes, address: str) -> tuple[bytes, bytes]:
        """(ciphertext, nonce) of `key`, bound to `address`."""
        nonce = os.urandom(12)
        return self._aead.encrypt(nonce, key, address.encode()), nonce

    def unwrap(self, wrapped: bytes, nonce: bytes, address: str) -> bytes:
        """The key sealed by `wrap` for `address`; raises `SigningError` when it does not open."""
        try:
            return self._aead.decrypt(nonce, wrapped, address.encode())
        except InvalidTag:
            raise SigningError(f"the wrapped key of {address} does not open under this KEK") from None

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(kek_id={self.kek_id})"


class Keystore:
    """Creates, stores and loads local signing keys by label (`customer:42`, `role:relayer`, ...)."""

    def __init__(self, sessions: sessionmaker[Session], kek: SecretStr, *, cache_size: int = 0) -> None:
        self._sessions = sessions
        self._readers = readonly(sessions)
        self._kek = KeyEncryptionKey(kek)
        # Opened signers by address, for a service that signs for the same customers all day; off by
        # default, so a key is unwrapped only for the moment it is used.
        self._cache: OrderedDict[str, PrivateKeySigner] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    @property
    def kek_id(self) -> str:
        """The id of the key-encryption key in use."""
        return self._kek.kek_id

    def create(self, label: str) -> PrivateKeySigner:
        """Generates a key under `label` and stores it wrapped; raises `SigningError` if the label exists."""
        account = Account.create()
        key = bytes(account.key)
        wrapped, nonce = self._kek.wrap(key, account.address)
        row = SigningKey(
            label=label,
            address=account.address,
            backend="local",
            wrapped_key=wrapped,
            wrap_nonce=nonce,
            kek_id=self._kek.kek_id,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise SigningError(f"a key labelled {label!r} exists already") from None
        return PrivateKeySigner(key)

    def get_or_create(self, label: str) -> PrivateKeySigner:
        """The key under `label`, created if there is none yet (safe against a concurrent creator)."""
        try:
            return self.signer(label)
        except UnknownKeyError:
            pass
        try:
            return self.create(label)
        except SigningError:
            return self.signer(label)

    def signer(self, label: str) -> PrivateKeySigner:
        """The signer for the key under `label`; `UnknownKeyError` when there is none."""
        with self._readers() as session:
            row = session.get(SigningKey, label)
        if row is None:
            raise UnknownKeyError(label)
        return self._open(row)

    def signer_for_address(self, address: str) -> PrivateKeySigner:
        """The signer for the key with `address`; `UnknownKeyError` when there is none."""
        with self._cache_lock:
            cached = self._cache.get(address)
            if cached is not None:
                self._cache.move_to_end(address)
                return cached
        with self._readers() as session:
            row = session.scalars(select(SigningKey).where(SigningKey.address == address)).one_or_none()
        if row is None:
            raise UnknownKeyError(address)
        signer = self._open(row)
        if self._cache_size:
            with self._cache_lock:
                self._cache[address] = signer
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return signer

    def labels(self) -> list[str]:
        """Every label in the keystore."""
        with self._readers() as session:
            return list(session.scalars(select(SigningKey.label).order_by(SigningKey.label)))

    def rotate(self, new_kek: SecretStr) -> int:
        """Re-wraps every local key under `new_kek` in one transaction and switches to it.

        Each key is checked to open and to still derive its address before anything is written; any
        failure leaves every row as it was. Returns how many keys were re-wrapped.
        """
        new = KeyEncryptionKey(new_kek)
        now = datetime.now(UTC)
        count = 0
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(SigningKey).where(SigningKey.backend == "local").with_for_update()
            ).all()
            for row in rows:
                key = self._unwrap(row)
                if Account.from_key(key).address != row.address:
                    raise SigningError(f"the key of {row.address} does not derive its address")
                row.wrapped_key, row.wrap_nonce = new.wrap(key, row.address)
                row.kek_id = new.kek_id
                row.rotated_at = now
                count += 1
        self._kek = new
        with self._cache_lock:
            self._cache.clear()
        return count

    def _unwrap(self, row: SigningKey) -> bytes:
        if row.backend != "local" or row.wrapped_key is None or row.wrap_nonce is None:
            raise SigningError(f"{row.label!r} is not a local key")
        if row.kek_id != self._kek.kek_id:
            raise SigningError(
                f"{row.label!r} is wrapped under KEK {row.kek_id}, this keystore has {self.kek_id}"
            )
        return self._kek.unwrap(row.wrapped_key, row.wrap_nonce, row.address)

    def _open(self, row: SigningKey) -> PrivateKeySigner:
        signer = PrivateKeySigner(self._unwrap(row))
        if signer.address != row.address:
            raise SigningError(f"the stored key of {row.label!r} does not derive its address")
        return signer

    def __repr__(self) -> str:
        return f"Keystore(kek_id={self.kek_id})"


OPERATIONAL_ROLES = ("admin", "minter", "burner", "pauser", "compliance", "relayer", "treasury")


def operational_keys(keystore: Keystore) -> dict[str, PrivateKeySigner]:
    """The bank's operational key for each role (`role:admin`, `role:minter`, ...), created on first use.
    Each role signs with its own address, so a leaked relayer key cannot mint and a minter cannot freeze.
    The treasury key holds the bank's own tokens (its FX book, its settlement-token position) and sends
    nothing: it signs the authorizations of the settlements it pays into."""
    return {role: keystore.get_or_create(f"role:{role}") for role in OPERATIONAL_ROLES}


def customer_key(keystore: Keystore, customer_id: str) -> PrivateKeySigner:
    """The custodial key of one customer account, created on first use."""
    if not customer_id or ":" in customer_id:
        raise SigningError(f"a customer id must be non-empty and without ':', not {customer_id!r}")
    return keystore.get_or_create(f"customer:{customer_id}")
