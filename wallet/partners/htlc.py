"""Payments across two chains by hashed time-locks: the payer's bank locks tokens on its chain for the
payee's bank, the payee's bank locks tokens on the other chain for the payee, both under the SHA-256 of
one secret; claiming the second lock reveals the secret, which claims the first. If anything stops
before the second claim, each lock goes back to its sender after its time.

The coordinator keeps each swap in the database (the secret wrapped under the KEK) and moves it one
step at a time, always reading the chains first, so a coordinator that crashes anywhere and starts
again from the database finishes the swap one way or the other:

    created -> locked1 -> locked2 -> claimed2 -> done          (the payment went through)
    ... -> refunding -> refunded                                (a time passed: both senders paid back)

A step whose transaction was sent before a crash is found done on chain (a lock's id is the EIP-712 hash
of its terms and its authorization's nonce, so it can exist once), and the step is recorded instead of
repeated. The first lock outlives the second by `margin`: the payee's bank, which claims the first lock
with the secret the second claim revealed, has that long to do so.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import to_checksum_address
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from wallet.bank.users import Principal
from wallet.chain.eip3009 import TokenDomain
from wallet.chain.settlement import LockTerms, hashlock_of, lock_id, sign_lock, timelock_domain
from wallet.chain.transact import Transactor
from wallet.db.models import HtlcSwap, aware
from wallet.errors import NotFoundError
from wallet.keys.base import Signer
from wallet.keys.keystore import KeyEncryptionKey
from wallet.money import currency as currency_of
from wallet.money import format_amount
from wallet.vocabulary import Role

log = logging.getLogger(__name__)

TERMINAL = ("done", "refunded")
NONE, LOCKED, CLAIMED, REFUNDED = 0, 1, 2, 3
SWAP_READERS = (Role.OPERATOR, Role.ADMIN, Role.COMPLIANCE)
LOCK_STATES = {NONE: "none", LOCKED: "locked", CLAIMED: "claimed", REFUNDED: "refunded"}


@dataclass(frozen=True)
class Chain:
    """One chain the coordinator works on: its node, time-lock contract, token names (EIP-712 domains),
    the key that pays gas, and the keys of the senders whose locks it signs."""

    w3: Web3
    timelock: Contract
    token_names: Mapping[str, str]  # token address -> its EIP-712 name
    gas: Signer
    senders: Mapping[str, Signer]
    currencies: Mapping[str, str] = field(default_factory=dict)  # token address -> ISO 4217 code


class HtlcCoordinator:
    """Creates and finishes cross-chain swaps."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kek: SecretStr,
        chains: Mapping[int, Chain],
        *,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.kek = KeyEncryptionKey(kek)
        self.chains = dict(chains)
        self.fault = fault or (lambda _: None)

    def create(
        self,
        *,
        first: tuple[int, str, str, str, int],
        second: tuple[int, str, str, str, int],
        duration: int = 600,
        margin: int = 300,
        ref: bytes = bytes(32),
    ) -> str:
        """A new swap: (chain id, token, sender, receiver, value) on the payer's chain and on the payee's.
        The second lock holds for `duration` seconds, the first for `margin` more."""
        secret = secrets.token_bytes(32)
        hashlock = hashlock_of(secret)
        now = int(time.time())
        swap_id = secrets.token_hex(16)
        wrapped, nonce = self.kek.wrap(secret, swap_id)
        legs = []
        for (chain_id, token, sender, receiver, value), until in (
            (first, now + duration + margin),
            (second, now + duration),
        ):
            legs.append(
                {
                    "chain_id": chain_id,
                    "contract": self.chains[chain_id].timelock.address,
                    "token": to_checksum_address(token),
                    "sender": to_checksum_address(sender),
                    "receiver": to_checksum_address(receiver),
                    "value": str(value),
                    "hashlock": "0x" + hashlock.hex(),
                    "timelock": until,
                    "ref": "0x" + ref.hex(),
                }
            )
        with self.sessions.begin() as session:
            session.add(
                HtlcSwap(
                    id=swap_id,
                    secret=wrapped,
                    secret_nonce=nonce,
                    hashlock=hashlock,
                    first=legs[0],
                    second=legs[1],
                    state="created",
                )
            )
        return swap_id

    def state(self, swap_id: str) -> str:
        return self._swap(swap_id).state

    def step_open(self) -> int:
        """The worker's step: moves every swap that is not finished; returns how many still are not.
        A swap whose chain does not answer is left for the next step (and logged)."""
        with self.sessions() as session:
            ids = list(session.scalars(select(HtlcSwap.id).where(HtlcSwap.state.not_in(TERMINAL))))
        still = 0
        for swap_id in ids:
            try:
                still += self.step(swap_id) not in TERMINAL
            except (OSError, ValueError, Web3Exception) as exc:
                log.warning("swap %s: not stepped this time: %s", swap_id, exc)
                still += 1
        return still

    def list(self, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest swaps (operators, administrators and compliance officers), each lock as its chain
        holds it now."""
        principal.require(*SWAP_READERS)
        with self.sessions() as session:
            rows = list(session.scalars(select(HtlcSwap).order_by(HtlcSwap.created_at.desc()).limit(limit)))
        return [self.view(row) for row in rows]

    def view(self, swap: HtlcSwap) -> dict[str, Any]:
        legs = []
        for leg in (swap.first, swap.second):
            chain = self.chains.get(int(leg["chain_id"]))
            code = chain.currencies.get(str(leg["token"])) if chain else None
            try:
                on_chain = LOCK_STATES[self._lock_state(leg, self._terms(leg))] if chain else "unknown"
            except (OSError, ValueError, Web3Exception):
                on_chain = "unknown"  # the chain did not answer: nothing is claimed for it
            legs.append(
                {
                    "chain_id": int(leg["chain_id"]),
                    "contract": leg["contract"],
                    "token": leg["token"],
                    "sender": leg["sender"],
                    "receiver": leg["receiver"],
                    "amount": (
                        {
                            "currency": code,
                            "amount": format_amount(int(leg["value"]), currency_of(code).exponent),
                        }
                        if code
                        else {"currency": None, "minor_units": leg["value"]}
                    ),
                    "expires_at": datetime.fromtimestamp(int(leg["timelock"]), UTC).isoformat(),
                    "on_chain": on_chain,
                }
            )
        return {
            "id": swap.id,
            "state": swap.state,
            "hashlock": "0x" + bytes(swap.hashlock).hex(),
            "created_at": aware(swap.created_at).isoformat(),
            "updated_at": aware(swap.updated_at).isoformat(),
            "legs": legs,
        }

    def run(self, swap_id: str, *, timeout: float = 120.0, poll: float = 0.2) -> str:
        """Steps the swap until it is done or refunded; returns its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.step(swap_id)
            if state in TERMINAL:
                return state
            time.sleep(poll)
        raise TimeoutError(f"swap {swap_id} is still {self.state(swap_id)}")

    def step(self, swap_id: str) -> str:
        """Moves the swap as far as the chains allow now; returns its state."""
        swap = self._swap(swap_id)
        state = swap.state
        first, second = self._terms(swap.first), self._terms(swap.second)
        one, two = self._lock_state(swap.first, first), self._lock_state(swap.second, second)
        now1, now2 = self._now(swap.first), self._now(swap.second)
        if state in ("created", "locked1") and (now2 >= second.timelock or now1 >= first.timelock):
            state = self._record(swap, "refunding")  # too late to go on: everything goes back
        if state == "created":
            if one == NONE:
                self._lock(swap.first, first)
            state = self._record(swap, "locked1")
            self.fault("locked1")
        if state == "locked1":
            if two == NONE:
                self._lock(swap.second, second)
            state = self._record(swap, "locked2")
            self.fault("locked2")
        if state == "locked2":
            two = self._lock_state(swap.second, second)  # this step may have just locked it
            if two == LOCKED and now2 < second.timelock:
                self._claim(swap, swap.second, second)
            elif two != CLAIMED:
                state = self._record(swap, "refunding")
            if state == "locked2":
                state = self._record(swap, "claimed2")
                self.fault("claimed2")
        if state == "claimed2":
            if self._lock_state(swap.first, first) == LOCKED:
                self._claim(swap, swap.first, first)
            state = self._record(swap, "done")
        if state == "refunding":
            finished = True
            for leg, terms in ((swap.second, second), (swap.first, first)):
                status = self._lock_state(leg, terms)
                if status == LOCKED and self._now(leg) >= terms.timelock:
                    self._send(leg, self._chain(leg).timelock.functions.refund(self._id(leg, terms)))
                elif status == LOCKED:
                    finished = False  # its time has not come yet
            if finished:
                state = self._record(swap, "refunded")
        return state

    # -------------------------------------------------------------------------------- helpers ---

    def _swap(self, swap_id: str) -> HtlcSwap:
        with self.sessions() as session:
            swap = session.get(HtlcSwap, swap_id)
        if swap is None:
            raise NotFoundError("swap", swap_id)
        return swap

    def _record(self, swap: HtlcSwap, state: str) -> str:
        with self.sessions.begin() as session:
            row = session.get(HtlcSwap, swap.id)
            assert row is not None
            row.state = state
        swap.state = state
        log.info("swap %s: %s", swap.id, state)
        return state

    def _secret(self, swap: HtlcSwap) -> bytes:
        return self.kek.unwrap(bytes(swap.secret), bytes(swap.secret_nonce), swap.id)

    def _chain(self, leg: Mapping[str, Any]) -> Chain:
        return self.chains[int(leg["chain_id"])]

    @staticmethod
    def _terms(leg: Mapping[str, Any]) -> LockTerms:
        return LockTerms(
            token=to_checksum_address(leg["token"]),
            sender=to_checksum_address(leg["sender"]),
            receiver=to_checksum_address(leg["receiver"]),
            value=int(leg["value"]),
            hashlock=bytes.fromhex(str(leg["hashlock"])[2:]),
            timelock=int(leg["timelock"]),
            ref=bytes.fromhex(str(leg["ref"])[2:]),
        )

    def _domain(self, leg: Mapping[str, Any]) -> TokenDomain:
        chain = self._chain(leg)
        return timelock_domain(int(leg["chain_id"]), chain.timelock.address)

    def _id(self, leg: Mapping[str, Any], terms: LockTerms) -> bytes:
        return lock_id(self._domain(leg), terms)

    def _lock_state(self, leg: Mapping[str, Any], terms: LockTerms) -> int:
        _, state = self._chain(leg).timelock.functions.lockOf(self._id(leg, terms)).call()
        return int(state)

    def _now(self, leg: Mapping[str, Any]) -> int:
        return int(self._chain(leg).w3.eth.get_block("latest")["timestamp"])

    def _lock(self, leg: Mapping[str, Any], terms: LockTerms) -> None:
        chain = self._chain(leg)
        name = chain.token_names[terms.token]
        token = TokenDomain(name=name, chain_id=int(leg["chain_id"]), address=terms.token)
        signature = sign_lock(chain.senders[terms.sender], token, self._domain(leg), terms)
        self._send(
            leg, chain.timelock.functions.lock(terms.as_tuple(), signature.v, signature.r, signature.s)
        )

    def _claim(self, swap: HtlcSwap, leg: Mapping[str, Any], terms: LockTerms) -> None:
        call = self._chain(leg).timelock.functions.claim(self._id(leg, terms), self._secret(swap))
        self._send(leg, call)

    def _send(self, leg: Mapping[str, Any], call: Any) -> None:
        chain = self._chain(leg)
        Transactor(chain.w3, chain.gas, [chain.timelock.abi]).send(call)


def swaps(coordinator: HtlcCoordinator | None, principal: Principal) -> list[dict[str, Any]]:
    """`coordinator.list(principal)`; for a bank on one chain only (no coordinator), none, after the
    same check of who may ask."""
    if coordinator is None:
        principal.require(*SWAP_READERS)
        return []
    return coordinator.list(principal)


__all__ = ["Chain", "HtlcCoordinator", "swaps"]
