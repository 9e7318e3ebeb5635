"""The one settings class. Values come from `TDW_*` environment variables (or a `.env` file).

Defaults serve the embedded development mode only. In production, loading the settings refuses
development secrets and missing essentials (`check_production`), so every command is covered.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet.errors import ConfigurationError
from wallet.logs import LogFormat

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Anvil's first well-known development account (mnemonic "test test ... junk"). Public knowledge, so it
# is acceptable only on development chains; production refuses it.
DEV_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# The development key-encryption key for the local keystore: fine for a demo, refused in production.
DEV_KEK = "00" * 31 + "01"
# The development secret that signs API access tokens: refused in production.
DEV_TOKEN_SECRET = "tdw-development-token-secret-not-for-production"  # noqa: S105


class Settings(BaseSettings):
    """tdw settings; see `.env.example` for each one."""

    model_config = SettingsConfigDict(env_prefix="TDW_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    project_root: Path = PROJECT_ROOT
    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    cache_dir: Path = Field(default=PROJECT_ROOT / ".cache")
    rpc_url: str | None = None
    deployer_key: SecretStr = SecretStr(DEV_DEPLOYER_KEY)
    bank_name: str = "Demo Bank"
    # Printed on statements (camt.053 `Svcr`): the bank's postal address, lines separated by ";", and
    # its BIC if it has one.
    bank_address: str = "1 Ledger Street; Springfield 12345; United States"
    bank_bic: str | None = Field(default=None, pattern=r"^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$")
    # goAML reports: the reporting entity's id at the financial intelligence unit, and its branch.
    goaml_rentity_id: int = Field(default=1, ge=1)
    goaml_rentity_branch: str = Field(default="Head office", min_length=1, max_length=255)
    currencies: list[str] = Field(default_factory=lambda: ["USD", "EUR"])
    anvil_port: int = 8545
    database_url: str | None = None
    kek: SecretStr = SecretStr(DEV_KEK)
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    pkcs11_token_label: str = "tdw"  # noqa: S105 - a token's name, not a secret
    pkcs11_pin: SecretStr | None = None
    # Where the bank's operational keys (admin, minter, burner, pauser, compliance, relayer) live:
    # the local keystore, or the PKCS#11 token above (keys labelled `role:<role>`, generated there).
    signer: Literal["keystore", "pkcs11"] = "keystore"
    manifest_path: Path | None = None  # default: deployment.json in the data folder
    # The most any transaction offers per gas, in gwei: a stuck one is re-priced up to here, then waits
    # with a critical alert instead of bumping without end.
    max_fee_gwei: int = Field(default=500, ge=1)
    # Blocks after which transactions and entries are final. Unset: 2 for `tdw dev` (its chain state
    # is saved before anything is final), the chain's known depth otherwise (64 on Ethereum, 12 on an
    # unknown chain), and on chains that answer the `finalized` block tag, not before it.
    confirmations: int | None = Field(default=None, ge=1)
    # Seconds between two reconciliations of the database with the chain by the workers (balances,
    # transactions, transfers, bank operations, nonces); the first runs when the workers start.
    reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    # The bearer token Prometheus sends to read `/metrics`; unset, the endpoint is open in development
    # and closed in production.
    metrics_token: SecretStr | None = None
    # `/readyz` fails while the ledger mirror is more blocks than this behind the chain head.
    ready_max_lag_blocks: int = Field(default=20, ge=0)
    # Seconds between two anchors of the audit log's head on chain (only when the log grew).
    audit_anchor_seconds: float = Field(default=300.0, gt=0)
    # Customer signers kept open in memory (0: unwrap each key only when it signs).
    signer_cache_size: int = Field(default=4096, ge=0)

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Where customers reach the bank's screens (payment links in QR codes): by default this API itself.
    public_url: str | None = None
    # Serve /docs and /openapi.json: by default in development only (None), or always (true) or never.
    api_docs: bool | None = None
    # Log lines as text or as JSON objects (`wallet.logs`); each carries its HTTP request's id.
    log_format: LogFormat = "text"
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    access_token_minutes: int = Field(default=15, ge=1)
    refresh_token_days: int = Field(default=30, ge=1)
    # Failed logins per username and client address: this many are free, each further one doubles the
    # wait before the next try, and `max_failed_logins` lock that address out of that name for a while.
    login_free_failures: int = Field(default=3, ge=1)
    max_failed_logins: int = Field(default=10, ge=2)
    lockout_minutes: int = Field(default=15, ge=1)
    # Request limits (the `limits` notation): per client address, per user, and sign-ups per address.
    # The counts live in the process, or in a shared `limits` storage (redis://...) for several.
    rate_limits_enabled: bool = True
    rate_limit_client: str = "1200/minute"
    rate_limit_user: str = "120/minute"
    rate_limit_signup: str = "10/hour"
    rate_limit_storage: str = "memory://"
    # Transfers above this many major units of their currency need a fresh TOTP code.
    totp_transfer_threshold: int = Field(default=1000, ge=0)
    # Mints and burns above this many major units need a second operator's approval.
    approval_threshold: int = Field(default=1_000_000, ge=0)
    # Hours a maker-checker proposal waits for its decision before it expires.
    proposal_ttl_hours: float = Field(default=72.0, gt=0)
    kyc_jurisdiction: int = Field(default=840, ge=0, lt=2**16)  # ISO 3166 numeric (840: United States)
    kyc_valid_days: int = Field(default=365, ge=1)
    webhook_max_attempts: int = Field(default=8, ge=1)
    # FX: the rate file (`wallet.fx.rates`; unset: the fixed development rates, and in production no
    # quotes at all until a source is set), and how old its rates may be before quoting stops.
    fx_rates_path: Path | None = None
    fx_rates_max_age_seconds: float | None = Field(default=None, gt=0)

    @property
    def bank_address_lines(self) -> tuple[str, ...]:
        """`bank_address` as the lines statements print."""
        return tuple(line.strip() for line in self.bank_address.split(";") if line.strip())

    @property
    def serves_docs(self) -> bool:
        """Whether the API serves its interactive docs and OpenAPI document."""
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    def effective_public_url(self) -> str:
        """`public_url`, or this API's own address."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def effective_database_url(self) -> str:
        """`database_url`, or a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tdw.db'}"

    @property
    def effective_manifest_path(self) -> Path:
        """`manifest_path`, or deployment.json in the data folder."""
        return self.manifest_path or self.data_dir / "deployment.json"

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        """Production settings are checked as they load, so no command can run on a development
        secret (`tdw keys` and `tdw add-user` once wrapped production keys under the public KEK)."""
        self.check_production()
        return self

    def check_production(self) -> None:
        """Raises `ConfigurationError` when production would run on a development secret or default."""
        if self.environment != "production":
            return
        problems = []
        if self.deployer_key.get_secret_value().lower().removeprefix("0x") == DEV_DEPLOYER_KEY.removeprefix(
            "0x"
        ):
            problems.append("TDW_DEPLOYER_KEY is the public development key")
        if not self.rpc_url:
            problems.append("TDW_RPC_URL is not set")
        if self.kek.get_secret_value().lower() == DEV_KEK:
            problems.append("TDW_KEK is the development key-encryption key")
        if self.token_secret.get_secret_value() == DEV_TOKEN_SECRET:
            problems.append("TDW_TOKEN_SECRET is the development token secret")
        elif len(self.token_secret.get_secret_value()) < 32:
            problems.append("TDW_TOKEN_SECRET must be at least 32 characters")
        if not self.database_url:
            problems.append("TDW_DATABASE_URL is not set (production runs on PostgreSQL)")
        if self.signer == "pkcs11" and self.pkcs11_pin is None:
            problems.append("TDW_PKCS11_PIN is not set for the PKCS#11 signer")
        if problems:
            raise ConfigurationError("refusing to run in production: " + "; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache or pass their own `Settings`."""
    return Settings()
