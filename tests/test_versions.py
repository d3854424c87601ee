"""Ruleset versions: what changes between two versions (diff), counters that carry by identity
(``continues``), and an upgrade mid-month that is refused while it would strand open items."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import gridpoints
from gridpoints.cli import command
from gridpoints.errors import RulesetError, UpgradeRefused
from gridpoints.policy import diff

ROOT = Path(__file__).resolve().parent.parent
TIANHE = (ROOT / "rulesets" / "tianhe-vitality.yaml").read_text(encoding="utf-8")
SINCE = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
NOW = datetime.fromisoformat("2026-04-15T12:00:00+08:00")


def v2(text: str) -> gridpoints.Policy:
    return gridpoints.load_ruleset(text.replace("version: 1", "version: 2", 1))


def _replace(old: str, new: str, text: str = TIANHE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _month_engine() -> gridpoints.Engine:
    """Tianhe v1, mid-April: a report pending verification, a deduction with a repair under way and its
    appeal window open."""
    engine = gridpoints.Engine(gridpoints.load_ruleset(TIANHE))
    engine.register("r1", grid="g1", household="h1", since=SINCE)
    engine.register("w1", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    at = "2026-04-14T10:00:00+08:00"
    engine.submit({"id": "report-1", "type": "hazard_report", "subject": "r1", "grid": "g1", "occurred_at": at,
                   "attributes": {"hazard": "fire_exit"}})
    engine.submit({"id": "throw-1", "type": "high_altitude_throwing", "subject": "r1", "grid": "g1",
                   "occurred_at": at, "attributes": {"severity": "minor"}})
    return engine


def test_diff_of_a_version_lists_changes_and_counter_effects() -> None:
    """diff lists changed, added and removed items, and each limit's counters: carried, re-based, reset, dropped."""
    old = gridpoints.load_ruleset(TIANHE)
    text = _replace("    limit: 40\n", "    limit: 60\n")                      # daily-hazard-cap re-based
    text = _replace("  - id: household-monthly-cap", "  - id: household-month-cap", text)  # renamed: reset
    text = _replace("    verify: {by: [grid_worker], within: 7d}\n", "", text)
    found = diff(old, v2(text))
    assert {(c.section, c.id, c.change) for c in found.changes} >= {
        ("rules", "hazard-report", "changed"), ("limits", "daily-hazard-cap", "changed"),
        ("limits", "household-monthly-cap", "removed"), ("limits", "household-month-cap", "added")}
    effects = {c.limit: c.effect for c in found.counters}
    assert effects["daily-hazard-cap"] == "re-based" and effects["weekly-reward-cap"] == "carried"
    assert effects["household-month-cap"] == "reset" and effects["household-monthly-cap"] == "dropped"
    reset = next(c for c in found.counters if c.limit == "household-month-cap")
    assert "continues: household-monthly-cap" in reset.why


def test_continues_carries_a_renamed_limits_counters() -> None:
    """A renamed monthly cap that ``continues`` the old id keeps the month's count: it cannot be dodged."""
    text = _replace("  - id: household-monthly-cap\n",
                    "  - id: household-month-cap\n    continues: household-monthly-cap\n")
    assert {c.limit: c.effect for c in diff(gridpoints.load_ruleset(TIANHE), v2(text)).counters}[
        "household-month-cap"] == "carried"
    engine = gridpoints.Engine(gridpoints.load_ruleset(TIANHE))
    engine.register("r1", grid="g1", household="h1", since=SINCE)
    for day in range(1, 15):
        engine.submit({"id": f"pub-{day}", "type": "safety_publicity", "subject": "r1", "grid": "g1",
                       "occurred_at": f"2026-04-{day:02d}T10:00:00+08:00", "attributes": {"hours": 2}})
    before = engine.balance("r1")
    upgraded = engine.upgrade(v2(text), now=NOW)
    decision = upgraded.submit({"id": "pub-15", "type": "safety_publicity", "subject": "r1", "grid": "g1",
                                "occurred_at": "2026-04-15T10:00:00+08:00", "attributes": {"hours": 2}})
    step = next(s for s in decision.trace.rules[0].steps if s.limit_id == "household-month-cap")
    assert step.before == before  # the household's April count so far, not 0


