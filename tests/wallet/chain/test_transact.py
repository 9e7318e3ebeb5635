import pytest
from web3 import Web3
from web3.contract import Contract

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, deploy_bank
from wallet.chain.transact import Transactor
from wallet.errors import ContractRevertError
from wallet.keys import PrivateKeySigner


@pytest.fixture
def bank(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> tuple[Transactor, Contract, Contract]:
    tx = Transactor(w3, funded_signer, [c.abi for c in compilation.contracts.values()])
    manifest = deploy_bank(
        w3,
        tx,
        compilation,
        bank_name="Revert Bank",
        currencies=["USD"],
        roles=BankRoles.single(funded_signer.address),
        minter_allowance=1_000,
    )
    token = w3.eth.contract(address=manifest.tokens["USD"].address, abi=compilation["DepositToken"].abi)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    return tx, token, registry


@pytest.mark.usefixtures("funded_signer")
def test_a_revert_before_signing_is_decoded_with_its_arguments(
    bank: tuple[Transactor, Contract, Contract],
) -> None:
    tx, token, _ = bank
    stranger = PrivateKeySigner.generate().address
    with pytest.raises(ContractRevertError) as info:
        tx.send(token.functions.mint(stranger, 1))
    assert info.value.error_name == "DepositTokenAccountNotVerified"
    assert info.value.error_args == {"account": stranger}
    assert info.value.tx_hash is None


def test_a_mined_revert_is_decoded_by_replaying_it(
    w3: Web3, bank: tuple[Transactor, Contract, Contract], funded_signer: PrivateKeySigner
) -> None:
    tx, token, registry = bank
    tx.send(registry.functions.setKyc(funded_signer.address, 2**40 - 1, 840))
    nonce = w3.eth.get_transaction_count(funded_signer.address)
    # An explicit gas limit skips estimation, so the transaction is mined and reverts on chain.
    with pytest.raises(ContractRevertError) as info:
        tx.send(token.functions.mint(funded_signer.address, 1_001), gas=200_000)
    assert info.value.error_name == "DepositTokenMinterAllowanceExceeded"
    assert info.value.error_args == {"minter": funded_signer.address, "allowance": 1_000, "needed": 1_001}
    assert info.value.tx_hash is not None
    assert w3.eth.get_transaction_count(funded_signer.address) == nonce + 1
    assert token.functions.totalSupply().call() == 0
