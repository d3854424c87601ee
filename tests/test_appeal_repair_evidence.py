"""Residents lodge appeals within the window for staff to decide later; repair tasks attested by a verifier."""

from __future__ import annotations

from datetime import datetime

import pytest

import gridpoints
from gridpoints.errors import EventError, SegregationError, SettlementError

SINCE = datetime.fromisoformat("2026-01-01T00:00:00+08:00")

RULESET = """
ruleset: evidence
version: 1
name: 证据
rules:
  - {id: noise, on: noise_violation, points: -10, appeal: {within: 15d, by: [grid_worker]}}
  - {id: throwing, on: high_altitude_throwing, points: -50, repair: service}
repairs:
  - id: service
    task: [community_service]
    per: hours
    quantity: 2
    within: 30d
    verify: {by: [grid_worker]}
"""


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    engine.register("li", grid="g1", household="h1", since=SINCE)
    engine.register("li-son", grid="g1", household="h1", roles=["grid_worker"], since=SINCE)
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    return engine


def submit(engine: gridpoints.Engine, event_id: str, kind: str, at: str, **fields: object) -> gridpoints.Decision:
    return engine.submit({"id": event_id, "type": kind, "subject": "li", "grid": "g1", "occurred_at": at, **fields})


def test_an_appeal_lodged_on_day_14_may_be_decided_on_day_16(engine: gridpoints.Engine) -> None:
    """The window is measured at lodging: staff decide after it closed, and the deduction is reversed."""
    fine = submit(engine, "n1", "noise_violation", "2026-04-01T22:00:00+08:00")
    lodged = submit(engine, "a1", "appeal", "2026-04-15T09:00:00+08:00",
                    attributes={"event": "n1", "outcome": "lodged"})
    assert lodged.points == 0 and lodged.entries == () and lodged.trace.rules[0].status == "lodged"
    assert "等待工作人员裁定" in lodged.explain("zh") and "staff will decide" in lodged.explain("en")
    upheld = submit(engine, "a2", "appeal", "2026-04-17T09:00:00+08:00", actor="zhao",
                    attributes={"event": "n1", "outcome": "upheld"})
    assert upheld.points == 10 and upheld.entries[0].reverses == fine.entries[0].seq
    assert engine.balance("li") == 0


def test_without_lodging_the_window_is_measured_at_the_decision(engine: gridpoints.Engine) -> None:
    """A staff decision after the window, with nothing lodged in it, is refused."""
    submit(engine, "n1", "noise_violation", "2026-04-01T22:00:00+08:00")
    with pytest.raises(SettlementError, match="closed at"):
        submit(engine, "a2", "appeal", "2026-04-17T09:00:00+08:00", actor="zhao",
               attributes={"event": "n1", "outcome": "upheld"})


def test_lodging_is_the_residents_once_and_within_the_window(engine: gridpoints.Engine) -> None:
    """Only the resident lodges, once, in time; a decided appeal cannot be lodged again."""
    submit(engine, "n1", "noise_violation", "2026-04-01T22:00:00+08:00")
    with pytest.raises(SettlementError, match="closed at"):
        submit(engine, "late", "appeal", "2026-04-17T09:00:00+08:00",
               attributes={"event": "n1", "outcome": "lodged"})
    with pytest.raises(EventError, match="lodged by the resident"):
        submit(engine, "x", "appeal", "2026-04-03T09:00:00+08:00", actor="zhao",
               attributes={"event": "n1", "outcome": "lodged"})
    submit(engine, "a1", "appeal", "2026-04-03T09:00:00+08:00", actor="li",
           attributes={"event": "n1", "outcome": "lodged"})
    with pytest.raises(SettlementError, match="already lodged"):
        submit(engine, "a1b", "appeal", "2026-04-04T09:00:00+08:00",
               attributes={"event": "n1", "outcome": "lodged"})
    submit(engine, "a2", "appeal", "2026-04-05T09:00:00+08:00", actor="zhao",
           attributes={"event": "n1", "outcome": "dismissed"})
    with pytest.raises(SettlementError, match="already appealed"):
        submit(engine, "a3", "appeal", "2026-04-06T09:00:00+08:00",
               attributes={"event": "n1", "outcome": "lodged"})
    assert engine.balance("li") == -10


def test_a_verified_repair_counts_only_attested_tasks(engine: gridpoints.Engine) -> None:
    """Self-reported hours and a household member's attestation are refused; a worker's restores."""
    submit(engine, "t1", "high_altitude_throwing", "2026-04-01T10:00:00+08:00")
    with pytest.raises(EventError, match="set 'actor'"):
        submit(engine, "s0", "community_service", "2026-04-02T10:00:00+08:00",
               attributes={"repair": "t1", "hours": 2})
    with pytest.raises(SegregationError, match="cannot"):
        submit(engine, "s1", "community_service", "2026-04-02T10:00:00+08:00", actor="li",
               attributes={"repair": "t1", "hours": 2})
    with pytest.raises(SegregationError, match="household"):
        submit(engine, "s2", "community_service", "2026-04-02T10:00:00+08:00", actor="li-son",
               attributes={"repair": "t1", "hours": 2})
    assert engine.balance("li") == -50
    done = submit(engine, "s3", "community_service", "2026-04-02T10:00:00+08:00", actor="zhao",
                  attributes={"repair": "t1", "hours": 2})
    assert done.points == 50 and "zhao 核实" in done.explain("zh") and "attested by zhao" in done.explain("en")
    assert [r.status for r in engine.repairs("li")] == ["completed"]


