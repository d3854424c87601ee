"""The engine: points forms, caps and their traces, scopes, deductions, explanations, idempotency,
event validation that writes nothing, batches, balances, history and the hash chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from _support import account_sums, all_entries, assert_balanced, assert_chain, granted_by_rule, ruleset, snapshot

import gridpoints
from gridpoints import Engine, EventError, IdempotencyConflict, MemoryStore, UnknownEventType
from gridpoints.model import EventRecord

AT = "2026-04-01T10:00:00+08:00"


def engine_for(text: str) -> Engine:
    return Engine(gridpoints.load_ruleset(text), store=MemoryStore())


def event(type: str = "task", id: str = "e1", subject: str = "s1", grid: str = "g1", at: Any = AT,
          **extra: Any) -> dict[str, Any]:
    attributes = extra.pop("attributes", {})
    return {"id": id, "type": type, "subject": subject, "grid": grid, "occurred_at": at,
            "attributes": attributes, **extra}


# -- points forms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "attributes", "points"),
    [
        ("mediation", {}, 10),
        ("patrol", {"hours": 2}, 20),
        ("patrol", {"hours": 2.3}, 23),
        ("patrol", {"hours": 0.15}, 1),
        ("patrol", {"hours": 0.09}, 0),
        ("patrol", {"hours": 4.99}, 40),
        ("patrol", {"hours": 6}, 40),
        ("garbage_sorting", {"quality": "A"}, 20),
        ("garbage_sorting", {"quality": "C"}, 5),
        ("hazard_report", {"severity": 17}, 17),
        ("hazard_report", {"severity": 3}, 15),
        ("hazard_report", {"severity": 99}, 20),
        ("noise_violation", {}, -10),
    ],
)
def test_points_forms(engine: Engine, make_event: Any, type: str, attributes: dict[str, Any], points: int) -> None:
    """Fixed, per-unit (max_units, rounding toward zero, 2.3 h × 10 = 23 exactly), table and clamped range."""
    decision = engine.submit(make_event(type, **attributes))
    assert decision.points == points
    assert engine.balance("s1") == points


def test_per_unit_trace_says_capped_and_rounded(engine: Engine, make_event: Any) -> None:
    """The trace records reported units, counted units, and whether the result was rounded."""
    capped = engine.submit(make_event("patrol", hours=6)).trace.rules[0]
    assert (capped.base, capped.base_code) == (40, "base.per")
    assert capped.base_args["units"] == 6 and capped.base_args["counted"] == 4 and capped.base_args["capped"]
    decision = engine.submit(make_event("patrol", hours=0.15, at="2026-05-01T10:00:00+08:00"))
    rounded = decision.trace.rules[0]
    assert rounded.base == 1 and rounded.base_args["rounded"] and not rounded.base_args["capped"]
    assert "0.15 hours × 10 = +1 (rounded toward zero)" in engine.explain(decision.event_id, "en")


def test_negative_per_unit_rounds_toward_zero() -> None:
    """−5 per hour for 2.3 hours is −11 (toward zero), not −12."""
    engine = engine_for(ruleset("  - {id: late, on: late, points: {per: hours, each: -5}}\n"))
    assert engine.submit(event("late", attributes={"hours": 2.3})).points == -11


def test_table_default() -> None:
    """A value missing from the table gets the default, traced as base.table_default."""
    engine = engine_for(ruleset("  - {id: t, on: task, points: {by: level, table: {gold: 9, 1: 4}, default: 2}}\n"))
    assert engine.submit(event(attributes={"level": "gold"})).points == 9
    assert engine.submit(event(id="e2", attributes={"level": 1})).points == 4
    other = engine.submit(event(id="e3", attributes={"level": "tin"}))
    assert other.points == 2 and other.trace.rules[0].base_code == "base.table_default"
    assert engine.submit(event(id="e4")).points == 2


def test_table_without_default_rejects_unknown_value() -> None:
    """Without a default, a value with no row is an EventError naming the attribute; nothing is written."""
    engine = engine_for(ruleset("  - {id: t, on: task, points: {by: level, table: {gold: 9}}}\n"))
    with pytest.raises(EventError) as caught:
        engine.submit(event(attributes={"level": "tin"}))
    assert caught.value.field == "attributes.level"
    assert engine.head().seq == 0 and engine.decision("e1") is None


def test_range_from_float_truncates_then_clamps() -> None:
    """A range reads the attribute rounded toward zero, then clamps into [lo, hi]."""
    engine = engine_for(ruleset("  - {id: r, on: task, points: {range: [15, 20], from: score}}\n"))
    assert engine.submit(event(attributes={"score": 17.9})).points == 17
    clamped = engine.submit(event(id="e2", attributes={"score": 21.5}))
    assert clamped.points == 20 and clamped.trace.rules[0].base_args["clamped"]


def test_multiple_rules_match_one_event() -> None:
    """Every matching rule awards; each gets its own entry stamped with its rule id; points is the net."""
    engine = engine_for(ruleset(
        "  - {id: base, on: task, points: 10}\n"
        "  - {id: bonus, on: task, when: {hours: {gte: 2}}, points: 5}\n"
        "  - {id: penalty, on: task, when: {late: true}, points: -3}\n"
        "  - {id: never, on: task, when: {hours: {gt: 100}}, points: 99}\n"
    ))
    decision = engine.submit(event(attributes={"hours": 3, "late": True}))
    assert decision.points == 12
    assert granted_by_rule(decision) == {"base": 10, "bonus": 5, "penalty": -3}
    assert [(e.rule, e.amount, e.reason) for e in decision.entries] == [
        ("base", 10, "award"), ("bonus", 5, "award"), ("penalty", 3, "deduction")]
    assert engine.balance("s1") == 12


# -- caps --------------------------------------------------------------------------------------------------

CAPPED = ruleset(
    "  - {id: task, on: task, points: 30}\n"
    "  - {id: small, on: small, points: 15}\n",
    "  - {id: daily, window: day, limit: 100}\n"
    "  - {id: weekly, window: week, limit: 50}\n"
    "  - {id: household-day, scope: household, window: day, limit: 40}\n",
)


def test_truncate_cap_awards_what_fits() -> None:
    """A truncating cap grants the room left, then nothing."""
    engine = engine_for(ruleset("  - {id: task, on: task, points: 30}\n", "  - {id: c, window: day, limit: 50}\n"))
    assert [engine.submit(event(id=f"e{i}")).points for i in range(3)] == [30, 20, 0]
    assert engine.balance("s1") == 50


def test_reject_cap_awards_all_or_nothing() -> None:
    """A rejecting cap refuses an award that does not fit whole, but a smaller one may still fit."""
    engine = engine_for(ruleset("  - {id: task, on: task, points: 30}\n  - {id: small, on: small, points: 15}\n",
                                "  - {id: c, window: day, limit: 50, mode: reject}\n"))
    assert engine.submit(event(id="e1")).points == 30
    rejected = engine.submit(event(id="e2"))
    assert rejected.points == 0 and rejected.entries == ()
    (step,) = rejected.trace.rules[0].steps
    assert (step.before, step.limit, step.requested, step.granted, step.code) == (30, 50, 30, 0, "cap.rejected")
    assert engine.submit(event("small", id="e3")).points == 15
    assert engine.balance("s1") == 45


def test_several_caps_tightest_wins_and_each_step_is_traced() -> None:
    """Caps apply in order, each seeing what the previous left; the trace keeps before/limit/requested/granted."""
    engine = engine_for(CAPPED)
    first = engine.submit(event(household="h1"))
    assert first.points == 30
    second = engine.submit(event(id="e2", household="h1"))
    assert second.points == 10
    steps = [(s.limit_id, s.scope, s.scope_id, s.window, s.before, s.limit, s.requested, s.granted, s.code)
             for s in second.trace.rules[0].steps]
    assert steps == [
        ("daily", "subject", "s1", "2026-04-01", 30, 100, 30, 30, "cap.within"),
        ("weekly", "subject", "s1", "2026-W14", 30, 50, 30, 20, "cap.truncated"),
        ("household-day", "household", "h1", "2026-04-01", 30, 40, 20, 10, "cap.truncated"),
    ]
    assert second.trace.rules[0].base == 30 and second.trace.rules[0].granted == 10


def test_counters_count_granted_points_not_requested() -> None:
    """Every cap's counter adds what was finally granted: the next day the daily caps start afresh while the
    weekly cap holds 40 (30 + 10), not the 60 requested."""
    engine = engine_for(CAPPED)
    engine.submit(event(household="h1"))
    engine.submit(event(id="e2", household="h1"))
    next_day = engine.submit(event(id="e3", household="h1", at="2026-04-02T10:00:00+08:00"))
    steps = {s.limit_id: (s.before, s.granted) for s in next_day.trace.rules[0].steps}
    assert steps == {"daily": (0, 30), "weekly": (40, 10), "household-day": (0, 10)}
    assert next_day.points == 10


def test_caps_select_by_rule_and_category() -> None:
    """A cap limited to some rules or categories leaves the others alone."""
    engine = engine_for(ruleset(
        "  - {id: a, on: a, points: 30}\n  - {id: b, on: b, points: 30}\n"
        "  - {id: c, on: c, points: 30, category: base}\n",
        "  - {id: only-a, window: day, rules: [a], limit: 10}\n"
        "  - {id: rewards, window: day, categories: [reward], limit: 35}\n",
    ))
    assert engine.submit(event("a", id="1")).points == 10
    assert engine.submit(event("b", id="2")).points == 25
    assert engine.submit(event("c", id="3")).points == 30


SCOPED = ruleset("  - {id: task, on: task, points: 20}\n", "  - {id: cap, scope: SCOPE, window: day, limit: 30}\n")


def test_household_scope_pools_members() -> None:
    """Members of one household share a household cap; another household has its own."""
    engine = engine_for(SCOPED.replace("SCOPE", "household"))
    got = [engine.submit(event(id=f"e{i}", subject=s, household=h)).points
           for i, (s, h) in enumerate([("s1", "h1"), ("s2", "h1"), ("s3", "h2")])]
    assert got == [20, 10, 20]


def test_subject_without_household_is_its_own_household() -> None:
    """Subjects with no household are not pooled together: each is a household of one."""
    engine = engine_for(SCOPED.replace("SCOPE", "household"))
    got = [engine.submit(event(id=f"e{i}", subject=s)).points for i, s in enumerate(["s1", "s2", "s1"])]
    assert got == [20, 20, 10]


def test_grid_scope() -> None:
    """A grid cap pools every subject in the grid named by the event."""
    engine = engine_for(SCOPED.replace("SCOPE", "grid"))
    got = [engine.submit(event(id=f"e{i}", subject=s, grid=g)).points
           for i, (s, g) in enumerate([("s1", "g1"), ("s2", "g1"), ("s3", "g2")])]
    assert got == [20, 10, 20]


def test_community_scope() -> None:
    """A community cap pools the event's community, defaulting to the ruleset's `community`."""
    engine = engine_for(SCOPED.replace("SCOPE", "community").replace("name: T\n", "name: T\ncommunity: c1\n"))
    first = engine.submit(event(id="e1", subject="s1"))
    second = engine.submit(event(id="e2", subject="s2", community="c1"))
    other = engine.submit(event(id="e3", subject="s3", community="c2"))
    assert [first.points, second.points, other.points] == [20, 10, 20]
    assert first.trace.rules[0].steps[0].scope_id == "c1"
    assert other.trace.rules[0].steps[0].scope_id == "c2"


def test_subject_scope_is_per_subject() -> None:
    """A subject cap does not pool different subjects in one household."""
    engine = engine_for(SCOPED.replace("SCOPE", "subject"))
    got = [engine.submit(event(id=f"e{i}", subject=s, household="h1")).points
           for i, s in enumerate(["s1", "s2", "s1"])]
    assert got == [20, 20, 10]


def test_deductions_are_not_capped() -> None:
    """A cap of 0 on everything stops awards but never softens a deduction."""
    engine = engine_for(ruleset("  - {id: a, on: a, points: 5}\n  - {id: noise, on: noise, points: -10}\n",
                                "  - {id: zero, window: day, limit: 0}\n"))
    assert engine.submit(event("a", id="1")).points == 0
    deduction = engine.submit(event("noise", id="2"))
    assert deduction.points == -10 and deduction.trace.rules[0].steps == ()
    assert engine.balance("s1") == -10


def test_deduction_entry_accounts(engine: Engine, make_event: Any) -> None:
    """A negative award debits the subject's spendable account and credits community:deductions."""
    decision = engine.submit(make_event("noise_violation"))
    (entry,) = decision.entries
    assert (entry.debit, entry.credit, entry.amount, entry.reason) == (
        "subject:s1:spendable", "community:deductions", 10, "deduction")
    assert engine.store.balances(engine.tenant, ["community:deductions"]) == {"community:deductions": 10}


