"""Random sequences of mint / transfer / freeze / partial freeze / forced transfer / KYC changes / pause /
burn, run on anvil against a Python model of the rules.

After every step the chain must equal the model, and these must hold on the chain's own numbers:
the sum of balances is the total supply; frozen funds never move except by forced transfer; no balance
changes on an address that is not allowed, unverified, blocked or expired (but the debited side of a
forced transfer); the minter never mints past its allowance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import BankRoles, deploy_bank
from wallet.chain.node import fund_from_dev_account
from wallet.chain.revert import ErrorDecoder
from wallet.chain.transact import Transactor, revert_data
from wallet.keys import PrivateKeySigner

FAR = 2**40 - 1
OPENING_BALANCE = 5_000
ALLOWANCE = 60_000


@dataclass
class Model:
    """The token's rules, restated in Python."""

    accounts: list[str]
    balance: dict[str, int] = field(default_factory=dict)
    frozen_amount: dict[str, int] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)
    verified: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    paused: bool = False
    allowance: int = ALLOWANCE

    def __post_init__(self) -> None:
        for a in self.accounts:
            self.balance[a] = 0
            self.frozen_amount[a] = 0

    def allowed_error(self, a: str) -> str | None:
        if a in self.blocked:
            return "DepositTokenAccountBlocked"
        if a not in self.verified:
            return "DepositTokenAccountNotVerified"
        if a in self.expired:
            return "DepositTokenKycExpired"
        return None

    def allowed(self, a: str) -> bool:
        return self.allowed_error(a) is None

    def free(self, a: str) -> int:
        return max(self.balance[a] - self.frozen_amount[a], 0)

    def send_error(self, a: str, value: int) -> str | None:
        if error := self.allowed_error(a):
            return error
        if a in self.frozen:
            return "DepositTokenAccountFrozen"
        if value > self.balance[a]:
            return "ERC20InsufficientBalance"
        if self.frozen_amount[a] and value > self.free(a):
            return "DepositTokenInsufficientUnfrozenBalance"
        return None

    def move(self, src: str, dst: str, value: int) -> None:
        self.balance[src] -= value
        self.balance[dst] += value


@pytest.fixture(scope="module")
def rules_bank(anvil_w3: Web3, compilation: Compilation) -> dict[str, Any]:
    w3 = anvil_w3
    admin = PrivateKeySigner.generate()
    fund_from_dev_account(w3, admin.address, 10**21)
    tx = Transactor(w3, admin, [c.abi for c in compilation.contracts.values()])
    unlocked: list[ChecksumAddress] = list(w3.eth.accounts)
    minter, officer, customers, outsider = unlocked[1], unlocked[2], list(unlocked[3:7]), unlocked[8]
    roles = BankRoles(
        admin=admin.address, minter=minter, burner=customers[0], pauser=officer, compliance=officer
    )
    manifest = deploy_bank(
        w3,
        tx,
        compilation,
        bank_name="Rules Bank",
        currencies=["USD"],
        roles=roles,
        minter_allowance=ALLOWANCE,
    )
    token = w3.eth.contract(address=manifest.tokens["USD"].address, abi=compilation["DepositToken"].abi)
    registry = w3.eth.contract(address=manifest.registry.address, abi=compilation["ComplianceRegistry"].abi)
    receipt = w3.eth.wait_for_transaction_receipt(
        registry.functions.setKycBatch(customers, [FAR] * 4, [840] * 4).transact({"from": officer})
    )
    assert receipt["status"] == 1
    for customer in customers:
        receipt = w3.eth.wait_for_transaction_receipt(
            token.functions.mint(customer, OPENING_BALANCE).transact({"from": minter})
        )
        assert receipt["status"] == 1
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    return {
        "w3": w3,
        "token": token,
        "registry": registry,
        "minter": minter,
        "officer": officer,
        "customers": customers,
        "outsider": outsider,
        "snapshot": snapshot,
        "decoder": ErrorDecoder([compilation["DepositToken"].abi, compilation["ComplianceRegistry"].abi]),
    }


