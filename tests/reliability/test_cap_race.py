"""Cap race: 50 awards to one resident at once, from 5 processes of 10 threads, each on its own connection."""

from __future__ import annotations

import pytest
from _reliability import SUBJECT_CAP, Record, cap_race_date, cap_race_worker, run_processes, scaled

from gridpoints.audit import verify
from gridpoints.model import CounterKey
from gridpoints.storage.sql._store import SQLStore

pytestmark = pytest.mark.reliability

PROCESSES = 5
THREADS = 10


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_concurrent_awards_fill_the_cap_exactly(backend: str, database: tuple[str, str], record: Record) -> None:
    """However 50 concurrent awards interleave, the resident gets exactly the daily cap, never more."""
    url, prefix = database
    rounds = scaled(2, 20)
    tenant = "cap-race"
    results = run_processes(cap_race_worker, [(url, prefix, tenant, w, THREADS, rounds) for w in range(PROCESSES)])
    store = SQLStore(url, table_prefix=prefix)
    violations, errors, totals = 0, 0, []
    for round_no in range(rounds):
        outcomes = [outcome for worker in results for outcome in worker[round_no]]
        errors += sum(error is not None for _, error in outcomes)
        granted = sum(points for points, _ in outcomes)
        month, day_no = cap_race_date(round_no)
        day = f"2026-{month:02d}-{day_no:02d}"
        counter = store.counters(tenant, [CounterKey("subject", "hero", "daily-reward", day)])
        stored = counter[CounterKey("subject", "hero", "daily-reward", day)]
        totals.append(granted)
        violations += (granted != SUBJECT_CAP) + (stored != SUBJECT_CAP)
    report = verify(store, tenant)
    balance = store.balances(tenant, ["subject:hero:spendable"])["subject:hero:spendable"]
    store.close()
    violations += errors + (not report.ok) + (balance != SUBJECT_CAP * rounds)
    record(label="cap race", operations=PROCESSES * THREADS * rounds, violations=violations, rounds=rounds,
           errors=errors, granted_per_round=sorted(set(totals)), cap=SUBJECT_CAP)
    assert errors == 0
    assert totals == [SUBJECT_CAP] * rounds
    assert report.ok, report.problems
    assert balance == SUBJECT_CAP * rounds
    assert violations == 0
