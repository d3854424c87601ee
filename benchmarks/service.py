"""Service load test: N concurrent clients against ``gridpoints serve`` on 127.0.0.1 for a fixed time.

Two phases in one run, on the same PostgreSQL database (own table prefixes, dropped afterwards):

1. the library's own rate: ``--writers`` processes (4), each an ``Engine`` on the SQL store, calling
   ``engine.submit`` one event at a time on one tenant for ``--seconds``;
2. the service: ``gridpoints serve`` with ``--workers`` uvicorn workers (4), and ``--clients`` client
   processes, each with one keep-alive ``httpx`` connection, looping for ``--seconds``: 70 % submits, half
   of them retries of an event the client sent before (same body: must answer the original decision),
   30 % reads (a balance, or a decision with its explanation).

Afterwards it proves, through the store: every subject's balance equals what the daily cap allows for
the distinct events sent (caps exact), no event has more than one entry and no entry belongs to an event
nobody sent (no duplicates), every retry answered the original's points, and ``verify`` is ok. It prints
requests/s, p50/p99 latency, CPU time (every process of the phase: clients, server workers) beside wall
time, and the ratio to the library's rate. Target: service submits/s ≥ 0.5 × the library's 4-writer
``submit`` rate. Note the machine's load (``uptime``) beside the figures.

Run ``python benchmarks/service.py --help``. Needs the ``server`` and ``postgres`` extras and a PostgreSQL
at ``--url`` (default 127.0.0.1:5432, db ``test``). Only 127.0.0.1 is ever contacted; every loop is bounded
by time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData

import gridpoints
from gridpoints.audit import verify
from gridpoints.server import hash_token
from gridpoints.storage.sql import SQLStore, make_engine

DEFAULT_URL = os.environ.get("GRIDPOINTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TENANT = "bench"
TOKEN = "bench-platform-token"
SUBJECTS = 2000
DAYS = 28
POINTS, CAP = 20, 50
RULESET = f"""\
ruleset: service-bench
version: 1
name: 服务压测细则
timezone: Asia/Shanghai
community: c1
events:
  patrol:
    attributes:
      hours: {{type: number, min: 0, max: 24, required: true}}
rules:
  - id: patrol
    name: 邻里守望巡逻
    on: patrol
    points: {{per: hours, each: 10, max_units: 4}}
limits:
  - {{id: daily-reward, kind: cap, scope: subject, window: day, categories: [reward], limit: {CAP}}}
