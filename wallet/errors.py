"""Every error the custody layer raises, rooted at `WalletError`.

Groups (`ChainError`, `SigningError`, ...) let callers catch a whole area; leaves carry structured fields
(the contract error's name and arguments, the transaction hash) so the API can map them to problem
details without parsing messages. Leaves that are also a built-in error inherit it too, as web3.py does.

Each class declares its `code` (the stable kind a front end shows, `urn:tdw:problem:<code>` in the API)
and its `title` (one line for people) in its own body: they are public, so neither follows a rename of
the class or an edit of its docstring. Defining an error class without both is a `TypeError` at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class WalletError(Exception):
    """Root of every error raised by the custody layer."""

    code: ClassVar[str] = "wallet"
    title: ClassVar[str] = "Root of every error raised by the custody layer."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [name for name in ("code", "title") if name not in cls.__dict__]
        if missing:
            raise TypeError(f"{cls.__name__} must declare its own {' and '.join(missing)}")


class ConfigurationError(WalletError):
    """Settings are missing, inconsistent or unsafe for the environment."""

    code = "configuration"
    title = "Settings are missing, inconsistent or unsafe for the environment."


class InvalidRequestError(WalletError, ValueError):
    """A request is malformed or asks for something that cannot be done as asked."""

    code = "invalid-request"
    title = "A request is malformed or asks for something that cannot be done as asked."


class MoneyError(InvalidRequestError):
    """An amount or currency is not acceptable."""

    code = "money"
    title = "An amount or currency is not acceptable."


class UnknownCurrencyError(MoneyError):
    """The code is not an ISO 4217 currency with a minor-unit exponent."""

    code = "unknown-currency"
    title = "The code is not an ISO 4217 currency with a minor-unit exponent."

    def __init__(self, currency: str) -> None:
        super().__init__(
            f"unknown currency {currency!r}: expected an ISO 4217 code with minor units, like 'USD'"
        )
        self.currency = currency


class TransferError(InvalidRequestError):
    """A transfer request is malformed."""

    code = "transfer"
    title = "A transfer request is malformed."


class InsufficientFundsError(TransferError):
    """The amount is above the account's available balance: its balance in the ledger mirror, less
    frozen funds and the customer's own transfers not yet on chain. `available` is in minor units."""

    code = "insufficient-funds"
    title = "The amount is above the account's available balance."

    def __init__(self, available: int, currency: str, available_text: str, as_of_block: int | None) -> None:
        super().__init__(f"the available balance is {available_text} {currency}")
        self.available = available
        self.available_text = available_text
        self.currency = currency
        self.as_of_block = as_of_block


class PayeeNotVerifiedError(TransferError):
    """The payee cannot receive this bank's deposit tokens: not a KYC-verified customer of a bank on the
    chain, verification expired or restricted, or the zero address. Which of these is not said: a
    payee's compliance status is not the payer's to know."""

    code = "payee-not-verified"
    title = "The payee cannot receive this payment."


class AccountRestrictedError(TransferError):
    """The paying account may not send right now: frozen, restricted, or its verification expired."""

    code = "account-restricted"
    title = "Your account cannot send payments right now."


class PaymentsSuspendedError(TransferError):
    """The bank has paused the currency's token: no payments move until it resumes."""

    code = "payments-suspended"
    title = "Payments in this currency are suspended by the bank."


class TransferRejectedError(TransferError):
    """The bank's transfer policy refuses this payment. `rules` are the reasons a customer may be told
    (a limit, the velocity, the payee's country); a sanctions reason is never told, only that the bank
    cannot make the payment."""

    code = "transfer-rejected"
    title = "The bank's transfer policy refuses this payment."

    def __init__(self, detail: str, rules: list[dict[str, object]]) -> None:
        super().__init__(detail)
        self.rules = rules


class BatchInvalidError(InvalidRequestError):
    """A batch payment file with problems: `errors` lists every one (line, field, problem); nothing moved."""

    code = "batch-invalid"
    title = "The batch file has problems; nothing was paid."

    def __init__(self, detail: str, errors: list[dict[str, object]]) -> None:
        super().__init__(detail)
        self.errors = errors


class BlockedAddressError(InvalidRequestError):
    """The address is on a sanctions list's digital-currency addresses: nothing is sent to it or saved."""

    code = "blocked-address"
    title = "The address is on a sanctions list."


