"""Regulatory reports: suspicious transaction reports in goAML XML built from a case, and the daily
large-transactions report.

goAML (UNODC's format, schema 5) is built from a case: the reporting entity (settings
`goaml_rentity_id`, `goaml_rentity_branch`, the bank's address), the reporting person (the officer),
the reason (every alert's explanation) and action (the case's actions and disposition), and one
`transaction` per movement of the case's alerts, with its chain transaction hash as the transaction
number. Each side is a `t_from` / `t_to` account: the institution (this bank, with its BIC, when the
address is a customer's; "external wallet" otherwise), the chain address as the account number, the
currency, and the holder's name. goAML's lookup codes (funds type, transmission mode, indicators,
address type) are each financial intelligence unit's own; the generic schema defines only "-", which is
what is written until a bank configures its FIU's codes. A test validates the report against the
published `goAMLSchema.xsd` with `xmlschema`.

The large-transactions report lists every transfer of a UTC day (block time) at or above the policy's
reporting threshold in its currency (`monitoring.amounts.<CUR>.reporting`), from the ledger mirror, as
JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import select

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.cases import CaseItemView, Cases
from wallet.compliance.inspection import Inspector, Rule
from wallet.compliance.matching import country_of_numeric
from wallet.compliance.policy import PolicyStore
from wallet.db.models import JournalEntry, KycProfile, User, WalletAccount
from wallet.errors import InvalidRequestError
from wallet.ledger.journal import movements
from wallet.money import format_amount
from wallet.vocabulary import Role

PLACEHOLDER = "-"  # the generic goAML schema's only lookup code


def _sql_date(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _text(parent: etree._Element, tag: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = str(value)
    return element


class Reports:
    """goAML reports from cases, and the large-transactions report."""

    def __init__(
        self,
        bank: Bank,
        cases: Cases,
        policy: PolicyStore,
        inspector: Inspector,
        *,
        rentity_id: int = 1,
        rentity_branch: str = "Head office",
        country: str = "US",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bank = bank
        self.cases = cases
        self.policy = policy
        self.inspector = inspector
        self.rentity_id = rentity_id
        self.rentity_branch = rentity_branch
        self.country = country
        self.clock = clock or (lambda: datetime.now(UTC))
        self.currencies = {t.address.lower(): t.currency for t in bank.tokens.values()}

    # ------------------------------------------------------------------------------------ goAML ---

    def goaml(self, principal: Principal, case_id: str, *, attach: bool = True) -> bytes:
        """The case as a goAML suspicious transaction report (STR); with `attach`, also filed as a
        report in the case (sealed, audited)."""
        principal.require(Role.COMPLIANCE)
        found = self.cases.get(principal, case_id)
        movements: dict[tuple[str, int], dict[str, Any]] = {}
        for alert in found.alerts:
            for movement in alert.movements:
                movements.setdefault(
                    (movement["tx_hash"], movement["log_index"]), {**movement, "typology": alert.typology}
                )
        if not movements:
            raise InvalidRequestError("the case has no transactions to report")
        with self.bank.readers() as session:
            officer = session.get(User, principal.user_id)
            holders = {a for m in movements.values() for a in (m["from"], m["to"])}
            customers = {
                row.address: (row.user_id, row.full_name or row.username)
                for row in session.execute(
                    select(WalletAccount.address, WalletAccount.user_id, User.full_name, User.username)
                    .join(User, User.id == WalletAccount.user_id)
                    .where(WalletAccount.address.in_(holders))
                )
            }
            countries = {
                p.user_id: p.residence_country
                for p in session.scalars(
                    select(KycProfile).where(KycProfile.user_id.in_({u for u, _ in customers.values()}))
                )
            }
        now = self.clock()
        local = found.alerts[0].currency
        report = etree.Element("report")
        _text(report, "rentity_id", self.rentity_id)
        _text(report, "rentity_branch", self.rentity_branch)
        _text(report, "submission_code", "E")
        _text(report, "report_code", "STR")
        _text(report, "entity_reference", f"case:{case_id}")
        _text(report, "submission_date", _sql_date(now))
        _text(report, "currency_code_local", local)
        person = etree.SubElement(report, "reporting_person")
        name = (officer.full_name if officer and officer.full_name else principal.username).split()
        _text(person, "first_name", name[0])
        _text(person, "last_name", " ".join(name[1:]) or name[0])
        self._address(report, "location")
        reasons = [f"{a.typology}: {a.explanation}" for a in found.alerts]
        _text(report, "reason", "; ".join(reasons)[:8000])
        actions = [i.body for i in found.items if i.kind in ("action", "status")]
        _text(report, "action", ("; ".join(actions) or "reported for review")[:8000])
        for (tx_hash, log_index), m in sorted(movements.items(), key=lambda kv: (kv[1]["block"], kv[0])):
            transaction = etree.SubElement(report, "transaction")
            _text(transaction, "transactionnumber", f"{tx_hash}:{log_index}")
            _text(transaction, "internal_ref_number", f"entry:{m['entry_id']}")
            _text(transaction, "transaction_location", f"EVM chain {self.bank.chain_id}, block {m['block']}")
            _text(
                transaction,
                "transaction_description",
                f"{m['amount']} {m['currency']} from {m['from']} to {m['to']} ({m['typology']})",
            )
            _text(transaction, "date_transaction", _sql_date(datetime.fromtimestamp(m["time"], UTC)))
            _text(transaction, "transmode_code", PLACEHOLDER)
            _text(transaction, "amount_local", m["amount"])
            for side, address in (("from", m["from"]), ("to", m["to"])):
                party = etree.SubElement(transaction, f"t_{side}")
                _text(party, f"{side}_funds_code", PLACEHOLDER)
                account = etree.SubElement(party, f"{side}_account")
                customer = customers.get(address)
                _text(
                    account,
                    "institution_name",
                    self.bank.manifest.bank_name if customer else "External wallet",
                )
                if customer and self.bank.config.bic:
                    _text(account, "swift", self.bank.config.bic)
                else:
                    _text(account, "institution_code", f"EVM-{self.bank.chain_id}")
                _text(account, "account", address)
                _text(account, "currency_code", m["currency"])
                if customer:
                    _text(account, "account_name", customer[1])
                    # goAML's client_number holds 30 characters; a customer id has 32.
                    _text(account, "comments", f"customer {customer[0]}")
                country = countries.get(customer[0]) if customer else None
                _text(party, f"{side}_country", country or (self.country if customer else PLACEHOLDER))
            _text(transaction, "comments", f"alert typology {m['typology']}")
        indicators = etree.SubElement(report, "report_indicators")
        _text(indicators, "indicator", PLACEHOLDER)
        xml = etree.tostring(report, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        if attach:
            self.cases.attach(
                principal,
                case_id,
                filename=f"goaml-str-{case_id}.xml",
                content_type="application/xml",
                content=xml,
                description=f"goAML suspicious transaction report, {len(movements)} transactions",
                kind="report",
                details={"format": "goAML 5", "report_code": "STR", "transactions": len(movements)},
            )
        return bytes(xml)

    def _address(self, parent: etree._Element, tag: str) -> None:
        lines = list(self.bank.config.address) or [self.bank.manifest.bank_name]
        address = etree.SubElement(parent, tag)
        _text(address, "address_type", PLACEHOLDER)
        _text(address, "address", lines[0])
        _text(address, "city", lines[1] if len(lines) > 1 else lines[0])
        _text(address, "country_code", self.country)

    # --------------------------------------------------------------------------------- evidence ---

    def snapshot(
        self,
        principal: Principal,
        case_id: str,
        *,
        block: int | None = None,
        currency: str | None = None,
        hops: int = 3,
        rule: Rule = "fifo",
    ) -> list[CaseItemView]:
        """Files into the case the inspection of its subject at `block` (checked against the node) and,
        given a currency, the picture of a forward trace from it."""
        principal.require(Role.COMPLIANCE)
        subject = self.cases.get(principal, case_id).case.subject
        view = self.inspector.address(principal, subject, block=block, verify=True)
        items = [
            self.cases.attach(
                principal,
                case_id,
                filename=f"inspection-{subject}-{view['block']}.json",
                content_type="application/json",
                content=json.dumps(view, indent=2, sort_keys=True).encode(),
                description=f"inspection of {subject} at block {view['block']} "
                f"({'agrees' if view['verified'] else 'DISAGREES'} with the node)",
                details={"block": view["block"], "verified": view["verified"]},
            )
        ]
        if currency:
            graph = self.inspector.trace(
                principal, subject, currency=currency, hops=hops, rule=rule, to_block=block
            )
            items.append(
                self.cases.attach(
                    principal,
                    case_id,
                    filename=f"trace-{subject}-{hops}-hops.svg",
                    content_type="image/svg+xml",
                    content=graph.picture("svg"),
                    description=f"forward trace of {currency} from {subject}, {hops} hops, {rule}",
                    details={"edges": len(graph.edges), "rule": rule, "hops": hops},
                )
            )
        return items

    # ------------------------------------------------------------------------ large transactions ---

    def large_transactions(self, principal: Principal, day: date) -> list[dict[str, Any]]:
        """Every transfer of the UTC day at or above its currency's reporting threshold."""
        principal.require(Role.COMPLIANCE)
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        end = int((datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)).timestamp())
        with self.bank.readers() as session:
            thresholds = self.policy.current(session).monitoring
            rows = session.execute(
                movements()
                .add_columns(JournalEntry.kind, JournalEntry.state)
                .where(
                    JournalEntry.chain_id == self.bank.chain_id,
                    JournalEntry.block_time >= start,
                    JournalEntry.block_time < end,
                    JournalEntry.kind == "transfer",
                )
                .order_by(JournalEntry.block_number, JournalEntry.log_index)
            ).all()
        out = []
        for row in rows:
            currency = self.currencies.get(row.token.lower())
            limit = thresholds.get(currency or "", {}).get("reporting")
            if currency is None or limit is None or int(row.amount) < limit:
                continue
            decimals = self.bank.token(currency).decimals
            out.append(
                {
                    "time": datetime.fromtimestamp(row.time, UTC).isoformat(),
                    "block": row.block,
                    "tx_hash": row.tx_hash,
                    "log_index": row.log_index,
                    "kind": row.kind,
                    "state": str(row.state),
                    "from": row.sender,
                    "to": row.receiver,
                    "amount": format_amount(int(row.amount), decimals),
                    "currency": currency,
                    "threshold": format_amount(limit, decimals),
                }
            )
        return out

    @staticmethod
    def as_csv(rows: list[dict[str, Any]]) -> str:
        columns = [
            "time",
            "block",
            "tx_hash",
            "log_index",
            "kind",
            "state",
            "from",
            "to",
            "amount",
            "currency",
            "threshold",
        ]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()


def country_of(numeric: int) -> str:
    """The ISO alpha-2 code of an ISO numeric country code (the registry's jurisdiction), or goAML's
    placeholder."""
    return country_of_numeric(numeric) or PLACEHOLDER


__all__ = ["Reports", "country_of"]
