"""Replay benchmark: a Tianhe-scale community's year streamed through ``simulate`` (and ``compare``).

The workload: ``Community.from_preset("tianhe", seed=1)`` — 12,000 households (about 28,000 residents) in 60
grids — generating events day by day under ``rulesets/tianhe-vitality.yaml`` (about 240,000 events a month,
so 2–3 million a year, verifications and repair tasks included). The events stream straight from the
generator into :class:`gridpoints.simulate.Replay` over a ``MemoryStore`` (``submit_many`` batches of
1,000, a period close at each month's end, ``freeze_gc`` on as in the commands), and the summary is
computed at the end. Nothing is written to
disk, so what is timed is generation + the engine + the summary.

Each measurement runs in a fresh child process, which reports its wall time, its CPU time (the machine is
shared: with other work running, CPU time moves less than wall time) and its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), for simulate also the peak before the summary ("fed": what
the store keeps); the parent prints a table per number of months, so the cost's growth with the period shows,
with the load average after each run. Measured per run:

* ``synth``: generating the events alone (how much of the time is the generator's);
* ``simulate``: generation + replay + summary, one ruleset;
* ``compare``: generation + two replays (tianhe-vitality and a draft whose weekly reward cap is 80 instead
  of 100) + both summaries + the comparison.

Targets (issue 6, on the 2-core benchmark machine): simulate of a year < 60 s and < 1 GiB; compare < 2× that.
``--profile`` adds a cProfile of one simulate run (top functions by own time and by cumulative time).

Run ``python benchmarks/replay.py --help``; ``--quick`` is a smoke run on 1,200 households.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RULESET = ROOT / "rulesets" / "tianhe-vitality.yaml"
START = date(2026, 1, 1)
TARGET_SECONDS = 60.0
TARGET_BYTES = 1 << 30


def _community(households: int | None) -> Any:
    from gridpoints.synth import PRESETS, Community

    if households is None:
        return Community.from_preset("tianhe", seed=1)
    habits = PRESETS["tianhe"]
    return Community(households, max(1, households // 200), seed=1, name="tianhe", mix=habits.mix,
                     elderly=habits.elderly, preset=habits)


def _draft() -> Any:
    import gridpoints

    text = RULESET.read_text(encoding="utf-8")
    marker = "  - id: weekly-reward-cap\n"
    head, tail = text.split(marker)
    return gridpoints.load_ruleset(head + marker + tail.replace("    limit: 100\n", "    limit: 80\n", 1))


def _peak_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(kind: str, months: int, households: int | None) -> dict[str, Any]:
    """One measurement in this process: generate, and replay once or twice, then report time and peak RSS."""
    import gridpoints
    from gridpoints.simulate import Comparison, Replay, memberships

    policy = gridpoints.load_ruleset(RULESET)
    community = _community(households)
    roster = memberships(community.roster())
    started, cpu_started = time.perf_counter(), time.process_time()
    events = 0
    result: dict[str, Any] = {"kind": kind, "months": months, "residents": community.residents}
    if kind == "synth":
        events = sum(1 for _ in community.events(policy, START, months))
    elif kind == "simulate":
        replay = Replay(policy, roster=roster, freeze_gc=True)
        for event in community.events(policy, START, months):
            replay.feed(event)
            events += 1
        result["fed_peak_bytes"] = _peak_bytes()
        summary = replay.finish()
        result["gini"] = summary.concentration["gini"]
        result["participation"] = summary.totals["participation_mean"]
    else:
        replays = [Replay(p, roster=roster, freeze_gc=True) for p in (policy, _draft())]
        for event in community.events(policy, START, months):
            for replay in replays:
                replay.feed(event)
            events += 1
        comparison = Comparison.of(*(r.finish() for r in replays))
        result["lost"] = comparison.deltas["distribution"]["lost"]
    result.update(seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu_started, events=events,
                  peak_bytes=_peak_bytes())
    return result


def _measure(kind: str, months: int, households: int | None) -> dict[str, Any]:
    args = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--months", str(months)]
    if households is not None:
        args += ["--households", str(households)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} over {months} month(s) failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _profile(months: int, households: int | None, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    child("simulate", months, households)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"\n== cProfile of simulate over {months} month(s), by {order} ==")
        print(out.getvalue().split("\n\n", 1)[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, nargs="+", default=[1, 3, 6, 12],
                        help="Periods to measure (default: 1 3 6 12).")
    parser.add_argument("--households", type=int, help="A smaller community than Tianhe's 12,000 households.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 1,200 households, 1 and 2 months.")
    parser.add_argument("--no-compare", action="store_true", help="Skip the compare measurements.")
    parser.add_argument("--compare-max-months", type=int, default=12,
                        help="Measure compare only up to this many months (it takes about twice as long).")
    parser.add_argument("--profile", type=int, metavar="MONTHS", help="Also profile one simulate run of MONTHS.")
    parser.add_argument("--child", choices=["synth", "simulate", "compare"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    households = args.households
    months_list = args.months
    if args.quick:
        households, months_list = households or 1200, [1, 2]
    if args.child is not None:
        print(json.dumps(child(args.child, months_list[0], households)))
        return 0
    print(f"community: {'tianhe preset (12,000 households)' if households is None else f'{households} households'}"
          f"; ruleset {RULESET.name}; memory store; one child process per measurement")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at the start")
    print(f"{'months':>6} {'kind':>9} {'events':>10} {'seconds':>9} {'CPU s':>7} {'events/s':>9} {'peak RSS':>10} "
          f"{'fed RSS':>9}  target")
    failed = False
    for months in months_list:
        kinds = ["synth", "simulate"]
        if not args.no_compare and months <= args.compare_max_months:
            kinds.append("compare")
        for kind in kinds:
            r = _measure(kind, months, households)
            rate = r["events"] / r["seconds"] if r["seconds"] else 0.0
            factor = 2 if kind == "compare" else 1
            verdict = ""
            if kind != "synth" and months == 12 and households is None:
                ok = r["seconds"] < factor * TARGET_SECONDS and r["peak_bytes"] < factor * TARGET_BYTES
                failed |= not ok
                verdict = ("met" if ok else "MISSED") + f" (< {factor * TARGET_SECONDS:.0f} s, < {factor} GiB)"
            fed = f"{r['fed_peak_bytes'] / 2**20:>5,.0f} MiB" if "fed_peak_bytes" in r else f"{'-':>9}"
            print(f"{months:>6} {kind:>9} {r['events']:>10,} {r['seconds']:>9.1f} {r['cpu_seconds']:>7.1f} "
                  f"{rate:>9,.0f} {r['peak_bytes'] / 2**20:>6,.0f} MiB {fed}  {verdict} "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    if args.profile is not None:
        _profile(args.profile, households, 30)
    print("targets: simulate of a Tianhe year < 60 s and < 1 GiB; compare < 2x that")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
