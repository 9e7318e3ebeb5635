"""`tdw inspect ...`: compliance's chain inspection from a shell, over the bank `tdw serve` would run
(the same settings: TDW_RPC_URL, TDW_DATABASE_URL, the manifest). JSON on standard output; `trace`
can write its picture instead."""

from __future__ import annotations

import contextlib
import getpass
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from api.cli.app import app
from api.cli.serve import deployed_services
from wallet.bank.users import Principal
from wallet.settings import get_settings
from wallet.vocabulary import Role

inspect_app = typer.Typer(
    help="Inspect the chain through the ledger mirror (compliance).", no_args_is_help=True
)
app.add_typer(inspect_app, name="inspect")


def _shell() -> Principal:
    """Whoever runs the command on the bank's host acts as compliance; nothing here changes anything."""
    return Principal("cli", f"cli:{getpass.getuser()}", Role.COMPLIANCE)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@inspect_app.command()
def address(
    account: Annotated[str, typer.Argument(help="The address")],
    block: Annotated[int | None, typer.Option(help="As of this block (default: the mirror's)", min=0)] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also read balanceOf at the block from the node")
    ] = False,
) -> None:
    """Balances, KYC history, freezes, blocks, forced transfers, references, counterparties. Exit 1 when
    --verify finds the mirror and the node disagree."""
    with contextlib.ExitStack() as running:
        services = deployed_services(running, get_settings())
        view = services.inspector.address(_shell(), account, block=block, verify=verify)
    _print(view)
    if verify and not view["verified"]:
        raise typer.Exit(1)


@inspect_app.command()
def holders(
    currency: Annotated[str, typer.Argument(help="The token's currency, e.g. USD")],
    block: Annotated[int | None, typer.Option(min=0)] = None,
) -> None:
    """Every holder at the block, checked against totalSupply there. Exit 1 when they do not add up."""
    with contextlib.ExitStack() as running:
        services = deployed_services(running, get_settings())
        found = services.inspector.holders(_shell(), currency, block=block)
    _print(found)
    if not (found["adds_up"] and found.get("node_agrees", True)):
        raise typer.Exit(1)


@inspect_app.command()
def trace(
    start: Annotated[str, typer.Argument(help="A transaction hash or an address")],
    currency: Annotated[str | None, typer.Option(help="The token (needed from an address)")] = None,
    direction: Annotated[str, typer.Option(help="forward or backward")] = "forward",
    hops: Annotated[int, typer.Option(min=1, max=10)] = 3,
    rule: Annotated[str, typer.Option(help="fifo or proportional")] = "fifo",
    stop: Annotated[list[str] | None, typer.Option(help="An address where paths stop (repeat)")] = None,
    picture: Annotated[Path | None, typer.Option(help="Write the graph here (.svg or .png)")] = None,
) -> None:
    """Follows funds hop by hop with the amounts under the attribution rule."""
    with contextlib.ExitStack() as running:
        services = deployed_services(running, get_settings())
        graph = services.inspector.trace(
            _shell(),
            start,
            currency=currency,
            direction=direction,  # type: ignore[arg-type]  # checked by the inspector
            hops=hops,
            rule=rule,  # type: ignore[arg-type]
            stop=stop or (),
        )
    if picture is not None:
        fmt: Literal["svg", "png"] = "png" if picture.suffix.lower() == ".png" else "svg"
        picture.write_bytes(graph.picture(fmt))
        typer.echo(f"wrote {picture} ({len(graph.edges)} transfers)")
    else:
        _print(graph.as_json())


@inspect_app.command()
def timeline(
    subject: Annotated[str, typer.Argument(help="An address or a customer's user id")],
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 500,
) -> None:
    """Everything that touched the address or customer, oldest first."""
    with contextlib.ExitStack() as running:
        services = deployed_services(running, get_settings())
        _print(services.inspector.timeline(_shell(), subject, limit=limit))