def test_award_entry_accounts(engine: Engine, make_event: Any) -> None:
    """An award moves points from community:issuance to the subject's spendable account."""
    (entry,) = engine.submit(make_event("mediation")).entries
    assert (entry.debit, entry.credit, entry.amount, entry.reason) == (
        "community:issuance", "subject:s1:spendable", 10, "award")


def test_zero_award_writes_no_entry(engine: Engine, make_event: Any) -> None:
    """An award of 0 (0.09 hours) records the decision but writes no entry."""
    decision = engine.submit(make_event("patrol", hours=0.09))
    assert decision.points == 0 and decision.entries == ()
    assert engine.head().seq == 0
    assert engine.decision(decision.event_id) is not None


# -- explanations ------------------------------------------------------------------------------------------


def test_explain_in_english_and_chinese_shows_cap_figures() -> None:
    """explain() renders rules, base, and each cap's before / limit / requested / granted, in en and zh."""
    engine = engine_for(CAPPED)
    engine.submit(event(household="h1"))
    decision = engine.submit(event(id="e2", household="h1"))
    en, zh = decision.explain("en"), decision.explain("zh")
    assert "Event e2 (task) for s1 at 2026-04-01T10:00:00+08:00, ruleset t@1:" in en
    assert "cap weekly (subject s1, 2026-W14): 30 of 50 used, 30 requested → 20 (truncated to fit)" in en
    assert "cap household-day (household h1, 2026-04-01): 30 of 40 used, 20 requested → 10" in en
    assert "Net change: +10 points" in en
    assert "上限 weekly（个人 s1，2026-W14）：已用 30/50，申请 30 → 给予 20（截断至上限）" in zh
    assert "净变化：+10 分" in zh
    assert decision.explain() == zh


