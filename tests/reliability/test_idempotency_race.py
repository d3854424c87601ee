"""Idempotency under replay: the same event ids submitted again and again, concurrently from 4 processes."""

from __future__ import annotations

from collections import Counter

import pytest
from _reliability import POINTS, Record, idempotency_events, idempotency_worker, open_store, run_processes, scaled

from gridpoints.audit import verify

pytestmark = pytest.mark.reliability

WORKERS = 4
ORIGINALS = 200
TENANT = "idempotency"


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_replays_write_nothing_and_conflicts_are_refused(
    backend: str, database: tuple[str, str], record: Record
) -> None:
    """Thousands of replays, racing from several processes, leave one entry per event id; a reused id with a
    different body always raises IdempotencyConflict."""
    url, prefix = database
    replays = scaled(1_200, 10_000 - ORIGINALS * (WORKERS - 1))
    share = -(-replays // WORKERS)
    results = run_processes(idempotency_worker,
                            [(url, prefix, TENANT, w, ORIGINALS, share) for w in range(WORKERS)])
    tally = Counter[str]()
    for result in results:
        tally.update(result)
    store = open_store(url, prefix)
    entries = list(store.entries(TENANT))
    per_event = Counter(e.event_id for e in entries)
    originals = [e["id"] for e in idempotency_events(ORIGINALS)]
    duplicates = sum(n - 1 for n in per_event.values() if n > 1)
    lost = sum(per_event[i] == 0 for i in originals)
    unrecorded = sum(store.find_event(TENANT, i) is None for i in originals)
    balances = store.balances(TENANT, [f"subject:p{n}:spendable" for n in range(ORIGINALS)])
    wrong_balances = sum(b != POINTS["mediation"] for b in balances.values())
    report = verify(store, TENANT)
    store.close()
    violations = (duplicates + lost + unrecorded + wrong_balances + tally["conflicts_missed"] + tally["errors"]
                  + tally["wrong_points"] + (not report.ok))
    first_submissions = ORIGINALS
    record(label="idempotency", operations=tally["submits"], violations=violations,
           replays=tally["submits"] - first_submissions, duplicate_entries=duplicates, lost=lost,
           conflicts_raised=tally["conflicts_raised"], conflicts_missed=tally["conflicts_missed"],
           duplicates_answered=tally["duplicates_seen"], errors=tally["errors"])
    assert duplicates == 0 and lost == 0 and unrecorded == 0
    assert len(entries) == ORIGINALS
    assert wrong_balances == 0
    assert tally["conflicts_raised"] > 0 and tally["conflicts_missed"] == 0
    assert tally["errors"] == 0 and tally["wrong_points"] == 0
    assert report.ok, report.problems
