"""Throughput benchmark: gridpoints against a bare Python loop, zen-engine and durable-rules, in one process.

The workload (deterministic for a seed): 20 event types — 14 rewards worth 5–20 points and 6 deductions of
−10 — for 10,000 residents in 400 grids (25 residents a grid, in households of 1–4), spread over one week
in Asia/Shanghai (times carry +08:00), with a daily reward cap of 50 points per resident. The ruleset
(20 rules with fixed points, one cap) is generated here as YAML text. The events are generated in memory,
before anything is timed, as plain mappings with ISO 8601 times (the way a host reads them from JSON), and
next to them, also before anything is timed, each event's counter key: ``(resident, local day)``, the day
being the event's time converted to Asia/Shanghai. gridpoints gets the plain mappings (its real input: it
parses and converts the times itself); the bare loop, zen-engine and durable-rules get the same mappings
and the same precomputed keys, so none of them parses a time inside its timed loop.

What is timed, each as events per second of CPU time and of wall time:

* a bare loop: a ``type → points`` dict (rewards are the types with positive points), a counter per
  precomputed (resident, local day) key, truncation of a reward to what is left of the cap, balances;
* gridpoints, ``Engine(policy, store=MemoryStore()).submit_many(batch)`` in batches (default 1,000) on the
  plain mappings — full decisions: traces, hash-chained ledger entries, counters, idempotency records —
  and single ``submit`` calls on a subset (the first ``--single`` events), each on a fresh memory store;
* zen-engine (``pip install 'gridpoints[bench]'``) used the way its documentation says to use it for speed:
  one ``zen.ZenEngine({"loader": loader})``, created once before any timing, and ``engine.evaluate(key,
  context)`` per event — the synchronous call, which returns the response dict. The loader is static: it
  returns the graph for the key from a dict filled before timing. zen calls the loader on every evaluate,
  so by default the dict holds ``zen.ZenDecisionContent`` objects (the graph JSON parsed and compiled once,
  as the SDK documentation recommends for loaders); ``--zen-loader json`` makes it return the graph JSON
  text instead (zen then parses it on every call). Not ``ZenEngine().create_decision(json).evaluate(ctx)``:
  in zen 2.x's Python binding that starts a new multi-threaded runtime on every call. Two graphs, both
  timed: a first-hit decision table of the 20 rules followed by an expression node that applies the cap
  from the counter value passed in the context (``granted = reward ? min(points, max(cap - used, 0)) :
  points``); and the decision table alone with the cap applied in Python after it. Python reads and adds the
  counters and balances either way. The faster of the two (by median) is the one the ratios use;
* durable-rules: a ruleset of 20 ``when_all(m.type == …)`` rules whose actions report the points; each event
  is posted (with its id) and the cap is applied in Python after the action ran (a fresh ruleset each round).

Setup (engines, rulesets, batches) is outside the timed region and so is a ``gc.collect()`` before each run.
CPU time is ``time.process_time()``: the CPU time of every thread of this process, user and system —
which is what we want, since zen-engine may do its work on threads of its own (a CPU÷wall column above 1
shows a run used more than one core); wall time is ``time.perf_counter()``. The runs are interleaved: each
of ``--repeat`` rounds (default 3; 1 with ``--quick``) runs the bare loop, gridpoints batched and single,
both zen graphs and durable-rules, in that order, and the tables report the median of each measure over the
rounds (the per-round CPU rates are printed too). The load average is printed at the start and the end: on
a shared machine wall time moves with other work more than CPU time does.

Every run checks that its final balances equal the bare loop's (the single-submit run against the bare
loop over the same subset) and the run stops with an error if one differs; otherwise it prints ``balances
agree``. Ratios are gridpoints ``submit_many`` ÷ each contender, from the medians, for CPU and for wall
time. Targets (judged on the CPU ratios): gridpoints ÷ zen-engine ≥ 1.0 (against the faster zen graph) and
gridpoints ÷ bare loop ≥ 0.15, printed as met / NOT met. ``--profile`` adds a cProfile of a batched
gridpoints run; ``--strict`` makes a skipped or failing comparator an error (exit status 1).

Run ``python benchmarks/throughput.py --help``; ``--quick`` is a 20k-event smoke run.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import gridpoints
from gridpoints import Engine, MemoryStore, Policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
REWARD_TYPES = 14
DEDUCTION_TYPES = 6
DEDUCTION_POINTS = -10
DAILY_CAP = 50
CAP_ID = "daily-reward-cap"
PER_GRID = 25
DAYS = 7
#: Share of events that are rewards (the rest are deductions).
REWARD_SHARE = 0.85
#: The week the events fall in (a Monday, local time).
WEEK_START = datetime(2026, 4, 6, tzinfo=SHANGHAI)
TARGET_VS_ZEN = 1.0
TARGET_VS_BARE = 0.15
#: zen-engine loader keys of the two graphs.
ZEN_CAP_IN_GRAPH = "rules-and-cap.json"
ZEN_TABLE_ONLY = "rules-only.json"

Events = Sequence[dict[str, Any]]
DayKeys = Sequence[tuple[str, date]]
Balances = dict[str, int]


def reward_points(kind: int) -> int:
    """Points of reward type ``kind`` (0–13): spread evenly over 5–20."""
    return 5 + kind * 15 // (REWARD_TYPES - 1)


def rule_table() -> dict[str, tuple[int, bool]]:
    """``event type → (points, is a reward)``: the 20 rules as the comparators see them."""
    table = {f"reward_{k:02d}": (reward_points(k), True) for k in range(REWARD_TYPES)}
    table.update({f"deduction_{k:02d}": (DEDUCTION_POINTS, False) for k in range(DEDUCTION_TYPES)})
    return table


def points_table() -> dict[str, int]:
    """``event type → points``, the bare loop's dict: rewards are exactly the types with positive points."""
    table = {etype: points for etype, (points, _) in rule_table().items()}
    assert all((points > 0) == reward for points, reward in rule_table().values())
    return table


