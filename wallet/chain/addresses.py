"""EIP-55 address checks, cached: checksumming hashes the address with keccak, which showed up as a
tenth of an API transfer's time when done afresh for the same few addresses on every request."""

from __future__ import annotations

import functools

from eth_typing import ChecksumAddress
from eth_utils.address import is_hex_address, to_checksum_address


@functools.lru_cache(maxsize=65_536)
def _checksum(value: str) -> ChecksumAddress | None:
    if not is_hex_address(value):
        return None
    checksummed = to_checksum_address(value)
    digits = value.removeprefix("0x").removeprefix("0X")
    # Mixed case is a checksum (EIP-55), and a wrong one means a mistyped address: refuse it. All
    # lowercase (or all uppercase) carries no checksum and is taken as it is.
    if digits not in (digits.lower(), digits.upper()) and digits != checksummed[2:]:
        return None
    return checksummed


def checksum(value: object) -> ChecksumAddress | None:
    """The EIP-55 form of `value`, or None when it is not an address (a mixed-case address must carry
    a valid checksum)."""
    if not isinstance(value, str) or len(value) not in (40, 42):
        return None
    return _checksum(value)
