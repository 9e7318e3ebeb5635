"""`tdw sanctions load` and `tdw sanctions screen`: the published sanctions lists, from a shell."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.app import app, fail, open_database
from wallet.compliance.lists import LISTS
from wallet.compliance.matching import Subject
from wallet.compliance.screening import SanctionsLists
from wallet.db import session_factory
from wallet.settings import get_settings

sanctions_app = typer.Typer(
    help="Sanctions lists: load the published files, screen a name.", no_args_is_help=True
)
app.add_typer(sanctions_app, name="sanctions")

DbOption = Annotated[str | None, typer.Option(help="Database URL (default: TDW_DATABASE_URL or SQLite)")]


@sanctions_app.command()
def load(
    file: Annotated[Path, typer.Argument(help="The list as published (XML)", exists=True, dir_okay=False)],
    list_name: Annotated[str, typer.Option("--list", help="ofac (SDN XML), eu (consolidated XML) or un")],
    db: DbOption = None,
    actor: Annotated[str, typer.Option(help="Who loads it, for the audit log")] = "operator",
) -> None:
    """Load a list file as the list's current version (recorded in the audit log). Loading the same file
    again changes nothing."""
    if list_name not in LISTS:
        raise fail(f"--list must be one of {', '.join(LISTS)}, not {list_name!r}")
    settings = get_settings()
    with open_database(db or settings.effective_database_url) as engine:
        loaded = SanctionsLists(session_factory(engine)).load(file, list_name, actor=actor)
    if loaded.unchanged:
        typer.echo(f"{list_name} version {loaded.version} is loaded already ({loaded.entries} entries)")
        return
    replaced = f", replacing version {loaded.replaced}" if loaded.replaced else ""
    typer.echo(
        f"loaded {list_name} version {loaded.version}: {loaded.entries} entries, "
        f"{loaded.addresses} digital-currency addresses{replaced}"
    )


@sanctions_app.command()
def screen(
    name: Annotated[str, typer.Argument(help="The name to screen, in any script")],
    birth_date: Annotated[
        datetime | None, typer.Option("--birth-date", formats=["%Y-%m-%d"], help="Date of birth")
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option(help="A country (ISO 3166 code or name); repeatable")
    ] = None,
    db: DbOption = None,
) -> None:
    """Screen a name against the current lists; print each match with its explanation as JSON. Exit 1
    when anything matched."""
    settings = get_settings()
    with open_database(db or settings.effective_database_url) as engine:
        lists = SanctionsLists(session_factory(engine))
        if not lists.versions():
            raise fail("no sanctions list is loaded: tdw sanctions load FILE --list ofac|eu|un")
        subject = Subject(name, birth_date.date() if birth_date else None, tuple(country or ()))
        matches = lists.screen(subject)
    typer.echo(json.dumps([m.explanation for m in matches], indent=2, ensure_ascii=False))
    if matches:
        raise typer.Exit(1)
