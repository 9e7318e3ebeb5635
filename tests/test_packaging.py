"""What the project declares and installs: the lock file fits the declared ranges, every package the
code imports is declared, and production modules run without the beta in-process chain."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from wallet.settings import PROJECT_ROOT

# Import names that differ from their distribution's name.
DISTRIBUTION_OF = {
    "argon2": "argon2-cffi",
    "jwt": "pyjwt",
    "pkcs11": "python-pkcs11",
    "solcx": "py-solc-x",
    "multipart": "python-multipart",
    "pydantic_settings": "pydantic-settings",
    "eth_tester": "eth-tester",
    "pythonjsonlogger": "python-json-logger",
}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _declared(*extras: str) -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in requirements if canonicalize_name(r.name) != "tdw"]


def _locked() -> dict[NormalizedName, Version]:
    pins = {}
    for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_lock_pins_every_declared_package_within_its_range() -> None:
    locked = _locked()
    for requirement in _declared("eth-tester", "dev"):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is declared but not locked"
        assert requirement.specifier.contains(locked[name], prereleases=True), (name, locked[name])


def test_every_package_the_code_imports_is_declared() -> None:
    declared = {canonicalize_name(r.name) for r in _declared("eth-tester")}
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for path in [*Path(PROJECT_ROOT, "wallet").rglob("*.py"), *Path(PROJECT_ROOT, "api").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in ("wallet", "api", "__future__"):
                    continue
                if canonicalize_name(DISTRIBUTION_OF.get(top, top)) not in declared:
                    missing.add(f"{top} ({path.relative_to(PROJECT_ROOT)})")
    assert not missing


def test_production_modules_load_and_serve_without_the_in_process_chain() -> None:
    # Every module of wallet/ and api/ imported with eth-tester and py-evm made unimportable: none of
    # them may need it at load, and none may load it behind our back.
    script = """
import importlib, pkgutil, sys
for blocked in ("eth_tester", "eth"):
    sys.modules[blocked] = None
import api, wallet
for package in (wallet, api):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations." in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
from wallet.chain.inprocess import eth_tester
from wallet.errors import ConfigurationError
try:
    eth_tester()
except ConfigurationError as exc:
    print("refused:", exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "refused: the in-process chain needs the eth-tester extra" in result.stdout
