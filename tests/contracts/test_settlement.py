"""The settlement contracts on anvil: two banks' deposit tokens and a central bank's settlement tokens on
one chain, moved all or nothing by `AtomicSettlement`, and hash time-locks by `HashedTimelock`.

Atomicity is fuzzed: random sets of legs between the parties, with one fault planted or none, settle
whole or leave every balance as it was. Then the properties one by one: no party can take a leg without
the legs that pay for it, nothing replays (the same contract, another contract, another chain id),
deadlines, cancellation, the tokens' compliance rules on every leg, and the time-lock's claim and
refund paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from tests.support.anvil import anvil_fixture
from wallet.chain.compiler import Compilation
from wallet.chain.deploy import deploy_dev_bank, load_contract
from wallet.chain.eip3009 import TokenDomain, authorization_digest
from wallet.chain.node import AnvilNode, connect, fund_from_dev_account
from wallet.chain.settlement import (
    Leg,
    LockTerms,
    Terms,
    deploy_settlement,
    hashlock_of,
    leg_nonce,
    lock_id,
    settlement_domain,
    settlement_id,
    sign_cancel,
    sign_leg,
    sign_lock,
    signature_tuple,
    timelock_domain,
)
from wallet.chain.transact import Transactor
from wallet.errors import ContractRevertError
from wallet.keys import PrivateKeySigner

FAR = 2**40 - 1
HOUR = 3600

settlement_anvil = anvil_fixture("module", "An anvil of this module's own: its tests move the chain's clock.")


@dataclass
class World:
    w3: Web3
    compilation: Compilation
    tokens: dict[str, Any]  # "A:USD", "B:HKD", "CB:USD", ... -> contract
    domains: dict[ChecksumAddress, TokenDomain]
    registries: dict[str, Any]  # "A", "B", "CB"
    admins: dict[str, Transactor]
    parties: dict[str, PrivateKeySigner]  # alice, carol, bank_a, bank_b, outsider
    settlement: Any
    timelock: Any
    submitter: Transactor

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def sdomain(self, address: ChecksumAddress | None = None) -> TokenDomain:
        return settlement_domain(self.w3.eth.chain_id, address or self.settlement.address)

    def balances(self) -> dict[tuple[str, str], int]:
        return {
            (key, name): token.functions.balanceOf(p.address).call()
            for key, token in self.tokens.items()
            for name, p in self.parties.items()
        }

    def signatures(
        self, terms: Terms, settlement: ChecksumAddress | None = None
    ) -> list[tuple[int, bytes, bytes]]:
        by_address = {p.address: p for p in self.parties.values()}
        return [
            signature_tuple(
                sign_leg(by_address[leg.payer], self.domains[leg.token], self.sdomain(settlement), terms, i)
            )
            for i, leg in enumerate(terms.legs)
        ]

    def attempt(self, call: Any) -> str | None:
        """The decoded revert of `call` sent by the submitter, or None once it is mined."""
        try:
            receipt = self.submitter.send(call)
        except ContractRevertError as exc:
            return exc.error_name
        assert receipt["status"] == 1
        return None

    def settle(self, terms: Terms, signatures: list[tuple[int, bytes, bytes]] | None = None) -> str | None:
        sigs = self.signatures(terms) if signatures is None else signatures
        return self.attempt(self.settlement.functions.settle(terms.as_tuple(), sigs))

    def leg(self, token: str, payer: str, payee: str, value: int) -> Leg:
        return Leg(
            self.tokens[token].address, self.parties[payer].address, self.parties[payee].address, value
        )

    def terms(self, *legs: Leg, deadline: int | None = None) -> Terms:
        return Terms(os.urandom(32), tuple(legs), deadline or self.now() + HOUR)

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot: str) -> None:
        """Back to `snapshot`; the transactors forget the nonces of transactions the chain forgot."""
        assert self.w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]
        for transactor in [self.submitter, *self.admins.values()]:
            transactor.forget_nonce()

    def warp(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(settlement_anvil: AnvilNode, compilation: Compilation) -> World:
    w3 = connect(settlement_anvil.url)
    banks = {
        "A": deploy_dev_bank(w3, compilation, bank_name="Demo Bank", currencies=["USD", "EUR"]),
        "B": deploy_dev_bank(w3, compilation, bank_name="Partner Bank", currencies=["HKD", "USD"]),
        "CB": deploy_dev_bank(w3, compilation, bank_name="Central Bank", currencies=["USD", "HKD"]),
    }
    parties = {n: PrivateKeySigner.generate() for n in ("alice", "carol", "bank_a", "bank_b", "outsider")}
    submitter_key = PrivateKeySigner.generate()
    fund_from_dev_account(w3, submitter_key.address, 10**21)
    abis = [c.abi for c in compilation.contracts.values()]
    submitter = Transactor(w3, submitter_key, abis)
    deployed = deploy_settlement(w3, submitter, compilation)
    settlement = load_contract(w3, compilation, "AtomicSettlement", deployed["AtomicSettlement"].address)
    timelock = load_contract(w3, compilation, "HashedTimelock", deployed["HashedTimelock"].address)
    tokens, domains, registries, admins = {}, {}, {}, {}
    for key, (admin, manifest, contracts) in banks.items():
        registries[key] = contracts.registry
        admins[key] = admin
        for code, deployed_token in manifest.tokens.items():
            token = contracts.tokens[code]
            tokens[f"{key}:{code}"] = token
            domains[token.address] = TokenDomain(deployed_token.name, w3.eth.chain_id, token.address)
    # Who each registry knows: a bank's customers and the bank itself; the central bank's, banks only.
    # The settlement contracts are registered everywhere, as a clearing house would be.
    members = {
        "A": ["alice", "bank_a"],
        "B": ["carol", "bank_b"],
        "CB": ["bank_a", "bank_b"],
    }
    for key, names in members.items():
        accounts = [parties[n].address for n in names] + [settlement.address, timelock.address]
        admins[key].send(registries[key].functions.setKycBatch(accounts, [FAR] * 4, [840] * 4))
    mints = [
        ("A:USD", "alice", 1_000_00),
        ("A:USD", "bank_a", 5_000_00),
        ("A:EUR", "bank_a", 5_000_00),
        ("A:EUR", "alice", 200_00),
        ("B:HKD", "bank_b", 100_000_00),
        ("B:HKD", "carol", 1_000_00),
        ("CB:USD", "bank_a", 1_000_000_00),
        ("CB:USD", "bank_b", 1_000_000_00),
        ("CB:HKD", "bank_b", 1_000_000_00),
        ("CB:HKD", "bank_a", 1_000_000_00),
    ]
    for key, name, value in mints:
        admins[key.split(":")[0]].send(tokens[key].functions.mint(parties[name].address, value))
    return World(
        w3=w3,
        compilation=compilation,
        tokens=tokens,
        domains=domains,
        registries=registries,
        admins=admins,
        parties=parties,
        settlement=settlement,
        timelock=timelock,
        submitter=submitter,
    )


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """The world, put back as it was after the test."""
    snapshot = world.snapshot()
    yield world
    world.revert(snapshot)


def _cross_border(world: World, usd: int, hkd: int) -> Terms:
    """alice pays carol: her USD deposit to her bank, USD settlement tokens bank to bank, and the
    partner bank's HKD deposit to carol."""
    return world.terms(
        world.leg("A:USD", "alice", "bank_a", usd),
        world.leg("CB:USD", "bank_a", "bank_b", usd),
        world.leg("B:HKD", "bank_b", "carol", hkd),
    )


