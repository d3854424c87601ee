"""Replay benchmark: a Tianhe-scale community's year streamed through ``simulate`` (and ``compare``).

The workload: ``Community.from_preset("tianhe", seed=1)`` — 12,000 households (about 28,000 residents) in 60
grids — generating events day by day under ``rulesets/tianhe-vitality.yaml`` (about 240,000 events a month,
so 2–3 million a year, verifications and repair tasks included). The events stream straight from the
generator into the public what-if API, ``gridpoints.whatif.simulate`` / ``gridpoints.whatif.compare``, over
memory stores (``submit_many`` batches of 1,000, a period close at each month's end, ``freeze_gc=True`` as
in the commands), with the community's roster registered first. Nothing is written to disk, so what is timed
is generation + the engine + the summary. Building the community, its roster and the rulesets is not timed.

Three phases, each measured for each ``--months`` value:

* ``synth``: generating the events alone (how much of the time is the generator's);
* ``simulate``: generation + one replay + its summary (``simulate(policy, events, roster=…)``);
* ``compare``: generation + two replays at once (tianhe-vitality and a draft whose weekly reward cap is 80
  instead of 100) + both summaries + the comparison (``compare(old, new, events, roster=…)``).

Each phase runs in a fresh child process (this script run again with a hidden ``--child`` option), because
peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is per process and only grows: a
fresh process makes each figure that phase's own peak (imports, community and roster included). The child
reports the events, its CPU seconds (``time.process_time()``, all threads), its wall seconds
(``time.perf_counter()``) and its peak RSS — for simulate also the peak once every event was fed, before
the summary ("fed RSS": about what the store keeps). The parent prints one row per phase with the load
average after it, and the load average at the start and the end: on a shared machine wall time moves with
other work more than CPU time does, so the targets are judged on CPU time.

Targets (issue 6, on the 2-core benchmark machine), for a Tianhe year (``--months 12`` without
``--households``): simulate < 60 s CPU and < 1 GiB peak RSS; compare < 120 s CPU and < 1.5 GiB peak RSS,
printed as met / NOT met (the exit status is 1 when one is not met). ``--keep-ledger`` is passed to
``simulate`` / ``compare`` as ``keep_ledger=`` when the installed gridpoints accepts that keyword (and is
ignored, with a note, when it does not). ``--profile MONTHS`` adds a cProfile of one simulate run (top
functions by own time and by cumulative time).

Run ``python benchmarks/replay.py --help``; ``--quick`` is a smoke run on 1,200 households.

``--communities N`` measures a district instead: N communities of ``--households`` (default 600) each,
Pudong-like, seeds 1…N, their ``--months`` (the first value; default 1) written to JSON Lines files first
(not timed), then replayed through ``gridpoints.whatif._district.simulate_district`` one community per task:
in this one process one after another, and on a fresh Dask ``LocalCluster`` of ``--dask-workers`` worker
processes (default: one per core), alternating ``--repeat`` times; medians are printed with the speed-up
(one process ÷ Dask). CPU is this process's plus its finished children's (the workers') ``RUSAGE``; the
cluster's start and stop are included in the ``dask`` row, since a command pays them, and left out of the
``dask: the tasks alone`` row (a running cluster to the merged result; the workers' CPU asked of each
worker process, ``client.run(time.process_time)``, before and after). Both runs' merged
figures are checked equal. On the 2-core machine the best a speed-up can be is 2× (less the cluster's start
and the merge, and less again when other work shares the cores: the load average is printed beside).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RULESET = ROOT / "rulesets" / "tianhe-vitality.yaml"
START = date(2026, 1, 1)
GIB = 1 << 30
#: phase → (CPU seconds, peak RSS bytes) a Tianhe year must stay under.
TARGETS: dict[str, tuple[float, float]] = {"simulate": (60.0, 1 * GIB), "compare": (120.0, 1.5 * GIB)}
TARGET_MONTHS = 12


def _community(households: int | None) -> Any:
    from gridpoints.whatif import PRESETS, Community

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


def _takes_keep_ledger(function: Callable[..., Any]) -> bool:
    try:
        return "keep_ledger" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _ledger_options(function: Callable[..., Any], keep_ledger: bool) -> dict[str, Any]:
    """``{"keep_ledger": …}`` when ``function`` accepts it, else nothing (the flag is then ignored)."""
    return {"keep_ledger": keep_ledger} if _takes_keep_ledger(function) else {}


def _load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def child(kind: str, months: int, households: int | None, keep_ledger: bool = False) -> dict[str, Any]:
    """One phase in this process: generate, and replay once or twice, then report times and peak RSS."""
    import gridpoints
    from gridpoints.whatif import compare, memberships, simulate

    policy = gridpoints.load_ruleset(RULESET)
    draft = _draft() if kind == "compare" else None
    community = _community(households)
    roster = memberships(community.roster())
    result: dict[str, Any] = {"kind": kind, "months": months, "residents": community.residents}
    fed: dict[str, int] = {"events": 0}

    def stream() -> Iterator[Any]:
        """The generator's events, counted; notes the peak RSS once the last one was handed over."""
        count = 0
        for event in community.events(policy, START, months):
            count += 1
            yield event
        fed["events"] = count
        fed["peak_bytes"] = _peak_bytes()

    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "synth":
        for _ in stream():
            pass
    elif kind == "simulate":
        summary = simulate(policy, stream(), roster=roster, freeze_gc=True,
                           **_ledger_options(simulate, keep_ledger))
        result["gini"] = summary.concentration["gini"]
        result["participation"] = summary.totals["participation_mean"]
    else:
        comparison = compare(policy, draft, stream(), roster=roster, freeze_gc=True,
                             **_ledger_options(compare, keep_ledger))
        result["lost"] = comparison.deltas["distribution"]["lost"]
    cpu_seconds, seconds = time.process_time() - cpu_started, time.perf_counter() - started
    result.update(seconds=seconds, cpu_seconds=cpu_seconds, events=fed["events"], peak_bytes=_peak_bytes())
    if kind == "simulate" and "peak_bytes" in fed:
        result["fed_peak_bytes"] = fed["peak_bytes"]
    return result


