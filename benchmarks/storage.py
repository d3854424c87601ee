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
* the cost of a 10k-event batch as the ledger grows from 10k to ``--max-entries`` stored entries;
* SQLite's floor: the rows the SQLite run wrote (captured from a memory-store run of the same events, as
  the SQL store writes them), written again by plain ``sqlite3`` ``executemany`` into the same schema, in
  the same transactions, with nothing else to do — what the database itself needs for these rows, and the
  store's rate as a fraction of it.

Run ``python benchmarks/storage.py --help``. Targets: SQLite batched ≥ 50k events/s, PostgreSQL with
4 writers ≥ 10k events/s with caps exact, a flat cost per event from 10k to 1M entries.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
from gridpoints.model import GENESIS_HASH, CounterKey, Entry, EventRecord
from gridpoints.storage.sql._store import SQLStore, make_engine

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


# -- SQLite's floor -----------------------------------------------------------------------------------------

Append = tuple[str, list[Entry], dict[CounterKey, int], list[EventRecord]]


class _RecordingTransaction:
    def __init__(self, txn: Any, tenant: str, appends: list[Append]) -> None:
        self._txn, self._tenant, self._appends = txn, tenant, appends

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)

    def append(self, entries: Sequence[Entry], counter_deltas: Mapping[CounterKey, int],
               events: Sequence[EventRecord]) -> None:
        self._txn.append(entries, counter_deltas, events)
        self._appends.append((self._tenant, list(entries), dict(counter_deltas), list(events)))


class RecordingStore(MemoryStore):
    """A memory store that keeps what each transaction appends: the rows a SQL store writes, batch by batch."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[Append] = []

    @contextmanager
    def transaction(self, tenant: str, *, counters: Iterable[CounterKey] = (),
                    accounts: Iterable[str] = ()) -> Iterator[Any]:
        with super().transaction(tenant, counters=counters, accounts=accounts) as txn:
            yield _RecordingTransaction(txn, tenant, self.appends)


FLOOR_PARTS = ("entries", "events", "counters", "balances", "begin, head, commit")


def floor_rows(appends: Sequence[Append]) -> list[dict[str, Any]]:
    """Each transaction's rows as the SQL store writes them on SQLite: entries, event records (decision JSON
    and fingerprint computed here, outside the timing), counter deltas and balance moves (sorted, non-zero),
    and the head's move."""
    transactions = []
    for tenant, entries, deltas, records in appends:
        totals: dict[str, int] = defaultdict(int)
        for e in entries:
            totals[e.credit] += e.amount
            totals[e.debit] -= e.amount
        transactions.append({
            "tenant": tenant,
            "entries": [(e.tenant, e.seq, e.event_id, e.subject, e.debit, e.credit, e.amount, e.ruleset, e.rule,
                         e.reason, e.occurred_at, e.reverses, e.prev_hash, e.hash) for e in entries],
            "events": [(tenant, r.event_id, r.fingerprint, r.decision) for r in records],
            "counters": [(tenant, *k, d) for k, d in sorted(deltas.items()) if d],
            "balances": [(tenant, a, d) for a, d in sorted(totals.items()) if d],
            "head": (entries[-1].seq, entries[-1].hash, tenant, entries[0].seq - 1) if entries else None,
        })
    return transactions


def sqlite_floor(path: Path, transactions: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Seconds spent per part writing ``transactions`` with plain sqlite3 into a fresh gridpoints schema at
    ``path`` (WAL, SQLite's default synchronous, BEGIN IMMEDIATE per transaction, as the store runs it)."""
    SQLStore(f"sqlite:///{path}").close()  # the store's own schema: tables, indexes, triggers
    p = "gridpoints_"
    sql = {
        "entries": f"INSERT INTO {p}entries (tenant, seq, event_id, subject, debit, credit, amount, ruleset, rule, "
                   f"reason, occurred_at, reverses, prev_hash, hash) VALUES ({', '.join('?' * 14)})",
        "events": f"INSERT INTO {p}events (tenant, event_id, fingerprint, decision) VALUES (?, ?, ?, ?)",
        "counters": f'INSERT INTO {p}counters (tenant, scope, scope_id, metric, "window", value) '
                    f'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, scope, scope_id, metric, "window") '
                    f"DO UPDATE SET value = value + excluded.value",
        "balances": f"INSERT INTO {p}balances (tenant, account, balance) VALUES (?, ?, ?) "
                    f"ON CONFLICT (tenant, account) DO UPDATE SET balance = balance + excluded.balance",
    }
    spent = dict.fromkeys(FLOOR_PARTS, 0.0)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    clock = time.perf_counter
    for tx in transactions:
        began = clock()
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"INSERT INTO {p}chain_heads VALUES (?, 0, ?) ON CONFLICT DO NOTHING", (tx["tenant"], GENESIS_HASH))
        if tx["head"]:
            db.execute(f"UPDATE {p}chain_heads SET seq = ?, hash = ? WHERE tenant = ? AND seq = ?", tx["head"])
        spent["begin, head, commit"] += clock() - began
        for part in ("entries", "balances", "counters", "events"):
            if tx[part]:
                began = clock()
                db.executemany(sql[part], tx[part])
                spent[part] += clock() - began
        began = clock()
        db.execute("COMMIT")
        spent["begin, head, commit"] += clock() - began
    db.close()
    return spent


def digest(path: Path, tenant: str) -> str:
    """A hash of every row ``tenant`` has in the gridpoints tables at ``path``, in key order."""
    keys = {"chain_heads": "tenant", "entries": "seq", "events": "event_id", "balances": "account",
            "counters": 'scope, scope_id, metric, "window"'}
    h = hashlib.blake2b()
    db = sqlite3.connect(path)
    try:
        for table, key in keys.items():
            for row in db.execute(f"SELECT * FROM gridpoints_{table} WHERE tenant = ? ORDER BY {key}", (tenant,)):
                h.update(repr(row).encode())
    finally:
        db.close()
    return h.hexdigest()


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
            stored = digest(Path(directory) / "bench.db", "default")
            recorder = RecordingStore()
            batched_rate(Engine(policy(), recorder), events, args.batch)
            spent = sqlite_floor(Path(directory) / "floor.db", floor_rows(recorder.appends))
            floor = len(events) / sum(spent.values())
            report("SQLite floor: plain sqlite3, the same rows", floor, memory_rate)
            parts = ", ".join(f"{part} {seconds * 1e6 / len(events):.1f}" for part, seconds in spent.items())
            print(f"{'SQLite floor, µs per event':<44} {parts}")
            same = "the same rows" if digest(Path(directory) / "floor.db", "default") == stored else "DIFFERENT ROWS"
            print(f"{'SQLite store ÷ floor':<44} {rate / floor:10.2f}  ({same})")
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