class SigningError(WalletError):
    """A key could not be loaded or could not sign."""

    code = "signing"
    title = "A key could not be loaded or could not sign."


class UnknownKeyError(SigningError, KeyError):
    """No key is stored under the label or address asked for."""

    code = "unknown-key"
    title = "No key is stored under the label or address asked for."

    def __init__(self, key: str) -> None:
        super().__init__(f"no key {key!r}")
        self.key = key

    def __str__(self) -> str:  # KeyError's own would quote the whole message again
        return f"no key {self.key!r}"


class ChainError(WalletError):
    """Talking to the chain, compiling or deploying failed."""

    code = "chain"
    title = "Talking to the chain, compiling or deploying failed."


class CompilerError(ChainError):
    """The Solidity compiler could not be run or reported errors."""

    code = "compiler"
    title = "The Solidity compiler could not be run or reported errors."


class CompilerMissingError(CompilerError):
    """Node.js or the npm solc package is not there, and no prebuilt output fits the sources."""

    code = "compiler-missing"
    title = "The Solidity compiler is not installed."


class NodeError(ChainError):
    """A local chain node could not be started or reached."""

    code = "node"
    title = "A local chain node could not be started or reached."


class NodeUnreachableError(NodeError):
    """The chain node did not answer: the connection was refused, broke or timed out."""

    code = "node-unreachable"
    title = "The chain node cannot be reached."


class ContractRevertError(ChainError):
    """A contract call or transaction reverted; `error_name` and `error_args` are the decoded custom error."""

    code = "contract-revert"
    title = (
        "A contract call or transaction reverted; `error_name` and `error_args` are the decoded custom error."
    )

    def __init__(
        self,
        error_name: str,
        error_args: Mapping[str, Any],
        *,
        tx_hash: str | None = None,
        raw: bytes = b"",
    ) -> None:
        args_text = ", ".join(f"{k}={v!r}" for k, v in error_args.items())
        where = f" in {tx_hash}" if tx_hash else ""
        super().__init__(f"reverted{where}: {error_name}({args_text})")
        self.error_name = error_name
        self.error_args = dict(error_args)
        self.tx_hash = tx_hash
        self.raw = raw


class VerificationError(ChainError):
    """Code on chain does not match a fresh compile of the sources."""

    code = "verification"
    title = "Code on chain does not match a fresh compile of the sources."

    def __init__(self, mismatches: Mapping[str, str]) -> None:
        lines = "; ".join(f"{name}: {why}" for name, why in mismatches.items())
        super().__init__(f"on-chain code does not match the sources: {lines}")
        self.mismatches = dict(mismatches)


class ManifestError(ChainError, ValueError):
    """A deployment manifest is unreadable or does not fit the chain it names."""

    code = "manifest"
    title = "A deployment manifest is unreadable or does not fit the chain it names."


class LedgerError(WalletError):
    """The ledger mirror cannot follow the chain or disagrees with it."""

    code = "ledger"
    title = "The ledger mirror cannot follow the chain or disagrees with it."


class DeepReorgError(LedgerError):
    """The chain reorganised deeper than the confirmations after which entries are final."""

    code = "deep-reorg"
    title = "The chain reorganised deeper than the confirmations after which entries are final."

    def __init__(self, fork_block: int, final_before: int) -> None:
        super().__init__(
            f"reorg below final entries: rolled back to block {fork_block}, "
            f"entries up to block {final_before} were final"
        )
        self.fork_block = fork_block
        self.final_before = final_before


class LogRangeTooLargeError(LedgerError):
    """The node refused an `eth_getLogs` block range, even one block, as too large (blocks or logs)."""

    code = "log-range-too-large"
    title = "The node refused a block range of logs as too large."


class BenchError(WalletError):
    """A benchmark could not run as asked (no server, a failed setup step)."""

    code = "bench"
    title = "A benchmark could not run as asked."


class NotFoundError(WalletError, LookupError):
    """The thing asked for does not exist, or the caller may not know that it does."""

    code = "not-found"
    title = "The thing asked for does not exist, or the caller may not know that it does."

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"no {what} {ident!r}")
        self.what = what
        self.ident = ident


class ConflictError(WalletError):
    """The request contradicts what is stored already."""

    code = "conflict"
    title = "The request contradicts what is stored already."


