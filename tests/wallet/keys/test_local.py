import logging
import pickle

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import SecretStr

from wallet.chain.eip3009 import TokenDomain, typed_data
from wallet.errors import SigningError
from wallet.keys import PrivateKeySigner, Signer

KEY = "0x" + "11" * 32


def test_a_typed_data_signature_recovers_to_the_signers_address() -> None:
    signer = PrivateKeySigner(SecretStr(KEY))
    assert isinstance(signer, Signer)
    domain = TokenDomain(name="Bank USD Deposit", chain_id=31337, address=signer.address)
    message = typed_data(domain, "CancelAuthorization", {"authorizer": signer.address, "nonce": b"\x01" * 32})
    sig = signer.sign_typed_data(message)
    recovered = Account.recover_message(encode_typed_data(full_message=message), signature=sig.to_bytes())
    assert recovered == signer.address
    assert int.from_bytes(sig.s, "big") <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
    assert sig.v in (27, 28)


def test_a_signed_transaction_recovers_to_the_signers_address() -> None:
    signer = PrivateKeySigner(SecretStr(KEY))
    tx = {
        "to": signer.address,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 1,
        "nonce": 0,
        "chainId": 31337,
        "type": 2,
    }
    signed = signer.sign_transaction(tx)
    assert Account.recover_transaction(signed.raw) == signer.address
    assert len(signed.hash) == 32


def test_the_key_never_shows_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    signer = PrivateKeySigner(SecretStr(KEY))
    logging.getLogger("test").warning("signer %s %r", signer, signer)
    for text in (repr(signer), str(signer), caplog.text):
        assert "11" * 32 not in text
        assert signer.address in text


def test_a_signer_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(PrivateKeySigner(SecretStr(KEY)))


def test_a_bad_key_is_a_signing_error_that_does_not_echo_the_key() -> None:
    bad = "0x" + "ff" * 32  # above the curve order
    with pytest.raises(SigningError) as info:
        PrivateKeySigner(SecretStr(bad))
    assert "ff" * 32 not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
