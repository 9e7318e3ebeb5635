"""Chain inspection for compliance officers: any address at any block, a token's holders, flows traced
hop by hop, and one timeline of everything that touched an address or a customer.

Everything is read from the ledger mirror (posted entries, `chain_events`), which holds every movement
of the bank's tokens, including those of KYC'd outside wallets that never used the API. "At block B"
means the entries and events of blocks up to and including B. `verify` asks the node too
(`balanceOf`, `totalSupply` at B) and says whether the mirror agrees.

Flow tracing (`trace`). Each account's history is replayed in chain order and every outgoing transfer is
given a composition: which incoming transfers (the sources) paid for how much of it. Two attribution
rules, selectable:

- `fifo`: the balance is a queue of lots, one per incoming transfer, oldest first; an outgoing transfer
  takes from the oldest lots.
- `proportional`: the balance is a mix; an outgoing transfer takes from every source in proportion to
  what is left of it (in integer minor units: each share rounded down, the remainder to the largest).

Money that was on the account before its first mirrored movement has no source ("unattributed").
Forward from a transaction, the traced amount is what it paid its receiver; from there, each later
outgoing transfer of the receiver carries the part of its composition that came from traced sources, and
so on for `hops` hops. Forward from an address, each of its outgoing transfers (in the block range) is a
first hop carrying its whole amount. Backward is the mirror image: a transfer's traced amount is split
over its sources by its composition, and each source transfer is followed back from its sender. A path
stops at the issuance account (mints, burns), at the bank's own addresses, at the `stop` addresses given
(exchanges, say), at an account with more than `MAX_REPLAY` movements (a hub: named in the answer), and
where the traced amount is zero. The answer is a graph: nodes (addresses, named when they are ours) and
edges (transfers with the amount traced through them and the hop), as JSON or as a picture drawn by
Graphviz (`dot`, SVG or PNG).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import graphviz
from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased
from web3.exceptions import Web3RPCError

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.monitoring import Movement, movement_of
from wallet.db.models import (
    Alert,
    AuditRecord,
    Case,
    CaseItem,
    ChainEvent,
    IndexerCursor,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
    TransferRequest,
    User,
    WalletAccount,
    aware,
)
from wallet.errors import InvalidRequestError, NotFoundError
from wallet.ledger.journal import movements
from wallet.money import format_amount
from wallet.references import reference_text
from wallet.vocabulary import Role

ZERO = "0x0000000000000000000000000000000000000000"
log = logging.getLogger(__name__)
MAX_REPLAY = 20_000  # movements of one account a trace replays; beyond, the account is a hub and stops
Rule = Literal["fifo", "proportional"]
Direction = Literal["forward", "backward"]
REGISTRY_EVENTS = ("KycUpdated", "BlockedUpdated")
TOKEN_EVENTS = (
    "AccountFrozen",
    "AccountUnfrozen",
    "FrozenAmountChanged",
    "TransferForced",
    "AccountRecovered",
)


def address_of(text: str) -> str:
    """`text` as a checksummed address, or a clear refusal."""
    if not is_address(text.strip()):
        raise InvalidRequestError(f"{text!r} is not an address (0x and 40 hexadecimal digits)")
    return to_checksum_address(text.strip())


@dataclass
class TraceGraph:
    """What `trace` found."""

    start: str
    direction: Direction
    rule: Rule
    hops: int
    currency: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "direction": self.direction,
            "rule": self.rule,
            "hops": self.hops,
            "currency": self.currency,
            "nodes": list(self.nodes.values()),
            "edges": self.edges,
        }

    def picture(self, fmt: Literal["svg", "png"] = "svg") -> bytes:
        """The graph drawn by Graphviz's dot, left to right."""
        dot = graphviz.Digraph("trace", format=fmt)
        dot.attr(rankdir="LR", fontname="Helvetica", label=self._title(), labelloc="t")
        dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10")
        dot.attr("edge", fontname="Helvetica", fontsize="9")
        for address, node in self.nodes.items():
            colour = {"start": "#f6c6c6", "stop": "#dddddd", "hub": "#ffe4a8"}.get(node["role"], "#e8f0fe")
            label = f"{node['name']}\n{address[:10]}…{address[-6:]}" if node["name"] else address
            if node.get("stopped"):
                label += f"\n({node['stopped']})"
            dot.node(address, label, fillcolor=colour)
        for edge in self.edges:
            dot.edge(
                edge["from"],
                edge["to"],
                label=f"hop {edge['hop']}: {edge['traced']} of {edge['amount']}\n{edge['tx_hash'][:12]}…",
            )
        return bytes(dot.pipe())

    def _title(self) -> str:
        return f"{self.direction} trace from {self.start}, {self.hops} hops, {self.rule} ({self.currency})"


