"""Resident and worker views: standing (rank, gaps), statement (opening, entries, closing, pending, held),
the worker's grid view (verifications, repairs due, visits)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs
import pytest

import gridpoints

T = datetime.fromisoformat
SINCE = T("2026-01-01T00:00:00+08:00")

RULESET = """
ruleset: views
version: 1
name: 视图
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
  - id: report
    on: hazard_report
    points: 15
    verify: {by: [grid_worker], within: 3d}
  - {id: noise, on: noise_violation, points: -10, repair: service}
repairs:
  - {id: service, task: [community_service], per: hours, quantity: 2, within: 30d}
catalog:
  - {id: goods, cost: 20, hold: 5d}
tiers:
  - {id: member}
  - {id: trusted, min_earned: 60, max_open_violations: 0}
  - {id: star, min_earned: 200}
"""


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    for subject, grid, household in (("a", "g1", "h1"), ("b", "g1", "h2"), ("c", "g2", "h3"), ("d", "g1", "h4")):
        engine.register(subject, grid=grid, household=household, since=SINCE,
                        tags=["elderly"] if subject in ("c", "d") else ())
    engine.register("w", grid="g1", household="hw", roles=["grid_worker"], since=SINCE)
    return engine


def submit(engine: gridpoints.Engine, event_id: str, kind: str, subject: str, at: str,
           **fields: object) -> gridpoints.Decision:
    grid = "g2" if subject == "c" else "g1"
    return engine.submit({"id": event_id, "type": kind, "subject": subject, "grid": grid, "occurred_at": at,
                          **fields})


def test_standing_ranks_and_gives_the_gaps(engine: gridpoints.Engine) -> None:
    """Rank by earned points, with the points to pass the one above and to reach the next tier."""
    submit(engine, "p1", "patrol", "a", "2026-04-02T09:00:00+08:00", attributes={"hours": 5})
    submit(engine, "p2", "patrol", "b", "2026-04-03T09:00:00+08:00", attributes={"hours": 3})
    submit(engine, "p3", "patrol", "c", "2026-04-04T09:00:00+08:00", attributes={"hours": 4})
    first = engine.standing("a", "2026-04")
    assert (first.rank, first.ranked, first.earned, first.to_next_rank) == (1, 3, 50, None)
    assert (first.tier, first.next_tier, first.to_next_tier) == ("member", "trusted", 10)
    third = engine.standing("b", "2026-04")
    # 41 - 30 + 1: with 11 more points b passes c (a tie would go to c, who reached 40 first).
    assert (third.rank, third.to_next_rank) == (3, 11)
    in_grid = engine.standing("b", "2026-04", scope="grid")
    assert (in_grid.grid, in_grid.rank, in_grid.ranked, in_grid.to_next_rank) == ("g1", 2, 2, 21)
    unranked = engine.standing("d", "2026-04")
    assert (unranked.rank, unranked.earned, unranked.to_next_rank) == (None, 0, 31)
    assert engine.standing("a", "2026-03").rank is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.rank = 2  # type: ignore[misc]


def test_an_open_violation_blocks_the_next_tier(engine: gridpoints.Engine) -> None:
    """With the points there, an unrepaired deduction is what keeps the subject below the next tier."""
    submit(engine, "p1", "patrol", "a", "2026-04-02T09:00:00+08:00", attributes={"hours": 8})
    submit(engine, "n1", "noise_violation", "a", "2026-04-03T22:00:00+08:00")
    standing = engine.standing("a", "2026-04")
    assert (standing.tier, standing.next_tier, standing.to_next_tier, standing.tier_blocked) == (
        "member", "trusted", 0, True)


def test_statement_opens_where_the_last_window_closed(engine: gridpoints.Engine) -> None:
    """Opening + the window's movements = closing; pending and held are what stood at the window's end."""
    submit(engine, "p0", "patrol", "a", "2026-03-30T09:00:00+08:00", attributes={"hours": 4})
    submit(engine, "p1", "patrol", "a", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    submit(engine, "r1", "hazard_report", "a", "2026-04-29T09:00:00+08:00")
    submit(engine, "n1", "noise_violation", "a", "2026-04-10T22:00:00+08:00")
    engine.redeem("a", "goods", "o1", at=T("2026-04-28T10:00:00+08:00"))
    submit(engine, "p2", "patrol", "a", "2026-05-02T09:00:00+08:00", attributes={"hours": 1})
    april = engine.statement("a", "2026-04")
    assert (april.opening, april.closing, april.pending, april.held, april.earned) == (40, 40, 15, 20, 30)
    assert april.closing == april.opening + april.credits - april.debits
    assert [e.event_id for e in april.entries] == ["p1", "r1", "n1", "gp:redeem:o1"]
    may = engine.statement("a", "2026-05")
    assert (may.opening, may.closing) == (april.closing, 50)


def test_worker_view_lists_what_the_grid_worker_must_do(engine: gridpoints.Engine) -> None:
    """Open verifications of the grid's events, its residents' repairs under way, and who to visit."""
    submit(engine, "r1", "hazard_report", "a", "2026-04-02T09:00:00+08:00")
    submit(engine, "r2", "hazard_report", "b", "2026-04-01T09:00:00+08:00")
    submit(engine, "r3", "hazard_report", "c", "2026-04-01T09:00:00+08:00")
    submit(engine, "v2", "verify", "b", "2026-04-01T12:00:00+08:00", actor="w", attributes={"event": "r2"})
    submit(engine, "n1", "noise_violation", "b", "2026-04-03T22:00:00+08:00")
    submit(engine, "s1", "community_service", "b", "2026-04-05T09:00:00+08:00",
           attributes={"repair": "n1", "hours": 0.5})
    view = engine.worker_view("g1", now=T("2026-04-06T09:00:00+08:00"))
    assert [(v.event_id, v.subject, v.points) for v in view.verifications] == [("r1", "a", 15)]
    assert view.verifications[0].deadline.startswith("2026-04-05T09:00")
    assert [(r.event_id, r.subject, r.remaining) for r in view.repairs_due] == [("n1", "b", Decimal("1.5"))]
    assert view.visits == ("d",)
    submit(engine, "p1", "patrol", "d", "2026-04-06T08:00:00+08:00", attributes={"hours": 1})
    assert engine.worker_view("g1", now=T("2026-04-06T09:00:00+08:00")).visits == ()
    assert engine.worker_view("g1", now=T("2026-04-06T09:00:00+08:00"), visit_max_earned=10).visits == ("d",)
    assert engine.worker_view("g2", now=T("2026-04-06T09:00:00+08:00")).visits == ("c",)
