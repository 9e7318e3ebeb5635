"""Where FX rates come from: a `RateProvider` gives a `RateSheet` of mid rates against the US dollar.

`RateFile` reads a JSON file (the development rates ship as `dev-rates.json`, fixed numbers that are not
market data); a production provider (a market-data feed, the treasury's own rates) implements the same
one-method protocol. A sheet older than the provider's `max_age` is refused (fail closed: no quote on
old rates). Rates are decimals, never floats; amounts are not converted here (`wallet.fx.quotes` does,
in minor units).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from wallet.errors import ConfigurationError, RatesUnavailableError
from wallet.money import currency as iso_currency

DEV_RATES = Path(__file__).with_name("dev-rates.json")
RATE_PLACES = Decimal(1).scaleb(-12)  # mid rates are kept to 12 decimal places


@dataclass(frozen=True)
class RateSheet:
    """Mid rates: `per_usd[c]` units of currency `c` for one US dollar, as of `as_of`, from `source`."""

    source: str
    as_of: datetime
    per_usd: Mapping[str, Decimal]

    def mid(self, sell: str, buy: str) -> Decimal:
        """Units of `buy` for one unit of `sell` (a cross rate through the dollar), to 12 places."""
        missing = [code for code in (sell, buy) if code not in self.per_usd]
        if missing:
            raise RatesUnavailableError(f"{self.source} has no rate for {', '.join(missing)}")
        return (self.per_usd[buy] / self.per_usd[sell]).quantize(RATE_PLACES)


class RateProvider(Protocol):
    """A source of mid rates."""

    def sheet(self) -> RateSheet:
        """The current rates; raises `RatesUnavailableError` when there are none fit to quote on."""
        ...


class RateFile:
    """Rates from a JSON file `{"source": ..., "as_of": ISO time (optional), "per_usd": {code: decimal}}`,
    read again whenever the file changes. Without `as_of` the rates count as of the file's modification
    time. With `max_age`, a sheet older than that is refused."""

    def __init__(
        self,
        path: Path = DEV_RATES,
        *,
        max_age: timedelta | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self.max_age = max_age
        self.clock = clock or (lambda: datetime.now(UTC))
        self._loaded: tuple[float, RateSheet] | None = None

    def sheet(self) -> RateSheet:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            raise RatesUnavailableError(f"the rate file {self.path} cannot be read: {exc.strerror}") from None
        if self._loaded is None or self._loaded[0] != mtime:
            self._loaded = (mtime, self._read(mtime))
        sheet = self._loaded[1]
        if self.max_age is not None and self.clock() - sheet.as_of > self.max_age:
            raise RatesUnavailableError(
                f"the rates of {sheet.source} are as of {sheet.as_of.isoformat()}, older than {self.max_age}"
            )
        return sheet

    def _read(self, mtime: float) -> RateSheet:
        try:
            raw = json.loads(self.path.read_text())
            per_usd = {iso_currency(code).code: Decimal(str(value)) for code, value in raw["per_usd"].items()}
            as_of = (
                datetime.fromisoformat(raw["as_of"])
                if raw.get("as_of")
                else datetime.fromtimestamp(mtime, UTC)
            )
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigurationError(f"the rate file {self.path} is not valid: {exc}") from None
        if per_usd.get("USD", Decimal(1)) != 1 or any(rate <= 0 for rate in per_usd.values()):
            raise ConfigurationError(
                f"the rate file {self.path} needs positive rates per US dollar, USD at 1"
            )
        if as_of.tzinfo is None:
            raise ConfigurationError(f"the rate file {self.path} gives as_of without a time zone")
        return RateSheet(str(raw.get("source") or self.path.name), as_of, {"USD": Decimal(1), **per_usd})


class NoRates:
    """No rate source: every quote is refused (production before a source is configured)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def sheet(self) -> RateSheet:
        raise RatesUnavailableError(self.why)


__all__ = ["DEV_RATES", "NoRates", "RateFile", "RateProvider", "RateSheet"]
