"""What the notices outbox costs: ``submit_many`` with ``notify=False`` against ``notify=True``, one process.

The workload is the throughput benchmark's kind, smaller: a ruleset of 6 rewards (5–20 points) and 2
deductions with a daily reward cap, ``--events`` events (default 20,000) for 2,000 residents over a week,
as plain mappings, made before anything is timed. Each round builds two fresh memory-store engines and
submits the same events in batches of 1,000 to each, alternating which goes first; the table shows the
median events per second of CPU time (``time.process_time``) and of wall time over ``--repeat`` rounds, and
the notices written. Run ``python benchmarks/notices.py``; note the machine's load beside the figures.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from typing import Any

import gridpoints

RULESET = """
ruleset: bench-notices
version: 1
name: bench
rules:
""" + "".join(f"  - {{id: r{n}, on: e{n}, points: {points}}}\n"
              for n, points in enumerate((5, 8, 10, 12, 15, 20, -10, -10))) + """
limits:
  - {id: daily, kind: cap, scope: subject, window: day, categories: [reward], limit: 50}
"""


def events(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    found = []
    for n in range(count):
        resident = rng.randrange(2000)
        day, hour = rng.randrange(7), rng.randrange(7, 21)
        found.append({"id": f"ev{n}", "type": f"e{rng.randrange(8)}", "subject": f"r{resident}",
                      "grid": f"g{resident // 25}", "household": f"h{resident // 3}",
                      "occurred_at": f"2026-04-{day + 1:02d}T{hour:02d}:{rng.randrange(60):02d}:00+08:00"})
    return found


def run(policy: gridpoints.Policy, batch: list[dict[str, Any]], notify: bool) -> tuple[float, float, int]:
    engine = gridpoints.Engine(policy, gridpoints.MemoryStore(), notify=notify)
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(batch), 1000):
        engine.submit_many(batch[start:start + 1000])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    told = len(engine.notices(after=0, limit=None)) if notify else 0
    return len(batch) / cpu, len(batch) / wall, told


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    policy = gridpoints.load_ruleset(RULESET)
    batch = events(args.events, args.seed)
    figures: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
    for round_ in range(args.repeat):
        for notify in ((False, True) if round_ % 2 == 0 else (True, False)):
            figures[notify].append(run(policy, batch, notify))
    print(f"{args.events} events, {args.repeat} rounds (medians)")
    print(f"{'notify':<8}{'events/s CPU':>14}{'events/s wall':>15}{'notices':>9}")
    for notify, rows in figures.items():
        print(f"{notify!s:<8}{statistics.median(r[0] for r in rows):>14,.0f}"
              f"{statistics.median(r[1] for r in rows):>15,.0f}{rows[0][2]:>9}")
    off = statistics.median(r[0] for r in figures[False])
    on = statistics.median(r[0] for r in figures[True])
    print(f"notify=True / notify=False, CPU: {on / off:.2f}")


if __name__ == "__main__":
    main()
