"""HTTP Message Signatures (RFC 9421) between partner banks, with Ed25519 keys.

Every request to the partner API is signed by the calling bank: the signature covers the method, the
target URI, the content type and the body's `Content-Digest` (RFC 9530, SHA-256), with the parameters
`created`, `keyid`, `nonce` and the tag `tdw-partner`. The receiving bank verifies with the public key
it registered for that key id, refuses a signature older than the replay window (5 minutes) or from
the future, and stores each nonce it accepts, so a captured request cannot be sent again within the
window and is stale after it. Signing and verifying use the maintained `http-message-signatures`
library; the tests check our verifier against a signer we did not write (the npm package of the same
name) and against the test vector of RFC 9421 appendix B.2.6.

Each bank's own key (`HttpKeys`) is generated on first use and kept wrapped under the KEK.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException, InvalidSignature
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.models import HttpSigningKey, Partner, PartnerNonce
from wallet.errors import PartnerAuthError
from wallet.keys.keystore import KeyEncryptionKey

TAG = "tdw-partner"
REPLAY_WINDOW = timedelta(minutes=5)
COVERED = ("@method", "@target-uri", "content-type", "content-digest")


@dataclass
class Message:
    """An HTTP request as the signature library reads it."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, resolve: Callable[[str], Any]) -> None:
        self._resolve = resolve

    def resolve_public_key(self, key_id: str) -> Any:
        return self._resolve(key_id)

    def resolve_private_key(self, key_id: str) -> Any:
        return self._resolve(key_id)


def sign_request(
    private_key: Ed25519PrivateKey,
    key_id: str,
    *,
    method: str,
    url: str,
    body: bytes,
    content_type: str = "application/json",
    created: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers of a signed request: `Content-Type`, `Content-Digest`, `Signature-Input`, `Signature`."""
    message = Message(method=method.upper(), url=url, headers={"Content-Type": content_type})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys(lambda _: private_key)
    )
    signer.sign(
        message,
        key_id=key_id,
        created=created or datetime.now(UTC),
        nonce=nonce or secrets.token_urlsafe(16),
        tag=TAG,
        label="sig1",
        covered_component_ids=COVERED,
        body=body,
    )
    return message.headers


def verify_request(
    public_key: Callable[[str], Ed25519PublicKey | None],
    *,
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    max_age: timedelta = REPLAY_WINDOW,
) -> tuple[str, str, datetime]:
    """Verifies a request's signature; returns (key id, nonce, created). Raises `PartnerAuthError`."""
    message = Message(method=method.upper(), url=url, headers=dict(headers))
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=_Keys(public_key))
    try:
        (result,) = verifier.verify(
            message, max_age=max_age, expect_tag=TAG, require_components=COVERED, body=body
        )
    except (InvalidSignature, HTTPMessageSignaturesException, ValueError) as exc:
        raise PartnerAuthError(f"the request's HTTP message signature does not verify: {exc}") from None
    params = result.parameters
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 100:
        raise PartnerAuthError("the signature needs a nonce of 8 to 100 characters")
    created = datetime.fromtimestamp(int(params["created"]), UTC)
    return str(params["keyid"]), nonce, created


class PartnerAuthenticator:
    """Verifies a partner's signed request and records its nonce: which partner sent it."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))

    def authenticate(
        self, *, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Partner:
        """The active partner whose key signed this request; `PartnerAuthError` otherwise, also for a
        nonce seen before."""
        with self.sessions() as session:
            partners = {p.key_id: p for p in session.scalars(select(Partner).where(Partner.active))}

        def key(key_id: str) -> Ed25519PublicKey | None:
            partner = partners.get(key_id)
            return Ed25519PublicKey.from_public_bytes(bytes(partner.public_key)) if partner else None

        key_id, nonce, created = verify_request(key, method=method, url=url, headers=headers, body=body)
        partner = partners[key_id]
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                session.execute(delete(PartnerNonce).where(PartnerNonce.seen_at < now - 2 * REPLAY_WINDOW))
                session.add(PartnerNonce(partner_id=partner.id, nonce=nonce, seen_at=max(now, created)))
        except IntegrityError:
            raise PartnerAuthError("this request was sent before (its signature's nonce is used)") from None
        return partner


class HttpKeys:
    """The bank's own Ed25519 key for signing requests to partners, created on first use."""

    def __init__(self, sessions: sessionmaker[Session], kek: SecretStr, key_id: str) -> None:
        self.sessions = sessions
        self.kek = KeyEncryptionKey(kek)
        self.key_id = key_id

    def private_key(self) -> Ed25519PrivateKey:
        """Our signing key (made and stored the first time)."""
        with self.sessions() as session:
            row = session.get(HttpSigningKey, self.key_id)
        if row is None:
            key = Ed25519PrivateKey.generate()
            seed = key.private_bytes_raw()
            wrapped, nonce = self.kek.wrap(seed, self.key_id)
            try:
                with self.sessions.begin() as session:
                    session.add(
                        HttpSigningKey(
                            key_id=self.key_id,
                            wrapped=wrapped,
                            nonce=nonce,
                            public_key=_public_bytes(key.public_key()),
                        )
                    )
            except IntegrityError:
                return self.private_key()  # another process made it first
            return key
        return Ed25519PrivateKey.from_private_bytes(
            self.kek.unwrap(bytes(row.wrapped), bytes(row.nonce), self.key_id)
        )

    def public_key(self) -> bytes:
        """Our public key, 32 bytes, for partners to register."""
        return _public_bytes(self.private_key().public_key())

    def sign(
        self, *, method: str, url: str, body: bytes, content_type: str = "application/json"
    ) -> dict[str, str]:
        """Headers that sign this request with our key."""
        return sign_request(
            self.private_key(), self.key_id, method=method, url=url, body=body, content_type=content_type
        )


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(raw: bytes) -> str:
    """Standard base64, as keys are exchanged."""
    return base64.b64encode(raw).decode()


def public_key_from(text: str) -> bytes:
    """A 32-byte Ed25519 public key from its base64 form; `ValueError` when it is not one."""
    raw = base64.b64decode(text, validate=True)
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


__all__ = [
    "REPLAY_WINDOW",
    "TAG",
    "HttpKeys",
    "PartnerAuthenticator",
    "b64",
    "public_key_from",
    "sign_request",
    "verify_request",
]
