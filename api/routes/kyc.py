"""A customer's own identity verification: their identity data, their documents, and sending the case
to review (`wallet.compliance.kyc` decides what is accepted)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, UploadFile, status

from api.deps import CurrentPrincipal, ServicesDep
from api.schemas import DocumentOut, KycOut
from wallet.compliance.kyc import MAX_DOCUMENT_BYTES, KycView
from wallet.errors import InvalidRequestError

router = APIRouter(prefix="/v1/kyc", tags=["kyc"])


def kyc_out(view: KycView) -> KycOut:
    """The API body of a verification."""
    return KycOut(
        **{**vars(view), "documents": [DocumentOut(**vars(d)) for d in view.documents]},
    )


@router.get("", response_model=KycOut)
def my_verification(principal: CurrentPrincipal, services: ServicesDep) -> KycOut:
    """Your identity verification: its status, what you gave, your documents, and when it expires."""
    return kyc_out(services.kyc.mine(principal))


@router.put("/profile", response_model=KycOut)
def submit_profile(
    principal: CurrentPrincipal,
    services: ServicesDep,
    body: Annotated[
        dict[str, Any],
        Body(
            description="kind (individual | corporate), legal_name, birth_date, nationality, "
            "residence_country, id_type, id_number, address, expected_activity (low | medium | high); a "
            "corporate customer: company_name, registration_number and beneficial_owners [{name, "
            "birth_date, nationality, ownership_percent}]",
            examples=[
                {
                    "legal_name": "Carol Baker",
                    "birth_date": "1984-03-09",
                    "nationality": "GB",
                    "residence_country": "CH",
                    "id_type": "passport",
                    "id_number": "P1234567",
                    "address": "Bahnhofstrasse 1, 8001 Zurich",
                    "expected_activity": "low",
                }
            ],
        ),
    ],
) -> KycOut:
    """Gives (or corrects) your identity data, while your verification is not under review."""
    return kyc_out(services.kyc.submit_profile(principal, body))


@router.post("/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentOut)
def upload_document(
    principal: CurrentPrincipal,
    services: ServicesDep,
    file: UploadFile,
    kind: Annotated[str, Form(description="passport, national_id, driving_licence, proof_of_address, ...")],
) -> DocumentOut:
    """Uploads a document (PDF, PNG or JPEG, at most 5 MiB); it is stored encrypted."""
    content = file.file.read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidRequestError(f"a document is at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    document = services.kyc.upload(
        principal,
        kind=kind,
        filename=file.filename or "document",
        content_type=(file.content_type or "").split(";")[0].strip().lower(),
        content=content,
    )
    return DocumentOut(**vars(document))


@router.post("/submit", response_model=KycOut)
def submit_for_review(principal: CurrentPrincipal, services: ServicesDep) -> KycOut:
    """Sends your identity data and documents to the bank's review; you are screened now."""
    return kyc_out(services.kyc.submit(principal))
