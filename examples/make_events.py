"""Generate the example event logs in this directory: ``python examples/make_events.py``.

Each log covers two ISO weeks (2026-03-23 to 2026-04-05, across a month boundary) of one community in
``rulesets/``: every event-driven rule fires, a few residents are active enough to hit the caps, and a few
events match no rule (an ignored type, a condition that fails). Chaoyang's reports are verified (or
rejected) by their grid's worker (``actor``: ``cy-w01`` …), most within the log; Pudong's and Tianhe's stay
pending. Repairs, the points mall and period close need the subject registry and are shown by
``examples/month.py``. The random generator is seeded, so the output is
the same on every run; commit the regenerated files together with any change here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHANGHAI = timezone(timedelta(hours=8))
FIRST_DAY = date(2026, 3, 23)
DAYS = 14


@dataclass(frozen=True)
class Resident:
    subject: str
    household: str
    grid: str


@dataclass
class Log:
    """Events of one community, collected unordered and written sorted by time with sequential ids."""

    prefix: str
    rng: random.Random
    events: list[tuple[datetime, str, Resident, dict[str, Any]]] = field(default_factory=list)

    #: Settlements: (time, kind, index of the settled event in ``events``, actor, attributes).
    settlements: list[tuple[datetime, str, int, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, day: int, kind: str, who: Resident, hour: int | None = None, **attributes: Any) -> None:
        at = datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), SHANGHAI)
        at += timedelta(hours=hour if hour is not None else self.rng.randint(7, 20), minutes=self.rng.randrange(60))
        self.events.append((at, kind, who, attributes))

    def settle(self, index: int, kind: str, after: timedelta, actor: str, **attributes: Any) -> None:
        """A verification (or rejection) of ``events[index]`` by ``actor``, ``after`` the event."""
        self.settlements.append((self.events[index][0] + after, kind, index, actor, attributes))

    def lines(self) -> Iterator[str]:
        rows = [(at, who.subject, kind, n, None) for n, (at, kind, who, _) in enumerate(self.events)]
        rows += [(at, self.events[target][2].subject, kind, len(self.events) + n, actor)
                 for n, (at, kind, target, actor, _) in enumerate(self.settlements)]
        rows.sort(key=lambda row: row[:3])
        ids = {row[3]: f"{self.prefix}-{number:04d}" for number, row in enumerate(rows, start=1)}
        for at, _, kind, key, actor in rows:
            if actor is None:
                _, _, who, attributes = self.events[key]
            else:
                _, _, target, _, extra = self.settlements[key - len(self.events)]
                who, attributes = self.events[target][2], {"event": ids[target], **extra}
            event = {"id": ids[key], "type": kind, "subject": who.subject, "household": who.household,
                     "grid": who.grid, "occurred_at": at.isoformat(), "attributes": attributes}
            if actor is not None:
                event["actor"] = actor
            yield json.dumps(event, ensure_ascii=False)


def residents(prefix: str, grids: int, households: int, rng: random.Random) -> list[Resident]:
    """Households spread over the grids, one or two residents each who take part in the programme."""
    found = []
    for number in range(1, households + 1):
        grid = f"g{rng.randint(1, grids):02d}"
        household = f"{prefix}-h{number:03d}"
        for member in range(rng.choice((1, 1, 2))):
            found.append(Resident(f"{prefix}-r{number:03d}{'ab'[member]}", household, grid))
    return found


def pudong(rng: random.Random) -> Log:
    """阳光社区: patrols, garbage sorting, hazard reports, mediation, noise, littering; one retiree patrols daily."""
    log = Log("pd", rng)
    people = residents("pd", 6, 24, rng)
    retiree = people[0]
    for day in range(DAYS):
        # 4 hours of patrol a day reaches the weekly patrol cap on day 6 of each week, and a grade-A sorting
        # on top of it goes past the daily reward cap.
        log.add(day, "patrol", retiree, hour=8, hours=4)
        if day % 3 == 0:
            log.add(day, "garbage_sorting", retiree, hour=18, quality="A")
    for _ in range(40):
        log.add(rng.randrange(DAYS), "garbage_sorting", rng.choice(people), quality=rng.choice("AABBBCCD"))
    for _ in range(25):
        log.add(rng.randrange(DAYS), "patrol", rng.choice(people), hours=rng.choice((1, 1.5, 2, 3, 5)))
    for _ in range(10):
        log.add(rng.randrange(DAYS), "hazard_report", rng.choice(people), severity=rng.randint(1, 5))
    for _ in range(6):
        log.add(rng.randrange(DAYS), "mediation", rng.choice(people))
    for _ in range(4):
        log.add(rng.randrange(DAYS), "noise_violation", rng.choice(people), hour=rng.choice((22, 23)))
    for _ in range(5):
        log.add(rng.randrange(DAYS), "app_open", rng.choice(people))
    for _ in range(3):
        log.add(rng.randrange(DAYS), "littering", rng.choice(people))
    return log


def chaoyang(rng: random.Random) -> Log:
    """和谐社区 (20 grids): problem reports and their verification, service orders, surveys, false reports."""
    log = Log("cy", rng)
    people = residents("cy", 20, 40, rng)
    pair = next(p.household for p in people if p.subject.endswith("b"))
    household = [p for p in people if p.household == pair]
    # One household reports five problems in the first week: the household cap stops it at three.
    for day, member in zip((0, 1, 2, 3, 4), household * 3, strict=False):
        log.add(day, "problem_report", member, issue=rng.choice(("plumbing", "lighting", "safety")))
    busy = people[1]
    # A busy day: two reports and two completed orders go past the daily reward cap of 40.
    for hour, kind, attributes in ((9, "problem_report", {"issue": "lighting"}),
                                   (10, "problem_report", {"issue": "sanitation"}),
                                   (14, "service_order", {"service": "home_care", "status": "completed"}),
                                   (16, "service_order", {"service": "repair", "status": "completed"})):
        log.add(8, kind, busy, hour=hour, **attributes)
    for _ in range(35):
        log.add(rng.randrange(DAYS), "problem_report", rng.choice(people),
                issue=rng.choice(("plumbing", "lighting", "sanitation", "safety", "other")))
    for _ in range(45):
        log.add(rng.randrange(DAYS), "service_order", rng.choice(people),
                service=rng.choice(("home_care", "repair", "cleaning", "escort")),
                status="completed" if rng.random() < 0.85 else "cancelled")
    for who in rng.sample(people, 25):
        log.add(rng.randrange(DAYS), "satisfaction_survey", who, score=rng.choice((3, 4, 4, 5, 5)))
    # Two surveys in April from one resident: the second is rejected by the monthly survey cap.
    log.add(10, "satisfaction_survey", people[2], score=4)
    log.add(12, "satisfaction_survey", people[2], score=5)
    for _ in range(3):
        log.add(rng.randrange(DAYS), "false_report", rng.choice(people))
    # The grid workers (cy-w01 …) verify most reports; one fixed within a day says resolved: true, which is
    # what pays the worker (网格员解决问题获绩效积分); a few are rejected and a few wait past the log's end.
    for index, (_, kind, who, _) in enumerate(list(log.events)):
        if kind != "problem_report":
            continue
        draw = rng.random()
        worker = f"cy-w{who.grid.removeprefix('g')}"
        if draw < 0.08:
            log.settle(index, "reject", timedelta(hours=rng.randint(2, 30)), worker)
        elif draw < 0.9:
            hours = rng.choice((2, 5, 20, 30, 50))
            log.settle(index, "verify", timedelta(hours=hours, minutes=rng.randrange(60)), worker,
                       resolved=hours <= 20)
    return log


def tianhe(rng: random.Random) -> Log:
    """活力社区: hazard reports and safety publicity; high-altitude throwing and parking deductions."""
    log = Log("th", rng)
    people = residents("th", 8, 30, rng)
    volunteer = people[0]
    # A safety volunteer: two publicity sessions a day (10 points each) run into the weekly reward cap, and
    # three hazard reports on one day (pending verification here) would meet the daily hazard cap.
    for day in range(7):
        log.add(day, "safety_publicity", volunteer, hour=9, hours=2)
        log.add(day, "safety_publicity", volunteer, hour=15, hours=1)
    for hour in (10, 15, 19):
        log.add(2, "hazard_report", volunteer, hour=hour, hazard=rng.choice(("fire_exit", "e_bike_charging")))
    for _ in range(40):
        log.add(rng.randrange(DAYS), "hazard_report", rng.choice(people),
                hazard=rng.choice(("fire_exit", "e_bike_charging", "falling_object", "other")))
    for _ in range(30):
        log.add(rng.randrange(DAYS), "safety_publicity", rng.choice(people), hours=rng.choice((0.5, 1, 1.5, 2, 3)))
    for _ in range(4):
        log.add(rng.randrange(DAYS), "high_altitude_throwing", rng.choice(people),
                severity=rng.choice(("minor", "minor", "serious")))
    for _ in range(8):
        log.add(rng.randrange(DAYS), "parking_violation", rng.choice(people), points=rng.choice((-5, -10, -10, -20)))
    return log


GENERATORS: dict[str, tuple[Callable[[random.Random], Log], int]] = {
    "pudong-events.jsonl": (pudong, 2019),
    "chaoyang-events.jsonl": (chaoyang, 2020),
    "tianhe-events.jsonl": (tianhe, 2018),
}


def main() -> None:
    for name, (generate, seed) in GENERATORS.items():
        log = generate(random.Random(seed))
        (HERE / name).write_text("".join(line + "\n" for line in log.lines()), encoding="utf-8")
        print(f"{name}: {len(log.events)} events")


if __name__ == "__main__":
    main()
