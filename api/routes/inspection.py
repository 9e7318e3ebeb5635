"""Chain inspection (compliance only): any address at any block (with the node's word beside the
mirror's), a token's holders, flows traced hop by hop as JSON or a picture, and a timeline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import CurrentPrincipal, ServicesDep

router = APIRouter(prefix="/v1/compliance", tags=["inspection"])
PICTURES = {"svg": "image/svg+xml", "png": "image/png"}


@router.get("/addresses/{address}")
def address(
    address: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    block: Annotated[int | None, Query(ge=0, description="As of this block (default: the mirror's)")] = None,
    verify: Annotated[bool, Query(description="Also read balanceOf at the block from the node")] = False,
) -> dict[str, Any]:
    """Balances per token, KYC and jurisdiction history, blocks, freezes, forced transfers,
    recoveries, payment references, counterparties ranked by volume, first and last activity."""
    return services.inspector.address(principal, address, block=block, verify=verify)


@router.get("/tokens/{currency}/holders")
def holders(
    currency: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    block: Annotated[int | None, Query(ge=0)] = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Every holder at the block, checked to add up to the total supply; frozen and blocked accounts;
    mint and burn per day."""
    return services.inspector.holders(principal, currency, block=block, verify=verify)


@router.get("/trace", response_model=None)
def trace(
    principal: CurrentPrincipal,
    services: ServicesDep,
    start: Annotated[str, Query(description="A transaction hash or an address")],
    currency: str | None = None,
    direction: Literal["forward", "backward"] = "forward",
    hops: Annotated[int, Query(ge=1, le=10)] = 3,
    rule: Literal["fifo", "proportional"] = "fifo",
    stop: Annotated[list[str] | None, Query(description="Addresses where a path stops")] = None,
    from_block: Annotated[int, Query(ge=0)] = 0,
    to_block: Annotated[int | None, Query(ge=0)] = None,
    format: Literal["json", "svg", "png"] = "json",
) -> dict[str, Any] | Response:
    """Follows funds forward or backward, with the amount traced through each transfer under the
    attribution rule; as JSON or as a picture drawn by Graphviz."""
    graph = services.inspector.trace(
        principal,
        start,
        currency=currency,
        direction=direction,
        hops=hops,
        rule=rule,
        stop=stop or (),
        from_block=from_block,
        to_block=to_block,
    )
    if format == "json":
        return graph.as_json()
    return Response(graph.picture(format), media_type=PICTURES[format])


@router.get("/timeline/{subject}")
def timeline(
    subject: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Everything that touched an address or a customer (user id), in one ordered list."""
    return services.inspector.timeline(principal, subject, limit=limit)