class Inspector:
    """Compliance's view of the chain through the ledger mirror."""

    def __init__(self, bank: Bank | Any) -> None:  # Any: a benchmark's bare mirror, with the same names
        self.bank = bank
        self.currencies: dict[str, str] = {t.address: t.currency for t in bank.tokens.values()}
        self.decimals: dict[str, int] = {t.address: t.decimals for t in bank.tokens.values()}

    # ------------------------------------------------------------------------------- address ---

    def address(
        self, principal: Principal, address: str, *, block: int | None = None, verify: bool = False
    ) -> dict[str, Any]:
        """Everything the mirror knows of `address` up to `block` (default: where the mirror is)."""
        principal.require(Role.COMPLIANCE)
        holder = address_of(address)
        with self.bank.readers() as session:
            at = self._block(session, block)
            accounts = dict(
                session.execute(
                    select(LedgerAccount.id, LedgerAccount.token).where(
                        LedgerAccount.holder == holder, LedgerAccount.chain_id == self.bank.chain_id
                    )
                ).all()
            )
            balances: dict[str, int] = dict.fromkeys(accounts.values(), 0)
            first = last = None
            references: list[dict[str, Any]] = []
            volume: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # in, out, count
            if accounts:
                other, counter = aliased(JournalLeg), aliased(LedgerAccount)
                rows = session.execute(
                    select(
                        JournalLeg.account_id,
                        JournalLeg.amount,
                        JournalEntry.block_number,
                        JournalEntry.block_time,
                        JournalEntry.tx_hash,
                        JournalEntry.payment_reference,
                        counter.holder,
                    )
                    .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                    .join(other, (other.entry_id == JournalLeg.entry_id) & (other.id != JournalLeg.id))
                    .join(counter, counter.id == other.account_id)
                    .where(
                        JournalLeg.account_id.in_(list(accounts)),
                        JournalEntry.block_number <= at,
                        JournalEntry.posted.is_(True),
                    )
                ).all()
                for account_id, amount, number, time, tx_hash, reference, counterparty in rows:
                    token = accounts[account_id]
                    amount = int(amount)
                    balances[token] += amount
                    stamp = (number, time)
                    first = stamp if first is None or stamp < first else first
                    last = stamp if last is None or stamp > last else last
                    tally = volume[(token, counterparty)]
                    tally[0 if amount > 0 else 1] += abs(amount)
                    tally[2] += 1
                    if reference is not None:
                        references.append(
                            {
                                "block": number,
                                "tx_hash": tx_hash,
                                "reference": reference_text(reference),
                                "direction": "in" if amount > 0 else "out",
                                "amount": self._money(token, abs(amount)),
                                "counterparty": counterparty,
                            }
                        )
            events = self._events(session, holder, at)
            names = self._names(session)
            customer = self._customer(session, holder)
        balance_rows = []
        for token, units in sorted(balances.items(), key=lambda kv: self.currencies.get(kv[0], kv[0])):
            row: dict[str, Any] = {
                "token": token,
                "currency": self.currencies.get(token),
                "balance": self._money(token, units),
            }
            if verify:
                on_chain = self._balance_of(token, holder, at)
                row["node_balance"] = None if on_chain is None else self._money(token, on_chain)
                row["agrees"] = None if on_chain is None else on_chain == units
            balance_rows.append(row)
        ranked = sorted(volume.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
        return {
            "address": holder,
            "block": at,
            "name": names.get(holder),
            "customer": customer,
            "balances": balance_rows,
            # None: not asked, or the node keeps no state as old as the block (nothing is claimed then).
            "verified": _all_agree([r["agrees"] for r in balance_rows]) if verify else None,
            "kyc": [e for e in events if e["name"] == "KycUpdated"],
            "blocks": [e for e in events if e["name"] == "BlockedUpdated"],
            "freezes": [
                e for e in events if e["name"] in ("AccountFrozen", "AccountUnfrozen", "FrozenAmountChanged")
            ],
            "forced_transfers": [e for e in events if e["name"] == "TransferForced"],
            "recoveries": [e for e in events if e["name"] == "AccountRecovered"],
            "payment_references": sorted(references, key=lambda r: (r["block"], r["tx_hash"])),
            "counterparties": [
                {
                    "address": address,
                    "name": names.get(address),
                    "currency": self.currencies.get(token),
                    "received": self._money(token, tally[0]),
                    "sent": self._money(token, tally[1]),
                    "transfers": tally[2],
                }
                for (token, address), tally in ranked[:50]
            ],
            "first_activity": self._stamp(first),
            "last_activity": self._stamp(last),
        }

    @staticmethod
    def require_reader(principal: Principal) -> None:
        """Raises unless `principal` may inspect the chain (compliance)."""
        principal.require(Role.COMPLIANCE)

    # ------------------------------------------------------------------------------- holders ---

    def holders(
        self, principal: Principal, currency: str, *, block: int | None = None, verify: bool = True
    ) -> dict[str, Any]:
        """Every holder of the currency's token at `block`, frozen and blocked accounts, and the check
        that the holders add up to the total supply (the mirror's, and the node's with `verify`)."""
        principal.require(Role.COMPLIANCE)
        token = self.bank.token(currency.upper()).address
        with self.bank.readers() as session:
            at = self._block(session, block)
            rows = session.execute(
                select(LedgerAccount.holder, func.sum(JournalLeg.amount))
                .join(JournalLeg, JournalLeg.account_id == LedgerAccount.id)
                .join(JournalEntry, JournalEntry.id == JournalLeg.entry_id)
                .where(
                    LedgerAccount.chain_id == self.bank.chain_id,
                    LedgerAccount.token == token,
                    JournalEntry.block_number <= at,
                    JournalEntry.posted.is_(True),
                )
                .group_by(LedgerAccount.holder)
            ).all()
            states = self._states(session, token, at)
            names = self._names(session)
            supply = session.execute(
                select(
                    JournalEntry.block_time,
                    JournalEntry.kind,
                    func.sum(JournalLeg.amount),
                )
                .join(JournalLeg, JournalLeg.entry_id == JournalEntry.id)
                .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                .where(
                    JournalEntry.token == token,
                    JournalEntry.chain_id == self.bank.chain_id,
                    JournalEntry.kind.in_(("mint", "burn")),
                    JournalEntry.block_number <= at,
                    JournalEntry.posted.is_(True),
                    LedgerAccount.holder == ZERO,
                )
                .group_by(JournalEntry.block_time, JournalEntry.kind)
            ).all()
        balances = {holder: int(total) for holder, total in rows}
        issued = -balances.pop(ZERO, 0)
        held = {h: units for h, units in balances.items() if units != 0}
        total = sum(held.values())
        days: dict[str, dict[str, int]] = defaultdict(lambda: {"minted": 0, "burned": 0})
        for time, kind, units in supply:
            day = datetime.fromtimestamp(time, UTC).date().isoformat()
            days[day]["minted" if kind == "mint" else "burned"] += abs(int(units))
        answer: dict[str, Any] = {
            "currency": currency.upper(),
            "token": token,
            "block": at,
            "holders": [
                {
                    "address": h,
                    "name": names.get(h),
                    "balance": self._money(token, units),
                    **states.get(h, {}),
                }
                for h, units in sorted(held.items(), key=lambda kv: -kv[1])
            ],
            "holders_total": self._money(token, total),
            "total_supply": self._money(token, issued),
            "adds_up": total == issued,
            "frozen": sorted(h for h, s in states.items() if s.get("frozen") or s.get("frozen_amount")),
            "blocked": sorted(h for h, s in states.items() if s.get("blocked")),
            "supply_history": [
                {
                    "day": day,
                    "minted": self._money(token, d["minted"]),
                    "burned": self._money(token, d["burned"]),
                }
                for day, d in sorted(days.items())
            ],
        }
        if verify:
            on_chain = int(
                self.bank.tokens[currency.upper()].contract.functions.totalSupply().call(block_identifier=at)
            )
            answer["node_total_supply"] = self._money(token, on_chain)
            answer["node_agrees"] = on_chain == total == issued
        return answer

    # --------------------------------------------------------------------------------- trace ---

    def trace(
        self,
        principal: Principal,
        start: str,
        *,
        currency: str | None = None,
        direction: Direction = "forward",
        hops: int = 3,
        rule: Rule = "fifo",
        stop: Iterable[str] = (),
        from_block: int = 0,
        to_block: int | None = None,
    ) -> TraceGraph:
        """Follows funds from `start` (a transaction hash or an address) `hops` hops."""
        principal.require(Role.COMPLIANCE)
        if not 1 <= hops <= 10:
            raise InvalidRequestError("a trace goes 1 to 10 hops")
        if direction not in ("forward", "backward") or rule not in ("fifo", "proportional"):
            raise InvalidRequestError("direction is forward or backward; rule is fifo or proportional")
        stops = {address_of(a) for a in stop} | {ZERO} | set(self.bank.names())
        with self.bank.readers() as session:
            end = self._block(session, to_block)
            names = self._names(session)
            tracer = _Tracer(session, self.bank.chain_id, rule, end, self.currencies)
            text = start.strip().lower()
            if len(text) == 66 and text.startswith("0x"):
                firsts = tracer.flows_of_tx(text)
                if currency:
                    firsts = [f for f in firsts if self.currencies.get(f.token) == currency.upper()]
                if not firsts:
                    raise NotFoundError("transaction in the mirror", start)
                if len({f.token for f in firsts}) > 1:
                    raise InvalidRequestError("the transaction moves several tokens: name the currency")
                token = firsts[0].token
                origin = firsts[0].sender if direction == "forward" else firsts[0].receiver
            else:
                origin = address_of(start)
                if currency is None:
                    raise InvalidRequestError("tracing from an address needs the currency")
                token = self.bank.token(currency.upper()).address
                firsts = tracer.flows_of(origin, token, outgoing=direction == "forward", since=from_block)
            graph = TraceGraph(start, direction, rule, hops, self.currencies.get(token, token))
            self._node(graph, origin, names, "start")
            frontier = [(f, f.amount) for f in firsts]
            for hop in range(1, hops + 1):
                following: dict[int, tuple[Movement, int]] = {}
                if hop < hops:
                    ahead = {f.receiver if direction == "forward" else f.sender for f, t in frontier if t > 0}
                    tracer.prepare(ahead - stops, token)
                for flow, traced in frontier:
                    if traced <= 0:
                        continue
                    graph.edges.append(
                        {
                            "hop": hop,
                            "from": flow.sender,
                            "to": flow.receiver,
                            "tx_hash": flow.tx_hash,
                            "block": flow.block,
                            "amount": self._money(token, flow.amount),
                            "traced": self._money(token, traced),
                        }
                    )
                    nxt = flow.receiver if direction == "forward" else flow.sender
                    for address in (flow.sender, flow.receiver):
                        self._node(graph, address, names, "start" if address == origin else "node")
                    if nxt in stops:
                        graph.nodes[nxt]["role"] = "stop"
                        graph.nodes[nxt]["stopped"] = "issuance" if nxt == ZERO else "stop address"
                        continue
                    if hop == hops:
                        continue
                    try:
                        parts = (
                            tracer.onward(nxt, token, flow, traced)
                            if direction == "forward"
                            else tracer.sources(nxt, token, flow, traced)
                        )
                    except _HubError:
                        graph.nodes[nxt]["role"] = "hub"
                        graph.nodes[nxt]["stopped"] = f"more than {MAX_REPLAY} movements"
                        continue
                    for nflow, amount in parts:
                        seen = following.get(nflow.entry_id)
                        following[nflow.entry_id] = (nflow, amount + (seen[1] if seen else 0))
                frontier = sorted(following.values(), key=lambda x: (x[0].block, x[0].log_index))
        return graph

    # ------------------------------------------------------------------------------ timeline ---

    def timeline(self, principal: Principal, subject: str, *, limit: int = 500) -> dict[str, Any]:
        """Everything that touched an address or a customer (by user id), oldest first: movements and
        chain events from the mirror, transfers, audit records, alerts and case items."""
        principal.require(Role.COMPLIANCE)
        with self.bank.readers() as session:
            user: User | None = None
            if is_address(subject.strip()):
                addresses = {address_of(subject)}
                owner = self._customer(session, next(iter(addresses)))
                user = session.get(User, owner["user_id"]) if owner else None
            else:
                user = session.get(User, subject.strip())
                if user is None:
                    raise NotFoundError("customer", subject)
                addresses = set(
                    session.scalars(select(WalletAccount.address).where(WalletAccount.user_id == user.id))
                )
            items: list[dict[str, Any]] = []
            times: dict[int, int] = {}
            for address in addresses:
                for row in session.execute(
                    select(
                        JournalEntry.block_number,
                        JournalEntry.block_time,
                        JournalEntry.tx_hash,
                        JournalEntry.kind,
                        JournalEntry.token,
                        JournalLeg.amount,
                    )
                    .join(JournalLeg, JournalLeg.entry_id == JournalEntry.id)
                    .join(LedgerAccount, LedgerAccount.id == JournalLeg.account_id)
                    .where(LedgerAccount.holder == address, JournalEntry.posted.is_(True))
                    .order_by(JournalEntry.block_number.desc())
                    .limit(limit)
                ):
                    number, time, tx_hash, kind, token, amount = row
                    times[number] = time
                    items.append(
                        {
                            "at": _iso(time),
                            "source": "chain",
                            "kind": f"{kind}.{'in' if amount > 0 else 'out'}",
                            "summary": f"{kind} {'+' if amount > 0 else '-'}"
                            f"{self._money(token, abs(int(amount)))}",
                            "ref": tx_hash,
                            "block": number,
                        }
                    )
                for event in self._events(session, address, None):
                    items.append(
                        {
                            "at": None,
                            "source": "chain",
                            "kind": event["name"],
                            "summary": ", ".join(f"{k}={v}" for k, v in event["args"].items()),
                            "ref": event["tx_hash"],
                            "block": event["block"],
                        }
                    )
                for alert in session.scalars(select(Alert).where(Alert.subject == address).limit(limit)):
                    items.append(
                        {
                            "at": aware(alert.created_at).isoformat(),
                            "source": "monitoring",
                            "kind": f"alert.{alert.typology.value}",
                            "summary": alert.explanation,
                            "ref": f"alert:{alert.id}",
                            "block": alert.block_number,
                        }
                    )
                case_ids = list(session.scalars(select(Case.id).where(Case.subject == address)))
                for note in session.scalars(
                    select(CaseItem).where(CaseItem.case_id.in_(case_ids)).limit(limit)
                ):
                    items.append(
                        {
                            "at": aware(note.created_at).isoformat(),
                            "source": "case",
                            "kind": f"case.{note.kind}",
                            "summary": note.body[:300],
                            "ref": f"case:{note.case_id}",
                            "block": None,
                        }
                    )
            audit_subjects = [
                f"case:{c}" for c in session.scalars(select(Case.id).where(Case.subject.in_(addresses)))
            ]
            if user is not None:
                audit_subjects.append(f"user:{user.id}")
                for transfer in session.scalars(
                    select(TransferRequest).where(TransferRequest.payer.in_(addresses)).limit(limit)
                ):
                    items.append(
                        {
                            "at": aware(transfer.created_at).isoformat(),
                            "source": "transfers",
                            "kind": f"transfer.{transfer.status}",
                            "summary": f"{self._money(transfer.token, transfer.value)} to {transfer.payee}",
                            "ref": f"transfer:{transfer.id}",
                            "block": None,
                        }
                    )
            for record in session.scalars(
                select(AuditRecord).where(AuditRecord.subject.in_(audit_subjects)).limit(limit)
            ):
                items.append(
                    {
                        "at": aware(record.at).isoformat(),
                        "source": "audit",
                        "kind": record.action,
                        "summary": f"by {record.actor}",
                        "ref": f"audit:{record.seq}",
                        "block": None,
                    }
                )
            for item in items:
                if item["at"] is None and item["block"] is not None:
                    known = times.get(item["block"])
                    item["at"] = _iso(known if known is not None else self._block_time(item["block"]))
        items.sort(key=lambda i: (i["at"] or "", i["block"] or 0))
        return {
            "subject": subject,
            "user_id": user.id if user else None,
            "addresses": sorted(addresses),
            "items": items[-limit:],
        }

    # ------------------------------------------------------------------------------- helpers ---

    def _block(self, session: Session, block: int | None) -> int:
        cursor = session.get(IndexerCursor, self.bank.chain_id)
        mirrored = cursor.block_number if cursor else 0
        if block is None:
            return mirrored
        if block < 0:
            raise InvalidRequestError("a block number is not negative")
        if block > mirrored:
            raise InvalidRequestError(
                f"the mirror has reached block {mirrored}; block {block} is not in it yet"
            )
        return block

    def _block_time(self, number: int) -> int:
        """A block's time: from the mirror when an entry of it is there, else from the node."""
        return int(self.bank.w3.eth.get_block(number)["timestamp"])

    def _events(self, session: Session, holder: str, at: int | None) -> list[dict[str, Any]]:
        query = select(ChainEvent).where(
            ChainEvent.chain_id == self.bank.chain_id,
            ChainEvent.name.in_((*REGISTRY_EVENTS, *TOKEN_EVENTS)),
            or_(
                ChainEvent.account == holder,
                and_(ChainEvent.name == "AccountRecovered", ChainEvent.args["to"].as_string() == holder),
            ),
        )
        if at is not None:
            query = query.where(ChainEvent.block_number <= at)
        return [
            {
                "name": e.name,
                "block": e.block_number,
                "tx_hash": e.tx_hash,
                "contract": e.contract,
                "currency": self.currencies.get(e.contract),
                "args": e.args,
            }
            for e in session.scalars(query.order_by(ChainEvent.block_number, ChainEvent.log_index))
        ]

    def _states(self, session: Session, token: str, at: int) -> dict[str, dict[str, Any]]:
        states: dict[str, dict[str, Any]] = defaultdict(dict)
        for e in session.scalars(
            select(ChainEvent)
            .where(
                ChainEvent.chain_id == self.bank.chain_id,
                ChainEvent.block_number <= at,
                or_(
                    and_(ChainEvent.contract == token, ChainEvent.name.in_(TOKEN_EVENTS[:3])),
                    ChainEvent.name == "BlockedUpdated",
                ),
            )
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        ):
            if e.account is None:
                continue
            if e.name == "AccountFrozen":
                states[e.account]["frozen"] = True
            elif e.name == "AccountUnfrozen":
                states[e.account]["frozen"] = False
            elif e.name == "FrozenAmountChanged":
                states[e.account]["frozen_amount"] = self._money(token, int(e.args.get("current", 0)))
            elif e.name == "BlockedUpdated":
                states[e.account]["blocked"] = bool(e.args.get("blocked"))
        return states

    def _names(self, session: Session) -> dict[str, str]:
        names = dict(self.bank.names())
        for address, username, full_name in session.execute(
            select(WalletAccount.address, User.username, User.full_name).join(
                User, User.id == WalletAccount.user_id
            )
        ):
            names.setdefault(address, full_name or username)
        return names

    @staticmethod
    def _customer(session: Session, holder: str) -> dict[str, Any] | None:
        row = session.execute(
            select(User.id, User.username, User.full_name, User.kyc_status)
            .join(WalletAccount, WalletAccount.user_id == User.id)
            .where(WalletAccount.address == holder)
            .limit(1)
        ).first()
        if row is None:
            return None
        return {"user_id": row[0], "username": row[1], "full_name": row[2], "kyc_status": str(row[3])}

    def _balance_of(self, token: str, holder: str, at: int) -> int | None:
        """`balanceOf` at block `at` as the node answers; None when it keeps no state that old (a node
        that prunes history: anvil's in-memory states, a full node that is not an archive)."""
        contract = self.bank.token_at(token).contract
        try:
            if not self.bank.w3.eth.get_code(contract.address, block_identifier=at):
                return 0  # before the token was deployed nobody held any
            return int(contract.functions.balanceOf(holder).call(block_identifier=at))
        except Web3RPCError as refused:
            log.info("the node cannot read block %s: %s", at, refused)
            return None

    def _money(self, token: str, units: int) -> str:
        decimals = self.decimals.get(token, 0)
        code = self.currencies.get(token, "")
        return f"{format_amount(units, decimals)} {code}".strip()

    def _node(self, graph: TraceGraph, address: str, names: Mapping[str, str], role: str) -> None:
        if address not in graph.nodes:
            graph.nodes[address] = {"address": address, "name": names.get(address), "role": role}

    @staticmethod
    def _stamp(stamp: tuple[int, int] | None) -> dict[str, Any] | None:
        return None if stamp is None else {"block": stamp[0], "at": _iso(stamp[1])}


def _all_agree(agrees: list[bool | None]) -> bool | None:
    """False if any balance disagrees; None if the node could not say for one; True otherwise."""
    if False in agrees:
        return False
    return None if None in agrees else True


def _iso(time: int | None) -> str | None:
    return None if time is None else datetime.fromtimestamp(time, UTC).isoformat()


def _plain_rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
    """`query`'s rows as the database driver gives them, plain tuples: a trace reads tens of thousands
    of movements, and SQLAlchemy's rows and result processing cost as much as the query (the columns
    read here, `movements()`'s, need none: amounts are integers, or Decimals `movement_of` makes int)."""
    compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = tuple(params[name] for name in compiled.positiontup) if compiled.positional else params
    driver = session.connection().connection.driver_connection
    assert driver is not None  # the session's connection is open: it was just checked out
    cursor = driver.cursor()
    try:
        cursor.execute(str(compiled), args)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


class _HubError(Exception):
    """An account with too many movements to replay."""


class _Tracer:
    """Replays accounts' histories to give each outgoing transfer its composition by source.

    Histories are loaded a hop at a time (`prepare`: one query for every account the hop reaches), and
    each composition is kept by source as well, so that following an arrival onward reads only the
    transfers it fed."""

    CHUNK = 500  # accounts per query (SQLite's bound parameters)

    def __init__(
        self, session: Session, chain_id: int, rule: Rule, end: int, currencies: Mapping[str, str]
    ) -> None:
        self.session = session
        self.currencies = currencies
        self.chain_id = chain_id
        self.rule = rule
        self.query = movements().where(JournalEntry.block_number <= end)
        self.histories: dict[tuple[str, str], list[Movement] | None] = {}  # None: a hub
        self.compositions: dict[tuple[str, str], dict[int, dict[int, int]]] = {}
        self.fed: dict[tuple[str, str], dict[int, list[tuple[int, int]]]] = {}
        self.flows: dict[int, Movement] = {}

    def _flow(self, row: Any) -> Movement:
        """The movement of a `movements()` row (read by position: a plain tuple or a SQLAlchemy row)."""
        flow = self.flows.get(row[1])
        if flow is None:
            flow = self.flows[row[1]] = movement_of(row, self.currencies.get(row[2], ""))
        return flow

    def flows_of_tx(self, tx_hash: str) -> list[Movement]:
        return [
            self._flow(r) for r in self.session.execute(self.query.where(JournalEntry.tx_hash == tx_hash))
        ]

    def flows_of(self, holder: str, token: str, *, outgoing: bool, since: int) -> list[Movement]:
        return [
            f
            for f in self._history(holder, token)
            if (f.sender == holder if outgoing else f.receiver == holder) and f.block >= since
        ]

    def prepare(self, holders: Iterable[str], token: str) -> None:
        """Loads the histories of `holders` not loaded yet, a few queries for all of them."""
        wanted = sorted({h for h in holders if (h, token) not in self.histories})
        for start in range(0, len(wanted), self.CHUNK):
            part = wanted[start : start + self.CHUNK]
            for holder in part:
                self.histories[(holder, token)] = []
            accounts = dict(
                self.session.execute(
                    select(LedgerAccount.id, LedgerAccount.holder).where(
                        LedgerAccount.chain_id == self.chain_id,
                        LedgerAccount.token == token,
                        LedgerAccount.holder.in_(part),
                    )
                )
                .tuples()
                .all()
            )
            if not accounts:
                continue
            counts = self.session.execute(
                select(JournalLeg.account_id, func.count())
                .where(JournalLeg.account_id.in_(accounts))
                .group_by(JournalLeg.account_id)
            ).tuples()
            for account, count in counts:
                if count > MAX_REPLAY:
                    self.histories[(accounts.pop(account), token)] = None
            if not accounts:
                continue
            loading = set(accounts.values())
            entries = select(JournalLeg.entry_id).where(JournalLeg.account_id.in_(accounts))
            rows = _plain_rows(
                self.session,
                self.query.where(JournalEntry.id.in_(entries)).order_by(
                    JournalEntry.block_number, JournalEntry.log_index
                ),
            )
            lists = {holder: self.histories[(holder, token)] for holder in loading}
            for row in rows:
                flow = self._flow(row)
                for holder in (
                    (flow.sender, flow.receiver) if flow.sender != flow.receiver else (flow.sender,)
                ):
                    history = lists.get(holder)
                    if history is not None:
                        history.append(flow)

    def _history(self, holder: str, token: str) -> list[Movement]:
        self.prepare((holder,), token)
        history = self.histories[(holder, token)]
        if history is None:
            raise _HubError(holder)
        return history

    def _composition(self, holder: str, token: str) -> dict[int, dict[int, int]]:
        """For each outgoing transfer of `holder` (entry id), its sources (incoming entry id -> amount;
        0 for money without a mirrored source)."""
        key = (holder, token)
        if key in self.compositions:
            return self.compositions[key]
        out: dict[int, dict[int, int]] = {}
        if self.rule == "fifo":
            lots: list[list[int]] = []  # [source entry, remaining], oldest first
            head = 0
            for flow in self._history(holder, token):
                if flow.receiver == holder:
                    lots.append([flow.entry_id, flow.amount])
                if flow.sender == holder:
                    need = flow.amount
                    parts: dict[int, int] = {}
                    while need and head < len(lots):
                        take = min(need, lots[head][1])
                        parts[lots[head][0]] = parts.get(lots[head][0], 0) + take
                        lots[head][1] -= take
                        need -= take
                        if lots[head][1] == 0:
                            head += 1
                    if need:
                        parts[0] = parts.get(0, 0) + need
                    out[flow.entry_id] = parts
        else:
            mix: dict[int, int] = {}
            for flow in self._history(holder, token):
                if flow.receiver == holder:
                    mix[flow.entry_id] = mix.get(flow.entry_id, 0) + flow.amount
                if flow.sender == holder:
                    total = sum(mix.values())
                    taken = min(flow.amount, total)
                    parts = {}
                    if total:
                        for source, amount in mix.items():
                            parts[source] = amount * taken // total
                        remainder = taken - sum(parts.values())
                        if remainder:
                            largest = max(parts, key=lambda s: (mix[s], -s))
                            parts[largest] += remainder
                        for source, share in parts.items():
                            mix[source] -= share
                        mix = {s: a for s, a in mix.items() if a > 0}
                        parts = {s: a for s, a in parts.items() if a > 0}
                    if flow.amount > taken:
                        parts[0] = flow.amount - taken
                    out[flow.entry_id] = parts
        fed: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for entry_id, parts in out.items():
            for source, share in parts.items():
                fed[source].append((entry_id, share))
        self.compositions[key] = out
        self.fed[key] = fed
        return out

    def onward(self, holder: str, token: str, arrived: Movement, traced: int) -> list[tuple[Movement, int]]:
        """The later outgoing transfers of `holder` that carry what `arrived` brought, and how much."""
        self._composition(holder, token)
        left = traced
        result = []
        # The traced part of the arrival is spread as the arrival is: scale by traced / arrived.amount.
        for entry_id, share in self.fed[(holder, token)].get(arrived.entry_id, ()):
            if left <= 0:
                break
            amount = min(left, share * traced // arrived.amount)
            if amount > 0:
                result.append((self.flows[entry_id], amount))
                left -= amount
        return result

    def sources(self, holder: str, token: str, left: Movement, traced: int) -> list[tuple[Movement, int]]:
        """The incoming transfers of `holder` that paid for `left`, and how much of the traced part each."""
        parts = self._composition(holder, token).get(left.entry_id, {})
        result = []
        for source, amount in sorted(parts.items()):
            if source == 0:
                continue
            share = amount * traced // left.amount
            if share > 0:
                result.append((self.flows[source], share))
        return result


__all__ = ["Direction", "Inspector", "Rule", "TraceGraph", "address_of"]
