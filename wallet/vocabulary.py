"""The states and names the custody layer stores and shows, each defined once.

Rows store the values as short strings (the database's CHECK constraints list the same values); the
models load them as these enums, the services compare against them, and the API's schemas publish them
as OpenAPI enums. A `StrEnum` member is its string, so JSON and SQL see plain text.
"""

from __future__ import annotations

from enum import StrEnum


class TxStatus(StrEnum):
    """Where an outbox row's chain transaction is; it only moves forward (or back on a reorg)."""

    INTENT = "intent"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    INCLUDED = "included"
    CONFIRMED = "confirmed"
    FINAL = "final"
    FAILED = "failed"


class RequestStatus(StrEnum):
    """Where a stored transfer request is: held by the transfer policy for a compliance officer, signed
    and waiting, in a batch, executed, or failed (a compliance rejection is a failure too)."""

    HELD = "held"
    PENDING = "pending"
    QUEUED = "queued"
    EXECUTED = "executed"
    FAILED = "failed"


class TransferState(StrEnum):
    """The state a customer sees of a transfer (from its request and its batch's transaction)."""

    HELD = "held"
    PENDING = "pending"
    SUBMITTED = "submitted"
    EXECUTED = "executed"
    CONFIRMED = "confirmed"
    FINAL = "final"
    FAILED = "failed"


class OperationState(StrEnum):
    """The state staff see of a bank operation (from its transaction)."""

    PENDING = "pending"
    BROADCAST = "broadcast"
    EXECUTED = "executed"
    CONFIRMED = "confirmed"
    FINAL = "final"
    FAILED = "failed"


class OperationKind(StrEnum):
    """What a bank operation does on chain."""

    MINT = "mint"
    BURN = "burn"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    SET_ALLOWANCE = "set_allowance"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    PARTIAL_FREEZE = "partial_freeze"
    FORCED_TRANSFER = "forced_transfer"
    RECOVER_ACCOUNT = "recover_account"
    REVOKE_KYC = "revoke_kyc"
    BLOCK = "block"
    UNBLOCK = "unblock"


class ProposalAction(StrEnum):
    """A powerful act that one user proposes and another approves (maker-checker)."""

    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    PARTIAL_FREEZE = "partial_freeze"
    FORCED_TRANSFER = "forced_transfer"
    RECOVER_ACCOUNT = "recover_account"
    REVOKE_KYC = "revoke_kyc"
    BLOCK = "block"
    UNBLOCK = "unblock"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    SET_ALLOWANCE = "set_allowance"
    MINT = "mint"
    BURN = "burn"
    POLICY_CHANGE = "policy_change"
    RELEASE_TRANSFER = "release_transfer"


class ProposalState(StrEnum):
    """Where a proposal is: waiting for a second person, or closed one of four ways."""

    PENDING = "pending"
    EXECUTED = "executed"  # approved, and its act was carried out (its transactions are in the outbox)
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class PolicyOutcome(StrEnum):
    """What the transfer policy decides: let it through, hold it for a compliance officer, or refuse it."""

    ALLOW = "allow"
    HOLD = "hold"
    REJECT = "reject"


class HitState(StrEnum):
    """A screening hit: open until a compliance officer clears it as a false positive or confirms it."""

    OPEN = "open"
    CLEARED = "cleared"
    CONFIRMED = "confirmed"


class Typology(StrEnum):
    """A transaction-monitoring rule (`wallet.compliance.monitoring`), or the statistical detector."""

    LARGE = "large_transfer"
    STRUCTURING = "structuring"
    PASS_THROUGH = "pass_through"  # noqa: S105 - a rule's name, not a password
    FAN_IN = "fan_in"
    FAN_OUT = "fan_out"
    ROUND_AMOUNTS = "round_amounts"
    DORMANT = "dormant_reactivated"
    HIGH_RISK_JURISDICTION = "high_risk_jurisdiction"
    BLOCKED_PROXIMITY = "blocked_proximity"
    ANOMALY = "anomaly"


