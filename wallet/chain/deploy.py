"""Deploys a bank (one compliance registry, one deposit token per currency), writes its manifest, and
verifies code on chain against a fresh compile of the sources."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict, ValidationError
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from wallet.chain.compiler import Compilation, mask_immutables
from wallet.chain.transact import Transactor
from wallet.errors import ChainError, ManifestError
from wallet.keys.base import Signer
from wallet.money import currency

MANIFEST_FORMAT = "tdw-deployment/1"
TOKEN_ROLES = ("MINTER_ROLE", "BURNER_ROLE", "PAUSER_ROLE", "COMPLIANCE_ROLE")
DEFAULT_ADMIN_ROLE = bytes(32)


class BankRoles(BaseModel):
    """The addresses that hold each on-chain role of a bank."""

    model_config = ConfigDict(frozen=True)

    admin: ChecksumAddress
    minter: ChecksumAddress
    burner: ChecksumAddress
    pauser: ChecksumAddress
    compliance: ChecksumAddress

    @classmethod
    def single(cls, address: ChecksumAddress) -> BankRoles:
        """Every role on one address (a development bank)."""
        return cls(admin=address, minter=address, burner=address, pauser=address, compliance=address)


class DeployedContract(BaseModel):
    """A contract as deployed: which compiled contract, where, and the hash of its code on chain."""

    model_config = ConfigDict(frozen=True)

    contract: str
    source: str
    address: ChecksumAddress
    code_hash: str


class DeployedToken(DeployedContract):
    """A deposit token as deployed."""

    currency: str
    decimals: int
    name: str
    symbol: str


class Manifest(BaseModel):
    """What `tdw deploy` wrote: enough to find, trust and verify a bank's contracts."""

    model_config = ConfigDict(frozen=True)

    format: str = MANIFEST_FORMAT
    chain_id: int
    block: int
    # The first block of the deployment: where an indexer of this bank starts.
    start_block: int = 0
    bank_name: str
    deployer: ChecksumAddress
    solc_version: str
    compiler_settings: dict[str, Any]
    sources_hash: str
    roles: BankRoles
    registry: DeployedContract
    tokens: dict[str, DeployedToken]
    # Where the head of the audit log is anchored (absent in manifests written before it existed).
    audit_anchor: DeployedContract | None = None
    # The chain's atomic settlement and hash time-lock contracts the bank settles with (shared by every
    # bank on the chain; absent in manifests written before them).
    settlement: DeployedContract | None = None
    timelock: DeployedContract | None = None
    # The central bank's wholesale settlement tokens the bank holds, by currency: banks pay each other
    # in them, and the bank's ledger mirror follows them for its positions.
    wholesale: dict[str, DeployedToken] = {}

    def write(self, path: Path) -> None:
        """Writes the manifest as JSON, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Reads a manifest; raises `ManifestError` when it is missing or malformed."""
        try:
            manifest = cls.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"no deployment manifest at {path}") from None
        except ValidationError as exc:
            raise ManifestError(f"{path} is not a valid deployment manifest: {exc}") from None
        if manifest.format != MANIFEST_FORMAT:
            raise ManifestError(f"{path} has format {manifest.format!r}, expected {MANIFEST_FORMAT!r}")
        return manifest


def token_name(bank_name: str, code: str) -> str:
    """The ERC-20 name of a bank's deposit token, which is also its EIP-712 domain name."""
    return f"{bank_name} {code} Deposit"


def token_symbol(code: str) -> str:
    """The ERC-20 symbol of a deposit token: `d` and the currency code."""
    return f"d{code}"


