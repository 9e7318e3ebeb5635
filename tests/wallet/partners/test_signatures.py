"""The partner API's HTTP Message Signatures against outside references: the RFC 9421 test vector
B.2.6 (Ed25519), and our own signer's output checked for what a verifier must refuse."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import InvalidSignature

from wallet.errors import PartnerAuthError
from wallet.partners.signatures import Message, sign_request, verify_request

# RFC 9421 appendix B.1.4 (test-key-ed25519) and B.2.6.
RFC_KEY = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU="
RFC_REQUEST = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwE"
    "mTHWXvJwew==:",
    "Content-Length": "18",
    "Signature-Input": 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"',
    "Signature": "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WP"
    "pBKRCw==:",
}


class _Key(HTTPSignatureKeyResolver):
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def resolve_public_key(self, key_id: str) -> object:
        assert key_id == "test-key-ed25519"
        return self.key.public_key()


def test_the_rfc_9421_ed25519_vector_verifies_and_a_changed_field_does_not() -> None:
    key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC_KEY))
    message = Message("POST", "https://example.com/foo?param=Value&Pet=dog", dict(RFC_REQUEST))
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=_Key(key))
    (result,) = verifier.verify(message, max_age=None)
    assert result.parameters["keyid"] == "test-key-ed25519"
    message.headers["Date"] = "Tue, 20 Apr 2021 02:07:56 GMT"
    with pytest.raises(InvalidSignature):
        verifier.verify(message, max_age=None)


def test_our_signatures_bind_method_uri_body_and_time() -> None:
    key = Ed25519PrivateKey.generate()
    url = "https://bank.example/v1/partner/payments"
    body = b"<Document/>"
    headers = sign_request(key, "k1", method="POST", url=url, body=body, content_type="application/xml")

    def verify(**changes: object) -> tuple[str, str, datetime]:
        args: dict[str, object] = {"method": "POST", "url": url, "headers": headers.items(), "body": body}
        args.update(changes)
        return verify_request(lambda _: key.public_key(), **args)  # type: ignore[arg-type]

    assert verify()[0] == "k1"
    for change in ({"method": "PUT"}, {"url": url + "?x=1"}, {"body": b"<Document />"}):
        with pytest.raises(PartnerAuthError):
            verify(**change)
    stale = sign_request(
        key, "k1", method="POST", url=url, body=body, created=datetime.now(UTC) - timedelta(minutes=6)
    )
    with pytest.raises(PartnerAuthError):
        verify(headers=stale.items())
    other = Ed25519PrivateKey.generate()
    with pytest.raises(PartnerAuthError):
        verify_request(
            lambda _: other.public_key(), method="POST", url=url, headers=headers.items(), body=body
        )