def test_the_settlement_id_and_nonces_are_the_contracts(fresh: World) -> None:
    terms = _cross_border(fresh, 100_00, 780_00)
    sid = settlement_id(fresh.sdomain(), terms)
    assert fresh.settlement.functions.settlementId(terms.as_tuple()).call() == sid
    assert fresh.settlement.functions.legNonce(sid, 2).call() == leg_nonce(sid, 2)
    lock = LockTerms(
        fresh.tokens["A:USD"].address,
        fresh.parties["alice"].address,
        fresh.parties["bank_a"].address,
        5,
        hashlock_of(os.urandom(32)),
        fresh.now() + HOUR,
        bytes(32),
    )
    domain = timelock_domain(fresh.w3.eth.chain_id, fresh.timelock.address)
    assert fresh.timelock.functions.lockId(lock.as_tuple()).call() == lock_id(domain, lock)


def test_a_cross_border_payment_settles_in_one_transaction(fresh: World) -> None:
    before = fresh.balances()
    terms = _cross_border(fresh, 100_00, 780_00)
    assert fresh.settle(terms) is None
    after = fresh.balances()
    moved = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert moved == {
        ("A:USD", "alice"): -100_00,
        ("A:USD", "bank_a"): 100_00,
        ("CB:USD", "bank_a"): -100_00,
        ("CB:USD", "bank_b"): 100_00,
        ("B:HKD", "bank_b"): -780_00,
        ("B:HKD", "carol"): 780_00,
    }
    for token in fresh.tokens.values():  # the contract keeps nothing
        assert token.functions.balanceOf(fresh.settlement.address).call() == 0
    sid = settlement_id(fresh.sdomain(), terms)
    assert fresh.settlement.functions.stateOf(sid).call() == 1  # Settled
    # Once only.
    assert fresh.settle(terms) == "SettlementClosed"


