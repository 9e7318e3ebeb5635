"""Addresses as the services take them: EIP-55 checksums are checked, not ignored."""

import pytest

from wallet.chain.addresses import checksum

# EIP-55's own examples.
VALID = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", VALID)
def test_a_right_checksum_and_no_checksum_are_accepted(address: str) -> None:
    assert checksum(address) == address
    assert checksum(address.lower()) == address
    assert checksum("0x" + address[2:].upper()) == address
    assert checksum(address[2:]) == address


@pytest.mark.parametrize("address", VALID)
def test_a_wrong_checksum_is_refused(address: str) -> None:
    # Flip the case of the first letter: still mixed case, so still a checksum, now a wrong one.
    i = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    typo = address[:i] + address[i].swapcase() + address[i + 1 :]
    assert checksum(typo) is None


@pytest.mark.parametrize("value", ["0x1234", "0x" + "g" * 40, "", None, 42, "0x" + "1" * 41])
def test_what_is_not_an_address_is_refused(value: object) -> None:
    assert checksum(value) is None
