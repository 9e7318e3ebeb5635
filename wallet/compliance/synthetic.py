"""Synthetic activity for transaction monitoring: normal traffic with planted cases of every typology.

`generate(seed=..., days=..., customers=...)` returns the items a `Detector` is fed (movements and
registry news, in time order) and the planted cases (`Planted`: typology, subject and the time span of
the planted activity). The same seed gives the same activity. It is used by the recall/precision test,
by `tdw bench monitoring` (as a large mirror) and by the demo, which sends a few planted cases through
the real chain.

Normal traffic, per customer: a salary once a month from one of the employers (each pays at most five
people, a day apart, and is funded by the bank once at the start), and payments of one to three a day
on average (exponential gaps) to four to eight regular payees (other customers and outside shops),
each amount log-normal around the customer's own typical amount (20 to 300 USD, sigma 0.35) in
cents; one payment in twenty goes to a payee the customer never paid. One customer in twenty is
registered in a high-risk country; they pay shops and each other only.

Planted, `per_typology` times each (at random times after day 30, on fresh addresses unless said):
- structuring: 3 to 5 payments within 40 h of 82-99 % of the reporting threshold;
- pass-through: 4,000-9,000 USD in from a fresh address, 92-99 % of it out within 2-20 h to 1-3 others;
- fan-out: payments to 9-14 fresh addresses within 12 h; fan-in: from 9-14 fresh addresses within 12 h;
- round amounts: 3-5 payments of 1,000-5,000 USD in whole thousands within 20 h;
- dormant: an account active in the first ten days, silent for 100+ days, then 1,500-6,000 USD out;
- large: one payment of 12,000-60,000 USD;
- high-risk jurisdiction: a normal customer pays an address registered in a high-risk country;
- blocked proximity: an address pays a fresh address X, is blocked a day later, and a normal customer
  pays X some days after;
- anomaly: a normal customer with at least 40 days of history pays 9-20 times its typical amount
  (under the reporting threshold, not round) to a new payee.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from wallet.compliance.monitoring import DAY, HOUR, ZERO, Blocked, Movement, Registered
from wallet.vocabulary import Typology

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
REPORTING = 1_000_000  # the default reporting threshold in USD cents


@dataclass(frozen=True)
class Planted:
    """One planted case: `typology` by `subject` between `start` and `end` (times, seconds)."""

    typology: Typology
    subject: str
    start: int
    end: int


@dataclass
class Activity:
    items: list[Movement | Blocked | Registered]
    planted: list[Planted]
    movements: int = 0
    addresses: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, seed: int, token: str) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not a secret
        self.token = token
        self.raw: list[tuple[int, int, Movement | Blocked | Registered]] = []
        self.planted: list[Planted] = []
        self.serial = 0

    def address(self) -> str:
        return "0x" + self.rng.getrandbits(160).to_bytes(20, "big").hex()

    def pay(self, sender: str, receiver: str, amount: int, time: int) -> Movement:
        self.serial += 1
        m = Movement(
            entry_id=self.serial,
            token=self.token,
            currency="USD",
            block=0,
            time=time,
            tx_hash="0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex(),
            log_index=0,
            sender=sender,
            receiver=receiver,
            amount=max(1, amount),
        )
        self.raw.append((time, self.serial, m))
        return m

    def news(self, item: Blocked | Registered) -> None:
        self.serial += 1
        self.raw.append((item.time, self.serial, item))

    def not_round(self, cents: int) -> int:
        return cents + 1 if cents % 100_000 == 0 else cents

    def plant(self, typology: Typology, subject: str, start: int, end: int) -> None:
        self.planted.append(Planted(typology, subject, start, end))


def generate(
    *, seed: int = 7, days: int = 150, customers: int = 150, per_typology: int = 10, token: str = ZERO
) -> Activity:
    """Normal traffic of `customers` over `days` days, with `per_typology` planted cases of each."""
    b = _Builder(seed, token)
    rng = b.rng
    end = T0 + days * DAY
    people = [b.address() for _ in range(customers)]
    shops = [b.address() for _ in range(max(10, customers // 5))]
    employers = [b.address() for _ in range(math.ceil(customers / 5))]
    risky_people: set[str] = set()
    for employer in employers:
        b.pay(ZERO, employer, 5_000_000_00, T0 - DAY)
    for person in people:
        if rng.random() < 0.05:
            risky_people.add(person)
            b.news(Registered(person, rng.choice(["NG", "VN", "ZA"]), T0 - DAY))
        else:
            b.news(Registered(person, rng.choice(["US", "GB", "DE", "SG", "HK"]), T0 - DAY))
    typical: dict[str, float] = {}
    regular: dict[str, list[str]] = {}
    safe_people = [p for p in people if p not in risky_people]
    for index, person in enumerate(people):
        employer = employers[index // 5]
        salary = int(rng.lognormvariate(math.log(350_000), 0.3))
        payday = rng.randrange(1, 28)
        for month in range(days // 30 + 1):
            time = T0 + (month * 30 + payday) * DAY + (index % 5) * DAY + rng.randrange(HOUR)
            if time < end:
                b.pay(employer, person, b.not_round(salary), time)
        typical[person] = rng.uniform(math.log(2_000), math.log(30_000))
        count = rng.randint(4, 8)
        # Those registered in a high-risk country deal with shops and with each other only.
        others = risky_people if person in risky_people else safe_people
        regular[person] = rng.sample([*shops, *(p for p in others if p != person)], count)
        rate = rng.uniform(1, 3) / DAY
        time = T0 + int(rng.expovariate(rate))
        while time < end:
            payee = regular[person][rng.randrange(count)] if rng.random() > 0.05 else b.address()
            amount = int(math.exp(rng.gauss(typical[person], 0.35)))
            b.pay(person, payee, b.not_round(amount), time)
            time += int(rng.expovariate(rate)) + 60

    def when(latest_day: int = days - 3) -> int:
        return T0 + rng.randrange(30 * DAY, latest_day * DAY)

    for _ in range(per_typology):
        # structuring
        mule, start = b.address(), when()
        t = start
        for _ in range(rng.randint(3, 5)):
            b.pay(mule, b.address(), b.not_round(int(REPORTING * rng.uniform(0.82, 0.99))), t)
            t += rng.randrange(2 * HOUR, 12 * HOUR)
        b.plant(Typology.STRUCTURING, mule, start, t)
        # pass-through
        mule, start = b.address(), when()
        received = rng.randrange(400_000, 900_000)
        b.pay(b.address(), mule, received, start)
        t = start + rng.randrange(2 * HOUR, 20 * HOUR)
        left = int(received * rng.uniform(0.92, 0.99))
        parts = rng.randint(1, 3)
        for i in range(parts):
            share = left // parts + (left % parts if i == 0 else 0)
            b.pay(mule, b.address(), share, t + i * 600)
        b.plant(Typology.PASS_THROUGH, mule, start, t + parts * 600)
        # fan-out and fan-in
        for typology in (Typology.FAN_OUT, Typology.FAN_IN):
            hub, start = b.address(), when()
            t = start
            for _ in range(rng.randint(9, 14)):
                other = b.address()
                amount = b.not_round(rng.randrange(5_000, 50_000))
                b.pay(hub, other, amount, t) if typology is Typology.FAN_OUT else b.pay(other, hub, amount, t)
                t += rng.randrange(10 * 60, HOUR)
            b.plant(typology, hub, start, t)
        # round amounts
        mule, start = b.address(), when()
        t = start
        for _ in range(rng.randint(3, 5)):
            b.pay(mule, b.address(), rng.randint(1, 5) * 100_000, t)
            t += rng.randrange(HOUR, 5 * HOUR)
        b.plant(Typology.ROUND_AMOUNTS, mule, start, t)
        # dormant
        sleeper = b.address()
        for day in range(3):
            b.pay(sleeper, rng.choice(shops), b.not_round(rng.randrange(2_000, 20_000)), T0 + day * 3 * DAY)
        wake = T0 + rng.randrange(115 * DAY, (days - 2) * DAY) if days > 120 else end - DAY
        b.pay(sleeper, b.address(), b.not_round(rng.randrange(150_000, 600_000)), wake)
        b.plant(Typology.DORMANT, sleeper, wake, wake)
        # large
        whale, start = b.address(), when()
        b.pay(whale, b.address(), b.not_round(rng.randrange(1_200_000, 6_000_000)), start)
        b.plant(Typology.LARGE, whale, start, start)
        # high-risk jurisdiction
        payer, risky, start = rng.choice(safe_people), b.address(), when()
        b.news(Registered(risky, rng.choice(["SY", "YE", "VE"]), start - DAY))
        b.pay(payer, risky, b.not_round(int(math.exp(typical[payer]))), start)
        b.plant(Typology.HIGH_RISK_JURISDICTION, payer, start, start)
        # blocked proximity
        bad, middle, start = b.address(), b.address(), when(days - 12)
        b.pay(bad, middle, b.not_round(rng.randrange(50_000, 200_000)), start)
        b.news(Blocked(bad, True, start + DAY))
        payer = rng.choice(safe_people)
        paid = start + rng.randrange(2 * DAY, 9 * DAY)
        b.pay(payer, middle, b.not_round(int(math.exp(typical[payer]))), paid)
        b.plant(Typology.BLOCKED_PROXIMITY, payer, paid, paid)
        # anomaly
        payer, start = rng.choice(safe_people), when()
        amount = int(math.exp(typical[payer]) * rng.uniform(9, 20))
        b.pay(payer, b.address(), b.not_round(min(amount, int(REPORTING * 0.7))), start)
        b.plant(Typology.ANOMALY, payer, start, start)

    b.raw.sort(key=lambda item: (item[0], item[1]))
    items = [item for _, _, item in b.raw]
    movements = sum(1 for item in items if isinstance(item, Movement))
    return Activity(items, b.planted, movements, people)


@dataclass(frozen=True)
class Score:
    typology: str
    planted: int
    found: int
    alerts: int
    true_alerts: int

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0


def score(planted: list[Planted], alerts: list[tuple[Typology, str, int]], slack: int = DAY) -> list[Score]:
    """Recall per typology (a planted case is found when an alert of its typology names its subject
    within its span, plus `slack`) and precision (an alert is true when it names the subject of any
    planted case within that case's span: it pointed at planted activity)."""
    scores = []
    for typology in Typology:
        mine = [p for p in planted if p.typology is typology]
        raised = [a for a in alerts if a[0] is typology]
        found = sum(
            1
            for p in mine
            if any(a[1].lower() == p.subject.lower() and p.start <= a[2] <= p.end + slack for a in raised)
        )
        true = sum(
            1
            for a in raised
            if any(a[1].lower() == p.subject.lower() and p.start <= a[2] <= p.end + slack for p in planted)
        )
        scores.append(Score(typology.value, len(mine), found, len(raised), true))
    return scores


__all__ = ["Activity", "Planted", "Score", "generate", "score"]
