"""Properties of random event streams under a ruleset with several caps (hypothesis): caps hold in every
window, the ledger balances, resubmission is inert, and outcomes are deterministic and batch-independent."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from _support import SHANGHAI, account_sums, all_entries, assert_balanced, assert_chain
from hypothesis import given, settings
from hypothesis import strategies as st

import gridpoints
from gridpoints import CounterKey, Engine, MemoryStore
from gridpoints.calendar import window_id

PROPERTY_RULESET = """\
ruleset: prop
version: 2
name: 性质测试
timezone: Asia/Shanghai
community: c1
events:
  patrol:
    attributes:
      hours: {type: number, min: 0, max: 24, required: true}
  sorting:
    attributes:
      quality: {type: string, enum: [A, B, C, D], required: true}
  app_open: {ignore: true}
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10, max_units: 4}}
  - {id: sorting, on: sorting, when: {quality: {in: [A, B, C]}}, points: {by: quality, table: {A: 20, B: 10, C: 5}}}
  - {id: mediation, on: mediation, points: 15}
  - {id: grid-bonus, on: mediation, when: {event.grid: g1}, points: 5}
  - {id: noise, on: noise, points: -10}
limits:
  - {id: subject-day, kind: cap, scope: subject, window: day, categories: [reward], limit: 40}
  - {id: household-week, kind: cap, scope: household, window: week, limit: 100, mode: reject}
  - {id: grid-month, kind: cap, scope: grid, window: month, limit: 200}
  - {id: patrol-community-day, kind: cap, scope: community, window: day, rules: [patrol], limit: 60, mode: reject}
