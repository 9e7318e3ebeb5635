"""The monitoring rules on synthetic activity: every typology found in the planted cases (recall) and
few alerts elsewhere (precision), the table printed; each rule's figures and explanation; and the
detector's parameters read from the policy document."""

from __future__ import annotations

import copy

import pytest

from wallet.compliance.monitoring import DAY, Detector, Movement
from wallet.compliance.policy import DEFAULT_POLICY, Policy
from wallet.compliance.synthetic import generate, score
from wallet.errors import InvalidRequestError
from wallet.vocabulary import Typology

POLICY = Policy.compile(1, DEFAULT_POLICY)


@pytest.mark.parametrize("seed", [7, 11])
def test_recall_and_precision_on_planted_typologies(seed: int) -> None:
    activity = generate(seed=seed)
    detector = Detector(POLICY)
    alerts = [a for item in activity.items for a in detector.feed(item)]
    scores = score(activity.planted, [(a.typology, a.subject, a.time) for a in alerts])
    print(f"\nseed {seed}: {activity.movements} movements, {len(activity.planted)} planted cases")
    print(f"{'typology':24} {'planted':>7} {'found':>5} {'recall':>6} {'alerts':>6} {'true':>5} {'prec.':>5}")
    for s in scores:
        print(
            f"{s.typology:24} {s.planted:7} {s.found:5} {s.recall:6.2f} {s.alerts:6} {s.true_alerts:5} "
            f"{s.precision:5.2f}"
        )
    overall = sum(s.true_alerts for s in scores) / sum(s.alerts for s in scores)
    print(f"overall precision {overall:.3f}")
    assert {s.typology for s in scores} == {t.value for t in Typology}
    assert all(s.planted == 10 for s in scores)
    for s in scores:
        assert s.recall >= 0.9, s
    assert overall >= 0.5


def _m(n: int, sender: str, receiver: str, amount: int, time: int) -> Movement:
    return Movement(n, "0xtoken", "USD", n, time, f"0x{n:064x}", 0, sender, receiver, amount)


def test_structuring_names_its_figures_and_a_burst_is_one_alert() -> None:
    detector = Detector(POLICY)
    alerts = []
    for n, amount in enumerate((950_000, 880_000, 990_000, 940_000), start=1):
        alerts += detector.feed(_m(n, "0xmule", f"0xpayee{n}", amount, 1_000_000 + n * 3600))
    structuring = [a for a in alerts if a.typology is Typology.STRUCTURING]
    assert len(structuring) == 1  # the fourth is within the window of the first alert
    alert = structuring[0]
    assert alert.figures == {
        "count": 3,
        "window_hours": 48,
        "threshold": "10000.00 USD",
        "band_from": "8000.00 USD",
        "total": "28200.00 USD",
    }
    assert [m.entry_id for m in alert.movements] == [1, 2, 3]
    assert "3 transfers within 48 h each just under the reporting threshold" in alert.explanation
    # Exactly at the threshold is a large transfer, not structuring.
    assert [a.typology for a in detector.feed(_m(9, "0xother", "0xp", 1_000_000, 2_000_000))] == [
        Typology.LARGE
    ]


def test_the_anomaly_alert_names_what_made_it_unusual() -> None:
    detector = Detector(POLICY)
    time = 1_000_000
    for n in range(30):
        time += DAY // 2 + n * 7
        assert detector.feed(_m(n + 1, "0xpayer", f"0xshop{n % 3}", 5_000 + (n % 7) * 150, time)) == []
    alerts = detector.feed(_m(99, "0xpayer", "0xstranger", 90_001, time + DAY // 2))
    assert [a.typology for a in alerts] == [Typology.ANOMALY]
    figures = alerts[0].figures
    assert figures["new_counterparty"] is True
    assert figures["features"]["new_counterparty"] == 1.5
    assert figures["z_amount"] > 5
    assert "the payee is new to this payer" in alerts[0].explanation
    assert "robust deviations above this payer's usual" in alerts[0].explanation


def test_monitoring_parameters_come_from_the_policy_and_are_checked() -> None:
    document = copy.deepcopy(DEFAULT_POLICY)
    document["monitoring"]["structuring"] = {"window_hours": 24, "min_count": 2, "band": "0.9"}
    policy = Policy.compile(2, document)
    detector = Detector(policy)
    alerts = detector.feed(_m(1, "0xa", "0xb", 910_000, 1000)) + detector.feed(
        _m(2, "0xa", "0xc", 920_000, 2000)
    )
    assert Typology.STRUCTURING in [a.typology for a in alerts]
    # 0.85 of the threshold is outside a 0.9 band.
    detector = Detector(policy)
    alerts = detector.feed(_m(1, "0xa", "0xb", 850_000, 1000)) + detector.feed(
        _m(2, "0xa", "0xc", 850_000, 2000)
    )
    assert Typology.STRUCTURING not in [a.typology for a in alerts]
    document["monitoring"]["pass_through"] = {"window_hours": 24, "max_residual": "1.5"}
    with pytest.raises(InvalidRequestError, match="max_residual is a fraction"):
        Policy.compile(3, document)
    document["monitoring"]["pass_through"] = {"window_hours": 24, "max_residual": "0.1"}
    document["monitoring"]["amounts"]["USD"]["reporting"] = "10000.001"
    with pytest.raises(InvalidRequestError, match=r"monitoring\.amounts\.USD\.reporting"):
        Policy.compile(3, document)
