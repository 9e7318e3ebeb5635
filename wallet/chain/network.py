"""The settlement network on one chain: a central bank's wholesale settlement tokens, one per currency,
held by banks only, and the banks it admits.

The central bank deploys the same contracts a bank does (a compliance registry and a `DepositToken` per
currency): a wholesale token is a deposit token whose registry verifies banks' treasury keys and the
chain's settlement contracts, nobody else, so a customer's address can never hold one. The same
interface would carry a wholesale CBDC. Admitting a bank verifies its treasury and the settlement
contracts in the central bank's registry, mints the bank's opening reserves to its treasury, and adds
the wholesale tokens to the bank's manifest, so its ledger mirror follows them and its books show its
positions.

This is the central bank's tooling (and the development network's); a bank's own services never hold
the central bank's key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, Manifest, bank_contracts, deploy_bank, onboard
from wallet.chain.transact import Transactor
from wallet.keys.base import Signer

CENTRAL_BANK_NAME = "tdw Central Bank"
WHOLESALE_CURRENCIES = ("USD", "EUR", "HKD")


def deploy_central_bank(
    w3: Web3,
    compilation: Compilation,
    signer: Signer,
    *,
    currencies: Sequence[str] = WHOLESALE_CURRENCIES,
    name: str = CENTRAL_BANK_NAME,
) -> Manifest:
    """Deploys the central bank's registry and one wholesale token per currency, every role on
    `signer` (which pays the gas)."""
    return deploy_bank(
        w3,
        Transactor(w3, signer, [c.abi for c in compilation.contracts.values()]),
        compilation,
        bank_name=name,
        currencies=list(currencies),
        roles=BankRoles.single(signer.address),
        minter_allowance=2**96 - 1,
    )


def admit_bank(
    w3: Web3,
    compilation: Compilation,
    central: Manifest,
    central_signer: Signer,
    bank: Manifest,
    treasury: str,
    *,
    reserves: Mapping[str, int] | None = None,
    jurisdiction: int = 840,
) -> Manifest:
    """Verifies `bank`'s treasury and settlement contracts in the central bank's registry, mints
    `reserves` (minor units per currency) to the treasury, and returns `bank`'s manifest with the
    wholesale tokens it now holds; its mirror starts early enough to see the whole history of both."""
    transactor = Transactor(w3, central_signer, [c.abi for c in compilation.contracts.values()])
    contracts = bank_contracts(w3, compilation, central)
    members = [treasury, *(c.address for c in (bank.settlement, bank.timelock) if c is not None)]
    onboard(transactor, contracts, members, jurisdiction=jurisdiction)
    pending = [
        transactor.submit(contracts.tokens[code].functions.mint(treasury, amount))
        for code, amount in (reserves or {}).items()
        if amount
    ]
    for tx in pending:
        transactor.wait(tx)
    return bank.model_copy(
        update={
            "wholesale": dict(central.tokens),
            "start_block": min(bank.start_block, central.start_block),
        }
    )


__all__ = ["CENTRAL_BANK_NAME", "WHOLESALE_CURRENCIES", "admit_bank", "deploy_central_bank"]
