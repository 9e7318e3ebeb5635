"""The one settings class. Values come from `TDW_*` environment variables (or a `.env` file).

Defaults serve the embedded development mode only; `check_production()` refuses development secrets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Anvil's first well-known development account (mnemonic "test test ... junk"). Public knowledge, so it
# is acceptable only on development chains; production refuses it.
DEV_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# The development key-encryption key for the local keystore: fine for a demo, refused in production.
DEV_KEK = "00" * 31 + "01"


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
    currencies: list[str] = Field(default_factory=lambda: ["USD", "EUR"])
    anvil_port: int = 8545
    database_url: str | None = None
    kek: SecretStr = SecretStr(DEV_KEK)
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    pkcs11_token_label: str = "tdw"  # noqa: S105 - a token's name, not a secret
    pkcs11_pin: SecretStr | None = None

    @property
    def effective_database_url(self) -> str:
        """`database_url`, or a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tdw.db'}"

    def check_production(self) -> None:
        """Raises `ConfigurationError` when production would run on a development secret or default."""
        if self.environment != "production":
            return
        problems = []
        if self.deployer_key.get_secret_value().lower() == DEV_DEPLOYER_KEY:
            problems.append("TDW_DEPLOYER_KEY is the public development key")
        if not self.rpc_url:
            problems.append("TDW_RPC_URL is not set")
        if self.kek.get_secret_value().lower() == DEV_KEK:
            problems.append("TDW_KEK is the development key-encryption key")
        if problems:
            raise ConfigurationError("refusing to run in production: " + "; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests clear the cache or pass their own `Settings`."""
    return Settings()