FAULTS = (
    "none",
    "overdraft",
    "payee_unverified",
    "payer_frozen",
    "wrong_signer",
    "wrong_value",
    "wholesale_to_customer",
)
TOKENS = ("A:USD", "A:EUR", "B:HKD", "CB:USD", "CB:HKD")
HOLDERS = {
    "A:USD": ("alice", "bank_a"),
    "A:EUR": ("alice", "bank_a"),
    "B:HKD": ("carol", "bank_b"),
    "CB:USD": ("bank_a", "bank_b"),
    "CB:HKD": ("bank_a", "bank_b"),
}
Case = tuple[list[tuple[str, str, str, int]], str, int]


@st.composite
def leg_sets(draw: st.DrawFn) -> Case:
    count = draw(st.integers(1, 5))
    legs = []
    for _ in range(count):
        token = draw(st.sampled_from(TOKENS))
        payer, payee = draw(st.permutations(HOLDERS[token]))
        legs.append((token, payer, payee, draw(st.integers(1, 100_00))))
    return legs, draw(st.sampled_from(FAULTS)), draw(st.integers(0, count - 1))


def _signed_otherwise(world: World, terms: Terms, at: int, signer: PrivateKeySigner, value: int) -> Any:
    """Leg `at`'s authorization as `signer` signed it for `value`: a signature the contract must refuse
    unless both are the leg's own."""
    leg = terms.legs[at]
    message = {
        "from": leg.payer,
        "to": world.settlement.address,
        "value": value,
        "validAfter": 0,
        "validBefore": terms.deadline,
        "nonce": leg_nonce(settlement_id(world.sdomain(), terms), at),
    }
    digest = authorization_digest(world.domains[leg.token], "ReceiveWithAuthorization", message)
    return signature_tuple(signer.sign_hash(digest))


def _expected(world: World, before: dict[tuple[str, str], int], terms: Terms) -> dict[tuple[str, str], int]:
    names = {p.address: n for n, p in world.parties.items()}
    keys = {t.address: k for k, t in world.tokens.items()}
    expected = dict(before)
    for leg in terms.legs:
        expected[(keys[leg.token], names[leg.payer])] -= leg.value
        expected[(keys[leg.token], names[leg.payee])] += leg.value
    return expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=leg_sets())
def test_a_settlement_moves_every_leg_or_none(world: World, case: Case) -> None:
    legs, fault, at = case
    snapshot = world.snapshot()
    try:
        plain = [world.leg(*leg) for leg in legs]
        token, payer, payee, value = legs[at]
        if fault == "overdraft":
            balance = world.tokens[token].functions.balanceOf(world.parties[payer].address).call()
            plain[at] = world.leg(token, payer, payee, balance + 1)
        elif fault == "payee_unverified":
            plain[at] = world.leg(token, payer, "outsider", value)
        elif fault == "wholesale_to_customer":  # settlement tokens are for banks only
            plain[at] = world.leg("CB:USD", "bank_a", "alice", value)
        elif fault == "payer_frozen":
            bank = token.split(":")[0]
            world.admins[bank].send(world.tokens[token].functions.freeze(world.parties[payer].address))
        terms = world.terms(*plain)
        signatures = world.signatures(terms)
        if fault == "wrong_signer":
            signatures[at] = _signed_otherwise(
                world, terms, at, world.parties["outsider"], terms.legs[at].value
            )
        elif fault == "wrong_value":
            signer = world.parties[payer]
            signatures[at] = _signed_otherwise(world, terms, at, signer, terms.legs[at].value + 1)
        before = world.balances()
        error = world.settle(terms, signatures)
        after = world.balances()
        if fault == "none":
            assert error is None
            assert after == _expected(world, before, terms)
        else:
            assert error is not None, fault
            assert after == before, fault
    finally:
        world.revert(snapshot)


