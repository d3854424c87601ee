"""Storage benchmark: the core workload through the memory, SQLite and PostgreSQL stores.

The workload is the core benchmark's (``benchmarks/throughput.py``, imported): 20 event types (14 rewards
worth 5–20 points, 6 deductions of −10), 10,000 residents in 400 grids, a daily reward cap of 50 per
resident, events spread over one week. It measures

* batched throughput (``submit_many``) on the memory store, SQLite and PostgreSQL, each as a ratio to the
  memory store in the same run;
* p50 / p99 latency of single ``submit`` calls on each store;
* PostgreSQL with 4 writer processes (spawned, released together by a barrier), each submitting batches
  for a disjoint quarter of the events: once on ONE tenant (one chain head, which serialises the writers)
  and once on 4 tenants, one per writer; the daily caps are checked exactly afterwards;
* the cost of a 10k-event batch as the ledger grows from 10k to ``--max-entries`` stored entries.

Run ``python benchmarks/storage.py --help``. Targets: SQLite batched ≥ 50k events/s, PostgreSQL with
4 writers ≥ 10k events/s with caps exact, a flat cost per event from 10k to 1M entries.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from throughput import (  # the core benchmark's workload, next to this file
    CAP_ID,
    DAILY_CAP,
    DEDUCTION_TYPES,
    PER_GRID,
    REWARD_TYPES,
    SHANGHAI,
    batches,
    community,
    generate_events,
    reward_points,
    ruleset_text,
)

import gridpoints
from gridpoints import Engine, MemoryStore, Policy, Store
from gridpoints.model import CounterKey
from gridpoints.storage.sql import SQLStore, make_engine

RESIDENTS = 10_000
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def policy() -> Policy:
    return gridpoints.load_ruleset(ruleset_text())


def events_for(count: int, *, seed: int = 7, prefix: str = "e", weeks_later: int = 0) -> list[dict[str, Any]]:
    """``count`` events of the core benchmark's workload (its generator), ids prefixed with ``prefix`` and
    moved ``weeks_later`` weeks on (so a growing ledger is not made of awards its full caps refuse)."""
    rng = random.Random(seed)
    events = generate_events(count, community(RESIDENTS, rng), rng)
    for event in events:
        if prefix != "e":
            event["id"] = prefix + event["id"]
        if weeks_later:
            moment = datetime.fromisoformat(event["occurred_at"]) + timedelta(weeks=weeks_later)
            event["occurred_at"] = moment.isoformat()
    return events


def batched_rate(engine: Engine, events: Sequence[dict[str, Any]], batch: int) -> float:
    """Events per second through ``submit_many`` in batches of ``batch``."""
    began = time.perf_counter()
    for chunk in batches(events, batch):
        engine.submit_many(chunk)
    return len(events) / (time.perf_counter() - began)


def latencies(engine: Engine, events: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """p50 and p99 of single ``submit`` calls, in milliseconds."""
    times = []
    for event in events:
        began = time.perf_counter()
        engine.submit(event)
        times.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def check_caps(store: Store, tenant: str, events: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(resident-days checked, violations): each resident-day's awarded reward points must be exactly
    min(cap, points requested) — order-independent under a truncating cap — and its counter must agree."""
    requested: dict[tuple[str, str], int] = defaultdict(int)
    day_of: dict[str, tuple[str, str]] = {}
    for event in events:
        if event["type"].startswith("reward_"):
            day = datetime.fromisoformat(event["occurred_at"]).astimezone(SHANGHAI).date().isoformat()
            key = (event["subject"], day)
            requested[key] += reward_points(int(event["type"][-2:]))
            day_of[event["id"]] = key
    granted: dict[tuple[str, str], int] = defaultdict(int)
    for entry in store.entries(tenant):
        if entry.reason == "award":
            granted[day_of[entry.event_id]] += entry.amount
    counters = store.counters(tenant, [CounterKey("subject", s, CAP_ID, d) for s, d in requested])
    violations = 0
    for (subject, day), wanted in requested.items():
        exact = min(DAILY_CAP, wanted)
        if granted[subject, day] != exact or counters[CounterKey("subject", subject, CAP_ID, day)] != exact:
            violations += 1
    return len(requested), violations


# -- PostgreSQL writers in separate processes ---------------------------------------------------------------


def _writer(url: str, prefix: str, tenant: str, events: list[dict[str, Any]], batch: int,
            barrier: Any, results: Any) -> None:
    store = SQLStore(url, table_prefix=prefix)
    engine = Engine(policy(), store, tenant=tenant)
    barrier.wait()
    began = time.time()
    for chunk in batches(events, batch):
        engine.submit_many(chunk)
    results.put((began, time.time()))
    store.close()


