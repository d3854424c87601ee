"""Unknown commit outcome: the server session is killed around COMMIT, or the COMMIT or its reply is lost on
the wire, and the client retries blindly with the same event id."""

from __future__ import annotations

from collections import Counter

import pytest
from _reliability import Killer, Record, policy, run_processes, scaled, unknown_commit_events, unknown_commit_worker

from gridpoints import Engine, MemoryStore
from gridpoints.audit import verify
from gridpoints.storage.sql._store import SQLStore

pytestmark = pytest.mark.reliability

WORKERS = 2


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_killed_commits_retried_with_the_same_id_are_never_lost_or_doubled(
    backend: str, database: tuple[str, str], record: Record
) -> None:
    """With the session terminated before, during or after COMMIT (or the COMMIT's reply lost) and the same
    event resubmitted until it goes through, every event is recorded exactly once and the ledger equals a
    clean run's, hash for hash."""
    url, prefix = database
    per_worker = scaled(60, 1_000 // WORKERS)
    tenants = [f"unknown-{w}" for w in range(WORKERS)]
    results = run_processes(unknown_commit_worker,
                            [(url, prefix, tenants[w], w, per_worker) for w in range(WORKERS)])
    tally = Counter[str]()
    for result in results:
        tally.update(result)
    store = SQLStore(url, table_prefix=prefix)
    lost = doubled = differing = unverified = 0
    for worker, tenant in enumerate(tenants):
        events = unknown_commit_events(worker, per_worker)
        clean = Engine(policy(), MemoryStore(), tenant=tenant)
        for item in events:
            clean.submit(item)
        stored = list(store.entries(tenant))
        expected = list(clean.store.entries(tenant))
        differing += sum(a != b for a, b in zip(stored, expected, strict=False)) + abs(len(stored) - len(expected))
        lost += sum(store.find_event(tenant, item["id"]) is None for item in events)
        by_event = Counter(e.event_id for e in stored)
        doubled += sum(by_event[i] > n for i, n in Counter(e.event_id for e in expected).items())
        unverified += not verify(store, tenant).ok
    store.close()
    violations = lost + doubled + differing + unverified + tally["gave_up"] + tally["integrity_errors"]
    record(label="unknown commit", operations=tally["events"], violations=violations,
           failures_injected={mode: tally[mode] for mode in Killer.MODES},
           failed_attempts=tally["failed_attempts"], committed_but_unseen=tally["committed_unseen"],
           rolled_back=tally["rolled_back"], clean=tally["clean"], lost=lost, doubled=doubled,
           entries_differing=differing)
    assert tally["events"] == per_worker * WORKERS
    assert tally["failed_attempts"] > per_worker  # most transactions really failed
    assert tally["committed_unseen"] > 0 and tally["rolled_back"] > 0  # both sides of COMMIT were hit
    assert lost == 0 and doubled == 0 and differing == 0
    assert unverified == 0
    assert tally["gave_up"] == 0 and tally["integrity_errors"] == 0