def deploy_bank(
    w3: Web3,
    transactor: Transactor,
    compilation: Compilation,
    *,
    bank_name: str,
    currencies: Sequence[str],
    roles: BankRoles,
    minter_allowance: int,
) -> Manifest:
    """Deploys the registry, one token per currency and the audit anchor, wires the registry to each
    token, grants `roles` (the compliance key also anchors the audit log) and, when the admin is not
    the deployer, hands admin over and renounces it."""
    specs = [currency(code) for code in dict.fromkeys(currencies)]
    deployer = transactor.address
    registry_c = compilation["ComplianceRegistry"]
    token_c = compilation["DepositToken"]
    anchor_c = compilation["AuditAnchor"]

    receipt = transactor.send(_factory(w3, registry_c.abi, registry_c.bytecode).constructor(deployer))
    registry = load_contract(w3, compilation, "ComplianceRegistry", _created(receipt))
    anchor_receipt = transactor.send(_factory(w3, anchor_c.abi, anchor_c.bytecode).constructor(deployer))
    anchor = load_contract(w3, compilation, "AuditAnchor", _created(anchor_receipt))

    token_factory = _factory(w3, token_c.abi, token_c.bytecode)
    pending = [
        transactor.submit(
            token_factory.constructor(
                token_name(bank_name, spec.code),
                token_symbol(spec.code),
                spec.code,
                spec.exponent,
                deployer,
                registry.address,
            )
        )
        for spec in specs
    ]
    receipts = [transactor.wait(tx) for tx in pending]
    tokens = {
        spec.code: load_contract(w3, compilation, "DepositToken", _created(r))
        for spec, r in zip(specs, receipts, strict=True)
    }

    calls = [
        registry.functions.grantRole(_role(registry, "COMPLIANCE_ROLE"), roles.compliance),
        anchor.functions.grantRole(_role(anchor, "ANCHOR_ROLE"), roles.compliance),
    ]
    for token in tokens.values():
        calls += [
            registry.functions.attachToken(token.address),
            token.functions.configureMinter(roles.minter, minter_allowance),
            token.functions.grantRole(_role(token, "BURNER_ROLE"), roles.burner),
            token.functions.grantRole(_role(token, "PAUSER_ROLE"), roles.pauser),
            token.functions.grantRole(_role(token, "COMPLIANCE_ROLE"), roles.compliance),
        ]
    if roles.admin != deployer:
        for contract in [registry, anchor, *tokens.values()]:
            calls.append(contract.functions.grantRole(DEFAULT_ADMIN_ROLE, roles.admin))
    last = [transactor.wait(h) for h in [transactor.submit(c) for c in calls]]
    if roles.admin != deployer:
        # Only after the new admin holds the role, so the bank is never left without one.
        renounce = [
            c.functions.renounceRole(DEFAULT_ADMIN_ROLE, deployer)
            for c in [registry, anchor, *tokens.values()]
        ]
        last = [transactor.wait(h) for h in [transactor.submit(c) for c in renounce]]

    return Manifest(
        chain_id=w3.eth.chain_id,
        block=max(r["blockNumber"] for r in [receipt, anchor_receipt, *receipts, *last]),
        start_block=receipt["blockNumber"],
        bank_name=bank_name,
        deployer=deployer,
        solc_version=compilation.solc_version,
        compiler_settings=dict(compilation.settings),
        sources_hash=compilation.input_hash,
        roles=roles,
        registry=_deployed(w3, "ComplianceRegistry", registry_c.source, registry.address),
        audit_anchor=_deployed(w3, "AuditAnchor", anchor_c.source, anchor.address),
        tokens={
            spec.code: DeployedToken(
                **_deployed(w3, "DepositToken", token_c.source, tokens[spec.code].address).model_dump(),
                currency=spec.code,
                decimals=spec.exponent,
                name=token_name(bank_name, spec.code),
                symbol=token_symbol(spec.code),
            )
            for spec in specs
        },
    )


def verify_manifest(w3: Web3, manifest: Manifest, compilation: Compilation) -> dict[str, str]:
    """Checks each contract of `manifest` on chain against `compilation`.

    Returns `{label: problem}` for every contract that fails, empty when all match. Code must equal the
    fresh compile byte for byte outside the immutables (which hold constructor values), metadata hash
    included, so a match proves the same sources and settings; and it must still hash to the manifest's
    `code_hash`.
    """
    if w3.eth.chain_id != manifest.chain_id:
        raise ManifestError(
            f"the manifest is for chain {manifest.chain_id}, the node is chain {w3.eth.chain_id}"
        )
    problems: dict[str, str] = {}
    entries: list[tuple[str, DeployedContract]] = [("registry", manifest.registry)]
    entries += [(f"token {code}", token) for code, token in manifest.tokens.items()]
    if manifest.audit_anchor is not None:
        entries.append(("audit anchor", manifest.audit_anchor))
    if manifest.settlement is not None:
        entries.append(("settlement", manifest.settlement))
    if manifest.timelock is not None:
        entries.append(("timelock", manifest.timelock))
    for label, entry in entries:
        problem = _check_code(w3, entry, compilation)
        if problem:
            problems[label] = problem
    return problems


def _check_code(w3: Web3, entry: DeployedContract, compilation: Compilation) -> str | None:
    code = bytes(w3.eth.get_code(entry.address))
    if not code:
        return f"no code at {entry.address}"
    if "0x" + keccak(code).hex() != entry.code_hash:
        return f"code at {entry.address} changed since deployment (hash differs from the manifest)"
    compiled = compilation.contracts.get(entry.contract)
    if compiled is None:
        return f"the sources have no contract {entry.contract}"
    if compiled.source != entry.source:
        return f"{entry.contract} now compiles from {compiled.source}, the manifest says {entry.source}"
    if len(code) != len(compiled.deployed_bytecode):
        fresh = len(compiled.deployed_bytecode)
        return f"code at {entry.address} is {len(code)} bytes, a fresh compile is {fresh}"
    if mask_immutables(code, compiled.immutable_ranges) != compiled.deployed_bytecode:
        return f"code at {entry.address} differs from a fresh compile of {compiled.qualified_name}"
    return None


