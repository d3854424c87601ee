"""What the reliability tests share with the worker processes they spawn: the ruleset, event builders, the
process runner, and the worker bodies themselves.

Workers run in processes started with the ``spawn`` method, so everything here must be importable on its
own (no pytest, no fixtures): a worker gets plain arguments, opens its own store (its own connection
pool), waits at a :class:`multiprocessing.Barrier` with its siblings and reports through a queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy

import gridpoints
from gridpoints import Engine, IdempotencyConflict, IntegrityError, Policy, StoreError
from gridpoints.model import CounterKey, Decision
from gridpoints.storage import MemoryStore, Store
from gridpoints.storage.sql._store import SQLStore, make_engine

RULESET = """\
ruleset: reliability
version: 1
name: 可靠性测试
timezone: Asia/Shanghai
community: c1
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: cleanup, on: cleanup, points: 15}
  - {id: noise, on: noise_violation, points: -10}
limits:
  - {id: daily-reward, kind: cap, scope: subject, window: day, categories: [reward], limit: 50}
  - {id: grid-daily, kind: cap, scope: grid, window: day, categories: [reward], limit: 120}
  - {id: community-budget, kind: budget, scope: community, window: month, limit: 600, on_exhausted: truncate}
"""
SUBJECT_CAP = 50
GRID_CAP = 120
BUDGET = 600
POINTS = {"mediation": 10, "cleanup": 15, "noise_violation": -10}
#: How long a worker may take before the parent gives up on it.
WORKER_TIMEOUT = 600.0
SCALE_ENV = "GRIDPOINTS_RELIABILITY_SCALE"

#: ``record(label=…, operations=…, violations=…, **details)``, the reliability conftest's fixture.
Record = Callable[..., None]


def scaled(default: int, full: int) -> int:
    """``default`` normally; ``full`` × the factor when GRIDPOINTS_RELIABILITY_SCALE is set (1 = the issue's
    full counts)."""
    factor = os.environ.get(SCALE_ENV)
    if not factor:
        return default
    return max(1, round(full * float(factor)))


def policy() -> Policy:
    return gridpoints.load_ruleset(RULESET)


def event(event_id: str, kind: str, subject: str, grid: str, day: int = 1, minute: int = 0,
          month: int = 4) -> dict[str, Any]:
    """An event on 2026-``month``-``day`` at 10:``minute`` Shanghai time."""
    return {"id": event_id, "type": kind, "subject": subject, "grid": grid,
            "occurred_at": f"2026-{month:02d}-{day:02d}T10:{minute % 60:02d}:00+08:00"}


def open_store(url: str, prefix: str) -> Store:
    return MemoryStore() if url == "memory:" else SQLStore(url, table_prefix=prefix)


def counter_keys(decisions: Iterable[Decision]) -> set[CounterKey]:
    """Every window counter the decisions' limits read (cap, budget: one key per limit step)."""
    return {CounterKey(step.scope, step.scope_id, step.limit_id, step.window)
            for d in decisions for rule in d.trace.rules for step in rule.steps}


# -- running workers -----------------------------------------------------------------------------------------


def _run(target: Callable[..., Any], args: tuple[Any, ...], barrier: Any, results: Any, index: int) -> None:
    try:
        results.put((index, "ok", target(*args, barrier=barrier)))
    except BaseException:  # the parent must hear about every failure, whatever it is
        results.put((index, "error", traceback.format_exc()))
        raise


