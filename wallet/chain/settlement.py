"""Atomic settlement and hash time-locks on chain: the ids, nonces and signatures the contracts in
`contracts/settlement/` check, computed here the same way, and their deployment.

A settlement (`Terms`) is a set of legs (token, payer, payee, value), a deadline and the parties'
reference. Its id is the EIP-712 hash of the terms in the settlement contract's domain (name
"tdw Atomic Settlement", version "1", the chain id, the contract's address), so an id never means
anything on another chain or to another contract. Each payer signs an EIP-3009
`ReceiveWithAuthorization` to the settlement contract for its leg, valid before the deadline, with
nonce `keccak256(abi.encode(id, index))`: the signature is good for that one set of legs and no other,
so nobody can take a leg without the legs that pay for it.

A lock (`LockTerms`) of the hashed time-lock contract is likewise an EIP-712 hash in its domain, and the
payer's `ReceiveWithAuthorization` to the contract uses the lock id as its nonce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3

from wallet.chain.compiler import Compilation
from wallet.chain.deploy import DeployedContract, deploy_contract
from wallet.chain.eip3009 import TokenDomain, authorization_digest, typed_digest
from wallet.chain.transact import Transactor
from wallet.keys.base import Signature, Signer

SETTLEMENT_NAME = "tdw Atomic Settlement"
TIMELOCK_NAME = "tdw Hashed Timelock"
_LEG = "Leg(address token,address from,address to,uint256 value)"
LEG_TYPEHASH = keccak(text=_LEG)
SETTLEMENT_TYPEHASH = keccak(text="Settlement(bytes32 ref,Leg[] legs,uint256 deadline)" + _LEG)
CANCEL_TYPEHASH = keccak(text="CancelSettlement(bytes32 id)")
TERMS_TYPEHASH = keccak(
    text="Terms(address token,address sender,address receiver,uint256 value,bytes32 hashlock,"
    "uint256 timelock,bytes32 ref)"
)


@dataclass(frozen=True, slots=True)
class Leg:
    """`value` minor units of `token` from `payer` to `payee`."""

    token: ChecksumAddress
    payer: ChecksumAddress
    payee: ChecksumAddress
    value: int

    def as_tuple(self) -> tuple[str, str, str, int]:
        return (self.token, self.payer, self.payee, self.value)


@dataclass(frozen=True, slots=True)
class Terms:
    """A settlement: its legs, moved all or none before `deadline` (unix seconds), and a reference."""

    ref: bytes
    legs: tuple[Leg, ...]
    deadline: int

    def as_tuple(self) -> tuple[bytes, list[tuple[str, str, str, int]], int]:
        """The contract's `Settlement` struct for the ABI encoder."""
        return (self.ref, [leg.as_tuple() for leg in self.legs], self.deadline)


@dataclass(frozen=True, slots=True)
class LockTerms:
    """A hash time-lock: `value` of `token` from `sender` to `receiver`, claimable with the secret whose
    SHA-256 is `hashlock` before `timelock`, refundable after."""

    token: ChecksumAddress
    sender: ChecksumAddress
    receiver: ChecksumAddress
    value: int
    hashlock: bytes
    timelock: int
    ref: bytes

    def as_tuple(self) -> tuple[str, str, str, int, bytes, int, bytes]:
        return (self.token, self.sender, self.receiver, self.value, self.hashlock, self.timelock, self.ref)


def settlement_domain(chain_id: int, address: ChecksumAddress) -> TokenDomain:
    """The EIP-712 domain of a settlement contract."""
    return TokenDomain(name=SETTLEMENT_NAME, chain_id=chain_id, address=address)


def timelock_domain(chain_id: int, address: ChecksumAddress) -> TokenDomain:
    """The EIP-712 domain of a hash time-lock contract."""
    return TokenDomain(name=TIMELOCK_NAME, chain_id=chain_id, address=address)


def settlement_id(domain: TokenDomain, terms: Terms) -> bytes:
    """The settlement's id: what the contract's `settlementId` returns."""
    legs = b"".join(
        keccak(
            encode(["bytes32", "address", "address", "address", "uint256"], [LEG_TYPEHASH, *leg.as_tuple()])
        )
        for leg in terms.legs
    )
    struct = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256"],
            [SETTLEMENT_TYPEHASH, terms.ref, keccak(legs), terms.deadline],
        )
    )
    return typed_digest(domain, struct)


