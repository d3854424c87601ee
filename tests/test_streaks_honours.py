"""Streaks and honours: runs of consecutive days or weeks in counters, titles, badges and milestones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import gridpoints
from gridpoints.engine.lifecycle import HONOURED
from gridpoints.errors import RulesetError
from gridpoints.model import Membership
from gridpoints.storage import MemoryStore
from gridpoints.testing import FairnessViolation, check_honours, check_streaks, event_streams

T = datetime.fromisoformat

RULESET = """
ruleset: streaks
version: 1
name: 示例社区
rules:
  - {id: sorting, name: 垃圾分类, on: garbage_sorting, points: 2}
  - {id: volunteer, name: 志愿服务, on: volunteer, points: {per: hours, each: 10}}
  - id: report
    name: 隐患上报
    on: hazard_report
    points: 20
    verify: {by: [grid_worker], within: 7d}
  - {id: patrol, name: 巡逻, on: patrol, points: 5}
limits:
  - {id: daily, rules: [patrol], window: day, limit: 5}
streaks:
  - {id: sort-3, name: 连续3天垃圾分类, on: [garbage_sorting], length: 3, bonus: 10}
  - {id: patrol-weeks, name: 连续两周巡逻, on: [patrol], period: week, length: 2, bonus: 7, repeat: true,
     when: {event.hour: {lt: 22}}}
challenges:
  - {id: monthly-top, name: 积分挑战赛, window: month, top: 1, bonus: 50, title: 积分达人}
honours:
  - {id: star, name: 积分达人, challenge: monthly-top}
  - {id: sorter, name: 分类能手, streak: sort-3}
  - {id: hours-5, name: 志愿服务5小时, milestone: {rules: [volunteer], metric: units, at: 5}}
  - {id: reporter-2, name: 热心上报, milestone: {rules: [report], metric: events, at: 2}}
  - {id: patrol-10, name: 巡逻10分, milestone: {rules: [patrol], metric: points, at: 10}}
"""


class NoScans(MemoryStore):
    """A memory store whose ledger cannot be read: streaks and honours must work from counters."""

    scanning = False

    def entries(self, tenant: str, *, subject: str | None = None, after_seq: int = 0) -> Iterator[Any]:
        if not NoScans.scanning:
            raise AssertionError("the ledger was scanned")
        return super().entries(tenant, subject=subject, after_seq=after_seq)


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), store=NoScans())
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"])
    return engine


def submit(engine: gridpoints.Engine, event_id: str, kind: str, at: str, subject: str = "wang",
           **fields: Any) -> gridpoints.Decision:
    return engine.submit({"id": event_id, "type": kind, "subject": subject, "grid": "g1", "occurred_at": at,
                          **fields})


def streak_row(decision: gridpoints.Decision, streak: str) -> Any:
    return next(r for r in decision.trace.rules if r.rule_id == f"streak:{streak}")


def test_three_days_in_a_row_pay_once(engine: gridpoints.Engine) -> None:
    """Days 1, 2, 2 (same day), 3: the bonus on day 3 only; the honour's badge with it."""
    points = [submit(engine, f"s{i}", "garbage_sorting", f"2026-04-0{d}T09:00:00+08:00").points
              for i, d in enumerate([1, 2, 2, 3])]
    assert points == [2, 2, 2, 12]
    third = engine.decision("s3")
    assert third is not None
    assert streak_row(third, "sort-3").steps[0].code == "streak.completed"
    assert [h.id for h in engine.honours("wang")] == ["sorter"]
    assert engine.honours("wang")[0].since == date(2026, 4, 3)
    # The run goes on: day 4 pays nothing more (no repeat), and the badge is held once.
    assert submit(engine, "s4", "garbage_sorting", "2026-04-04T09:00:00+08:00").points == 2
    assert engine.honours("wang")[0].times == 1


