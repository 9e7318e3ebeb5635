"""The PKCS#11 signer against a real SoftHSM2 token: signatures verify off chain and on chain."""

import os

import pkcs11
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pkcs11 import Attribute
from pydantic import SecretStr
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, deploy_bank
from wallet.chain.eip3009 import TokenDomain, sign_transfer_authorization, typed_data
from wallet.chain.node import fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.errors import SigningError, UnknownKeyError
from wallet.keys import PrivateKeySigner, Signer
from wallet.keys.pkcs11 import SECP256K1_N, Pkcs11Signer, Pkcs11Token
from wallet.settings import Settings


@pytest.fixture(scope="session")
def hsm_signer(hsm_token: Pkcs11Token) -> Pkcs11Signer:
    return hsm_token.generate("role:relayer")


def test_the_hsm_key_has_a_stable_address(hsm_token: Pkcs11Token, hsm_signer: Pkcs11Signer) -> None:
    assert isinstance(hsm_signer, Signer)
    assert hsm_token.signer("role:relayer").address == hsm_signer.address
    assert Web3.is_checksum_address(hsm_signer.address)


def test_the_private_key_cannot_be_read_out_of_the_token(hsm_signer: Pkcs11Signer) -> None:
    private = hsm_signer._private
    assert private[Attribute.EXTRACTABLE] is False
    assert private[Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.PKCS11Error):
        private[Attribute.VALUE]


def test_typed_data_signed_in_the_hsm_recovers_to_its_address(hsm_signer: Pkcs11Signer) -> None:
    message = typed_data(
        TokenDomain(name="HSM", chain_id=31337, address=hsm_signer.address),
        "CancelAuthorization",
        {"authorizer": hsm_signer.address, "nonce": b"\x05" * 32},
    )
    sig = hsm_signer.sign_typed_data(message)
    assert (
        Account.recover_message(encode_typed_data(full_message=message), signature=sig.to_bytes())
        == hsm_signer.address
    )


def test_every_hsm_signature_has_low_s(hsm_signer: Pkcs11Signer) -> None:
    for i in range(64):
        sig = hsm_signer.sign_hash(i.to_bytes(32, "big"))
        assert int.from_bytes(sig.s, "big") <= SECP256K1_N // 2
        assert sig.v in (27, 28)


def test_a_digest_must_be_32_bytes(hsm_signer: Pkcs11Signer) -> None:
    with pytest.raises(SigningError, match="32 bytes"):
        hsm_signer.sign_hash(b"short")


def test_a_transaction_signed_in_the_hsm_is_mined(w3: Web3, hsm_signer: Pkcs11Signer) -> None:
    fund_from_dev_account(w3, hsm_signer.address, 10**18)
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {
        "to": list(w3.eth.accounts)[1],
        "value": 12345,
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(hsm_signer.address),
        "maxFeePerGas": 2 * base_fee + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "chainId": w3.eth.chain_id,
        "type": 2,
    }
    signed = hsm_signer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw))
    assert receipt["status"] == 1
    assert receipt["from"] == hsm_signer.address
    assert bytes(receipt["transactionHash"]) == signed.hash


def test_an_eip3009_authorization_signed_in_the_hsm_moves_tokens_on_chain(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner, hsm_token: Pkcs11Token
) -> None:
    payer = hsm_token.generate(f"customer:{os.urandom(4).hex()}")
    payee = Account.create().address
    tx = Transactor(w3, funded_signer, [c.abi for c in compilation.contracts.values()])
    manifest = deploy_bank(
        w3,
        tx,
        compilation,
        bank_name="HSM Bank",
        currencies=["USD"],
        roles=BankRoles.single(funded_signer.address),
        minter_allowance=10**9,
    )
    token = w3.eth.contract(address=manifest.tokens["USD"].address, abi=compilation["DepositToken"].abi)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    tx.send(registry.functions.setKycBatch([payer.address, payee], [2**40 - 1] * 2, [840] * 2))
    tx.send(token.functions.mint(payer.address, 100_00))
    domain = TokenDomain(name=manifest.tokens["USD"].name, chain_id=w3.eth.chain_id, address=token.address)
    now = w3.eth.get_block("latest")["timestamp"]
    auth = sign_transfer_authorization(
        payer,
        domain,
        to=payee,
        value=42_00,
        valid_after=0,
        valid_before=now + 600,
        nonce=b"\x09" * 32,
        payment_reference=b"INV-1".ljust(32, b"\x00"),
    )
    tx.send(token.functions.transferWithReferenceAuthorization(auth.as_tuple()))
    assert token.functions.balanceOf(payee).call() == 42_00
    assert token.functions.balanceOf(payer.address).call() == 58_00
    assert token.functions.authorizationState(payer.address, b"\x09" * 32).call() is True


@pytest.mark.usefixtures("hsm_token")
def test_a_wrong_pin_is_a_signing_error_that_does_not_echo_it() -> None:
    with pytest.raises(SigningError) as info:
        Pkcs11Token(Settings().pkcs11_module, "tdw-test", SecretStr("999999"))
    assert "999999" not in str(info.value)


@pytest.mark.usefixtures("hsm_signer")
def test_a_duplicate_label_is_refused(hsm_token: Pkcs11Token) -> None:
    with pytest.raises(SigningError, match="already"):
        hsm_token.generate("role:relayer")


def test_an_unknown_label_is_an_unknown_key_error(hsm_token: Pkcs11Token) -> None:
    with pytest.raises(UnknownKeyError, match="nobody"):
        hsm_token.signer("nobody")
