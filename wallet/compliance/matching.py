"""Fuzzy name matching for sanctions screening, explained.

A name is reduced to Latin tokens before it is compared (`tokens`): every character is transliterated
with `anyascii` (Cyrillic, Greek, Arabic, Hebrew, Chinese, Korean, ...: one table for all scripts),
Chinese, Japanese and Korean characters each become a token of their own (one syllable each), marks
and punctuation go, and everything is lower case. Diacritics fall away in the same step (`Müller` ->
`muller`).

Two names are compared (`name_score`, 0 to 100) as the best of:
- `token_sort_ratio` (rapidfuzz): the tokens in any order, each typo costing a little;
- the tokens joined without spaces, in their order, reversed, and sorted: syllables written apart in
  one script and together in another (`Xi Jin Ping` / `XI Jinping`);
- the consonant skeletons (vowels dropped, doubled letters collapsed) when either name was written in
  an abjad (Arabic, Hebrew, Syriac, Thaana), whose transliteration has no vowels (`محمد` -> `mhmd`,
  `Muhammad` -> `mhmd`).

The list entry's date of birth and countries then strengthen or weaken the name score (`score`): the
same birth year +5, a different one -15; a shared country +3, none shared -5 (only when both sides give
one). A match is reported when the result reaches the threshold (88 by default), with every part of the
sum (`Match.explanation`).

Speed: an inverted index over blocking keys of every token (the token, its first four letters, its
skeleton) finds the candidates; only those are scored. A name whose every token is misspelt is not
found; one right token suffices.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import pycountry
from anyascii import anyascii
from rapidfuzz import fuzz, process

DEFAULT_THRESHOLD = 88.0
PREFILTER = 55.0  # a candidate below this in both batch comparisons is not compared in full
NON_ALNUM = re.compile(r"[^a-z0-9]+")
VOWELS = re.compile(r"[aeiouy]")
REPEATS = re.compile(r"(.)\1+")
ABJADS = ("ARABIC", "HEBREW", "SYRIAC", "THAANA")
SYLLABIC = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA")
MAX_POSTING = 5_000  # a blocking key this common (a frequent first name) finds candidates by itself no more
DOB_SAME, DOB_DIFFERENT, COUNTRY_SHARED, COUNTRY_NONE_SHARED = 5.0, -15.0, 3.0, -5.0


@lru_cache(maxsize=65536)
def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return ""


@dataclass(frozen=True)
class Name:
    """A name reduced for matching."""

    text: str
    tokens: tuple[str, ...]
    abjad: bool

    @property
    def joined(self) -> str:
        return "".join(self.tokens)

    @property
    def sorted_text(self) -> str:
        return " ".join(sorted(self.tokens))

    @property
    def skeleton(self) -> str:
        return " ".join(sorted(s for s in (skeleton(t) for t in self.tokens) if s))


def skeleton(token: str) -> str:
    """A token's consonants, doubled letters collapsed (`muhammad` -> `mhmd`)."""
    return REPEATS.sub(r"\1", VOWELS.sub("", token))


def reduce(text: str) -> Name:
    """`text` as Latin tokens (see the module's docstring)."""
    parts: list[str] = []
    abjad = False
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 128:
            parts.append(ch)
            continue
        script = _script(ch)
        abjad = abjad or script in ABJADS
        latin = anyascii(ch)
        parts.append(f" {latin} " if script in SYLLABIC else latin)
    tokens = tuple(t for t in NON_ALNUM.split("".join(parts).lower()) if t)
    return Name(text=text, tokens=tokens, abjad=abjad)


def name_score(query: Name, candidate: Name) -> tuple[float, str]:
    """How alike two names are (0-100) and which comparison said so."""
    if not query.tokens or not candidate.tokens:
        return 0.0, "empty"
    rotations = [query.tokens[i:] + query.tokens[:i] for i in range(len(query.tokens))]
    scores = {
        "tokens in any order": fuzz.token_sort_ratio(query.sorted_text, candidate.sorted_text),
        "joined": max(
            *(fuzz.ratio("".join(r), candidate.joined) for r in rotations),
            fuzz.ratio("".join(reversed(query.tokens)), candidate.joined),
            fuzz.ratio("".join(sorted(query.tokens)), "".join(sorted(candidate.tokens))),
        ),
        "every given name found": _all_found(query.tokens, candidate.tokens),
    }
    if query.abjad or candidate.abjad:
        scores["consonant skeletons"] = fuzz.token_sort_ratio(query.skeleton, candidate.skeleton)
    method = max(scores, key=lambda k: scores[k])
    return float(scores[method]), method