def parallel_rate(url: str, prefix: str, tenants: Sequence[str], events: Sequence[dict[str, Any]],
                  batch: int) -> float:
    """Events per second of ``len(tenants)`` writer processes, writer i taking the i-th quarter of the
    events (contiguous in time) into ``tenants[i]``; timed from the barrier to the last writer's end."""
    context = multiprocessing.get_context("spawn")
    writers = len(tenants)
    barrier = context.Barrier(writers)
    results = context.Queue()
    share = -(-len(events) // writers)
    processes = [
        context.Process(target=_writer, args=(url, prefix, tenant, list(events[i * share:(i + 1) * share]),
                                              batch, barrier, results))
        for i, tenant in enumerate(tenants)
    ]
    for process in processes:
        process.start()
    spans = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a writer exited with {process.exitcode}")
    return len(events) / (max(end for _, end in spans) - min(start for start, _ in spans))


# -- ledger growth ----------------------------------------------------------------------------------------


def growth(engine: Engine, max_entries: int, batch: int, levels: Sequence[int]) -> Iterator[tuple[int, float]]:
    """(stored entries, µs per event) of a 10k-event batch timed as the ledger reaches each level; the
    ledger is filled with the same workload, a week of events at a time."""
    week = 0
    for level in levels:
        if level > max_entries:
            return
        while engine.head().seq < level:
            week += 1
            fill = events_for(min(100_000, level - engine.head().seq + 1), seed=week, prefix=f"f{week}-",
                              weeks_later=week)
            for chunk in batches(fill, batch):
                engine.submit_many(chunk)
        week += 1
        probe = events_for(10_000, seed=week, prefix=f"p{week}-", weeks_later=week)
        rate = batched_rate(engine, probe, batch)
        yield engine.head().seq, 1e6 / rate


# -- the run --------------------------------------------------------------------------------------------


def report(name: str, rate: float, memory_rate: float, target: float | None = None) -> None:
    verdict = "" if target is None else (f"  target ≥ {target:,.0f}: " + ("met" if rate >= target else "MISSED"))
    print(f"{name:<44} {rate:>10,.0f} events/s  {rate / memory_rate:6.2f}× memory{verdict}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the batched runs")
    parser.add_argument("--batch", type=int, default=1_000, help="events per submit_many batch")
    parser.add_argument("--singles", type=int, default=2_000, help="single submits timed for latency")
    parser.add_argument("--writers", type=int, default=4, help="PostgreSQL writer processes")
    parser.add_argument("--max-entries", type=int, default=100_000,
                        help="grow the ledger to this many entries for the flat-cost check (1,000,000 is the goal)")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL)
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgresql", "growth"])
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:8]
    events = events_for(args.events)
    singles = events_for(args.singles, seed=99, prefix="s")
    levels = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000]
    print(f"workload: {args.events:,} events, {REWARD_TYPES} reward and {DEDUCTION_TYPES} deduction types, "
          f"{RESIDENTS:,} residents, {RESIDENTS // PER_GRID} grids, daily cap {DAILY_CAP}; batches of {args.batch:,}")

    memory = Engine(policy(), MemoryStore())
    memory_rate = batched_rate(memory, events, args.batch)
    report("memory, submit_many", memory_rate, memory_rate)
    p50, p99 = latencies(Engine(policy(), MemoryStore()), singles)
    print(f"{'memory, single submit latency':<44} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")

    with tempfile.TemporaryDirectory() as directory:
        if "sqlite" not in args.skip:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            store = SQLStore(url)
            rate = batched_rate(Engine(policy(), store), events, args.batch)
            report("SQLite, submit_many", rate, memory_rate, 50_000)
            checked, violations = check_caps(store, "default", events)
            print(f"{'SQLite caps':<44} {checked:,} resident-days, {violations} violations")
            p50, p99 = latencies(Engine(policy(), store, tenant="singles"), singles)
            print(f"{'SQLite, single submit latency':<44} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
            store.close()
            if "growth" not in args.skip:
                store = SQLStore(f"sqlite:///{Path(directory) / 'growth.db'}")
                for entries, cost in growth(Engine(policy(), store), args.max_entries, args.batch, levels):
                    print(f"{'SQLite, 10k batch at ledger size':<44} {entries:>10,} entries  {cost:7.1f} µs/event")
                store.close()

    if "postgresql" not in args.skip:
        url, prefix = args.postgres_url, f"bench{run}_"
        store = SQLStore(url, table_prefix=prefix)
        try:
            rate = batched_rate(Engine(policy(), store, tenant="solo"), events, args.batch)
            report("PostgreSQL, 1 writer, submit_many", rate, memory_rate)
            p50, p99 = latencies(Engine(policy(), store, tenant="singles"), singles)
            print(f"{'PostgreSQL, single submit latency':<44} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
            one = [f"shared-{run}"]
            rate = parallel_rate(url, prefix, one * args.writers, events, args.batch)
            report(f"PostgreSQL, {args.writers} writers, one tenant", rate, memory_rate, 10_000)
            checked, violations = check_caps(store, one[0], events)
            print(f"{'PostgreSQL one tenant caps':<44} {checked:,} resident-days, {violations} violations")
            tenants = [f"w{i}-{run}" for i in range(args.writers)]
            rate = parallel_rate(url, prefix, tenants, events, args.batch)
            report(f"PostgreSQL, {args.writers} writers, {args.writers} tenants", rate, memory_rate, 10_000)
            share = -(-len(events) // args.writers)
            results = [check_caps(store, t, events[i * share:(i + 1) * share]) for i, t in enumerate(tenants)]
            print(f"{'PostgreSQL per-tenant caps':<44} {sum(c for c, _ in results):,} resident-days, "
                  f"{sum(v for _, v in results)} violations")
            if "growth" not in args.skip:
                for entries, cost in growth(Engine(policy(), store, tenant="growth"), args.max_entries, args.batch,
                                            levels):
                    print(f"{'PostgreSQL, 10k batch at ledger size':<44} {entries:>10,} entries  "
                          f"{cost:7.1f} µs/event")
        finally:
            store.close()
            engine = make_engine(url)
            with engine.begin() as conn:
                for table in ("entries", "balances", "counters", "events", "chain_heads", "schema_version"):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}{table} CASCADE")
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {prefix}entries_append_only() CASCADE")
            engine.dispose()


if __name__ == "__main__":
    main()
