"""What settling an old version's open items costs: verifications of v1's pending reports on v1's own engine
against the same verifications on a v2 engine that holds v1 (``previous=[v1]``), one process.

The workload: Tianhe's ruleset, ``--residents`` residents (default 2,000) who each report a hazard under v1
(pending verification), then one verification each by a grid worker, submitted in batches of 500. Each round
builds both ledgers the same way on fresh memory stores and times only the verifications, alternating which
goes first; the table shows the median verifications per second of CPU time (``time.process_time``) and of
wall time over ``--repeat`` rounds and their ratio, with the load average. Run ``python benchmarks/versions.py``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import gridpoints

TEXT = (Path(__file__).resolve().parent.parent / "rulesets" / "tianhe-vitality.yaml").read_text(encoding="utf-8")
V1 = gridpoints.load_ruleset(TEXT)
V2 = gridpoints.load_ruleset(TEXT.replace("version: 1", "version: 2", 1).replace("    limit: 40\n", "    limit: 60\n"))
SINCE = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
NOW = datetime.fromisoformat("2026-04-15T00:00:00+08:00")


def _ledger(residents: int) -> tuple[gridpoints.Engine, list[dict[str, Any]]]:
    engine = gridpoints.Engine(V1, gridpoints.MemoryStore(), pause_collector=None)
    engine.register("w1", grid="g1", household="hw", roles=["grid_worker"], since=SINCE)
    reports, verifications = [], []
    for n in range(residents):
        engine.register(f"r{n}", grid="g1", household=f"h{n}", since=SINCE)
        reports.append({"id": f"report-{n}", "type": "hazard_report", "subject": f"r{n}", "grid": "g1",
                        "occurred_at": "2026-04-14T10:00:00+08:00", "attributes": {"hazard": "other"}})
        verifications.append({"id": f"verify-{n}", "type": "verify", "subject": f"r{n}", "grid": "g1",
                              "actor": "w1", "occurred_at": "2026-04-15T10:00:00+08:00",
                              "attributes": {"event": f"report-{n}"}})
    for start in range(0, residents, 500):
        engine.submit_many(reports[start:start + 500])
    return engine, verifications


def run(residents: int, upgraded: bool) -> tuple[float, float]:
    engine, verifications = _ledger(residents)
    if upgraded:
        engine = engine.upgrade(V2, now=NOW)
        assert engine.versions == (V2.ref, V1.ref)
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    decisions = []
    for start in range(0, residents, 500):
        decisions += engine.submit_many(verifications[start:start + 500])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert all(d.trace.ruleset == V1.ref and d.points == 20 for d in decisions)
    return residents / cpu, residents / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for round_ in range(args.repeat):
        for upgraded in ((False, True) if round_ % 2 == 0 else (True, False)):
            figures[upgraded].append(run(args.residents, upgraded))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.residents} verifications, "
          f"median of {args.repeat} rounds")
    print(f"{'engine':<34}{'per CPU s':>12}{'per wall s':>12}")
    medians = {}
    for upgraded, rows in figures.items():
        cpu, wall = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        medians[upgraded] = cpu
        name = "v2 holding v1 (previous=[v1])" if upgraded else "v1's own engine"
        print(f"{name:<34}{cpu:>12,.0f}{wall:>12,.0f}")
    print(f"CPU throughput ratio (v2 holding v1 / v1 alone): {medians[True] / medians[False]:.2f}")


if __name__ == "__main__":
    main()
