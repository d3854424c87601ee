"""What sealing costs on the SQL store: records unsealed, sealed unkeyed and sealed keyed, on SQLite and
PostgreSQL, one process.

Three variants of the same store:

* ``unsealed``: the SQL store told not to seal records (a subclass declaring
  ``capabilities.seals_records=False`` and ``seals_head=False``, so the engine writes records without seals
  and leaves the records' chain and the head row's MAC alone; the entries' hash chain is always there);
* ``sealed``: the SQL store as shipped, records sealed onto the records' chain and the head row MAC'd,
  unkeyed BLAKE2b;
* ``keyed``: the same with a sealing key (BLAKE2b's keyed mode).

The workload is the notices benchmark's kind: 6 rewards (5–20 points) and 2 deductions with a daily reward
cap, ``--events`` events for 2,000 residents over a week, as plain mappings made before anything is timed,
submitted with ``submit_many`` in batches of ``--batch``; then ``--single`` events submitted one by one.
Each round runs every variant on a fresh schema (a new SQLite file; new PostgreSQL tables, dropped after), in
an order rotated each round; the table shows medians over ``--repeat`` rounds of CPU time
(``time.process_time``: this process only, not the PostgreSQL server) and wall time, and the ratios to
``sealed``. Run ``python benchmarks/sealed.py``; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from notices import RULESET, events  # the notices benchmark's workload, next to this file
from service import drop

import gridpoints
from gridpoints.storage.sql import SQLStore

KEY = b"benchmark sealing key, 32 bytes!"
VARIANTS = ("unsealed", "sealed", "keyed")
POSTGRES_URL = os.environ.get("GRIDPOINTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class UnsealedSQLStore(SQLStore):
    """The SQL store declaring that it does not seal records: the engine then writes them without seals."""

    capabilities = attrs.evolve(SQLStore.capabilities, seals_records=False, seals_head=False)


def workload(count: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    """The notices benchmark's events, with ids of their own (``prefix`` tells batches from single submits)."""
    return [{**event, "id": f"{prefix}{n}"} for n, event in enumerate(events(count, seed))]


@attrs.frozen
class Timing:
    batch_cpu: float
    batch_wall: float
    single_cpu: float
    single_wall: float


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def run(policy: gridpoints.Policy, store: SQLStore, variant: str, batch: list[dict[str, Any]],
        single: list[dict[str, Any]], size: int) -> Timing:
    engine = gridpoints.Engine(policy, store, seal_key=KEY if variant == "keyed" else None)

    def batches() -> None:
        for start in range(0, len(batch), size):
            engine.submit_many(batch[start:start + size])

    def singles() -> None:
        for event in single:
            engine.submit(event)

    batch_cpu, batch_wall = _timed(batches)
    single_cpu, single_wall = _timed(singles)
    return Timing(batch_cpu, batch_wall, single_cpu, single_wall)


def _store(variant: str, bind: str | sa.Engine, prefix: str) -> SQLStore:
    kind = UnsealedSQLStore if variant == "unsealed" else SQLStore
    return kind(bind, table_prefix=prefix)


def measure(backend: str, policy: gridpoints.Policy, args: argparse.Namespace, folder: Path,
            postgres: sa.Engine | None) -> dict[str, list[Timing]]:
    figures: dict[str, list[Timing]] = {v: [] for v in VARIANTS}
    batch = workload(args.events, args.seed, "b")
    single = workload(args.single, args.seed + 1, "s")
    for round_ in range(args.repeat):
        shift = round_ % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            prefix = f"gpbench{uuid.uuid4().hex[:8]}_"
            if backend == "sqlite":
                store = _store(variant, f"sqlite:///{folder / (prefix + 'db')}", prefix)
            else:
                assert postgres is not None
                store = _store(variant, postgres, prefix)
            try:
                figures[variant].append(run(policy, store, variant, batch, single, args.batch))
            finally:
                store.close()
                if postgres is not None and backend == "postgresql":
                    drop(args.postgres, prefix)
    return figures


def report(backend: str, figures: dict[str, list[Timing]], args: argparse.Namespace) -> None:
    def median(variant: str, field: str) -> float:
        return statistics.median(getattr(t, field) for t in figures[variant])

    print(f"\n{backend}: {args.events} events in batches of {args.batch}, then {args.single} single submits; "
          f"{args.repeat} rounds (medians)")
    print(f"{'variant':<10}{'batch CPU s':>12}{'batch wall s':>13}{'single CPU ms':>14}{'single wall ms':>15}"
          f"{'CPU ÷ sealed':>13}{'wall ÷ sealed':>14}")
    base_cpu = median("sealed", "batch_cpu")
    base_wall = median("sealed", "batch_wall")
    for variant in VARIANTS:
        cpu, wall = median(variant, "batch_cpu"), median(variant, "batch_wall")
        one_cpu = median(variant, "single_cpu") / max(args.single, 1) * 1000
        one_wall = median(variant, "single_wall") / max(args.single, 1) * 1000
        print(f"{variant:<10}{cpu:>12.3f}{wall:>13.3f}{one_cpu:>14.2f}{one_wall:>15.2f}"
              f"{cpu / base_cpu:>13.2f}{wall / base_wall:>14.2f}")
    for field, label in (("batch_cpu", "batch CPU"), ("single_cpu", "single CPU")):
        keyed = median("keyed", field) / median("sealed", field)
        unsealed = median("unsealed", field) / median("sealed", field)
        print(f"{label}: keyed ÷ sealed {keyed:.2f}, unsealed ÷ sealed {unsealed:.2f}")


def _postgres(url: str) -> sa.Engine | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        print(f"postgresql: skipped, {url} is unreachable ({exc.orig})")
        engine.dispose()
        return None
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="The PostgreSQL URL (SQLAlchemy form).")
    args = parser.parse_args()
    wanted = [b for b in args.backends.split(",") if b]
    unknown = set(wanted) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    policy = gridpoints.load_ruleset(RULESET)
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as folder:
        for backend in wanted:
            postgres = _postgres(args.postgres) if backend == "postgresql" else None
            if backend == "postgresql" and postgres is None:
                continue
            try:
                report(backend, measure(backend, policy, args, Path(folder), postgres), args)
            finally:
                if postgres is not None:
                    postgres.dispose()
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
