"""Corrections (冲正) of every kind of award: pending and verified awards with the worker's credit, closed and
open windows, and the streak, milestone and honour counters the corrected event moved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

import gridpoints
from gridpoints import Engine, MemoryStore
from gridpoints.errors import CorrectionRefused, SettlementError
from gridpoints.model import ISSUANCE, Reason, pending, spendable

T = datetime.fromisoformat

RULESET = """
ruleset: corrections
version: 1
name: 冲正测试
rules:
  - {id: residence-base, on: period.month, points: 10, category: base}
  - {id: mediation, name: 邻里调解, on: mediation, points: 10}
  - id: hazard
    name: 隐患上报
    on: hazard_report
    points: 20
    verify: {by: [grid_worker], within: 7d}
    credit_worker: {points: 5, within: 2d}
  - {id: sorting, name: 垃圾分类, on: garbage_sorting, points: 2}
  - {id: volunteer, name: 志愿服务, on: volunteer, points: {per: hours, each: 10}}
limits:
  - {id: hazard-day, rules: [hazard], window: day, limit: 30}
streaks:
  - {id: sort-3, name: 连续3天垃圾分类, on: [garbage_sorting], length: 3, bonus: 10}
challenges:
  - {id: monthly-top, name: 积分挑战赛, window: month, top: 1, bonus: 50, title: 积分达人}
honours:
  - {id: sorter, name: 分类能手, streak: sort-3}
  - {id: hours-5, name: 志愿服务5小时, milestone: {rules: [volunteer], metric: units, at: 5}}
"""


@pytest.fixture
def engine() -> Engine:
    engine = Engine(gridpoints.load_ruleset(RULESET), MemoryStore())
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"])
    engine.register("staff", grid="g1", household="h8", roles=["staff"])
    engine.register("wang", grid="g1", household="h1")
    engine.register("li", grid="g1", household="h2")
    return engine


def submit(engine: Engine, event_id: str, kind: str, at: str, subject: str = "wang", **fields: Any
           ) -> gridpoints.Decision:
    return engine.submit({"id": event_id, "type": kind, "subject": subject, "grid": "g1", "occurred_at": at,
                          **fields})


def fix(engine: Engine, event_id: str, at: str = "2026-04-20T09:00:00+08:00") -> gridpoints.Decision:
    return engine.correct(event_id, reason="录入错误", actor="staff", at=T(at))


def balance(engine: Engine, account: str) -> int:
    return engine.store.balances("default", [account])[account]


def test_a_pending_award_is_reversed_out_of_pending_and_cannot_be_verified_after(engine: Engine) -> None:
    """The pending entry is reversed, linked; a later verification is refused as corrected, the expiry is a
    no-op."""
    report = submit(engine, "r1", "hazard_report", "2026-04-02T10:00:00+08:00")
    fixed = fix(engine, "r1")
    (entry,) = fixed.entries
    assert (entry.debit, entry.credit, entry.amount, entry.reason, entry.reverses) == (
        pending("wang"), ISSUANCE, 20, Reason.CORRECTED, report.entries[0].seq)
    assert balance(engine, pending("wang")) == 0 and fixed.points == 0
    with pytest.raises(SettlementError, match="was corrected"):
        submit(engine, "v1", "verify", "2026-04-03T10:00:00+08:00", actor="zhao", attributes={"event": "r1"})
    assert engine.expire_pending(now=T("2026-05-01T00:00:00+08:00")) == []
    assert balance(engine, pending("wang")) == 0


def test_a_verified_award_and_the_workers_credit_are_reversed(engine: Engine) -> None:
    """Every entry of the award and of its verification, the worker's credit among them, is reversed and
    linked; the daily limit the verification counted in is given back."""
    report = submit(engine, "r1", "hazard_report", "2026-04-02T10:00:00+08:00")
    verified = submit(engine, "v1", "verify", "2026-04-02T15:00:00+08:00", actor="zhao", attributes={"event": "r1"})
    assert engine.balances(["wang", "zhao"]) == {"wang": 20, "zhao": 5}
    fixed = fix(engine, "r1")
    originals = {e.seq: e for e in (*report.entries, *verified.entries)}
    assert sorted(e.reverses for e in fixed.entries) == sorted(originals)
    for entry in fixed.entries:
        was = originals[entry.reverses]
        assert (entry.subject, entry.debit, entry.credit, entry.amount, entry.reason) == (
            was.subject, was.credit, was.debit, was.amount, Reason.CORRECTED)
    assert engine.balances(["wang", "zhao"]) == {"wang": 0, "zhao": 0} and fixed.points == -20
    assert balance(engine, pending("wang")) == 0
    assert "网格员 zhao 核实该事件所得绩效分 5 分一并冲回" in fixed.explain("zh")
    assert "performance credit of grid worker zhao for verifying it: 5 points taken back" in fixed.explain("en")
    # The day's hazard limit (30) has its 20 back: a second report that day is paid in full.
    submit(engine, "r2", "hazard_report", "2026-04-02T11:00:00+08:00")
    again = submit(engine, "v2", "verify", "2026-04-02T16:00:00+08:00", actor="zhao", attributes={"event": "r2"})
    assert again.points == 20
    assert fix(engine, "r1").duplicate


@pytest.mark.parametrize(("target", "reason", "zh"), [
    ("v1", "settles event 'r1'", "请冲正原事件"),
    ("gp:redeem:q1", "the points mall cancels or returns it", "由积分商城取消或退回"),
    ("gp:period:residence-base:2026-04:wang", "closed period's results are not rewritten", "已结账期的结果不改写"),
    ("r2", "rejected or expired: nothing was paid", "已被驳回或过期"),
])
def test_what_is_not_correctable_is_refused_by_name_in_both_languages(
    engine: Engine, target: str, reason: str, zh: str
) -> None:
    """Settlements, redemptions, period postings and a rejected award: a typed refusal naming the event."""
    submit(engine, "r1", "hazard_report", "2026-04-02T10:00:00+08:00")
    submit(engine, "v1", "verify", "2026-04-02T15:00:00+08:00", actor="zhao", attributes={"event": "r1"})
    submit(engine, "r2", "hazard_report", "2026-04-02T10:00:00+08:00")
    submit(engine, "x2", "reject", "2026-04-02T15:00:00+08:00", actor="zhao", attributes={"event": "r2"})
    before = len(list(engine.store.entries("default")))
    with pytest.raises(CorrectionRefused) as caught:
        fix(engine, target)
    assert caught.value.event_id == target and target in caught.value.explain("zh")
    assert zh in caught.value.explain("zh") and reason in caught.value.explain("en")
    assert len(list(engine.store.entries("default"))) == before


def test_a_correction_in_a_later_window_leaves_the_open_window_and_its_challenge(engine: Engine) -> None:
    """An April award corrected in May, April not yet closed: April's leaderboard and challenge leave it out."""
    submit(engine, "m1", "mediation", "2026-04-02T10:00:00+08:00")
    submit(engine, "m2", "mediation", "2026-04-03T10:00:00+08:00")
    submit(engine, "m3", "mediation", "2026-04-01T10:00:00+08:00", subject="li")
    assert [s.subject for s in engine.leaderboard("2026-04")] == ["wang", "li"]
    fixed = fix(engine, "m2", "2026-05-02T09:00:00+08:00")
    assert not any(r.base_code.startswith("correct.closed") for r in fixed.trace.rules)
    assert [(s.subject, s.earned) for s in engine.leaderboard("2026-04")] == [("li", 10), ("wang", 10)]
    report = engine.close_period("2026-04", now=T("2026-05-03T00:00:00+08:00"))
    assert [s.subject for s in report.challenges["monthly-top"]] == ["li"]


