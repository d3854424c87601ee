"""A month of one seed programme, end to end, as a community worker sees it: ``python examples/month.py pudong``.

Builds a small community (a few grids of households, one grid worker per grid), registers it, plays April
2026 through the programme's ruleset — reports and their verification, violations, repairs, appeals,
redemptions, applications for scarce items — closes the month, and prints balances, the leaderboard,
challenge winners, repairs, redemptions and allocations. Seeded: the same output every run (the tests pin it).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import gridpoints
from gridpoints.errors import GridpointsError

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = timezone(timedelta(hours=8))
START = date(2026, 4, 1)
DAYS = 30
SINCE = datetime(2026, 1, 1, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Person:
    subject: str
    household: str
    grid: str
    worker: bool = False
    #: Registry tags (every fourth household's first member is elderly: 精准服务 targets them).
    tags: tuple[str, ...] = ()


def community(prefix: str, grids: int, households: int, rng: random.Random) -> list[Person]:
    people = []
    for g in range(1, grids + 1):
        grid = f"g{g:02d}"
        people.append(Person(f"{prefix}-w{g}", f"{prefix}-wh{g}", grid, worker=True))
        for h in range(1, households + 1):
            household = f"{prefix}-g{g}h{h:02d}"
            for member in range(rng.choice((1, 2, 2, 3))):
                elderly = h % 4 == 0 and member == 0
                people.append(Person(f"{household}{'abc'[member]}", household, grid,
                                     tags=("elderly",) if elderly else ()))
    return people


class Month:
    """Plays events into an engine and remembers what happened, for the worker's view."""

    def __init__(self, programme: str, ruleset: str, people: list[Person], rng: random.Random) -> None:
        self.engine = gridpoints.Engine(gridpoints.load_ruleset(ROOT / "rulesets" / ruleset))
        self.people = people
        self.residents = [p for p in people if not p.worker]
        self.worker_of = {p.grid: p for p in people if p.worker}
        self.rng = rng
        self.prefix = programme[:2]
        self.count = 0
        self.refused: list[str] = []
        self.redeemed: list[tuple[str, str, str]] = []
        for p in people:
            self.engine.register(p.subject, grid=p.grid, household=p.household,
                                 roles=("grid_worker",) if p.worker else ("resident",), since=SINCE, tags=p.tags)

    def at(self, day: int, hour: int | None = None) -> datetime:
        hour = self.rng.randint(8, 20) if hour is None else hour
        return datetime(2026, 4, day + 1, hour, self.rng.randrange(60), tzinfo=SHANGHAI)

    def submit(self, kind: str, who: Person, moment: datetime, actor: str | None = None,
               **attributes: Any) -> gridpoints.Decision | None:
        self.count += 1
        event = {"id": f"{self.prefix}-{self.count:05d}", "type": kind, "subject": who.subject, "grid": who.grid,
                 "household": who.household, "occurred_at": moment.isoformat(), "attributes": attributes}
        if actor is not None:
            event["actor"] = actor
        try:
            return self.engine.submit(event)
        except GridpointsError as exc:
            self.refused.append(f"{kind} by {who.subject}: {type(exc).__name__}")
            return None

    def verify(self, decision: gridpoints.Decision | None, who: Person, moment: datetime, reject: bool = False,
               **attributes: Any) -> None:
        if decision is not None:
            self.submit("reject" if reject else "verify", who, moment, actor=self.worker_of[who.grid].subject,
                        event=decision.event_id, **({} if reject else attributes))

    def redeem(self, who: Person, item: str, moment: datetime) -> None:
        self.count += 1
        try:
            self.engine.redeem(who.subject, item, f"{self.prefix}-order-{self.count}", at=moment)
            self.redeemed.append((who.subject, item, "ok"))
        except gridpoints.RedemptionRefused as exc:
            self.redeemed.append((who.subject, item, exc.reason))


