"""Screening names against the sample lists: the labelled set's recall and precision, explanations,
dates of birth and countries, and blocked addresses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from wallet.compliance.lists import read_list
from wallet.compliance.matching import NameIndex, Subject, reduce

DATA = Path(__file__).parents[2] / "data" / "sanctions"


@pytest.fixture(scope="module")
def index() -> NameIndex:
    entries = []
    for file, name in (("sdn.xml", "ofac"), ("eu.xml", "eu"), ("un.xml", "un")):
        entries += read_list(DATA / file, name).entries
    return NameIndex.build(entries)


def test_the_labelled_set_has_recall_and_precision_within_the_goal(index: NameIndex) -> None:
    cases = json.loads((DATA / "labelled.json").read_text())["cases"]
    tp = fp = fn = 0
    misses, false_alarms = [], []
    for case in cases:
        found = {f"{m.entry.list_name}:{m.entry.entry_id}" for m in index.screen(Subject(case["name"]))}
        expected = case["expect"]
        if expected is not None and expected in found:
            tp += 1
        elif expected is not None:
            fn += 1
            misses.append(case["name"])
        wrong = found - {expected}
        fp += len(wrong)
        false_alarms += [(case["name"], w) for w in wrong]
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    print(f"labelled set: {len(cases)} names, recall {recall:.3f}, precision {precision:.3f}")
    print("missed:", misses, "false alarms:", false_alarms)
    assert recall >= 0.95, misses
    assert precision >= 0.90, false_alarms


def test_a_match_explains_itself(index: NameIndex) -> None:
    [match] = index.screen(Subject("Sokolov Ivan Petrovich", date(1961, 3, 12), ("RU",)))
    why = match.explanation
    assert why["sanctions_list"] == "ofac"
    assert why["entry_id"] == "90001"
    assert why["entry_name"] == "Ivan Petrovich SOKOLOV"
    assert why["compared"] == ["name", "date of birth", "country"]
    assert why["adjustments"] == {"date of birth": 5.0, "country": 3.0}
    assert why["score"] >= why["threshold"] == 88.0
    assert why["programs"] == ["RUSSIA-EO14024"]


def test_a_different_birth_year_or_country_weakens_a_partial_name(index: NameIndex) -> None:
    assert index.screen(Subject("Ivan Sokolov"))
    assert not index.screen(Subject("Ivan Sokolov", date(1990, 1, 1)))
    assert index.screen(Subject("Ivan Sokolov", date(1961, 1, 1), ("RU",)))


def test_digital_currency_addresses_of_the_list_are_blocked(index: NameIndex) -> None:
    entry = index.blocked("0x7F3A9C2B11D4E5F60718293A4B5C6D7E8F901A2B")
    assert entry is not None
    assert entry.entry_id == "90001"
    assert index.blocked("0x" + "00" * 20) is None


def test_names_are_reduced_across_scripts() -> None:
    assert reduce("Müller-Lüdenscheidt").tokens == ("muller", "ludenscheidt")
    assert reduce("梁浩然").tokens == ("liang", "hao", "ran")
    assert reduce("Иван Соколов").tokens == ("ivan", "sokolov")
    assert reduce("محمد").abjad
