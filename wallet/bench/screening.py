"""`tdw bench screening`: how fast one name is screened against a list of `entries` entries, beside a
plain exact-match lookup (a dict of reduced names) measured in the same run.

The list is synthetic and seeded: names of two to four parts drawn from syllables of several languages,
each entry with one or two aliases, some written in Cyrillic. Queries are half variants of listed names
(a typo, another order, a dropped middle name) and half names that are not listed.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from wallet.compliance.matching import Entry, NameIndex, Subject, reduce

_SYLLABLES = (
    "al an ar as ba bek da dar de dim el em er fa far ga gor ha han hus ib il in ja jan ka kar kim ko la "
    "lan le li lo ma man mar mi mo mu na nar ni no ol or pa pe pet ra ram ri ro ru sa sal se sha so su ta "
    "tam te ti to ul ur va vel vi vla vo wa wei xi ya yo yu za zan zhe zo"
)
SYLLABLES = tuple(_SYLLABLES.split())
CYRILLIC = dict(zip("abdefgijklmnoprstuvz", "абдефгийклмнопрстувз", strict=True))


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _name(rng: random.Random) -> str:
    return " ".join(_word(rng) for _ in range(rng.randint(2, 4)))


def _variant(rng: random.Random, name: str) -> str:
    words = name.split()
    change = rng.randrange(3)
    if change == 0:  # a typo
        word = rng.randrange(len(words))
        at = rng.randrange(1, len(words[word]))
        words[word] = words[word][:at] + words[word][at + 1 :]
    elif change == 1:  # another order
        rng.shuffle(words)
    elif len(words) > 2:  # a middle name dropped
        del words[1]
    return " ".join(words)


def synthetic_list(entries: int, seed: int = 7) -> list[Entry]:
    """`entries` seeded list entries with aliases."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible list for a benchmark, not a secret
    made = []
    for n in range(entries):
        primary = _name(rng)
        aliases = [_variant(rng, primary)]
        if rng.random() < 0.2:
            aliases.append("".join(CYRILLIC.get(c, c) for c in primary.lower()))
        made.append(
            Entry(
                list_name="bench",
                entry_id=str(n),
                kind="person",
                names=(primary, *aliases),
                birth_dates=(str(rng.randint(1940, 2000)),),
                countries=(rng.choice(("RU", "IR", "KP", "SY", "CN", "VE")),),
            )
        )
    return made


def run(*, entries: int = 50_000, queries: int = 2_000, seed: int = 7) -> dict[str, Any]:
    listed = synthetic_list(entries, seed)
    started = time.perf_counter()
    index = NameIndex.build(listed)
    build_s = time.perf_counter() - started
    rng = random.Random(seed + 1)  # noqa: S311 - reproducible queries
    names = [_variant(rng, rng.choice(listed).names[0]) if i % 2 == 0 else _name(rng) for i in range(queries)]
    for name in names[:50]:  # warm caches and code paths
        index.screen(Subject(name))

    timings, hits = [], 0
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        hits += bool(index.screen(Subject(name)))
        timings.append((time.perf_counter() - t0) * 1000)
    screening_s = time.perf_counter() - started

    exact = {" ".join(reduce(n).tokens): e.entry_id for e in listed for n in e.names}
    started = time.perf_counter()
    found = 0
    for name in names:
        found += " ".join(reduce(name).tokens) in exact
    exact_s = time.perf_counter() - started
    timings.sort()
    return {
        "entries": entries,
        "names_indexed": len(index.names),
        "queries": queries,
        "index_build_s": round(build_s, 3),
        "p50_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 3),
        "max_ms": round(timings[-1], 3),
        "names_per_s": round(queries / screening_s, 1),
        "exact_lookup_per_s": round(queries / exact_s, 1),
        "fuzzy_to_exact_ratio": round((queries / screening_s) / (queries / exact_s), 4),
        "queries_with_a_match": hits,
        "queries_of_listed_names": queries // 2 + queries % 2,
        "exact_matches": found,
    }
