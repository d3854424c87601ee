"""Repairs (积分修复), the points mall, period close, tiers and grid-worker credit, end to end on a memory store."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

import pytest

import gridpoints
from gridpoints.errors import EventError, RedemptionRefused, RulesetError, SegregationError, SettlementError

RULESET = """
ruleset: lifecycle
version: 1
name: lifecycle
categories: {base: 基础分, reward: 奖励分, deduction: 扣分, bonus: 加分, performance: 绩效}
expire_after: 1
rules:
  - {id: residence-base, on: period.month, points: 10, category: base}
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
  - {id: throwing, on: high_altitude_throwing, points: -50, repair: svc, appeal: {within: 10d}}
  - id: hazard
    on: hazard_report
    points: 20
    verify: {by: [grid_worker], within: 7d}
    credit_worker: {points: 5, within: 2d}
repairs:
  - {id: svc, task: [community_service], per: hours, quantity: 2, within: 30d, restore: 80%, max_per_year: 1}
catalog:
  - {id: goods, cost: 100, stock: 1}
  - {id: checkup, cost: 50, hold: 3d, limit: {per_subject: 1, window: year}}
  - {id: parking, cost: 10, allocate: {slots: 1, window: month, rotation: {max_wins: 1, in_periods: 2}}}
challenges:
  - {id: top, window: month, top: 1, bonus: 50, title: 积分达人, rotation: {max_wins: 1, in_periods: 2}}
tiers:
  - {id: bronze}
  - {id: gold, min_earned: 100, max_open_violations: 0}