def _all_found(query: tuple[str, ...], candidate: tuple[str, ...]) -> float:
    """A name given without its middle names (`Ivan Sokolov` for `Ivan Petrovich Sokolov`): when at least
    two query tokens of three letters or more, and every query token, each match a different token of
    the candidate closely (90 or more), the names count as alike as their weakest token pair, capped at
    92, so a date of birth or country that disagrees takes the pair under the threshold."""
    if len(query) < 2 or len(query) >= len(candidate) or sum(len(t) >= 3 for t in query) < 2:
        return 0.0
    free = list(candidate)
    weakest = 100.0
    for token in sorted(query, key=len, reverse=True):
        best, at = max(((fuzz.ratio(token, c), i) for i, c in enumerate(free)), default=(0.0, -1))
        if best < 90:
            return 0.0
        weakest = min(weakest, best)
        free.pop(at)
    return min(92.0, weakest)


@dataclass(frozen=True)
class Entry:
    """One list entry: a person or an organisation, with every name it is known by."""

    list_name: str
    entry_id: str
    kind: str  # "person", "entity", "vessel", ...
    names: tuple[str, ...]  # the first is the primary name
    birth_dates: tuple[str, ...] = ()  # ISO dates or years as the list gives them
    countries: tuple[str, ...] = ()  # ISO 3166 alpha-2 codes where known, else names
    programs: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()  # digital-currency addresses (ETH), lower case

    def as_json(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "entry_id": self.entry_id,
            "kind": self.kind,
            "names": list(self.names),
            "birth_dates": list(self.birth_dates),
            "countries": list(self.countries),
            "programs": list(self.programs),
        }


@dataclass(frozen=True)
class Subject:
    """What is screened: a name, and what else is known of its bearer."""

    name: str
    birth_date: date | None = None
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """A list entry that matched a subject, with how."""

    entry: Entry
    matched_name: str
    name_score: float
    method: str
    adjustments: dict[str, float]
    score: float
    threshold: float

    @property
    def explanation(self) -> dict[str, Any]:
        return {
            "sanctions_list": self.entry.list_name,
            "entry_id": self.entry.entry_id,
            "entry_name": self.entry.names[0],
            "matched_name": self.matched_name,
            "compared": ["name", *self.adjustments],
            "name_score": round(self.name_score, 1),
            "method": self.method,
            "adjustments": {k: v for k, v in self.adjustments.items() if v},
            "score": round(self.score, 1),
            "threshold": self.threshold,
            "programs": list(self.entry.programs),
        }


@lru_cache(maxsize=4096)
def country_code(country: str) -> str:
    """ISO 3166-1 alpha-2 for a code or a name as the lists write it (`Russia`, `Korea, North`);
    the name in upper case when pycountry does not know it."""
    text = country.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    for attempt in (text, *_LIST_SPELLINGS.get(text.lower(), ())):
        try:
            return str(pycountry.countries.lookup(attempt).alpha_2)
        except LookupError:
            pass
    try:
        return str(pycountry.countries.search_fuzzy(text)[0].alpha_2)
    except LookupError:
        return text.upper()


def iso_country(country: str) -> str:
    """`country_code` for what a person or an officer types (a code or a name); `ValueError` when it
    names no ISO 3166-1 country."""
    code = country_code(country)
    if len(code) != 2:
        raise ValueError(f"{country!r} is not an ISO 3166-1 country")
    return code


def country_of_numeric(numeric: int) -> str | None:
    """ISO 3166-1 alpha-2 of an ISO numeric code (the registry's jurisdiction); None for 0 or an unknown
    code."""
    found = pycountry.countries.get(numeric=f"{numeric:03d}") if numeric else None
    return str(found.alpha_2) if found is not None else None


# How OFAC spells countries that pycountry does not know by those names.
_LIST_SPELLINGS = {"korea, north": ("KP",), "korea, south": ("KR",), "burma": ("MM",), "russia": ("RU",)}


def _years(values: Iterable[str]) -> set[int]:
    return {int(v[:4]) for v in values if len(v) >= 4 and v[:4].isdigit()}