class BankContracts(NamedTuple):
    """The web3 contract objects of a deployed bank."""

    registry: Contract
    tokens: dict[str, Contract]


def bank_contracts(w3: Web3, compilation: Compilation, manifest: Manifest) -> BankContracts:
    """Contract objects for the registry and each token of `manifest`."""
    return BankContracts(
        registry=load_contract(w3, compilation, "ComplianceRegistry", manifest.registry.address),
        tokens={
            code: load_contract(w3, compilation, "DepositToken", t.address)
            for code, t in manifest.tokens.items()
        },
    )


def onboard(
    transactor: Transactor,
    bank: BankContracts,
    accounts: Sequence[str],
    *,
    balance: int = 0,
    currency: str | None = None,
    expiry: int = 2**40 - 1,
    jurisdiction: int = 840,
) -> None:
    """KYC-verifies `accounts` in the registry and mints `balance` of `currency` to each (the transactor
    must hold the compliance role, and the minter role when minting)."""
    count = len(accounts)
    transactor.send(
        bank.registry.functions.setKycBatch(list(accounts), [expiry] * count, [jurisdiction] * count)
    )
    if balance:
        token = bank.tokens[currency] if currency else next(iter(bank.tokens.values()))
        pending = [transactor.submit(token.functions.mint(account, balance)) for account in accounts]
        for tx in pending:
            transactor.wait(tx)


def deploy_dev_bank(
    w3: Web3, compilation: Compilation, *, bank_name: str, currencies: Sequence[str] = ("USD",)
) -> tuple[Transactor, Manifest, BankContracts]:
    """A bank on a development chain with every role on one fresh key, funded from the node's first
    unlocked account (benchmarks, tests and demo seeding; never a production deployment)."""
    from wallet.chain.node import fund_from_dev_account  # node.py is for development chains only
    from wallet.keys import PrivateKeySigner

    admin_signer = PrivateKeySigner.generate()
    fund_from_dev_account(w3, admin_signer.address, 10**22)
    admin = Transactor(w3, admin_signer, [c.abi for c in compilation.contracts.values()])
    manifest = deploy_bank(
        w3,
        admin,
        compilation,
        bank_name=bank_name,
        currencies=list(currencies),
        roles=BankRoles.single(admin_signer.address),
        minter_allowance=2**96 - 1,
    )
    return admin, manifest, bank_contracts(w3, compilation, manifest)


def manifest_fits(manifest: Manifest, signers: Mapping[str, Signer]) -> bool:
    """Whether a manifest's roles are held by these operational keys."""
    roles = manifest.roles.model_dump()
    return all(to_checksum_address(roles[r]) == signers[r].address for r in roles)


def deploy_contract(
    w3: Web3, transactor: Transactor, compilation: Compilation, name: str, *args: Any
) -> DeployedContract:
    """Deploys one contract of `compilation` with constructor `args`; its manifest entry."""
    compiled = compilation[name]
    receipt = transactor.send(_factory(w3, compiled.abi, compiled.bytecode).constructor(*args))
    return _deployed(w3, name, compiled.source, _created(receipt))


def load_contract(w3: Web3, compilation: Compilation, name: str, address: str) -> Contract:
    """A web3 contract object for a deployed contract of this compilation."""
    return w3.eth.contract(address=to_checksum_address(address), abi=compilation[name].abi)


def manifest_summary(manifest: Manifest) -> str:
    """The manifest as pretty JSON, for the CLI."""
    return json.dumps(manifest.model_dump(mode="json"), indent=2)


def _factory(w3: Web3, abi: list[dict[str, Any]], bytecode: bytes) -> type[Contract]:
    return w3.eth.contract(abi=abi, bytecode=bytecode)


def _role(contract: Contract, name: str) -> bytes:
    role: bytes = contract.functions[name]().call()
    return role


def _deployed(w3: Web3, contract: str, source: str, address: ChecksumAddress) -> DeployedContract:
    code = bytes(w3.eth.get_code(address))
    return DeployedContract(
        contract=contract, source=source, address=address, code_hash="0x" + keccak(code).hex()
    )


def _created(receipt: TxReceipt) -> ChecksumAddress:
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"transaction {receipt['transactionHash'].hex()} created no contract")
    return address