"""


def event(event_id: str, rng: random.Random) -> dict[str, Any]:
    subject = f"r{rng.randrange(SUBJECTS)}"
    return {"id": event_id, "type": "patrol", "subject": subject, "grid": f"g{int(subject[1:]) % 40}",
            "occurred_at": f"2026-04-{1 + rng.randrange(DAYS):02d}T19:00:00+08:00", "attributes": {"hours": 2}}


def _cpu_children() -> float:
    times = os.times()
    return times.children_user + times.children_system


# -- phase 1: the library ------------------------------------------------------------------------------------


def _library_writer(url: str, prefix: str, ruleset: str, writer: int, seconds: float, barrier: Any,
                    results: Any) -> None:
    store = SQLStore(url, table_prefix=prefix)
    engine = gridpoints.Engine(gridpoints.load_ruleset(ruleset), store=store, tenant=TENANT)
    rng = random.Random(writer)
    barrier.wait()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        engine.submit(event(f"lib-{writer}-{count}", rng))
        count += 1
    results.put((writer, count))
    store.close()


def library_rate(url: str, prefix: str, ruleset: str, writers: int, seconds: float) -> tuple[float, float, float]:
    """Events/s of ``writers`` processes calling ``submit``; with the wall and CPU seconds of the phase."""
    SQLStore(url, table_prefix=prefix).close()  # the schema, before the writers race to create it
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(writers + 1), context.Queue()
    processes = [context.Process(target=_library_writer, args=(url, prefix, ruleset, i, seconds, barrier, results))
                 for i in range(writers)]
    cpu = _cpu_children()
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    counts = [results.get(timeout=seconds + 120)[1] for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join(60)
    return sum(counts) / wall, wall, _cpu_children() - cpu


# -- phase 2: the service ------------------------------------------------------------------------------------


def _client(base: str, client: int, seconds: float, barrier: Any, results: Any) -> None:
    rng = random.Random(1000 + client)
    sent: list[tuple[dict[str, Any], int]] = []
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    mismatched = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            roll = rng.random()
            began = time.perf_counter()
            if roll < 0.35 or not sent:
                body = event(f"svc-{client}-{len(sent)}", rng)
                response = http.post(f"/v1/{TENANT}/events", json=body)
                kind = "submit"
                if response.status_code == 200:
                    sent.append((body, response.json()["points"]))
            elif roll < 0.70:
                body, points = sent[rng.randrange(len(sent))]
                response = http.post(f"/v1/{TENANT}/events", json=body)
                kind = "retry"
                if response.status_code != 200 or response.json()["points"] != points \
                        or response.headers.get("idempotent-replayed") != "true":
                    mismatched += 1
            elif roll < 0.85:
                body, _ = sent[rng.randrange(len(sent))]
                response = http.get(f"/v1/{TENANT}/subjects/{body['subject']}/balance")
                kind = "balance"
            else:
                body, _ = sent[rng.randrange(len(sent))]
                response = http.get(f"/v1/{TENANT}/events/{body['id']}", params={"lang": "en"})
                kind = "decision"
            latencies.append(time.perf_counter() - began)
            statuses[f"{kind} {response.status_code}"] += 1
    results.put({"client": client, "sent": [b for b, _ in sent], "latencies": latencies,
                 "statuses": dict(statuses), "mismatched": mismatched})


def _start(url: str, prefix: str, ruleset: str, workers: int, tmp: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    keys = tmp / "keys.json"
    keys.write_text(json.dumps([{"name": "bench", "sha256": hash_token(TOKEN), "tenant": TENANT,
                                 "roles": ["platform"]}]), encoding="utf-8")
    log = tmp / "serve.log"
    handle = log.open("wb")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="gp-bench-metrics-")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from gridpoints.cli import main; main()", "serve", ruleset, "--store", url,
         "--table-prefix", prefix, "--tenant", TENANT, "--keys", str(keys), "--port", "0", "--workers",
         str(workers)], stdout=handle, stderr=subprocess.STDOUT, env=env)
    handle.close()
    base = None
    deadline = time.monotonic() + 120
    while base is None and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gridpoints serve exited:\n{log.read_text()}")
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        base = found.group(1) if found else None
        time.sleep(0.1)
    if base is None:
        process.kill()
        raise RuntimeError(f"gridpoints serve did not start:\n{log.read_text()}")
    ready = 0
    while ready < workers * 4 and time.monotonic() < deadline:  # let every worker load and answer
        try:
            ready += httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            time.sleep(0.1)
    return process, base, log


def service_run(url: str, prefix: str, ruleset: str, workers: int, clients: int, seconds: float,
                tmp: Path) -> dict[str, Any]:
    SQLStore(url, table_prefix=prefix).close()
    cpu = _cpu_children()
    server, base, log = _start(url, prefix, ruleset, workers, tmp)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=_client, args=(base, i, seconds, barrier, results)) for i in range(clients)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    outcomes = [results.get(timeout=seconds + 300) for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join(60)
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    return {"outcomes": outcomes, "wall": wall, "cpu": _cpu_children() - cpu, "metrics": metrics, "log": log}


def prove(url: str, prefix: str, ruleset: str, outcomes: list[dict[str, Any]]) -> list[str]:
    """Caps exact, no duplicates, retries answered the original, verify ok: the list of failures."""
    failures = []
    store = SQLStore(url, table_prefix=prefix)
    engine = gridpoints.Engine(gridpoints.load_ruleset(ruleset), store=store, tenant=TENANT)
    sent = {body["id"]: body for outcome in outcomes for body in outcome["sent"]}
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for body in sent.values():
        per_day[body["subject"]][body["occurred_at"][:10]] += 1
    expected = {s: sum(min(CAP, POINTS * n) for n in days.values()) for s, days in per_day.items()}
    balances = engine.balances(sorted(expected))
    wrong = {s: (balances[s], want) for s, want in expected.items() if balances[s] != want}
    if wrong:
        failures.append(f"caps: {len(wrong)} subjects' balances differ from the cap's arithmetic, e.g. "
                        f"{next(iter(wrong.items()))}")
    per_event = Counter(entry.event_id for entry in store.entries(TENANT))
    doubled = [e for e, n in per_event.items() if n > 1]
    strangers = [e for e in per_event if e not in sent]
    if doubled or strangers:
        failures.append(f"duplicates: {len(doubled)} events with more than one entry, {len(strangers)} unknown")
    missing = sum(engine.decision(event_id) is None for event_id in list(sent)[:500])
    if missing:
        failures.append(f"{missing} of the first 500 acknowledged events have no record")
    mismatched = sum(o["mismatched"] for o in outcomes)
    if mismatched:
        failures.append(f"{mismatched} retries did not answer the original decision")
    report = verify(store, TENANT)
    if not report.ok:
        failures.append(f"verify: {report.summary()}")
    store.close()
    return failures


def drop(url: str, prefix: str) -> None:
    engine = make_engine(url)
    metadata = MetaData()
    metadata.reflect(engine, only=lambda name, _meta: name.startswith(prefix))
    metadata.drop_all(engine)
    with engine.begin() as conn:
        for name in conn.exec_driver_sql("SELECT proname FROM pg_proc").scalars().all():
            if name.startswith(prefix):
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}() CASCADE")
    engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=4, help="uvicorn workers")
    parser.add_argument("--writers", type=int, default=4, help="library writer processes")
    args = parser.parse_args(argv)
    stem = f"gpb{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        ruleset = str(tmp / "bench.yaml")
        Path(ruleset).write_text(RULESET, encoding="utf-8")
        print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
              f"(1/5/15 min), {os.cpu_count()} cores")
        try:
            library, lib_wall, lib_cpu = library_rate(args.url, f"{stem}l_", ruleset, args.writers, args.seconds)
            print(f"library, {args.writers} writers, submit: {library:,.0f} events/s "
                  f"(wall {lib_wall:.1f} s, CPU {lib_cpu:.1f} s)")
            run = service_run(args.url, f"{stem}s_", ruleset, args.workers, args.clients, args.seconds, tmp)
            failures = prove(args.url, f"{stem}s_", ruleset, run["outcomes"])
        finally:
            for suffix in ("l_", "s_"):
                drop(args.url, f"{stem}{suffix}")
    outcomes, wall = run["outcomes"], run["wall"]
    statuses: Counter[str] = Counter()
    for outcome in outcomes:
        statuses.update(outcome["statuses"])
    latencies = [latency for outcome in outcomes for latency in outcome["latencies"]]
    requests = len(latencies)
    submits = sum(n for k, n in statuses.items() if k.startswith(("submit ", "retry ")))
    fresh = sum(len(o["sent"]) for o in outcomes)
    errors = {k: n for k, n in statuses.items() if not k.endswith(" 200")}
    retries = re.search(r"^gridpoints_serialization_retries_total (\S+)", run["metrics"], re.MULTILINE)
    print(f"service, {args.workers} workers, {args.clients} clients, {args.seconds:.0f} s: "
          f"{requests / wall:,.0f} requests/s ({submits / wall:,.0f} submits/s of which {fresh / wall:,.0f} "
          f"new events/s; reads and retries the rest), p50 {_percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms (wall {wall:.1f} s, CPU {run['cpu']:.1f} s)")
    print(f"  by kind: {dict(sorted(statuses.items()))}; non-200: {errors or 'none'}; serialization retries "
          f"{retries.group(1) if retries else '?'}")
    ratio = submits / wall / library
    print(f"  submits/s vs library submit: {ratio:.2f}x (target >= 0.5x): {'met' if ratio >= 0.5 else 'NOT met'}; "
          f"new events/s vs library: {fresh / wall / library:.2f}x")
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if failures or errors:
        for failure in failures:
            print(f"FAILED {failure}")
        return 1
    print("caps exact, no duplicates, retries answered the original decision, verify ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