def adjust(subject: Subject, entry: Entry) -> dict[str, float]:
    """What the date of birth and the countries add to or take from a name score."""
    adjustments: dict[str, float] = {}
    years = _years(entry.birth_dates)
    if subject.birth_date is not None and years:
        adjustments["date of birth"] = DOB_SAME if subject.birth_date.year in years else DOB_DIFFERENT
    if subject.countries and entry.countries:
        mine = {country_code(c) for c in subject.countries}
        theirs = {country_code(c) for c in entry.countries}
        adjustments["country"] = COUNTRY_SHARED if mine & theirs else COUNTRY_NONE_SHARED
    return adjustments


@dataclass
class NameIndex:
    """Every name of every entry, with an inverted index of blocking keys."""

    entries: list[Entry] = field(default_factory=list)
    names: list[tuple[int, Name]] = field(default_factory=list)  # (entry index, reduced name)
    postings: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    addresses: dict[str, int] = field(default_factory=dict)
    sorted_texts: list[str] = field(default_factory=list)  # per name slot, for the batch prefilter
    joined: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> NameIndex:
        index = cls()
        for entry in entries:
            index.add(entry)
        return index

    def add(self, entry: Entry) -> None:
        number = len(self.entries)
        self.entries.append(entry)
        for text in dict.fromkeys(entry.names):
            name = reduce(text)
            if not name.tokens:
                continue
            slot = len(self.names)
            self.names.append((number, name))
            self.sorted_texts.append(name.sorted_text)
            self.joined.append(name.joined)
            for key in _keys(name):
                self.postings[key].append(slot)
        for address in entry.addresses:
            self.addresses[address.lower()] = number

    def __len__(self) -> int:
        return len(self.entries)

    def candidates(self, name: Name) -> set[int]:
        """The name slots sharing a blocking key with `name`."""
        found: set[int] = set()
        for key in _keys(name):
            posting = self.postings.get(key)
            if posting and len(posting) <= MAX_POSTING:
                found.update(posting)
        return found

    def screen(self, subject: Subject, *, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """Every entry whose best name, adjusted, reaches `threshold`; best first."""
        query = reduce(subject.name)
        best: dict[int, tuple[float, str, Name]] = {}
        for slot in self._prefiltered(query, list(self.candidates(query))):
            number, name = self.names[slot]
            score, method = name_score(query, name)
            if score > best.get(number, (-1.0, "", name))[0]:
                best[number] = (score, method, name)
        matches = []
        for number, (score, method, name) in best.items():
            if score + DOB_SAME + COUNTRY_SHARED < threshold:
                continue
            entry = self.entries[number]
            adjustments = adjust(subject, entry)
            total = min(100.0, score + sum(adjustments.values()))
            if total >= threshold:
                matches.append(Match(entry, name.text, score, method, adjustments, total, threshold))
        return sorted(matches, key=lambda m: -m.score)

    def _prefiltered(self, query: Name, slots: list[int]) -> Iterable[int]:
        """The candidates worth the full comparison: one batch comparison in rapidfuzz's C++ loop
        drops those far from the query both in token order and joined (names in an abjad are all
        compared in full, their skeletons being what matches)."""
        if query.abjad or len(slots) <= 32:
            return slots
        keep: set[int] = set()
        for strings, text, scorer in (
            (self.sorted_texts, query.sorted_text, fuzz.token_sort_ratio),
            (self.joined, query.joined, fuzz.ratio),
        ):
            found = process.extract(
                text,
                [strings[s] for s in slots],
                scorer=scorer,
                processor=None,
                score_cutoff=PREFILTER,
                limit=None,
            )
            keep.update(slots[i] for _, _, i in found)
        return keep

    def blocked(self, address: str) -> Entry | None:
        """The entry that lists `address` as one of its digital-currency addresses."""
        number = self.addresses.get(address.lower())
        return self.entries[number] if number is not None else None


def _keys(name: Name) -> Sequence[str]:
    """Blocking keys: each token, its first four letters (a typo further on), its skeleton (vowels
    spelled otherwise). Selective enough that a name shares keys with a few hundred names of a large
    list, not thousands."""
    keys = []
    for token in name.tokens:
        if len(token) >= 2:
            keys.append(f"t:{token}")
        if len(token) >= 5:
            keys.append(f"p:{token[:4]}")
        bones = skeleton(token)
        if len(bones) >= 3:
            keys.append(f"s:{bones}")
    return keys
