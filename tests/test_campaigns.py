"""Campaigns, dated rules, limits and items, and conditions on the event's local time."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import gridpoints
from gridpoints.errors import RedemptionRefused, RulesetError
from gridpoints.ruleset import lint
from gridpoints.testing import FairnessViolation, check_campaigns, event_streams

T = datetime.fromisoformat

RULESET = """
ruleset: campaigns
version: 1
name: 示例社区
rules:
  - {id: patrol, name: 巡逻, on: patrol, points: {per: hours, each: 10}}
  - {id: publicity, name: 安全宣传, on: publicity, points: 10}
  - {id: evening, name: 夜间巡逻加分, on: patrol, points: 5, when: {event.hour: {gte: 18}}}
  - {id: spring, name: 春季清洁, on: cleanup, points: 8, valid_from: 2026-03-01T00:00:00+08:00,
     valid_until: 2026-06-01T00:00:00+08:00}
  - {id: littering, on: littering, points: -10}
limits:
  - {id: daily, window: day, limit: 100}
  - {id: week-cap, rules: [publicity], window: day, limit: 15, valid_from: 2026-06-01T00:00:00+08:00,
     valid_until: 2026-06-08T00:00:00+08:00}
campaigns:
  - {id: safety-week, name: 安全宣传周, rules: [publicity, patrol], multiplier: 2,
     valid_from: 2026-06-01T00:00:00+08:00, valid_until: 2026-06-08T00:00:00+08:00}
  - {id: weekend, name: 周末加分, categories: [reward, deduction], bonus: 3, when: {event.weekday: {in: [6, 7]}},
     valid_from: 2026-01-01T00:00:00+08:00, valid_until: 2027-01-01T00:00:00+08:00}
catalog:
  - {id: fan, name: 电扇, cost: 5, valid_from: 2026-07-01T00:00:00+08:00, valid_until: 2026-09-01T00:00:00+08:00}
"""


@pytest.fixture
def engine() -> gridpoints.Engine:
    return gridpoints.Engine(gridpoints.load_ruleset(RULESET))


def submit(engine: gridpoints.Engine, event_id: str, kind: str, at: str, **attributes: object) -> gridpoints.Decision:
    return engine.submit({"id": event_id, "type": kind, "subject": "wang", "grid": "g1", "occurred_at": at,
                          "attributes": attributes})


def test_campaign_doubles_inside_its_window_only(engine: gridpoints.Engine) -> None:
    """Publicity pays 10, doubled to 20 in safety week (a Tuesday), 10 again the day it ends."""
    assert submit(engine, "a", "publicity", "2026-05-31T23:59:59+08:00").points == 13     # Sunday: weekend bonus
    inside = submit(engine, "b", "publicity", "2026-06-02T10:00:00+08:00")
    assert inside.points == 15                                                                # 20, then week-cap 15
    (row,) = inside.trace.rules
    assert (row.base, dict(row.base_args)["campaign"], dict(row.base_args)["plain"]) == (20, "safety-week", 10)
    assert submit(engine, "c", "publicity", "2026-06-08T00:00:00+08:00").points == 10      # Monday, after it


def test_largest_raise_wins_and_campaigns_never_stack(engine: gridpoints.Engine) -> None:
    """On safety week's Saturday, patrol 2h (20) gets ×2 = 40 rather than +3 = 23; not both (43)."""
    decision = submit(engine, "p", "patrol", "2026-06-06T10:00:00+08:00", hours=2)
    (row,) = decision.trace.rules
    assert (row.base, dict(row.base_args)["campaign"]) == (40, "safety-week")
    # 1 hour: ×2 = 20 against +3 = 13 → still ×2. A bonus beats a multiplier on small points: 0.1h → 1.
    small = submit(engine, "q", "patrol", "2026-06-06T11:00:00+08:00", hours=0.1)
    assert (small.trace.rules[0].base, dict(small.trace.rules[0].base_args)["campaign"]) == (4, "weekend")