"""

T = datetime.fromisoformat
SINCE = T("2026-01-01T00:00:00+08:00")


@pytest.fixture
def engine() -> gridpoints.Engine:
    eng = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    for subject, household in (("a", "h1"), ("b", "h2"), ("c", "h3")):
        eng.register(subject, grid="g1", household=household, since=SINCE)
    eng.register("w", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    eng.register("w2", grid="g2", household="h8", roles=["grid_worker"], since=SINCE)
    return eng


_ids = itertools.count()


def submit(engine: gridpoints.Engine, kind: str, subject: str, at: str, **fields: object) -> gridpoints.Decision:
    event = {"id": f"ev{next(_ids)}", "type": kind, "subject": subject, "grid": "g1", "occurred_at": at, **fields}
    return engine.submit(event)


def test_a_resubmitted_settlement_or_repair_task_is_a_duplicate(engine: gridpoints.Engine) -> None:
    """A verification, an appeal and a repair task submitted again with the same content return their original
    decisions and write nothing (the event they settle is settled by then: that is not an error); with other
    content they are a conflict."""
    report = submit(engine, "hazard_report", "a", "2026-04-02T10:00:00+08:00")
    deduction = submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    settlements = [
        {"id": "v1", "type": "verify", "subject": "a", "grid": "g1", "actor": "w",
         "occurred_at": "2026-04-03T10:00:00+08:00", "attributes": {"event": report.event_id}},
        {"id": "t1", "type": "community_service", "subject": "b", "grid": "g1",
         "occurred_at": "2026-04-05T10:00:00+08:00", "attributes": {"repair": deduction.event_id, "hours": 2}},
        {"id": "p1", "type": "appeal", "subject": "b", "grid": "g1", "actor": "w",
         "occurred_at": "2026-04-06T10:00:00+08:00", "attributes": {"event": deduction.event_id,
                                                                  "outcome": "dismissed"}},
    ]
    first = [engine.submit(event) for event in settlements]
    head = engine.head()
    again = engine.submit_many(settlements)
    assert [d.duplicate for d in again] == [True, True, True]
    assert [d.points for d in again] == [d.points for d in first]
    assert engine.head() == head
    with pytest.raises(gridpoints.IdempotencyConflict):
        engine.submit({**settlements[0], "occurred_at": "2026-04-04T10:00:00+08:00"})


def test_repair_restores_part_of_a_deduction_once_the_task_is_done(engine: gridpoints.Engine) -> None:
    """Partial task events accumulate; completion restores 80 % with an entry linked to the deduction."""
    submit(engine, "patrol", "b", "2026-04-02T10:00:00+08:00", attributes={"hours": 6})
    deduction = submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    assert deduction.points == -50
    assert [r.status for r in engine.repairs("b")] == ["open"]
    first = submit(engine, "community_service", "b", "2026-04-05T10:00:00+08:00",
                   attributes={"repair": deduction.event_id, "hours": 1.5})
    assert first.points == 0 and first.trace.rules[0].status == "in_progress"
    assert engine.repairs("b")[0].remaining == pytest.approx(0.5)
    done = submit(engine, "community_service", "b", "2026-04-06T10:00:00+08:00",
                  attributes={"repair": deduction.event_id, "hours": 0.5})
    assert done.points == 40
    (restore,) = done.entries
    assert restore.reason == "repair-restored" and restore.reverses == deduction.entries[0].seq
    status = engine.repairs("b")[0]
    assert (status.status, status.restored) == ("completed", 40)
    assert engine.balance("b") == 60 - 50 + 40
    assert "2/2" in done.explain("zh") and "completed" in done.explain("en")


def test_a_repair_is_done_at_most_once_and_a_task_must_name_an_open_repair(engine: gridpoints.Engine) -> None:
    """Another task after completion, or naming an event without a repair, is a typed error; nothing written."""
    deduction = submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    submit(engine, "community_service", "b", "2026-04-04T10:00:00+08:00",
           attributes={"repair": deduction.event_id, "hours": 2})
    head = engine.head()
    with pytest.raises(SettlementError, match="no longer open"):
        submit(engine, "community_service", "b", "2026-04-05T10:00:00+08:00",
               attributes={"repair": deduction.event_id, "hours": 2})
    patrol = submit(engine, "patrol", "b", "2026-04-05T10:00:00+08:00", attributes={"hours": 1})
    with pytest.raises(SettlementError, match="opened no repair"):
        submit(engine, "community_service", "b", "2026-04-06T10:00:00+08:00",
               attributes={"repair": patrol.event_id, "hours": 2})
    with pytest.raises(EventError, match=r"attributes\.repair"):
        submit(engine, "community_service", "b", "2026-04-06T10:00:00+08:00", attributes={"hours": 2})
    assert engine.head().seq == head.seq + 1  # only the patrol


def test_repairs_per_year_are_limited(engine: gridpoints.Engine) -> None:
    """With max_per_year 1, the second deduction of the year opens no repair and says why."""
    submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    second = submit(engine, "high_altitude_throwing", "b", "2026-04-08T10:00:00+08:00")
    (step,) = second.trace.rules[0].steps
    assert step.code == "repair.max_per_year"
    assert len(engine.repairs("b")) == 1
    next_year = submit(engine, "high_altitude_throwing", "b", "2027-01-08T10:00:00+08:00")
    assert next_year.trace.rules[0].steps[0].code == "repair.opened"


def test_repair_after_deadline_is_refused_and_close_expires_it(engine: gridpoints.Engine) -> None:
    """A task after the deadline is refused; period close marks the repair expired; the deduction stands."""
    deduction = submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    with pytest.raises(SettlementError, match="closed at 2026-05-03"):
        submit(engine, "community_service", "b", "2026-05-04T10:00:00+08:00",
               attributes={"repair": deduction.event_id, "hours": 2})
    report = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00"))
    assert len(report.repairs_expired) == 1
    assert engine.repairs("b")[0].status == "expired"
    assert engine.close_period("2026-05", now=T("2026-06-02T00:00:00+08:00")).repairs_expired == ()


def test_upheld_appeal_reverses_the_deduction_and_cancels_its_repair(engine: gridpoints.Engine) -> None:
    """The reversal is a new entry linked to the original, which stays; the repair becomes cancelled."""
    deduction = submit(engine, "high_altitude_throwing", "b", "2026-04-03T10:00:00+08:00")
    appeal = submit(engine, "appeal", "b", "2026-04-05T10:00:00+08:00", actor="w",
                    attributes={"event": deduction.event_id, "outcome": "upheld"})
    assert appeal.points == 50 and appeal.entries[0].reverses == deduction.entries[0].seq
    assert any(e.seq == deduction.entries[0].seq for e in engine.history("b"))
    assert engine.repairs("b")[0].status == "cancelled"
    with pytest.raises(SettlementError):
        submit(engine, "community_service", "b", "2026-04-06T10:00:00+08:00",
               attributes={"repair": deduction.event_id, "hours": 2})


def test_verified_report_credits_the_grid_worker_of_that_grid_in_time(engine: gridpoints.Engine) -> None:
    """Verification within 2 days credits the verifying worker; a later or foreign-grid verifier gets nothing."""
    report = submit(engine, "hazard_report", "c", "2026-04-09T10:00:00+08:00")
    assert report.points == 0 and report.trace.rules[0].status == "pending"
    verified = submit(engine, "verify", "c", "2026-04-10T09:00:00+08:00", actor="w",
                      attributes={"event": report.event_id})
    assert verified.points == 20
    assert engine.balance("w") == 5
    late = submit(engine, "hazard_report", "a", "2026-04-09T10:00:00+08:00")
    submit(engine, "verify", "a", "2026-04-12T10:00:00+08:00", actor="w", attributes={"event": late.event_id})
    other = submit(engine, "hazard_report", "b", "2026-04-09T10:00:00+08:00")
    submit(engine, "verify", "b", "2026-04-09T12:00:00+08:00", actor="w2", attributes={"event": other.event_id})
    assert engine.balances(["w", "w2", "a", "b"]) == {"w": 5, "w2": 0, "a": 20, "b": 20}


def test_worker_never_earns_from_own_household(engine: gridpoints.Engine) -> None:
    """A worker may not verify a report from their own household: segregation of duties, nothing written."""
    engine.register("spouse", grid="g1", household="h9", since=SINCE)
    report = submit(engine, "hazard_report", "spouse", "2026-04-09T10:00:00+08:00")
    head = engine.head()
    with pytest.raises(SegregationError, match="household"):
        submit(engine, "verify", "spouse", "2026-04-09T12:00:00+08:00", actor="w",
               attributes={"event": report.event_id})
    assert engine.head() == head and engine.balance("w") == 0


def test_redemption_is_idempotent_and_the_last_unit_goes_to_one(engine: gridpoints.Engine) -> None:
    """Stock 1: the first requester gets it, a retry returns the original, the next is out of stock."""
    submit(engine, "patrol", "a", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})
    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})
    first = engine.redeem("a", "goods", "r1", at=T("2026-04-10T10:00:00+08:00"))
    assert first.points == -100 and first.entries[0].credit == "community:redemptions"
    again = engine.redeem("a", "goods", "r1", at=T("2026-04-11T10:00:00+08:00"))
    assert again.duplicate and engine.balance("a") == 20
    with pytest.raises(RedemptionRefused) as refused:
        engine.redeem("c", "goods", "r2", at=T("2026-04-10T10:00:00+08:00"))
    assert refused.value.reason == "out_of_stock" and engine.balance("c") == 120


def test_redemption_refusals_have_reasons_and_write_nothing(engine: gridpoints.Engine) -> None:
    """Insufficient balance, unknown item: typed refusals with a reason code; the head does not move."""
    head = engine.head()
    with pytest.raises(RedemptionRefused) as poor:
        engine.redeem("b", "checkup", "r1", at=T("2026-04-10T10:00:00+08:00"))
    assert poor.value.reason == "insufficient_balance"
    with pytest.raises(RedemptionRefused) as unknown:
        engine.redeem("b", "tv", "r2", at=T("2026-04-10T10:00:00+08:00"))
    assert unknown.value.reason == "unknown_item"
    assert engine.head() == head


def test_concurrent_redemptions_never_oversell_or_overdraw(engine: gridpoints.Engine) -> None:
    """Twenty threads race for one unit: exactly one succeeds; no balance goes negative."""
    subjects = [f"s{i}" for i in range(20)]
    for subject in subjects:
        engine.register(subject, grid="g1", since=SINCE)
        submit(engine, "patrol", subject, "2026-04-02T10:00:00+08:00", attributes={"hours": 10})
    barrier = threading.Barrier(len(subjects))
    outcomes: list[str] = []

    def race(subject: str) -> None:
        barrier.wait()
        try:
            engine.redeem(subject, "goods", f"req-{subject}", at=T("2026-04-10T10:00:00+08:00"))
            outcomes.append("ok")
        except RedemptionRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=race, args=(s,)) for s in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["out_of_stock"] * 19
    assert min(engine.balances(subjects).values()) == 0


def test_hold_cancel_returns_points_and_the_yearly_limit(engine: gridpoints.Engine) -> None:
    """A two-phase item holds points; cancel returns them and frees the per-year limit; fulfil spends them."""
    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 10})
    held = engine.redeem("c", "checkup", "h1", at=T("2026-04-10T10:00:00+08:00"))
    assert held.points == -50 and held.entries[0].credit == "subject:c:held"
    assert engine.cancel("h1", at=T("2026-04-11T10:00:00+08:00")).points == 50
    engine.redeem("c", "checkup", "h2", at=T("2026-04-12T10:00:00+08:00"))
    fulfilled = engine.fulfil("h2", at=T("2026-04-13T10:00:00+08:00"))
    assert fulfilled.points == 0 and fulfilled.entries[0].credit == "community:redemptions"
    with pytest.raises(RedemptionRefused) as limit:
        engine.redeem("c", "checkup", "h3", at=T("2026-04-14T10:00:00+08:00"))
    assert limit.value.reason == "limit_reached"
    assert engine.fulfil("h2", at=T("2026-04-15T10:00:00+08:00")).duplicate
    with pytest.raises(RedemptionRefused) as settled:
        engine.cancel("h2", at=T("2026-04-14T10:00:00+08:00"))
    assert settled.value.reason == "already_settled"


def test_unsettled_hold_expires_at_close(engine: gridpoints.Engine) -> None:
    """A hold past its window is returned at period close, once."""
    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 10})
    engine.redeem("c", "checkup", "h1", at=T("2026-04-10T10:00:00+08:00"))
    report = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    assert len(report.holds_expired) == 1 and report.holds_expired[0].points == 50
    assert engine.close_period("2026-04", now=T("2026-05-01T01:00:00+08:00")).holds_expired == ()


def test_close_period_end_to_end_is_idempotent(engine: gridpoints.Engine) -> None:
    """Base points for registered subjects, the challenge bonus, allocation by earned points; re-run changes nothing."""
    submit(engine, "patrol", "a", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})
    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 8})
    engine.redeem("a", "parking", "p1", at=T("2026-04-12T10:00:00+08:00"))
    engine.redeem("c", "parking", "p2", at=T("2026-04-12T10:00:00+08:00"))
    with pytest.raises(ValueError, match="close it after"):
        engine.close_period("2026-04", now=T("2026-04-30T23:00:00+08:00"))
    report = engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    assert len(report.base) == 3  # the residents a, b and c; grid workers get no residence base
    assert [s.subject for s in report.challenges["top"]] == ["a"]
    assert report.allocations == {"parking": ("a",)}
    balances = engine.balances(["a", "b", "c", "w", "w2"])
    assert balances == {"a": 120 + 10 + 50 - 10, "b": 10, "c": 80 + 10, "w": 0, "w2": 0}
    head = engine.head()
    rerun = engine.close_period("2026-04", now=T("2026-05-02T00:00:00+08:00"))
    assert (rerun.base, rerun.challenges, rerun.allocations) == ((), {"top": ()}, {"parking": ()})
    assert engine.head() == head


def test_challenge_rotation_skips_a_recent_winner(engine: gridpoints.Engine) -> None:
    """max_wins 1 in 2 periods: April's winner cannot win May; the tie in May goes to whoever reached it first. Base
    points do not count for ranking, so residents with only those are not ranked."""
    submit(engine, "patrol", "a", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})
    engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    submit(engine, "patrol", "a", "2026-05-02T10:00:00+08:00", attributes={"hours": 12})
    submit(engine, "patrol", "c", "2026-05-03T10:00:00+08:00", attributes={"hours": 1})
    submit(engine, "patrol", "b", "2026-05-04T10:00:00+08:00", attributes={"hours": 1})
    may = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00"))
    assert [s.subject for s in may.challenges["top"]] == ["c"]
    board = engine.leaderboard("2026-05")
    assert [s.subject for s in board] == ["a", "c", "b"] and board[0].earned == 50 + 120


def test_points_expire_first_in_first_out(engine: gridpoints.Engine) -> None:
    """expire_after 1 month: April points left unspent expire at May's close, spending counted first."""
    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 10})
    engine.redeem("c", "goods", "r1", at=T("2026-04-03T10:00:00+08:00"))
    submit(engine, "patrol", "c", "2026-05-02T10:00:00+08:00", attributes={"hours": 3})
    engine.close_period("2026-04", now=T("2026-05-01T00:00:00+08:00"))
    report = engine.close_period("2026-05", now=T("2026-06-01T00:00:00+08:00"))
    (expired,) = [d for d in report.expired_points if d.subject == "c"]
    # April: 100 earned + 10 base, 100 spent → 10 expire at May's close. April's challenge bonus (+50) is
    # dated at the window's end, 1 May, so like May's 30 + 10 it is not yet old enough to expire.
    assert expired.points == -10
    assert engine.balance("c") == 100 + 10 - 100 + 50 + 30 + 10 - 10


