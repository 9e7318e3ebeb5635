"""Atomic settlements the bank submits: a set of signed legs (`wallet.chain.settlement`) stored with the
row that explains them, sent by the relayer's outbox as one `settle` transaction, and followed to the
end.

`store` writes a settlement and its legs inside the caller's database transaction (the caller has
judged it: funds, standing, the quote it carries out). `relay` turns each pending settlement whose
legs are all signed into an outbox intent, in the same database transaction that marks it submitted,
so a crash leaves it either pending (sent later) or submitted (the outbox resumes it); never both,
never twice. The call is estimated first: one the contract would refuse now (a payer frozen since it
was stored, say) fails at once with the decoded error and moves nothing. A settlement still pending
at its deadline fails as `SettlementExpired` without being sent.

As the outbox's listener, it follows the `settle` transaction: mined, the settlement is `settled`
(every leg moved); taken out by a reorg, back to `submitted` until it is mined again (the outbox
rebroadcasts the same bytes, and the contract settles an id once); reverted, `failed` (nothing moved:
the contract is all or nothing). A settlement that carries out an FX quote moves the quote with it.
Its owner is told each change on the event stream (`settlement.state`).

While a settlement is pending or on its way, each leg's value is spoken for in its payer's available
balance (`wallet.bank.door`), and released when it fails.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from web3.contract import Contract
from web3.types import TxReceipt

from wallet.chain.revert import jsonable_args
from wallet.chain.settlement import Leg, Terms, settlement_domain, settlement_id, signature_tuple
from wallet.db.engine import readonly
from wallet.db.models import ChainTx, Event, FxQuote, Settlement, SettlementLeg
from wallet.errors import ContractRevertError
from wallet.keys.base import Signature
from wallet.vocabulary import QuoteState, SettlementStatus, TxStatus

log = logging.getLogger(__name__)

KIND = "settlement"  # the outbox kind of a `settle` transaction
EVENT = "settlement.state"

# The settlement's state, and what becomes of the FX quote it carries out.
_QUOTE_STATE = {
    SettlementStatus.SETTLED: QuoteState.SETTLED,
    SettlementStatus.FAILED: QuoteState.FAILED,
    SettlementStatus.SUBMITTED: QuoteState.ACCEPTED,
}

Enqueue = Callable[[Session, Any], ChainTx]


class SettlementService:
    """Stores, relays and follows the bank's atomic settlements on one settlement contract."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        contract: Contract,
        *,
        enqueue: Enqueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._readers = readonly(sessions)
        self.contract = contract
        self.domain = settlement_domain(contract.w3.eth.chain_id, contract.address)
        self._enqueue = enqueue
        self.clock = clock

    # -------------------------------------------------------------------------------- storing ---

    def store(
        self,
        session: Session,
        *,
        kind: str,
        idempotency_key: str,
        request_hash: str,
        terms: Terms,
        signatures: Sequence[Signature | None],
        owner_id: str | None = None,
        quote_id: str | None = None,
    ) -> Settlement:
        """Adds a settlement of `terms` with each leg's signature (None: not signed yet) to `session`."""
        if len(signatures) != len(terms.legs):
            raise ValueError(f"{len(signatures)} signatures for {len(terms.legs)} legs")
        row = Settlement(
            id=uuid.uuid4().hex,
            kind=kind,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            owner_id=owner_id,
            quote_id=quote_id,
            contract=self.contract.address,
            settlement_hash=settlement_id(self.domain, terms),
            ref=terms.ref,
            deadline=terms.deadline,
            status=SettlementStatus.PENDING,
        )
        session.add(row)
        session.flush()
        for index, (leg, signature) in enumerate(zip(terms.legs, signatures, strict=True)):
            session.add(
                SettlementLeg(
                    settlement_id=row.id,
                    idx=index,
                    token=leg.token,
                    payer=leg.payer,
                    payee=leg.payee,
                    value=leg.value,
                    signature=signature.to_bytes() if signature is not None else None,
                )
            )
        session.flush()
        return row

    def get(self, settlement_id_: str) -> Settlement | None:
        """The stored settlement `settlement_id_`."""
        with self._readers() as session:
            return session.get(Settlement, settlement_id_)

    def legs(self, session: Session, row: Settlement) -> list[SettlementLeg]:
        """The legs of `row`, in order."""
        return list(
            session.scalars(
                select(SettlementLeg).where(SettlementLeg.settlement_id == row.id).order_by(SettlementLeg.idx)
            )
        )

    def terms(self, session: Session, row: Settlement) -> Terms:
        """The terms `row` was stored with."""
        legs = tuple(
            Leg(
                token=to_checksum_address(leg.token),
                payer=to_checksum_address(leg.payer),
                payee=to_checksum_address(leg.payee),
                value=leg.value,
            )
            for leg in self.legs(session, row)
        )
        return Terms(ref=bytes(row.ref), legs=legs, deadline=row.deadline)

    # -------------------------------------------------------------------------------- relaying ---

    def relay(self) -> int:
        """Sends every pending settlement whose legs are all signed; returns how many changed state."""
        with self._readers() as session:
            pending = list(
                session.scalars(
                    select(Settlement.id)
                    .where(Settlement.status == SettlementStatus.PENDING)
                    .order_by(Settlement.created_at)
                    .limit(50)
                )
            )
        return sum(self._relay_one(settlement) for settlement in pending)

    def _relay_one(self, settlement: str) -> int:
        with self._sessions.begin() as session:
            row = session.get(Settlement, settlement)
            if row is None or row.status != SettlementStatus.PENDING:
                return 0
            legs = self.legs(session, row)
            if any(leg.signature is None for leg in legs):
                if row.deadline <= self.clock():
                    return self._fail(session, row, "SettlementExpired", {"deadline": row.deadline})
                return 0  # waits for a party to sign
            if row.deadline <= self.clock() + 1:
                return self._fail(session, row, "SettlementExpired", {"deadline": row.deadline})
            terms = self.terms(session, row)
            signatures = [signature_tuple(Signature.from_bytes(bytes(leg.signature or b""))) for leg in legs]
            call = self.contract.functions.settle(terms.as_tuple(), signatures)
            try:
                tx = self._enqueue(session, call)
            except ContractRevertError as refused:
                log.info("settlement %s refused before sending: %s", row.id, refused.error_name)
                return self._fail(session, row, refused.error_name, _jsonable(dict(refused.error_args)))
            row.status, row.chain_tx_id = SettlementStatus.SUBMITTED, tx.id
            self.notify(session, row)
            return 1

    def _fail(self, session: Session, row: Settlement, name: str, args: dict[str, Any] | None) -> int:
        row.status, row.error_name, row.error_args = SettlementStatus.FAILED, name, args
        self.notify(session, row)
        return 1

    # ------------------------------------------------------------------------ outbox listener ---

    def included(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:  # noqa: ARG002 - the listener's signature
        """The `settle` transaction was mined: every leg moved."""
        self._move(session, tx, SettlementStatus.SETTLED)

    def rolled_back(self, session: Session, tx: ChainTx) -> None:
        """A reorg took it out: on its way again."""
        self._move(session, tx, SettlementStatus.SUBMITTED)

    def failed(self, session: Session, tx: ChainTx) -> None:
        """It reverted (or can never be mined): nothing moved."""
        for row in self._rows(session, tx):
            row.error_name, row.error_args = tx.error_name, tx.error_args
        self._move(session, tx, SettlementStatus.FAILED)

    def final(self, session: Session, tx: ChainTx) -> None:
        """Its transaction is final: the owners are told (state `final`, after `settled`)."""
        for row in self._rows(session, tx):
            if row.status == SettlementStatus.SETTLED:
                self.notify(session, row, tx, state="final")

    def _rows(self, session: Session, tx: ChainTx) -> list[Settlement]:
        if tx.kind != KIND:
            return []
        return list(session.scalars(select(Settlement).where(Settlement.chain_tx_id == tx.id)))

    def _move(self, session: Session, tx: ChainTx, status: SettlementStatus) -> None:
        for row in self._rows(session, tx):
            if row.status == status:
                continue
            row.status = status
            if status != SettlementStatus.FAILED:
                row.error_name = row.error_args = None
            self.notify(session, row, tx)

    def notify(
        self, session: Session, row: Settlement, tx: ChainTx | None = None, *, state: str | None = None
    ) -> None:
        """Moves the quote `row` carries out with it, and tells its owner (`state`: the event's, when it is
        not the settlement's own: `final`)."""
        if row.quote_id is not None and row.status in _QUOTE_STATE:
            session.execute(
                update(FxQuote)
                .where(FxQuote.id == row.quote_id)
                .values(state=_QUOTE_STATE[row.status])
                .execution_options(synchronize_session=False)
            )
        if row.owner_id is None:
            return
        mined = row.status == SettlementStatus.SETTLED and tx is not None
        session.add(
            Event(
                user_id=row.owner_id,
                type=EVENT,
                payload={
                    "settlement_id": row.id,
                    "kind": row.kind,
                    "state": state or row.status.value,
                    "quote_id": row.quote_id,
                    "tx_hash": tx.tx_hash if mined and tx else None,
                    "block_number": tx.block_number if mined and tx else None,
                    "error": row.error_name,
                },
            )
        )


def settlement_state(status: SettlementStatus, tx_status: str | None) -> str:
    """What a customer sees of a settlement the bank sends: pending (signed, waiting for the relayer),
    submitted (on its way), executed (mined), confirmed, final, or failed (nothing moved)."""
    if status == SettlementStatus.SETTLED:
        if tx_status == TxStatus.FINAL:
            return "final"
        return "confirmed" if tx_status == TxStatus.CONFIRMED else "executed"
    return status.value


def _jsonable(args: dict[str, Any] | None) -> dict[str, Any] | None:
    return jsonable_args(args) if args else None


__all__ = ["EVENT", "KIND", "SettlementService", "settlement_state"]