def leg_nonce(settlement: bytes, index: int) -> bytes:
    """The EIP-3009 nonce of leg `index` of a settlement."""
    return keccak(encode(["bytes32", "uint256"], [settlement, index]))


def sign_receive(
    signer: Signer, token: TokenDomain, *, to: ChecksumAddress, value: int, valid_before: int, nonce: bytes
) -> Signature:
    """`signer`'s EIP-3009 `ReceiveWithAuthorization` of `value` to the contract `to` (only it may use
    it), valid from the start until `valid_before`: how the settlement contracts pull a payer's tokens."""
    message = {
        "from": signer.address,
        "to": to,
        "value": value,
        "validAfter": 0,
        "validBefore": valid_before,
        "nonce": nonce,
    }
    return signer.sign_hash(authorization_digest(token, "ReceiveWithAuthorization", message))


def sign_leg(
    signer: Signer, token: TokenDomain, settlement: TokenDomain, terms: Terms, index: int
) -> Signature:
    """The payer's signature of leg `index`: a `ReceiveWithAuthorization` to the settlement contract."""
    leg = terms.legs[index]
    if leg.payer != signer.address or leg.token != token.address:
        raise ValueError(f"leg {index} is not {signer.address}'s in {token.address}")
    nonce = leg_nonce(settlement_id(settlement, terms), index)
    return sign_receive(
        signer, token, to=settlement.address, value=leg.value, valid_before=terms.deadline, nonce=nonce
    )


def sign_cancel(signer: Signer, settlement: TokenDomain, terms: Terms) -> Signature:
    """A payer's cancellation of a settlement (`CancelSettlement(bytes32 id)` in the contract's domain)."""
    struct = keccak(encode(["bytes32", "bytes32"], [CANCEL_TYPEHASH, settlement_id(settlement, terms)]))
    return signer.sign_hash(typed_digest(settlement, struct))


def lock_id(domain: TokenDomain, terms: LockTerms) -> bytes:
    """The lock's id: what the contract's `lockId` returns."""
    struct = keccak(
        encode(
            ["bytes32", "address", "address", "address", "uint256", "bytes32", "uint256", "bytes32"],
            [TERMS_TYPEHASH, *terms.as_tuple()],
        )
    )
    return typed_digest(domain, struct)


def sign_lock(signer: Signer, token: TokenDomain, timelock: TokenDomain, terms: LockTerms) -> Signature:
    """The sender's `ReceiveWithAuthorization` to the time-lock contract for `terms`."""
    if terms.sender != signer.address or terms.token != token.address:
        raise ValueError(f"the lock is not {signer.address}'s in {token.address}")
    return sign_receive(
        signer,
        token,
        to=timelock.address,
        value=terms.value,
        valid_before=terms.timelock,
        nonce=lock_id(timelock, terms),
    )


def hashlock_of(secret: bytes) -> bytes:
    """The hashlock of a 32-byte secret (SHA-256, as the contract checks it)."""
    if len(secret) != 32:
        raise ValueError("a secret is 32 bytes")
    return hashlib.sha256(secret).digest()


def signature_tuple(signature: Signature) -> tuple[int, bytes, bytes]:
    """A signature as the contracts' `Signature` struct."""
    return (signature.v, signature.r, signature.s)


SETTLEMENT_CONTRACTS = ("AtomicSettlement", "HashedTimelock")


def deploy_settlement(
    w3: Web3, transactor: Transactor, compilation: Compilation, names: Sequence[str] = SETTLEMENT_CONTRACTS
) -> dict[str, DeployedContract]:
    """Deploys the settlement contracts (no constructor arguments, no owner); their entries by name."""
    return {name: deploy_contract(w3, transactor, compilation, name) for name in names}


__all__ = [
    "Leg",
    "LockTerms",
    "Terms",
    "deploy_settlement",
    "hashlock_of",
    "leg_nonce",
    "lock_id",
    "settlement_domain",
    "settlement_id",
    "sign_cancel",
    "sign_leg",
    "sign_lock",
    "sign_receive",
    "signature_tuple",
    "timelock_domain",
]