class TokenRules(RuleBasedStateMachine):
    bank: dict[str, Any]

    @initialize()
    def reset_chain(self) -> None:
        b = self.bank
        w3: Web3 = b["w3"]
        assert w3.provider.make_request("evm_revert", [b["snapshot"]])["result"] is True  # type: ignore[arg-type]
        b["snapshot"] = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        self.w3, self.token, self.registry = w3, b["token"], b["registry"]
        self.minter, self.officer, self.burner = b["minter"], b["officer"], b["customers"][0]
        self.accounts = [*b["customers"], b["outsider"]]
        self.model = Model(accounts=self.accounts, allowance=ALLOWANCE - 4 * OPENING_BALANCE)
        self.model.verified.update(b["customers"])
        self.model.balance.update(dict.fromkeys(b["customers"], OPENING_BALANCE))
        self.burned = 0
        self._encoded: dict[tuple[str, tuple[Any, ...]], str] = {}

    # ------------------------------------------------------------------ driving the chain ---

    def attempt(self, call: Any, sender: str) -> str | None:
        """Runs `call` from `sender`: the decoded error name if it reverts, else None once it is mined."""
        try:
            call.call({"from": sender})
        except ContractLogicError as exc:
            name: str = self.bank["decoder"].decode(revert_data(exc))[0]
            return name
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": 1_000_000}))
        assert receipt["status"] == 1
        return None

    def read(self, fn: str, *args: Any) -> int:
        """A uint or bool view of the token, through a raw eth_call: web3's per-call formatting costs
        ~3 ms and the invariants read ~30 values after every step."""
        key = (fn, args)
        data = self._encoded.get(key)
        if data is None:
            data = self._encoded[key] = self.token.encode_abi(fn, args=list(args))
        response = self.w3.provider.make_request(
            RPCEndpoint("eth_call"), [{"to": self.token.address, "data": data}, "latest"]
        )
        return int(response["result"], 16)

    def chain_balances(self) -> dict[str, int]:
        return {a: self.read("balanceOf", a) for a in self.accounts}

    def expect(
        self, call: Any, sender: str, predicted: str | None, *, forced_from: str | None = None
    ) -> None:
        before = self.chain_balances()
        statuses = {a: self.model.allowed(a) for a in self.accounts}
        frozen_before = {a: (a in self.model.frozen, self.model.frozen_amount[a]) for a in self.accounts}
        outcome = self.attempt(call, sender)
        assert outcome == predicted, f"chain said {outcome}, the model {predicted}"
        after = self.chain_balances()
        for a in self.accounts:
            if after[a] == before[a] or a == forced_from:
                continue
            assert statuses[a], f"{a} is not allowed but its balance moved"
            if after[a] < before[a]:
                whole, part = frozen_before[a]
                assert not whole, f"frozen account {a} sent"
                assert after[a] >= min(part, before[a]), f"frozen funds of {a} moved"

    # --------------------------------------------------------------------------- rules ---

    accounts_st = st.integers(0, 4)
    amounts = st.one_of(st.integers(0, 2_000), st.sampled_from([0, 1, 10**6]))

    @rule(to=accounts_st, value=amounts)
    def mint(self, to: int, value: int) -> None:
        m, a = self.model, self.accounts[to]
        predicted = (
            "EnforcedPause"
            if m.paused
            else "DepositTokenMinterAllowanceExceeded"
            if value > m.allowance
            else m.allowed_error(a)
        )
        self.expect(self.token.functions.mint(a, value), self.minter, predicted)
        if predicted is None:
            m.balance[a] += value
            m.allowance -= value

    @rule(src=accounts_st, dst=accounts_st, value=amounts)
    def transfer(self, src: int, dst: int, value: int) -> None:
        m, f, t = self.model, self.accounts[src], self.accounts[dst]
        predicted = "EnforcedPause" if m.paused else (m.send_error(f, value) or m.allowed_error(t))
        self.expect(self.token.functions.transfer(t, value), f, predicted)
        if predicted is None:
            m.move(f, t, value)

    @rule(src=accounts_st, dst=accounts_st, delta=st.integers(-3, 3))
    def transfer_at_the_free_balance(self, src: int, dst: int, delta: int) -> None:
        """Amounts right around what the sender may move: the edge of every freeze."""
        self.transfer(src, dst, max(self.model.free(self.accounts[src]) + delta, 0))

    @rule(value=amounts)
    def burn(self, value: int) -> None:
        m = self.model
        predicted = "EnforcedPause" if m.paused else m.send_error(self.burner, value)
        self.expect(self.token.functions.burn(value), self.burner, predicted)
        if predicted is None:
            m.balance[self.burner] -= value
            self.burned += value

    @rule(src=accounts_st, dst=accounts_st, value=amounts)
    def forced_transfer(self, src: int, dst: int, value: int) -> None:
        m, f, t = self.model, self.accounts[src], self.accounts[dst]
        if f == t:
            predicted: str | None = "DepositTokenTransferToSelf"
        else:
            predicted = "ERC20InsufficientBalance" if value > m.balance[f] else m.allowed_error(t)
        call = self.token.functions.forcedTransfer(f, t, value, 3, b"\x42" * 32)
        self.expect(call, self.officer, predicted, forced_from=f)
        if predicted is None:
            free = m.free(f)
            if value > free:
                m.frozen_amount[f] -= value - free
            m.move(f, t, value)

    @rule(src=accounts_st, dst=accounts_st, extra=st.integers(1, 500))
    def forced_transfer_into_frozen_funds(self, src: int, dst: int, extra: int) -> None:
        f = self.accounts[src]
        self.forced_transfer(src, dst, min(self.model.free(f) + extra, self.model.balance[f]))

    @rule(who=accounts_st, frozen=st.booleans())
    def set_frozen(self, who: int, frozen: bool) -> None:
        a = self.accounts[who]
        call = self.token.functions.freeze(a) if frozen else self.token.functions.unfreeze(a)
        self.expect(call, self.officer, None)
        (self.model.frozen.add if frozen else self.model.frozen.discard)(a)

    @rule(who=accounts_st, amount=st.integers(0, 3_000))
    def set_frozen_amount(self, who: int, amount: int) -> None:
        self.expect(self.token.functions.setFrozenAmount(self.accounts[who], amount), self.officer, None)
        self.model.frozen_amount[self.accounts[who]] = amount

    @rule(who=accounts_st, verified=st.booleans())
    def set_kyc(self, who: int, verified: bool) -> None:
        a = self.accounts[who]
        r = self.registry.functions
        self.expect(r.setKyc(a, FAR, 840) if verified else r.revokeKyc(a), self.officer, None)
        (self.model.verified.add if verified else self.model.verified.discard)(a)
        self.model.expired.discard(a)

    @rule(who=accounts_st)
    def let_kyc_expire(self, who: int) -> None:
        """Verifies `who` until just after now, then moves the chain's clock past that."""
        a = self.accounts[who]
        now = self.w3.eth.get_block("latest")["timestamp"]
        self.expect(self.registry.functions.setKyc(a, now + 60, 840), self.officer, None)
        self.w3.provider.make_request("evm_increaseTime", [120])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        self.model.verified.add(a)
        self.model.expired.add(a)

    @rule(who=accounts_st, blocked=st.booleans())
    def set_blocked(self, who: int, blocked: bool) -> None:
        self.expect(self.registry.functions.setBlocked(self.accounts[who], blocked), self.officer, None)
        (self.model.blocked.add if blocked else self.model.blocked.discard)(self.accounts[who])

    @rule(paused=st.booleans())
    def set_paused(self, paused: bool) -> None:
        was = self.model.paused
        if paused:
            self.expect(self.token.functions.pause(), self.officer, "EnforcedPause" if was else None)
        else:
            self.expect(self.token.functions.unpause(), self.officer, None if was else "ExpectedPause")
        self.model.paused = paused

    # ---------------------------------------------------------------------- invariants ---

    @invariant()
    def chain_equals_model(self) -> None:
        if not hasattr(self, "model"):
            return
        read = self.read
        balances = self.chain_balances()
        assert balances == self.model.balance
        assert sum(balances.values()) == read("totalSupply")
        assert {a: read("frozenBalanceOf", a) for a in self.accounts} == self.model.frozen_amount
        assert {a for a in self.accounts if read("isFrozen", a)} == self.model.frozen
        assert {a for a in self.accounts if read("isAllowed", a)} == {
            a for a in self.accounts if self.model.allowed(a)
        }
        allowance = read("minterAllowance", self.minter)
        assert allowance == self.model.allowance
        minted = read("totalSupply") + self.burned
        assert ALLOWANCE - allowance == minted <= ALLOWANCE
        assert bool(read("paused")) == self.model.paused


@pytest.mark.anvil
def test_token_rules_hold_for_random_histories(rules_bank: dict[str, Any]) -> None:
    TokenRules.bank = rules_bank
    run_state_machine_as_test(
        TokenRules,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
