"""One bank as the services see it: its deployed tokens and registry, its database, keystore and
operational keys, one outbox per sending key, the transfer service and the indexer.

Every chain transaction a service asks for goes through `Bank.enqueue`: it is estimated first (so a
call that would revert is refused at once with the decoded custom error, and nothing is stored), then
written as an outbox intent inside the caller's database transaction, next to the row that explains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pycountry
from eth_typing import ChecksumAddress
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError

from wallet.chain.addresses import checksum
from wallet.chain.confirmations import mined_state
from wallet.chain.deploy import Manifest
from wallet.chain.eip3009 import TokenDomain
from wallet.chain.revert import ErrorDecoder
from wallet.chain.transact import revert_data, revert_errors
from wallet.db.engine import readonly
from wallet.db.models import ChainTx, IndexerCursor, KycProfile, User, aware
from wallet.errors import ContractRevertError, NotFoundError, UnknownCurrencyError
from wallet.keys.base import Signer
from wallet.ledger.indexer import ZERO_ADDRESS, Indexer, IndexerConfig
from wallet.ledger.reconcile import holder_balance
from wallet.money import currency as iso_currency
from wallet.tx.outbox import Listeners, Outbox, OutboxConfig
from wallet.tx.settlements import SettlementService
from wallet.tx.transfers import TokenInfo, TransferService
from wallet.vocabulary import EntryState, TxStatus

REDEMPTION_KYC = "kyc-redemption"  # the outbox kind of the redemption address's registration

# The roles that send transactions, each from its own key and outbox.
SENDING_ROLES = ("relayer", "minter", "burner", "admin", "compliance")
ROLE_NAMES = {
    "minter": "MINTER_ROLE",
    "burner": "BURNER_ROLE",
    "pauser": "PAUSER_ROLE",
    "compliance": "COMPLIANCE_ROLE",
    "admin": "DEFAULT_ADMIN_ROLE",
}


@dataclass(frozen=True)
class Token:
    """One deposit token of the bank."""

    currency: str
    address: ChecksumAddress
    decimals: int
    name: str
    contract: Contract


@dataclass(frozen=True)
class BankConfig:
    """Policy the services apply."""

    confirmations: int = 2
    totp_transfer_threshold: int = 1000  # major units of the transfer's currency
    approval_threshold: int = 1_000_000  # major units: a larger mint or burn needs a second operator
    kyc_jurisdiction: int = 840
    kyc_valid_seconds: int = 365 * 24 * 3600
    batch_size: int = 100
    max_fee_per_gas: int | None = 500 * 10**9  # wei; see OutboxConfig
    address: tuple[str, ...] = ()  # the bank's postal address, printed on statements
    bic: str | None = None


class Bank:
    """The bank's chain objects, database and keys, shared by every service."""

    def __init__(
        self,
        *,
        w3: Web3,
        sessions: sessionmaker[Session],
        manifest: Manifest,
        abis: Mapping[str, list[dict[str, Any]]],
        role_signers: Mapping[str, Signer],
        customer_signer: Callable[[str], Signer],
        config: BankConfig | None = None,
        stuck_after: float = 30.0,
        durable_block: Callable[[int], int] | None = None,
    ) -> None:
        self.w3 = w3
        self.sessions = sessions
        self.readers = readonly(sessions)
        self.manifest = manifest
        self.config = config or BankConfig()
        self.durable_block = durable_block
        self.chain_id = manifest.chain_id
        self.decoder = ErrorDecoder(abis.values())
        self.registry = w3.eth.contract(address=manifest.registry.address, abi=abis["ComplianceRegistry"])
        self.audit_anchor = (
            w3.eth.contract(address=manifest.audit_anchor.address, abi=abis["AuditAnchor"])
            if manifest.audit_anchor is not None
            else None
        )
        self.tokens = {
            code: Token(
                currency=code,
                address=t.address,
                decimals=t.decimals,
                name=t.name,
                contract=w3.eth.contract(address=t.address, abi=abis["DepositToken"]),
            )
            for code, t in manifest.tokens.items()
        }
        self._by_address = {t.address: t for t in self.tokens.values()}
        # The central bank's settlement tokens the bank holds (its positions with other banks).
        self.wholesale = {
            code: Token(
                currency=code,
                address=t.address,
                decimals=t.decimals,
                name=t.name,
                contract=w3.eth.contract(address=t.address, abi=abis["DepositToken"]),
            )
            for code, t in manifest.wholesale.items()
        }
        self.role_signers = dict(role_signers)
        self.customer_signer = customer_signer  # the custodial key of a customer's address
        self.transfers = TransferService(
            sessions,
            w3,
            {
                t.address: TokenInfo(
                    domain=self.domain(t),
                    abi=abis["DepositToken"],
                )
                for t in self.tokens.values()
            },
            customer_signer,
            decoder=self.decoder,
            batch_size=self.config.batch_size,
        )
        # The chain's settlement contract, when the manifest names one: conversions and payments
        # between banks settle there, relayed by the relayer's key.
        self.settlements: SettlementService | None = None
        if manifest.settlement is not None:
            self.settlements = SettlementService(
                sessions,
                w3.eth.contract(address=manifest.settlement.address, abi=abis["AtomicSettlement"]),
                enqueue=lambda session, call: self.enqueue(session, "relayer", call, kind="settlement"),
            )
        relayed: list[Any] = [self.transfers, *([self.settlements] if self.settlements else [])]
        outbox_config = OutboxConfig(
            confirmations=self.config.confirmations,
            stuck_after=stuck_after,
            max_fee_per_gas=self.config.max_fee_per_gas,
        )
        self.outboxes = {
            role: Outbox(
                sessions,
                w3,
                role_signers[role],
                decoder=self.decoder,
                listener=Listeners(*relayed) if role == "relayer" else None,
                config=outbox_config,
                durable_block=durable_block,
            )
            for role in SENDING_ROLES
        }
        self.indexer = Indexer(
            sessions,
            w3,
            [
                manifest.registry.address,
                *(t.address for t in self.tokens.values()),
                *(t.address for t in self.wholesale.values()),
            ],
            IndexerConfig(confirmations=self.config.confirmations, start_block=manifest.start_block),
            abis=abis.values(),
            durable_block=durable_block,
        )

    def is_final(self, block_number: int, head: int) -> bool:
        """Whether a transaction mined in `block_number` is final at `head`, as the outbox judges its
        own: the configured confirmations, and in a chain state a crash cannot take back."""
        state = mined_state(block_number, head, self.config.confirmations, self.durable_block)
        return state == EntryState.FINAL

    # ---------------------------------------------------------------------------------- tokens ---

    def token(self, code: str) -> Token:
        """The bank's token in currency `code`; `UnknownCurrencyError` when it has none."""
        token = self.tokens.get(code)
        if token is None:
            iso_currency(code)  # an unknown code gets the ISO message
            raise UnknownCurrencyError(code)
        return token

    def token_at(self, address: str) -> Token:
        """The bank's token at `address`."""
        known = checksum(address)
        token = self._by_address.get(known) if known else None
        if token is None:
            raise NotFoundError("token", address)
        return token

    def domain(self, token: Token) -> TokenDomain:
        """The EIP-712 domain `token`'s authorizations are signed in (ours or a wholesale token)."""
        return TokenDomain(name=token.name, chain_id=self.chain_id, address=token.address)

    def role_address(self, role: str) -> ChecksumAddress:
        """The address of an operational key."""
        return self.role_signers[role].address

    # ---------------------------------------------------------------------------- transactions ---

    def enqueue(self, session: Session, role: str, call: Any, *, kind: str) -> ChainTx:
        """Estimates `call` from `role`'s key, then writes it as an intent of that key's outbox inside
        `session`'s transaction. A call that would revert raises `ContractRevertError` and stores
        nothing."""
        data = _calldata(call)
        gas = self._estimate(role, call.address, data)
        return self.outboxes[role].enqueue(
            session, kind=kind, to=call.address, data=data, gas_limit=gas * 5 // 4 + 10_000
        )

    def estimate(self, role: str, call: Any) -> int:
        """The gas `call` needs from `role`'s key now; a call that would revert raises
        `ContractRevertError` with the decoded custom error."""
        return self._estimate(role, call.address, _calldata(call))

    def _estimate(self, role: str, to: str, data: bytes) -> int:
        refusals: tuple[type[Exception], ...] = (*revert_errors(), Web3RPCError)
        try:
            return int(self.w3.eth.estimate_gas({"from": self.outboxes[role].sender, "to": to, "data": data}))
        except refusals as exc:
            raw = revert_data(exc)
            if not raw and isinstance(exc, Web3RPCError):
                raise
            name, args = self.decoder.decode(raw)
            raise ContractRevertError(name, args, raw=raw) from None

    def enqueue_kyc(
        self, session: Session, address: str, *, kind: str = "kyc", user: User | None = None
    ) -> ChainTx:
        """Registers `address` as KYC-verified through the compliance key's outbox, inside `session`'s
        transaction: until `user`'s verification expires and in their country of residence (ISO 3166
        numeric), or for the configured validity and jurisdiction when those are not known."""
        expiry = int(time.time()) + self.config.kyc_valid_seconds
        jurisdiction = self.config.kyc_jurisdiction
        if user is not None and user.kyc_expires_at is not None:
            expiry = int(aware(user.kyc_expires_at).timestamp())
        if user is not None:
            profile = session.get(KycProfile, user.id)
            country = pycountry.countries.get(alpha_2=profile.residence_country) if profile else None
            if country is not None:
                jurisdiction = int(country.numeric)
        call = self.registry.functions.setKyc(address, expiry, jurisdiction)
        return self.enqueue(session, "compliance", call, kind=kind)

    def enqueue_anchor(self, session: Session, seq: int, head: str) -> ChainTx:
        """Publishes the audit log's record `seq` and its hash on chain, from the compliance key."""
        if self.audit_anchor is None:
            raise NotFoundError("audit anchor contract", self.manifest.bank_name)
        call = self.audit_anchor.functions.anchor(seq, bytes.fromhex(head))
        return self.enqueue(session, "compliance", call, kind="audit-anchor")

    def register_redemption_address(self) -> ChainTx | None:
        """Customers redeem by paying the burner's address, so the registry must allow it to hold
        tokens. When the registry has never seen that address (a fresh deployment) and no registration
        is on its way, the compliance key's outbox gets one; returns it. An address the registry knows
        is left as compliance set it: a revoked or blocked redemption address is a decision, not a gap."""
        burner = self.role_address("burner")
        verified, blocked, expiry, jurisdiction = self.registry.functions.statusOf(burner).call()
        if verified or blocked or expiry or jurisdiction:
            return None
        with self.sessions.begin() as session:
            underway = session.scalar(
                select(ChainTx.id)
                .where(ChainTx.kind == REDEMPTION_KYC, ChainTx.status != TxStatus.FAILED)
                .limit(1)
            )
            if underway is not None:
                return None
            return self.enqueue_kyc(session, burner, kind=REDEMPTION_KYC)

    def chain_tx(self, tx_id: str | None) -> ChainTx | None:
        """The outbox row `tx_id`."""
        if tx_id is None:
            return None
        with self.readers() as session:
            return session.get(ChainTx, tx_id)

    # ---------------------------------------------------------------------------------- ledger ---

    def mirrored_balance(self, token: str, holder: str) -> tuple[int, int | None]:
        """(balance of `holder` in `token` from the mirror, the block the mirror is at)."""
        with self.readers() as session:
            total = holder_balance(session, self.chain_id, token, holder)
        return total, self.mirror_block()

    def mirror_block(self) -> int | None:
        """The block the ledger mirror has reached (None before the first step)."""
        with self.readers() as session:
            cursor = session.get(IndexerCursor, self.chain_id)
        return cursor.block_number if cursor else None

    def names(self) -> dict[str, str]:
        """Display names of the bank's own addresses, for statements."""
        bank = self.manifest.bank_name
        names = {ZERO_ADDRESS: f"{bank} issuance (mint and burn)"}
        for role, signer in self.role_signers.items():
            names.setdefault(signer.address, f"{bank} {role}")
        return names


def _calldata(call: Any) -> bytes:
    return bytes.fromhex(call._encode_transaction_data()[2:])
