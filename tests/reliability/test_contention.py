"""Hot contention: 8 processes award overlapping residents, all drawing on shared grid caps and one community
budget, in random order; then the ledger is replayed through a fresh memory store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from _reliability import (
    BUDGET,
    GRID_CAP,
    SUBJECT_CAP,
    Record,
    contention_events,
    contention_worker,
    counter_keys,
    open_store,
    policy,
    run_processes,
    scaled,
)

from gridpoints import Engine, MemoryStore
from gridpoints.audit import verify
from gridpoints.model import CounterKey

pytestmark = pytest.mark.reliability

WORKERS = 8
TENANT = "contention"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module", params=["postgresql", "mysql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend once per module: the contention run below is shared by both tests."""
    return str(request.param)


@pytest.fixture(scope="module")
def contention_run(backend: str, make_database: Callable[[str], tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Run the 8 workers once per backend; yield their reports, the store and the plans they submitted."""
    url, prefix = make_database(backend)
    operations = scaled(60, 500)
    began = time.monotonic()
    results = run_processes(contention_worker,
                            [(url, prefix, TENANT, w, operations, 7 * w + 1) for w in range(WORKERS)])
    seconds = time.monotonic() - began
    plans = [contention_events(w, operations, 7 * w + 1) for w in range(WORKERS)]
    store = open_store(url, prefix)
    yield {"results": results, "store": store, "plans": plans, "seconds": seconds}
    store.close()


def test_hot_contention_reaches_no_caller_and_keeps_the_ledger(contention_run: dict[str, Any], record: Record) -> None:
    """No deadlock or conflict reaches a caller; the ledger balances, matches its entries, keeps every cap,
    spends the shared budget exactly, and verifies."""
    store, results = contention_run["store"], contention_run["results"]
    errors: dict[str, int] = {}
    for result in results:
        for name, count in result["errors"].items():
            errors[name] = errors.get(name, 0) + count
    entries = list(store.entries(TENANT))
    sums: dict[str, int] = {}
    granted_by_key: dict[tuple[str, str, str], int] = {}
    for e in entries:
        sums[e.credit] = sums.get(e.credit, 0) + e.amount
        sums[e.debit] = sums.get(e.debit, 0) - e.amount
    stored = store.balances(TENANT, list(sums))
    mismatched = sum(stored[a] != sums[a] for a in sums)
    report = verify(store, TENANT)
    over_cap = 0
    awarded = [e for e in entries if e.reason == "award"]
    grid_of = {e["id"]: e["grid"] for plan in contention_run["plans"] for batch in plan for e in batch}
    for e in awarded:
        day = datetime.fromisoformat(e.occurred_at).astimezone(SHANGHAI).date().isoformat()
        for key in (("subject", e.subject, day), ("grid", grid_of[e.event_id], day)):
            granted_by_key[key] = granted_by_key.get(key, 0) + e.amount
    for (scope, _, _), total in granted_by_key.items():
        over_cap += total > (SUBJECT_CAP if scope == "subject" else GRID_CAP)
    issued = sum(e.amount for e in awarded)
    # Demand far exceeds the budget, which is smaller than the grid caps together: it must be spent exactly.
    over_cap += issued != BUDGET
    violations = sum(errors.values()) + mismatched + (sum(stored.values()) != 0) + (not report.ok) + over_cap
    record(label="hot contention", operations=sum(r["events"] for r in results), violations=violations,
           seconds=contention_run["seconds"], submissions=sum(len(p) for p in contention_run["plans"]),
           errors=errors, entries=len(entries), issued=issued, budget=BUDGET, over_cap=over_cap,
           worker_seconds=round(max(r["elapsed"] for r in results), 2))
    assert errors == {}
    assert mismatched == 0 and sum(stored.values()) == 0
    assert report.ok, report.problems
    assert over_cap == 0


def test_replay_reproduces_every_balance_and_counter(contention_run: dict[str, Any], record: Record) -> None:
    """The submitted events, replayed in the order the ledger recorded them, give the same entries, balances
    and counters on a fresh memory store."""
    store, plans = contention_run["store"], contention_run["plans"]
    by_id = {e["id"]: e for plan in plans for batch in plan for e in batch}
    entries = list(store.entries(TENANT))
    order: dict[str, int] = {}
    for e in entries:
        order.setdefault(e.event_id, e.seq)
    # Events granted nothing wrote no entry and moved no counter (every limit truncated them to 0): they
    # can go anywhere, and go last.
    replayed_ids = sorted(by_id, key=lambda i: (order.get(i, len(entries) + 1), i))
    replay = Engine(policy(), MemoryStore(), tenant=TENANT)
    decisions = [replay.submit(by_id[i]) for i in replayed_ids]
    replay_entries = list(replay.store.entries(TENANT))
    accounts = sorted({a for e in entries + replay_entries for a in (e.debit, e.credit)})
    keys = sorted(counter_keys(decisions))
    balance_diffs = sum(a != b for a, b in zip(store.balances(TENANT, accounts).values(),
                                                replay.store.balances(TENANT, accounts).values(), strict=True))
    counter_diffs = sum(a != b for a, b in zip(store.counters(TENANT, keys).values(),
                                                replay.store.counters(TENANT, keys).values(), strict=True))
    entry_diffs = sum(a != b for a, b in zip(entries, replay_entries, strict=False)) + abs(
        len(entries) - len(replay_entries))
    record(label="replay", operations=len(replayed_ids), violations=balance_diffs + counter_diffs + entry_diffs,
           accounts=len(accounts), counters=len(keys), entries=len(entries),
           same_head=replay.head() == store.head(TENANT))
    assert entry_diffs == 0
    assert balance_diffs == 0
    assert counter_diffs == 0
    assert replay.head() == store.head(TENANT)
    assert CounterKey("community", "c1", "community-budget", "2026-04") in keys

