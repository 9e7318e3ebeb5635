"""The audit log: hash-chained, append-only in the database, and anchored on chain; `verify` names the
first record that was changed, whether the triggers were disabled or not."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from tests.support.cli import tdw
from tests.support.waiting import wait_for
from wallet.bank.runtime import Services
from wallet.chain.node import AnvilNode
from wallet.compliance.audit import GENESIS, AuditLog, canonical, chain_anchors
from wallet.db import session_factory
from wallet.db.models import AuditAnchorTx
from wallet.vocabulary import TxStatus


def _log(engine: Engine, records: int = 5) -> AuditLog:
    audit = AuditLog(session_factory(engine))
    for n in range(records):
        audit.record(
            actor="officer-1",
            action="test.act",
            subject=f"user:{n}",
            details={"n": n, "amount": str(10**30), "name": "Zoë 张伟"},
        )
    return audit


def _untriggered(engine: Engine, statement: str, **params: Any) -> None:
    """Runs `statement` on the audit log with its triggers out of the way, as a database administrator
    could."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(text(statement), params)
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(text(statement), params)
            for event in ("UPDATE", "DELETE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                    )
                )


REPLACE = "UPDATE audit_log SET body = replace(body, :a, :b) WHERE seq = :s"


def _rewrite_consistently(engine: Engine, seq: int, details: dict[str, Any]) -> None:
    """Changes record `seq`'s details and recomputes its hash and every later record's link and hash:
    the hash chain alone cannot tell."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, body FROM audit_log WHERE seq >= :s ORDER BY seq"), {"s": seq})
        bodies = [(r[0], json.loads(r[1])) for r in rows]
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": seq - 1}).scalar()
    prev = prev or GENESIS
    for number, body in bodies:
        if number == seq:
            body["details"] = details
        body["prev"] = prev
        new_body = canonical(body)
        digest = hashlib.sha256(new_body.encode()).hexdigest()
        _untriggered(
            engine,
            "UPDATE audit_log SET body = :b, hash = :h, prev_hash = :p WHERE seq = :s",
            b=new_body,
            h=digest,
            p=prev,
            s=number,
        )
        prev = digest


def test_records_link_each_to_the_one_before_and_verify(engine: Engine) -> None:
    audit = _log(engine)
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[2].details == {"n": 2, "amount": str(10**30), "name": "Zoë 张伟"}
    result = audit.verify(None)
    assert result.ok
    assert result.records == 5
    assert result.head_hash == entries[-1].hash
    assert audit.head() == (5, entries[-1].hash)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 5"],
)
def test_the_database_refuses_to_change_or_delete_a_record(engine: Engine, statement: str) -> None:
    _log(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert AuditLog(session_factory(engine)).verify(None).ok


def test_postgresql_refuses_to_truncate_the_log(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE is refused above)")
    _log(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))


def test_a_record_changed_behind_the_triggers_is_named(engine: Engine) -> None:
    audit = _log(engine)
    _untriggered(
        engine, "UPDATE audit_log SET body = replace(body, :a, :b) WHERE seq = 4", a='"n":3', b='"n":4'
    )
    result = audit.verify(None)
    assert not result.ok
    assert result.first_bad == 4
    assert "does not hash to its stored hash" in (result.problem or "")


def test_a_column_changed_behind_the_triggers_is_named(engine: Engine) -> None:
    audit = _log(engine)
    _untriggered(engine, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 2")
    result = audit.verify(None)
    assert (result.first_bad, result.ok) == (2, False)
    assert "actor" in (result.problem or "")


def test_a_removed_record_is_named(engine: Engine) -> None:
    audit = _log(engine)
    _untriggered(engine, "DELETE FROM audit_log WHERE seq = 3")
    result = audit.verify(None)
    assert result.first_bad == 3
    assert "missing" in (result.problem or "")


def test_a_consistent_rewrite_passes_the_hash_chain_alone(engine: Engine) -> None:
    """Why anchors exist: whoever can write the table can recompute every later hash."""
    audit = _log(engine)
    _rewrite_consistently(engine, 2, {"n": 2, "rewritten": True})
    assert audit.verify(None).ok
    assert audit.entries()[1].details == {"n": 2, "rewritten": True}


def _anchor_now(services: Services) -> int:
    """Runs the anchoring worker until the log's head is on chain; returns the anchored record."""
    services.anchorer.interval = 0
    seq, _ = services.audit.head()

    def anchored() -> bool:
        services.anchorer.step()
        return _anchored(services, seq)

    wait_for(anchored, timeout=60, what="the audit log's head anchored on chain")
    return seq


def _anchored(services: Services, seq: int | None = None) -> bool:
    """Whether the chain holds an anchor of record `seq` (default: the head) or a later one."""
    seq = services.audit.head()[0] if seq is None else seq
    address = services.bank.manifest.audit_anchor.address  # type: ignore[union-attr]
    return any(a.seq >= seq for a in chain_anchors(services.bank.w3, address))


