"""Intake benchmark: what checking an event costs, and whether a change moved it.

Times, on one workload of plain-mapping events (ISO 8601 times with +08:00, 2–4 attributes of text and
numbers, ids that recur as subjects and grids do): ``coerce_event`` alone (the intake's checks: ids, type,
time, attribute bounds and limits) and ``Engine.submit_many`` on a memory store (intake, decision, ledger),
each as events per second of CPU time (``time.process_time``) and of wall time, the median of ``--repeat``
interleaved rounds. The load average is printed at the start and the end.

``--against DIR`` compares two trees: each round runs this measurement in a child process on this tree's
``src`` and then on ``DIR`` (another checkout's ``src``), alternating, and prints both medians and the
ratio (this ÷ other); the same events, seed and Python for both.

Run ``python benchmarks/intake.py [--events N] [--repeat R] [--against ../other/src]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RULESET = """\
ruleset: intake
version: 1
name: Intake
events:
  patrol: {attributes: {hours: {type: number, min: 0}, note: {type: string}}}
  sorting: {attributes: {quality: {type: string, enum: [A, B, C]}, bags: {type: integer}}}
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10, max_units: 4}}
  - {id: sorting, on: sorting, points: {by: quality, table: {A: 20, B: 10, C: 5}}}
  - {id: litter, on: litter, points: -10}
limits:
  - {id: day, kind: cap, window: day, limit: 50, categories: [reward]}
"""


def workload(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        kind = rng.choice(("patrol", "sorting", "litter"))
        attributes: dict[str, Any] = {}
        if kind == "patrol":
            attributes = {"hours": rng.choice((1, 1.5, 2, 3)), "note": rng.choice(("东门", "north gate", "楼道"))}
        elif kind == "sorting":
            attributes = {"quality": rng.choice("ABC"), "bags": rng.randint(1, 5)}
        day, second = rng.randrange(7), rng.randrange(86_400)
        events.append({"id": f"ev-{i}", "type": kind, "subject": f"r{rng.randrange(2_000)}",
                       "grid": f"g{rng.randrange(80)}", "attributes": attributes,
                       "occurred_at": f"2026-05-{4 + day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:"
                                      f"{second % 60:02d}+08:00"})
    return events


def measure(count: int, seed: int, batch: int) -> dict[str, float]:
    """One round in this process: events per CPU second and per wall second of each timed part."""
    import gc

    import gridpoints
    from gridpoints.engine._coerce import coerce_event

    policy = gridpoints.load_ruleset(RULESET)
    events = workload(count, seed)
    found: dict[str, float] = {}
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for event in events:
        coerce_event(policy, event)
    found["coerce cpu"] = count / (time.process_time() - cpu)
    found["coerce wall"] = count / (time.perf_counter() - wall)
    engine = gridpoints.Engine(policy, store=gridpoints.MemoryStore())
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, count, batch):
        engine.submit_many(events[start:start + batch])
    found["submit_many cpu"] = count / (time.process_time() - cpu)
    found["submit_many wall"] = count / (time.perf_counter() - wall)
    return found


def _child(src: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--child", "--events", str(args.events), "--seed",
                          str(args.seed), "--batch", str(args.batch)], env=env, check=True, capture_output=True,
                         text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another tree's src directory to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.events, args.seed, args.batch)))
        return 0
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this": here} if args.against is None else {"this": here, "other": args.against.resolve()}
    print(f"load average at the start: {_load()}")
    print(f"workload: {args.events:,} events, batches of {args.batch:,}; seed {args.seed}; Python "
          f"{sys.version.split()[0]}; {args.repeat} interleaved rounds, medians")
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.repeat):
        for name, src in trees.items():
            rounds[name].append(_child(src, args))
    medians = {name: {key: statistics.median(r[key] for r in found) for key in found[0]}
               for name, found in rounds.items()}
    print(f"{'events per second':24}" + "".join(f"{name + ' (' + str(src) + ')':>34}" for name, src in trees.items())
          + ("   this ÷ other" if len(trees) == 2 else ""))
    for key in medians["this"]:
        row = f"{key:24}" + "".join(f"{medians[name][key]:>34,.0f}" for name in trees)
        if len(trees) == 2:
            row += f"   {medians['this'][key] / medians['other'][key]:.3f}"
        print(row)
    print(f"load average at the end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
