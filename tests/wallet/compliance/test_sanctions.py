"""Loading the published list files into the database and screening against them, from a shell."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from tests.support.cli import tdw
from wallet.compliance.audit import AuditLog
from wallet.compliance.matching import Subject
from wallet.compliance.screening import SanctionsLists
from wallet.db import session_factory

DATA = Path(__file__).parents[2] / "data" / "sanctions"


def test_a_list_is_loaded_once_per_version_and_recorded(engine: Engine, tmp_path: Path) -> None:
    sessions = session_factory(engine)
    lists = SanctionsLists(sessions)
    first = lists.load(DATA / "sdn.xml", "ofac", actor="officer-1")
    assert (first.version, first.entries, first.addresses, first.unchanged) == ("2026-11-20", 6, 2, False)
    assert lists.load(DATA / "sdn.xml", "ofac", actor="officer-1").unchanged
    assert [m.entry.entry_id for m in lists.screen(Subject("Иван Соколов"))] == ["90001"]

    newer = tmp_path / "sdn.xml"
    text = (DATA / "sdn.xml").read_text().replace("11/20/2026", "11/23/2026")
    newer.write_text(text.replace("GOLDEN CRESCENT EXCHANGE", "SILVER CRESCENT EXCHANGE"))
    second = lists.load(newer, "ofac", actor="officer-1")
    assert (second.version, second.replaced) == ("2026-11-23", "2026-11-20")
    assert [v.version for v in lists.versions()] == ["2026-11-23"]
    assert not lists.screen(Subject("Golden Crescent Exchange")), "the index follows the current version"
    assert lists.screen(Subject("Silver Crescent Exchange"))
    assert lists.blocked("0x2b8e4a1fd07c3355e9a96bf0cc71e2d3a4f5b6c7") is not None

    records = AuditLog(sessions).entries(action="sanctions.loaded")
    assert [r.details["version"] for r in records] == ["2026-11-20", "2026-11-23"]


def test_load_and_screen_from_the_shell(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'tdw.db'}"
    for file, name, version in (
        ("sdn.xml", "ofac", "2026-11-20"),
        ("eu.xml", "eu", "2026-11-19"),
        ("un.xml", "un", "2026-11-18"),
    ):
        run = tdw("sanctions", "load", str(DATA / file), "--list", name, "--db", db)
        assert run.returncode == 0, run.stderr
        assert f"loaded {name} version {version}" in run.stdout
    again = tdw("sanctions", "load", str(DATA / "un.xml"), "--list", "un", "--db", db)
    assert "loaded already" in again.stdout

    hit = tdw(
        "sanctions", "screen", "Дмитрий Волков", "--birth-date", "1969-09-21", "--country", "RU", "--db", db
    )
    assert hit.returncode == 1
    [match] = json.loads(hit.stdout)
    assert match["entry_id"] == "EU.9001.11"
    assert match["adjustments"] == {"date of birth": 5.0, "country": 3.0}
    clear = tdw("sanctions", "screen", "Alice Johnson", "--db", db)
    assert clear.returncode == 0
    assert json.loads(clear.stdout) == []

    wrong = tdw("sanctions", "load", str(DATA / "eu.xml"), "--list", "un", "--db", db)
    assert wrong.returncode == 2
    assert "no entries" in wrong.stderr
    unknown = tdw("sanctions", "load", str(DATA / "eu.xml"), "--list", "interpol", "--db", db)
    assert unknown.returncode == 2
