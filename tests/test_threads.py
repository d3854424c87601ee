"""One Engine shared by many threads: the ledger equals some serial order of the same submissions."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from _support import all_entries, assert_balanced, assert_chain, ruleset

import gridpoints
from gridpoints import CounterKey, Engine, Entry, MemoryStore
from gridpoints.model import EventRecord

THREADS = 8
PER_THREAD = 60
RESIDENTS = {"s0": "h1", "s1": "h1", "s2": "h2", "s3": "h2"}
DAYS = ("2026-04-01", "2026-04-02")

THREAD_RULESET = ruleset(
    "  - {id: task, on: task, points: 15}\n"
    "  - {id: big, on: big, points: 35}\n"
    "  - {id: noise, on: noise, points: -10}\n",
    "  - {id: subject-day, scope: subject, window: day, limit: 50}\n"
    "  - {id: household-day, scope: household, window: day, limit: 80, mode: reject}\n",
)


class _RecordingTransaction:
    """Passes everything to the store's transaction, noting the event ids each append records."""

    def __init__(self, inner: Any, order: list[str]) -> None:
        self._inner, self._order = inner, order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def append(self, entries: Sequence[Entry], counter_deltas: Mapping[CounterKey, int],
               events: Sequence[EventRecord]) -> None:
        self._inner.append(entries, counter_deltas, events)
        self._order.extend(record.event_id for record in events)


class RecordingStore(MemoryStore):
    """A memory store that remembers the order in which transactions recorded event ids.

    Appends happen while the store holds the tenant's lock, so this is the commit order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    @contextmanager
    def transaction(self, tenant: str, *, counters: Iterable[CounterKey] = (),
                    accounts: Iterable[str] = ()) -> Iterator[Any]:
        with super().transaction(tenant, counters=counters, accounts=accounts) as txn:
            yield _RecordingTransaction(txn, self.order)


def workload() -> list[list[dict[str, Any]]]:
    """Each thread's events: interleaved residents, both days, mixed awards and deductions; ids unique."""
    rng = random.Random(20260401)
    plans = []
    for thread in range(THREADS):
        events = []
        for n in range(PER_THREAD):
            subject = rng.choice(sorted(RESIDENTS))
            events.append({
                "id": f"t{thread}-{n}", "type": rng.choice(["task", "task", "big", "noise"]), "subject": subject,
                "grid": "g1", "household": RESIDENTS[subject],
                "occurred_at": f"{rng.choice(DAYS)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+08:00",
            })
        plans.append(events)
    return plans


def run_threads(engine: Engine, plans: list[list[dict[str, Any]]]) -> dict[str, gridpoints.Decision]:
    decisions: dict[str, gridpoints.Decision] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()

    def work(events: list[dict[str, Any]]) -> None:
        try:
            barrier.wait()
            for index, event in enumerate(events):
                # Every thread also resubmits one of its earlier events now and then: inert, never lost.
                got = engine.submit(event) if index % 7 else engine.submit_many([event, events[index // 2]])[0]
                with lock:
                    decisions[event["id"]] = got
                # Yield the interpreter: the tenant lock is not fair, so without this one thread tends to
                # re-take it and the threads run one after another instead of interleaving.
                time.sleep(0)
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(events,)) for events in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return decisions


def test_shared_engine_equals_a_serial_order() -> None:
    """8 threads on one engine: each event recorded once, chain intact, sums zero, caps respected, and replaying
    the events serially in commit order reproduces every decision, entry and balance."""
    plans = workload()
    events = {event["id"]: event for events in plans for event in events}
    store = RecordingStore()
    engine = Engine(gridpoints.load_ruleset(THREAD_RULESET), store)
    decisions = run_threads(engine, plans)

    entries = all_entries(engine)
    assert_chain(entries)
    assert_balanced(engine)
    assert set(decisions) == set(events)
    assert sorted(store.order) == sorted(events), "every event id is recorded exactly once"
    threads_in_order = [event_id.split("-")[0] for event_id in store.order]
    switches = sum(a != b for a, b in pairwise(threads_in_order))
    assert switches >= len(events) // 4, "the threads should have interleaved"
    assert all(engine.decision(event_id) is not None for event_id in events)
    assert not any(decision.duplicate for decision in decisions.values())
    per_event = Counter(entry.event_id for entry in entries)
    assert all(per_event[event_id] == len(decisions[event_id].entries) for event_id in events)

    # Caps hold exactly: each subject's awards per day never exceed 50, each household's never exceed 80.
    by_subject: dict[tuple[str, str], int] = defaultdict(int)
    by_household: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        if entry.reason == "award":
            day = events[entry.event_id]["occurred_at"][:10]
            by_subject[entry.subject, day] += entry.amount
            by_household[RESIDENTS[entry.subject], day] += entry.amount
    assert max(by_subject.values()) <= 50 and max(by_household.values()) <= 80
    assert max(by_household.values()) >= 65, "the workload should make the household caps bind"

    # Replaying serially in commit order reproduces everything, entry for entry.
    assert list(dict.fromkeys(entry.event_id for entry in entries)) == [
        event_id for event_id in store.order if decisions[event_id].entries]
    serial = Engine(engine.policy, MemoryStore())
    replayed = {event_id: serial.submit(events[event_id]) for event_id in store.order}
    assert {i: d.points for i, d in replayed.items()} == {i: d.points for i, d in decisions.items()}
    assert serial.balances(sorted(RESIDENTS)) == engine.balances(sorted(RESIDENTS))
    assert all_entries(serial) == entries