def ruleset_text() -> str:
    """The benchmark ruleset: 14 reward rules, 6 deduction rules, one daily cap on rewards per resident."""
    lines = ["ruleset: bench-throughput", "version: 1", "name: 吞吐基准", "timezone: Asia/Shanghai",
             "community: c1", "rules:"]
    for kind in range(REWARD_TYPES):
        lines += [f"  - id: reward-{kind:02d}", f"    on: reward_{kind:02d}", f"    points: {reward_points(kind)}",
                  "    category: reward"]
    for kind in range(DEDUCTION_TYPES):
        lines += [f"  - id: deduction-{kind:02d}", f"    on: deduction_{kind:02d}",
                  f"    points: {DEDUCTION_POINTS}", "    category: deduction"]
    lines += ["limits:", f"  - {{id: {CAP_ID}, kind: cap, scope: subject, window: day, categories: [reward], "
                         f"limit: {DAILY_CAP}}}"]
    return "\n".join(lines) + "\n"


# -- workload -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    id: str
    grid: str
    household: str


def community(residents: int, rng: random.Random) -> list[Resident]:
    """``residents`` people, 25 to a grid, each grid split into households of 1–4."""
    people: list[Resident] = []
    for grid_no in range(-(-residents // PER_GRID)):
        grid = f"g{grid_no:03d}"
        members = min(PER_GRID, residents - grid_no * PER_GRID)
        placed, household_no = 0, 0
        while placed < members:
            size = min(rng.randint(1, 4), members - placed)
            for _ in range(size):
                people.append(Resident(f"r{len(people):05d}", grid, f"{grid}-h{household_no:02d}"))
            placed += size
            household_no += 1
    return people


def generate_events(count: int, residents: Sequence[Resident], rng: random.Random) -> list[dict[str, Any]]:
    """``count`` events in time order over one week: random residents, 85 % rewards, uniform types."""
    moments = sorted(rng.randrange(DAYS * 86_400) for _ in range(count))
    events = []
    for n, offset in enumerate(moments):
        who = residents[rng.randrange(len(residents))]
        if rng.random() < REWARD_SHARE:
            kind = f"reward_{rng.randrange(REWARD_TYPES):02d}"
        else:
            kind = f"deduction_{rng.randrange(DEDUCTION_TYPES):02d}"
        events.append({
            "id": f"e{n:07d}", "type": kind, "subject": who.id, "grid": who.grid, "household": who.household,
            "occurred_at": (WEEK_START + timedelta(seconds=offset)).isoformat(), "attributes": {},
        })
    return events


def day_keys(events: Events, zone: ZoneInfo = SHANGHAI) -> list[tuple[str, date]]:
    """Each event's counter key, ``(subject, local day in zone)``: computed with the workload, never timed."""
    parse = datetime.fromisoformat
    return [(event["subject"], parse(event["occurred_at"]).astimezone(zone).date()) for event in events]


def batches(events: Events, size: int) -> Iterator[Events]:
    for start in range(0, len(events), size):
        yield events[start:start + size]


# -- the contenders -----------------------------------------------------------------------------------------


@dataclass
class Timing:
    """One timed run: CPU seconds (``process_time``, all threads) and wall seconds (``perf_counter``)."""

    cpu: float
    wall: float


class _Clock:
    """Starts both clocks on entry, stops them on exit; ``timing`` holds the result."""

    timing: Timing

    def __enter__(self) -> _Clock:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        cpu = time.process_time() - self._cpu
        wall = time.perf_counter() - self._wall
        self.timing = Timing(cpu, wall)


def run_bare(events: Events, keys: DayKeys) -> tuple[Timing, Balances, int]:
    """The bare loop: (timing, balances, rewards the cap cut)."""
    points_of = points_table()
    cap = DAILY_CAP
    used: dict[tuple[str, date], int] = {}
    balances: Balances = {}
    cut = 0
    with _Clock() as clock:
        for event, key in zip(events, keys, strict=True):
            points = points_of[event["type"]]
            if points > 0:
                before = used.get(key, 0)
                if points > cap - before:
                    points = max(cap - before, 0)
                    cut += 1
                used[key] = before + points
            subject = event["subject"]
            balances[subject] = balances.get(subject, 0) + points
    return clock.timing, balances, cut


def run_batched(policy: Policy, events: Events, batch: int) -> tuple[Timing, Engine]:
    """gridpoints ``submit_many`` in batches on a fresh memory store: (timing, the engine)."""
    engine = Engine(policy, store=MemoryStore())
    submit_many = engine.submit_many
    chunks = list(batches(events, batch))
    with _Clock() as clock:
        for chunk in chunks:
            submit_many(chunk)
    return clock.timing, engine


def run_single(policy: Policy, events: Events) -> tuple[Timing, Engine]:
    """gridpoints, one ``submit`` call per event on a fresh memory store: (timing, the engine)."""
    engine = Engine(policy, store=MemoryStore())
    submit = engine.submit
    with _Clock() as clock:
        for event in events:
            submit(event)
    return clock.timing, engine


def zen_graph(*, cap_in_graph: bool) -> dict[str, Any]:
    """The JDM graph: input → first-hit decision table of the 20 rules (→ cap expression) → output."""
    rows = [{"_id": f"row-{etype}", "in-type": json.dumps(etype), "out-points": str(points),
             "out-category": json.dumps("reward" if reward else "deduction")}
            for etype, (points, reward) in rule_table().items()]
    table = {
        "id": "rules", "type": "decisionTableNode", "name": "rules", "position": {"x": 200, "y": 0},
        "content": {
            "hitPolicy": "first", "rules": rows, "passThrough": cap_in_graph, "inputField": None,
            "outputPath": None, "executionMode": "single",
            "inputs": [{"id": "in-type", "name": "type", "field": "type"}],
            "outputs": [{"id": "out-points", "name": "points", "field": "points"},
                        {"id": "out-category", "name": "category", "field": "category"}],
        },
    }
    nodes: list[dict[str, Any]] = [
        {"id": "in", "type": "inputNode", "name": "event", "position": {"x": 0, "y": 0}}, table]
    if cap_in_graph:
        nodes.append({
            "id": "cap", "type": "expressionNode", "name": "cap", "position": {"x": 400, "y": 0},
            "content": {"passThrough": False, "inputField": None, "outputPath": None, "executionMode": "single",
                        "expressions": [{"id": "granted", "key": "granted", "value":
                                         "category == 'reward' ? min([points, max([cap - used, 0])]) : points"}]},
        })
    nodes.append({"id": "out", "type": "outputNode", "name": "decision", "position": {"x": 600, "y": 0}})
    edges = [{"id": f"edge-{a['id']}", "sourceId": a["id"], "targetId": b["id"], "type": "edge"}
             for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


@dataclass
class Zen:
    """One ``zen.ZenEngine`` with a static loader serving both graphs, made once for the whole process."""

    engine: Any
    loader_kind: str
    loader_calls: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, loader_kind: str) -> Zen:
        import zen

        graphs: dict[str, Any] = {ZEN_CAP_IN_GRAPH: json.dumps(zen_graph(cap_in_graph=True)),
                                  ZEN_TABLE_ONLY: json.dumps(zen_graph(cap_in_graph=False))}
        if loader_kind == "content":  # parsed and compiled once, here (the SDK docs' loader pattern)
            graphs = {key: zen.ZenDecisionContent(text) for key, text in graphs.items()}
        get = graphs.__getitem__

        def loader(key: str) -> Any:
            return get(key)

        made = cls(zen.ZenEngine({"loader": loader}), loader_kind)
        # Untimed: a first evaluation of each graph (anything lazy happens here), counting the loader's calls.
        def counting(key: str) -> Any:
            made.loader_calls.append(key)
            return get(key)

        probe = zen.ZenEngine({"loader": counting})
        for _ in range(2):
            for key in (ZEN_CAP_IN_GRAPH, ZEN_TABLE_ONLY):
                probe.evaluate(key, {"type": "reward_00", "used": 0, "cap": DAILY_CAP})
                made.engine.evaluate(key, {"type": "reward_00", "used": 0, "cap": DAILY_CAP})
        return made


def run_zen(zen: Zen, events: Events, keys: DayKeys, *, cap_in_graph: bool) -> tuple[Timing, Balances]:
    """zen-engine, ``engine.evaluate(key, context)`` per event: (timing, balances)."""
    evaluate = zen.engine.evaluate
    cap = DAILY_CAP
    used: dict[tuple[str, date], int] = {}
    balances: Balances = {}
    if cap_in_graph:
        graph = ZEN_CAP_IN_GRAPH
        with _Clock() as clock:
            for event, key in zip(events, keys, strict=True):
                # The graph needs the counter before it knows the category, so every event reads one.
                before = used.get(key, 0)
                granted = evaluate(graph, {"type": event["type"], "used": before, "cap": cap})["result"]["granted"]
                if granted > 0:
                    used[key] = before + granted
                subject = event["subject"]
                balances[subject] = balances.get(subject, 0) + granted
    else:
        graph = ZEN_TABLE_ONLY
        with _Clock() as clock:
            for event, key in zip(events, keys, strict=True):
                result = evaluate(graph, {"type": event["type"]})["result"]
                granted = result["points"]
                if result["category"] == "reward":
                    before = used.get(key, 0)
                    granted = min(granted, max(cap - before, 0))
                    used[key] = before + granted
                subject = event["subject"]
                balances[subject] = balances.get(subject, 0) + granted
    return clock.timing, balances


_durable_runs = 0


def run_durable(events: Events, keys: DayKeys) -> tuple[Timing, Balances]:
    """durable-rules, one ``post`` per event on a fresh ruleset: (timing, balances)."""
    from durable.lang import m, post, ruleset, when_all

    global _durable_runs
    _durable_runs += 1
    name = f"bench_throughput_{_durable_runs}"
    fired: list[tuple[int, bool]] = []

    def action(points: int, reward: bool) -> Callable[[Any], None]:
        def fire(_: Any) -> None:
            fired.append((points, reward))
        return fire

    with ruleset(name):
        for etype, (points, reward) in rule_table().items():
            when_all(m.type == etype)(action(points, reward))

    cap = DAILY_CAP
    used: dict[tuple[str, date], int] = {}
    balances: Balances = {}
    pop = fired.pop
    with _Clock() as clock:
        for event, key in zip(events, keys, strict=True):
            subject = event["subject"]
            # durable-rules refuses a message it has seen, by id: the event id is the natural one.
            post(name, {"id": event["id"], "type": event["type"], "subject": subject})
            points, reward = pop()
            if reward:
                before = used.get(key, 0)
                points = min(points, max(cap - before, 0))
                used[key] = before + points
            balances[subject] = balances.get(subject, 0) + points
    return clock.timing, balances


# -- reporting ----------------------------------------------------------------------------------------------


class Disagreement(AssertionError):
    """A contender's final balances differ from the bare loop's."""


def agree(label: str, expected: Balances, got: Balances, subjects: Sequence[str]) -> None:
    wrong = [s for s in subjects if expected.get(s, 0) != got.get(s, 0)]
    if wrong:
        sample = ", ".join(f"{s}: expected {expected.get(s, 0)}, got {got.get(s, 0)}" for s in wrong[:5])
        raise Disagreement(f"{label}: {len(wrong)} balances differ from the bare loop ({sample})")


@dataclass
class Measure:
    """One contender's timed runs over the rounds, for ``events`` events each."""

    label: str
    events: int
    runs: list[Timing] = field(default_factory=list)
    note: str = ""

    def cpu_rates(self) -> list[float]:
        return [self.events / max(t.cpu, 1e-9) for t in self.runs]

    def wall_rates(self) -> list[float]:
        return [self.events / max(t.wall, 1e-9) for t in self.runs]

    @property
    def cpu(self) -> float:
        """Median events/s of CPU time."""
        return statistics.median(self.cpu_rates())

    @property
    def wall(self) -> float:
        """Median events/s of wall time."""
        return statistics.median(self.wall_rates())

    @property
    def parallelism(self) -> float:
        """Median CPU seconds per wall second (above 1: more than one core busy)."""
        return statistics.median(t.cpu / max(t.wall, 1e-9) for t in self.runs)


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not available on this platform
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def print_table(measures: Sequence[Measure], repeat: int) -> None:
    print(f"\nthroughput (median of {repeat} interleaved round{'s' if repeat != 1 else ''}; "
          "CPU = process_time over all threads, wall = perf_counter):")
    print(f"  {'contender':<46} {'events/s (CPU)':>15} {'events/s (wall)':>16} {'CPU÷wall':>9}  "
          "per-round events/s (CPU)")
    for measure in measures:
        rounds = ", ".join(f"{rate:,.0f}" for rate in measure.cpu_rates())
        print(f"  {measure.label:<46} {measure.cpu:>15,.0f} {measure.wall:>16,.0f} {measure.parallelism:>9.2f}  "
              f"[{rounds}]{'  ' + measure.note if measure.note else ''}")


def verdict(ratio: float, target: float) -> str:
    return f"target ≥ {target} (CPU): {'met' if ratio >= target else 'NOT met'}"


def print_ratios(batched: Measure, single: Measure, bare: Measure, zens: Sequence[Measure],
                 durable: Measure | None) -> None:
    print("\nratios (gridpoints submit_many ÷ contender, from the medians):")
    print(f"  {'':<32} {'CPU':>8} {'wall':>8}")
    if zens:
        zen_cpu = max(zens, key=lambda m: m.cpu)
        zen_wall = max(zens, key=lambda m: m.wall)
        vs_zen_cpu, vs_zen_wall = batched.cpu / zen_cpu.cpu, batched.wall / zen_wall.wall
        which = (zen_cpu.label if zen_cpu is zen_wall
                 else f"CPU: {zen_cpu.label}; wall: {zen_wall.label}")
        print(f"  {'gridpoints ÷ zen-engine':<32} {vs_zen_cpu:>8.3f} {vs_zen_wall:>8.3f}   "
              f"{verdict(vs_zen_cpu, TARGET_VS_ZEN)}   (against the faster zen graph — {which})")
    else:
        print(f"  {'gridpoints ÷ zen-engine':<32} {'n/a':>8} {'n/a':>8}   target ≥ {TARGET_VS_ZEN} (CPU): "
              "not checked (zen-engine did not run)")
    vs_bare_cpu, vs_bare_wall = batched.cpu / bare.cpu, batched.wall / bare.wall
    print(f"  {'gridpoints ÷ bare loop':<32} {vs_bare_cpu:>8.3f} {vs_bare_wall:>8.3f}   "
          f"{verdict(vs_bare_cpu, TARGET_VS_BARE)}")
    if durable is not None:
        print(f"  {'gridpoints ÷ durable-rules':<32} {batched.cpu / durable.cpu:>8.3f} "
              f"{batched.wall / durable.wall:>8.3f}   (no target)")
    else:
        print(f"  {'gridpoints ÷ durable-rules':<32} {'n/a':>8} {'n/a':>8}   (durable-rules did not run)")
    print(f"  {'single submit ÷ bare loop':<32} {single.cpu / bare.cpu:>8.3f} {single.wall / bare.wall:>8.3f}   "
          "(no target)")
    if zens:
        print(f"  {'single submit ÷ zen-engine':<32} {single.cpu / zen_cpu.cpu:>8.3f} "
              f"{single.wall / zen_wall.wall:>8.3f}   (no target)")


def profile(policy: Policy, events: Events, batch: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run_batched(policy, events, batch)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n-- profile of submit_many, sorted by {order} --")
        print(out.getvalue().split("\n\n", 1)[-1].rstrip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, help="events in the workload (default 200000; 20000 with --quick)")
    parser.add_argument("--residents", type=int, default=10_000, help="residents, 25 to a grid (default 10000)")
    parser.add_argument("--seed", type=int, default=7, help="workload seed (default 7)")
    parser.add_argument("--batch", type=int, default=1_000, help="submit_many batch size (default 1000)")
    parser.add_argument("--single", type=int, help="events for the single-submit run (default 20000, "
                                                   "2000 with --quick)")
    parser.add_argument("--repeat", type=int, help="interleaved rounds; each measure's median is reported "
                                                   "(default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a 20k-event smoke run, one round")
    parser.add_argument("--no-comparators", action="store_true", help="skip zen-engine and durable-rules")
    parser.add_argument("--zen-loader", choices=["content", "json"], default="content",
                        help="what zen-engine's static loader returns: a ZenDecisionContent compiled once "
                             "(default; the SDK docs' fast path) or the graph's JSON text")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a comparator is skipped (not installed) or fails while running")
    parser.add_argument("--profile", action="store_true", help="also cProfile a batched gridpoints run")
    parser.add_argument("--profile-top", type=int, default=30, help="functions shown per profile order")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 20_000 if args.quick else 200_000
    if args.single is None:
        args.single = 2_000 if args.quick else 20_000
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    args.single = min(args.single, args.events)
    for name in ("events", "residents", "batch", "repeat", "single"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def _comparators(args: argparse.Namespace, problems: list[str]) -> tuple[Zen | None, bool]:
    """The zen engine (or None) and whether durable-rules can run, reporting what is skipped and why."""
    if args.no_comparators:
        print("zen-engine / durable-rules: skipped (--no-comparators)")
        problems.append("comparators skipped (--no-comparators)")
        return None, False
    zen: Zen | None = None
    try:
        import zen as zen_module
    except ImportError as exc:
        print(f"zen-engine: skipped — not installed ({exc}); pip install 'gridpoints[bench]'")
        problems.append("zen-engine not installed")
    else:
        zen = Zen.make(args.zen_loader)
        version = getattr(zen_module, "__version__", None) or _dist_version("zen-engine")
        loaded = "ZenDecisionContent compiled once" if args.zen_loader == "content" else "the graph's JSON text"
        print(f"zen-engine {version}: one ZenEngine({{'loader': …}}), evaluate(key, context) per event; the "
              f"loader returns {loaded} (it was called {len(zen.loader_calls)} times for 4 evaluations)")
    try:
        import durable.lang  # noqa: F401  (only checks the extra is installed and its C part loads)
    except ImportError as exc:
        print(f"durable-rules: skipped — cannot import it ({exc}). Its sdist compiles C when installed; "
              "if `pip install durable_rules` failed to build, its log has the compiler error")
        problems.append("durable-rules cannot be imported")
        return zen, False
    print(f"durable-rules {_dist_version('durable_rules')}: 20 when_all rules, one post per event")
    return zen, True


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "(version unknown)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average at the start: {load_average()}")
    rng = random.Random(args.seed)
    residents = community(args.residents, rng)
    events = generate_events(args.events, residents, rng)
    keys = day_keys(events)
    subset, subset_keys = events[:args.single], keys[:args.single]
    subjects = [r.id for r in residents]
    policy = gridpoints.load_ruleset(ruleset_text())
    grids = len({r.grid for r in residents})
    households = len({r.household for r in residents})
    print(f"workload: {len(events):,} events, 20 event types, {len(residents):,} residents in {grids} grids "
          f"({households:,} households), {DAYS} days in Asia/Shanghai, daily reward cap {DAILY_CAP}; "
          f"seed {args.seed}; Python {sys.version.split()[0]}; gridpoints {_dist_version('gridpoints')}")
    problems: list[str] = []
    zen, durable_ok = _comparators(args, problems)

    bare = Measure("bare loop (dict lookup + daily cap)", len(events))
    batched = Measure(f"gridpoints submit_many (batches of {args.batch:,})", len(events))
    single = Measure(f"gridpoints submit (single, first {len(subset):,})", len(subset))
    zens = [Measure("zen-engine (table + cap expression node)", len(events)),
            Measure("zen-engine (table; cap in Python)", len(events))] if zen is not None else []
    durable = Measure("durable-rules (20 rules; cap in Python)", len(events)) if durable_ok else None
    _, subset_balances, _ = run_bare(subset, subset_keys)

    try:
        for round_no in range(args.repeat):
            print(f"round {round_no + 1}/{args.repeat} …", flush=True)
            gc.collect()
            timing, bare_balances, cut = run_bare(events, keys)
            bare.runs.append(timing)
            bare.note = f"({cut:,} rewards cut by the cap)"

            gc.collect()
            timing, engine = run_batched(policy, events, args.batch)
            batched.runs.append(timing)
            batched.note = f"({engine.head().seq:,} ledger entries)"
            agree("gridpoints submit_many", bare_balances, engine.balances(subjects), subjects)
            del engine

            gc.collect()
            timing, engine = run_single(policy, subset)
            single.runs.append(timing)
            agree("gridpoints single submit", subset_balances, engine.balances(subjects), subjects)
            del engine

            if zen is not None:
                for measure, cap_in_graph in zip(zens, (True, False), strict=True):
                    gc.collect()
                    timing, balances = run_zen(zen, events, keys, cap_in_graph=cap_in_graph)
                    measure.runs.append(timing)
                    agree(measure.label, bare_balances, balances, subjects)

            if durable is not None:
                gc.collect()
                try:
                    timing, balances = run_durable(events, keys)
                except Exception as exc:  # a comparator's failure is reported (fatal only with --strict)
                    print(f"durable-rules: dropped — it failed while running: {type(exc).__name__}: {exc}")
                    problems.append(f"durable-rules failed: {type(exc).__name__}: {exc}")
                    durable = None
                else:
                    durable.runs.append(timing)
                    agree(durable.label, bare_balances, balances, subjects)
    except Disagreement as exc:
        print(f"\nbalances DISAGREE — {exc}", file=sys.stderr)
        print(f"load average at the end: {load_average()}")
        return 1

    measures = [bare, batched, single, *zens, *([durable] if durable is not None else [])]
    print_table(measures, args.repeat)
    print("\nbalances agree (gridpoints batched and single, and every comparator that ran, equal the bare loop, "
          "in every round)")
    print_ratios(batched, single, bare, zens, durable)
    print(f"\nload average at the end: {load_average()}")

    if args.profile:
        profile(policy, events, args.batch, args.profile_top)
    if args.strict and problems:
        print(f"--strict: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
