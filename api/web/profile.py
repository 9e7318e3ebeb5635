"""A customer's own affairs: verifying their identity (identity data, documents, sending the case to
review), opening accounts, and the payees they saved. Each calls the same `wallet` services as the API
with the signed-in principal; the services decide what is accepted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.web.core import Page, PageDep, PostDep, signed_in
from wallet.bank.users import Principal
from wallet.compliance.kyc import MAX_DOCUMENT_BYTES, PROFILE_FIELDS
from wallet.errors import InvalidRequestError, WalletError

router = APIRouter(include_in_schema=False)
OWNER_ROWS = 3  # beneficial owners a company gives on the form (the API takes up to 20)
DOCUMENT_KINDS = ("passport", "national_id", "driving_licence", "proof_of_address", "company_register")


# ---------------------------------------------------------------------------------- identity ---


@router.get("/app/verify")
def verify(current: PageDep) -> Response:
    """Where the customer's verification stands, and what they still have to give."""
    me = signed_in(current)
    return current.render("verify.html", _verify_context(current, me))


def _verify_context(
    current: Page, me: Principal, error: WalletError | None = None, form: dict[str, Any] | None = None
) -> dict[str, Any]:
    mine = current.services.kyc.mine(me)
    given = dict(mine.profile or {})
    owners = list(given.pop("beneficial_owners", []) or [])
    return {
        "kyc": mine,
        "form": form if form is not None else {k: "" if v is None else str(v) for k, v in given.items()},
        "owners": (owners + [{}] * OWNER_ROWS)[:OWNER_ROWS] if form is None else form.get("owners", []),
        "editable": mine.status.value in ("pending_kyc", "rejected", "expired"),
        "kinds": DOCUMENT_KINDS,
        "error": error,
    }


@router.post("/app/verify/profile")
async def verify_profile(current: PostDep) -> Response:
    """Stores the identity data (a company also gives its register number and beneficial owners)."""
    me = signed_in(current)
    submitted = await current.request.form()
    form: dict[str, Any] = {k: str(submitted.get(k, "")).strip() for k in PROFILE_FIELDS}
    form["owners"] = [
        {
            "name": str(submitted.get(f"owner_{i}_name", "")).strip(),
            "birth_date": str(submitted.get(f"owner_{i}_birth_date", "")).strip(),
            "nationality": str(submitted.get(f"owner_{i}_nationality", "")).strip(),
            "ownership_percent": str(submitted.get(f"owner_{i}_percent", "")).strip(),
        }
        for i in range(OWNER_ROWS)
    ]
    data: dict[str, Any] = {k: v for k, v in form.items() if k != "owners" and v}
    if form["kind"] == "corporate":
        data["beneficial_owners"] = [
            {k: v for k, v in owner.items() if v} for owner in form["owners"] if owner["name"]
        ]
    try:
        await run_in_threadpool(current.services.kyc.submit_profile, me, data)
    except WalletError as refused:
        return await run_in_threadpool(_refused_profile, current, me, refused, form)
    return current.redirect("/app/verify")


def _refused_profile(current: Page, me: Principal, refused: WalletError, form: dict[str, Any]) -> Response:
    return current.render("verify.html", _verify_context(current, me, refused, form), status=400)


@router.post("/app/verify/documents")
def verify_document(
    current: PostDep, kind: Annotated[str, Form(max_length=40)], file: Annotated[UploadFile, File()]
) -> Response:
    """Uploads a document (PDF, PNG or JPEG), stored sealed."""
    me = signed_in(current)
    content = file.file.read(MAX_DOCUMENT_BYTES + 1)
    try:
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InvalidRequestError(f"a document is at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
        current.services.kyc.upload(
            me,
            kind=kind,
            filename=file.filename or "document",
            content_type=(file.content_type or "").split(";")[0].strip().lower(),
            content=content,
        )
    except WalletError as refused:
        return current.render("verify.html", _verify_context(current, me, refused), status=400)
    return current.redirect("/app/verify")


@router.post("/app/verify/submit")
def verify_submit(current: PostDep) -> Response:
    """Sends the identity data and documents to the bank's review (screened now)."""
    me = signed_in(current)
    try:
        current.services.kyc.submit(me)
    except WalletError as refused:
        return current.render("verify.html", _verify_context(current, me, refused), status=400)
    return current.redirect("/app/verify")


# ---------------------------------------------------------------------------------- accounts ---


@router.post("/app/accounts")
def open_account(current: PostDep, currency: Annotated[str, Form(max_length=3)]) -> Response:
    """Opens an account in a currency of the bank; it becomes active once the identity is verified."""
    me = signed_in(current)
    current.services.accounts.open(me, currency)
    return current.redirect("/app")


# ------------------------------------------------------------------------------------ payees ---


@router.get("/app/payees")
def payees(current: PageDep) -> Response:
    me = signed_in(current)
    return current.render("payees.html", {"payees": current.services.accounts.payees(me), "form": {}})


@router.post("/app/payees")
def add_payee(
    current: PostDep,
    name: Annotated[str, Form(max_length=100)],
    address: Annotated[str, Form(max_length=64)],
    country: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    """Saves an address under a name (screened against the sanctions lists as it is saved)."""
    me = signed_in(current)
    accounts = current.services.accounts
    try:
        accounts.add_payee(me, name.strip(), address.strip(), country.strip().upper() or None)
    except WalletError as refused:
        form = {"name": name, "address": address, "country": country}
        return current.render(
            "payees.html", {"payees": accounts.payees(me), "form": form, "error": refused}, status=400
        )
    return current.redirect("/app/payees")


@router.post("/app/payees/{payee_id}/delete")
def delete_payee(current: PostDep, payee_id: str) -> Response:
    me = signed_in(current)
    current.services.accounts.delete_payee(me, payee_id)
    return current.redirect("/app/payees")


__all__ = ["router"]