def test_tier_depends_on_earned_points_and_open_violations(engine: gridpoints.Engine) -> None:
    """Gold needs 100 earned in 12 months and no open violation; a repaired violation no longer counts."""
    submit(engine, "patrol", "a", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})
    assert engine.tier("a", at=T("2026-04-20T00:00:00+08:00")) == "gold"
    deduction = submit(engine, "high_altitude_throwing", "a", "2026-04-03T10:00:00+08:00")
    assert engine.tier("a", at=T("2026-04-20T00:00:00+08:00")) == "bronze"
    submit(engine, "community_service", "a", "2026-04-04T10:00:00+08:00",
           attributes={"repair": deduction.event_id, "hours": 2})
    assert engine.tier("a", at=T("2026-04-20T00:00:00+08:00")) == "gold"
    assert engine.tier("a", at=T("2027-06-20T00:00:00+08:00")) == "bronze"


def test_ledger_still_sums_to_zero_after_every_lifecycle(engine: gridpoints.Engine) -> None:
    """After repairs, redemptions, holds, allocation, bonuses and expiry, all accounts sum to zero."""
    test_close_period_end_to_end_is_idempotent(engine)
    entries = list(engine.store.entries("default"))
    accounts = {e.credit for e in entries} | {e.debit for e in entries}
    assert sum(engine.store.balances("default", accounts).values()) == 0
    assert all(e.expected_hash() == e.hash for e in entries)