def pudong(m: Month) -> None:
    rng = m.rng
    active = m.residents[::3]
    for day in range(DAYS):
        for who in rng.sample(active, 6):
            m.submit("patrol", who, m.at(day), hours=rng.choice((1, 2, 2, 3, 4)))
        for who in rng.sample(m.residents, 8):
            m.submit("garbage_sorting", who, m.at(day), quality=rng.choice("AABBCD"))
        if day % 4 == 0:
            who = rng.choice(m.residents)
            report = m.submit("hazard_report", who, m.at(day, 9), severity=rng.randint(1, 5))
            m.verify(report, who, m.at(day, 17), reject=day % 12 == 0)
        if day % 7 == 3:
            m.submit("mediation", rng.choice(m.residents), m.at(day))
        if day % 10 == 7:
            m.submit("littering", rng.choice(m.residents), m.at(day, 12))
        if day % 6 == 5:
            who = rng.choice(m.residents)
            fined_at = m.at(day, 23)
            fine = m.submit("noise_violation", who, fined_at)
            if fine is not None and day % 12 == 5:
                # The next morning, or on the month's last day a minute after the fine: never before it.
                decided = max(m.at(min(day + 1, DAYS - 1), 10), fined_at + timedelta(minutes=1))
                m.submit("appeal", who, decided, actor=m.worker_of[who.grid].subject, event=fine.event_id,
                         outcome="upheld")
    top = sorted(m.residents, key=lambda p: -m.engine.balance(p.subject))
    for who in top[:4]:
        m.redeem(who, "daily-goods", m.at(27))
    m.redeem(top[-1], "haircut", m.at(27))
    for who in top[:6]:
        m.redeem(who, "parking-priority", m.at(28))
    # Entitlements tied to 社区信用 cost nothing and need the trusted tier.
    m.redeem(top[0], "school-recommendation", m.at(28))
    m.redeem(top[-1], "medical-appointment", m.at(28))


def chaoyang(m: Month) -> None:
    rng = m.rng
    for day in range(DAYS):
        for who in rng.sample(m.residents, 5):
            report = m.submit("problem_report", who, m.at(day, 9), issue=rng.choice(
                ("plumbing", "lighting", "sanitation", "safety", "other")))
            late = rng.random() < 0.3
            # Verified the same day, the worker also fixed it (resolved: true), which is what pays them.
            m.verify(report, who, m.at(day + (2 if late else 0), 16) if day < DAYS - 2 else m.at(day, 16),
                     reject=rng.random() < 0.1, resolved=not late)
        for who in rng.sample(m.residents, 6):
            m.submit("service_order", who, m.at(day), service=rng.choice(("home_care", "repair", "cleaning", "escort")),
                     status="completed" if rng.random() < 0.85 else "cancelled")
        if day % 9 == 4:
            m.submit("false_report", rng.choice(m.residents), m.at(day))
    for who in rng.sample(m.residents, 12):
        m.submit("satisfaction_survey", who, m.at(rng.randrange(20, DAYS)), score=rng.choice((3, 4, 5)))
    top = sorted(m.residents, key=lambda p: -m.engine.balance(p.subject))
    for who in top[:5]:
        m.redeem(who, "activity-ticket", m.at(28))
    # 精准服务: home care is for grid g01's elderly who earned little this month; the top earner is refused.
    m.redeem(top[0], "home-care", m.at(28))
    elderly = [p for p in top if "elderly" in p.tags and p.grid == "g01" and m.engine.balance(p.subject) >= 40]
    if elderly:
        m.redeem(elderly[0], "home-care", m.at(28))


def tianhe(m: Month) -> None:
    rng = m.rng
    for day in range(DAYS):
        for who in rng.sample(m.residents, 4):
            report = m.submit("hazard_report", who, m.at(day, 10), hazard=rng.choice(
                ("fire_exit", "e_bike_charging", "falling_object", "other")))
            m.verify(report, who, m.at(day, 18))
        for who in rng.sample(m.residents, 3):
            m.submit("safety_publicity", who, m.at(day), hours=rng.choice((1, 1.5, 2, 3)))
        if day % 5 == 2:
            who = rng.choice(m.residents)
            fine = m.submit("high_altitude_throwing", who, m.at(day), severity=rng.choice(("minor", "serious")))
            if fine is not None and day < 20:
                # Two hours of community service in two visits restores the deduction.
                for offset in (2, 4):
                    m.submit("community_service", who, m.at(day + offset), actor=m.worker_of[who.grid].subject,
                             repair=fine.event_id, hours=1)
        if day % 4 == 1:
            m.submit("parking_violation", rng.choice(m.residents), m.at(day), points=rng.choice((-5, -10, -20)))
    for who in sorted(m.residents, key=lambda p: -m.engine.balance(p.subject))[:8]:
        m.redeem(who, "parking-reservation", m.at(28))
    # 需完成: a violator whose repair is still open cannot redeem until it is done.
    owing = next((p for p in m.residents if any(r.status == "open" for r in m.engine.repairs(p.subject))), None)
    if owing is not None:
        m.redeem(owing, "parking-reservation", m.at(28))