def test_explain_unknown_language_is_refused(engine: Engine, make_event: Any) -> None:
    """Only zh and en are rendered."""
    with pytest.raises(ValueError):
        engine.submit(make_event()).explain("fr")  # type: ignore[arg-type]


def test_engine_explain_of_recorded_and_unknown_events(engine: Engine, make_event: Any) -> None:
    """Engine.explain renders a recorded decision (marked as resubmission-safe original); unknown ids are a KeyError."""
    engine.submit(make_event("patrol", id="p1", hours=2.3))
    assert "2.3 hours × 10 = +23" in engine.explain("p1", "en")
    with pytest.raises(KeyError):
        engine.explain("nope")


def test_decision_survives_its_json_record() -> None:
    """A decision rebuilt from its stored JSON text has the same points, trace and explanation."""
    engine = engine_for(CAPPED)
    engine.submit(event(household="h1"))
    decision = engine.submit(event(id="e2", household="h1"))
    record = EventRecord("e2", "f" * 64, decision.to_record_json())
    rebuilt = record.original()
    assert rebuilt.points == decision.points and rebuilt.trace == decision.trace
    assert rebuilt.duplicate and rebuilt.entries == ()
    assert rebuilt.explain("en").splitlines()[2:] == decision.explain("en").splitlines()[1:]
    assert json.loads(decision.to_record_json())["points"] == 10