def run_processes(target: Callable[..., Any], arg_lists: Sequence[tuple[Any, ...]],
                  timeout: float = WORKER_TIMEOUT) -> list[Any]:
    """Run ``target(*args, barrier=b)`` in one spawned process per ``args``; all share one barrier, so they
    start their work together. Returns each process's result in order; raises if any failed."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arg_lists))
    results = context.Queue()
    processes = [context.Process(target=_run, args=(target, args, barrier, results, i), daemon=True)
                 for i, args in enumerate(arg_lists)]
    for process in processes:
        process.start()
    outcomes: dict[int, Any] = {}
    errors = []
    deadline = time.monotonic() + timeout
    try:
        for _ in processes:
            index, status, value = results.get(timeout=max(deadline - time.monotonic(), 1))
            if status == "ok":
                outcomes[index] = value
            else:
                errors.append(value)
                barrier.abort()
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    if errors:
        raise AssertionError("worker failed:\n" + "\n".join(errors))
    return [outcomes[i] for i in range(len(arg_lists))]


# -- cap race -----------------------------------------------------------------------------------------------


def cap_race_date(round_no: int) -> tuple[int, int]:
    """(month, day) of a cap race round: a day of its own, and no month holding enough rounds to spend
    the community budget."""
    return 1 + round_no % 12, 1 + round_no // 12


def cap_race_worker(url: str, prefix: str, tenant: str, worker: int, threads: int, rounds: int, *,
                    barrier: Any) -> list[list[tuple[int, str | None]]]:
    """``threads`` threads, each with its own engine and pooled connection, award the one resident once per
    round; every round starts at the process barrier. Returns, per round, (points, error) per thread."""
    store = SQLStore(make_engine(url, pool_size=threads, max_overflow=0), table_prefix=prefix)
    rules = policy()
    engines = [Engine(rules, store, tenant=tenant) for _ in range(threads)]
    local = threading.Barrier(threads)
    outcomes: list[list[tuple[int, str | None]]] = []
    for round_no in range(rounds):
        kind = "mediation" if round_no % 2 == 0 else "cleanup"
        got: list[tuple[int, str | None]] = [(0, None)] * threads

        def award(n: int, kind: str = kind, round_no: int = round_no, got: list[Any] = got) -> None:
            local.wait()
            try:
                month, day = cap_race_date(round_no)
                decision = engines[n].submit(event(f"r{round_no}-w{worker}-t{n}", kind, "hero", "g1",
                                                   day=day, minute=n, month=month))
                got[n] = (decision.points, None)
            except Exception as exc:  # reported, not raised: the parent counts it as a violation
                got[n] = (0, f"{type(exc).__name__}: {exc}")

        barrier.wait()
        pool = [threading.Thread(target=award, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        outcomes.append(got)
    store.close()
    return outcomes


# -- hot contention -----------------------------------------------------------------------------------------


def contention_events(worker: int, operations: int, seed: int) -> list[list[dict[str, Any]]]:
    """A worker's submissions in random order: single awards, deductions and small batches, to 12 residents
    in 3 grids over 2 days, all drawing on one community budget."""
    rng = random.Random(seed)
    plan: list[list[dict[str, Any]]] = []
    serial = 0
    for _ in range(operations):
        size = 1 if rng.random() < 0.7 else rng.randint(2, 6)
        batch = []
        for _ in range(size):
            resident = rng.randrange(12)
            kind = rng.choices(("mediation", "cleanup", "noise_violation"), (5, 4, 1))[0]
            batch.append(event(f"w{worker}-{serial}", kind, f"s{resident}", f"g{resident % 3}",
                               day=1 + rng.randrange(2), minute=rng.randrange(60)))
            serial += 1
        plan.append(batch)
    return plan


def contention_worker(url: str, prefix: str, tenant: str, worker: int, operations: int, seed: int, *,
                      barrier: Any) -> dict[str, Any]:
    """Submit this worker's plan; count every exception that reaches the caller, by type."""
    store = open_store(url, prefix)
    engine = Engine(policy(), store, tenant=tenant)
    plan = contention_events(worker, operations, seed)
    errors: dict[str, int] = {}
    barrier.wait()
    began = time.monotonic()
    for batch in plan:
        try:
            if len(batch) == 1:
                engine.submit(batch[0])
            else:
                engine.submit_many(batch)
        except Exception as exc:  # counted: none may reach the caller
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    elapsed = time.monotonic() - began
    store.close()
    return {"errors": errors, "elapsed": elapsed, "events": sum(len(b) for b in plan)}


# -- idempotency ------------------------------------------------------------------------------------------


