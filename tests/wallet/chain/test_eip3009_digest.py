import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from wallet.chain.eip3009 import TokenDomain, sign_transfer_authorization, typed_data
from wallet.keys import PrivateKeySigner


@pytest.mark.parametrize("reference", [bytes(32), b"INV-1".ljust(32, b"\0")])
def test_the_fast_digest_signs_exactly_what_eth_account_signs(reference: bytes) -> None:
    key = bytes(range(1, 33))
    signer = PrivateKeySigner(key)
    domain = TokenDomain(name="Bank USD Deposit", chain_id=31337, address=Account.from_key(key).address)
    auth = sign_transfer_authorization(
        signer,
        domain,
        to=Web3.to_checksum_address("0x" + "ab" * 20),
        value=12_345,
        valid_after=0,
        valid_before=2**40,
        nonce=bytes(range(32)),
        payment_reference=reference,
    )
    primary = "TransferWithAuthorization" if reference == bytes(32) else "TransferWithReferenceAuthorization"
    message = {
        "from": signer.address,
        "to": "0x" + "ab" * 20,
        "value": 12_345,
        "validAfter": 0,
        "validBefore": 2**40,
        "nonce": bytes(range(32)),
    }
    if reference != bytes(32):
        message["paymentReference"] = reference
    expected = Account.sign_message(encode_typed_data(full_message=typed_data(domain, primary, message)), key)
    assert auth.signature.to_bytes() == bytes(expected.signature)
    assert signer.sign_typed_data(typed_data(domain, primary, message)) == auth.signature