class IdempotencyConflictError(ConflictError):
    """The idempotency key was used before with a different request body."""

    code = "idempotency-conflict"
    title = "The idempotency key was used before with a different request body."

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"idempotency key {idempotency_key!r} was used for a different request")
        self.idempotency_key = idempotency_key


class AuthError(WalletError):
    """Who the caller is could not be established, or they may not do what they asked."""

    code = "auth"
    title = "Who the caller is could not be established, or they may not do what they asked."


class AuthenticationError(AuthError):
    """Credentials or a token are wrong, expired or revoked."""

    code = "authentication"
    title = "Credentials or a token are wrong, expired or revoked."


class RateLimitedError(AuthError):
    """Too many requests of one kind from one client or user; try again after `retry_after` seconds."""

    code = "rate-limited"
    title = "Too many requests; try again later."

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.what = what
        self.retry_after = retry_after


class LoginThrottledError(RateLimitedError):
    """Too many failed logins for this username from this client address; wait `retry_after` seconds.
    Said alike for names that exist and names that do not."""

    code = "login-throttled"
    title = "Too many failed logins for this username from this address; try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__("failed logins for this username from this address", retry_after)


class TotpRequiredError(AuthError):
    """This operation needs a fresh TOTP code, and none or a used or wrong one was given."""

    code = "totp-required"
    title = "This operation needs a fresh TOTP code, and none or a used or wrong one was given."


class PermissionDeniedError(AuthError):
    """The caller's role does not allow this operation."""

    code = "permission-denied"
    title = "The caller's role does not allow this operation."


class ApprovalRequiredError(ConflictError):
    """This act needs a second person: propose it (`POST /v1/proposals`) for another user to approve."""

    code = "approval-required"
    title = "This act needs a second person's approval: propose it instead."


class SelfApprovalError(PermissionDeniedError):
    """The proposer of an act can never approve or reject it themself."""

    code = "self-approval"
    title = "You proposed this; another user must decide it."


class MonitorRaceError(ConflictError):
    """Another monitoring worker moved the monitoring cursor first; this one starts again from it."""

    code = "monitor-race"
    title = "Another monitoring worker moved first."


class QuoteExpiredError(ConflictError):
    """The FX quote's time ran out before it was accepted: ask for a new one."""

    code = "quote-expired"
    title = "The FX quote has expired; ask for a new one."


class PaymentRequestClosedError(ConflictError):
    """The payment request takes no payment: paid already (single-use), cancelled or past its expiry."""

    code = "payment-request-closed"
    title = "The payment request takes no payment now."


class RefundTooLargeError(ConflictError):
    """A refund would give back more than the payment brought in, with the refunds before it."""

    code = "refund-too-large"
    title = "The refund is larger than what is left of the payment."


class QuoteUsedError(ConflictError):
    """The FX quote was accepted already: a quote is good for one conversion."""

    code = "quote-used"
    title = "The FX quote was accepted already."


class RatesUnavailableError(WalletError):
    """The FX rate source has no rate for the pair, or its rates are too old to quote on."""

    code = "rates-unavailable"
    title = "No current FX rate for that pair; nothing can be quoted now."


class FxUnavailableError(WalletError):
    """The bank cannot carry out a conversion now: its FX book is short of the currency bought, cannot
    pay, or no settlement contract is configured."""

    code = "fx-unavailable"
    title = "The bank cannot carry out this conversion now; nothing was signed or moved."


class PartnerAuthError(WalletError):
    """A request to the partner API is not signed by a registered partner's key (RFC 9421), its signature
    is too old, or it was sent before."""

    code = "partner-signature"
    title = "The request's HTTP message signature is missing, invalid, too old or replayed."


class PartnerLimitError(WalletError):
    """A payment with a partner bank is above a limit kept with that partner."""

    code = "partner-limit"
    title = "The payment is above a limit the bank keeps with that partner bank; nothing was signed."


class ProposalClosedError(ConflictError):
    """The proposal was executed, rejected, withdrawn or has expired: it can no longer be decided."""

    code = "proposal-closed"
    title = "The proposal is no longer open."

    def __init__(self, proposal_id: str, state: str) -> None:
        super().__init__(f"the proposal {proposal_id} is {state}; only a pending proposal can be decided")
        self.proposal_id = proposal_id
        self.state = state