def test_a_correction_after_the_close_is_recorded_now_and_the_closed_results_stand(engine: Engine) -> None:
    """April closed first: the correction is dated in May, says April was closed, and April's leaderboard
    and challenge stand."""
    submit(engine, "m1", "mediation", "2026-04-02T10:00:00+08:00")
    submit(engine, "m2", "mediation", "2026-04-03T10:00:00+08:00")
    submit(engine, "m3", "mediation", "2026-04-03T10:00:00+08:00", subject="li")
    report = engine.close_period("2026-04", now=T("2026-05-01T01:00:00+08:00"))
    assert [s.subject for s in report.challenges["monthly-top"]] == ["wang"]
    fixed = fix(engine, "m2", "2026-05-02T09:00:00+08:00")
    assert all(e.occurred_at.startswith("2026-05-02") for e in fixed.entries)
    assert [dict(r.base_args)["window"] for r in fixed.trace.rules if r.base_code == "correct.closed_won"] == [
        "2026-04"]
    assert ("2026-04 已结账：该期排名与结账结果不改写，已获得的 积分挑战赛 奖励和称号保留；冲正记入本期"
            in fixed.explain("zh"))
    assert "the bonus and title of 积分挑战赛 won in it included" in fixed.explain("en")
    assert "window 2026-04 was already closed" in fixed.explain("en")
    assert [(s.subject, s.earned) for s in engine.leaderboard("2026-04")] == [("wang", 20), ("li", 10)]
    # Weeks are not closed here: the week's ranking leaves the corrected award out.
    assert {s.subject: s.earned for s in engine.leaderboard("2026-W14")} == {"wang": 10, "li": 10}
    assert engine.balance("wang") == 10 + 50 + 10  # m1, the challenge bonus (stands), the base points


