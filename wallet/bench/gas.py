"""`tdw bench gas`: gas of DepositToken's movements against a plain OpenZeppelin ERC-20 in the same run,
and of atomic settlements (a cross-border payment's three legs, a PvP's two) against the same movements
as separate plain `transfer`s of the same tokens.

Every number is the `gasUsed` of a real transaction's receipt, each sent on its own so every slot starts
cold, as a customer's transfer does.
"""

from __future__ import annotations

import time
from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, onboard
from wallet.chain.eip3009 import TokenDomain, sign_transfer_authorization
from wallet.chain.node import fund_from_dev_account
from wallet.chain.settlement import (
    Leg,
    Terms,
    deploy_settlement,
    settlement_domain,
    sign_leg,
    signature_tuple,
)
from wallet.chain.transact import Transactor
from wallet.errors import BenchError
from wallet.keys import PrivateKeySigner

BATCH_SIZE = 50


def measure_gas(w3: Web3, compilation: Compilation, *, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Deploys both tokens on `w3` (a development chain with a funded unlocked account) and measures."""
    relayer = PrivateKeySigner.generate()
    alice, bob, carol = (PrivateKeySigner.generate() for _ in range(3))
    payers = [PrivateKeySigner.generate() for _ in range(batch_size)]
    for signer in (relayer, alice):
        fund_from_dev_account(w3, signer.address, 10**20)
    abis = [compilation["DepositToken"].abi, compilation["ComplianceRegistry"].abi]
    by_alice = Transactor(w3, alice, abis)
    by_relayer = Transactor(w3, relayer, abis)

    tx, manifest, bank = deploy_dev_bank(w3, compilation, bank_name="Bench Bank")
    token = bank.tokens["USD"]
    # Everyone is KYC-verified; all but carol hold tokens, so carol is a fresh receiver.
    onboard(tx, bank, [carol.address])
    onboard(
        tx, bank, [tx.address, alice.address, bob.address, *(p.address for p in payers)], balance=1_000_000_00
    )

    deposit: dict[str, Any] = {
        "transfer": _gas(by_alice.send(token.functions.transfer(bob.address, 1_00))),
        "transfer_to_fresh_address": _gas(by_alice.send(token.functions.transfer(carol.address, 1_00))),
        "mint": _gas(tx.send(token.functions.mint(alice.address, 1_00))),
        "burn": _gas(tx.send(token.functions.burn(1_00))),
    }
    domain = TokenDomain(name=manifest.tokens["USD"].name, chain_id=w3.eth.chain_id, address=token.address)
    now = w3.eth.get_block("latest")["timestamp"]
    single = sign_transfer_authorization(
        alice, domain, to=bob.address, value=1_00, valid_after=0, valid_before=now + 3600, nonce=b"\x01" * 32
    )
    s = single.signature
    deposit["transfer_with_authorization"] = _gas(
        by_relayer.send(
            token.functions.transferWithAuthorization(
                single.from_,
                single.to,
                single.value,
                single.valid_after,
                single.valid_before,
                single.nonce,
                s.v,
                s.r,
                s.s,
            )
        )
    )
    batch = [
        sign_transfer_authorization(
            payer,
            domain,
            to=bob.address,
            value=1_00,
            valid_after=0,
            valid_before=now + 3600,
            nonce=i.to_bytes(32, "big"),
        ).as_tuple()
        for i, payer in enumerate(payers)
    ]
    receipt = by_relayer.send(token.functions.batchTransferWithAuthorization(batch))
    executed = token.events.AuthorizationUsed().process_receipt(receipt, errors=DISCARD)
    if len(executed) != batch_size:
        raise BenchError(f"only {len(executed)} of {batch_size} batched authorizations executed")
    deposit["batch_size"] = batch_size
    deposit["batch_gas"] = _gas(receipt)
    deposit["batch_authorization_per_transfer"] = round(_gas(receipt) / batch_size)

    reference = _measure_reference(w3, compilation, tx, by_alice, alice, bob)
    return {
        "chain_id": w3.eth.chain_id,
        "deposit_token": deposit,
        "reference_erc20": reference,
        "transfer_ratio": round(deposit["transfer"] / reference["transfer"], 4),
        "settlement": measure_settlement(w3, compilation),
    }


def measure_settlement(w3: Web3, compilation: Compilation) -> dict[str, Any]:
    """Two banks and a central bank on `w3`; alice (USD at bank A) pays carol (HKD at bank B) in one
    settlement, then the same three movements as plain transfers; and a PvP of two legs likewise."""
    names = ("alice", "bank_a", "bank_b", "carol", "submitter")
    party = {n: PrivateKeySigner.generate() for n in names}
    for signer in party.values():
        fund_from_dev_account(w3, signer.address, 10**20)
    a_tx, a_manifest, a_bank = deploy_dev_bank(w3, compilation, bank_name="Bench Bank A", currencies=("USD",))
    b_tx, b_manifest, b_bank = deploy_dev_bank(w3, compilation, bank_name="Bench Bank B", currencies=("HKD",))
    c_tx, c_manifest, c_bank = deploy_dev_bank(
        w3, compilation, bank_name="Bench Central Bank", currencies=("USD",)
    )
    abis = [c.abi for c in compilation.contracts.values()]
    submitter = Transactor(w3, party["submitter"], abis)
    contract = deploy_settlement(w3, submitter, compilation, ["AtomicSettlement"])["AtomicSettlement"]
    settlement = w3.eth.contract(address=contract.address, abi=compilation["AtomicSettlement"].abi)
    members = [
        (a_tx, a_bank, a_manifest, ["alice", "bank_a"]),
        (b_tx, b_bank, b_manifest, ["bank_b", "carol"]),
        (c_tx, c_bank, c_manifest, ["bank_a", "bank_b"]),
    ]
    for admin, bank, _, holders in members:
        onboard(admin, bank, [contract.address])
        onboard(admin, bank, [party[h].address for h in holders], balance=1_000_000_00)
    usd, hkd, wusd = a_bank.tokens["USD"], b_bank.tokens["HKD"], c_bank.tokens["USD"]
    domains = {
        t.address: TokenDomain(name=m.tokens[code].name, chain_id=w3.eth.chain_id, address=t.address)
        for t, m, code in ((usd, a_manifest, "USD"), (hkd, b_manifest, "HKD"), (wusd, c_manifest, "USD"))
    }
    by_address = {s.address: s for s in party.values()}
    sdomain = settlement_domain(w3.eth.chain_id, contract.address)
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600

    def settle(legs: list[tuple[Any, str, str, int]], ref: bytes) -> int:
        terms = Terms(
            ref, tuple(Leg(t.address, party[p].address, party[q].address, v) for t, p, q, v in legs), deadline
        )
        signatures = [
            signature_tuple(sign_leg(by_address[leg.payer], domains[leg.token], sdomain, terms, i))
            for i, leg in enumerate(terms.legs)
        ]
        return _gas(submitter.send(settlement.functions.settle(terms.as_tuple(), signatures)))

    def plain(legs: list[tuple[Any, str, str, int]]) -> int:
        return sum(
            _gas(Transactor(w3, party[p], abis).send(t.functions.transfer(party[q].address, v)))
            for t, p, q, v in legs
        )

    cross_border = [
        (usd, "alice", "bank_a", 100_00),
        (wusd, "bank_a", "bank_b", 100_00),
        (hkd, "bank_b", "carol", 780_00),
    ]
    pvp = [(wusd, "bank_a", "bank_b", 1_000_00), (hkd, "carol", "bank_b", 7_800_00)]
    plain_cross, plain_pvp = plain(cross_border), plain(pvp)
    settled_cross, settled_pvp = settle(cross_border, b"\x01" * 32), settle(pvp, b"\x02" * 32)
    return {
        "cross_border_payment": settled_cross,
        "cross_border_as_plain_transfers": plain_cross,
        "cross_border_ratio": round(settled_cross / plain_cross, 3),
        "pvp": settled_pvp,
        "pvp_as_plain_transfers": plain_pvp,
        "pvp_ratio": round(settled_pvp / plain_pvp, 3),
    }


def _measure_reference(
    w3: Web3, compilation: Compilation, tx: Transactor, by_alice: Transactor, alice: Any, bob: Any
) -> dict[str, int]:
    compiled = compilation["ReferenceERC20"]
    receipt = tx.send(w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode).constructor())
    ref = w3.eth.contract(address=receipt["contractAddress"], abi=compiled.abi)
    for holder in (tx.address, alice.address, bob.address):
        tx.send(ref.functions.mint(holder, 1_000_000_00))
    fresh = PrivateKeySigner.generate().address
    return {
        "transfer": _gas(by_alice.send(ref.functions.transfer(bob.address, 1_00))),
        "transfer_to_fresh_address": _gas(by_alice.send(ref.functions.transfer(fresh, 1_00))),
        "mint": _gas(tx.send(ref.functions.mint(alice.address, 1_00))),
        "burn": _gas(tx.send(ref.functions.burn(1_00))),
    }


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def run(w3: Web3, compilation: Compilation) -> dict[str, Any]:
    """The benchmark's JSON document, with how long it took."""
    started = time.monotonic()
    result = measure_gas(w3, compilation)
    result["seconds"] = round(time.monotonic() - started, 2)
    return result
