"""The travel rule: a transfer at or above the policy's threshold (`monitoring.amounts.<CUR>.travel_rule`,
1,000 in the currency by default) carries who sends and who receives it, as IVMS101 data (the
interVASP Messaging Standard's `IdentityPayload`: originator, beneficiary, and the institutions on
both sides), written when the transfer is stored, in the same database transaction, sealed under the KEK
and bound to the transfer's id. Compliance reads it (each read audited); a cross-border payment will
pass it on to the partner bank.

The originator is the paying customer as verified (legal name, address, national identification,
birth date and country for a person; the company's name and registration for a corporate customer).
The beneficiary is our customer as verified when the payee is one, else the name the payer gave the
payee; its account is the address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from wallet.bank.core import Bank
from wallet.bank.users import Principal
from wallet.compliance.audit import AuditLog
from wallet.compliance.policy import PolicyStore
from wallet.db.models import KycProfile, TransferRequest, TravelRuleRecord, User
from wallet.errors import NotFoundError
from wallet.keys.keystore import KeyEncryptionKey
from wallet.vocabulary import Role


def ivms101_person(
    user: User | None, profile: KycProfile | None, fallback: str | None, address: str
) -> dict[str, Any]:
    """An IVMS101 `Person` (natural or legal) with the account number."""
    if profile is not None and profile.kind == "corporate":
        legal: dict[str, Any] = {
            "name": {
                "nameIdentifier": [
                    {
                        "legalPersonName": profile.company_name or profile.legal_name,
                        "legalPersonNameIdentifierType": "LEGL",
                    }
                ]
            },
            "geographicAddress": [
                {
                    "addressType": "BIZZ",
                    "addressLine": [profile.address],
                    "country": profile.residence_country,
                }
            ],
            "countryOfRegistration": profile.residence_country,
        }
        if profile.registration_number:
            legal["nationalIdentification"] = {
                "nationalIdentifier": profile.registration_number,
                "nationalIdentifierType": "RAID",
            }
        return {"person": [{"legalPerson": legal}], "accountNumber": [address]}
    name = (
        (profile.legal_name if profile else None)
        or (user.full_name if user else None)
        or fallback
        or "unknown"
    )
    primary, _, secondary = name.rpartition(" ") if " " in name else (name, "", "")
    natural: dict[str, Any] = {
        "name": {
            "nameIdentifier": [
                {
                    "primaryIdentifier": secondary or primary,
                    "secondaryIdentifier": primary if secondary else "",
                    "nameIdentifierType": "LEGL",
                }
            ]
        }
    }
    if profile is not None:
        natural["geographicAddress"] = [
            {"addressType": "HOME", "addressLine": [profile.address], "country": profile.residence_country}
        ]
        natural["countryOfResidence"] = profile.residence_country
        if profile.id_number:
            natural["nationalIdentification"] = {
                "nationalIdentifier": profile.id_number,
                "nationalIdentifierType": {
                    "passport": "CCPT",
                    "national_id": "NIDN",
                    "driving_licence": "DRLC",
                }.get(profile.id_type or "", "MISC"),
                "countryOfIssue": profile.nationality,
            }
        if profile.birth_date is not None:
            natural["dateAndPlaceOfBirth"] = {
                "dateOfBirth": profile.birth_date.isoformat(),
                "placeOfBirth": profile.nationality or profile.residence_country,
            }
    return {"person": [{"naturalPerson": natural}], "accountNumber": [address]}


class TravelRule:
    """Writes and reads the IVMS101 records of transfers above the threshold."""

    def __init__(
        self, bank: Bank, policy: PolicyStore, kek: SecretStr, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.bank = bank
        self.policy = policy
        self._kek = KeyEncryptionKey(kek)
        self.clock = clock or (lambda: datetime.now(UTC))

    def threshold(self, session: Session, currency: str) -> int | None:
        return self.policy.current(session).monitoring.get(currency, {}).get("travel_rule")

    def record(
        self,
        session: Session,
        request: TransferRequest,
        *,
        currency: str,
        payer_id: str,
        payee_user_id: str | None,
        payee_name: str | None,
    ) -> bool:
        """Stores the transfer's IVMS101 record when it is at or above the threshold; returns whether."""
        threshold = self.threshold(session, currency)
        if threshold is None or request.value < threshold:
            return False
        institution = {
            "legalPerson": {
                "name": {
                    "nameIdentifier": [
                        {
                            "legalPersonName": self.bank.manifest.bank_name,
                            "legalPersonNameIdentifierType": "LEGL",
                        }
                    ]
                },
                **(
                    {
                        "nationalIdentification": {
                            "nationalIdentifier": self.bank.config.bic,
                            "nationalIdentifierType": "MISC",
                        }
                    }
                    if self.bank.config.bic
                    else {}
                ),
            }
        }
        payload = {
            "originator": {
                "originatorPersons": [
                    ivms101_person(
                        session.get(User, payer_id), session.get(KycProfile, payer_id), None, request.payer
                    )
                ][0]["person"],
                "accountNumber": [request.payer],
            },
            "beneficiary": {
                "beneficiaryPersons": ivms101_person(
                    session.get(User, payee_user_id) if payee_user_id else None,
                    session.get(KycProfile, payee_user_id) if payee_user_id else None,
                    payee_name,
                    request.payee,
                )["person"],
                "accountNumber": [request.payee],
            },
            "originatingVASP": {"originatingVASP": institution},
            "beneficiaryVASP": {"beneficiaryVASP": institution} if payee_user_id else {},
            "transferDetails": {
                "transferId": request.id,
                "asset": currency,
                "amount": str(request.value),
                "amountUnit": "minor",
                "chainId": self.bank.chain_id,
            },
        }
        sealed, nonce = self._kek.wrap(
            json.dumps(payload, sort_keys=True).encode(), f"travel-rule:{request.id}"
        )
        session.add(
            TravelRuleRecord(
                transfer_id=request.id,
                sealed=sealed,
                nonce=nonce,
                kek_id=self._kek.kek_id,
                created_at=self.clock(),
            )
        )
        return True

    def read(self, principal: Principal, transfer_id: str) -> dict[str, Any]:
        """A transfer's IVMS101 record, opened (the read is audited)."""
        principal.require(Role.COMPLIANCE)
        with self.bank.sessions.begin() as session:
            row = session.get(TravelRuleRecord, transfer_id)
            if row is None:
                raise NotFoundError("travel-rule record of transfer", transfer_id)
            payload: dict[str, Any] = json.loads(
                self._kek.unwrap(bytes(row.sealed), bytes(row.nonce), f"travel-rule:{transfer_id}")
            )
            AuditLog.append(
                session,
                actor=principal.username,
                action="travel_rule.read",
                subject=f"transfer:{transfer_id}",
                details={},
            )
        return payload


__all__ = ["TravelRule"]
