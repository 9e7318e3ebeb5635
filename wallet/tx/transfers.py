"""Customer transfers by EIP-3009 authorization, relayed in batches through the outbox.

`submit` signs the customer's authorization with a nonce derived from the idempotency key and stores
it; the same key with the same body returns the stored request, with another body it is refused. The
relayer (`relay`) packs pending authorizations of one token into one `batchTransferWithAuthorization`
intent. When the batch is mined, each authorization's own outcome is read from the receipt:
`AuthorizationUsed` marks its request executed, `AuthorizationFailed` marks it failed with the decoded
error. A batch that fails as a whole puts its requests back to pending: their authorizations were not
used, so a retry cannot move money twice. A reorg puts them back to queued until the batch is mined
again.

An authorization is public once the batch is broadcast: anyone may copy it and submit it first. The
money then moves as the customer signed, and the batch reports `DepositTokenAuthorizationAlreadyUsed`.
That is not a failure: the original `AuthorizationUsed` log is looked up, and the request is executed
by the transaction that emitted it (`executed_tx_hash`). It was mined before the batch, in the same
chain, so the batch's confirmations cover it. A canceled authorization has no such log and stays failed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.types import TxReceipt

from wallet import logs
from wallet.chain.addresses import checksum
from wallet.chain.eip3009 import ZERO_REFERENCE, TokenDomain, nonce_from_key, sign_transfer_authorization
from wallet.chain.revert import ErrorDecoder, jsonable_args
from wallet.db.engine import readonly
from wallet.db.models import ChainTx, Event, TransferRequest
from wallet.errors import TransferError
from wallet.idempotency import insert_or_replay, request_hash
from wallet.keys.base import Signature, Signer
from wallet.tx.outbox import Outbox
from wallet.vocabulary import RequestStatus, TransferState

AUTHORIZATION_TUPLE = "(address,address,uint256,uint256,uint256,bytes32,bytes32,uint8,bytes32,bytes32)"
BATCH_SELECTOR = keccak(text=f"batchTransferWithAuthorization({AUTHORIZATION_TUPLE}[])")[:4]
AUTHORIZATION_USED = keccak(text="AuthorizationUsed(address,bytes32)")
AUTHORIZATION_FAILED = keccak(text="AuthorizationFailed(address,bytes32,bytes)")
BATCH_BASE_GAS = 80_000
LOOKBACK_BLOCKS = 2_000  # the block range of one search for an authorization someone else executed
BATCH_GAS_PER_AUTHORIZATION = 70_000  # measured ~42,400 by `tdw bench gas`; the rest is headroom


@dataclass(frozen=True)
class TokenInfo:
    """What the relayer needs to know about one deposit token."""

    domain: TokenDomain
    abi: list[dict[str, Any]]


class TransferService:
    """Signs, stores and relays customer transfers; is the outbox's listener for its batches."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        tokens: Mapping[str, TokenInfo],
        payer_signer: Callable[[str], Signer],
        *,
        decoder: ErrorDecoder,
        batch_size: int = 100,
        validity_seconds: int = 24 * 3600,
    ) -> None:
        self._sessions = sessions
        self._readers = readonly(sessions)
        self.w3 = w3
        self.tokens = {to_checksum_address(a): info for a, info in tokens.items()}
        self._payer_signer = payer_signer
        self.decoder = decoder
        self.batch_size = batch_size
        self.validity_seconds = validity_seconds

    # ----------------------------------------------------------------------------- submitting ---

    def submit(
        self,
        *,
        idempotency_key: str,
        token: str,
        payer: str,
        payee: str,
        value: int,
        payment_reference: bytes = ZERO_REFERENCE,
        owner_id: str | None = None,
        memo: str | None = None,
    ) -> TransferRequest:
        """Stores a signed transfer request, or returns the one stored under `idempotency_key`.

        `owner_id` (who asked) and `memo` (free text, kept off chain) are stored with it; the memo is part
        of the request body that the idempotency key pins."""
        request, _ = self.submit_or_get(
            idempotency_key=idempotency_key,
            token=token,
            payer=payer,
            payee=payee,
            value=value,
            payment_reference=payment_reference,
            owner_id=owner_id,
            memo=memo,
        )
        return request

    def submit_or_get(
        self,
        *,
        idempotency_key: str,
        token: str,
        payer: str,
        payee: str,
        value: int,
        payment_reference: bytes = ZERO_REFERENCE,
        owner_id: str | None = None,
        memo: str | None = None,
        guard: Callable[[Session, TransferRequest], None] | None = None,
    ) -> tuple[TransferRequest, bool]:
        """`submit`, and whether the request was stored now (False: the key's earlier request).

        `guard(session, request)` runs inside the transaction that stores the request, before it is
        added: an error it raises stores nothing (the payer's funds check and the transfer policy, which
        must see every request stored before it). It may hold the request (`status` `held`): a held
        request is not relayed until a compliance officer releases it."""
        token_address = self._token(token)
        payer_address = _address(payer, "payer")
        payee_address = _address(payee, "payee")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TransferError(f"the amount must be a positive integer of minor units, not {value!r}")
        if len(payment_reference) != 32:
            raise TransferError("a payment reference is 32 bytes")
        if not idempotency_key or len(idempotency_key) > 200:
            raise TransferError("an idempotency key of 1 to 200 characters is required")
        if memo is not None and len(memo) > 140:
            raise TransferError("a memo is at most 140 characters")
        body = {
            "token": token_address,
            "payer": payer_address,
            "payee": payee_address,
            "value": str(value),
            "reference": payment_reference.hex(),
        }
        if memo:
            body["memo"] = memo  # only when given, so hashes of requests stored before memos stay valid
        body_hash = request_hash(body)

        # Optimistic: sign and insert; a repeated key hits the unique constraint and gets the stored
        # request back. One database transaction in the common case instead of a look-up and an insert.
        signer = self._payer_signer(payer_address)
        if signer.address != payer_address:
            raise TransferError(f"the key for {payer_address} signs as {signer.address}")
        nonce = nonce_from_key(payer_address, idempotency_key)
        valid_before, signature = self._sign(
            signer, token_address, payee_address, value, nonce, payment_reference
        )
        request = TransferRequest(
            id=uuid.uuid4().hex,
            idempotency_key=idempotency_key,
            request_hash=body_hash,
            token=token_address,
            payer=payer_address,
            payee=payee_address,
            value=value,
            payment_reference=payment_reference,
            valid_before=valid_before,
            auth_nonce=nonce,
            signature=signature,
            status=RequestStatus.PENDING,
            owner_id=owner_id,
            memo=memo or None,
            request_id=logs.request_id(),
        )

        # The key was used before (or by a concurrent submit): the stored request is the answer.
        def insert(session: Session) -> TransferRequest:
            if guard is not None:
                guard(session, request)
            session.add(request)
            return request

        return insert_or_replay(
            self._sessions,
            insert,
            lambda: self._by_key(idempotency_key),
            body_hash=body_hash,
            key=idempotency_key,
        )

    def resign(self, request: TransferRequest) -> None:
        """Signs a held request's authorization again, valid from now: it waited for a compliance
        officer, perhaps longer than its first signature was valid. The nonce stays, so the transfer
        can still execute at most once; the first signature was never published (held requests are not
        relayed)."""
        if request.status != RequestStatus.HELD:
            raise TransferError(f"only a held transfer is signed again, not a {request.status} one")
        request.valid_before, request.signature = self._sign(
            self._payer_signer(request.payer),
            to_checksum_address(request.token),
            to_checksum_address(request.payee),
            request.value,
            bytes(request.auth_nonce),
            bytes(request.payment_reference),
        )

    def _sign(
        self,
        signer: Signer,
        token: ChecksumAddress,
        payee: ChecksumAddress,
        value: int,
        nonce: bytes,
        payment_reference: bytes,
    ) -> tuple[int, bytes]:
        """(valid_before, signature) of the payer's authorization, valid from now for
        `validity_seconds`."""
        valid_before = int(time.time()) + self.validity_seconds
        auth = sign_transfer_authorization(
            signer,
            self.tokens[token].domain,
            to=payee,
            value=value,
            valid_after=0,
            valid_before=valid_before,
            nonce=nonce,
            payment_reference=payment_reference,
        )
        return valid_before, auth.signature.to_bytes()

    def get(self, request_id: str) -> TransferRequest | None:
        """The request with `request_id`."""
        with self._readers() as session:
            return session.get(TransferRequest, request_id)

    def by_key(self, idempotency_key: str) -> TransferRequest | None:
        """The request stored under `idempotency_key`, if any."""
        return self._by_key(idempotency_key)

    def _by_key(self, idempotency_key: str) -> TransferRequest | None:
        with self._readers() as session:
            return session.scalars(
                select(TransferRequest).where(TransferRequest.idempotency_key == idempotency_key)
            ).one_or_none()

    def _token(self, token: str) -> ChecksumAddress:
        address = _address(token, "token")
        if address not in self.tokens:
            raise TransferError(f"{address} is not a deposit token of this bank")
        return address

    # -------------------------------------------------------------------------------- relaying ---

    def relay(self, outbox: Outbox) -> ChainTx | None:
        """Packs up to `batch_size` pending requests of one token into one batch intent; None if idle."""
        try:
            return self._relay(outbox)
        except _ContendedError:
            return None  # another relayer took some of the same requests; the next pass retries

    def _relay(self, outbox: Outbox) -> ChainTx | None:
        with self._sessions.begin() as session:
            oldest = session.scalars(
                select(TransferRequest.token)
                .where(TransferRequest.status == RequestStatus.PENDING)
                .order_by(TransferRequest.created_at)
                .limit(1)
            ).first()
            if oldest is None:
                return None
            query = (
                select(TransferRequest)
                .where(TransferRequest.status == RequestStatus.PENDING, TransferRequest.token == oldest)
                .order_by(TransferRequest.created_at)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            requests = list(session.scalars(query))
            if not requests:
                return None
            data = batch_calldata([_as_struct(r) for r in requests])
            tx = outbox.enqueue(
                session,
                kind="authorization_batch",
                to=oldest,
                data=data,
                gas_limit=BATCH_BASE_GAS + BATCH_GAS_PER_AUTHORIZATION * len(requests),
                request_ids=sorted({r.request_id for r in requests if r.request_id}),
            )
            claimed = session.execute(
                update(TransferRequest)
                .where(
                    TransferRequest.id.in_([r.id for r in requests]),
                    TransferRequest.status == RequestStatus.PENDING,
                )
                .values(status=RequestStatus.QUEUED, chain_tx_id=tx.id)
            ).rowcount  # type: ignore[attr-defined]
            if claimed != len(requests):
                raise _ContendedError  # rolls back the intent and its nonce with everything else
        return tx

    # ------------------------------------------------------------------------ outbox listener ---

    def included(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        """Marks each request of a mined batch executed or failed, from the batch's own events."""
        if tx.kind != "authorization_batch":
            return
        requests = {
            (r.payer, bytes(r.auth_nonce)): r
            for r in session.scalars(select(TransferRequest).where(TransferRequest.chain_tx_id == tx.id))
        }
        for entry in receipt["logs"]:
            if (
                to_checksum_address(entry["address"]) != to_checksum_address(tx.to_address)
                or not entry["topics"]
            ):
                continue
            topic = bytes(entry["topics"][0])
            if topic not in (AUTHORIZATION_USED, AUTHORIZATION_FAILED):
                continue
            authorizer = to_checksum_address(bytes(entry["topics"][1])[-20:])
            request = requests.get((authorizer, bytes(entry["topics"][2])))
            if request is None:
                continue
            if topic == AUTHORIZATION_USED:
                request.status, request.error_name, request.error_args = RequestStatus.EXECUTED, None, None
                request.executed_tx_hash = request.executed_block = None
                continue
            (reason,) = decode(["bytes"], bytes(entry["data"]))
            name, args = self.decoder.decode(reason)
            used = (
                self._used_elsewhere(tx.to_address, request, int(receipt["blockNumber"]))
                if name == "DepositTokenAuthorizationAlreadyUsed"
                else None
            )
            if used is not None:
                request.status, request.error_name, request.error_args = RequestStatus.EXECUTED, None, None
                request.executed_tx_hash, request.executed_block = used
            else:
                request.status, request.error_name = RequestStatus.FAILED, name
                request.error_args = jsonable_args(args)

    def _used_elsewhere(self, token: str, request: TransferRequest, before: int) -> tuple[str, int] | None:
        """The transaction and block of the `AuthorizationUsed` log of `request`'s authorization, searched
        backwards from block `before` to the block the authorization was signed in; None if there is none
        (it was canceled)."""
        signed_at = request.valid_before - self.validity_seconds
        topics = [
            "0x" + AUTHORIZATION_USED.hex(),
            "0x" + bytes.fromhex(request.payer[2:]).rjust(32, b"\0").hex(),
            "0x" + bytes(request.auth_nonce).hex(),
        ]
        high = before
        while high >= 0:
            low = max(0, high - LOOKBACK_BLOCKS + 1)
            logs = self.w3.eth.get_logs(
                {"address": to_checksum_address(token), "topics": topics, "fromBlock": low, "toBlock": high}
            )
            if logs:
                found = logs[-1]
                return "0x" + bytes(found["transactionHash"]).hex(), int(found["blockNumber"])
            if low == 0 or int(self.w3.eth.get_block(low)["timestamp"]) < signed_at:
                return None
            high = low - 1
        return None

    def rolled_back(self, session: Session, tx: ChainTx) -> None:
        """A reorg took the batch out: its requests wait for it again, and each customer who was told
        more is told at once that the transfer is `submitted` again (the event pump looks no further
        at a transfer it reported final, and would miss a short trip back)."""
        told = session.execute(
            select(TransferRequest.id, TransferRequest.owner_id, TransferRequest.notified_state).where(
                TransferRequest.chain_tx_id == tx.id,
                TransferRequest.notified_state.in_(
                    (TransferState.EXECUTED, TransferState.CONFIRMED, TransferState.FINAL)
                ),
            )
        ).all()
        for request_id, owner_id, was in told:
            if owner_id is not None:
                session.add(
                    Event(
                        user_id=owner_id,
                        type="transfer.state",
                        payload={
                            "transfer_id": request_id,
                            "state": TransferState.SUBMITTED,
                            "previous_state": was,
                            "reason": "reorg",
                            "tx_hash": None,
                            "block_number": None,
                        },
                    )
                )
        if told:
            session.execute(
                update(TransferRequest)
                .where(TransferRequest.id.in_([request_id for request_id, _, _ in told]))
                .values(notified_state=TransferState.SUBMITTED)
            )
        session.execute(
            update(TransferRequest)
            .where(TransferRequest.chain_tx_id == tx.id)
            .values(
                status=RequestStatus.QUEUED,
                error_name=None,
                error_args=None,
                executed_tx_hash=None,
                executed_block=None,
            )
        )

    def failed(self, session: Session, tx: ChainTx) -> None:
        """The batch as a whole failed; no authorization in it was used, so they go back to pending."""
        session.execute(
            update(TransferRequest)
            .where(TransferRequest.chain_tx_id == tx.id, TransferRequest.status == RequestStatus.QUEUED)
            .values(status=RequestStatus.PENDING, chain_tx_id=None)
        )

    def final(self, session: Session, tx: ChainTx) -> None:
        """Nothing to do: the event pump tells customers their transfers' final state."""


class _ContendedError(Exception):
    """Raised inside `relay`'s transaction to undo it when another relayer claimed the same requests."""


def batch_calldata(structs: list[tuple[Any, ...]]) -> bytes:
    """Calldata of `batchTransferWithAuthorization(structs)`. Encoded with eth-abi directly: web3's
    `encode_abi` validates every field of every struct and costs ~1.5 ms per authorization."""
    return BATCH_SELECTOR + encode([f"{AUTHORIZATION_TUPLE}[]"], [structs])


def _address(value: str, what: str) -> ChecksumAddress:
    address = checksum(value)
    if address is None:
        raise TransferError(f"the {what} {value!r} is not an Ethereum address")
    return address


def _as_struct(r: TransferRequest) -> tuple[Any, ...]:
    sig = Signature(v=r.signature[64], r=r.signature[:32], s=r.signature[32:64])
    return (
        r.payer,
        r.payee,
        r.value,
        0,
        r.valid_before,
        bytes(r.auth_nonce),
        bytes(r.payment_reference),
        sig.v,
        sig.r,
        sig.s,
    )
