"""`tdw compile`, `tdw deploy`, `tdw verify` and `tdw keys`: the contracts and the keys that hold
their roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from api.cli.app import app, compile_project, fail, open_database, rpc_url
from wallet.chain.compiler import write_prebuilt
from wallet.chain.deploy import BankRoles, Manifest, deploy_bank, manifest_summary, verify_manifest
from wallet.chain.node import connect
from wallet.chain.transact import Transactor
from wallet.db import session_factory
from wallet.keys import PrivateKeySigner, operational_signers
from wallet.keys.keystore import Keystore
from wallet.settings import get_settings

DEFAULT_MINTER_ALLOWANCE = 10**15  # minor units; the admin raises it with configureMinter


def _address(value: str | None, default: ChecksumAddress, option: str) -> ChecksumAddress:
    if value is None:
        return default
    if not is_address(value):
        raise fail(f"{option} {value!r} is not an Ethereum address")
    return to_checksum_address(value)


@app.command()
def compile(
    prebuilt: Annotated[
        bool,
        typer.Option("--prebuilt", help="Also write contracts/prebuilt.json (for machines without Node.js)"),
    ] = False,
) -> None:
    """Compile the contracts (cached by source hash) and list them."""
    settings = get_settings()
    compilation = compile_project(settings)
    if prebuilt:
        typer.echo(f"wrote {write_prebuilt(settings.project_root, settings.cache_dir)}", err=True)
    for contract in compilation.contracts.values():
        if contract.deployed_bytecode:
            typer.echo(f"{contract.qualified_name}: {len(contract.deployed_bytecode)} bytes")


@app.command()
def deploy(
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the node (default: TDW_RPC_URL)")] = None,
    currency: Annotated[list[str] | None, typer.Option(help="ISO 4217 code; repeat for more tokens")] = None,
    bank_name: Annotated[str | None, typer.Option(help="Bank name used in the token names")] = None,
    manifest: Annotated[Path, typer.Option(help="Where to write the deployment manifest")] = Path(
        "deployment.json"
    ),
    admin: Annotated[str | None, typer.Option(help="Admin address (default: the deployer)")] = None,
    minter: Annotated[str | None, typer.Option(help="Minter address (default: the deployer)")] = None,
    burner: Annotated[str | None, typer.Option(help="Burner address (default: the deployer)")] = None,
    pauser: Annotated[str | None, typer.Option(help="Pauser address (default: the deployer)")] = None,
    compliance: Annotated[str | None, typer.Option(help="Compliance address (default: the deployer)")] = None,
    minter_allowance: Annotated[int, typer.Option(help="Minter allowance in minor units")] = (
        DEFAULT_MINTER_ALLOWANCE
    ),
) -> None:
    """Deploy the compliance registry and one deposit token per currency; write the manifest."""
    settings = get_settings()
    url = rpc_url(rpc, settings)
    signer = PrivateKeySigner(settings.deployer_key)
    me = signer.address
    roles = BankRoles(
        admin=_address(admin, me, "--admin"),
        minter=_address(minter, me, "--minter"),
        burner=_address(burner, me, "--burner"),
        pauser=_address(pauser, me, "--pauser"),
        compliance=_address(compliance, me, "--compliance"),
    )
    compilation = compile_project(settings)
    w3 = connect(url)
    abis = [c.abi for c in compilation.contracts.values()]
    result = deploy_bank(
        w3,
        Transactor(w3, signer, abis),
        compilation,
        bank_name=bank_name or settings.bank_name,
        currencies=currency or settings.currencies,
        roles=roles,
        minter_allowance=minter_allowance,
    )
    result.write(manifest)
    typer.echo(manifest_summary(result))
    typer.echo(f"manifest written to {manifest}", err=True)


@app.command()
def verify(
    manifest: Annotated[Path, typer.Option(help="The deployment manifest to check")],
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the node (default: TDW_RPC_URL)")] = None,
) -> None:
    """Check the code on chain against a fresh compile of the sources; exit 1 on any mismatch."""
    settings = get_settings()
    url = rpc_url(rpc, settings)
    loaded = Manifest.read(manifest)
    problems = verify_manifest(connect(url), loaded, compile_project(settings))
    if problems:
        for label, problem in problems.items():
            typer.echo(f"MISMATCH {label}: {problem}")
        raise typer.Exit(1)
    typer.echo(f"registry {loaded.registry.address}: matches {loaded.registry.source}")
    for code, token in loaded.tokens.items():
        typer.echo(f"token {code} {token.address}: matches {token.source}")


@app.command()
def keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object of role to address")] = False,
) -> None:
    """Print the bank's operational address per role (admin, minter, burner, pauser, compliance,
    relayer), creating the keys on first use in the configured signer: the keystore in the database
    (TDW_DATABASE_URL, TDW_KEK) or the PKCS#11 token. `tdw deploy` takes these addresses, and each one
    needs gas on the chain before `tdw serve` sends from it."""
    settings = get_settings()
    with open_database(settings.effective_database_url) as engine:
        signers = operational_signers(settings, Keystore(session_factory(engine), settings.kek))
    addresses = {role: signer.address for role, signer in signers.items()}
    if as_json:
        typer.echo(json.dumps(addresses))
    else:
        typer.echo("\n".join(f"{role:<11} {address}" for role, address in addresses.items()))
