"""Period close reads only what was written since its last look, and finds the same as a whole-ledger scan."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

import gridpoints
from gridpoints.engine import _ledger_index
from gridpoints.model import spendable

RULESET = """
ruleset: index
version: 1
name: index
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
  - {id: throwing, on: high_altitude_throwing, points: -50, repair: svc}
  - {id: hazard, on: hazard_report, points: 20, verify: {by: [grid_worker], within: 7d}}
repairs:
  - {id: svc, task: [community_service], per: hours, quantity: 2, within: 30d, restore: 80%}
catalog:
  - {id: checkup, cost: 5, hold: 3d}
"""

T = datetime.fromisoformat
SUBJECTS = [f"s{i}" for i in range(6)]


def _engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    for subject in SUBJECTS:
        engine.register(subject, grid="g1", household=f"h-{subject}", since=T("2026-01-01T00:00:00+08:00"))
    engine.register("w", grid="g1", household="h-w", roles=["grid_worker"], since=T("2026-01-01T00:00:00+08:00"))
    return engine


def _scanned(engine: gridpoints.Engine, month: str) -> dict[str, int]:
    start = T(f"{month}-01T00:00:00+08:00")
    end = T("2026-04-01T00:00:00+08:00") if month == "2026-03" else T("2026-05-01T00:00:00+08:00")
    earned: dict[str, int] = {}
    for entry in engine.store.entries(engine.tenant):
        if entry.credit == spendable(entry.subject) and entry.reason == "award" and start <= T(entry.occurred_at) < end:
            earned[entry.subject] = earned.get(entry.subject, 0) + entry.amount
    return earned


def test_windows_read_from_the_time_index_match_a_full_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Late events (occurring long before others already written) are found in their window across blocks."""
    monkeypatch.setattr(_ledger_index, "BLOCK", 3)
    engine = _engine()
    rng = random.Random(7)
    moments = [T("2026-03-01T00:00:00+08:00") + timedelta(hours=rng.randrange(24 * 61)) for _ in range(80)]
    for n, moment in enumerate(moments):
        engine.submit({"id": f"p{n}", "type": "patrol", "subject": rng.choice(SUBJECTS), "grid": "g1",
                       "occurred_at": moment, "attributes": {"hours": rng.randrange(1, 4)}})
        if n % 20 == 19:
            for month in ("2026-03", "2026-04"):
                board = engine.leaderboard(month, top=len(SUBJECTS))
                assert {s.subject: s.earned for s in board} == _scanned(engine, month)


def test_expiry_steps_see_what_was_written_between_closes() -> None:
    """Pending awards, repairs and holds written after an earlier close are expired by the next one, once."""
    engine = _engine()
    engine.close_period("2026-03", now=T("2026-04-01T00:00:00+08:00"))
    engine.submit({"id": "h1", "type": "hazard_report", "subject": "s1", "grid": "g1",
                   "occurred_at": "2026-04-02T10:00:00+08:00"})
    engine.submit({"id": "d1", "type": "high_altitude_throwing", "subject": "s2", "grid": "g1",
                   "occurred_at": "2026-04-02T10:00:00+08:00"})
    engine.submit({"id": "p1", "type": "patrol", "subject": "s3", "grid": "g1",
                   "occurred_at": "2026-04-02T10:00:00+08:00", "attributes": {"hours": 1}})
    engine.redeem("s3", "checkup", "r1", at=T("2026-04-03T10:00:00+08:00"))
    early = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    assert (len(early.pending_expired), len(early.holds_expired), len(early.repairs_expired)) == (1, 1, 0)
    later = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00"))
    assert (len(later.pending_expired), len(later.holds_expired), len(later.repairs_expired)) == (0, 0, 1)
    again = engine.close_period("2026-05", now=T("2026-06-02T00:00:00+08:00"))
    assert (again.pending_expired, again.holds_expired, again.repairs_expired) == ((), (), ())


def test_an_engine_given_another_store_starts_a_new_index() -> None:
    """Replacing the engine's store does not carry over what the index read from the old one."""
    engine = _engine()
    engine.submit({"id": "h1", "type": "hazard_report", "subject": "s1", "grid": "g1",
                   "occurred_at": "2026-04-02T10:00:00+08:00"})
    engine.close_period("2026-03", now=T("2026-04-01T00:00:00+08:00"))
    engine.store = gridpoints.MemoryStore()
    assert engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00")).pending_expired == ()