def test_a_gap_breaks_the_run_and_late_events_do_not_count(engine: gridpoints.Engine) -> None:
    for i, d in enumerate(["01", "02", "04", "05"]):
        submit(engine, f"s{i}", "garbage_sorting", f"2026-04-{d}T09:00:00+08:00")
    broken = engine.decision("s2")
    assert broken is not None and streak_row(broken, "sort-3").steps[0].code == "streak.broken"
    late = submit(engine, "late", "garbage_sorting", "2026-04-03T09:00:00+08:00")
    assert streak_row(late, "sort-3").steps[0].code == "streak.late" and late.points == 2
    assert submit(engine, "s4", "garbage_sorting", "2026-04-06T09:00:00+08:00").points == 12


def test_local_midnight_decides_the_day(engine: gridpoints.Engine) -> None:
    """16:30 UTC is 00:30 the next day in Shanghai: three UTC-dated events on two UTC days are three local days."""
    for i, at in enumerate(["2026-04-01T10:00:00+00:00", "2026-04-01T16:30:00+00:00", "2026-04-02T17:00:00+00:00"]):
        last = submit(engine, f"s{i}", "garbage_sorting", at)
    assert last.points == 12


def test_weekly_streak_repeats_across_the_year_end(engine: gridpoints.Engine) -> None:
    """ISO weeks 2026-W52, 2026-W53, 2027-W01, 2027-W02: a bonus at 2 and (repeat) at 4 in a row."""
    days = ["2026-12-21", "2026-12-31", "2027-01-06", "2027-01-14"]
    paid = [streak_row(submit(engine, f"p{i}", "patrol", f"{d}T09:00:00+08:00"), "patrol-weeks").granted
            for i, d in enumerate(days)]
    assert paid == [0, 7, 0, 7]
    late_night = submit(engine, "p9", "patrol", "2027-01-21T23:00:00+08:00")      # `when` fails: not counted
    assert not any(r.rule_id == "streak:patrol-weeks" for r in late_night.trace.rules)


def test_batch_equals_one_by_one() -> None:
    events = [{"id": f"s{i}", "type": "garbage_sorting", "subject": "wang", "grid": "g1",
               "occurred_at": f"2026-04-0{d}T09:00:00+08:00"} for i, d in enumerate([1, 2, 3, 5, 6, 7])]
    # Two runs of three in one batch: the second is counted from the first's counters, staged in the batch.
    one = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    singles = [one.submit(e).points for e in events]
    many = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    assert [d.points for d in many.submit_many(events)] == singles == [2, 2, 12, 2, 2, 12]


def test_milestones_count_units_verified_events_and_points(engine: gridpoints.Engine) -> None:
    submit(engine, "v1", "volunteer", "2026-04-03T09:00:00+08:00", attributes={"hours": 3})
    crossing = submit(engine, "v2", "volunteer", "2026-04-04T09:00:00+08:00", attributes={"hours": 2.5})
    row = next(r for r in crossing.trace.rules if r.rule_id == "honour:hours-5")
    assert row.status == HONOURED
    assert "里程碑 志愿服务5小时（hours-5）" in crossing.explain("zh") and "5.5/5" in crossing.explain("zh")
    assert "milestone 志愿服务5小时 (hours-5)" in crossing.explain("en") and "honour earned" in crossing.explain("en")
    # Reports count when verified, not when made.
    submit(engine, "r1", "hazard_report", "2026-04-03T09:00:00+08:00")
    submit(engine, "r2", "hazard_report", "2026-04-03T10:00:00+08:00")
    assert "reporter-2" not in {h.id for h in engine.honours("wang")}
    for n in (1, 2):
        submit(engine, f"ok{n}", "verify", "2026-04-04T09:00:00+08:00", actor="zhao", attributes={"event": f"r{n}"})
    # Points after the cap: the daily cap of 5 leaves 5 per day, so 10 points need two days.
    for i, d in enumerate(["05", "05", "06"]):
        submit(engine, f"pt{i}", "patrol", f"2026-04-{d}T09:00:00+08:00")
    held = {h.id: h for h in engine.honours("wang")}
    assert set(held) == {"hours-5", "reporter-2", "patrol-10"}
    assert (held["hours-5"].progress, held["hours-5"].target) == (5.5, 5)
    assert held["patrol-10"].since == date(2026, 4, 6)


