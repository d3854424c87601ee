"""Team challenges and leaderboards: households, buildings and grids, with ties, rotation and splits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import gridpoints
from gridpoints.engine.lifecycle import HONOURED
from gridpoints.engine.lifecycle._team import split
from gridpoints.errors import RulesetError
from gridpoints.testing import FairnessViolation, check_team_challenges, event_streams

T = datetime.fromisoformat
SINCE = T("2026-01-01T00:00:00+08:00")

RULESET = """
ruleset: teams
version: 1
name: 示例社区
rules:
  - {id: patrol, name: 巡逻, on: patrol, points: {per: hours, each: 10}}
challenges:
  - {id: best-household, name: 最美家庭, window: month, top: 1, bonus: 30, team: household, split: equal,
     title: 最美家庭}
  - {id: best-building, name: 楼栋评比, window: month, top: 1, bonus: 20, team: building, split: each,
     rotation: {max_wins: 1, in_periods: 2}}
  - {id: best-grid, name: 网格评比, window: month, top: 1, bonus: 100, team: grid, split: proportional}
honours:
  - {id: family, name: 最美家庭, challenge: best-household}
"""

#: subject → (grid, household, building)
PEOPLE = {"wang": ("g1", "h1", "b1"), "wang2": ("g1", "h1", "b1"), "wang3": ("g1", "h1", "b1"),
          "li": ("g1", "h2", "b1"), "zhao": ("g2", "h3", "b2"), "qian": ("g2", "h4", "b2")}


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    for subject, (grid, household, building) in PEOPLE.items():
        engine.register(subject, grid=grid, household=household, building=building, since=SINCE)
    engine.register("sun", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    return engine


def patrol(engine: gridpoints.Engine, event_id: str, subject: str, at: str, hours: float) -> None:
    engine.submit({"id": event_id, "type": "patrol", "subject": subject, "grid": PEOPLE[subject][0],
                   "occurred_at": at, "attributes": {"hours": hours}})


def test_households_buildings_and_grids_compete(engine: gridpoints.Engine) -> None:
    patrol(engine, "a", "wang", "2026-04-02T09:00:00+08:00", 2)      # h1: 20 + 10 = 30
    patrol(engine, "b", "wang2", "2026-04-03T09:00:00+08:00", 1)
    patrol(engine, "c", "zhao", "2026-04-04T09:00:00+08:00", 4)      # h3: 40, b2: 40 + 20 = 60
    patrol(engine, "d", "qian", "2026-04-05T09:00:00+08:00", 2)
    patrol(engine, "e", "li", "2026-04-06T09:00:00+08:00", 2.5)       # b1: 30 + 25 = 55; g1 55 against g2 60
    board = engine.team_leaderboard("2026-04", team="household")
    assert [(t.team, t.earned) for t in board] == [("h3", 40), ("h1", 30), ("h2", 25), ("h4", 20)]
    assert [(t.team, t.earned) for t in engine.team_leaderboard("2026-04", team="building")] == [("b2", 60),
                                                                                                  ("b1", 55)]
    assert [t.team for t in engine.team_leaderboard("2026-04", team="household", scope="grid", grid="g1")] == [
        "h1", "h2"]
    report = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    (household,) = report.teams["best-household"]
    assert (household.team, household.paid) == ("h3", (("zhao", 30),))
    (building,) = report.teams["best-building"]
    assert building.paid == (("qian", 20), ("zhao", 20))                       # each member the whole bonus
    (grid,) = report.teams["best-grid"]
    assert grid.paid == (("qian", 33), ("zhao", 67))                           # 100 × 20/60 and 40/60
    assert engine.balance("zhao") == 40 + 30 + 20 + 67
    assert [h.id for h in engine.honours("zhao")] == ["family"]
    decision = engine.decision("gp:challenge:best-grid:2026-04:zhao")
    assert decision is not None
    zh = "团队挑战赛 best-grid（2026-04）：网格 g2 合计 60 分，第 1 名；按贡献分给 2 人 → +67 分"
    assert zh in decision.explain("zh")
    assert "team challenge best-grid 2026-04: grid g2 ranked 1 with 60 earned together" in decision.explain("en")
    # A re-run pays nothing again.
    assert engine.close_period("2026-04", now=T("2026-05-02T00:00:00+08:00")).teams == {
        "best-household": (), "best-building": (), "best-grid": ()}


def test_equal_split_among_a_household_and_ties(engine: gridpoints.Engine) -> None:
    """h1 (three members) and h3 both earn 40; h3 reached 40 first and wins. In May h1 wins: 30 / 3 each.

    April's bonuses are dated at its end, so they count toward May (as for residents): h3 starts May with
    30 + 20 + 100 = 150, which h1's 200 beats."""
    patrol(engine, "a", "zhao", "2026-04-02T09:00:00+08:00", 4)
    patrol(engine, "b", "wang", "2026-04-03T09:00:00+08:00", 4)
    (april,) = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00")).teams["best-household"]
    assert april.team == "h3"
    patrol(engine, "c", "wang", "2026-05-03T09:00:00+08:00", 20)
    (may,) = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00")).teams["best-household"]
    assert (may.team, may.paid) == ("h1", (("wang", 10), ("wang2", 10), ("wang3", 10)))
    row = engine.decision("gp:challenge:best-household:2026-05:wang3")
    assert row is not None and [r.status for r in row.trace.rules] == ["awarded", HONOURED]


