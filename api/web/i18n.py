"""Languages of the screens: English (the source strings) and Simplified Chinese, from the gettext
catalogues in `api/web/locale` (`messages.po`, compiled in memory at start, so no binary is committed);
amounts and dates formatted by Babel for the reader's locale."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "zh-Hans": "简体中文"}
DEFAULT = "en"
BABEL_NAMES = {"en": "en", "zh-Hans": "zh_Hans_CN"}  # Babel's locale of each language
CATALOGUES = {"zh-Hans": "zh_Hans"}  # the folder of each translated language's catalogue


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language` (English: the source strings themselves)."""
    if language not in CATALOGUES:
        return NullTranslations()
    po = LOCALE_DIR / CATALOGUES[language] / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=BABEL_NAMES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The reader's language: their choice (cookie), else the first of the browser's we have."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh") and tag not in ("zh-tw", "zh-hk", "zh-hant"):
            return "zh-Hans"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


@dataclass(frozen=True)
class Formats:
    """Locale-aware formatting for one reader."""

    language: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(BABEL_NAMES[self.language])

    def money(self, minor_units: int, currency: str, exponent: int) -> str:
        """An amount in minor units, exactly (a Decimal, never a float), as the locale writes it."""
        return format_currency(
            Decimal(minor_units).scaleb(-exponent), currency, locale=self.locale, decimal_quantization=False
        )

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def amount(self, text: str | None) -> str:
        """A decimal amount with its currency as the services write it ("1250.00 USD")."""
        if not text:
            return ""
        figure, _, currency = text.partition(" ")
        if not currency:
            return format_decimal(Decimal(figure), locale=self.locale, decimal_quantization=False)
        return format_currency(Decimal(figure), currency, locale=self.locale, decimal_quantization=False)

    def when(self, moment: datetime | str | None) -> str:
        if not moment:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_datetime(moment, "medium", tzinfo=UTC, locale=self.locale)

    def day(self, moment: datetime) -> str:
        return format_date(moment, "medium", locale=self.locale)


__all__ = ["DEFAULT", "LANGUAGES", "Formats", "choose", "translations"]
