"""Sanctions screening against the lists loaded into the database.

`SanctionsLists.load` stores a list file's entries as a new version of that list (in one transaction,
with an audit record), unless the same file is current already; the previous version stops being
current. `screen` matches a subject against the current version of every list, through a `NameIndex`
rebuilt whenever the set of current versions changed, and `blocked` finds an address among the lists'
digital-currency addresses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.compliance.lists import read_list
from wallet.compliance.matching import DEFAULT_THRESHOLD, Entry, Match, NameIndex, Subject
from wallet.db.models import SanctionsEntry, SanctionsList, ScreeningHit
from wallet.vocabulary import HitState, Role


@dataclass(frozen=True)
class Loaded:
    """What `load` did."""

    list_name: str
    version: str
    sha256: str
    entries: int
    addresses: int
    replaced: str | None  # the version it replaced
    unchanged: bool  # the same file was current already


class SanctionsLists:
    """The bank's sanctions lists and the screening index over their current versions."""

    def __init__(self, sessions: sessionmaker[Session], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.sessions = sessions
        self.threshold = threshold
        self._lock = threading.Lock()
        self._index: NameIndex | None = None
        self._versions: tuple[int, ...] = ()

    def load(self, path: Path, list_name: str, *, actor: str) -> Loaded:
        """Loads `path` as the current version of `list_name` (ofac, eu or un)."""
        parsed = read_list(path, list_name)
        addresses = sum(len(e.addresses) for e in parsed.entries)
        with self.sessions.begin() as session:
            current = session.scalars(
                select(SanctionsList).where(SanctionsList.list == list_name, SanctionsList.current)
            ).first()
            if current is not None and current.sha256 == parsed.sha256:
                return Loaded(
                    list_name, current.version, current.sha256, current.entries, addresses, None, True
                )
            if current is not None:
                session.execute(
                    update(SanctionsList).where(SanctionsList.id == current.id).values(current=False)
                )
            row = SanctionsList(
                list=list_name,
                version=parsed.version[:64],
                sha256=parsed.sha256,
                entries=len(parsed.entries),
                current=True,
                loaded_by=actor,
            )
            session.add(row)
            session.flush()
            session.execute(
                insert(SanctionsEntry),
                [
                    {
                        "list_id": row.id,
                        "entry_id": e.entry_id[:64],
                        "kind": e.kind[:16],
                        "names": list(e.names),
                        "birth_dates": list(e.birth_dates),
                        "countries": list(e.countries),
                        "programs": list(e.programs),
                        "addresses": list(e.addresses),
                    }
                    for e in parsed.entries
                ],
            )
            AuditLog.append(
                session,
                actor=actor,
                action="sanctions.loaded",
                subject=f"sanctions:{list_name}",
                details={
                    "version": parsed.version,
                    "sha256": parsed.sha256,
                    "entries": len(parsed.entries),
                    "addresses": addresses,
                    "replaced": current.version if current else None,
                },
            )
        return Loaded(
            list_name,
            parsed.version,
            parsed.sha256,
            len(parsed.entries),
            addresses,
            current.version if current else None,
            False,
        )

    def versions(self) -> list[SanctionsList]:
        """The current version of each loaded list."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(SanctionsList).where(SanctionsList.current).order_by(SanctionsList.list)
                )
            )

    def index(self) -> NameIndex:
        """The index over the current versions, rebuilt when they changed."""
        with self.sessions() as session:
            ids = tuple(
                session.scalars(
                    select(SanctionsList.id).where(SanctionsList.current).order_by(SanctionsList.id)
                )
            )
        with self._lock:
            if self._index is None or ids != self._versions:
                self._index = self._build(ids)
                self._versions = ids
            return self._index

    def screen(self, subject: Subject) -> list[Match]:
        """Every list entry that matches `subject`, best first, each explained."""
        return self.index().screen(subject, threshold=self.threshold)

    def check(self, principal: Principal, subject: Subject) -> list[Match]:
        """`screen`, for compliance officers (a name looked up by hand)."""
        principal.require(Role.COMPLIANCE)
        return self.screen(subject)

    def blocked(self, address: str) -> Entry | None:
        """The list entry that names `address` among its digital-currency addresses."""
        return self.index().blocked(address)

    def record(
        self,
        session: Session,
        *,
        subject: str,
        user_id: str | None,
        name: str,
        matches: list[Match],
        actor: str,
    ) -> list[ScreeningHit]:
        """Stores each match of `subject` as a hit, with an audit record, inside `session`'s transaction;
        a match of the same entry already stored for the subject (open, cleared or confirmed) is not
        stored again, so a re-screen does not reopen what an officer decided."""
        if not matches:
            return []
        known = {
            (list_name, entry_id)
            for list_name, entry_id in session.execute(
                select(ScreeningHit.list_name, ScreeningHit.entry_id).where(ScreeningHit.subject == subject)
            )
        }
        hits = []
        for match in matches:
            if (match.entry.list_name, match.entry.entry_id) in known:
                continue
            hit = ScreeningHit(
                subject=subject,
                user_id=user_id,
                name=name[:200],
                list_name=match.entry.list_name,
                entry_id=match.entry.entry_id[:64],
                score=round(match.score),
                explanation=match.explanation,
                state=HitState.OPEN,
            )
            session.add(hit)
            hits.append(hit)
            AuditLog.append(
                session,
                actor=actor,
                action="screening.hit",
                subject=subject,
                details={"name": name, "match": match.explanation, "user": user_id},
            )
        session.flush()
        return hits

    @staticmethod
    def open_hits(session: Session, user_id: str) -> list[dict[str, Any]]:
        """The explanations of the customer's own open hits (their name, or a beneficial owner's)."""
        rows = session.scalars(
            select(ScreeningHit.explanation).where(
                ScreeningHit.user_id == user_id,
                ScreeningHit.state == HitState.OPEN,
                ScreeningHit.subject.like("user:%") | ScreeningHit.subject.like("owner:%"),
            )
        )
        return [dict(e) for e in rows]

    def _build(self, ids: tuple[int, ...]) -> NameIndex:
        with self.sessions() as session:
            lists = select(SanctionsList.id, SanctionsList.list).where(SanctionsList.id.in_(ids))
            names = {list_id: name for list_id, name in session.execute(lists)}
            rows = session.scalars(
                select(SanctionsEntry)
                .where(SanctionsEntry.list_id.in_(ids))
                .execution_options(yield_per=5000)
            )
            return NameIndex.build(
                Entry(
                    list_name=names[r.list_id],
                    entry_id=r.entry_id,
                    kind=r.kind,
                    names=tuple(r.names),
                    birth_dates=tuple(r.birth_dates),
                    countries=tuple(r.countries),
                    programs=tuple(r.programs),
                    addresses=tuple(r.addresses),
                )
                for r in rows
            )