def test_challenge_titles_are_earned_at_each_win() -> None:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    since = T("2026-01-01T00:00:00+08:00")
    for subject in ("wang", "li"):
        engine.register(subject, grid="g1", household=f"h-{subject}", since=since)
    for month in ("04", "05"):
        submit(engine, f"v-{month}", "volunteer", f"2026-{month}-03T09:00:00+08:00", attributes={"hours": 1})
        engine.close_period(f"2026-{month}", now=T("2026-07-01T00:00:00+08:00"))
    (star,) = [h for h in engine.honours("wang") if h.id == "star"]
    assert (star.kind, star.times, star.since) == ("title", 2, date(2026, 5, 1))
    bonus = engine.decision("gp:challenge:monthly-top:2026-04:wang")
    assert bonus is not None and "称号 积分达人（star）" in bonus.explain("zh")
    assert engine.honours("li") == []


@pytest.mark.parametrize(("change", "to", "message"), [
    ("streak: sort-3}", "streak: sort-4}", "unknown streak 'sort-4' (did you mean 'sort-3'?)"),
    ("challenge: monthly-top}", "challenge: monthly-top, streak: sort-3}", "exactly one of challenge, streak"),
    ("rules: [volunteer], metric: units", "rules: [sorting], metric: units", "units of per-unit rules"),
    ("on: [garbage_sorting]", "on: [garbage_sortin]", "no rule, repair or declared event type 'garbage_sortin'"),
    ("length: 3, bonus: 10", "length: 1, bonus: 10", "greater than or equal to 2"),
])
def test_bad_streaks_and_honours_are_refused(change: str, to: str, message: str) -> None:
    text = RULESET.replace(change, to, 1)
    assert text != RULESET
    with pytest.raises(RulesetError) as raised:
        gridpoints.load_ruleset(text)
    assert message in str(raised.value) and raised.value.issues[0].line is not None


POLICY = gridpoints.load_ruleset(RULESET)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(event_streams(POLICY, subjects=2, days=9, max_size=30))
def test_streak_and_honour_properties_hold(events: list[dict[str, Any]]) -> None:
    check_streaks(POLICY, events)
    check_honours(POLICY, events)


def test_streak_property_catches_a_streak_that_ignores_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine whose streak never breaks (every new day extends the run) fails the property."""
    from gridpoints.engine.lifecycle import _streak

    real = _streak.period_ordinal
    seen: dict[int, int] = {}

    def gapless(period: str, day: date) -> int:
        ordinal = real(period, day)
        return seen.setdefault(ordinal, len(seen) + 1)

    monkeypatch.setattr(_streak, "period_ordinal", gapless)
    events = [{"id": f"e{i}", "type": "garbage_sorting", "subject": "s", "grid": "g",
               "occurred_at": f"2026-04-0{d}T09:00:00+08:00"} for i, d in enumerate([1, 3, 5])]
    with pytest.raises(FairnessViolation, match="streaks"):
        check_streaks(POLICY, events)


def test_honour_property_catches_a_badge_earned_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that earns a streak's badge again on every day of a long run fails the property."""
    from gridpoints.engine import Handler, Mechanism, lifecycle
    from gridpoints.engine.lifecycle import _honour

    def again(decider: Any, plan: Any, award: Any, amount: int, steps: Any) -> str:
        step = award.payload
        if step.spec.streak is not None and decider.counters.get(step.run, 0) >= 3:
            # Earned again whatever the times counter says.
            decider.add(step.times, 1)
            return HONOURED
        return _honour._earn(decider, plan, award, amount, steps)

    broken = Mechanism("honour", handlers=(Handler(_honour.HonourAction.EARN, again),),
                       follows=_honour.MECHANISM.follows)
    monkeypatch.setattr(lifecycle, "MECHANISMS", tuple(broken if m.name == "honour" else m
                                                       for m in lifecycle.MECHANISMS))
    events = [{"id": f"e{i}", "type": "garbage_sorting", "subject": "s", "grid": "g",
               "occurred_at": f"2026-04-0{d}T09:00:00+08:00"} for i, d in enumerate([1, 2, 3, 4])]
    with pytest.raises(FairnessViolation, match="honours"):
        check_honours(POLICY, events)


