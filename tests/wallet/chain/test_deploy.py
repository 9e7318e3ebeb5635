from collections.abc import Sequence
from pathlib import Path

import pytest
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import DEFAULT_ADMIN_ROLE, BankRoles, Manifest, deploy_bank, verify_manifest
from wallet.chain.transact import Transactor
from wallet.errors import ManifestError
from wallet.keys import PrivateKeySigner, Signer


def _deploy(
    w3: Web3,
    compilation: Compilation,
    signer: Signer,
    roles: BankRoles | None = None,
    currencies: Sequence[str] = ("USD", "EUR", "JPY"),
) -> Manifest:
    tx = Transactor(w3, signer, [c.abi for c in compilation.contracts.values()])
    return deploy_bank(
        w3,
        tx,
        compilation,
        bank_name="Test Bank",
        currencies=list(currencies),
        roles=roles or BankRoles.single(signer.address),
        minter_allowance=10**12,
    )


def test_deploy_writes_a_manifest_that_verifies(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner, tmp_path: Path
) -> None:
    manifest = _deploy(w3, compilation, funded_signer)
    path = tmp_path / "deployment.json"
    manifest.write(path)
    loaded = Manifest.read(path)
    assert loaded == manifest
    assert loaded.chain_id == w3.eth.chain_id
    assert set(loaded.tokens) == {"USD", "EUR", "JPY"}
    assert verify_manifest(w3, loaded, compilation) == {}


def test_each_token_has_its_currencys_exponent_and_follows_the_registry(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    manifest = _deploy(w3, compilation, funded_signer)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    assert registry.functions.tokens().call() == [t.address for t in manifest.tokens.values()]
    for code, entry in manifest.tokens.items():
        token = w3.eth.contract(address=entry.address, abi=compilation["DepositToken"].abi)
        assert token.functions.decimals().call() == {"USD": 2, "EUR": 2, "JPY": 0}[code]
        assert token.functions.currency().call() == code
        assert token.functions.registry().call() == registry.address


def test_roles_go_to_their_holders_and_the_deployer_hands_admin_over(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    holders = {
        name: PrivateKeySigner.generate().address
        for name in ("admin", "minter", "burner", "pauser", "compliance")
    }
    manifest = _deploy(w3, compilation, funded_signer, roles=BankRoles(**holders), currencies=["USD"])
    token = w3.eth.contract(address=manifest.tokens["USD"].address, abi=compilation["DepositToken"].abi)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    has = token.functions.hasRole
    assert has(token.functions.MINTER_ROLE().call(), holders["minter"]).call()
    assert token.functions.minterAllowance(holders["minter"]).call() == 10**12
    assert has(token.functions.BURNER_ROLE().call(), holders["burner"]).call()
    assert has(token.functions.PAUSER_ROLE().call(), holders["pauser"]).call()
    assert has(token.functions.COMPLIANCE_ROLE().call(), holders["compliance"]).call()
    assert registry.functions.hasRole(
        registry.functions.COMPLIANCE_ROLE().call(), holders["compliance"]
    ).call()
    for contract in (token, registry):
        assert contract.functions.hasRole(DEFAULT_ADMIN_ROLE, holders["admin"]).call()
        assert not contract.functions.hasRole(DEFAULT_ADMIN_ROLE, funded_signer.address).call()


def test_verify_reports_a_contract_whose_address_holds_other_code(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    manifest = _deploy(w3, compilation, funded_signer, currencies=["USD"])
    usd = manifest.tokens["USD"]
    # Point the USD entry at the registry's address: different code, though its hash is on file.
    forged = manifest.model_copy(
        update={
            "tokens": {
                "USD": usd.model_copy(
                    update={"address": manifest.registry.address, "code_hash": manifest.registry.code_hash}
                )
            }
        }
    )
    problems = verify_manifest(w3, forged, compilation)
    assert list(problems) == ["token USD"]
    assert (
        "bytes, a fresh compile is" in problems["token USD"]
        or "differs from a fresh compile" in problems["token USD"]
    )


def test_verify_reports_code_that_changed_since_deployment(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    manifest = _deploy(w3, compilation, funded_signer, currencies=["USD"])
    forged = manifest.model_copy(
        update={"registry": manifest.registry.model_copy(update={"code_hash": "0x" + "00" * 32})}
    )
    assert "changed since deployment" in verify_manifest(w3, forged, compilation)["registry"]


def test_verify_reports_an_address_without_code(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    manifest = _deploy(w3, compilation, funded_signer, currencies=["USD"])
    empty = PrivateKeySigner.generate().address
    forged = manifest.model_copy(update={"registry": manifest.registry.model_copy(update={"address": empty})})
    assert verify_manifest(w3, forged, compilation)["registry"] == f"no code at {empty}"


def test_verify_refuses_a_manifest_for_another_chain(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    manifest = _deploy(w3, compilation, funded_signer, currencies=["USD"])
    with pytest.raises(ManifestError, match=r"the manifest is for chain 1, the node is chain \d+"):
        verify_manifest(w3, manifest.model_copy(update={"chain_id": 1}), compilation)


def test_reading_a_malformed_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"chain_id": "x"}')
    with pytest.raises(ManifestError, match="not a valid deployment manifest"):
        Manifest.read(path)
    with pytest.raises(ManifestError, match="no deployment manifest"):
        Manifest.read(tmp_path / "missing.json")


def test_an_unknown_currency_deploys_nothing(
    w3: Web3, compilation: Compilation, funded_signer: PrivateKeySigner
) -> None:
    from wallet.errors import UnknownCurrencyError

    nonce = w3.eth.get_transaction_count(funded_signer.address)
    with pytest.raises(UnknownCurrencyError, match="XAU"):
        _deploy(w3, compilation, funded_signer, currencies=["USD", "XAU"])
    assert w3.eth.get_transaction_count(funded_signer.address) == nonce
