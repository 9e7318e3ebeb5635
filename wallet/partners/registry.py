"""The partner banks we settle with: registered by an administrator with the key their requests are
signed with, where their partner API is, their treasury on chain and the limits we keep with them; and
a signed HTTP client to call them.

Limits are per currency of the interbank leg (the wholesale token that moves between the banks), in
minor units: `max_payment` caps one payment, `max_open` the payments with that partner accepted and
not yet settled or failed, in both directions together (what waits on the partner at any moment).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.bank.users import Principal
from wallet.chain.addresses import checksum
from wallet.compliance.audit import AuditLog
from wallet.db.models import CrossBorderPayment, Partner, Settlement
from wallet.errors import ConflictError, InvalidRequestError, NotFoundError, PartnerLimitError
from wallet.money import currency as iso_currency
from wallet.money import format_amount, parse_amount
from wallet.partners.signatures import HttpKeys, b64, public_key_from
from wallet.vocabulary import Role, SettlementStatus

PARTNER_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
OPEN_STATES = (SettlementStatus.OFFERED, SettlementStatus.PENDING, SettlementStatus.SUBMITTED)


class Partners:
    """Registers partner banks, keeps their limits, and calls their partner APIs signed with our key."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: HttpKeys,
        *,
        transport: Callable[[Partner], httpx.Client] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.keys = keys
        self.timeout = timeout
        # How to reach a partner: a fresh client on its base URL (tests give the partner's app).
        self._transport = transport or (lambda p: httpx.Client(base_url=p.base_url, timeout=timeout))
        self._clients: dict[str, httpx.Client] = {}

    # ----------------------------------------------------------------------------- registering ---

    def register(self, principal: Principal, **fields: Any) -> dict[str, Any]:
        """Registers a partner bank (administrators only)."""
        principal.require(Role.ADMIN)
        partner = self._validated(fields)
        try:
            with self.sessions.begin() as session:
                session.add(partner)
                AuditLog.append(
                    session,
                    actor=principal.username,
                    action="partner.registered",
                    subject=f"partner:{partner.id}",
                    details={"name": partner.name, "bic": partner.bic, "key_id": partner.key_id},
                )
        except IntegrityError:
            raise ConflictError(
                f"a partner with id {partner.id!r} or key id {partner.key_id!r} exists"
            ) from None
        return self.view(partner)

    def ensure(self, **fields: Any) -> Partner:
        """Registers a partner unless one with its id exists (the development network); returns it."""
        partner = self._validated(fields)
        with self.sessions.begin() as session:
            existing = session.get(Partner, partner.id)
            if existing is not None:
                for name in (
                    "name",
                    "bic",
                    "key_id",
                    "public_key",
                    "base_url",
                    "treasury",
                    "max_payment",
                    "max_open",
                ):
                    setattr(existing, name, getattr(partner, name))
                return existing
            session.add(partner)
        return partner

    def _validated(self, fields: Mapping[str, Any]) -> Partner:
        partner_id = str(fields.get("id", ""))
        if not PARTNER_ID.match(partner_id):
            raise InvalidRequestError("a partner id is 2 to 32 lower-case letters, digits or '-'")
        bic = str(fields.get("bic", "")).upper()
        if not BIC.match(bic):
            raise InvalidRequestError(f"{bic!r} is not a BIC (8 or 11 letters and digits)")
        try:
            public_key = public_key_from(str(fields.get("public_key", "")))
        except ValueError:
            raise InvalidRequestError("public_key must be a base64 Ed25519 public key (32 bytes)") from None
        treasury = checksum(str(fields.get("treasury", "")))
        if treasury is None:
            raise InvalidRequestError("treasury must be the partner's treasury address on chain")
        base_url = str(fields.get("base_url", ""))
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequestError("base_url must be the partner API's http(s) address")
        return Partner(
            id=partner_id,
            name=str(fields.get("name") or partner_id)[:140],
            bic=bic,
            key_id=str(fields.get("key_id") or "")[:100] or partner_id,
            public_key=public_key,
            base_url=base_url.rstrip("/"),
            treasury=treasury,
            max_payment=_limits(fields.get("max_payment")),
            max_open=_limits(fields.get("max_open")),
            active=True,
        )

    def get(self, partner_id: str) -> Partner:
        """The active partner `partner_id`."""
        with self.sessions() as session:
            partner = session.get(Partner, partner_id)
        if partner is None or not partner.active:
            raise NotFoundError("partner", partner_id)
        return partner

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        """Every partner (staff and customers: who can be paid)."""
        principal.require(Role.CUSTOMER, Role.OPERATOR, Role.ADMIN, Role.COMPLIANCE)
        with self.sessions() as session:
            partners = list(session.scalars(select(Partner).where(Partner.active).order_by(Partner.id)))
        return [self.view(p) for p in partners]

    @staticmethod
    def view(partner: Partner) -> dict[str, Any]:
        return {
            "id": partner.id,
            "name": partner.name,
            "bic": partner.bic,
            "key_id": partner.key_id,
            "public_key": b64(bytes(partner.public_key)),
            "base_url": partner.base_url,
            "treasury": partner.treasury,
            "max_payment": {c: _major(v, c) for c, v in (partner.max_payment or {}).items()},
            "max_open": {c: _major(v, c) for c, v in (partner.max_open or {}).items()},
        }

    # ---------------------------------------------------------------------------------- limits ---

    def check_limits(self, session: Session, partner: Partner, currency: str, amount: int) -> None:
        """Raises `PartnerLimitError` when a payment of `amount` (interbank, minor units of `currency`)
        with `partner` is above its single-payment limit, or would take what is open with it above its
        limit; counted inside `session`'s transaction."""
        single = (partner.max_payment or {}).get(currency)
        if single is not None and amount > single:
            raise PartnerLimitError(
                f"{_major(amount, currency)} {currency} is above the {_major(single, currency)} {currency} "
                f"a single payment with {partner.name} may be"
            )
        cap = (partner.max_open or {}).get(currency)
        if cap is None:
            return
        open_now = session.scalar(
            select(func.coalesce(func.sum(CrossBorderPayment.interbank_amount), 0))
            .join(Settlement, Settlement.id == CrossBorderPayment.settlement_id)
            .where(
                CrossBorderPayment.partner_id == partner.id,
                CrossBorderPayment.interbank_currency == currency,
                Settlement.status.in_(OPEN_STATES),
            )
        )
        if int(open_now or 0) + amount > cap:
            raise PartnerLimitError(
                f"payments with {partner.name} waiting to settle would reach "
                f"{_major(int(open_now or 0) + amount, currency)} {currency}, above the "
                f"{_major(cap, currency)} {currency} kept open with it; try again when some have settled"
            )

    # ---------------------------------------------------------------------------------- calling ---

    def call(
        self,
        partner: Partner,
        method: str,
        path: str,
        body: Any | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """A request to `partner`'s partner API, signed with our key (RFC 9421): `body` as JSON, or
        `raw` bytes of `content_type`."""
        client = self._clients.get(partner.id)
        if client is None:
            client = self._clients[partner.id] = self._transport(partner)
        if raw is None:
            raw = json.dumps(body if body is not None else {}, separators=(",", ":")).encode()
        url = f"{partner.base_url}{path}"
        headers = self.keys.sign(method=method, url=url, body=raw, content_type=content_type)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return client.request(method, url, content=raw, headers=headers, timeout=self.timeout)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _limits(raw: Any) -> dict[str, int]:
    """`{"USD": "100000.00"}` as minor units."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("limits are an object of currency to amount")
    out: dict[str, int] = {}
    for code, amount in raw.items():
        code = str(code).upper()
        out[code] = (
            amount if isinstance(amount, int) and not isinstance(amount, bool) else parse_amount(amount, code)
        )
    return out


def _major(units: int, code: str) -> str:
    return format_amount(units, iso_currency(code).exponent)


__all__ = ["Partners"]
