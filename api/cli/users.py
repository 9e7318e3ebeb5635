"""`tdw add-user` and `tdw totp`: users made from a shell."""

from __future__ import annotations

import binascii
from typing import Annotated

import pyotp
import typer

from api.cli.app import app, fail, open_database
from wallet.bank.runtime import user_service
from wallet.db import session_factory
from wallet.settings import get_settings
from wallet.vocabulary import Role


@app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[Role, typer.Option(help="The user's role")] = Role.ADMIN,
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given"),
    ] = "",
) -> None:
    """Create a user directly in the database: how a production bank gets its first admin (later
    users are created over the API by an admin). Prints the TOTP secret and otpauth URI once."""
    settings = get_settings()
    with open_database(settings.effective_database_url) as engine:
        enrolment = user_service(settings, session_factory(engine)).create(username, password, role)
    typer.echo(f"created {enrolment.role} {enrolment.username!r} ({enrolment.user_id})")
    typer.echo(f"TOTP secret {enrolment.totp_secret}")
    typer.echo(f"TOTP URI    {enrolment.totp_uri}")


@app.command()
def totp(
    secret: Annotated[str, typer.Argument(help="A base32 TOTP secret (from sign-up or the demo logins)")],
) -> None:
    """Print the current TOTP code of a secret (what an authenticator app shows)."""
    try:
        typer.echo(pyotp.TOTP(secret).now())
    except (ValueError, TypeError, binascii.Error):
        raise fail("that is not a base32 TOTP secret") from None
