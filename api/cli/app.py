"""The `tdw` application and what its commands share: one place that turns a `WalletError` into an
error line and exit code 2, the database every command opens, the node URL and the compiled contracts."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import typer
from sqlalchemy import Engine
from typer.core import TyperGroup

from wallet.chain.compiler import Compilation, compile_contracts
from wallet.db import make_engine, upgrade
from wallet.errors import WalletError
from wallet.settings import Settings

ERROR_EXIT = 2  # a usage error or a WalletError; 1 is kept for "ran, and found a difference"


class _WalletErrorsExit(TyperGroup):
    """The command group whose commands may raise any `WalletError`: it is printed as one line on
    standard error (no traceback: the message is for the operator) and the process exits 2."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except WalletError as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    cls=_WalletErrorsExit, help="tdw: tokenized deposit wallet for banks.", no_args_is_help=True
)


def fail(message: str, code: int = ERROR_EXIT) -> typer.Exit:
    """Prints `error: message` on standard error; raise what it returns to end the command."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def open_database(url: str) -> Iterator[Engine]:
    """An engine on the database at `url`, migrated to the newest schema; disposed on exit. Every
    command opens its database here, so none can run on a schema older than its code."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def rpc_url(option: str | None, settings: Settings) -> str:
    """`--rpc`, else `TDW_RPC_URL`."""
    url = option or settings.rpc_url
    if not url:
        raise fail("give --rpc URL or set TDW_RPC_URL")
    return url


def compile_project(settings: Settings) -> Compilation:
    """The project's contracts, compiled (or from the cache, or the prebuilt output without Node.js)."""
    return compile_contracts(settings.project_root, settings.cache_dir)


def print_json(result: dict[str, Any], compact: bool) -> None:
    """A command's JSON result: one line with `--json`, indented otherwise."""
    typer.echo(json.dumps(result) if compact else json.dumps(result, indent=2))
