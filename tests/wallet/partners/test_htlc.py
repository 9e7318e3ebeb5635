"""A payment across two chains (two anvils, chain ids 31337 and 31338) by hashed time-locks: the claim
path, the refund path, and a coordinator that crashes between the two locks and, started again from
its database, finishes the swap; nothing is lost or paid twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, onboard
from wallet.chain.node import AnvilNode, fund_from_dev_account
from wallet.chain.settlement import deploy_settlement
from wallet.chain.transact import Transactor
from wallet.db import make_engine, session_factory, upgrade
from wallet.errors import PermissionDeniedError
from wallet.keys import PrivateKeySigner
from wallet.partners.htlc import Chain, HtlcCoordinator, swaps
from wallet.vocabulary import Role

KEK = SecretStr("cd" * 32)


class CrashError(Exception):
    """Stands for the coordinator's process dying at a chosen point."""


@dataclass
class Side:
    w3: Any
    token: Any
    timelock: Any
    chain: Chain
    admin: Transactor

    def balance(self, address: str) -> int:
        return int(self.token.functions.balanceOf(address).call())

    def warp(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])


@pytest.fixture(scope="module")
def chains(project_root: Path, compilation: Compilation) -> Iterator[dict[str, Any]]:
    """Bank A's USD on chain 31337, bank B's HKD on chain 31338; each chain's time-lock contract."""
    nodes = [AnvilNode(project_root, chain_id=31337), AnvilNode(project_root, chain_id=31338)]
    parties = {name: PrivateKeySigner.generate() for name in ("bank_a", "bank_b", "carol", "gas")}
    sides = []
    try:
        for node, (bank, code, sender) in zip(
            nodes, (("Bank A", "USD", "bank_a"), ("Bank B", "HKD", "bank_b")), strict=True
        ):
            w3 = node.start()
            admin, manifest, contracts = deploy_dev_bank(w3, compilation, bank_name=bank, currencies=(code,))
            timelock = deploy_settlement(w3, admin, compilation, ("HashedTimelock",))["HashedTimelock"]
            holders = [p.address for p in parties.values()] + [timelock.address]
            onboard(admin, contracts, holders)
            token = contracts.tokens[code]
            admin.send(token.functions.mint(parties[sender].address, 1_000_000))
            fund_from_dev_account(w3, parties["gas"].address, 10**21)  # the coordinator's gas
            contract = w3.eth.contract(address=timelock.address, abi=compilation["HashedTimelock"].abi)
            chain = Chain(
                w3=w3,
                timelock=contract,
                token_names={token.address: manifest.tokens[code].name},
                gas=parties["gas"],
                senders={parties[sender].address: parties[sender]},
                currencies={token.address: code},
            )
            sides.append(Side(w3, token, contract, chain, admin))
        yield {"a": sides[0], "b": sides[1], "parties": parties}
    finally:
        for node in nodes:
            node.stop()


def _coordinator(tmp_path: Path, chains: dict[str, Any], fault: Any = None) -> HtlcCoordinator:
    engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    upgrade(engine)
    return HtlcCoordinator(
        session_factory(engine),
        KEK,
        {31337: chains["a"].chain, 31338: chains["b"].chain},
        fault=fault,
    )


def _swap(
    coordinator: HtlcCoordinator, chains: dict[str, Any], duration: int = 600, margin: int = 300
) -> str:
    a, b, p = chains["a"], chains["b"], chains["parties"]
    return coordinator.create(
        # Bank A pays bank B 100.00 USD on chain 31337; bank B pays carol 778.10 HKD on chain 31338.
        first=(31337, a.token.address, p["bank_a"].address, p["bank_b"].address, 10_000),
        second=(31338, b.token.address, p["bank_b"].address, p["carol"].address, 77_810),
        duration=duration,
        margin=margin,
    )