def test_deductions_are_never_raised(engine: gridpoints.Engine) -> None:
    """The weekend campaign selects the deduction category too; a deduction stays as it is."""
    decision = submit(engine, "x", "littering", "2026-06-06T10:00:00+08:00")
    assert decision.points == -10 and "campaign" not in dict(decision.trace.rules[0].base_args)


def test_event_hour_and_dated_rules(engine: gridpoints.Engine) -> None:
    """The evening rule matches from 18:00 local; the spring rule only from March to May."""
    assert [r.rule_id for r in submit(engine, "d", "patrol", "2026-04-01T17:59:00+08:00", hours=1).trace.rules] \
        == ["patrol"]
    # 10:00 UTC is 18:00 in Shanghai: local time decides.
    assert [r.rule_id for r in submit(engine, "e", "patrol", "2026-04-01T10:00:00+00:00", hours=1).trace.rules] \
        == ["patrol", "evening"]
    assert submit(engine, "f", "cleanup", "2026-02-28T12:00:00+08:00").points == 0
    assert submit(engine, "g", "cleanup", "2026-03-02T12:00:00+08:00").points == 8
    assert submit(engine, "h", "cleanup", "2026-06-01T00:00:00+08:00").points == 0


def test_dated_limit_binds_only_in_force(engine: gridpoints.Engine) -> None:
    """week-cap (15 a day on publicity) binds during safety week; outside, two publicities pay in full."""
    assert submit(engine, "a", "publicity", "2026-06-03T09:00:00+08:00").points == 15
    assert submit(engine, "b", "publicity", "2026-06-03T10:00:00+08:00").points == 0
    assert submit(engine, "c", "publicity", "2026-06-10T09:00:00+08:00").points == 10
    assert submit(engine, "d", "publicity", "2026-06-10T10:00:00+08:00").points == 10


def test_item_validity(engine: gridpoints.Engine) -> None:
    """An item with valid_from/valid_until is refused outside the window."""
    submit(engine, "a", "publicity", "2026-06-10T09:00:00+08:00")
    with pytest.raises(RedemptionRefused) as refused:
        engine.redeem("wang", "fan", "r1", at=T("2026-06-30T23:00:00+08:00"))
    assert refused.value.reason == "unavailable"
    assert engine.redeem("wang", "fan", "r2", at=T("2026-07-01T00:00:00+08:00")).points == -5


def test_explanations_name_the_campaign(engine: gridpoints.Engine) -> None:
    submit(engine, "b", "publicity", "2026-06-02T10:00:00+08:00")
    assert "safety-week" in engine.explain("b", "en") and "× 2 + 0 → +20" in engine.explain("b", "en")
    assert "活动 安全宣传周（safety-week）：× 2 + 0 → +20 分" in engine.explain("b", "zh")


def test_event_date_compares_as_a_date() -> None:
    policy = gridpoints.load_ruleset(RULESET.replace("{event.hour: {gte: 18}}", "{event.date: {gte: 2026-04-02}}"))
    engine = gridpoints.Engine(policy)
    assert len(submit(engine, "a", "patrol", "2026-04-01T23:00:00+08:00", hours=1).trace.rules) == 1
    assert len(submit(engine, "b", "patrol", "2026-04-02T00:00:00+08:00", hours=1).trace.rules) == 2


@pytest.mark.parametrize(("change", "to", "where", "message"), [
    ("valid_from: 2026-06-01T00:00:00+08:00, valid_until: 2026-06-08T00:00:00+08:00}",
     "valid_from: 2026-06-08T00:00:00+08:00, valid_until: 2026-06-01T00:00:00+08:00}",
     "campaigns[0] @ <text>:17:5", "must be after valid_from"),
    ("valid_from: 2026-06-01T00:00:00+08:00, valid_until: 2026-06-08T00:00:00+08:00}",
     "valid_from: 2026-06-01T00:00:00, valid_until: 2026-06-08T00:00:00+08:00}",
     "campaigns[0].valid_from @ <text>:18:6", "needs a UTC offset"),
    ("rules: [publicity, patrol], multiplier: 2", "rules: [publicty, patrol], multiplier: 2",
     "campaigns[0].rules[0] @ <text>:17:44", "did you mean 'publicity'"),
    ("rules: [publicity, patrol], multiplier: 2", "rules: [publicity, patrol]",
     "campaigns[0] @ <text>:17:5", "needs a multiplier above 1 or a bonus"),
    ("when: {event.weekday: {in: [6, 7]}}", "when: {event.date: {gte: tomorrow}}",
     "campaigns[1].when.event.date.gte @ <text>:19:94", "compares with a date like 2026-06-01"),
])
def test_bad_campaigns_are_refused_at_their_line(change: str, to: str, where: str, message: str) -> None:
    text = RULESET.replace(change, to, 1)
    assert text != RULESET
    with pytest.raises(RulesetError) as raised:
        gridpoints.load_ruleset(text)
    (issue,) = raised.value.issues
    assert str(issue).startswith(where) and message in str(issue)


