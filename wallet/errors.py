"""Every error the custody layer raises, rooted at `WalletError`.

Groups (`ChainError`, `SigningError`, ...) let callers catch a whole area; leaves carry structured fields
(the contract error's name and arguments, the transaction hash) so the API can map them to problem
details without parsing messages. Leaves that are also a built-in error inherit it too, as web3.py does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WalletError(Exception):
    """Root of every error raised by the custody layer."""


class ConfigurationError(WalletError):
    """Settings are missing, inconsistent or unsafe for the environment."""


class InvalidRequestError(WalletError, ValueError):
    """A request is malformed or asks for something that cannot be done as asked."""


class MoneyError(InvalidRequestError):
    """An amount or currency is not acceptable."""


class UnknownCurrencyError(MoneyError):
    """The code is not an ISO 4217 currency with a minor-unit exponent."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}: expected an ISO 4217 code with minor units, like 'USD'")
        self.code = code


class SigningError(WalletError):
    """A key could not be loaded or could not sign."""


class ChainError(WalletError):
    """Talking to the chain, compiling or deploying failed."""


class CompilerError(ChainError):
    """The Solidity compiler could not be run or reported errors."""


class NodeError(ChainError):
    """A local chain node could not be started or reached."""


class ContractRevertError(ChainError):
    """A contract call or transaction reverted; `error_name` and `error_args` are the decoded custom error."""

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

    def __init__(self, mismatches: Mapping[str, str]) -> None:
        lines = "; ".join(f"{name}: {why}" for name, why in mismatches.items())
        super().__init__(f"on-chain code does not match the sources: {lines}")
        self.mismatches = dict(mismatches)


class LedgerError(WalletError):
    """The ledger mirror cannot follow the chain or disagrees with it."""


class ManifestError(ChainError, ValueError):
    """A deployment manifest is unreadable or does not fit the chain it names."""


class NotFoundError(WalletError, LookupError):
    """The thing asked for does not exist, or the caller may not know that it does."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"no {what} {ident!r}")
        self.what = what
        self.ident = ident


class ConflictError(WalletError):
    """The request contradicts what is stored already."""


class IdempotencyConflictError(ConflictError):
    """The idempotency key was used before with a different request body."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"idempotency key {idempotency_key!r} was used for a different request")
        self.idempotency_key = idempotency_key


class AuthError(WalletError):
    """Who the caller is could not be established, or they may not do what they asked."""


class AuthenticationError(AuthError):
    """Credentials or a token are wrong, expired or revoked."""


class AccountLockedError(AuthenticationError):
    """Too many failed logins: the user is locked out until `until` (ISO 8601, UTC)."""

    def __init__(self, until: str) -> None:
        super().__init__(f"too many failed logins; locked until {until}")
        self.until = until


class TotpRequiredError(AuthError):
    """This operation needs a fresh TOTP code, and none or a used or wrong one was given."""


class PermissionDeniedError(AuthError):
    """The caller's role does not allow this operation."""
