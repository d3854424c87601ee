"""An engine with a pseudonymiser stores no raw subject, actor or household id, and still works end to end."""

from __future__ import annotations

from datetime import datetime

import gridpoints
from gridpoints.privacy import Pseudonymiser

RULESET = """
ruleset: private
version: 1
name: private
rules:
  - {id: report, on: hazard_report, points: 15, verify: {by: [grid_worker], within: 7d}}
  - {id: patrol, on: patrol, points: 10}
limits:
  - {id: family, kind: cap, scope: household, window: day, limit: 15}
"""
KEY = b"k" * 32


def test_nothing_raw_is_stored_and_lookups_use_raw_ids() -> None:
    """Subjects, the verifier and households are pseudonymised before hashing; readers accept raw ids."""
    p = Pseudonymiser(KEY)
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), pseudonymiser=p)
    engine.register("worker-ZHANG", grid="g1", household="flat-9", roles=["grid_worker"],
                    since=datetime.fromisoformat("2026-01-01T00:00:00+08:00"))
    base = {"grid": "g1", "household": "flat-1", "occurred_at": "2026-04-01T09:00:00+08:00"}
    engine.submit({"id": "r1", "type": "hazard_report", "subject": "resident-WANG", **base})
    verified = engine.submit({"id": "v1", "type": "verify", "subject": "resident-WANG", "actor": "worker-ZHANG",
                              "attributes": {"event": "r1"}, **base})
    assert verified.points == 15
    capped = engine.submit({"id": "p1", "type": "patrol", "subject": "resident-LI", **base})
    assert capped.points == 0  # the household cap pooled WANG and LI under the same household pseudonym
    assert engine.balances(["resident-WANG", "resident-LI"]) == {"resident-WANG": 15, "resident-LI": 0}
    stored = repr([e.to_dict() for e in engine.store.entries(engine.tenant)])
    stored += repr([engine.store.find_event(engine.tenant, i).decision for i in ("r1", "v1", "p1")])
    for raw in ("resident-WANG", "resident-LI", "worker-ZHANG", "flat-1"):
        assert raw not in stored
    assert p.subject("resident-WANG") in stored and p.household("flat-1") in stored