def test_a_streak_completed_by_the_corrected_event_is_rolled_back_and_its_bonus_reversed(engine: Engine) -> None:
    """Day 3 completed the run and paid the bonus: the bonus is reversed, the run goes back to 2 days, so a
    real day-3 event completes it again; the badge earned stays and the correction says so."""
    for day in (1, 2, 3):
        done = submit(engine, f"s{day}", "garbage_sorting", f"2026-04-0{day}T10:00:00+08:00")
    assert done.points == 12 and [h.id for h in engine.honours("wang")] == ["sorter"]
    fixed = fix(engine, "s3")
    assert fixed.points == -12 and {e.reason for e in fixed.entries} == {Reason.CORRECTED}
    statuses = {r.rule_id: r.status for r in fixed.trace.rules}
    assert statuses["streak:sort-3"] == "rolled-back" and statuses["honour:sorter"] == "honour-kept"
    assert "荣誉 分类能手：已因该事件获得，予以保留" in fixed.explain("zh")
    assert "honour 分类能手: already earned with this event; it stays" in fixed.explain("en")
    again = submit(engine, "s3b", "garbage_sorting", "2026-04-03T18:00:00+08:00")
    assert again.points == 12


def test_a_streak_counted_past_the_corrected_day_is_kept_and_said(engine: Engine) -> None:
    """Correcting day 1 of a run that went on: the run stands, and the correction says so."""
    for day in (1, 2):
        submit(engine, f"s{day}", "garbage_sorting", f"2026-04-0{day}T10:00:00+08:00")
    fixed = fix(engine, "s1")
    row = next(r for r in fixed.trace.rules if r.rule_id == "streak:sort-3")
    assert row.status == "kept" and "连续记录保留" in fixed.explain("zh")
    assert submit(engine, "s3", "garbage_sorting", "2026-04-03T10:00:00+08:00").points == 12


def test_milestone_progress_the_corrected_event_made_is_taken_back(engine: Engine) -> None:
    """3 volunteer hours corrected: the 5-hour milestone needs 5 more hours, not 2."""
    submit(engine, "v1", "volunteer", "2026-04-02T10:00:00+08:00", attributes={"hours": 3})
    fixed = fix(engine, "v1")
    assert "荣誉 志愿服务5小时：进度回退 3" in fixed.explain("zh")
    submit(engine, "v2", "volunteer", "2026-04-03T10:00:00+08:00", attributes={"hours": 3})
    assert engine.honours("wang") == []
    submit(engine, "v3", "volunteer", "2026-04-04T10:00:00+08:00", attributes={"hours": 2})
    assert [h.id for h in engine.honours("wang")] == ["hours-5"]


def test_correcting_an_award_moves_only_its_own_accounts(engine: Engine) -> None:
    """All accounts still sum to zero after corrections of each kind."""
    submit(engine, "r1", "hazard_report", "2026-04-02T10:00:00+08:00")
    submit(engine, "v1", "verify", "2026-04-02T15:00:00+08:00", actor="zhao", attributes={"event": "r1"})
    submit(engine, "r2", "hazard_report", "2026-04-02T10:00:00+08:00")
    fix(engine, "r1")
    fix(engine, "r2")
    entries = list(engine.store.entries("default"))
    accounts = {e.credit for e in entries} | {e.debit for e in entries}
    assert sum(engine.store.balances("default", accounts).values()) == 0
    assert balance(engine, spendable("wang")) == 0


def test_corrections_lists_what_a_report_shows_with_both_windows(engine: Engine) -> None:
    """``Engine.corrections(window)``: the corrections dated in the window, with the corrected event's time,
    the correction's, the reason and actor, the reversed seqs and the windows already closed."""
    first = submit(engine, "m1", "mediation", "2026-04-02T10:00:00+08:00")
    submit(engine, "m2", "mediation", "2026-05-02T10:00:00+08:00")
    engine.close_period("2026-04", now=T("2026-05-01T01:00:00+08:00"))
    fix(engine, "m1", "2026-05-03T09:00:00+08:00")
    fix(engine, "m2", "2026-05-04T09:00:00+08:00")
    (april_award, may_award) = engine.corrections("2026-05")
    assert (april_award.event_id, april_award.correction_id, april_award.subject, april_award.points) == (
        "m1", "gp:correct:m1", "wang", -10)
    assert (april_award.reason, april_award.actor, april_award.closed) == ("录入错误", "staff", ("2026-04",))
    assert april_award.occurred_local.startswith("2026-04-02") and april_award.corrected_local.startswith(
        "2026-05-03")
    assert april_award.reversed == tuple(e.seq for e in first.entries)
    assert may_award.closed == ()
    assert engine.corrections("2026-04") == [] and len(engine.corrections()) == 2
