"""What campaigns, streaks and honours cost per event, and that a streak's cost does not grow with the ledger.

Runs ``submit_many`` batches of the same synthetic garbage-sorting and volunteering events (one per
resident per day) under four rulesets — plain rules, + a campaign, + a streak with its badge, + a
milestone — interleaved round by round in one process, and prints the median CPU (``time.process_time``)
and wall time per event with the ratio to the plain ruleset. Then it times the last of many days of one
streak against its first days: with the streak's state in counters both are the same.

    python benchmarks/mechanisms.py [--residents 200] [--days 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date, timedelta
from typing import Any

import gridpoints

BASE = """
ruleset: bench
version: 1
name: 基准
rules:
  - {id: sorting, name: 垃圾分类, on: garbage_sorting, points: 2}
  - {id: volunteer, name: 志愿服务, on: volunteer, points: {per: hours, each: 10}}
limits:
  - {id: daily, window: day, limit: 100}
"""
CAMPAIGN = """
campaigns:
  - {id: week, name: 宣传周, rules: [sorting, volunteer], multiplier: 2, valid_from: 2026-04-05T00:00:00+08:00,
     valid_until: 2026-04-12T00:00:00+08:00}
"""
STREAK = """
streaks:
  - {id: sort-7, name: 连续7天, on: [garbage_sorting], length: 7, bonus: 10, repeat: true}
honours:
  - {id: sorter, name: 分类能手, streak: sort-7}
"""
MILESTONE = """
  - {id: hours, name: 志愿100小时, milestone: {rules: [volunteer], metric: units, at: 100}}
"""
RULESETS = {"plain": BASE, "+ campaign": BASE + CAMPAIGN, "+ streak, badge": BASE + STREAK,
            "+ streak, badge, milestone": BASE + STREAK + MILESTONE}


def _events(residents: int, days: int, first: date = date(2026, 4, 1)) -> list[dict[str, Any]]:
    found = []
    for day in range(days):
        stamp = (first + timedelta(days=day)).isoformat()
        for n in range(residents):
            found.append({"id": f"s-{day}-{n}", "type": "garbage_sorting", "subject": f"r{n}", "grid": "g1",
                          "occurred_at": f"{stamp}T08:00:00+08:00"})
            found.append({"id": f"v-{day}-{n}", "type": "volunteer", "subject": f"r{n}", "grid": "g1",
                          "occurred_at": f"{stamp}T18:00:00+08:00", "attributes": {"hours": 1.5}})
    return found


def _run(text: str, events: list[dict[str, Any]]) -> tuple[float, float]:
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(events), 500):
        engine.submit_many(events[i:i + 500])
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    events = _events(args.residents, args.days)
    print(f"load average at the start: {os.getloadavg()[0]:.2f}; {len(events)} events per run, "
          f"{args.rounds} interleaved rounds")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in RULESETS}
    for _ in range(args.rounds):
        for name, text in RULESETS.items():
            times[name].append(_run(text, events))
    plain_cpu = statistics.median(c for c, _ in times["plain"])
    print(f"{'ruleset':<28}{'µs/event (CPU)':>16}{'µs/event (wall)':>17}{'CPU ÷ plain':>13}")
    for name, runs in times.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"{name:<28}{cpu / len(events) * 1e6:>16.1f}{wall / len(events) * 1e6:>17.1f}{cpu / plain_cpu:>13.2f}")
    # A long streak: the first days against the last days of the same engine (state in counters only).
    engine = gridpoints.Engine(gridpoints.load_ruleset(BASE + STREAK))
    per_day: list[float] = []
    long_run = _events(args.residents // 4 or 1, 120)
    day_size = 2 * (args.residents // 4 or 1)
    for i in range(0, len(long_run), day_size):
        cpu = time.process_time()
        engine.submit_many(long_run[i:i + day_size])
        per_day.append(time.process_time() - cpu)
    early, late = statistics.median(per_day[1:11]), statistics.median(per_day[-10:])
    print(f"streak over 120 days: median CPU per day's batch, days 2–11 {early * 1e3:.2f} ms, "
          f"days 111–120 {late * 1e3:.2f} ms (late ÷ early {late / early:.2f})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