def test_rotation_counts_a_teams_wins(engine: gridpoints.Engine) -> None:
    """best-building allows one win in two months: b2 wins April, b1 May although b2 earns more."""
    for month in ("04", "05"):
        patrol(engine, f"z{month}", "zhao", f"2026-{month}-02T09:00:00+08:00", 4)
        patrol(engine, f"w{month}", "wang", f"2026-{month}-03T09:00:00+08:00", 1)
    april = engine.close_period("2026-04", now=T("2026-06-01T00:00:00+08:00")).teams["best-building"]
    may = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00")).teams["best-building"]
    assert [t.team for t in april] == ["b2"] and [t.team for t in may] == ["b1"]


def test_split_rules() -> None:
    members = ("a", "b", "c")
    assert split(10, "equal", members, {"a": 1, "b": 5, "c": 5}) == [("a", 3), ("b", 4), ("c", 3)]
    assert split(10, "proportional", members, {"a": 1, "b": 1, "c": 1}) == [("a", 4), ("b", 3), ("c", 3)]
    assert split(10, "proportional", members, {"a": 0, "b": 3, "c": 1}) == [("a", 0), ("b", 8), ("c", 2)]
    assert split(10, "each", members, {}) == [("a", 10), ("b", 10), ("c", 10)]


def test_grid_teams_compete_community_wide() -> None:
    bad = RULESET.replace("team: grid, split: proportional", "team: grid, scope: grid, split: proportional")
    with pytest.raises(RulesetError, match="team: grid challenge needs scope: community"):
        gridpoints.load_ruleset(bad)


def test_team_leaderboard_checks_its_arguments(engine: gridpoints.Engine) -> None:
    with pytest.raises(ValueError, match="team must be"):
        engine.team_leaderboard("2026-04", team="street")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs grid"):
        engine.team_leaderboard("2026-04", team="grid", scope="grid", grid="g1")


POLICY = gridpoints.load_ruleset(RULESET.replace("     rotation: {max_wins: 1, in_periods: 2}}", "     }"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(event_streams(POLICY, subjects=5, households=2, grids=2, days=40, max_size=25))
def test_team_challenge_property_holds(events: list[dict[str, Any]]) -> None:
    check_team_challenges(POLICY, events)


def test_team_property_catches_a_wrong_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that pays every team member the whole bonus under split: equal fails the property."""
    from gridpoints.engine.lifecycle import _team

    real = _team.split
    monkeypatch.setattr(_team, "split", lambda bonus, how, members, own: real(bonus, "each", members, own))
    events = [{"id": f"e{n}", "type": "patrol", "subject": s, "grid": "g1", "household": "h1",
               "occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {"hours": 1}} for n, s in enumerate("ab")]
    with pytest.raises(FairnessViolation, match="team_challenges"):
        check_team_challenges(POLICY, events)


def test_lint_warns_when_each_member_gets_the_whole_bonus() -> None:
    from gridpoints.ruleset import lint

    found = [d for d in lint(RULESET) if d.code == "team-bonus-each"]
    assert [d.issue.message.split("'")[1] for d in found] == ["best-building"]


def test_simulate_counts_team_titles() -> None:
    from gridpoints.model import Membership
    from gridpoints.whatif import simulate

    roster = [Membership(s, g, h, since=SINCE, building=b) for s, (g, h, b) in PEOPLE.items()]
    events = [{"id": "a", "type": "patrol", "subject": "wang", "grid": "g1", "occurred_at": "2026-04-02T09:00:00+08:00",
               "attributes": {"hours": 1}},
              {"id": "b", "type": "patrol", "subject": "li", "grid": "g1", "occurred_at": "2026-05-02T09:00:00+08:00",
               "attributes": {"hours": 5}}]
    summary = simulate(gridpoints.load_ruleset(RULESET), events, roster=roster)
    # April: household h1's three members; May: h1 again (April's bonuses, dated 1 May, count toward May).
    assert summary.honours["earned"] == {"family": 6}


def test_the_chinese_guide_example_loads() -> None:
    """The team challenge block of docs/policy-author-guide.zh.md loads and pays as the guide says."""
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "policy-author-guide.zh.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL) if "team: building" in b]
    text = "ruleset: zh\nversion: 1\nname: 示例\nrules:\n  - {id: patrol, on: patrol, points: 10}\n" + block
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    for subject, building in (("a", "b1"), ("b", "b1"), ("c", "b2")):
        engine.register(subject, grid="g1", household=subject, building=building, since=SINCE)
    for n, subject in enumerate("aab"):
        engine.submit({"id": f"p{n}", "type": "patrol", "subject": subject, "grid": "g1",
                       "occurred_at": "2026-04-02T09:00:00+08:00"})
    (winner,) = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00")).teams["best-building"]
    assert (winner.team, winner.paid) == ("b1", (("a", 40), ("b", 20)))