"""

POLICY = gridpoints.load_ruleset(PROPERTY_RULESET)
CAPS = [limit for limit in POLICY.limits if limit.kind == "cap"]
CATEGORY = {rule.id: rule.category for rule in POLICY.rules}

#: subject → (household, grid): two two-person households, two subjects without one, two grids.
RESIDENTS = {"s0": ("h1", "g1"), "s1": ("h1", "g2"), "s2": ("h2", "g1"), "s3": ("h2", "g2"),
             "s4": (None, "g1"), "s5": (None, "g2")}
#: Sunday 2026-12-27 08:00 in Shanghai: streams cross days, ISO week 53, the month and the year.
START = datetime(2026, 12, 27, 8, tzinfo=SHANGHAI)
OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]

KINDS = st.one_of(
    st.tuples(st.just("patrol"), st.fixed_dictionaries(
        {"hours": st.one_of(st.sampled_from([0, 0.15, 1, 2.3, 4, 6]), st.floats(0, 24, allow_nan=False))})),
    st.tuples(st.just("sorting"), st.fixed_dictionaries({"quality": st.sampled_from("ABCD")})),
    st.tuples(st.just("mediation"), st.just({})),
    st.tuples(st.just("noise"), st.just({})),
    st.tuples(st.just("app_open"), st.just({})),
)


# Built once: a strategy made inside the drawing loop is looked up again for every event drawn.
SUBJECTS = st.sampled_from(sorted(RESIDENTS))
DAYS = st.one_of(st.integers(0, 9), st.integers(0, 40))
MINUTES = st.one_of(st.integers(0, 24 * 60 - 1), st.sampled_from([0, 1, 16 * 60 - 1, 24 * 60 - 1]))
ZONES = st.sampled_from(OFFSETS)
TENTHS = st.integers(0, 9)


@st.composite
def streams(draw: st.DrawFn, max_size: int = 60) -> list[dict[str, Any]]:
    """Events for the residents over ~40 days (mostly the first ten, often near midnight), in any order."""
    count = draw(st.integers(1, max_size))
    events = []
    for index in range(count):
        subject = draw(SUBJECTS)
        household, grid = RESIDENTS[subject]
        kind, attributes = draw(KINDS)
        day = draw(DAYS)
        minute = draw(MINUTES)
        moment = (START + timedelta(days=day, minutes=minute - 8 * 60)).astimezone(draw(ZONES))
        event: dict[str, Any] = {"id": f"ev{index}", "type": kind, "subject": subject, "grid": grid,
                                 "occurred_at": moment.isoformat(), "attributes": attributes}
        if household is not None:
            event["household"] = household
        if draw(TENTHS) == 0:
            event["community"] = "c2"
        events.append(event)
    return events


def fresh() -> Engine:
    return Engine(POLICY, MemoryStore())


def scope_id(scope: str, event: dict[str, Any]) -> str:
    if scope == "subject":
        return str(event["subject"])
    if scope == "household":
        return event.get("household") or f"subject:{event['subject']}"
    if scope == "grid":
        return str(event["grid"])
    return event.get("community") or "c1"


def cap_totals(engine: Engine, events: list[dict[str, Any]]) -> dict[CounterKey, int]:
    """Points granted under each cap, per scope id and window, recomputed from award entries alone."""
    by_id = {event["id"]: event for event in events}
    totals: dict[CounterKey, int] = defaultdict(int)
    for entry in all_entries(engine):
        if entry.reason != "award":
            continue
        event = by_id[entry.event_id]
        day = datetime.fromisoformat(entry.occurred_at).astimezone(SHANGHAI).date()
        for cap in CAPS:
            if cap.selects(entry.rule, CATEGORY[entry.rule]):
                key = CounterKey(cap.scope, scope_id(cap.scope, event), cap.id, window_id(cap.window, day))
                totals[key] += entry.amount
    return dict(totals)


@settings(max_examples=80, deadline=None)
@given(streams())
def test_caps_never_exceeded_in_any_window(events: list[dict[str, Any]]) -> None:
    """Grouping award entries by cap, scope and Shanghai window never exceeds a limit, and the stored counters
    agree with the ledger."""
    engine = fresh()
    for event in events:
        engine.submit(event)
    totals = cap_totals(engine, events)
    limits = {cap.id: cap.limit for cap in CAPS}
    for key, total in totals.items():
        assert total <= limits[key.metric], key
    assert engine.store.counters(engine.tenant, list(totals)) == totals


def reference_points(events: list[dict[str, Any]]) -> list[int]:
    """An independent, naive model of PROPERTY_RULESET: base points per rule, then each cap in listed order
    (truncate or reject), counters adding what was granted. Deductions pass uncapped."""
    counters: dict[CounterKey, int] = defaultdict(int)
    results = []
    for event in events:
        kind, attributes = event["type"], event["attributes"]
        awards: list[tuple[str, int]] = []
        if kind == "patrol":
            awards.append(("patrol", int(Decimal(str(min(attributes["hours"], 4))) * 10)))
        elif kind == "sorting" and attributes["quality"] != "D":
            awards.append(("sorting", {"A": 20, "B": 10, "C": 5}[attributes["quality"]]))
        elif kind == "mediation":
            awards.append(("mediation", 15))
            if event["grid"] == "g1":
                awards.append(("grid-bonus", 5))
        elif kind == "noise":
            awards.append(("noise", -10))
        day = datetime.fromisoformat(event["occurred_at"]).astimezone(SHANGHAI).date()
        net = 0
        for rule, amount in awards:
            selected = [cap for cap in CAPS if cap.selects(rule, CATEGORY[rule])] if amount > 0 else []
            keys = [CounterKey(cap.scope, scope_id(cap.scope, event), cap.id, window_id(cap.window, day))
                    for cap in selected]
            for cap, key in zip(selected, keys, strict=True):
                room = max(cap.limit - counters[key], 0)
                if amount > room:
                    amount = room if cap.mode == "truncate" else 0
            for key in keys:
                counters[key] += amount
            net += amount
        results.append(net)
    return results


@settings(max_examples=80, deadline=None)
@given(streams())
def test_decisions_match_a_reference_model(events: list[dict[str, Any]]) -> None:
    """Each decision's points equal those of a naive re-implementation of the ruleset's points and caps."""
    engine = fresh()
    assert [engine.submit(event).points for event in events] == reference_points(events)


@settings(max_examples=80, deadline=None)
@given(streams())
def test_ledger_balances(events: list[dict[str, Any]]) -> None:
    """All touched accounts sum to zero, each balance equals the sum of its entries, the chain is intact,
    and each subject's decisions add up to their balance."""
    engine = fresh()
    net: dict[str, int] = defaultdict(int)
    for event in events:
        net[event["subject"]] += engine.submit(event).points
    entries = all_entries(engine)
    assert_chain(entries)
    assert_balanced(engine)
    assert sum(account_sums(entries).values()) == 0
    assert engine.balances(sorted(RESIDENTS)) == {s: net.get(s, 0) for s in sorted(RESIDENTS)}


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_resubmitting_a_prefix_changes_nothing(events: list[dict[str, Any]], data: st.DataObject) -> None:
    """Resubmitting any prefix (one by one or as a batch) returns the original decisions marked duplicate and
    leaves head, entries and balances unchanged."""
    engine = fresh()
    originals = [engine.submit(event) for event in events]
    head, entries = engine.head(), all_entries(engine)
    balances = engine.store.balances(engine.tenant, sorted(account_sums(entries)))
    prefix = data.draw(st.integers(0, len(events)))
    if data.draw(st.booleans()):
        again = engine.submit_many(events[:prefix])
    else:
        again = [engine.submit(dict(event)) for event in events[:prefix]]
    assert all(decision.duplicate and decision.entries == () for decision in again)
    assert [(d.points, d.trace) for d in again] == [(d.points, d.trace) for d in originals[:prefix]]
    assert engine.head() == head
    assert all_entries(engine) == entries
    assert engine.store.balances(engine.tenant, sorted(balances)) == balances


@settings(max_examples=60, deadline=None)
@given(streams())
def test_same_events_same_ledger(events: list[dict[str, Any]]) -> None:
    """Two fresh engines fed the same events write identical entries, hashes and decisions."""
    first, second = fresh(), fresh()
    decisions_a = [first.submit(event) for event in events]
    decisions_b = [second.submit(event) for event in events]
    assert all_entries(first) == all_entries(second)
    assert first.head() == second.head()
    assert [(d.points, d.trace, d.entries) for d in decisions_a] == [(d.points, d.trace, d.entries)
                                                                     for d in decisions_b]


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_submit_many_equals_one_by_one(events: list[dict[str, Any]], data: st.DataObject) -> None:
    """Cutting the stream into batches of any sizes gives the same decisions and ledger as single submits."""
    single, batched = fresh(), fresh()
    expected = [single.submit(event) for event in events]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(events)), max_size=4))) | {len(events)})
    got: list[gridpoints.Decision] = []
    start = 0
    for cut in cuts:
        got += batched.submit_many(events[start:cut])
        start = cut
    assert [(d.points, d.trace, d.entries, d.duplicate) for d in got] == [
        (d.points, d.trace, d.entries, d.duplicate) for d in expected]
    assert all_entries(single) == all_entries(batched)
    assert single.head() == batched.head()