def test_no_party_can_take_a_leg_without_the_legs_that_pay_for_it(fresh: World) -> None:
    before = fresh.balances()
    terms = _cross_border(fresh, 100_00, 780_00)
    signatures = fresh.signatures(terms)
    # The partner bank's HKD to carol alone, with its signature from the whole set: refused.
    alone = Terms(terms.ref, terms.legs[2:], terms.deadline)
    assert fresh.settle(alone, signatures[2:]) == "DepositTokenInvalidSignature"
    # alice's signed leg in another set, where her bank pays someone else: refused.
    other = fresh.terms(terms.legs[0], fresh.leg("CB:USD", "bank_a", "bank_b", 1), deadline=terms.deadline)
    mixed = [signatures[0], fresh.signatures(other)[1]]
    assert fresh.settle(Terms(terms.ref, other.legs, terms.deadline), mixed) == "DepositTokenInvalidSignature"
    # Nor can the authorization be used directly on the token: only the settlement contract is its payee.
    leg, sig = terms.legs[0], signatures[0]
    direct = fresh.tokens["A:USD"].functions.receiveWithAuthorization(
        leg.payer, fresh.settlement.address, leg.value, 0, terms.deadline,
        leg_nonce(settlement_id(fresh.sdomain(), terms), 0), *sig,
    )  # fmt: skip
    assert fresh.attempt(direct) == "DepositTokenCallerNotPayee"
    assert fresh.balances() == before


def test_signatures_do_not_replay_on_another_contract_or_chain(fresh: World) -> None:
    before = fresh.balances()
    terms = _cross_border(fresh, 100_00, 780_00)
    # Another settlement contract: the id (and so every nonce) differs, the signatures do not verify.
    deployed = deploy_settlement(fresh.w3, fresh.submitter, fresh.compilation, ["AtomicSettlement"])
    twin = load_contract(
        fresh.w3, fresh.compilation, "AtomicSettlement", deployed["AtomicSettlement"].address
    )
    for key in ("A", "B", "CB"):
        fresh.admins[key].send(fresh.registries[key].functions.setKyc(twin.address, FAR, 840))
    signatures = fresh.signatures(terms)
    assert (
        fresh.attempt(twin.functions.settle(terms.as_tuple(), signatures)) == "DepositTokenInvalidSignature"
    )
    # Signed for another chain id: refused here.
    elsewhere = settlement_domain(fresh.w3.eth.chain_id + 1, fresh.settlement.address)
    by_address = {p.address: p for p in fresh.parties.values()}
    foreign = [
        signature_tuple(
            sign_leg(
                by_address[leg.payer],
                TokenDomain(fresh.domains[leg.token].name, fresh.w3.eth.chain_id + 1, leg.token),
                elsewhere,
                terms,
                i,
            )
        )
        for i, leg in enumerate(terms.legs)
    ]
    assert fresh.settle(terms, foreign) == "DepositTokenInvalidSignature"
    assert fresh.balances() == before
    # The right signatures still settle here, once.
    assert fresh.settle(terms, signatures) is None
    assert fresh.settle(terms, signatures) == "SettlementClosed"


def test_nothing_settles_after_the_deadline_and_the_payer_keeps_the_funds(fresh: World) -> None:
    before = fresh.balances()
    terms = fresh.terms(
        fresh.leg("A:USD", "alice", "bank_a", 10_00),
        fresh.leg("A:EUR", "bank_a", "alice", 9_00),
        deadline=fresh.now() + 60,
    )
    signatures = fresh.signatures(terms)
    fresh.warp(61)
    assert fresh.settle(terms, signatures) == "SettlementExpired"
    assert fresh.balances() == before
    assert fresh.settle(fresh.terms(*terms.legs, deadline=fresh.now() - 1)) == "SettlementExpired"


