"""Payments between a customer of ours and a customer of a partner bank, settled on chain in one
transaction.

A payment moves three legs in one atomic settlement (`wallet.tx.settlements`):

    0. the payer's deposit tokens to the paying bank's treasury       (the paying bank's token)
    1. the paying bank's treasury to the payee bank's treasury         (the central bank's wholesale token)
    2. the payee bank's treasury to the payee                          (the payee bank's token)

The paying bank signs legs 0 and 1 (its customer's custodial key and its treasury key) and offers the
settlement to the payee bank as a pacs.008.001.08 (`wallet.partners.iso20022`), through the payee bank's
partner API, signed with HTTP Message Signatures. The payee bank checks everything it would be held to
(its quote, its customer, both banks, the amounts, every other leg signed, its limits with the paying
bank, screening of the debtor, a simulation of the settlement on chain), signs leg 2 and submits the
settlement itself: whoever signs last sends it. The paying bank watches the chain for it; if the
payee bank rejects the payment, or the deadline passes before it settles, nothing moved and the
payer's reserved funds are released.

FX happens at the payee bank: it quotes the paying bank (wholesale currency in, its own currency out,
less its interbank spread), and the paying bank's customer pays the interbank amount plus the paying
bank's fee (the spread of the customer's tier).

State of a payment, as both customers see it: `offered` (waiting for the payee bank), `submitted`
(signed by both banks, on its way), `executed`, `confirmed`, `final`, or `failed` (nothing moved).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any

import httpx
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from wallet.bank import door
from wallet.bank.accounts import AccountService
from wallet.bank.core import Bank, Token
from wallet.bank.users import Principal
from wallet.chain.addresses import checksum
from wallet.chain.settlement import Leg, Terms, settlement_id, sign_cancel, sign_leg, signature_tuple
from wallet.chain.transact import revert_data, revert_errors
from wallet.compliance.matching import Subject
from wallet.compliance.policy import PolicyStore
from wallet.compliance.screening import SanctionsLists
from wallet.compliance.travelrule import ivms101_person
from wallet.db.models import (
    CrossBorderPayment,
    FxQuote,
    KycProfile,
    Partner,
    PartnerQuote,
    Settlement,
    User,
    WalletAccount,
    aware,
)
from wallet.errors import (
    AccountRestrictedError,
    ContractRevertError,
    FxUnavailableError,
    InvalidRequestError,
    NotFoundError,
    PaymentsSuspendedError,
    QuoteExpiredError,
    QuoteUsedError,
    TransferRejectedError,
    WalletError,
)
from wallet.fx.quotes import quote_to_carry_out, take_quote
from wallet.fx.rates import RATE_PLACES, RateProvider
from wallet.idempotency import replay, request_hash, scoped_key
from wallet.keys.base import Signature
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount
from wallet.partners.iso20022 import (
    Agent,
    CreditTransfer,
    Party,
    SettlementRef,
    pacs002,
    pacs008,
    parse_pacs008,
)
from wallet.partners.registry import Partners
from wallet.partners.signatures import b64
from wallet.tx.settlements import SettlementService, settlement_state
from wallet.vocabulary import KycStatus, PaymentDirection, QuoteState, Role, SettlementStatus

log = logging.getLogger(__name__)

WATCH_AFTER_DEADLINE = 3600  # seconds a settlement the partner bank sent is watched past its deadline

KIND = "cross-border"
STAFF_VIEWERS = (Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)  # who sees every payment and the positions
SETTLED_TOPIC = keccak(text="Settled(bytes32,bytes32,uint256,address)")
INTERBANK_TIER = "institutional"  # the policy tier whose spread partner banks pay on our quotes


class CrossBorder:
    """Pays partner banks' customers, and is paid by them, through atomic settlements."""

    def __init__(
        self,
        bank: Bank,
        accounts: AccountService,
        partners: Partners,
        policies: PolicyStore,
        rates: RateProvider,
        sanctions: SanctionsLists,
        *,
        validity_seconds: int = 600,
        quote_ttl_seconds: int = 60,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.accounts = accounts
        self.partners = partners
        self.policies = policies  # the `fx` section: our customers' spreads, and the interbank one
        self.rates = rates
        self.sanctions = sanctions
        self.validity_seconds = validity_seconds
        # How long a sender may take to deliver an offer before another sends it again: its request's
        # timeout and a margin. Short, because the partner's quote expires meanwhile; a second delivery
        # costs nothing (the partner stores an offer once by its end-to-end id).
        self.sending_lease = timedelta(seconds=partners.timeout + 5)
        self.quote_ttl = timedelta(seconds=quote_ttl_seconds)
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------------------- identity ---

    @property
    def agent(self) -> Agent:
        """This bank as messages name it."""
        return Agent(bic=self.bank.config.bic or "TDWBXXXX", name=self.bank.manifest.bank_name)

    def identity(self) -> dict[str, Any]:
        """What a partner bank registers us with."""
        return {
            "bic": self.agent.bic,
            "name": self.agent.name,
            "key_id": self.partners.keys.key_id,
            "public_key": b64(self.partners.keys.public_key()),
            "treasury": self.treasury,
            "settlement_contract": self._settlements().contract.address,
            "chain_id": self.bank.chain_id,
        }

    @property
    def treasury(self) -> ChecksumAddress:
        return self.bank.role_address("treasury")

    def _settlements(self) -> SettlementService:
        if self.bank.settlements is None:
            raise FxUnavailableError("the bank has no settlement contract configured")
        return self.bank.settlements

    def _wholesale(self, code: str) -> Token:
        token = self.bank.wholesale.get(code)
        if token is None:
            raise InvalidRequestError(f"the bank holds no wholesale settlement token in {code}")
        return token

    # ========================================================================= the payee's side ===

    def partner_quote(self, partner: Partner, *, sell: str, buy: str, sell_amount: str) -> dict[str, Any]:
        """A quote for `partner`: it pays `sell_amount` in the wholesale token of `sell`, we credit our
        customer in `buy` at the mid rate less the interbank spread, rounded to us."""
        sell, buy = sell.upper(), buy.upper()
        self._wholesale(sell)
        token = self.bank.token(buy)
        units = parse_amount(sell_amount, sell)
        now = self.clock()
        if sell == buy:
            rate = Decimal(1)
        else:
            with self.policies.sessions() as session:
                spreads = self.policies.current(session).document.fx.spread_bps
            bps = spreads.get(INTERBANK_TIER, min(spreads.values()))
            mid = self.rates.sheet().mid(sell, buy)
            rate = (mid * (10_000 - bps) / 10_000).quantize(RATE_PLACES, rounding=ROUND_DOWN)
        buys = floor(units * Fraction(rate) * Fraction(10 ** _exp(buy), 10 ** _exp(sell)))
        if buys <= 0:
            raise InvalidRequestError(f"{sell_amount} {sell} buys no {buy}")
        row = PartnerQuote(
            id=secrets.token_hex(16),
            partner_id=partner.id,
            sell_currency=sell,
            buy_currency=buy,
            sell_amount=units,
            buy_amount=buys,
            rate=str(rate),
            state=QuoteState.OPEN,
            created_at=now,
            expires_at=now + self.quote_ttl,
        )
        with self.bank.sessions.begin() as session:
            session.add(row)
        return {
            "id": row.id,
            "sell": {"currency": sell, "amount": _major(units, sell)},
            "buy": {"currency": buy, "amount": _major(buys, buy)},
            "rate": row.rate,
            "expires_at": row.expires_at.isoformat(),
            "token": token.address,
            "treasury": self.treasury,
            "settlement_contract": self._settlements().contract.address,
            "bic": self.agent.bic,
        }

    def receive(
        self, partner: Partner, document: bytes, *, idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """A partner's pacs.008 paying one of our customers: checked, our leg signed, stored for our
        relayer to settle. Returns the payment and whether it was stored now."""
        key = scoped_key(f"partner:{partner.id}", idempotency_key)
        body_hash = request_hash({"pacs008": keccak(document).hex()})
        existing = self._by_key(key)
        if existing is not None:
            return self._partner_view(replay(existing, body_hash, key)), False
        transfer = parse_pacs008(document)
        try:
            offer = self._check_offer(partner, transfer)
        except WalletError:
            # The same offer sent twice at once: the first stored it (and took the quote) meanwhile.
            again = self._by_key(key)
            if again is not None:
                return self._partner_view(replay(again, body_hash, key)), False
            raise
        signatures = list(offer.signatures)
        signatures[offer.our_leg] = sign_leg(
            self.bank.role_signers["treasury"],
            self.bank.domain(offer.token),
            self._settlements().domain,
            offer.terms,
            offer.our_leg,
        )
        self._simulate(offer.terms, signatures)
        debtor_ivms = ivms101_person(None, None, transfer.debtor.name, transfer.debtor.address)

        def insert(session: Session) -> CrossBorderPayment:
            self.partners.check_limits(
                session, partner, transfer.interbank_currency, transfer.interbank_amount
            )
            self._treasury_covers(
                session,
                offer.token,
                offer.credit,
                f"the bank cannot pay {_major(offer.credit, offer.token.currency)} {offer.token.currency} "
                "now; try later",
            )
            taken = session.execute(
                update(PartnerQuote)
                .where(
                    PartnerQuote.id == offer.quote.id,
                    PartnerQuote.state == QuoteState.OPEN,
                    PartnerQuote.expires_at > self.clock(),
                )
                .values(state=QuoteState.ACCEPTED)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if taken != 1:
                raise QuoteUsedError(f"quote {offer.quote.id} was used or expired meanwhile")
            settlement = self._settlements().store(
                session,
                kind=KIND,
                idempotency_key=key,
                request_hash=body_hash,
                terms=offer.terms,
                signatures=signatures,
                owner_id=offer.account.user_id,
            )
            user = session.get(User, offer.account.user_id)
            payment = CrossBorderPayment(
                id=uuid.uuid4().hex,
                direction=PaymentDirection.INCOMING,
                partner_id=partner.id,
                idempotency_key=key,
                request_hash=body_hash,
                end_to_end_id=transfer.end_to_end_id,
                settlement_id=settlement.id,
                user_id=offer.account.user_id,
                account_id=offer.account.id,
                quote_id=offer.quote.id,
                debit_currency=transfer.instructed_currency,
                debit_amount=transfer.instructed_amount,
                interbank_currency=transfer.interbank_currency,
                interbank_amount=transfer.interbank_amount,
                credit_currency=offer.token.currency,
                credit_amount=offer.credit,
                debtor=debtor_ivms,
                creditor=ivms101_person(
                    user, session.get(KycProfile, offer.account.user_id), None, offer.account.address
                ),
                pacs008=document.decode(),
            )
            session.add(payment)
            return payment

        try:
            with self.bank.sessions.begin() as session:
                payment = insert(session)
        except (IntegrityError, QuoteUsedError) as exc:
            # The same offer delivered twice at once: the other delivery stored it and took the quote.
            again = self._by_key(key)
            if again is not None:
                return self._partner_view(replay(again, body_hash, key)), False
            if isinstance(exc, QuoteUsedError):
                raise
            raise InvalidRequestError(
                f"a payment with end-to-end id {transfer.end_to_end_id} was received already"
            ) from None
        return self._partner_view(payment), True

    def _check_offer(self, partner: Partner, transfer: CreditTransfer) -> _Offer:
        """Everything we would be held to in a partner's offer; the refusal names what is wrong."""
        settlements = self._settlements()
        ref = transfer.settlement
        if transfer.creditor_agent.bic != self.agent.bic:
            raise InvalidRequestError(f"the creditor agent {transfer.creditor_agent.bic} is not this bank")
        if transfer.debtor_agent.bic != partner.bic:
            raise InvalidRequestError(f"the debtor agent {transfer.debtor_agent.bic} is not {partner.name}")
        if ref.chain_id != self.bank.chain_id or checksum(ref.contract) != settlements.contract.address:
            raise InvalidRequestError("the settlement names another chain or settlement contract than ours")
        now = int(time.time())
        if not now + 30 <= ref.deadline <= now + 3600:
            raise InvalidRequestError("the settlement's deadline must be 30 seconds to one hour from now")
        with self.bank.readers() as session:
            quote = session.get(PartnerQuote, ref.quote_id or "")
        if quote is None or quote.partner_id != partner.id:
            raise NotFoundError("quote", ref.quote_id or "")
        if quote.state != QuoteState.OPEN:
            raise QuoteUsedError(f"quote {quote.id} was used already")
        if aware(quote.expires_at) <= self.clock():
            raise QuoteExpiredError(f"quote {quote.id} expired at {aware(quote.expires_at).isoformat()}")
        if (transfer.interbank_currency, transfer.interbank_amount) != (
            quote.sell_currency,
            quote.sell_amount,
        ):
            raise InvalidRequestError(
                f"the interbank amount is not the {_major(quote.sell_amount, quote.sell_currency)} "
                f"{quote.sell_currency} quoted"
            )
        try:
            legs = tuple(
                Leg(
                    token=to_checksum_address(str(leg["token"])),
                    payer=to_checksum_address(str(leg["from"])),
                    payee=to_checksum_address(str(leg["to"])),
                    value=int(str(leg["value"])),
                )
                for leg in ref.legs
            )
            signatures = [
                Signature.from_bytes(bytes.fromhex(str(leg["signature"]).removeprefix("0x")))
                if leg.get("signature")
                else None
                for leg in ref.legs
            ]
            terms = Terms(ref=bytes.fromhex(ref.ref.removeprefix("0x")), legs=legs, deadline=ref.deadline)
        except (ValueError, KeyError):
            raise InvalidRequestError(
                "the settlement's legs are not addresses, amounts and signatures"
            ) from None
        if "0x" + settlement_id(settlements.domain, terms).hex() != ref.settlement_id.lower():
            raise InvalidRequestError("the settlement id does not match its terms")
        token = self.bank.token(quote.buy_currency)
        wholesale = self._wholesale(quote.sell_currency)
        ours = [i for i, leg in enumerate(legs) if leg.payer == self.treasury]
        if len(ours) != 1 or legs[ours[0]].token != token.address or legs[ours[0]].value != quote.buy_amount:
            raise InvalidRequestError(
                f"the settlement must have one leg of ours: {_major(quote.buy_amount, token.currency)} "
                f"{token.currency} from our treasury to the creditor"
            )
        leg = legs[ours[0]]
        creditor = checksum(transfer.creditor.address)
        if creditor != leg.payee:
            raise InvalidRequestError("our leg does not pay the creditor's account")
        paid = [
            lg
            for lg in legs
            if lg.token == wholesale.address and lg.payer == partner.treasury and lg.payee == self.treasury
        ]
        if sum(lg.value for lg in paid) < quote.sell_amount:
            raise InvalidRequestError(
                "the settlement does not pay our treasury the "
                f"{_major(quote.sell_amount, quote.sell_currency)} {quote.sell_currency} quoted "
                f"from {partner.name}'s treasury"
            )
        unsigned = [i for i, s in enumerate(signatures) if s is None]
        if unsigned != ours:
            raise InvalidRequestError("every leg but ours must be signed by its payer")
        with self.bank.readers() as session:
            account = session.scalars(
                select(WalletAccount).where(
                    WalletAccount.address == leg.payee, WalletAccount.currency == token.currency
                )
            ).first()
            user = session.get(User, account.user_id) if account else None
        if account is None or user is None or not self.accounts.is_active(account):
            raise NotFoundError("creditor account", leg.payee)
        if user.kyc_status != KycStatus.VERIFIED:
            raise AccountRestrictedError(
                "the creditor cannot receive payments: their verification is not current"
            )
        standing = door.chain_standing(token, self.treasury, leg.payee)
        if standing.paused:
            raise PaymentsSuspendedError(
                f"payments in {token.currency} are suspended by the bank; try again later"
            )
        if not standing.payee_allowed:
            raise AccountRestrictedError("the creditor's account cannot receive payments; it is restricted")
        if not standing.payer_allowed or standing.payer_frozen:
            raise FxUnavailableError("our treasury cannot pay now")
        matches = self.sanctions.screen(
            Subject(
                transfer.debtor.name, countries=(transfer.debtor.country,) if transfer.debtor.country else ()
            )
        )
        if matches:
            raise TransferRejectedError(
                "the debtor's name matches a sanctions list entry; the payment is rejected",
                [
                    {
                        "rule": "screening",
                        "outcome": "reject",
                        "explanation": "debtor matches a sanctions list",
                    }
                ],
            )
        return _Offer(
            terms=terms,
            signatures=signatures,
            our_leg=ours[0],
            token=token,
            credit=quote.buy_amount,
            quote=quote,
            account=account,
        )

    def _simulate(self, terms: Terms, signatures: list[Signature | None]) -> None:
        """Refuses an offer the chain would refuse now: `settle` run as a call at the head."""
        contract = self._settlements().contract
        call = contract.functions.settle(
            terms.as_tuple(), [signature_tuple(s) for s in signatures if s is not None]
        )
        try:
            call.call({"from": self.bank.role_address("relayer")})
        except revert_errors() as exc:
            name, args = self.bank.decoder.decode(revert_data(exc))
            raise InvalidRequestError(
                f"the chain would refuse this settlement now: {name} {dict(args)}"
            ) from None

    def _treasury_covers(self, session: Session, token: Token, amount: int, problem: str) -> None:
        """Raises `FxUnavailableError(problem)` unless our treasury can pay `amount` of `token`,
        counting every settlement it pays into on its way."""
        available, _ = door.available_to(session, self.bank.chain_id, token.address, self.treasury)
        if available < amount:
            raise FxUnavailableError(problem)

    # ======================================================================== the payer's side ===

    def quote(
        self, principal: Principal, *, partner: str, sell: str, buy: str, sell_amount: str
    ) -> dict[str, Any]:
        """A quote for paying `partner`'s customer: our fee (the spread of the customer's tier) off the
        amount sold, the rest paid to the partner in wholesale tokens at its quote."""
        principal.require(Role.CUSTOMER)
        bank_partner = self.partners.get(partner)
        sell, buy = sell.upper(), buy.upper()
        self.bank.token(sell)
        self._wholesale(sell)
        units = parse_amount(sell_amount, sell)
        with self.bank.sessions() as session:
            user = session.get(User, principal.user_id)
            policy = self.policies.current(session)
        document, policy_version = policy.document, policy.version
        assert user is not None
        tier = user.tier if user.tier in document.fx.spread_bps else document.default_tier
        bps = document.fx.spread_bps[tier]
        fee = ceil(Fraction(units * bps, 10_000))
        interbank = units - fee
        if interbank <= 0:
            raise InvalidRequestError(f"{sell_amount} {sell} is too little to pay across banks")
        theirs = self._call(
            bank_partner,
            "POST",
            "/v1/partner/quotes",
            {"sell": sell, "buy": buy, "sell_amount": _major(interbank, sell)},
        )
        buys = parse_amount(theirs["buy"]["amount"], buy)
        expires = min(
            datetime.fromisoformat(theirs["expires_at"]),
            self.clock() + timedelta(seconds=document.fx.quote_ttl_seconds),
        )
        now = self.clock()
        rate = (
            Decimal(buys) / Decimal(10 ** _exp(buy)) / (Decimal(units) / Decimal(10 ** _exp(sell)))
        ).quantize(RATE_PLACES, rounding=ROUND_DOWN)
        row = FxQuote(
            id=secrets.token_hex(16),
            user_id=principal.user_id,
            tier=tier,
            sell_currency=sell,
            buy_currency=buy,
            sell_amount=units,
            buy_amount=buys,
            mid_rate=str(theirs["rate"]),
            rate=str(rate),
            spread_bps=bps,
            policy_version=policy_version,
            rates_source=f"{bank_partner.name} quote {theirs['id']}"[:100],
            rates_as_of=now,
            state=QuoteState.OPEN,
            created_at=now,
            expires_at=expires,
            partner_id=bank_partner.id,
            partner_quote_id=str(theirs["id"]),
            partner_token=checksum(str(theirs.get("token", ""))),
            interbank_amount=interbank,
        )
        with self.bank.sessions.begin() as session:
            session.add(row)
        return {
            "id": row.id,
            "partner": bank_partner.id,
            "sell": {"currency": sell, "amount": _major(units, sell)},
            "fee": {"currency": sell, "amount": _major(fee, sell)},
            "interbank": {"currency": sell, "amount": _major(interbank, sell)},
            "buy": {"currency": buy, "amount": _major(buys, buy)},
            "rate": str(rate),
            "expires_at": expires.isoformat(),
        }

    def pay(
        self,
        principal: Principal,
        *,
        idempotency_key: str,
        quote_id: str,
        creditor_address: str,
        creditor_name: str,
        from_account: str | None = None,
        reference: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Pays a partner bank's customer from the customer's quote: signs our two legs, reserves the
        customer's funds, offers the settlement to the partner (a pacs.008 to its partner API)."""
        principal.require(Role.CUSTOMER)
        settlements = self._settlements()
        key = scoped_key(principal.user_id, idempotency_key)
        body = {
            "quote_id": quote_id,
            "to": creditor_address,
            "name": creditor_name,
            "from": from_account,
            "ref": reference,
        }
        body_hash = request_hash(body)
        existing = self._by_key(key)
        if existing is not None:
            return self.view(replay(existing, body_hash, key)), False
        creditor = checksum(creditor_address)
        if creditor is None:
            raise InvalidRequestError(f"the creditor account {creditor_address!r} is not an address")
        if not creditor_name.strip():
            raise InvalidRequestError("the creditor's name is required (travel rule)")
        with self.bank.readers() as session:
            quote = quote_to_carry_out(
                session,
                principal.user_id,
                quote_id,
                self.clock(),
                expires_once_accepted=True,
                require_partner=True,
            )
        partner = self.partners.get(quote.partner_id or "")
        if quote.partner_token is None:
            raise NotFoundError("quote", quote_id)
        sell, wholesale = self.bank.token(quote.sell_currency), self._wholesale(quote.sell_currency)
        account = self.accounts.active_in(principal, from_account, sell.currency, field="from_account")
        interbank = int(quote.interbank_amount or 0)
        matches = self.sanctions.screen(Subject(creditor_name))
        if matches:
            raise TransferRejectedError(
                "the bank cannot make this payment: the payee's name matches a sanctions list entry",
                [{"rule": "screening", "outcome": "reject", "explanation": "payee matches a sanctions list"}],
            )
        standing = door.chain_standing(sell, account.address, settlements.contract.address)
        door.check_standing(standing, sell.currency)
        ours = door.chain_standing(wholesale, self.treasury, partner.treasury)
        if ours.paused or not ours.payer_allowed or ours.payer_frozen or not ours.payee_allowed:
            raise FxUnavailableError(f"the bank cannot pay {partner.name} in {wholesale.currency} now")
        funds = door.FundsGuard(self.bank, sell, account, quote.sell_amount, standing.payer_frozen_amount)
        with self.bank.readers() as session:
            funds.check(session)
        now = self.clock()
        e2e = f"TDW{secrets.token_hex(14).upper()}"
        terms = Terms(
            ref=keccak(text=f"tdw:cross-border:{e2e}"),
            legs=(
                Leg(sell.address, to_checksum_address(account.address), self.treasury, quote.sell_amount),
                Leg(wholesale.address, self.treasury, to_checksum_address(partner.treasury), interbank),
                Leg(
                    to_checksum_address(quote.partner_token),
                    to_checksum_address(partner.treasury),
                    creditor,
                    quote.buy_amount,
                ),
            ),
            deadline=int(time.time()) + self.validity_seconds,
        )
        signatures: list[Signature | None] = [
            sign_leg(
                self.bank.customer_signer(account.address),
                self.bank.domain(sell),
                settlements.domain,
                terms,
                0,
            ),
            sign_leg(
                self.bank.role_signers["treasury"],
                self.bank.domain(wholesale),
                settlements.domain,
                terms,
                1,
            ),
            None,
        ]
        with self.bank.readers() as session:
            user = session.get(User, principal.user_id)
            profile = session.get(KycProfile, principal.user_id)
        debtor_ivms = ivms101_person(user, profile, principal.username, account.address)
        creditor_ivms = ivms101_person(None, None, creditor_name, creditor)
        transfer = self._transfer(
            e2e,
            now,
            quote,
            interbank,
            terms,
            signatures,
            partner,
            account.address,
            creditor,
            creditor_name,
            profile,
            reference,
        )
        try:
            with self.bank.sessions.begin() as session:
                funds.check_locked(session)
                self.partners.check_limits(session, partner, sell.currency, interbank)
                self._treasury_covers(
                    session,
                    wholesale,
                    interbank,
                    f"the bank's {wholesale.currency} settlement balance cannot cover this payment now; "
                    "try later",
                )
                take_quote(session, quote, now)
                settlement = settlements.store(
                    session,
                    kind=KIND,
                    idempotency_key=key,
                    request_hash=body_hash,
                    terms=terms,
                    signatures=signatures,
                    owner_id=principal.user_id,
                    quote_id=quote.id,
                )
                settlement.status = SettlementStatus.OFFERED
                payment = CrossBorderPayment(
                    id=uuid.uuid4().hex,
                    direction=PaymentDirection.OUTGOING,
                    partner_id=partner.id,
                    idempotency_key=key,
                    request_hash=body_hash,
                    end_to_end_id=e2e,
                    settlement_id=settlement.id,
                    user_id=principal.user_id,
                    account_id=account.id,
                    quote_id=quote.id,
                    debit_currency=sell.currency,
                    debit_amount=quote.sell_amount,
                    interbank_currency=wholesale.currency,
                    interbank_amount=interbank,
                    credit_currency=quote.buy_currency,
                    credit_amount=quote.buy_amount,
                    debtor=debtor_ivms,
                    creditor=creditor_ivms,
                    pacs008=pacs008(transfer).decode(),
                )
                session.add(payment)
        except IntegrityError:
            again = self._by_key(key)
            if again is None:
                raise QuoteUsedError(f"quote {quote_id} is being carried out by another payment") from None
            return self.view(replay(again, body_hash, key)), False
        self._offer(payment.id)
        return self.view(self._payment(payment.id)), True

    def _transfer(
        self,
        e2e: str,
        now: datetime,
        quote: FxQuote,
        interbank: int,
        terms: Terms,
        signatures: list[Signature | None],
        partner: Partner,
        debtor_address: str,
        creditor: str,
        creditor_name: str,
        profile: KycProfile | None,
        reference: str | None,
    ) -> CreditTransfer:
        settlements = self._settlements()
        return CreditTransfer(
            message_id=e2e,
            end_to_end_id=e2e,
            uetr=str(uuid.uuid4()),
            created=now,
            interbank_currency=quote.sell_currency,
            interbank_amount=interbank,
            instructed_currency=quote.sell_currency,
            instructed_amount=quote.sell_amount,
            debtor=Party(
                name=(profile.legal_name if profile else None) or "unknown",
                address=debtor_address,
                country=profile.residence_country if profile else None,
                address_lines=(profile.address,) if profile and profile.address else (),
                currency=quote.sell_currency,
            ),
            debtor_agent=self.agent,
            creditor=Party(name=creditor_name, address=creditor, currency=quote.buy_currency),
            creditor_agent=Agent(bic=partner.bic, name=partner.name),
            settlement=SettlementRef(
                chain_id=self.bank.chain_id,
                contract=settlements.contract.address,
                settlement_id="0x" + settlement_id(settlements.domain, terms).hex(),
                ref="0x" + terms.ref.hex(),
                deadline=terms.deadline,
                legs=tuple(
                    {
                        "token": leg.token,
                        "from": leg.payer,
                        "to": leg.payee,
                        "value": str(leg.value),
                        "signature": "0x" + s.to_bytes().hex() if s is not None else None,
                    }
                    for leg, s in zip(terms.legs, signatures, strict=True)
                ),
                quote_id=quote.partner_quote_id,
            ),
            remittance=reference,
        )

    def _offer(self, payment_id: str) -> None:
        """Sends an offered payment's pacs.008 to the partner, from one sender at a time (a conditional
        claim: the request and the worker may both try). A refusal cancels it on chain; no answer
        leaves it for the next pass."""
        if not self._claim_offer(payment_id):
            return
        payment = self._payment(payment_id)
        partner = self.partners.get(payment.partner_id)
        try:
            response = self.partners.call(
                partner,
                "POST",
                "/v1/partner/payments",
                raw=(payment.pacs008 or "").encode(),
                content_type="application/xml",
                idempotency_key=payment.end_to_end_id,
            )
        except httpx.HTTPError as exc:
            log.warning("offer %s to %s not delivered: %s", payment.end_to_end_id, partner.id, exc)
            self._mark(payment.id, notified="unsent")
            return
        if response.status_code in (200, 201):
            self._mark(payment.id, notified="accepted")
            return
        if 400 <= response.status_code < 500:
            detail = _detail(response)
            self._reject(payment, f"{partner.name} rejected the payment: {detail}")
            return
        log.warning("offer %s to %s answered %s", payment.end_to_end_id, partner.id, response.status_code)
        self._mark(payment.id, notified="unsent")

    def _claim_offer(self, payment_id: str) -> bool:
        """Claims the delivery of an offer for this sender: one not sent yet, or one whose last sender
        claimed it longer ago than the lease (it died mid-send)."""
        now = self.clock()
        with self.bank.sessions.begin() as session:
            claimed = session.execute(
                update(CrossBorderPayment)
                .where(
                    CrossBorderPayment.id == payment_id,
                    self._deliverable(now),
                )
                .values(notified="sending", sending_since=now)
            ).rowcount  # type: ignore[attr-defined]
        return bool(claimed == 1)

    def _deliverable(self, now: datetime, *, untried_after: timedelta | None = None) -> ColumnElement[bool]:
        """An offer to (re)send: not delivered; never tried (`untried_after` old, when given); or its
        sender claimed it longer ago than the lease (it died mid-send)."""
        untried: ColumnElement[bool] = CrossBorderPayment.notified.is_(None)
        if untried_after is not None:
            untried = untried & (CrossBorderPayment.created_at < now - untried_after)
        return or_(
            CrossBorderPayment.notified == "unsent",
            untried,
            (CrossBorderPayment.notified == "sending")
            & (CrossBorderPayment.sending_since < now - self.sending_lease),
        )

    def _reject(self, payment: CrossBorderPayment, reason: str) -> None:
        """The partner refused: our signatures are still good until the deadline, so the settlement is
        cancelled on chain (our treasury pays leg 1 and signs the cancellation). It stays offered, with
        the customer's funds reserved, until the watcher sees it cancelled; if it settled after all
        (the partner signed anyway), the watcher records that instead."""
        settlements = self._settlements()
        with self.bank.sessions.begin() as session:
            row = session.get(Settlement, payment.settlement_id)
            session.execute(
                update(CrossBorderPayment)
                .where(CrossBorderPayment.id == payment.id)
                .values(reason=reason[:500], notified="rejected")
            )
            if row is None or row.status != SettlementStatus.OFFERED:
                return
            terms = settlements.terms(session, row)
            party = next(i for i, leg in enumerate(terms.legs) if leg.payer == self.treasury)
            signature = sign_cancel(self.bank.role_signers["treasury"], settlements.domain, terms)
            call = settlements.contract.functions.cancel(terms.as_tuple(), party, signature_tuple(signature))
            try:
                self.bank.enqueue(session, "relayer", call, kind="settlement-cancel")
            except ContractRevertError as refused:
                # Settled or cancelled already: the watcher reads which from the chain.
                log.info("cancel of %s refused: %s", payment.end_to_end_id, refused.error_name)

    def partner_decision(
        self, partner: Partner, end_to_end_id: str, *, accepted: bool, reason: str | None
    ) -> dict[str, Any]:
        """The partner tells us its decision on a payment we offered it (after a review on its side)."""
        payment = self._find(partner, end_to_end_id, PaymentDirection.OUTGOING)
        if not accepted:
            self._reject(payment, f"{partner.name} rejected the payment: {reason or 'no reason given'}")
        else:
            self._mark(payment.id, notified="accepted")
        return self._partner_view(self._payment(payment.id))

    # ---------------------------------------------------------------------------- the watcher ---

    def step(self) -> int:
        """Sends offers not delivered yet; follows offered settlements on chain (settled by the partner,
        or past their deadline). Returns how many changed."""
        if self.bank.settlements is None:
            return 0
        changed = 0
        with self.bank.readers() as session:
            unsent = list(
                session.scalars(
                    select(CrossBorderPayment.id)
                    .join(Settlement, Settlement.id == CrossBorderPayment.settlement_id)
                    .where(
                        CrossBorderPayment.direction == PaymentDirection.OUTGOING,
                        # Untried ones after 5 s only: the request that made one sends it first.
                        self._deliverable(self.clock(), untried_after=timedelta(seconds=5)),
                        Settlement.status == SettlementStatus.OFFERED,
                    )
                )
            )
            # Offered ones until they settle or fail; settled ones the partner bank sent, while a
            # reorg could still take them away and they could settle again (up to an hour past their
            # deadline; deeper, the chain's recovery and its incident take over).
            watched = list(
                session.scalars(
                    select(Settlement).where(
                        or_(
                            Settlement.status == SettlementStatus.OFFERED,
                            (Settlement.status == SettlementStatus.SETTLED)
                            & Settlement.chain_tx_id.is_(None)
                            & Settlement.tx_hash.is_not(None)
                            & (Settlement.deadline > int(self.clock().timestamp()) - WATCH_AFTER_DEADLINE),
                        )
                    )
                )
            )
        for payment_id in unsent:
            self._offer(payment_id)
        if watched:
            changed += self._watch(watched)
        return changed + len(unsent)

    def _watch(self, rows: list[Settlement]) -> int:
        contract = self._settlements().contract
        w3 = contract.w3
        head = w3.eth.get_block("latest")
        changed = 0
        for row in rows:
            try:
                state = int(
                    contract.functions.stateOf(bytes(row.settlement_hash)).call(
                        block_identifier=head["number"]
                    )
                )
                if state == 1 and row.status == SettlementStatus.SETTLED and self._still_where(w3, row):
                    continue  # settled where we saw it
                found = self._settled_log(row) if state == 1 else None
            except (Web3Exception, WalletError) as exc:
                log.warning("could not follow settlement %s: %s", row.id, exc)
                continue
            with self.bank.sessions.begin() as session:
                fresh = session.get(Settlement, row.id)
                if fresh is None:
                    continue
                if found is not None and fresh.status == SettlementStatus.OFFERED:
                    fresh.status, (fresh.tx_hash, fresh.block_number) = SettlementStatus.SETTLED, found
                elif found is not None and (fresh.tx_hash, fresh.block_number) != found:
                    fresh.tx_hash, fresh.block_number = found  # a reorg mined it again elsewhere
                    changed += 1
                    continue
                elif found is None and fresh.status == SettlementStatus.SETTLED:
                    fresh.status, fresh.tx_hash, fresh.block_number = (
                        SettlementStatus.OFFERED,
                        None,
                        None,
                    )  # a reorg
                elif fresh.status == SettlementStatus.OFFERED and state == 2:
                    fresh.status, fresh.error_name = SettlementStatus.FAILED, "SettlementCancelled"
                    fresh.error_args = {}
                elif fresh.status == SettlementStatus.OFFERED and int(head["timestamp"]) > fresh.deadline:
                    fresh.status, fresh.error_name = SettlementStatus.FAILED, "SettlementExpired"
                    fresh.error_args = {"deadline": fresh.deadline}
                else:
                    continue
                self._settlements().notify(session, fresh)
                changed += 1
        return changed

    @staticmethod
    def _still_where(w3: Web3, row: Settlement) -> bool:
        """Whether the settled row's transaction is still mined in the block we recorded."""
        try:
            receipt = w3.eth.get_transaction_receipt(HexStr(row.tx_hash or ""))
        except TransactionNotFound:
            return False
        return int(receipt["blockNumber"]) == row.block_number

    def _settled_log(self, row: Settlement) -> tuple[str, int] | None:
        contract = self._settlements().contract
        start = max(0, (row.block_number or 0) - 10) if row.block_number else self._search_start()
        logs = contract.w3.eth.get_logs(
            {
                "address": contract.address,
                "topics": ["0x" + SETTLED_TOPIC.hex(), "0x" + bytes(row.settlement_hash).hex()],
                "fromBlock": start,
                "toBlock": "latest",
            }
        )
        if not logs:
            return None
        return "0x" + bytes(logs[-1]["transactionHash"]).hex(), int(logs[-1]["blockNumber"])

    def _search_start(self) -> int:
        """Where to search for a settlement's log: its deadline is at most an hour after it was made,
        so 5,000 blocks back covers block times down to 0.7 s."""
        head = self.bank.w3.eth.block_number
        return max(0, head - 5_000)

    # -------------------------------------------------------------------------------- reading ---

    def get(self, principal: Principal, payment_id: str) -> dict[str, Any]:
        """A payment of the customer's (either side), or any for staff."""
        payment = self._payment(payment_id)
        if payment.user_id != principal.user_id and not principal.is_staff:
            raise NotFoundError("payment", payment_id)
        return self.view(payment)

    def history(self, principal: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
        principal.require(Role.CUSTOMER)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(CrossBorderPayment)
                    .where(CrossBorderPayment.user_id == principal.user_id)
                    .order_by(CrossBorderPayment.created_at.desc())
                    .limit(limit)
                )
            )
        return [self.view(r) for r in rows]

    def book(self, principal: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
        """Every cross-border payment, both directions, newest first (operators, compliance, admins)."""
        principal.require(*STAFF_VIEWERS)
        with self.bank.readers() as session:
            rows = list(
                session.scalars(
                    select(CrossBorderPayment).order_by(CrossBorderPayment.created_at.desc()).limit(limit)
                )
            )
        return [self.view(r) for r in rows]

    def position_report(self, principal: Principal, *, day: date | None = None) -> dict[str, Any]:
        """`positions`, for operators, compliance and admins."""
        principal.require(*STAFF_VIEWERS)
        return self.positions(day=day)

    def document(self, principal: Principal, payment_id: str) -> bytes:
        """The payment's pacs.008, with the settlement's transaction once it settled."""
        payment = self._payment(payment_id)
        if payment.user_id != principal.user_id and not principal.is_staff:
            raise NotFoundError("payment", payment_id)
        return self._pacs008_now(payment)

    def _pacs008_now(self, payment: CrossBorderPayment) -> bytes:
        original = parse_pacs008((payment.pacs008 or "").encode())
        row = self._settlement(payment)
        tx_hash, block = self._where(row)
        if tx_hash is None:
            return (payment.pacs008 or "").encode()
        settled = SettlementRef(**{**original.settlement.__dict__, "tx_hash": tx_hash, "block_number": block})
        return pacs008(CreditTransfer(**{**original.__dict__, "settlement": settled}))

    def status_report(self, partner: Partner, end_to_end_id: str) -> bytes:
        """The pacs.002 of a payment the partner sent us."""
        payment = self._find(partner, end_to_end_id, PaymentDirection.INCOMING)
        view = self._partner_view(payment)
        status = {
            "final": "settled",
            "confirmed": "settled",
            "executed": "settled",
            "failed": "rejected",
        }.get(view["state"], "accepted")
        return pacs002(
            message_id=f"STS{payment.id[:29].upper()}",
            original=parse_pacs008((payment.pacs008 or "").encode()),
            status=status,
            reason=(view.get("error") or {}).get("name") if status == "rejected" else None,
            reporter=self.agent,
            recipient=Agent(bic=partner.bic, name=partner.name),
            tx_hash=view.get("tx_hash"),
        )

    def partner_status(self, partner: Partner, end_to_end_id: str) -> dict[str, Any]:
        """A payment between us and `partner`, either way, by its end-to-end id."""
        with self.bank.readers() as session:
            payment = session.scalars(
                select(CrossBorderPayment).where(
                    CrossBorderPayment.partner_id == partner.id,
                    CrossBorderPayment.end_to_end_id == end_to_end_id,
                )
            ).first()
        if payment is None:
            raise NotFoundError("payment", end_to_end_id)
        return self._partner_view(payment)

    def positions(self, partner: Partner | None = None, *, day: date | None = None) -> dict[str, Any]:
        """Bilateral positions per partner and currency for `day` (UTC, today by default): what each
        side paid the other in settled payments, and the net; our treasury's wholesale holdings by the
        mirror and by the chain."""
        day = day or self.clock().date()
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        with self.bank.readers() as session:
            query = (
                select(
                    CrossBorderPayment.partner_id,
                    CrossBorderPayment.interbank_currency,
                    CrossBorderPayment.direction,
                    func.count(),
                    func.sum(CrossBorderPayment.interbank_amount),
                )
                .join(Settlement, Settlement.id == CrossBorderPayment.settlement_id)
                .where(
                    Settlement.status == SettlementStatus.SETTLED,
                    CrossBorderPayment.created_at >= start,
                    CrossBorderPayment.created_at < start + timedelta(days=1),
                )
                .group_by(
                    CrossBorderPayment.partner_id,
                    CrossBorderPayment.interbank_currency,
                    CrossBorderPayment.direction,
                )
            )
            if partner is not None:
                query = query.where(CrossBorderPayment.partner_id == partner.id)
            rows = session.execute(query).tuples().all()
        table: dict[tuple[str, str], dict[str, Any]] = {}
        for partner_id, code, direction, count, total in rows:
            entry = table.setdefault(
                (partner_id, code),
                {"partner": partner_id, "currency": code, "paid": 0, "received": 0, "payments": 0},
            )
            entry["paid" if direction == PaymentDirection.OUTGOING else "received"] += int(total or 0)
            entry["payments"] += int(count)
        bilateral = []
        for (_, code), entry in sorted(table.items()):
            net = entry["received"] - entry["paid"]
            bilateral.append(
                {
                    **entry,
                    "paid": _major(entry["paid"], code),
                    "received": _major(entry["received"], code),
                    "net": _major(abs(net), code),
                    "net_direction": "owed to us" if net > 0 else "owed by us" if net < 0 else "flat",
                }
            )
        netting: dict[str, int] = {}
        for (_, code), entry in table.items():
            netting[code] = netting.get(code, 0) + entry["received"] - entry["paid"]
        holdings = []
        for code, token in sorted(self.bank.wholesale.items()):
            mirrored, block = self.bank.mirrored_balance(token.address, self.treasury)
            on_chain = int(
                token.contract.functions.balanceOf(self.treasury).call(block_identifier=block or "latest")
            )
            holdings.append(
                {
                    "currency": code,
                    "token": token.address,
                    "mirror": _major(mirrored, code),
                    "chain": _major(on_chain, code),
                    "block": block,
                    "agrees": mirrored == on_chain,
                }
            )
        return {
            "day": day.isoformat(),
            "bilateral": bilateral,
            "netting": [
                {
                    "currency": c,
                    "net": _major(abs(v), c),
                    "direction": "receive" if v > 0 else "pay" if v < 0 else "flat",
                }
                for c, v in sorted(netting.items())
            ],
            "holdings": holdings,
        }

    # -------------------------------------------------------------------------------- helpers ---

    def _call(self, partner: Partner, method: str, path: str, body: Any) -> dict[str, Any]:
        try:
            response = self.partners.call(partner, method, path, body)
        except httpx.HTTPError as exc:
            raise FxUnavailableError(f"{partner.name} does not answer: {exc}") from None
        if response.status_code >= 400:
            raise FxUnavailableError(f"{partner.name} refused: {_detail(response)}")
        out: dict[str, Any] = response.json()
        return out

    def _by_key(self, key: str) -> CrossBorderPayment | None:
        with self.bank.readers() as session:
            return session.scalars(
                select(CrossBorderPayment).where(CrossBorderPayment.idempotency_key == key)
            ).first()

    def _payment(self, payment_id: str) -> CrossBorderPayment:
        with self.bank.readers() as session:
            payment = session.get(CrossBorderPayment, payment_id)
        if payment is None:
            raise NotFoundError("payment", payment_id)
        return payment

    def _find(self, partner: Partner, end_to_end_id: str, direction: PaymentDirection) -> CrossBorderPayment:
        with self.bank.readers() as session:
            payment = session.scalars(
                select(CrossBorderPayment).where(
                    CrossBorderPayment.partner_id == partner.id,
                    CrossBorderPayment.end_to_end_id == end_to_end_id,
                    CrossBorderPayment.direction == direction,
                )
            ).first()
        if payment is None:
            raise NotFoundError("payment", end_to_end_id)
        return payment

    def _mark(self, payment_id: str, **values: Any) -> None:
        with self.bank.sessions.begin() as session:
            session.execute(
                update(CrossBorderPayment).where(CrossBorderPayment.id == payment_id).values(**values)
            )

    def _settlement(self, payment: CrossBorderPayment) -> Settlement:
        with self.bank.readers() as session:
            row = session.get(Settlement, payment.settlement_id)
        assert row is not None
        return row

    def _where(self, row: Settlement) -> tuple[str | None, int | None]:
        if row.status != SettlementStatus.SETTLED:
            return None, None
        if row.chain_tx_id is not None:
            tx = self.bank.chain_tx(row.chain_tx_id)
            return (tx.tx_hash, tx.block_number) if tx else (None, None)
        return row.tx_hash, row.block_number

    def _state(self, row: Settlement) -> str:
        if row.status == SettlementStatus.SETTLED:
            if row.chain_tx_id is not None:
                tx = self.bank.chain_tx(row.chain_tx_id)
                return settlement_state(row.status, tx.status if tx else None)
            final = self.bank.is_final(row.block_number or 0, self.bank.w3.eth.block_number)
            return "final" if final else "executed"
        if row.status in (SettlementStatus.PENDING, SettlementStatus.SUBMITTED):
            return "submitted"
        return row.status.value

    def view(self, payment: CrossBorderPayment) -> dict[str, Any]:
        """A payment as our customer sees it."""
        row = self._settlement(payment)
        tx_hash, block = self._where(row)
        return {
            "id": payment.id,
            "direction": payment.direction.value,
            "partner": payment.partner_id,
            "end_to_end_id": payment.end_to_end_id,
            "state": self._state(row),
            "debit": {
                "currency": payment.debit_currency,
                "amount": _major(payment.debit_amount, payment.debit_currency),
            },
            "interbank": {
                "currency": payment.interbank_currency,
                "amount": _major(payment.interbank_amount, payment.interbank_currency),
            },
            "credit": {
                "currency": payment.credit_currency,
                "amount": _major(payment.credit_amount, payment.credit_currency),
            },
            "debtor": payment.debtor,
            "creditor": payment.creditor,
            "settlement_id": "0x" + bytes(row.settlement_hash).hex(),
            "deadline": datetime.fromtimestamp(row.deadline, UTC).isoformat(),
            "tx_hash": tx_hash,
            "block_number": block,
            "error": {"name": row.error_name, "args": row.error_args or {}} if row.error_name else None,
            "reason": payment.reason,
            "created_at": aware(payment.created_at).isoformat(),
        }

    def _partner_view(self, payment: CrossBorderPayment) -> dict[str, Any]:
        view = self.view(payment)
        for private in ("debtor", "creditor"):
            view.pop(private)
        return view


class _Offer:
    """A partner's offer as checked: the terms, the signatures, our leg, and what it credits whom."""

    def __init__(
        self,
        *,
        terms: Terms,
        signatures: list[Signature | None],
        our_leg: int,
        token: Token,
        credit: int,
        quote: PartnerQuote,
        account: WalletAccount,
    ) -> None:
        self.terms = terms
        self.signatures = signatures
        self.our_leg = our_leg
        self.token = token
        self.credit = credit
        self.quote = quote
        self.account = account


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.text)[:300]
    except ValueError:
        return response.text[:300]


def _exp(code: str) -> int:
    return iso_currency(code).exponent


def _major(units: int, code: str) -> str:
    return format_amount(units, _exp(code))


__all__ = ["CrossBorder"]