def idempotency_events(count: int) -> list[dict[str, Any]]:
    """``count`` distinct awards, each to a resident and grid of its own and spread over the year, so no cap
    or budget bites: every one is granted in full."""
    return [event(f"idem-{n}", "mediation", f"p{n}", f"g{n}", day=1 + n // 12 % 28, minute=n, month=1 + n % 12)
            for n in range(count)]


def conflicting(original: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same event id with a different body."""
    changed = dict(original)
    which = rng.randrange(3)
    if which == 0:
        changed["type"] = "cleanup"
    elif which == 1:
        changed["subject"] = original["subject"] + "x"
    else:
        changed["occurred_at"] = original["occurred_at"].replace("T10:", "T11:")
    return changed


def idempotency_worker(url: str, prefix: str, tenant: str, worker: int, count: int, replays: int, *,
                       barrier: Any) -> dict[str, int]:
    """Phase 1: submit every original (in a random order, singly and in batches) while the other workers do
    the same. Phase 2: replay originals (expect the recorded decision) and conflicting bodies (expect
    :class:`IdempotencyConflict`), singly and in batches."""
    rng = random.Random(worker)
    store = open_store(url, prefix)
    engine = Engine(policy(), store, tenant=tenant)
    originals = idempotency_events(count)
    tally = {"submits": 0, "duplicates_seen": 0, "conflicts_raised": 0, "conflicts_missed": 0,
             "wrong_points": 0, "errors": 0}

    def check(decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            tally["duplicates_seen"] += decision.duplicate
            tally["wrong_points"] += decision.points != POINTS["mediation"]

    order = originals[:]
    rng.shuffle(order)
    barrier.wait()
    position = 0
    while position < len(order):
        size = 1 if rng.random() < 0.5 else rng.randint(2, 8)
        chunk = order[position:position + size]
        position += size
        tally["submits"] += len(chunk)
        try:
            check(engine.submit_many(chunk) if len(chunk) > 1 else [engine.submit(chunk[0])])
        except Exception:  # counted as a violation by the parent
            tally["errors"] += 1
    barrier.wait()
    done = 0
    while done < replays:
        size = 1 if rng.random() < 0.6 else min(rng.randint(2, 8), replays - done)
        chunk = [rng.choice(originals) for _ in range(size)]
        clash = rng.random() < 0.1
        if clash:
            chunk[rng.randrange(size)] = conflicting(rng.choice(originals), rng)
        done += size
        tally["submits"] += size
        try:
            decisions = engine.submit_many(chunk) if size > 1 else [engine.submit(chunk[0])]
        except IdempotencyConflict:
            tally["conflicts_raised" if clash else "errors"] += 1
            continue
        except Exception:  # counted as a violation by the parent
            tally["errors"] += 1
            continue
        tally["conflicts_missed"] += clash
        check(decisions)
    store.close()
    return tally


# -- unknown commit -----------------------------------------------------------------------------------------


class CutProxy:
    """A TCP relay between a worker and its database server that can lose a COMMIT's round trip.

    Armed ``"before"``, it drops the next message the client sends (the COMMIT) and closes both sides: the
    server rolls back. Armed ``"after"``, it delivers that message, then closes both sides without relaying
    the reply: the server commits, and the client hears only that the connection died — an unknown outcome.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed: str | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cut = threading.Event()
            threading.Thread(target=self._up, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, cut), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                mode, self.armed = self.armed, None
                if mode is not None:
                    cut.set()
                    if mode == "after":
                        server.sendall(data)
                    break
                server.sendall(data)
        except OSError:
            pass
        _close(client)
        if cut.is_set():
            time.sleep(0.05)  # let the server read what it was sent before it sees the end
        _close(server)

    def _down(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        try:
            while (data := server.recv(65536)) and not cut.is_set():
                client.sendall(data)
        except OSError:
            pass
        _close(client)

    def close(self) -> None:
        self.listener.close()


def _close(end: socket.socket) -> None:
    with contextlib.suppress(OSError):
        end.shutdown(socket.SHUT_RDWR)
    end.close()


_WRITES = ("INSERT", "UPDATE", "DELETE")


class Killer:
    """Makes a worker connection's transaction end badly at a random moment around its COMMIT.

    Four ways, picked at random by :meth:`arm` for the next transaction: terminate the server session
    (``pg_terminate_backend`` / ``KILL CONNECTION``, from a connection of its own, as an operator would)
    a random 0–4 ms after BEGIN, or a random 0–1.5 ms after the COMMIT was issued (before, while or after
    the server runs it); or, through the :class:`CutProxy`, lose the COMMIT on its way in or its reply on
    its way out. A pool ``connect`` hook records each connection's server session id; ``begin`` and
    ``commit`` hooks fire the plan.
    """

    MODES = ("terminate-after-begin", "terminate-around-commit", "lose-commit", "lose-commit-reply")

    def __init__(self, admin_url: str, engine: Any, proxy: CutProxy, rng: random.Random) -> None:
        self.family = engine.dialect.name
        self.rng = rng
        self.proxy = proxy
        self.plan: tuple[str, float] | None = None
        self.fired: dict[str, int] = dict.fromkeys(self.MODES, 0)
        self.admin = make_engine(admin_url, poolclass=sqlalchemy.pool.NullPool)
        self.admin_conn = self.admin.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.lock = threading.Lock()
        session_id = "SELECT pg_backend_pid()" if self.family == "postgresql" else "SELECT CONNECTION_ID()"

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(session_id)
            record.info["session"] = cursor.fetchone()[0]
            cursor.close()
            dbapi_connection.commit()

        def on_begin(conn: Any) -> None:
            conn.info["wrote"] = False
            self._fire("begin", conn.info.get("session"))

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip()[:6].upper() in _WRITES:
                conn.info["wrote"] = True

        def on_commit(conn: Any) -> None:
            # Only the COMMIT of the transaction that writes the event: the engine may read in a transaction
            # of its own first (a resubmitted settlement's record), and losing that one's COMMIT proves nothing.
            if conn.info.get("wrote"):
                self._fire("commit", conn.info.get("session"))

        sqlalchemy.event.listen(engine, "connect", on_connect)
        sqlalchemy.event.listen(engine, "begin", on_begin)
        sqlalchemy.event.listen(engine, "before_cursor_execute", on_execute)
        sqlalchemy.event.listen(engine, "commit", on_commit)

    def arm(self) -> None:
        mode = self.rng.choice(self.MODES)
        delay = self.rng.uniform(0, 0.004) if mode == "terminate-after-begin" else self.rng.uniform(0, 0.0015)
        self.plan = (mode, delay)

    def disarm(self) -> None:
        self.plan = None
        self.proxy.armed = None

    def _fire(self, moment: str, session: Any) -> None:
        if self.plan is None or session is None:
            return
        mode, delay = self.plan
        if (moment == "begin") != (mode == "terminate-after-begin"):
            return
        self.plan = None
        self.fired[mode] += 1
        if mode == "lose-commit":
            self.proxy.armed = "before"
        elif mode == "lose-commit-reply":
            self.proxy.armed = "after"
        else:
            timer = threading.Timer(delay, self._terminate, args=(session,))
            timer.daemon = True
            timer.start()

    def _terminate(self, session: Any) -> None:
        statement = (f"SELECT pg_terminate_backend({int(session)})" if self.family == "postgresql"
                     else f"KILL CONNECTION {int(session)}")
        with self.lock, contextlib.suppress(Exception):  # the session may already be gone
            self.admin_conn.exec_driver_sql(statement)

    def close(self) -> None:
        self.admin_conn.close()
        self.admin.dispose()


def unknown_commit_events(worker: int, count: int) -> list[dict[str, Any]]:
    """A worker's events: awards and deductions to 5 residents over 3 days, so caps bite."""
    rng = random.Random(1000 + worker)
    return [event(f"u{worker}-{n}", rng.choice(("mediation", "cleanup", "cleanup", "noise_violation")),
                  f"s{rng.randrange(5)}", f"g{rng.randrange(2)}", day=1 + n * 3 // count, minute=n)
            for n in range(count)]


def unknown_commit_worker(url: str, prefix: str, tenant: str, worker: int, count: int, *,
                          barrier: Any) -> dict[str, int]:
    """Submit each event with a failure armed around its transaction; on any store error submit the same
    event again until it goes through. Tallies how each event ended up."""
    address = sqlalchemy.engine.make_url(url)
    proxy = CutProxy(address.host or "127.0.0.1", address.port or 5432)
    proxied = address.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(proxied, pool_size=1, max_overflow=0)
    killer = Killer(url, engine, proxy, random.Random(worker))
    store = SQLStore(engine, table_prefix=prefix)
    points = Engine(policy(), store, tenant=tenant)
    tally = {"events": 0, "failed_attempts": 0, "clean": 0, "committed_unseen": 0, "rolled_back": 0,
             "gave_up": 0, "integrity_errors": 0}
    barrier.wait()
    for item in unknown_commit_events(worker, count):
        killer.arm()
        failures = 0
        decision: Decision | None = None
        while decision is None:
            try:
                decision = points.submit(item)
            except StoreError as exc:
                failures += 1
                tally["integrity_errors"] += isinstance(exc, IntegrityError)
                if failures > 50:
                    tally["gave_up"] += 1
                    break
                time.sleep(0.001)
        killer.disarm()
        tally["events"] += 1
        tally["failed_attempts"] += failures
        if decision is not None:
            if failures == 0:
                tally["clean"] += 1
            elif decision.duplicate:
                tally["committed_unseen"] += 1  # the commit happened; the client never heard
            else:
                tally["rolled_back"] += 1
    tally.update(killer.fired)
    killer.close()
    store.close()
    engine.dispose()
    proxy.close()
    return tally


# -- crash mid-batch ----------------------------------------------------------------------------------------


def batch_events(worker: int, batch_no: int, size: int) -> list[dict[str, Any]]:
    rng = random.Random(worker * 100_000 + batch_no)
    return [event(f"c{worker}-{batch_no}-{n}", rng.choice(("mediation", "cleanup", "noise_violation")),
                  f"s{rng.randrange(400)}", f"g{rng.randrange(20)}", day=1 + batch_no % 28, minute=n)
            for n in range(size)]


def crash_worker(url: str, prefix: str, tenant: str, worker: int, size: int, pipe: Any, *,
                 barrier: Any) -> None:
    """Submit batches of ``size`` events forever, telling the parent when each starts and ends; the
    parent SIGKILLs this process at a random moment."""
    store = open_store(url, prefix)
    engine = Engine(policy(), store, tenant=tenant)
    barrier.wait()
    batch_no = 0
    while True:
        events = batch_events(worker, batch_no, size)
        pipe.send(("start", batch_no, time.monotonic()))
        engine.submit_many(events)
        pipe.send(("done", batch_no, time.monotonic()))
        batch_no += 1

