"""Oracle benchmark: the durable_rules oracle's base points against the engine's own, in one process.

The workload: ``--events`` events drawn deterministically (``--seed``) for each shipped ruleset's handled
event types, with attributes from the values its rules mention (the fairness kit's strategies would draw the
same kinds of value; a plain ``random.Random`` keeps the workload identical run to run). Timed, per ruleset
and interleaved round by round (``--repeat`` rounds, medians reported):

* ``engine plan``: ``Kernel.plan_input`` of every event on a fresh engine (the stateless part: checks,
  conditions, base points; nothing is committed);
* ``durable oracle``: ``DurableOracle.base_points`` of every event (assert, fire, retract one fact each).

Each figure is events per second of CPU time (``time.process_time``) and of wall time. Building the engine
and the oracle is not timed. The load average is printed at the start and the end: on a shared machine
wall time moves with other work more than CPU time does. There is no target; the figures are for
docs/fairness-kit.md (why the engine does not run on durable_rules).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import gridpoints  # noqa: E402
from gridpoints.backends.durable import DurableOracle  # noqa: E402
from gridpoints.engine._coerce import coerce_event  # noqa: E402
from gridpoints.testing.strategies import attribute_literals  # noqa: E402


def _events(policy: gridpoints.Policy, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    types = [t for t in policy.event_types.values() if t.rules and not t.settles and not t.repairs]
    found: list[dict[str, Any]] = []
    while len(found) < count:
        etype = rng.choice(types)
        attributes: dict[str, Any] = {}
        literals = attribute_literals(etype)
        for name, check in etype.attributes.items():
            options = sorted(check.enum, key=str) if check.enum is not None else list(literals.get(name, ()))
            if check.type in ("number", "integer") and not options:
                options = [0, 1, 2, 3]
            if options:
                attributes[name] = rng.choice(options)
        raw = {"id": f"e{len(found)}", "type": etype.name, "subject": f"s{rng.randrange(50)}", "grid": "g1",
               "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": attributes}
        try:
            coerce_event(policy, raw)
        except gridpoints.EventError:
            continue
        found.append(raw)
    return found


def _time(run: Any) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'ruleset':<22} {'measure':<16} {'events/s (CPU)':>15} {'events/s (wall)':>16}")
    for path in sorted((ROOT / "rulesets").glob("*.yaml")):
        policy = gridpoints.load_ruleset(path)
        events = _events(policy, args.events, args.seed)
        checked = [coerce_event(policy, raw) for raw in events]
        oracle = DurableOracle(policy)
        timings: dict[str, list[tuple[float, float]]] = {"engine plan": [], "durable oracle": []}
        for _ in range(args.repeat):
            engine = gridpoints.Engine(policy)
            timings["engine plan"].append(
                _time(lambda engine=engine, events=events: [engine.plan_input(raw, None) for raw in events]))
            timings["durable oracle"].append(
                _time(lambda oracle=oracle, checked=checked: [oracle.base_points(event) for event in checked]))
        for label, runs in timings.items():
            cpu = statistics.median(c for c, _ in runs)
            wall = statistics.median(w for _, w in runs)
            print(f"{path.stem:<22} {label:<16} {len(events) / cpu:>15,.0f} {len(events) / wall:>16,.0f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