def test_lint_warns_about_streaks_and_honours_that_do_nothing() -> None:
    from gridpoints.ruleset import lint

    assert not [d for d in lint(RULESET) if d.severity == "error"]
    quiet = RULESET.replace("length: 3, bonus: 10}", "length: 3}").replace("streak: sort-3}", "milestone: "
                                                                               "{rules: [sorting], at: 3}}")
    codes = {d.code for d in lint(quiet)}
    assert "streak-does-nothing" in codes
    never = RULESET.replace("{id: patrol, name: 巡逻, on: patrol, points: 5}", "{id: patrol, on: patrol, points: -5}")
    assert "honour-never-earned" in {d.code for d in lint(never)}
    renamed = RULESET.replace("{id: star, name: 积分达人,", "{id: star, name: 月度之星,")
    assert "honour-title-differs" in {d.code for d in lint(renamed)}


def test_the_chinese_guide_example_loads_and_runs() -> None:
    """The streaks and honours block of docs/policy-author-guide.zh.md loads; 30 days in a row earn the badge."""
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "policy-author-guide.zh.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL) if b.startswith("streaks:")]
    text = ("ruleset: zh\nversion: 1\nname: 示例\nrules:\n  - {id: sorting, on: garbage_sorting, points: 1}\n"
            "  - {id: volunteer, on: volunteer, points: {per: hours, each: 10}}\n" + block)
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    days = [date(2026, 4, 1).toordinal() + n for n in range(30)]
    decisions = engine.submit_many([{"id": f"s{n}", "type": "garbage_sorting", "subject": "s", "grid": "g",
                                     "occurred_at": f"{date.fromordinal(d).isoformat()}T08:00:00+08:00"}
                                    for n, d in enumerate(days)])
    assert [d.points for d in decisions] == [1] * 29 + [51]
    assert [h.id for h in engine.honours("s")] == ["sorter"]
    assert "获得荣誉" in decisions[-1].explain("zh")


def test_simulate_counts_honours_and_streaks(tmp_path: Any) -> None:
    """The replay's summary counts honours earned and streaks completed; the report shows them."""
    from gridpoints.whatif import simulate, write_report

    events = [{"id": f"s{n}", "type": "garbage_sorting", "subject": subject, "grid": "g1",
               "occurred_at": f"2026-04-0{day}T08:00:00+08:00"}
              for n, (subject, day) in enumerate((s, d) for d in (1, 2, 3, 4) for s in ("a", "b"))]
    events.insert(3, {"id": "v1", "type": "volunteer", "subject": "a", "grid": "g1",
                      "occurred_at": "2026-04-02T12:00:00+08:00", "attributes": {"hours": 6}})
    # An event in May: the replay closes April (title to "a") and, at its end, May (title to "b").
    events.append({"id": "m1", "type": "garbage_sorting", "subject": "b", "grid": "g1",
                   "occurred_at": "2026-05-02T08:00:00+08:00"})
    roster = [Membership(s, "g1", f"h-{s}", since=T("2026-01-01T00:00:00+08:00")) for s in ("a", "b")]
    summary = simulate(POLICY, events, roster=roster)
    assert summary.to_dict()["honours"] == {"earned": {"hours-5": 1, "sorter": 2, "star": 2},
                                            "streaks_completed": {"sort-3": 2}}
    assert "sort-3" not in summary.limits
    page = write_report(tmp_path / "report.html", summary.to_dict(), lang="zh").read_text(encoding="utf-8")
    assert "荣誉" in page and "hours-5" in page


def test_every_standard_property_holds_with_streaks_and_honours() -> None:
    """Equal treatment, determinism, idempotency, conservation … hold for a ruleset with streaks and honours."""
    from gridpoints.testing import assert_fair

    assert_fair(POLICY, max_examples=15, seed=14, streams={"subjects": 3, "days": 8, "max_size": 25})