# -- idempotency -------------------------------------------------------------------------------------------


def test_resubmission_returns_original_and_writes_nothing(engine: Engine, make_event: Any) -> None:
    """Same id, same content: the original decision, duplicate=True, no entries, head and balances unchanged."""
    raw = make_event("patrol", id="p1", hours=3)
    original = engine.submit(raw)
    before = snapshot(engine, ["s1"])
    again = engine.submit(dict(raw))
    assert again.duplicate and not original.duplicate
    assert again.entries == ()
    assert (again.points, again.trace) == (original.points, original.trace)
    assert snapshot(engine, ["s1"]) == before
    assert "resubmitted" in again.explain("en")


def test_resubmission_with_other_content_conflicts(engine: Engine, make_event: Any) -> None:
    """Same id, different content: IdempotencyConflict (a ValueError), nothing written."""
    engine.submit(make_event("patrol", id="p1", hours=3))
    before = snapshot(engine, ["s1", "s2"])
    for changed in (make_event("patrol", id="p1", hours=4), make_event("patrol", id="p1", hours=3, subject="s2"),
                    make_event("mediation", id="p1")):
        with pytest.raises(IdempotencyConflict) as caught:
            engine.submit(changed)
        assert caught.value.event_id == "p1"
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, gridpoints.GridpointsError)
    assert snapshot(engine, ["s1", "s2"]) == before