class AlertSeverity(StrEnum):
    """How urgent a monitoring alert is; a case's due date follows its most severe alert."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class QuoteState(StrEnum):
    """An FX quote: open until accepted (an open quote past its expiry is expired, whatever it says), then
    settled or failed by the conversion it was accepted for."""

    OPEN = "open"
    ACCEPTED = "accepted"
    SETTLED = "settled"
    FAILED = "failed"


class PaymentRequestState(StrEnum):
    """A payment request (`wallet.retail.requests`) as stored: open; taken (a single-use request whose one
    payment was accepted); cancelled by its owner. What the owner is shown adds what the ledger
    mirror says was received (`paid`) and the clock (`expired`)."""

    OPEN = "open"
    TAKEN = "taken"
    CANCELLED = "cancelled"


class ScheduleKind(StrEnum):
    """When a bill is paid (`wallet.retail.bills`): once on a date, monthly on a day, weekly on a weekday."""

    ONCE = "once"
    MONTHLY = "monthly"
    WEEKLY = "weekly"


class ScheduleState(StrEnum):
    """A bill payment schedule: active until its last payment (done) or until the customer cancels it."""

    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class BillRunState(StrEnum):
    """One due payment of a schedule: claimed by a scheduler (exactly once per schedule and due date),
    sent (its transfer is stored), retrying (refused for funds; tried again later), failed (refused for
    good: the customer was told), skipped (the customer skipped that date)."""

    CLAIMED = "claimed"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"


class SettlementStatus(StrEnum):
    """An atomic settlement (`wallet.tx.settlements`): offered to another bank, which signs its legs and
    submits it (the bank watches the chain for it); signed and waiting for the relayer; in a
    transaction on its way; settled (mined: every leg moved); failed (nothing moved: the chain refused
    it, the other bank rejected it, or its deadline passed before it settled)."""

    OFFERED = "offered"
    PENDING = "pending"
    SUBMITTED = "submitted"
    SETTLED = "settled"
    FAILED = "failed"


class PaymentDirection(StrEnum):
    """A payment between banks, as this bank sees it: our customer pays the partner's, or the reverse."""

    OUTGOING = "outgoing"
    INCOMING = "incoming"


class CaseState(StrEnum):
    """A compliance case: alerts about one customer (or one outside address), worked to a disposition."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    ESCALATED = "escalated"
    CLOSED = "closed"


class Disposition(StrEnum):
    """How a closed case ended."""

    FALSE_POSITIVE = "false_positive"
    RISK_ACCEPTED = "risk_accepted"
    REPORTED = "reported"


class EntryState(StrEnum):
    """How settled a journal entry is: in a block, confirmed by some, or past the finality depth."""

    INCLUDED = "included"
    CONFIRMED = "confirmed"
    FINAL = "final"


class IncidentKind(StrEnum):
    """What went wrong, as operators see it in the incident list."""

    REORG = "reorg"  # the chain replaced blocks the mirror had applied
    DEEP_REORG = "deep_reorg"  # ... including blocks whose entries were shown final
    CHAIN_BEHIND = "chain_behind"  # transactions the database holds mined are not on the chain
    FEE_CAP = "fee_cap"  # a stuck transaction reached the most it may offer per gas
    RECONCILIATION = "reconciliation"  # the mirror, the transfers or the nonces disagree with the chain


class Severity(StrEnum):
    """How loudly an incident is raised: a warning is logged and listed; a critical one also fails
    `/readyz` until an operator resolves it."""

    WARNING = "warning"
    CRITICAL = "critical"


class AccountStatus(StrEnum):
    """Whether an account can move money: active once its address is KYC-registered on chain, which
    happens only after the customer's identity was verified."""

    PENDING_KYC = "pending_kyc"  # the customer is not verified yet: nothing is registered on chain
    PENDING = "pending"  # verified; the registration is on its way to the chain
    ACTIVE = "active"
    REJECTED = "rejected"


class KycStatus(StrEnum):
    """Where a customer's identity verification stands. Sign-up starts at `pending_kyc`; only a
    `verified` customer's address is registered on chain."""

    PENDING_KYC = "pending_kyc"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Role(StrEnum):
    """What a user is to the bank; it decides what they may do."""

    CUSTOMER = "customer"
    OPERATOR = "operator"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values, in order (for CHECK constraints: `f"status IN {values(TxStatus)}"`)."""
    return tuple(member.value for member in vocabulary)
