"""Compiles `contracts/` with py-solc-x through `scripts/solc-js`, a wrapper around the npm solc-js.

The source unit names (`contracts/...`, `@openzeppelin/...`) and settings (`contracts/compiler.json`) are
the ones Hardhat uses, so both paths produce byte-identical bytecode and a compliance officer can check
code on chain against audited sources. Outputs are cached under a key derived from every input.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from wallet.errors import CompilerError, CompilerMissingError

_OUTPUTS = [
    "abi",
    "metadata",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
]


@dataclass(frozen=True)
class CompiledContract:
    """One contract's compiler output."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    # (start, length) of every immutable in the runtime code; the deployed code differs there.
    immutable_ranges: tuple[tuple[int, int], ...]
    metadata: str

    @property
    def qualified_name(self) -> str:
        """`source:Name`, as Hardhat and solc name contracts."""
        return f"{self.source}:{self.name}"


@dataclass(frozen=True)
class Compilation:
    """Every contract compiled from one snapshot of the sources."""

    solc_version: str
    settings: Mapping[str, Any]
    input_hash: str
    contracts: Mapping[str, CompiledContract]

    def __getitem__(self, name: str) -> CompiledContract:
        try:
            return self.contracts[name]
        except KeyError:
            raise CompilerError(f"no contract named {name!r} was compiled") from None


def load_compiler_config(project_root: Path) -> dict[str, Any]:
    """`contracts/compiler.json`: the solc version and settings both compile paths share."""
    config: dict[str, Any] = json.loads((project_root / "contracts" / "compiler.json").read_text())
    return config


def solc_binary(project_root: Path) -> Path:
    """The solc-js wrapper, after checking that Node.js and the npm packages are there."""
    if shutil.which("node") is None:
        raise CompilerError("Node.js is not on PATH; the compiler is the npm solc package (run `make setup`)")
    if not (project_root / "node_modules" / "solc" / "soljson.js").exists():
        raise CompilerError("node_modules/solc is missing; run `npm ci` (or `make setup`) first")
    return project_root / "scripts" / "solc-js"