def test_a_payer_cancels_and_only_a_payer_can(fresh: World) -> None:
    terms = _cross_border(fresh, 100_00, 780_00)
    signatures = fresh.signatures(terms)
    by_outsider = signature_tuple(sign_cancel(fresh.parties["outsider"], fresh.sdomain(), terms))
    assert (
        fresh.attempt(fresh.settlement.functions.cancel(terms.as_tuple(), 2, by_outsider))
        == "SettlementNotPayer"
    )
    # The payee of a leg is not its payer either.
    by_carol = signature_tuple(sign_cancel(fresh.parties["carol"], fresh.sdomain(), terms))
    assert (
        fresh.attempt(fresh.settlement.functions.cancel(terms.as_tuple(), 2, by_carol))
        == "SettlementNotPayer"
    )
    by_partner = signature_tuple(sign_cancel(fresh.parties["bank_b"], fresh.sdomain(), terms))
    assert fresh.attempt(fresh.settlement.functions.cancel(terms.as_tuple(), 2, by_partner)) is None
    sid = settlement_id(fresh.sdomain(), terms)
    assert fresh.settlement.functions.stateOf(sid).call() == 2  # Cancelled
    before = fresh.balances()
    assert fresh.settle(terms, signatures) == "SettlementClosed"
    assert fresh.balances() == before


def test_each_tokens_compliance_rules_apply_to_every_leg(fresh: World) -> None:
    before = fresh.balances()
    terms = _cross_border(fresh, 100_00, 780_00)
    signatures = fresh.signatures(terms)
    carol = fresh.parties["carol"].address
    fresh.admins["B"].send(fresh.registries["B"].functions.setBlocked(carol, True))
    assert fresh.settle(terms, signatures) == "DepositTokenAccountBlocked"
    fresh.admins["B"].send(fresh.registries["B"].functions.setBlocked(carol, False))
    # The central bank pauses its USD: the interbank leg fails, so alice's and carol's legs do too.
    fresh.admins["CB"].send(fresh.tokens["CB:USD"].functions.pause())
    assert fresh.settle(terms, signatures) == "EnforcedPause"
    assert fresh.balances() == before
    fresh.admins["CB"].send(fresh.tokens["CB:USD"].functions.unpause())
    assert fresh.settle(terms, signatures) is None


def _lock(world: World, value: int, timelock: int) -> tuple[LockTerms, bytes, Any]:
    secret = os.urandom(32)
    terms = LockTerms(
        world.tokens["CB:USD"].address,
        world.parties["bank_a"].address,
        world.parties["bank_b"].address,
        value,
        hashlock_of(secret),
        timelock,
        os.urandom(32),
    )
    domain = timelock_domain(world.w3.eth.chain_id, world.timelock.address)
    sig = sign_lock(world.parties["bank_a"], world.domains[terms.token], domain, terms)
    return terms, secret, world.timelock.functions.lock(terms.as_tuple(), *signature_tuple(sig))


def test_a_time_lock_is_claimed_with_the_secret_before_its_time(fresh: World) -> None:
    before = fresh.balances()
    terms, secret, lock = _lock(fresh, 500_00, fresh.now() + HOUR)
    assert fresh.attempt(lock) is None
    assert fresh.attempt(lock) == "HashedTimelockExists"
    lid = lock_id(timelock_domain(fresh.w3.eth.chain_id, fresh.timelock.address), terms)
    assert fresh.balances()[("CB:USD", "bank_a")] == before[("CB:USD", "bank_a")] - 500_00
    assert fresh.attempt(fresh.timelock.functions.claim(lid, os.urandom(32))) == "HashedTimelockWrongSecret"
    assert fresh.attempt(fresh.timelock.functions.refund(lid)) == "HashedTimelockTime"
    assert fresh.attempt(fresh.timelock.functions.claim(lid, secret)) is None
    assert fresh.balances()[("CB:USD", "bank_b")] == before[("CB:USD", "bank_b")] + 500_00
    assert fresh.attempt(fresh.timelock.functions.refund(lid)) == "HashedTimelockNotLocked"
    assert fresh.timelock.functions.lockOf(lid).call()[1] == 2  # Claimed


def test_a_time_lock_goes_back_after_its_time_and_cannot_be_claimed_then(fresh: World) -> None:
    before = fresh.balances()
    terms, secret, lock = _lock(fresh, 500_00, fresh.now() + 120)
    assert fresh.attempt(lock) is None
    lid = lock_id(timelock_domain(fresh.w3.eth.chain_id, fresh.timelock.address), terms)
    fresh.warp(121)
    assert fresh.attempt(fresh.timelock.functions.claim(lid, secret)) == "HashedTimelockTime"
    assert fresh.attempt(fresh.timelock.functions.refund(lid)) is None
    assert fresh.balances() == before
    assert fresh.timelock.functions.lockOf(lid).call()[1] == 3  # Refunded