def _balances(chains: dict[str, Any]) -> dict[str, int]:
    a, b, p = chains["a"], chains["b"], chains["parties"]
    return {
        "a:bank_a": a.balance(p["bank_a"].address),
        "a:bank_b": a.balance(p["bank_b"].address),
        "b:bank_b": b.balance(p["bank_b"].address),
        "b:carol": b.balance(p["carol"].address),
    }


def test_a_swap_claims_on_both_chains(tmp_path: Path, chains: dict[str, Any]) -> None:
    coordinator = _coordinator(tmp_path, chains)
    before = _balances(chains)
    swap = _swap(coordinator, chains)
    assert coordinator.run(swap) == "done"
    after = _balances(chains)
    assert after == {
        "a:bank_a": before["a:bank_a"] - 10_000,
        "a:bank_b": before["a:bank_b"] + 10_000,
        "b:bank_b": before["b:bank_b"] - 77_810,
        "b:carol": before["b:carol"] + 77_810,
    }


def test_a_coordinator_that_dies_between_the_two_locks_finishes_when_started_again(
    tmp_path: Path, chains: dict[str, Any]
) -> None:
    def die(point: str) -> None:
        if point == "locked1":
            raise CrashError(point)

    first = _coordinator(tmp_path, chains, fault=die)
    before = _balances(chains)
    swap = _swap(first, chains)
    with pytest.raises(CrashError):
        first.run(swap)
    assert first.state(swap) == "locked1"
    assert _balances(chains)["a:bank_a"] == before["a:bank_a"] - 10_000  # locked, not paid
    # A new coordinator on the same database picks the swap up where the chains say it is.
    again = _coordinator(tmp_path, chains)
    assert again.run(swap) == "done"
    # And running it again changes nothing: nothing is paid twice.
    assert again.run(swap) == "done"
    after = _balances(chains)
    assert after["a:bank_b"] == before["a:bank_b"] + 10_000
    assert after["b:carol"] == before["b:carol"] + 77_810
    assert after["b:bank_b"] == before["b:bank_b"] - 77_810


def test_a_swap_stopped_before_the_claim_is_refunded_on_both_chains_after_their_times(
    tmp_path: Path, chains: dict[str, Any]
) -> None:
    def die(point: str) -> None:
        if point == "locked2":
            raise CrashError(point)

    first = _coordinator(tmp_path, chains, fault=die)
    before = _balances(chains)
    swap = _swap(first, chains, duration=60, margin=60)
    with pytest.raises(CrashError):
        first.run(swap)
    # Down past both locks' times; then a new coordinator can only send everything back.
    chains["a"].warp(300)
    chains["b"].warp(300)
    again = _coordinator(tmp_path, chains)
    assert again.run(swap) == "refunded"
    assert _balances(chains) == before


def test_the_worker_step_finishes_open_swaps_and_staff_see_each_lock_as_its_chain_holds_it(
    tmp_path: Path, chains: dict[str, Any]
) -> None:
    def die(point: str) -> None:
        if point == "locked1":
            raise CrashError(point)

    first = _coordinator(tmp_path, chains, fault=die)
    swap = _swap(first, chains)
    with pytest.raises(CrashError):
        first.step(swap)
    operator = Principal("op", "operator", Role.OPERATOR)
    [view] = first.list(operator)
    assert view["state"] == "locked1"
    assert [leg["on_chain"] for leg in view["legs"]] == ["locked", "none"]
    assert [leg["amount"] for leg in view["legs"]] == [
        {"currency": "USD", "amount": "100.00"},
        {"currency": "HKD", "amount": "778.10"},
    ]
    # The worker's step, on a coordinator started again, takes every open swap to its end.
    again = _coordinator(tmp_path, chains)
    assert again.step_open() == 0
    [view] = again.list(operator)
    assert view["state"] == "done"
    assert [leg["on_chain"] for leg in view["legs"]] == ["claimed", "claimed"]
    with pytest.raises(PermissionDeniedError):
        again.list(Principal("c", "carol", Role.CUSTOMER))
    assert swaps(None, operator) == []
    with pytest.raises(PermissionDeniedError):
        swaps(None, Principal("c", "carol", Role.CUSTOMER))
