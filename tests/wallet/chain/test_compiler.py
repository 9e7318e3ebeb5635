import json
import shutil
import subprocess
from pathlib import Path

import pytest

from wallet.chain.compiler import PREBUILT, Compilation, compile_contracts, mask_immutables
from wallet.errors import CompilerError


def test_python_and_hardhat_produce_byte_identical_bytecode(
    project_root: Path, compilation: Compilation
) -> None:
    subprocess.run(
        ["npx", "hardhat", "compile", "--quiet"], cwd=project_root, check=True, capture_output=True
    )
    deployable = [c for c in compilation.contracts.values() if c.bytecode]
    assert {c.name for c in deployable} == {
        "AuditAnchor",
        "DepositToken",
        "ComplianceRegistry",
        "ReferenceERC20",
        "AtomicSettlement",
        "HashedTimelock",
    }
    for contract in deployable:
        artifact = json.loads(
            (project_root / "artifacts" / contract.source / f"{contract.name}.json").read_text()
        )
        assert artifact["sourceName"] == contract.source
        assert bytes.fromhex(artifact["bytecode"][2:]) == contract.bytecode, contract.name
        assert bytes.fromhex(artifact["deployedBytecode"][2:]) == contract.deployed_bytecode, contract.name


def test_deposit_token_fits_the_contract_size_limit(compilation: Compilation) -> None:
    assert len(compilation["DepositToken"].deployed_bytecode) <= 24_576


def test_the_deposit_token_has_immutables_and_the_registry_has_none(compilation: Compilation) -> None:
    assert compilation["DepositToken"].immutable_ranges
    assert compilation["ComplianceRegistry"].immutable_ranges == ()


def test_mask_immutables_zeroes_only_the_given_ranges() -> None:
    assert mask_immutables(b"\x01\x02\x03\x04\x05", ((1, 2),)) == b"\x01\x00\x00\x04\x05"


def _project_copy(project_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(project_root / "contracts", copy / "contracts")
    shutil.copytree(project_root / "scripts", copy / "scripts")
    (copy / "node_modules").symlink_to(project_root / "node_modules")
    return copy


def test_a_cached_compile_does_not_run_the_compiler(project_root: Path, tmp_path: Path) -> None:
    copy = _project_copy(project_root, tmp_path)
    cache = tmp_path / "cache"
    first = compile_contracts(copy, cache)
    assert len(list((cache / "solc").glob("*.json"))) == 1
    # Without the wrapper script the compiler cannot run at all; a cache hit must not need it.
    (copy / "scripts" / "solc-js").unlink()
    second = compile_contracts(copy, cache)
    assert second.input_hash == first.input_hash
    assert second["DepositToken"].deployed_bytecode == first["DepositToken"].deployed_bytecode


def test_changing_a_source_changes_the_cache_key_and_the_code(project_root: Path, tmp_path: Path) -> None:
    copy = _project_copy(project_root, tmp_path)
    cache = tmp_path / "cache"
    before = compile_contracts(copy, cache)
    source = copy / "contracts" / "reference" / "ReferenceERC20.sol"
    source.write_text(source.read_text().replace('"Reference", "REF"', '"Reference2", "REF2"'))
    after = compile_contracts(copy, cache)
    assert after.input_hash != before.input_hash
    assert after["ReferenceERC20"].bytecode != before["ReferenceERC20"].bytecode
    assert len(list((cache / "solc").glob("*.json"))) == 2


def test_a_syntax_error_is_a_compiler_error_with_solcs_message(project_root: Path, tmp_path: Path) -> None:
    copy = _project_copy(project_root, tmp_path)
    (copy / "contracts" / "Broken.sol").write_text("pragma solidity ^0.8.24; contract Broken { function }")
    with pytest.raises(CompilerError, match="ParserError"):
        compile_contracts(copy, tmp_path / "cache")


def test_missing_node_modules_is_reported_clearly(tmp_path: Path, project_root: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(project_root / "contracts", copy / "contracts")
    (copy / PREBUILT).unlink()
    with pytest.raises(CompilerError, match="node_modules/solc is missing"):
        compile_contracts(copy, None)


def test_without_node_the_committed_prebuilt_output_is_what_a_fresh_compile_gives(
    tmp_path: Path, project_root: Path, compilation: Compilation
) -> None:
    """contracts/prebuilt.json must be regenerated (`tdw compile --prebuilt`) with every contract change;
    this fails until it is."""
    copy = tmp_path / "project"
    shutil.copytree(project_root / "contracts", copy / "contracts")  # no node_modules, no compiler
    prebuilt = compile_contracts(copy, None)
    assert prebuilt.input_hash == compilation.input_hash
    assert prebuilt.contracts == compilation.contracts


def test_a_prebuilt_output_of_other_sources_is_refused(tmp_path: Path, project_root: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(project_root / "contracts", copy / "contracts")
    source = copy / "contracts" / "reference" / "ReferenceERC20.sol"
    source.write_text(source.read_text().replace('"Reference", "REF"', '"Reference2", "REF2"'))
    with pytest.raises(
        CompilerError, match=r"first; and contracts/prebuilt\.json was built from other sources"
    ):
        compile_contracts(copy, None)
