import inspect

import pytest

from api.problems import problem_type, status_of
from wallet import errors
from wallet.bank.webhooks import verify

WALLET_ERRORS = [
    c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.WalletError)
]

# The public list: a problem type is part of the API, so adding, renaming or removing one is a change
# made here on purpose.
PROBLEM_TYPES = {
    "AccountRestrictedError": ("account-restricted", 422),
    "ApprovalRequiredError": ("approval-required", 409),
    "AuthError": ("auth", 401),
    "AuthenticationError": ("authentication", 401),
    "BenchError": ("bench", 503),
    "ChainError": ("chain", 503),
    "CompilerError": ("compiler", 503),
    "CompilerMissingError": ("compiler-missing", 503),
    "ConfigurationError": ("configuration", 503),
    "ConflictError": ("conflict", 409),
    "ContractRevertError": ("contract-revert", 422),
    "DeepReorgError": ("deep-reorg", 503),
    "IdempotencyConflictError": ("idempotency-conflict", 409),
    "InsufficientFundsError": ("insufficient-funds", 422),
    "InvalidRequestError": ("invalid-request", 422),
    "LedgerError": ("ledger", 503),
    "LogRangeTooLargeError": ("log-range-too-large", 503),
    "LoginThrottledError": ("login-throttled", 429),
    "ManifestError": ("manifest", 503),
    "MoneyError": ("money", 422),
    "NodeError": ("node", 503),
    "NodeUnreachableError": ("node-unreachable", 503),
    "NotFoundError": ("not-found", 404),
    "PayeeNotVerifiedError": ("payee-not-verified", 422),
    "PaymentsSuspendedError": ("payments-suspended", 422),
    "TransferRejectedError": ("transfer-rejected", 422),
    "BlockedAddressError": ("blocked-address", 422),
    "PermissionDeniedError": ("permission-denied", 403),
    "ProposalClosedError": ("proposal-closed", 409),
    "MonitorRaceError": ("monitor-race", 409),
    "QuoteExpiredError": ("quote-expired", 409),
    "QuoteUsedError": ("quote-used", 409),
    "PaymentRequestClosedError": ("payment-request-closed", 409),
    "RefundTooLargeError": ("refund-too-large", 409),
    "BatchInvalidError": ("batch-invalid", 422),
    "RatesUnavailableError": ("rates-unavailable", 503),
    "FxUnavailableError": ("fx-unavailable", 503),
    "PartnerAuthError": ("partner-signature", 401),
    "PartnerLimitError": ("partner-limit", 422),
    "RateLimitedError": ("rate-limited", 429),
    "SelfApprovalError": ("self-approval", 403),
    "SigningError": ("signing", 503),
    "TotpRequiredError": ("totp-required", 403),
    "TransferError": ("transfer", 422),
    "UnknownCurrencyError": ("unknown-currency", 422),
    "UnknownKeyError": ("unknown-key", 503),
    "VerificationError": ("verification", 503),
    "WalletError": ("wallet", 500),
}


def test_the_problem_types_are_the_published_list() -> None:
    published = {
        c.__name__: (problem_type(c).removeprefix("urn:tdw:problem:"), status_of(c)) for c in WALLET_ERRORS
    }
    assert published == PROBLEM_TYPES


def test_every_wallet_error_declares_its_own_code_and_title() -> None:
    for cls in WALLET_ERRORS:
        assert "code" in vars(cls)
        assert "title" in vars(cls)
        assert cls.title.strip()
        assert "\n" not in cls.title
    assert len({c.code for c in WALLET_ERRORS}) == len(WALLET_ERRORS)


def test_an_error_without_its_own_code_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="must declare its own code and title"):
        type("SloppyError", (errors.ChainError,), {})
    with pytest.raises(TypeError, match="must declare its own title"):
        type("HalfError", (errors.ChainError,), {"code": "half"})


def test_a_title_does_not_follow_the_docstring() -> None:
    class DocumentedError(errors.LedgerError):
        """Some other words."""

        code = "documented"
        title = "The title."

    assert DocumentedError.title == "The title."
    assert problem_type(DocumentedError) == "urn:tdw:problem:documented"


def test_only_the_root_error_is_a_500() -> None:
    assert {c for c in WALLET_ERRORS if status_of(c) >= 500 and status_of(c) != 503} == {errors.WalletError}
    assert status_of(errors.TransferError) == 422
    assert status_of(errors.LoginThrottledError) == 429
    assert status_of(errors.NotFoundError) == 404


def test_a_webhook_signature_does_not_verify_when_stale_or_tampered() -> None:
    from wallet.bank.webhooks import sign

    header = sign("whsec_x", 1_000_000, b'{"id":1}')
    assert verify("whsec_x", header, b'{"id":1}', now=1_000_100)
    assert not verify("whsec_x", header, b'{"id":2}', now=1_000_100)
    assert not verify("whsec_x", header, b'{"id":1}', now=1_000_400)
    assert not verify("whsec_x", "garbage", b'{"id":1}', now=1_000_100)