def test_duplicates_within_one_batch(engine: Engine, make_event: Any) -> None:
    """Within one submit_many, a repeated id is a duplicate of its first occurrence; different content conflicts
    and the whole batch is dropped."""
    raw = make_event("patrol", id="p1", hours=3)
    first, second = engine.submit_many([raw, dict(raw)])
    assert not first.duplicate and second.duplicate and second.points == first.points == 30
    assert engine.head().seq == 1
    before = snapshot(engine, ["s1", "s2"])
    with pytest.raises(IdempotencyConflict):
        engine.submit_many([make_event("mediation", id="m1"), make_event("mediation", id="m1", subject="s2")])
    assert snapshot(engine, ["s1", "s2"]) == before
    assert engine.decision("m1") is None


def test_event_object_and_mapping_are_the_same_content(engine: Engine) -> None:
    """An Event and the equivalent mapping (time as text) are one event for idempotency."""
    as_object = gridpoints.Event("p1", "patrol", "s1", "g1", datetime.fromisoformat(AT), {"hours": 3})
    engine.submit(as_object)
    again = engine.submit(event("patrol", id="p1", attributes={"hours": 3}))
    assert again.duplicate


def test_same_instant_in_another_offset_is_the_same_event(engine: Engine) -> None:
    """Resubmitting with the same instant in another offset is a duplicate, not a conflict."""
    engine.submit(event("patrol", id="p1", attributes={"hours": 2}))
    again = engine.submit(event("patrol", id="p1", at="2026-04-01T02:00:00Z", attributes={"hours": 2}))
    assert again.duplicate


# -- bad events --------------------------------------------------------------------------------------------


BAD_EVENTS: list[tuple[str, dict[str, Any], str, type[Exception]]] = [
    ("unknown type", {"type": "patrl"}, "type", UnknownEventType),
    ("naive datetime", {"occurred_at": "2026-04-01T10:00:00"}, "occurred_at", EventError),
    ("naive datetime object", {"occurred_at": datetime(2026, 4, 1, 10)}, "occurred_at", EventError),
    ("unparseable time", {"occurred_at": "yesterday"}, "occurred_at", EventError),
    ("missing subject", {"subject": None}, "subject", EventError),
    ("empty subject", {"subject": ""}, "subject", EventError),
    ("missing grid", {"grid": None}, "grid", EventError),
    ("string hours", {"attributes": {"hours": "2"}}, "attributes.hours", EventError),
    ("bool hours", {"attributes": {"hours": True}}, "attributes.hours", EventError),
    ("negative hours", {"attributes": {"hours": -1}}, "attributes.hours", EventError),
    ("too many hours", {"attributes": {"hours": 25}}, "attributes.hours", EventError),
    ("NaN hours", {"attributes": {"hours": float("nan")}}, "attributes.hours", EventError),
    ("infinite hours", {"attributes": {"hours": float("inf")}}, "attributes.hours", EventError),
    ("missing required attribute", {"attributes": {}}, "attributes.hours", EventError),
    ("nested attribute", {"attributes": {"hours": 2, "extra": {"a": 1}}}, "attributes.extra", EventError),
    ("unknown top-level field", {"hours": 2}, "hours", EventError),
    ("non-string id", {"id": 17}, "id", EventError),
    ("overlong id", {"id": "x" * 129}, "id", EventError),
    ("id with spaces around", {"id": " p9"}, "id", EventError),
    ("non-string household", {"household": 5}, "household", EventError),
    ("attributes not a mapping", {"attributes": ["hours", 2]}, "attributes", EventError),
]