def standard_input(project_root: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The solc standard-JSON input: every `.sol` under `contracts/`, keyed by its project-relative name."""
    sources = {
        path.relative_to(project_root).as_posix(): {"content": path.read_text()}
        for path in sorted((project_root / "contracts").rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {**settings, "outputSelection": {"*": {"*": _OUTPUTS}}},
    }


def _dependency_versions(project_root: Path) -> dict[str, str]:
    versions = {}
    for package in ("solc", "@openzeppelin/contracts"):
        manifest = project_root / "node_modules" / package / "package.json"
        versions[package] = json.loads(manifest.read_text())["version"] if manifest.exists() else "missing"
    return versions


# The compiler's output for `contracts/`, committed, for machines without Node.js (solc is an npm
# package here). `tdw compile --prebuilt` writes it; a test keeps it equal to a fresh compile.
PREBUILT = Path("contracts") / "prebuilt.json"


def compile_contracts(project_root: Path, cache_dir: Path | None = None) -> Compilation:
    """Compiles every contract under `project_root/contracts`, reusing a cached output when no input changed.

    The cache key covers the sources, the settings and the versions of solc and OpenZeppelin. Where
    Node.js or the npm packages are missing, the committed `contracts/prebuilt.json` stands in for the
    compiler, provided it was built from these very sources and settings.
    """
    config = load_compiler_config(project_root)
    settings: dict[str, Any] = config["settings"]
    std_input = standard_input(project_root, settings)
    try:
        output, input_hash = _compiler_output(project_root, cache_dir, std_input, config["version"])
    except CompilerMissingError as missing:
        output, input_hash = _prebuilt(project_root, std_input, config["version"], missing)
    return Compilation(
        solc_version=config["version"],
        settings=settings,
        input_hash=input_hash,
        contracts=_contracts_from_output(output),
    )


def write_prebuilt(project_root: Path, cache_dir: Path | None = None) -> Path:
    """Writes `contracts/prebuilt.json`: the real compiler's output (from the cache when it ran on these
    inputs before) for our own sources, keyed by the sources and settings it came from."""
    config = load_compiler_config(project_root)
    std_input = standard_input(project_root, config["settings"])
    versions = _dependency_versions(project_root)
    output, input_hash = _compiler_output(project_root, cache_dir, std_input, config["version"])
    ours = {source: units for source, units in output["contracts"].items() if source.startswith("contracts/")}
    document = {
        "note": "generated by `tdw compile --prebuilt`; used only where Node.js is missing",
        "solc": config["version"],
        "openzeppelin": versions["@openzeppelin/contracts"],
        "source_key": _input_hash(std_input, {}, config["version"]),
        "input_hash": input_hash,
        "output": {"contracts": ours},
    }
    path = project_root / PREBUILT
    path.write_text(json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n")
    return path


def _compiler_output(
    project_root: Path, cache_dir: Path | None, std_input: dict[str, Any], solc_version: str
) -> tuple[dict[str, Any], str]:
    """The real compiler's output for `std_input` and its input hash, from the cache when possible.
    Raises `CompilerMissingError` when it would have to run and cannot."""
    input_hash = _input_hash(std_input, _dependency_versions(project_root), solc_version)
    cache_file = (cache_dir / "solc" / f"{input_hash}.json") if cache_dir else None
    if cache_file is not None and cache_file.exists():
        return json.loads(cache_file.read_text()), input_hash
    try:
        binary = solc_binary(project_root)
    except CompilerError as exc:
        raise CompilerMissingError(str(exc)) from None
    output = _run_solc(binary, project_root, std_input, solc_version)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(output))
        tmp.replace(cache_file)
    return output, input_hash


def _input_hash(std_input: Mapping[str, Any], versions: Mapping[str, str], solc_version: str) -> str:
    material = json.dumps({"input": std_input, "versions": versions, "solc": solc_version}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


def _prebuilt(
    project_root: Path, std_input: Mapping[str, Any], solc_version: str, missing: CompilerError
) -> tuple[dict[str, Any], str]:
    """The committed output and its input hash, when it was built from exactly these sources."""
    path = project_root / PREBUILT
    if not path.exists():
        raise missing
    document = json.loads(path.read_text())
    if document.get("source_key") != _input_hash(std_input, {}, solc_version):
        raise CompilerError(
            f"{missing}; and {PREBUILT} was built from other sources or settings "
            "(`tdw compile --prebuilt` rewrites it where Node.js is)"
        )
    return document["output"], document["input_hash"]


def _run_solc(
    binary: Path, project_root: Path, std_input: dict[str, Any], expected_version: str
) -> dict[str, Any]:
    version = solcx.wrapper.get_solc_version(binary)
    if str(version) != expected_version:
        raise CompilerError(
            f"node_modules has solc {version}, contracts/compiler.json wants {expected_version}"
        )
    try:
        output: dict[str, Any] = solcx.compile_standard(
            std_input, solc_binary=binary, allow_paths=str(project_root)
        )
    except SolcError as exc:
        raise CompilerError(f"solc failed: {exc.message}") from exc
    return output


def _contracts_from_output(output: Mapping[str, Any]) -> dict[str, CompiledContract]:
    contracts: dict[str, CompiledContract] = {}
    for source, by_name in output.get("contracts", {}).items():
        if not source.startswith("contracts/"):
            continue  # OpenZeppelin's own units; we deploy only ours
        for name, out in by_name.items():
            evm = out["evm"]
            ranges = tuple(
                sorted(
                    (ref["start"], ref["length"])
                    for refs in evm["deployedBytecode"].get("immutableReferences", {}).values()
                    for ref in refs
                )
            )
            if name in contracts:
                raise CompilerError(f"two contracts are named {name}: {contracts[name].source} and {source}")
            contracts[name] = CompiledContract(
                name=name,
                source=source,
                abi=out["abi"],
                bytecode=bytes.fromhex(evm["bytecode"]["object"]),
                deployed_bytecode=bytes.fromhex(evm["deployedBytecode"]["object"]),
                immutable_ranges=ranges,
                metadata=out["metadata"],
            )
    return contracts


def mask_immutables(code: bytes, ranges: tuple[tuple[int, int], ...]) -> bytes:
    """`code` with every immutable's bytes zeroed, as solc leaves them in the compiled runtime code."""
    masked = bytearray(code)
    for start, length in ranges:
        masked[start : start + length] = bytes(length)
    return bytes(masked)
