"""The compliance console: monitoring alerts and the cases they are worked in, the address inspector
(balances as of a block, with the node's word beside the mirror's; the timeline; the trace picture),
and the audit log with its verification. Each calls the same `wallet` services as the API with the
signed-in principal; the services decide who may do what (compliance, for all of these)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from eth_utils.address import is_address
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from api.web.core import PageDep, PostDep, signed_in
from wallet.compliance.cases import MAX_EVIDENCE_BYTES
from wallet.errors import InvalidRequestError, NotFoundError
from wallet.vocabulary import CaseState, Disposition, Typology

router = APIRouter(include_in_schema=False)
CASE_ACTIONS = ("freeze", "partial_freeze", "block", "revoke_kyc")
PICTURES = {"svg": "image/svg+xml", "png": "image/png"}
Rule = Literal["fifo", "proportional"]
Direction = Literal["forward", "backward"]


# ----------------------------------------------------------------------------------- alerts ---


@router.get("/app/alerts")
def alerts(current: PageDep, typology: str = "", subject: str = "") -> Response:
    """Monitoring alerts, newest first: the rule, the figures that fired it, the movements, its case."""
    me = signed_in(current)
    chosen = typology if typology in set(Typology) else None
    found = current.services.cases.alerts(me, subject=subject.strip() or None, typology=chosen, limit=100)
    return current.render(
        "alerts.html",
        {"alerts": found, "typologies": list(Typology), "typology": chosen, "subject": subject.strip()},
    )


# ------------------------------------------------------------------------------------ cases ---


@router.get("/app/cases")
def cases(current: PageDep, state: str = "") -> Response:
    """Cases not closed (or in one state), the earliest due first."""
    me = signed_in(current)
    chosen = CaseState(state) if state in set(CaseState) else None
    found = current.services.cases.queue(me, state=chosen, limit=200)
    return current.render("cases.html", {"cases": found, "states": list(CaseState), "state": chosen})


@router.get("/app/cases/{case_id}")
def case(current: PageDep, case_id: str) -> Response:
    """A case: its alerts, its file (notes, evidence, decisions, proposals), and what can be done."""
    me = signed_in(current)
    services = current.services
    return current.render(
        "case.html",
        {
            "file": services.cases.get(me, case_id),
            "states": [s for s in CaseState if s is not CaseState.CLOSED],
            "dispositions": list(Disposition),
            "actions": CASE_ACTIONS,
            "currencies": list(services.bank.tokens),
            "key": uuid.uuid4().hex,
        },
    )


@router.post("/app/cases/{case_id}/assign")
def case_assign(
    current: PostDep, case_id: str, assignee: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    me = signed_in(current)
    current.services.cases.assign(me, case_id, assignee.strip() or me.username)
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/state")
def case_move(
    current: PostDep,
    case_id: str,
    state: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    me = signed_in(current)
    if state not in set(CaseState) or state == CaseState.CLOSED:
        raise InvalidRequestError("a case moves to open, investigating or escalated; closing has its form")
    current.services.cases.move(me, case_id, CaseState(state), reason)
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/notes")
def case_note(current: PostDep, case_id: str, text: Annotated[str, Form(max_length=4000)]) -> Response:
    me = signed_in(current)
    current.services.cases.note(me, case_id, text)
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/evidence")
def case_attach(
    current: PostDep,
    case_id: str,
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    me = signed_in(current)
    content = file.file.read(MAX_EVIDENCE_BYTES + 1)
    if len(content) > MAX_EVIDENCE_BYTES:
        raise InvalidRequestError(f"evidence is at most {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
    current.services.cases.attach(
        me,
        case_id,
        filename=file.filename or "evidence",
        content_type=(file.content_type or "").split(";")[0].strip().lower(),
        content=content,
        description=description,
    )
    return current.redirect(f"/app/cases/{case_id}")


@router.get("/app/cases/{case_id}/evidence/{item_id}")
def case_evidence(current: PageDep, case_id: str, item_id: int) -> Response:
    """One piece of evidence, decrypted (the reading is audited)."""
    me = signed_in(current)
    item, content = current.services.cases.evidence(me, case_id, item_id)
    return current.download(
        content, item.content_type or "application/octet-stream", item.filename or "evidence"
    )


@router.post("/app/cases/{case_id}/close")
def case_close(
    current: PostDep,
    case_id: str,
    disposition: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    me = signed_in(current)
    if disposition not in set(Disposition):
        raise InvalidRequestError(f"the disposition is one of {', '.join(Disposition)}")
    current.services.cases.close(me, case_id, Disposition(disposition), reason)
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/proposals")
def case_propose(
    current: PostDep,
    case_id: str,
    key: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=400)],
    currency: Annotated[str, Form()] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A freeze, partial freeze, block or KYC revocation of the case's subject, for a second officer."""
    me = signed_in(current)
    current.services.cases.propose(
        me,
        case_id,
        action=action,
        reason=reason,
        idempotency_key=f"web-{key}",
        currency=currency or None,
        amount=amount.strip() or None,
    )
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/snapshot")
def case_snapshot(current: PostDep, case_id: str, currency: Annotated[str, Form()] = "") -> Response:
    """Files the subject's inspection (checked against the node) and, for a currency, a trace picture."""
    me = signed_in(current)
    current.services.reports.snapshot(me, case_id, currency=currency or None)
    return current.redirect(f"/app/cases/{case_id}")