@pytest.mark.parametrize(("case", "change", "field", "error"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_event_is_a_typed_error_and_writes_nothing(
    engine: Engine, make_event: Any, case: str, change: dict[str, Any], field: str, error: type[Exception]
) -> None:
    """A malformed event raises a typed EventError naming the field; head, entries, balances stay as they were."""
    engine.submit(make_event("patrol", id="ok", hours=1))
    before = snapshot(engine, ["s1"])
    raw = {**make_event("patrol", id="p9", hours=2), **change}
    with pytest.raises(error) as caught:
        engine.submit(raw)
    assert isinstance(caught.value, EventError) and isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert snapshot(engine, ["s1"]) == before
    assert engine.decision("p9") is None


def test_unknown_event_type_is_a_key_error_with_suggestion(engine: Engine, make_event: Any) -> None:
    """An unknown type is UnknownEventType: a KeyError and an EventError, with a did-you-mean."""
    with pytest.raises(KeyError) as caught:
        engine.submit(make_event("garbage_sortng", quality="A"))
    error = caught.value
    assert isinstance(error, UnknownEventType) and isinstance(error, EventError)
    assert error.event_type == "garbage_sortng" and error.suggestion == "garbage_sorting"
    assert str(error) == "event 'e1': type: unknown event type 'garbage_sortng'; did you mean 'garbage_sorting'?"


@pytest.mark.parametrize("attributes", [[], "", 0, False])
def test_falsy_non_mapping_attributes_are_refused(engine: Engine, make_event: Any, attributes: Any) -> None:
    """attributes must be a mapping even when empty-ish."""
    with pytest.raises(EventError) as caught:
        engine.submit({**make_event("mediation"), "attributes": attributes})
    assert caught.value.field == "attributes"


def test_bad_event_in_batch_writes_nothing(engine: Engine, make_event: Any) -> None:
    """One bad event anywhere in a batch: the error names its position, nothing from the batch is written."""
    engine.submit(make_event("mediation", id="first"))
    before = snapshot(engine, ["s1", "s2"])
    batch = [make_event("mediation", id="b1"), make_event("patrol", id="b2", hours=2, subject="s2"),
             make_event("patrol", id="b3", hours=-2)]
    with pytest.raises(EventError) as caught:
        engine.submit_many(batch)
    assert (caught.value.index, caught.value.event_id, caught.value.field) == (2, "b3", "attributes.hours")
    assert snapshot(engine, ["s1", "s2"]) == before
    assert all(engine.decision(e["id"]) is None for e in batch)


def test_ignored_event_type(engine: Engine, make_event: Any) -> None:
    """An ignored type is accepted and recorded, awards nothing, writes no entry."""
    decision = engine.submit(make_event("app_open"))
    assert decision.points == 0 and decision.entries == () and decision.trace.rules == ()
    assert engine.head().seq == 0
    assert engine.decision(decision.event_id) is not None
    assert "No rule matched" in decision.explain("en")


def test_declared_type_without_rules_and_not_ignored_is_an_error() -> None:
    """An event type listed under `events` but handled by no rule and not ignored raises UnknownEventType."""
    engine = engine_for(ruleset("  - {id: a, on: patrol, points: 1}\n", extra="events:\n  survey: {}\n"))
    with pytest.raises(UnknownEventType):
        engine.submit(event("survey"))
    assert engine.decision("e1") is None


def test_event_without_household_fails_household_exists() -> None:
    """`event.household: {exists: true}` only matches events that name a household."""
    engine = engine_for(ruleset("  - {id: a, on: task, when: {event.household: {exists: true}}, points: 5}\n"))
    assert engine.submit(event(id="with", household="h1")).points == 5
    assert engine.submit(event(id="without")).points == 0


# -- batches, balances, history, chain ---------------------------------------------------------------------


def mixed_events(make_event: Any) -> list[dict[str, Any]]:
    day = datetime(2026, 3, 30, 9, tzinfo=timezone(timedelta(hours=8)))
    out = []
    kinds = [("patrol", {"hours": 2.5}), ("garbage_sorting", {"quality": "A"}), ("mediation", {}),
             ("noise_violation", {}), ("hazard_report", {"severity": 18}), ("app_open", {}),
             ("garbage_sorting", {"quality": "D"})]
    for i in range(40):
        kind, attributes = kinds[i % len(kinds)]
        out.append(make_event(kind, id=f"m{i}", subject=f"s{i % 3}", at=day + timedelta(hours=7 * i), **attributes))
    return out


def test_submit_many_equals_one_by_one(policy: gridpoints.Policy, make_event: Any) -> None:
    """submit_many gives the same decisions, ledger and hashes as submitting one at a time."""
    events = mixed_events(make_event)
    one, many = Engine(policy, MemoryStore()), Engine(policy, MemoryStore())
    singles = [one.submit(e) for e in events]
    batched = many.submit_many(events)
    assert [(d.points, d.trace, d.entries) for d in singles] == [(d.points, d.trace, d.entries) for d in batched]
    assert all_entries(one) == all_entries(many)
    assert one.head() == many.head()
    assert one.balances(["s0", "s1", "s2"]) == many.balances(["s0", "s1", "s2"])


def test_submit_many_empty_batch(engine: Engine) -> None:
    """An empty batch decides nothing and writes nothing."""
    assert engine.submit_many([]) == []
    assert engine.head().seq == 0


def test_balance_and_history(engine: Engine, make_event: Any) -> None:
    """balance sums the subject's spendable entries; history lists only that subject's entries, oldest first."""
    for e in mixed_events(make_event):
        engine.submit(e)
    for subject in ("s0", "s1", "s2"):
        history = engine.history(subject)
        assert history and all(entry.subject == subject for entry in history)
        assert [entry.seq for entry in history] == sorted(entry.seq for entry in history)
        account = f"subject:{subject}:spendable"
        assert engine.balance(subject) == account_sums(history)[account]
    assert engine.balance("nobody") == 0 and engine.history("nobody") == []
    assert_balanced(engine)


def test_hash_chain_and_entry_stamps(engine: Engine, make_event: Any) -> None:
    """Entries are sequenced 1..n, chained by prev_hash, self-verifying, and stamped with ruleset, rule, event,
    reason and the UTC time of the event."""
    for e in mixed_events(make_event):
        engine.submit(e)
    entries = all_entries(engine)
    assert_chain(entries)
    assert engine.head() == gridpoints.Anchor(entries[-1].seq, entries[-1].hash)
    first = entries[0]
    assert (first.ruleset, first.rule, first.event_id, first.reason, first.tenant) == (
        "test-community@3", "patrol", "m0", "award", "default")
    assert first.occurred_at == "2026-03-30T01:00:00+00:00"
    assert {e.reason for e in entries} == {"award", "deduction"}


def test_tampering_is_detected_by_expected_hash(engine: Engine, make_event: Any) -> None:
    """Changing any hashed field of an entry makes expected_hash differ from the stored hash."""

    (entry,) = engine.submit(make_event("mediation")).entries
    assert entry.expected_hash() == entry.hash
    for change in ({"amount": 11}, {"subject": "s2"}, {"rule": "noise"}, {"prev_hash": "1" * 64}):
        assert entry._replace(**change).expected_hash() != entry.hash


def test_tenants_have_separate_ledgers(policy: gridpoints.Policy, make_event: Any) -> None:
    """Two tenants on one store each have their own chain, balances and idempotency keys."""
    store = MemoryStore()
    a, b = Engine(policy, store, tenant="a"), Engine(policy, store, tenant="b")
    a.submit(make_event("mediation", id="x"))
    decision = b.submit(make_event("patrol", id="x", hours=1))
    assert not decision.duplicate
    assert (a.balance("s1"), b.balance("s1")) == (10, 10)
    assert a.head().seq == b.head().seq == 1 and a.head() != b.head()


def test_times_in_other_offsets_are_stamped_in_utc(engine: Engine, make_event: Any) -> None:
    """An aware datetime in any zone is accepted; entries carry the instant in UTC."""
    moment = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    (entry,) = engine.submit(make_event("mediation", at=moment)).entries
    assert entry.occurred_at == "2026-04-01T02:00:00+00:00"
