"""Service load test: N concurrent clients against ``gridpoints serve`` on 127.0.0.1 for a fixed time.

Two kinds of timed phase, interleaved for ``--rounds`` rounds in one run, on the same PostgreSQL database
(own table prefixes, dropped afterwards; the server is started once, before the first round):

1. the library's own rate: ``--writers`` processes (4), each an ``Engine`` on the SQL store, calling
   ``engine.submit`` one event at a time on one tenant for ``--seconds``;
2. the service: ``gridpoints serve`` with ``--workers`` uvicorn workers (4), and ``--clients`` client
   processes, each with one keep-alive ``httpx`` connection, looping for ``--seconds``: 70 % submits, half
   of them retries of an event the client sent before (same body: must answer the original decision),
   30 % reads (a balance, or a decision with its explanation).

Afterwards it proves, through the store: every subject's balance equals what the daily cap allows for
the distinct events sent (caps exact), no event has more than one entry and no entry belongs to an event
nobody sent (no duplicates), every retry answered the original's points, and ``verify`` is ok. It prints
requests/s, p50/p99 latency, the CPU time spent in each timed phase (the writers'; the server's processes'
and the clients') beside wall time, and the median over the rounds of the ratio to the library's rate.
Target: service submits/s ≥ 0.5 × the library's 4-writer ``submit`` rate. Note the machine's load
(``uptime``) beside the figures.

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
import statistics
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


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (Linux: read from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# -- phase 1: the library ------------------------------------------------------------------------------------


def _library_writer(url: str, prefix: str, ruleset: str, writer: int, round_: int, seconds: float, barrier: Any,
                    results: Any) -> None:
    store = SQLStore(url, table_prefix=prefix)
    engine = gridpoints.Engine(gridpoints.load_ruleset(ruleset), store=store, tenant=TENANT)
    rng = random.Random(writer * 1000 + round_)
    barrier.wait()
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        engine.submit(event(f"lib-{writer}-{round_}-{count}", rng))
        count += 1
    results.put((count, time.process_time() - cpu))
    store.close()


def library_rate(url: str, prefix: str, ruleset: str, writers: int, round_: int,
                 seconds: float) -> tuple[float, float, float]:
    """Events/s of ``writers`` processes calling ``submit``; the wall seconds, and the CPU seconds the writers
    spent in the timed loop."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(writers + 1), context.Queue()
    processes = [context.Process(target=_library_writer,
                                 args=(url, prefix, ruleset, i, round_, seconds, barrier, results))
                 for i in range(writers)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    done = [results.get(timeout=seconds + 120) for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join(60)
    return sum(count for count, _ in done) / wall, wall, sum(cpu for _, cpu in done)


# -- phase 2: the service ------------------------------------------------------------------------------------


def _client(base: str, client: int, round_: int, seconds: float, barrier: Any, results: Any) -> None:
    rng = random.Random(100_000 + client * 100 + round_)
    sent: list[tuple[dict[str, Any], int]] = []
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    mismatched = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        barrier.wait()
        cpu = time.process_time()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            roll = rng.random()
            began = time.perf_counter()
            if roll < 0.35 or not sent:
                body = event(f"svc-{client}-{round_}-{len(sent)}", rng)
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
                 "statuses": dict(statuses), "mismatched": mismatched, "cpu": time.process_time() - cpu})


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