def _measure(kind: str, months: int, households: int | None, keep_ledger: bool) -> dict[str, Any]:
    args = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--months", str(months)]
    if households is not None:
        args += ["--households", str(households)]
    if keep_ledger:
        args.append("--keep-ledger")
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} over {months} month(s) failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _profile(months: int, households: int | None, top: int, keep_ledger: bool) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    child("simulate", months, households, keep_ledger)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"\n== cProfile of simulate over {months} month(s), by {order} ==")
        print(out.getvalue().split("\n\n", 1)[-1])


def _verdict(kind: str, r: dict[str, Any]) -> tuple[bool, str]:
    cpu_limit, rss_limit = TARGETS[kind]
    cpu_ok, rss_ok = r["cpu_seconds"] < cpu_limit, r["peak_bytes"] < rss_limit
    text = (f"{kind} of a Tianhe year: {r['cpu_seconds']:.1f} s CPU (target < {cpu_limit:.0f} s: "
            f"{'met' if cpu_ok else 'NOT met'}), peak RSS {r['peak_bytes'] / 2**20:,.0f} MiB (target < "
            f"{rss_limit / GIB:g} GiB = {rss_limit / 2**20:,.0f} MiB: {'met' if rss_ok else 'NOT met'}); "
            f"wall {r['seconds']:.1f} s")
    return cpu_ok and rss_ok, text


