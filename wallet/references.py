"""Payment references: what a customer types, and the contract's bytes32 that carries it. One
rendering everywhere (the API, events, statements in every format): the text as given when it was
printable UTF-8, else `0x` and the 64 hex digits."""

from __future__ import annotations

from wallet.chain.eip3009 import ZERO_REFERENCE
from wallet.errors import InvalidRequestError


def encode_reference(reference: str | None) -> bytes:
    """A payment reference as the contract's bytes32: 0x and 64 hex digits as they are, any other text
    as its UTF-8 bytes (at most 32), zero-padded on the right."""
    if reference is None or reference == "":
        return ZERO_REFERENCE
    if reference.startswith("0x") and len(reference) == 66:
        try:
            return bytes.fromhex(reference[2:])
        except ValueError:
            pass
    raw = reference.encode()
    if len(raw) > 32:
        raise InvalidRequestError("a payment reference is at most 32 bytes of UTF-8, or 0x and 64 hex digits")
    return raw.ljust(32, b"\0")


def decode_reference(raw: bytes) -> str | None:
    """The reference as the customer gave it: text when it was text, else 0x-hex; None for none."""
    if raw == ZERO_REFERENCE:
        return None
    text = raw.rstrip(b"\0")
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    return decoded if decoded and decoded.isprintable() else "0x" + raw.hex()


def reference_text(stored: str | None) -> str | None:
    """A reference as the mirror stores it (`0x` and 64 hex digits, or None) in the one rendering."""
    if not stored:
        return None
    return decode_reference(bytes.fromhex(stored[2:]))