def test_the_anchor_on_chain_catches_a_consistent_rewrite(fresh_services: Services) -> None:
    services = fresh_services
    audit, engine = services.audit, services.bank.sessions.kw["bind"]
    for n in range(3):
        audit.record(actor="officer-1", action="test.anchor", subject=f"case:{n}", details={"n": n})
    anchored = _anchor_now(services)
    anchors = chain_anchors(services.bank.w3, services.bank.manifest.audit_anchor.address)  # type: ignore[union-attr]
    assert audit.verify(anchors).ok
    _rewrite_consistently(engine, anchored - 1, {"n": "rewritten"})
    assert audit.verify(None).ok  # the hash chain alone is fooled
    result = audit.verify(anchors)
    assert not result.ok
    assert result.first_bad == anchored
    assert "rewritten" in (result.problem or "")


def test_the_anchor_on_chain_catches_records_cut_from_the_end(fresh_services: Services) -> None:
    services = fresh_services
    audit, engine = services.audit, services.bank.sessions.kw["bind"]
    audit.record(actor="officer-1", action="test.anchor", subject="case:cut", details={})
    anchored = _anchor_now(services)
    _untriggered(engine, "DELETE FROM audit_log WHERE seq >= :s", s=anchored)
    anchors = chain_anchors(services.bank.w3, services.bank.manifest.audit_anchor.address)  # type: ignore[union-attr]
    assert audit.verify(None).ok
    result = audit.verify(anchors)
    assert not result.ok
    assert result.first_bad == anchored
    assert "removed" in (result.problem or "")


def test_the_anchorer_waits_for_the_interval_and_for_growth(services: Services) -> None:
    services.audit.record(actor="officer-1", action="test.interval", subject=None, details={})
    _anchor_now(services)
    wait_for(lambda: _last_anchor_final(services), timeout=60, what="the anchor final")
    services.anchorer.interval = 3600
    assert services.anchorer.step() == 0  # nothing new since the last anchor
    services.audit.record(actor="officer-1", action="test.interval", subject=None, details={})
    assert services.anchorer.step() == 0  # grew, but the last anchor is younger than the interval
    services.anchorer.interval = 0
    wait_for(lambda: _anchored(services), timeout=60, what="the new head anchored once the interval is over")


def _last_anchor_final(services: Services) -> bool:
    with services.bank.readers() as session:
        last = session.scalars(select(AuditAnchorTx).order_by(AuditAnchorTx.seq.desc()).limit(1)).one()
    tx = services.bank.chain_tx(last.chain_tx_id)
    return tx is not None and tx.status == TxStatus.FINAL


def _doc_checker(tmp_path: Path) -> Path:
    """The auditor's program from docs/audit.md, saved as a file: what an auditor would run."""
    doc = (Path(__file__).parents[3] / "docs" / "audit.md").read_text()
    program = doc.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "check_audit.py"
    path.write_text(program)
    return path


def test_verify_and_export_from_the_shell_and_the_auditors_own_check(
    fresh_services: Services, anvil: AnvilNode, tmp_path: Path
) -> None:
    services = fresh_services
    engine = services.bank.sessions.kw["bind"]
    db = str(engine.url)
    for n in range(4):
        services.audit.record(actor="officer-1", action="test.cli", subject=f"case:{n}", details={"n": n})
    anchored = _anchor_now(services)
    manifest = tmp_path / "deployment.json"
    services.bank.manifest.write(manifest)
    shell = ("audit", "verify", "--db", db, "--manifest", str(manifest), "--rpc", anvil.url)

    intact = tdw(*shell)
    assert intact.returncode == 0, intact.stderr
    assert f"{anchored} records" in intact.stdout
    assert "1 anchors on chain" in intact.stdout
    offline = tdw("audit", "verify", "--db", db, "--offline", "--json")
    assert offline.returncode == 0
    assert json.loads(offline.stdout)["anchors_checked"] is False

    export = tmp_path / "audit.jsonl"
    assert tdw("audit", "export", "--db", db, "--output", str(export)).returncode == 0
    assert len(export.read_text().splitlines()) == anchored
    head = services.audit.head()[1]
    checker = _doc_checker(tmp_path)
    run = [sys.executable, str(checker), str(export), f"{anchored}=0x{head}"]
    assert subprocess.run(run, capture_output=True, text=True).stdout.strip() == "intact"

    _rewrite_consistently(engine, 2, {"n": "rewritten"})
    tampered = tdw(*shell)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith(f"record {anchored}:")
    assert "rewritten" in tampered.stdout
    assert tdw("audit", "export", "--db", db, "--output", str(export)).returncode == 0
    caught = subprocess.run(run, capture_output=True, text=True)
    assert caught.returncode == 1
    assert f"record {anchored} differs" in caught.stdout

    _untriggered(
        engine, "UPDATE audit_log SET body = replace(body, :a, :b) WHERE seq = 3", a='"n":2', b='"n":9'
    )
    broken = tdw("audit", "verify", "--db", db, "--offline")
    assert broken.returncode == 1
    assert broken.stdout.startswith("record 3:")
