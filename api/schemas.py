"""Request and response bodies. Amounts cross the API as decimal strings with a currency; inside they
are integers of minor units (`wallet.money.parse_amount` turns one into the other, strictly)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from wallet.money import format_amount
from wallet.vocabulary import (
    AccountStatus,
    AlertSeverity,
    CaseState,
    DeliveryStatus,
    Disposition,
    HitState,
    IncidentKind,
    KycStatus,
    OperationState,
    PolicyOutcome,
    ProposalAction,
    ProposalState,
    RequestStatus,
    Role,
    Severity,
    TransferState,
    Typology,
)


def _decimal_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(
            'an amount is a decimal string like "12.34", not a JSON number (a binary float cannot hold '
            "every amount of money exactly)"
        )
    return value


Amount = Annotated[
    str,
    BeforeValidator(_decimal_string),
    Field(
        description='A positive decimal string with at most the currency\'s decimals, e.g. "12.34"',
        examples=["12.34"],
        max_length=40,
    ),
]
Currency = Annotated[
    str, Field(description="ISO 4217 code of a currency the bank issues", examples=["USD"], max_length=8)
]
Address = Annotated[str, Field(description="An EVM address (0x and 40 hex digits)", max_length=64)]
Id = Annotated[str, Field(max_length=64)]
# SQLite gives back naive datetimes for timezone-aware columns; every stored time is UTC.
Timestamp = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def money(units: int, decimals: int) -> str:
    """Minor units as the API's decimal string."""
    return format_amount(units, decimals)


# --------------------------------------------------------------------------------------- auth ---


class SignupRequest(Strict):
    username: str = Field(min_length=3, max_length=64, examples=["carol"])
    password: str = Field(
        min_length=12, max_length=128, description="12 to 128 characters, not one of the most common"
    )
    full_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=140,
        description="The name statements print",
        examples=["Carol Baker"],
    )


class UserCreate(SignupRequest):
    role: Role


class EnrolmentOut(BaseModel):
    user_id: str
    username: str
    role: Role
    totp_secret: str = Field(description="The TOTP secret, shown once; add it to an authenticator")
    totp_uri: str = Field(description="otpauth:// URI of the TOTP secret (for a QR code)")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str
    role: Role


class RevokeRequest(Strict):
    refresh_token: str = Field(max_length=200)


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    created_at: Timestamp
    disabled: bool = False
    kyc_status: KycStatus | None = Field(default=None, description="Customers only: identity verification")


class ApplicantOut(BaseModel):
    user_id: str
    username: str
    kyc_status: KycStatus
    accounts: int
    created_at: Timestamp


class AuditEntryOut(BaseModel):
    seq: int
    at: Timestamp
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerificationOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    anchors: int
    anchors_checked: bool
    last_anchored_seq: int
    unanchored_records: int = Field(description="Records after the newest anchor (hash chain only so far)")
    first_bad_record: int | None
    problem: str | None


class ScreeningIn(Strict):
    name: str = Field(min_length=1, max_length=200, description="In any script")
    birth_date: date | None = None
    countries: list[str] = Field(default_factory=list, max_length=10, description="ISO 3166 codes or names")


class ScreeningMatchOut(BaseModel):
    sanctions_list: str
    entry_id: str
    entry_name: str
    matched_name: str
    compared: list[str]
    name_score: float
    method: str
    adjustments: dict[str, float]
    score: float
    threshold: float
    programs: list[str]


class KycDecision(Strict):
    decision: Literal["verified", "rejected"]
    reason: str | None = Field(default=None, max_length=500, description="Required for a rejection")
    tier: str | None = Field(
        default=None, max_length=16, description="The transfer policy's tier; default: the policy's default"
    )


class DocumentOut(BaseModel):
    id: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: Timestamp


class HitOut(BaseModel):
    id: int
    subject: str = Field(description="user:<id>, owner:<id>, payee:<id> or transfer:<id>")
    user_id: str | None
    name: str
    list_name: str
    entry_id: str
    score: int
    explanation: dict[str, Any]
    state: HitState
    decided_by: str | None
    decided_at: Timestamp | None
    decision_reason: str | None
    created_at: Timestamp


class HitDecisionIn(Strict):
    decision: Literal["cleared", "confirmed"]
    reason: str = Field(min_length=1, max_length=500)


class KycOut(BaseModel):
    user_id: str
    username: str
    status: KycStatus
    profile: dict[str, Any] | None
    documents: list[DocumentOut]
    submitted_at: Timestamp | None
    expires_at: Timestamp | None
    tier: str
    risk_rating: str | None = Field(default=None, description="Compliance only")
    risk_reasons: list[str] | None = Field(default=None, description="Compliance only")
    hits: list[HitOut] | None = Field(default=None, description="Compliance only")


class UserUpdate(Strict):
    role: Role | None = None
    disabled: bool | None = Field(default=None, description="true: the user cannot log in; tokens end")