@router.post("/app/cases/{case_id}/goaml")
def case_goaml(current: PostDep, case_id: str) -> Response:
    """The case as a goAML suspicious transaction report (XML), also filed in the case."""
    me = signed_in(current)
    xml = current.services.reports.goaml(me, case_id)
    return current.download(xml, "application/xml", f"goaml-str-{case_id}.xml")


# -------------------------------------------------------------------------------- inspector ---


@router.get("/app/inspect")
def inspect(
    current: PageDep,
    address: Annotated[str, Query(max_length=100)] = "",
    block: Annotated[str, Query(max_length=20)] = "",
    currency: Annotated[str, Query(max_length=8)] = "",
    direction: Direction = "forward",
    hops: Annotated[int, Query(ge=1, le=6)] = 3,
    rule: Rule = "fifo",
) -> Response:
    """Any address as of a block, checked against the node: balances, KYC, freezes and blocks,
    counterparties; its timeline; and the picture of its funds traced hop by hop."""
    me = signed_in(current)
    services = current.services
    services.inspector.require_reader(me)
    address, block = address.strip(), block.strip()
    currency = currency or next(iter(services.bank.tokens))
    context: dict[str, Any] = {
        "address": address,
        "block": block,
        "currency": currency,
        "currencies": list(services.bank.tokens),
        "direction": direction,
        "hops": hops,
        "rule": rule,
        "view": None,
        "timeline": None,
        "trace": None,
        "error": None,
    }
    if not address:
        return current.render("inspect.html", context)
    try:
        at = _block(block)
        if not is_address(address):
            raise InvalidRequestError("an address is 0x followed by 40 hexadecimal digits")
        context["view"] = services.inspector.address(me, address, block=at, verify=True)
        context["timeline"] = services.inspector.timeline(me, address, limit=200)
        context["trace"] = services.inspector.trace(
            me, address, currency=currency, direction=direction, hops=hops, rule=rule, to_block=at
        ).as_json()
    except (InvalidRequestError, NotFoundError) as refused:
        context["error"] = refused
        return current.render("inspect.html", context, status=400)
    return current.render("inspect.html", context)


@router.get("/app/inspect/trace.{fmt}")
def trace_picture(
    current: PageDep,
    fmt: Literal["svg", "png"],
    address: Annotated[str, Query(max_length=100)],
    currency: Annotated[str, Query(max_length=8)],
    block: Annotated[str, Query(max_length=20)] = "",
    direction: Direction = "forward",
    hops: Annotated[int, Query(ge=1, le=6)] = 3,
    rule: Rule = "fifo",
) -> Response:
    """The trace drawn by Graphviz (an image: no script of it runs in the page)."""
    me = signed_in(current)
    graph = current.services.inspector.trace(
        me,
        address.strip(),
        currency=currency,
        direction=direction,
        hops=hops,
        rule=rule,
        to_block=_block(block.strip()),
    )
    return current.apply(Response(graph.picture(fmt), media_type=PICTURES[fmt]))


def _block(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidRequestError("a block is a whole number")
    return int(text)


# -------------------------------------------------------------------------------- audit log ---


@router.get("/app/audit")
def audit(
    current: PageDep,
    action: Annotated[str, Query(max_length=64)] = "",
    subject: Annotated[str, Query(max_length=128)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
    verify: bool = False,
) -> Response:
    """The audit log, newest first, each record with its hash and the previous one's; with `verify`,
    the check of every record's hash and link and of every anchor on chain (the first bad record named)."""
    me = signed_in(current)
    verification = current.services.audit.check(me) if verify else None
    entries = current.services.audit.read(
        me, action=action or None, subject=subject or None, before=before, newest=True, limit=50
    )
    return current.render(
        "audit.html",
        {"entries": entries, "action": action, "subject": subject, "verification": verification},
    )


__all__ = ["router"]