def test_lint_reports_overlaps_and_campaigns_that_never_apply() -> None:
    codes = {(d.code, d.issue.message.split(":")[0]) for d in lint(RULESET)}
    assert ("campaign-overlap", "campaigns 'safety-week' and 'weekend' overlap on patrol, publicity") in codes
    never = RULESET.replace("when: {event.weekday: {in: [6, 7]}}", "when: {event.weekday: {in: [0, 8]}}")
    assert any(d.code == "campaign-never-applies" and "event.weekday" in d.issue.message for d in lint(never))
    dead = RULESET.replace("rules: [publicity, patrol], multiplier: 2", "rules: [littering], multiplier: 2")
    assert any(d.code == "campaign-never-applies" and "selects no rule" in d.issue.message for d in lint(dead))
    late = RULESET.replace("rules: [publicity, patrol], multiplier: 2", "rules: [spring], multiplier: 2")
    assert any(d.code == "campaign-never-applies" and "none of its rules" in d.issue.message for d in lint(late))
    hour = RULESET.replace("{event.hour: {gte: 18}}", "{event.hour: {gte: 24}}")
    assert any(d.code == "unreachable-rule" and "evening" in d.issue.message for d in lint(hour))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(event_streams(gridpoints.load_ruleset(RULESET), start=datetime(2026, 5, 30).date(), days=10))
def test_campaign_property_holds(events: list[dict[str, object]]) -> None:
    check_campaigns(gridpoints.load_ruleset(RULESET), events)


def test_campaign_property_catches_a_wrong_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that lets the first campaign win instead of the largest fails the property."""
    policy = gridpoints.load_ruleset(RULESET)

    def first(self, rule, base, attributes, fields, moment):  # type: ignore[no-untyped-def]
        for campaign in self.campaigns_by_rule.get(rule.id, ()):
            if campaign.in_force(moment) and (campaign.predicate is None or campaign.predicate(attributes, fields)):
                return campaign
        return None

    monkeypatch.setattr(type(policy), "best_campaign", first)
    events = [{"id": "e1", "type": "patrol", "subject": "s", "grid": "g", "occurred_at": "2026-06-06T11:00:00+08:00",
               "attributes": {"hours": 0.1}}]
    with pytest.raises(FairnessViolation, match="campaigns"):
        check_campaigns(policy, events)


def test_the_chinese_guide_example_runs() -> None:
    """The campaigns block of docs/policy-author-guide.zh.md loads and pays what the guide says (10 × 2 = 20)."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "policy-author-guide.zh.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL) if b.startswith("campaigns:")]
    text = ("ruleset: zh\nversion: 1\nname: 示例\nrules:\n  - {id: publicity, on: safety_publicity, points: 10}\n"
            "  - {id: patrol, on: patrol, points: {per: hours, each: 10}}\n" + block)
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    decision = engine.submit({"id": "a", "type": "safety_publicity", "subject": "s", "grid": "g",
                              "occurred_at": "2026-06-02T10:00:00+08:00"})
    assert decision.points == 20
    assert "活动 安全宣传周（safety-week）：× 2 + 0 → +20 分" in decision.explain("zh")
    assert "活动 安全宣传周（safety-week）：× 2 + 0 → +20 分" in guide