# ----------------------------------------------------------------------------------- accounts ---


class AccountCreate(Strict):
    currency: Currency


class AccountOut(BaseModel):
    id: str
    user_id: str
    currency: str
    address: str
    token: str
    status: AccountStatus
    created_at: Timestamp


class BalanceOut(BaseModel):
    account_id: str
    currency: str
    balance: str
    as_of_block: int | None = Field(description="The chain block the ledger mirror has reached")


class PayeeCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    address: Address
    country: str | None = Field(default=None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")


class PayeeOut(BaseModel):
    id: str
    name: str
    address: str
    country: str | None = None
    created_at: Timestamp


# ---------------------------------------------------------------------------------- transfers ---


class TransferCheckIn(Strict):
    from_account: Id
    amount: Amount
    currency: Currency
    to_account: Id | None = Field(default=None, description="Another account of this bank")
    to_address: Address | None = None
    to_payee: Id | None = Field(default=None, description="One of your saved payees")


class TransferCreate(TransferCheckIn):
    reference: str | None = Field(
        default=None, max_length=80, description="Up to 32 bytes of text, or 0x and 64 hex digits; on chain"
    )
    memo: str | None = Field(default=None, max_length=140, description="Free text, kept off chain")
    totp: str | None = Field(
        default=None, max_length=10, description="A fresh TOTP code; required above the bank's threshold"
    )


class PolicyRuleOut(BaseModel):
    rule: str
    outcome: PolicyOutcome
    explanation: str
    problem: str | None = None


class TransferError(BaseModel):
    type: str = Field(
        description="The problem type a refusal at the door would have had (urn:tdw:problem:"
        "insufficient-funds, payee-not-verified, account-restricted, payments-suspended), or "
        "urn:tdw:problem:contract-revert"
    )
    name: str | None = Field(description="The contract's error")
    args: dict[str, Any]


class TransferOut(BaseModel):
    id: str
    state: TransferState
    currency: str
    amount: str
    payer: str
    payee: str
    reference: str | None
    memo: str | None
    tx_hash: str | None
    block_number: int | None
    error: TransferError | None
    created_at: Timestamp
    updated_at: Timestamp
    reasons: list[PolicyRuleOut] = Field(
        default_factory=list, description="Why the bank's transfer policy held or refused it"
    )


class TransferCheckOut(BaseModel):
    outcome: PolicyOutcome = Field(description="allow: it would be sent; hold: reviewed first; reject")
    rules: list[PolicyRuleOut]
    policy_version: int | None
    available: str | None = Field(description="The account's available balance (null if refused)")


class HeldTransferOut(BaseModel):
    id: str
    status: RequestStatus
    customer: str | None
    currency: str
    amount: str
    payer: str
    payee: str
    decision: dict[str, Any] = Field(description="The policy's decision: outcome, version, every rule")
    reviewed_by: str | None
    reviewed_at: Timestamp | None
    review_reason: str | None
    created_at: Timestamp


class ReleaseIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class PolicyOut(BaseModel):
    version: int
    document: dict[str, Any]
    sha256: str
    created_by: str
    proposal_id: str | None
    created_at: Timestamp


# ------------------------------------------------------------------------------- bank and admin ---


class MintRequest(Strict):
    currency: Currency
    amount: Amount
    to_account: Id | None = None
    to_address: Address | None = None


class BurnRequest(Strict):
    currency: Currency
    amount: Amount


class OperationOut(BaseModel):
    id: str
    kind: str
    state: OperationState
    currency: str | None
    amount: str | None
    target: str | None
    details: dict[str, Any]
    sender: str
    tx_hash: str | None
    error: TransferError | None
    created_at: Timestamp


class MinterOut(BaseModel):
    currency: str
    minter: str
    allowance: str = Field(description="What the minter may still mint")
    redemption_address: str = Field(description="Where customers send what they redeem; burns come from here")
    redemption_balance: str
    total_supply: str


class ProposalIn(Strict):
    action: ProposalAction
    params: dict[str, Any] = Field(
        description="The act's arguments: freeze/unfreeze {address, currency}; partial_freeze {address, "
        "currency, amount}; forced_transfer {currency, from_address, to_address, amount, reason_code, "
        "legal_order_reference, legal_order_sha256}; recover_account {currency, lost_address, "
        "replacement_address, legal_order_reference, legal_order_sha256}; revoke_kyc/block/unblock "
        "{address}; grant_role/revoke_role {role, address, currency?}; set_allowance {currency, minter, "
        "amount}; mint {currency, amount, to_account | to_address}; burn {currency, amount}; "
        "policy_change {document}; release_transfer {transfer_id}"
    )
    reason: str = Field(min_length=1, max_length=500)


class ProposalDecisionIn(Strict):
    reason: str | None = Field(default=None, max_length=500, description="Required to reject")


class ProposalOut(BaseModel):
    id: str
    action: ProposalAction
    params: dict[str, Any]
    reason: str
    approver_role: Role
    proposed_by: str
    state: ProposalState
    expires_at: Timestamp
    decided_by: str | None
    decided_at: Timestamp | None
    decision_reason: str | None
    operation_ids: list[str] = Field(description="The bank operations that carried it out, once approved")
    created_at: Timestamp


class TokenInfoOut(BaseModel):
    currency: str
    address: str
    decimals: int
    name: str


class BankOut(BaseModel):
    name: str
    chain_id: int
    registry: str
    tokens: list[TokenInfoOut]
    redemption_address: str


# ----------------------------------------------------------------------------------- webhooks ---


class WebhookCreate(Strict):
    url: str = Field(max_length=2000, examples=["https://example.com/hooks/tdw"])
    event_types: list[
        Literal["transfer.state", "funds.received", "funds.retracted", "ledger.reorg", "incident.opened"]
    ] = Field(default_factory=list, description="Empty: every type")


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    active: bool
    created_at: Timestamp


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The HMAC-SHA256 signing secret, shown once")


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Timestamp
    last_status_code: int | None
    last_error: str | None
    delivered_at: Timestamp | None


class HealthOut(BaseModel):
    status: Literal["ok"]
    chain_id: int
    head_block: int
    mirror_block: int | None


class IncidentOut(BaseModel):
    id: int
    kind: IncidentKind
    severity: Severity
    summary: str
    details: dict[str, Any]
    reorg_id: int | None
    opened_at: Timestamp
    resolved_at: Timestamp | None
    resolved_by: str | None
    resolution: str | None


class IncidentResolution(Strict):
    resolution: str = Field(min_length=1, max_length=500, description="What was done")


class DifferenceOut(BaseModel):
    kind: str = Field(description="balance, supply, transaction, transfer, operation or nonce")
    subject: str = Field(description="A holder, an outbox row, a transfer, an operation or a sender")
    database: int | str = Field(description="What the database holds")
    chain: int | str = Field(description="What the chain holds")
    token: str | None


class ReconciliationOut(BaseModel):
    id: int
    ok: bool
    at_block: int = Field(description="Transactions mined up to this block were checked in full")
    balances_at: int | None = Field(description="Balances were compared as of this block")
    head_block: int
    checked: dict[str, int]
    difference_count: int
    differences: list[DifferenceOut] = Field(description="The first 200, in order")
    incident_id: int | None
    started_at: Timestamp
    finished_at: Timestamp


class ReconciliationSummary(BaseModel):
    id: int
    ok: bool
    difference_count: int
    at_block: int
    finished_at: Timestamp


class ReadyOut(BaseModel):
    status: Literal["ready", "not-ready"]
    head_block: int | None
    mirror_block: int | None
    reconciliation: ReconciliationSummary | None = Field(description="The newest reconciliation")
    problems: list[str]


# ---------------------------------------------------------------------- monitoring and cases ---


class AlertOut(BaseModel):
    id: int
    typology: Typology
    severity: AlertSeverity
    subject: str = Field(description="The address the alert is about")
    user_id: str | None = Field(description="The customer whose address it is, if one of ours")
    currency: str
    block: int
    occurred_at: Timestamp = Field(description="The time of the block that triggered it")
    explanation: str
    figures: dict[str, Any] = Field(description="The figures that made the rule fire")
    movements: list[dict[str, Any]] = Field(description="The movements involved, oldest first")
    case_id: str | None
    created_at: Timestamp


class CaseOut(BaseModel):
    id: str
    subject: str
    user_id: str | None
    title: str
    state: CaseState
    severity: AlertSeverity
    assignee: str | None
    disposition: Disposition | None
    due_at: Timestamp
    overdue: bool
    opened_at: Timestamp
    updated_at: Timestamp
    closed_at: Timestamp | None
    alerts: int


class CaseItemOut(BaseModel):
    id: int
    kind: str = Field(description="note, alert, status, assignment, action, evidence or report")
    author: str
    body: str
    details: dict[str, Any]
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    created_at: Timestamp


class CaseFileOut(BaseModel):
    case: CaseOut
    alerts: list[AlertOut]
    items: list[CaseItemOut]


class AssignIn(Strict):
    assignee: str = Field(description="A compliance officer's user id or username")


class CaseStateIn(Strict):
    state: CaseState
    reason: str = Field(min_length=1, max_length=500)


class NoteIn(Strict):
    text: str = Field(min_length=1, max_length=4000)


class CloseIn(Strict):
    disposition: Disposition
    reason: str = Field(min_length=1, max_length=500)


class CaseProposalIn(Strict):
    action: Literal["freeze", "partial_freeze", "block", "revoke_kyc"]
    currency: str | None = Field(default=None, description="The token, for a freeze")
    amount: str | None = Field(default=None, description="The frozen part, for a partial freeze")
    reason: str = Field(min_length=1, max_length=400)
