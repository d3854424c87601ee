"""Throughput benchmark: gridpoints against a bare Python loop, zen-engine and durable-rules.

The workload (deterministic for a seed): 20 event types — 14 rewards worth 5–20 points and 6 deductions of
−10 — for 10,000 residents in 400 grids (25 residents a grid, in households of 1–4), spread over one week
in Asia/Shanghai (times carry +08:00), with a daily reward cap of 50 points per resident. The ruleset
(20 rules with fixed points, one cap) is generated here as YAML text; the events are generated in memory,
as plain mappings with ISO 8601 times the way a host reads them from JSON, before anything is timed.

What is timed, each as events per second:

* gridpoints over a ``MemoryStore``: ``submit_many`` in batches (full decisions: traces, hash-chained
  ledger entries, counters, idempotency records), and single ``submit`` calls on a subset;
* a bare loop: a ``type → points`` dict, a counter per (resident, local day) and truncation to the cap.
  It parses each reward's time and converts it to Asia/Shanghai, because an event may carry any offset;
* zen-engine (``pip install 'gridpoints[bench]'``), twice: a JDM graph of a first-hit decision table with
  the 20 rules followed by an expression node that applies the cap from the counter value passed in the
  context (``granted = reward ? min(points, max(cap - used, 0)) : points``); and the decision table alone
  with the cap applied in Python after it. Python reads and adds the counters and balances either way.
  The faster of the two is the figure the ratio uses;
* durable-rules: a ruleset of 20 ``when_all(m.type == …)`` rules whose actions report the points; each event
  is posted (with its id) and the cap is applied in Python after the action ran.

Every run checks that the bare loop's final balances equal gridpoints' (and the comparators', when they ran)
and prints ``balances agree``. Targets (issue 2): gridpoints batched ≥ 2× zen-engine and ≥ 0.25× the bare
loop. ``--profile`` adds a cProfile of a batched gridpoints run.

Run ``python benchmarks/throughput.py --help``; ``--quick`` is a 20k-event smoke run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import pstats
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
TARGET_VS_ZEN = 2.0
TARGET_VS_BARE = 0.25

Events = Sequence[dict[str, Any]]
Balances = dict[str, int]


def reward_points(kind: int) -> int:
    """Points of reward type ``kind`` (0–13): spread evenly over 5–20."""
    return 5 + kind * 15 // (REWARD_TYPES - 1)


def rule_table() -> dict[str, tuple[int, bool]]:
    """``event type → (points, is a reward)``: the 20 rules as the comparators see them."""
    table = {f"reward_{k:02d}": (reward_points(k), True) for k in range(REWARD_TYPES)}
    table.update({f"deduction_{k:02d}": (DEDUCTION_POINTS, False) for k in range(DEDUCTION_TYPES)})
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


def batches(events: Events, size: int) -> Iterator[Events]:
    for start in range(0, len(events), size):
        yield events[start:start + size]


# -- the contenders -----------------------------------------------------------------------------------------


def run_batched(policy: Policy, events: Events, batch: int) -> tuple[float, Engine]:
    """gridpoints ``submit_many`` in batches on a fresh memory store: (events/s, the engine)."""
    engine = Engine(policy, store=MemoryStore())
    began = time.perf_counter()
    for chunk in batches(events, batch):
        engine.submit_many(chunk)
    return len(events) / (time.perf_counter() - began), engine


def run_single(policy: Policy, events: Events) -> tuple[float, Engine]:
    """gridpoints, one ``submit`` call per event on a fresh memory store: (events/s, the engine)."""
    engine = Engine(policy, store=MemoryStore())
    submit = engine.submit
    began = time.perf_counter()
    for event in events:
        submit(event)
    return len(events) / (time.perf_counter() - began), engine


def gridpoints_balances(engine: Engine, subjects: Sequence[str]) -> Balances:
    return engine.balances(subjects)


def run_bare(events: Events) -> tuple[float, Balances, int]:
    """The bare loop: (events/s, balances, rewards the cap cut)."""
    table = rule_table()
    used: dict[tuple[str, Any], int] = {}
    balances: Balances = {}
    cut = 0
    zone = SHANGHAI
    parse = datetime.fromisoformat
    began = time.perf_counter()
    for event in events:
        points, reward = table[event["type"]]
        subject = event["subject"]
        if reward:
            key = (subject, parse(event["occurred_at"]).astimezone(zone).date())
            before = used.get(key, 0)
            if points > DAILY_CAP - before:
                points = max(DAILY_CAP - before, 0)
                cut += 1
            used[key] = before + points
        balances[subject] = balances.get(subject, 0) + points
    return len(events) / (time.perf_counter() - began), balances, cut


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


def run_zen(events: Events, *, cap_in_graph: bool) -> tuple[float, Balances]:
    import zen

    decision = zen.ZenEngine().create_decision(json.dumps(zen_graph(cap_in_graph=cap_in_graph)))
    evaluate = decision.evaluate
    used: dict[tuple[str, Any], int] = {}
    balances: Balances = {}
    zone = SHANGHAI
    parse = datetime.fromisoformat
    began = time.perf_counter()
    if cap_in_graph:
        for event in events:
            subject = event["subject"]
            # The graph needs the counter before it knows the category, so every event reads one.
            key = (subject, parse(event["occurred_at"]).astimezone(zone).date())
            before = used.get(key, 0)
            granted = evaluate({"type": event["type"], "used": before, "cap": DAILY_CAP})["result"]["granted"]
            if granted > 0:
                used[key] = before + granted
            balances[subject] = balances.get(subject, 0) + granted
    else:
        for event in events:
            result = evaluate({"type": event["type"]})["result"]
            subject, granted = event["subject"], result["points"]
            if result["category"] == "reward":
                key = (subject, parse(event["occurred_at"]).astimezone(zone).date())
                before = used.get(key, 0)
                granted = min(granted, max(DAILY_CAP - before, 0))
                used[key] = before + granted
            balances[subject] = balances.get(subject, 0) + granted
    return len(events) / (time.perf_counter() - began), balances


_durable_runs = 0


def run_durable(events: Events) -> tuple[float, Balances]:
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

    used: dict[tuple[str, Any], int] = {}
    balances: Balances = {}
    zone = SHANGHAI
    parse = datetime.fromisoformat
    began = time.perf_counter()
    for event in events:
        # durable-rules refuses a message it has seen, by id: the event id is the natural one.
        post(name, {"id": event["id"], "type": event["type"], "subject": event["subject"]})
        points, reward = fired.pop()
        subject = event["subject"]
        if reward:
            key = (subject, parse(event["occurred_at"]).astimezone(zone).date())
            before = used.get(key, 0)
            points = min(points, max(DAILY_CAP - before, 0))
            used[key] = before + points
        balances[subject] = balances.get(subject, 0) + points
    return len(events) / (time.perf_counter() - began), balances


# -- reporting ----------------------------------------------------------------------------------------------


def best_of(repeat: int, run: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
    """The run with the highest rate (first element) of ``repeat`` runs."""
    return max((run() for _ in range(repeat)), key=lambda result: result[0])


def line(label: str, rate: float, note: str = "") -> None:
    print(f"  {label:<42} {rate:>12,.0f} events/s{'  ' + note if note else ''}")


def agree(label: str, expected: Balances, got: Balances, subjects: Sequence[str]) -> None:
    wrong = [s for s in subjects if expected.get(s, 0) != got.get(s, 0)]
    if wrong:
        sample = ", ".join(f"{s}: expected {expected.get(s, 0)}, got {got.get(s, 0)}" for s in wrong[:5])
        raise AssertionError(f"{label}: {len(wrong)} balances differ from the bare loop ({sample})")


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
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measure; the best counts (default 1)")
    parser.add_argument("--quick", action="store_true", help="a 20k-event smoke run")
    parser.add_argument("--no-comparators", action="store_true", help="skip zen-engine and durable-rules")
    parser.add_argument("--profile", action="store_true", help="also cProfile a batched gridpoints run")
    parser.add_argument("--profile-top", type=int, default=30, help="functions shown per profile order")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 20_000 if args.quick else 200_000
    if args.single is None:
        args.single = 2_000 if args.quick else 20_000
    args.single = min(args.single, args.events)
    for name in ("events", "residents", "batch", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    residents = community(args.residents, rng)
    events = generate_events(args.events, residents, rng)
    subjects = [r.id for r in residents]
    policy = gridpoints.load_ruleset(ruleset_text())
    grids = len({r.grid for r in residents})
    households = len({r.household for r in residents})
    print(f"workload: {len(events):,} events, 20 event types, {len(residents):,} residents in {grids} grids "
          f"({households:,} households), {DAYS} days in Asia/Shanghai, daily reward cap {DAILY_CAP}; "
          f"seed {args.seed}; Python {sys.version.split()[0]}")

    print(f"\nthroughput (best of {args.repeat}):")
    bare_rate, bare_balances, cut = best_of(args.repeat, lambda: run_bare(events))
    line("bare loop (dict lookup + daily cap)", bare_rate, f"({cut:,} rewards cut by the cap)")

    batched_rate, engine = best_of(args.repeat, lambda: run_batched(policy, events, args.batch))
    line(f"gridpoints submit_many (batches of {args.batch:,})", batched_rate,
         f"({engine.head().seq:,} ledger entries)")
    agree("gridpoints", bare_balances, gridpoints_balances(engine, subjects), subjects)
    del engine

    subset = events[:args.single]
    single_rate, single_engine = best_of(args.repeat, lambda: run_single(policy, subset))
    line(f"gridpoints submit (single, first {len(subset):,})", single_rate)
    _, subset_balances, _ = run_bare(subset)
    agree("gridpoints single submit", subset_balances, gridpoints_balances(single_engine, subjects), subjects)
    del single_engine

    zen_rate: float | None = None
    durable_rate: float | None = None
    if args.no_comparators:
        print("  zen-engine / durable-rules: skipped (--no-comparators)")
    else:
        try:
            import zen  # noqa: F401  (only checks the extra is installed)
        except ImportError as exc:
            print(f"  zen-engine: skipped — not installed ({exc}); pip install 'gridpoints[bench]'")
        else:
            for cap_in_graph, label in ((True, "zen-engine (table + cap expression node)"),
                                        (False, "zen-engine (table; cap in Python)")):
                rate, balances = best_of(args.repeat, lambda g=cap_in_graph: run_zen(events, cap_in_graph=g))
                agree(label, bare_balances, balances, subjects)
                line(label, rate)
                zen_rate = max(zen_rate or 0.0, rate)
        try:
            import durable.lang  # noqa: F401  (only checks the extra is installed and its C part loads)
        except ImportError as exc:
            print(f"  durable-rules: skipped — cannot import it ({exc}). Its sdist compiles C when installed; "
                  "if `pip install durable_rules` failed to build, its log has the compiler error")
        else:
            try:
                rate, balances = best_of(args.repeat, lambda: run_durable(events))
            except Exception as exc:  # a comparator's failure is reported, not fatal
                print(f"  durable-rules: skipped — it failed while running: {type(exc).__name__}: {exc}")
            else:
                agree("durable-rules", bare_balances, balances, subjects)
                line("durable-rules (20 rules; cap in Python)", rate)
                durable_rate = rate

    print("\nbalances agree (gridpoints batched and single, and every comparator that ran, equal the bare loop)")

    print("\nratios (gridpoints submit_many / other):")
    vs_bare = batched_rate / bare_rate
    print(f"  gridpoints/bare     {vs_bare:8.3f}   target ≥ {TARGET_VS_BARE}: "
          f"{'met' if vs_bare >= TARGET_VS_BARE else 'NOT met'}")
    if zen_rate is not None:
        vs_zen = batched_rate / zen_rate
        print(f"  gridpoints/zen      {vs_zen:8.3f}   target ≥ {TARGET_VS_ZEN}: "
              f"{'met' if vs_zen >= TARGET_VS_ZEN else 'NOT met'}  (against the faster zen variant)")
    else:
        print(f"  gridpoints/zen           n/a   target ≥ {TARGET_VS_ZEN}: not checked (zen-engine did not run)")
    if durable_rate is not None:
        print(f"  gridpoints/durable  {batched_rate / durable_rate:8.3f}   (no target)")
    else:
        print("  gridpoints/durable       n/a   (durable-rules did not run)")
    print(f"  single submit/bare  {single_rate / bare_rate:8.3f}   single submit/zen "
          + (f"{single_rate / zen_rate:.3f}" if zen_rate else "n/a"))

    if args.profile:
        profile(policy, events, args.batch, args.profile_top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