def _stream() -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for n in range(4):
        events.append({"id": f"n{n}", "type": "noise_violation", "subject": f"s{n}", "grid": "g1",
                       "occurred_at": f"2026-04-0{n + 1}T22:00:00+08:00"})
        events.append({"id": f"t{n}", "type": "high_altitude_throwing", "subject": f"s{n}", "grid": "g1",
                       "occurred_at": f"2026-04-0{n + 1}T10:00:00+08:00"})
    return events


def test_the_fairness_kit_holds_appeals_and_repairs() -> None:
    """The property holds on the engine as it is: late decisions refused, lodged appeals decided later."""
    from gridpoints.testing import check_appeals_and_repairs

    check_appeals_and_repairs(gridpoints.load_ruleset(RULESET), _stream())


def test_the_fairness_kit_catches_an_appeal_window_measured_at_the_decision(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine defect that ignores the lodging (window measured at the decision) breaks the property."""
    from gridpoints.engine.lifecycle import _settle
    from gridpoints.testing import FairnessViolation, check_appeals_and_repairs

    monkeypatch.setattr(_settle, "lodged_marker", lambda event_id: _settle.appealed_marker(f"never:{event_id}"))
    real = _settle.Context.counters

    def forgetful(self: object, keys: object) -> dict[object, int]:
        found = real(self, keys)  # type: ignore[arg-type]
        return {k: (0 if k.scope_id.startswith("never:") else v) for k, v in found.items()}

    monkeypatch.setattr(_settle.Context, "counters", forgetful)
    with pytest.raises(FairnessViolation, match="lodged at the last second"):
        check_appeals_and_repairs(gridpoints.load_ruleset(RULESET), _stream())


def test_the_fairness_kit_catches_a_repair_that_takes_self_reported_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine defect that skips the segregation-of-duties check lets the violator attest their own task."""
    from gridpoints.engine._kernel import Kernel
    from gridpoints.testing import FairnessViolation, check_appeals_and_repairs

    monkeypatch.setattr(Kernel, "check_duties", lambda self, event, original, roles, not_beneficiary, index: None)
    with pytest.raises(FairnessViolation, match="self-reported"):
        check_appeals_and_repairs(gridpoints.load_ruleset(RULESET), _stream())


def test_a_required_repair_closes_the_mall_until_it_is_done() -> None:
    """需完成: with an open required repair the violator's redemptions are refused; done, they go through."""
    from datetime import datetime as dt

    from gridpoints.errors import RedemptionRefused

    text = RULESET.replace("    verify: {by: [grid_worker]}\n", "    verify: {by: [grid_worker]}\n    required: true\n")
    text = text.replace("rules:\n", "rules:\n  - {id: patrol, on: patrol, points: {per: hours, each: 10}}\n", 1)
    text += ("catalog:\n  - {id: goods, cost: 10}\n"
             "  - {id: clinic, cost: 0, stock: 5, eligibility: {roles: [resident]}}\n")
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    engine.register("li", grid="g1", household="h1", since=SINCE)
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    submit(engine, "p1", "patrol", "2026-04-01T09:00:00+08:00", attributes={"hours": 9})
    submit(engine, "t1", "high_altitude_throwing", "2026-04-01T10:00:00+08:00")
    at = dt.fromisoformat("2026-04-03T10:00:00+08:00")
    with pytest.raises(RedemptionRefused) as caught:
        engine.redeem("li", "goods", "o1", at=at)
    assert caught.value.reason == "repair_required" and "t1" in str(caught.value)
    assert engine.redeem("li", "clinic", "c1", at=at).points == 0
    submit(engine, "s1", "community_service", "2026-04-02T10:00:00+08:00", actor="zhao",
           attributes={"repair": "t1", "hours": 2})
    assert engine.redeem("li", "goods", "o1", at=at).points == -10


def test_a_worker_is_paid_for_resolving_not_for_verifying() -> None:
    """credit_worker for: resolved pays the worker only when the timely verification says resolved: true."""
    text = """
ruleset: resolve
version: 1
name: 解决问题
rules:
  - id: report
    on: problem_report
    points: 15
    verify: {by: [grid_worker], within: 3d}
    credit_worker: {points: 5, within: 24h, for: resolved}
"""
    engine = gridpoints.Engine(gridpoints.load_ruleset(text))
    engine.register("li", grid="g1", household="h1", since=SINCE)
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    for n, resolved in enumerate((False, True)):
        submit(engine, f"r{n}", "problem_report", "2026-04-01T09:00:00+08:00")
        submit(engine, f"v{n}", "verify", "2026-04-01T11:00:00+08:00", actor="zhao",
               attributes={"event": f"r{n}", "resolved": resolved})
    assert engine.balance("li") == 30 and engine.balance("zhao") == 5
    with pytest.raises(EventError, match="resolved"):
        submit(engine, "r9", "problem_report", "2026-04-01T09:00:00+08:00")
        submit(engine, "v9", "verify", "2026-04-01T11:00:00+08:00", actor="zhao",
               attributes={"event": "r9", "resolved": "yes"})