def service_run(server: subprocess.Popen[bytes], base: str, clients: int, round_: int,
                seconds: float) -> dict[str, Any]:
    """One timed phase of ``clients`` client processes; the wall seconds, and the CPU seconds the clients and
    every server process spent in it."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=_client, args=(base, i, round_, seconds, barrier, results))
                 for i in range(clients)]
    for process in processes:
        process.start()
    barrier.wait()
    server_cpu = _tree_cpu(server.pid)
    started = time.perf_counter()
    outcomes = [results.get(timeout=seconds + 300) for _ in processes]
    wall = time.perf_counter() - started
    server_cpu = _tree_cpu(server.pid) - server_cpu
    for process in processes:
        process.join(60)
    return {"outcomes": outcomes, "wall": wall, "server_cpu": server_cpu,
            "client_cpu": sum(o["cpu"] for o in outcomes)}


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


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    for outcome in run["outcomes"]:
        statuses.update(outcome["statuses"])
    latencies = [latency for outcome in run["outcomes"] for latency in outcome["latencies"]]
    wall = run["wall"]
    return {"statuses": statuses, "requests": len(latencies) / wall,
            "submits": sum(n for k, n in statuses.items() if k.startswith(("submit ", "retry "))) / wall,
            "fresh": sum(len(o["sent"]) for o in run["outcomes"]) / wall,
            "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL URL")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed phase")
    parser.add_argument("--rounds", type=int, default=3, help="library and service phases, interleaved")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=4, help="uvicorn workers")
    parser.add_argument("--writers", type=int, default=4, help="library writer processes")
    args = parser.parse_args(argv)
    stem = f"gpb{uuid.uuid4().hex[:6]}"
    library_prefix, service_prefix = f"{stem}l_", f"{stem}s_"
    print(f"{_load()} (1/5/15 min) before, {os.cpu_count()} cores; {args.rounds} rounds of {args.seconds:.0f} s, "
          f"library ({args.writers} writers) and service ({args.workers} workers, {args.clients} clients) "
          "interleaved")
    rows: list[tuple[float, dict[str, Any]]] = []
    outcomes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        ruleset = str(tmp / "bench.yaml")
        Path(ruleset).write_text(RULESET, encoding="utf-8")
        server = None
        try:
            for prefix in (library_prefix, service_prefix):
                SQLStore(args.url, table_prefix=prefix).close()  # the schemas, before processes race to make them
            server, base, _log = _start(args.url, service_prefix, ruleset, args.workers, tmp)
            for round_ in range(args.rounds):
                library, lib_wall, lib_cpu = library_rate(args.url, library_prefix, ruleset, args.writers, round_,
                                                          args.seconds)
                print(f"round {round_ + 1}: library submit {library:,.1f} events/s (wall {lib_wall:.1f} s, "
                      f"writers' CPU {lib_cpu:.1f} s); {_load()}")
                run = service_run(server, base, args.clients, round_, args.seconds)
                outcomes += run["outcomes"]
                summary = _summary(run)
                rows.append((library, summary))
                print(f"round {round_ + 1}: service {summary['requests']:,.1f} requests/s, {summary['submits']:,.1f} "
                      f"submits/s ({summary['fresh']:,.1f} new events/s), p50 {summary['p50'] * 1000:.1f} ms, "
                      f"p99 {summary['p99'] * 1000:.1f} ms (wall {run['wall']:.1f} s, CPU: server "
                      f"{run['server_cpu']:.1f} s, clients {run['client_cpu']:.1f} s); {_load()}")
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            server = None
            failures = prove(args.url, service_prefix, ruleset, outcomes)
        finally:
            if server is not None:
                server.kill()
                server.wait()
            for prefix in (library_prefix, service_prefix):
                drop(args.url, prefix)
    statuses: Counter[str] = Counter()
    for _, summary in rows:
        statuses.update(summary["statuses"])
    errors = {k: n for k, n in statuses.items() if not k.endswith(" 200")}
    retries = re.search(r"^gridpoints_serialization_retries_total (\S+)", metrics, re.MULTILINE)
    submit_ratio = statistics.median(summary["submits"] / library for library, summary in rows)
    fresh_ratio = statistics.median(summary["fresh"] / library for library, summary in rows)
    print(f"requests by kind: {dict(sorted(statuses.items()))}; non-200: {errors or 'none'}; serialization "
          f"retries in the service: {retries.group(1) if retries else '?'}")
    print(f"median library submit {statistics.median(r[0] for r in rows):,.1f} events/s; median service "
          f"{statistics.median(r[1]['requests'] for r in rows):,.1f} requests/s, p50 "
          f"{statistics.median(r[1]['p50'] for r in rows) * 1000:.1f} ms, p99 "
          f"{statistics.median(r[1]['p99'] for r in rows) * 1000:.1f} ms")
    print(f"median ratio, service submits/s to library submit: {submit_ratio:.2f}x (target >= 0.5x: "
          f"{'met' if submit_ratio >= 0.5 else 'NOT met'}); new events/s to library submit: {fresh_ratio:.2f}x")
    print(f"{_load()} after")
    if failures or errors:
        for failure in failures:
            print(f"FAILED {failure}")
        return 1
    print("caps exact, no duplicates, retries answered the original decision, verify ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