def _district(count: int, households: int, months: int, workers: int | None, repeat: int) -> int:
    """The ``--communities`` measurement (see the module docstring)."""
    import statistics
    import tempfile

    import gridpoints
    from gridpoints.whatif import PRESETS, Community, community_logs, dask_client, simulate_district

    ruleset = ROOT / "rulesets" / "pudong-sunshine.yaml"
    text = ruleset.read_text(encoding="utf-8")
    policy = gridpoints.load_ruleset(text)
    habits = PRESETS["pudong"]
    size = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="gridpoints-district-") as folder:
        events = 0
        for seed in range(1, count + 1):
            community = Community(households, max(1, households // 200), seed=seed, name="pudong", mix=habits.mix,
                                  elderly=habits.elderly, preset=habits)
            with open(Path(folder) / f"c{seed:03d}.jsonl", "w", encoding="utf-8") as handle:
                for row in community.events(policy, START, months):
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    events += 1
            with open(Path(folder) / f"c{seed:03d}.roster.jsonl", "w", encoding="utf-8") as handle:
                for row in community.roster():
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        logs = community_logs([folder])
        print(f"district: {count} communities of {households} households ({events:,} events over {months} "
              f"month(s)); ruleset {ruleset.name}; one task per community; Dask: LocalCluster of {size} worker "
              f"process(es), 1 thread each")
        print(f"load average (1 / 5 / 15 min) at the start: {_load_average()} on {os.cpu_count()} CPUs")
        print(f"{'run':>22} {'CPU s':>8} {'wall s':>8}  {'load (1 min) after':>18}")
        kinds = ("one process", "dask", "dask: the tasks alone")
        figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        merged: dict[str, Any] = {}

        def row(kind: str, cpu: float, seconds: float) -> None:
            figures[kind].append((cpu, seconds))
            print(f"{kind:>22} {cpu:>8.1f} {seconds:>8.1f}  {_load_average().split(' / ')[0]:>18}", flush=True)

        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            merged["one process"] = simulate_district(text, logs).summary
            row("one process", time.process_time() - cpu_started, time.perf_counter() - started)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started, cpu_started = time.perf_counter(), time.process_time()
            with dask_client(workers=size) as client:
                # The tasks alone: from a running cluster to the merged result, CPU of the workers (asked of
                # each worker process) and of this process (scheduler, client and merge).
                workers_before = client.run(time.process_time)
                tasks_started, tasks_cpu = time.perf_counter(), time.process_time()
                merged["dask"] = simulate_district(text, logs, client=client).summary
                tasks_seconds, tasks_cpu = time.perf_counter() - tasks_started, time.process_time() - tasks_cpu
                workers_after = client.run(time.process_time)
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (time.process_time() - cpu_started + after.ru_utime - children.ru_utime
                   + after.ru_stime - children.ru_stime)
            row("dask", cpu, seconds)
            row("dask: the tasks alone", tasks_cpu + sum(workers_after[w] - workers_before[w] for w in workers_after),
                tasks_seconds)
            if merged["one process"] != merged["dask"]:
                print("merged figures DIFFER between one process and Dask")
                return 1
    medians = {kind: (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
               for kind, runs in figures.items()}
    one_cpu, one_wall = medians["one process"]
    print(f"medians of {repeat} run(s), CPU s / wall s: " + "; ".join(
        f"{kind} {cpu:.1f} / {wall:.1f}" for kind, (cpu, wall) in medians.items()))
    for kind in kinds[1:]:
        cpu, wall = medians[kind]
        print(f"speed-up (wall, one process ÷ {kind}): {one_wall / wall:.2f}× on {size} worker(s); CPU ratio "
              f"({kind} ÷ one process): {cpu / one_cpu:.2f}")
    print("merged figures equal (one process and Dask)")
    print(f"load average (1 / 5 / 15 min) at the end: {_load_average()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, nargs="+",
                        help="Periods to measure (default: 1 3 6 12; with --communities, 1).")
    parser.add_argument("--households", type=int, help="A smaller community than Tianhe's 12,000 households.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 1,200 households, 1 and 2 months.")
    parser.add_argument("--no-compare", action="store_true", help="Skip the compare measurements.")
    parser.add_argument("--compare-max-months", type=int, default=12,
                        help="Measure compare only up to this many months (it takes about twice as long).")
    parser.add_argument("--keep-ledger", action="store_true",
                        help="Pass keep_ledger=True to simulate/compare (when the installed gridpoints takes it).")
    parser.add_argument("--profile", type=int, metavar="MONTHS", help="Also profile one simulate run of MONTHS.")
    parser.add_argument("--communities", type=int, metavar="N",
                        help="Measure a district of N communities on Dask against one process (see above).")
    parser.add_argument("--dask-workers", type=int, help="Worker processes of the Dask LocalCluster (default: cores).")
    parser.add_argument("--repeat", type=int, default=1, help="With --communities: alternating runs of each.")
    parser.add_argument("--child", choices=["synth", "simulate", "compare"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.communities is not None:
        if args.communities < 1 or args.repeat < 1:
            parser.error("--communities and --repeat must be at least 1")
        months = args.months[0] if args.months else 1
        return _district(args.communities, args.households or 600, months, args.dask_workers, args.repeat)
    households = args.households
    months_list = args.months or [1, 3, 6, 12]
    if args.quick:
        households, months_list = households or 1200, [1, 2]
    if min(months_list) < 1 or (households is not None and households < 1):
        parser.error("--months and --households must be at least 1")
    if args.child is not None:
        print(json.dumps(child(args.child, months_list[0], households, args.keep_ledger)))
        return 0

    from gridpoints.whatif import compare, simulate

    takes = {name: _takes_keep_ledger(fn) for name, fn in (("simulate", simulate), ("compare", compare))}
    if all(takes.values()):
        ledger = f"keep_ledger={args.keep_ledger}"
    elif any(takes.values()):
        ledger = (f"keep_ledger={args.keep_ledger} for " + ", ".join(n for n, t in takes.items() if t)
                  + " (the other takes no keep_ledger)")
    else:
        ledger = "keep_ledger: not accepted by this gridpoints" + (" (--keep-ledger ignored)" if args.keep_ledger
                                                                   else "")
    print(f"community: {'tianhe preset (12,000 households)' if households is None else f'{households} households'}"
          f"; ruleset {RULESET.name}; memory stores; {ledger}; one fresh child process per phase")
    print(f"load average (1 / 5 / 15 min) at the start: {_load_average()} on {os.cpu_count()} CPUs")
    print(f"{'months':>6} {'phase':>9} {'events':>10} {'CPU s':>8} {'wall s':>8} {'events/s':>9} {'peak RSS':>10} "
          f"{'fed RSS':>9}  {'load (1 min) after':>18}")
    verdicts: list[tuple[bool, str]] = []
    for months in months_list:
        kinds = ["synth", "simulate"]
        if not args.no_compare and months <= args.compare_max_months:
            kinds.append("compare")
        for kind in kinds:
            r = _measure(kind, months, households, args.keep_ledger)
            rate = r["events"] / r["cpu_seconds"] if r["cpu_seconds"] else 0.0
            fed = f"{r['fed_peak_bytes'] / 2**20:>5,.0f} MiB" if "fed_peak_bytes" in r else f"{'-':>9}"
            mark = ""
            if kind in TARGETS and months == TARGET_MONTHS and households is None:
                ok, text = _verdict(kind, r)
                verdicts.append((ok, text))
                mark = "  target met" if ok else "  target NOT met"
            try:
                load = f"{os.getloadavg()[0]:.2f}"
            except OSError:
                load = "n/a"
            print(f"{months:>6} {kind:>9} {r['events']:>10,} {r['cpu_seconds']:>8.1f} {r['seconds']:>8.1f} "
                  f"{rate:>9,.0f} {r['peak_bytes'] / 2**20:>6,.0f} MiB {fed}  {load:>18}{mark}", flush=True)
    print(f"load average (1 / 5 / 15 min) at the end: {_load_average()}")
    if args.profile is not None:
        _profile(args.profile, households, 30, args.keep_ledger)
    print("events/s is per CPU second. targets (a Tianhe year): simulate < 60 s CPU and < 1 GiB peak RSS; "
          "compare < 120 s CPU and < 1.5 GiB peak RSS")
    if verdicts:
        for _, text in verdicts:
            print(f"  {text}")
    else:
        print(f"  not checked: they apply to the Tianhe preset over {TARGET_MONTHS} months "
              f"(--months {TARGET_MONTHS}, no --households, no --quick)")
    return 0 if all(ok for ok, _ in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