def test_lifecycle_rules_are_validated_at_load() -> None:
    """Unknown repair ids, repairs on awards and worker credit without verify are located load errors."""
    bad = """
ruleset: bad
version: 1
name: bad
rules:
  - {id: a, on: x, points: 5, repair: nope}
  - {id: b, on: y, points: 5, credit_worker: {points: 1, within: 1d}}
repairs:
  - {id: svc, task: [x], within: 3d}
"""
    with pytest.raises(RulesetError) as caught:
        gridpoints.load_ruleset(bad)
    messages = " | ".join(str(i) for i in caught.value.issues)
    assert "unknown repair 'nope'" in messages and "only deductions can be repaired" in messages
    assert "worker credit needs 'verify'" in messages and "handled by rules" in messages


def test_expiry_racing_a_redemption_never_overdraws(engine: gridpoints.Engine) -> None:
    """Expiry planned, then a redemption spends the old points before the expiry commits: the expiry takes
    only what is left of the old points (not the newer ones), and the balance never goes below zero."""
    from gridpoints.engine.lifecycle._close import _expiry_plans

    submit(engine, "patrol", "c", "2026-04-02T10:00:00+08:00", attributes={"hours": 12})  # 120 in April
    submit(engine, "patrol", "c", "2026-05-20T10:00:00+08:00", attributes={"hours": 3})   # 30 newer in May
    end = T("2026-06-01T00:00:00+08:00")
    plans = list(_expiry_plans(engine.context, "2026-05", end))  # April's 120 are old enough to expire at May's close
    assert [p.awards[0].base for p in plans if p.event.subject == "c"] == [120]
    engine.redeem("c", "goods", "race", at=T("2026-05-31T23:00:00+08:00"))  # spends 100 of the oldest first
    (decision,) = [d for d in engine.commit(plans) if d.subject == "c"]
    assert decision.points == -20  # the 20 April points left, not the 30 from May
    assert engine.balance("c") == 30