PROGRAMMES: dict[str, tuple[str, Callable[[Month], None], int]] = {
    "pudong": ("pudong-sunshine.yaml", pudong, 2019),
    "chaoyang": ("chaoyang-harmony.yaml", chaoyang, 2020),
    "tianhe": ("tianhe-vitality.yaml", tianhe, 2018),
}


def run(programme: str, out: TextIO) -> None:
    ruleset, play, seed = PROGRAMMES[programme]
    rng = random.Random(seed)
    people = community(programme[:2], 3, 12, rng)
    month = Month(programme, ruleset, people, rng)
    play(month)
    engine = month.engine
    report = engine.close_period("2026-04", now=datetime(2026, 5, 1, 0, 5, tzinfo=SHANGHAI))
    for line in view(month, report):
        print(line, file=out)


def view(m: Month, report: Any) -> Iterator[str]:
    engine = m.engine
    policy = engine.policy
    entries = list(engine.store.entries(engine.tenant))
    yield f"== {policy.spec.name} ({policy.ref}) — April 2026 =="
    yield (f"residents {len(m.residents)} in {len(m.worker_of)} grids; events {m.count}; ledger entries "
           f"{len(entries)}; refused {len(m.refused)}")
    balances = engine.balances([p.subject for p in m.people])
    issued = sum(e.amount for e in entries if e.debit == "community:issuance")
    yield f"points issued {issued}; outstanding spendable {sum(balances.values())}"
    yield "-- balances (top 8) --"
    for subject, points in sorted(balances.items(), key=lambda kv: (-kv[1], kv[0]))[:8]:
        yield f"  {subject:<14}{points:>6}"
    yield "-- leaderboard, points earned in April --"
    for s in engine.leaderboard("2026-04", top=5):
        yield f"  {s.rank}. {s.subject:<14}{s.grid:<8}{s.earned:>6}"
    for challenge, winners in report.challenges.items():
        names = ", ".join(f"{w.subject} ({w.earned})" for w in winners) or "none"
        yield f"-- challenge {challenge}: {names}"
    workers = {p.subject: balances[p.subject] for p in m.people if p.worker}
    shown_workers = ", ".join(f"{w} {v}" for w, v in sorted(workers.items()))
    yield f"-- grid workers' balances (base and performance points) -- {shown_workers}"
    yield "-- repairs --"
    shown = 0
    for p in m.residents:
        for r in engine.repairs(p.subject):
            shown += 1
            yield (f"  {p.subject:<14}{r.repair:<20}{r.status:<12}done {r.done.normalize():f}/"
                   f"{r.quantity.normalize():f}  "
                   f"restored {r.restored}")
    if not shown:
        yield "  none"
    yield "-- redemptions --"
    for subject, item, outcome in m.redeemed:
        yield f"  {subject:<14}{item:<22}{outcome}"
    for item, winners in report.allocations.items():
        yield f"-- allocation {item}: {', '.join(winners) or 'none'}"
    yield (f"-- period close: base awards {len(report.base)}, holds returned {len(report.holds_expired)}, "
           f"pending expired {len(report.pending_expired)}, repairs expired {len(report.repairs_expired)}")
    reasons: dict[str, int] = {}
    for text in m.refused:
        kind = text.rsplit(": ", 1)[1]
        reasons[kind] = reasons.get(kind, 0) + 1
    yield "-- refused events -- " + (", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("programme", choices=sorted(PROGRAMMES))
    args = parser.parse_args(argv)
    run(args.programme, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
