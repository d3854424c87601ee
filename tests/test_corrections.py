"""Corrections (冲正) and staff adjustments (人工调整): reversal linked to the original, counters given back,
rankings, idempotency, roles and households, caps, explanations, and a sealed SQL ledger that still audits."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _support import RULESET

import gridpoints
from gridpoints import Engine, MemoryStore, Policy
from gridpoints.audit import verify
from gridpoints.errors import CorrectionRefused, IdempotencyConflict, SegregationError
from gridpoints.model import ADJUSTMENTS, Reason, spendable
from gridpoints.storage.sql import SQLStore

AT = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def _engine(policy: Policy, store: Any = None) -> Engine:
    engine = Engine(policy, store if store is not None else MemoryStore(), tenant="t")
    engine.register("staff-1", grid="g1", household="h-staff", roles=("staff",))
    engine.register("r1", grid="g1", household="h1")
    engine.register("r1-spouse", grid="g1", household="h1", roles=("staff",))
    engine.register("r2", grid="g1", household="h2")
    engine.register("plain", grid="g1", household="h3")
    return engine


def test_correction_reverses_entries_linked_and_gives_the_cap_back(policy: Policy, make_event: Any) -> None:
    """Each of the event's entries is reversed by one linked to it; the daily cap's room returns, so the
    resident can earn the corrected points again that day."""
    engine = _engine(policy)
    first = engine.submit(make_event("patrol", subject="r1", hours=4))   # 40 of the daily 50
    assert first.points == 40
    fixed = engine.correct(first.event_id, reason="patrol not done", actor="staff-1", at=AT)
    assert fixed.points == -40 and engine.balance("r1") == 0
    (reversal,) = fixed.entries
    (original,) = first.entries
    assert (reversal.reverses, reversal.reason, reversal.debit, reversal.credit, reversal.amount) == (
        original.seq, Reason.CORRECTED, original.credit, original.debit, 40)
    again = engine.submit(make_event("patrol", subject="r1", hours=4))
    assert again.points == 40  # without the correction only 10 would fit under the cap


def test_correction_is_idempotent_by_the_corrected_event(policy: Policy, make_event: Any) -> None:
    """The same correction again returns the original and writes nothing; another reason is a conflict."""
    engine = _engine(policy)
    award = engine.submit(make_event("mediation", subject="r1"))
    first = engine.correct(award.event_id, reason="duplicate report", actor="staff-1", at=AT)
    again = engine.correct(award.event_id, reason="duplicate report", actor="staff-1", at=AT)
    assert again.duplicate and again.points == first.points and engine.balance("r1") == 0
    with pytest.raises(IdempotencyConflict):
        engine.correct(award.event_id, reason="another reason", actor="staff-1", at=AT)
    assert len(engine.history("r1")) == 2


@pytest.mark.parametrize(("actor", "expected"), [
    ("r1", "cannot correct their own event"),
    ("r1-spouse", "lives in the beneficiary's household"),
    ("plain", "needs one of staff"),
    ("nobody", "is not registered"),
])
def test_correction_needs_a_staff_member_outside_the_household(
    policy: Policy, make_event: Any, actor: str, expected: str
) -> None:
    """Segregation of duties: a role the ruleset names, never the beneficiary or their household."""
    engine = _engine(policy)
    award = engine.submit(make_event("mediation", subject="r1"))
    with pytest.raises(SegregationError, match=expected):
        engine.correct(award.event_id, reason="x", actor=actor, at=AT)
    with pytest.raises(SegregationError, match=expected.replace("correct", "adjust")):
        engine.adjust("r1", 5, reason="x", actor=actor, at=AT, request_id="adj-1")
    assert engine.balance("r1") == 10


def test_correction_refuses_what_it_cannot_reverse(policy: Policy, make_event: Any) -> None:
    """An unknown event and a correction itself; a second correction of a corrected event by someone else
    is a conflict with the first."""
    engine = _engine(policy)
    with pytest.raises(CorrectionRefused, match="unknown_event"):
        engine.correct("nope", reason="x", actor="staff-1", at=AT)
    fine = engine.submit(make_event("noise_violation", subject="r1"))
    fixed = engine.correct(fine.event_id, reason="wrong resident", actor="staff-1", at=AT)
    assert fixed.points == 10 and engine.balance("r1") == 0
    with pytest.raises(CorrectionRefused, match="not_correctable"):
        engine.correct(fixed.event_id, reason="x", actor="staff-1", at=AT)
    with pytest.raises(IdempotencyConflict):
        engine.correct(fine.event_id, reason="again, otherwise", actor="staff-2", at=AT)


def test_corrected_award_leaves_the_open_leaderboard(policy: Policy, make_event: Any) -> None:
    """The leaderboard of a window not yet closed no longer counts a corrected award."""
    engine = _engine(policy)
    award = engine.submit(make_event("patrol", subject="r1", hours=4))
    engine.submit(make_event("mediation", subject="r2"))
    assert [s.subject for s in engine.leaderboard("2026-04")] == ["r1", "r2"]
    engine.correct(award.event_id, reason="patrol not done", actor="staff-1", at=AT)
    assert [(s.subject, s.earned) for s in engine.leaderboard("2026-04")] == [("r2", 10)]


def test_correction_and_adjustment_explain_in_both_languages(policy: Policy, make_event: Any) -> None:
    engine = _engine(policy)
    award = engine.submit(make_event("mediation", subject="r1"))
    fixed = engine.correct(award.event_id, reason="重复上报", actor="staff-1", at=AT)
    assert f"冲正事件 {award.event_id}（重复上报，经办 staff-1）" in fixed.explain("zh")
    assert f"corrects event {award.event_id} (重复上报, by staff-1)" in fixed.explain("en")
    adjusted = engine.adjust("r2", -3, reason="录入错误", actor="staff-1", at=AT, request_id="a-1")
    assert "人工调整（录入错误，经办 staff-1）：扣减 3 分" in adjusted.explain("zh")
    assert "staff adjustment by staff-1 (录入错误): 3 points debited" in adjusted.explain("en")


def test_adjustment_credits_through_the_adjustments_account_and_is_idempotent(policy: Policy) -> None:
    """A credit moves points from the adjustments account, does not count as earned by default, and a retry
    with the same request id returns the original."""
    engine = _engine(policy)
    credit = engine.adjust("r2", 30, reason="missed award", actor="staff-1", at=AT, request_id="adj-1")
    (entry,) = credit.entries
    assert (entry.debit, entry.credit, entry.amount, entry.reason) == (ADJUSTMENTS, spendable("r2"), 30,
                                                                       Reason.ADJUSTED)
    assert engine.adjust("r2", 30, reason="missed award", actor="staff-1", at=AT, request_id="adj-1").duplicate
    assert engine.balance("r2") == 30
    assert engine.leaderboard("2026-04") == []
    with pytest.raises(CorrectionRefused, match="invalid"):
        engine.adjust("r2", 0, reason="x", actor="staff-1", at=AT, request_id="adj-2")


def test_ruleset_counts_and_caps_adjustments(make_event: Any) -> None:
    """``corrections: {adjustments_earned: true, adjustment_cap: …}``: credits rank as earned, and one staff
    member's adjustments stop at the cap for the window."""
    policy = gridpoints.load_ruleset(RULESET + "corrections:\n  roles: [staff]\n  adjustments_earned: true\n"
                                               "  adjustment_cap: {limit: 50, window: month}\n")
    engine = _engine(policy)
    engine.adjust("r2", 30, reason="missed award", actor="staff-1", at=AT, request_id="a-1")
    assert [(s.subject, s.earned) for s in engine.leaderboard("2026-04")] == [("r2", 30)]
    with pytest.raises(CorrectionRefused, match="cap_reached"):
        engine.adjust("r1", -25, reason="typo", actor="staff-1", at=AT, request_id="a-2")
    engine.adjust("r1", 20, reason="typo", actor="staff-1", at=AT, request_id="a-3")
    assert engine.balances(["r1", "r2"]) == {"r1": 20, "r2": 30}


def test_corrections_and_adjustments_keep_a_sealed_ledger_auditable(
    policy: Policy, make_event: Any, tmp_path: Path
) -> None:
    """On the SQL store the corrections' and adjustments' records seal their entries and counter changes:
    the audit recomputes every counter and finds each decision in agreement with its entries."""
    store = SQLStore(f"sqlite:///{tmp_path / 'c.db'}")
    engine = _engine(policy, store)
    award = engine.submit(make_event("patrol", subject="r1", hours=4))
    engine.submit(make_event("noise_violation", subject="r2"))
    engine.correct(award.event_id, reason="patrol not done", actor="staff-1", at=AT)
    engine.adjust("r2", 7, reason="goodwill", actor="staff-1", at=AT, request_id="a-1")
    report = verify(store, "t")
    assert report.ok, report.problems
    assert report.records_checked == 4
    store.close()