def test_two_limits_cannot_share_counters() -> None:
    """Two limits of one ruleset that would read the same counters fail to load."""
    text = _replace("  - id: household-monthly-cap\n",
                    "  - id: household-monthly-cap2\n    continues: weekly-reward-cap\n")
    with pytest.raises(RulesetError, match="already reads"):
        gridpoints.load_ruleset(text)


def test_an_upgrade_that_would_strand_open_items_is_refused() -> None:
    """v2 drops verify and the appeal: told to refuse, the upgrade lists the pending report and the open
    appeal, says how to proceed, and writes nothing."""
    engine = _month_engine()
    text = _replace("    verify: {by: [grid_worker], within: 7d}\n", "")
    text = _replace("    appeal: {within: 15d, by: [grid_worker]}\n", "", text)
    with pytest.raises(UpgradeRefused) as refused:
        engine.upgrade(v2(text), now=NOW, stranded="refuse")
    kinds = {(item.kind, item.event_id) for item in refused.value.items}
    assert kinds == {("pending", "report-1"), ("appeal", "throw-1")}
    assert "strand 2 open item(s)" in str(refused.value) and "stranded='keep'" in str(refused.value)
    assert engine.store.find_event("default", "gp:upgrade:tianhe-vitality@2:report-1") is None  # nothing written


def test_an_upgrade_that_drops_a_repair_under_way_is_refused() -> None:
    """Told to refuse stranded repairs, an upgrade dropping the repair under way is refused."""
    engine = _month_engine()
    text = TIANHE.replace("    repair: community-service\n", "").replace("  - id: community-service\n",
                                                                        "  - id: community-service-2\n")
    with pytest.raises(UpgradeRefused) as refused:
        engine.upgrade(v2(text), now=NOW, stranded={"repair": "refuse"})
    assert ("repair", "throw-1") in {(item.kind, item.event_id) for item in refused.value.items}


def test_tianhe_v1_to_v2_mid_month_settles_every_open_item() -> None:
    """v2 raises the daily hazard cap and keeps verify, appeal and the repair: the upgrade goes through, and the
    pending report is verified and the repair completes, each by v1, the version that opened it."""
    engine = _month_engine()
    upgraded = engine.upgrade(v2(_replace("    limit: 40\n", "    limit: 60\n")), now=NOW)
    assert upgraded.policy.ref == "tianhe-vitality@2" and upgraded.store is engine.store
    verified = upgraded.submit({"id": "verify-1", "type": "verify", "subject": "r1", "grid": "g1", "actor": "w1",
                                "occurred_at": "2026-04-15T13:00:00+08:00", "attributes": {"event": "report-1"}})
    assert verified.points == 20
    repaired = upgraded.submit({"id": "service-1", "type": "community_service", "subject": "r1", "grid": "g1",
                                "actor": "w1", "occurred_at": "2026-04-16T10:00:00+08:00",
                                "attributes": {"repair": "throw-1", "hours": 2}})
    assert repaired.points == 30
    assert upgraded.stranded(upgraded.policy, now=NOW) == []
    assert {e.ruleset for e in (*verified.entries, *repaired.entries)} == {"tianhe-vitality@1"}


def test_gridpoints_diff_command(tmp_path: Path) -> None:
    """gridpoints diff prints the change and exits 1 on a counter reset; the same ruleset is no change."""
    new = tmp_path / "v2.yaml"
    new.write_text(_replace("  - id: household-monthly-cap", "  - id: household-month-cap").replace(
        "version: 1", "version: 2", 1), encoding="utf-8")
    result = CliRunner().invoke(command(), ["diff", str(ROOT / "rulesets" / "tianhe-vitality.yaml"), str(new)])
    assert result.exit_code == 1, result.output  # a reset mid-window
    assert "tianhe-vitality@1 → tianhe-vitality@2" in result.output
    assert "reset    limit household-month-cap" in result.output
    same = CliRunner().invoke(command(), ["diff", str(ROOT / "rulesets" / "tianhe-vitality.yaml"),
                                          str(ROOT / "rulesets" / "tianhe-vitality.yaml"), "--json"])
    assert same.exit_code == 0 and '"changes": []' in same.output
