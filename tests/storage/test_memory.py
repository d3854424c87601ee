"""The memory store keeps records and entries lean without changing what reads return."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from _support import RULESET

import gridpoints
from gridpoints import Engine, MemoryStore
from gridpoints.model import Event, EventRecord, spendable

AT = datetime.fromisoformat("2026-04-01T10:00:00+08:00")


def _events() -> list[Event]:
    return [
        Event("p1", "patrol", "s1", "g1", AT, {"hours": 1.5}, household="h1"),
        Event("p2", "patrol", "s1", "g1", AT, {"hours": 1.5}, household="h1"),
        Event("p3", "patrol", "s1", "g1", AT, {"hours": 2}, household="h1", community="c1"),
        Event("g1", "garbage_sorting", "s2", "g1", AT, {"quality": "A"}),
        Event("g2", "garbage_sorting", "s2", "g2", AT, {"quality": "D"}),
        Event("n1", "noise_violation", "s2", "g2", AT, {}, actor="w1"),
        Event("u1", "patrol", "s3", "g1", AT.astimezone(UTC), {"hours": 1}),
    ]


def test_kept_records_read_back_as_the_decisions_written() -> None:
    """A record kept in compact form has the fingerprint, decision text and original decision it was given."""
    store = MemoryStore()
    engine = Engine(gridpoints.load_ruleset(RULESET), store=store)
    events = _events()
    decisions = engine.submit_many(events)
    for event, decision in zip(events, decisions, strict=True):
        given = EventRecord.of(event, decision)
        kept = store.find_event(engine.tenant, event.id)
        assert kept is not None
        assert kept.fingerprint == event.fingerprint()
        assert kept.decision == given.decision
        assert kept.original() == given.original()
        assert kept == given
    again = engine.submit_many(events)
    assert again == [EventRecord.of(e, d).original() for e, d in zip(events, decisions, strict=True)]


def test_kept_state_is_plain_tuples() -> None:
    """Entries, counter keys and records are kept as exact tuples of plain values, which the garbage collector
    does not walk once it has seen them."""
    store = MemoryStore()
    engine = Engine(gridpoints.load_ruleset(RULESET), store=store)
    engine.submit_many(_events())
    state = store._tenants[engine.tenant]  # the test looks inside on purpose: the layout is the point
    assert state.entries and all(type(e) is tuple for e in state.entries)
    assert state.counters and all(type(k) is tuple for k in state.counters)
    assert all(type(r) is tuple for r in state.events.values())
    gc.collect()
    assert not any(gc.is_tracked(e) for e in state.entries)


def test_entries_share_account_names() -> None:
    """Entries read back equal to the ones appended, with one string per account name."""
    store = MemoryStore()
    engine = Engine(gridpoints.load_ruleset(RULESET), store=store)
    decisions = engine.submit_many(_events()[:2])
    stored = list(store.entries(engine.tenant))
    assert stored == [e for d in decisions for e in d.entries]
    assert stored[0].credit == spendable("s1")
    assert stored[0].credit is stored[1].credit
    assert list(store.entries(engine.tenant, subject="s1", after_seq=1)) == stored[1:]


def test_limit_steps_share_their_code_and_window() -> None:
    """Two events' identical limit outcomes read back with one string for the code and one for the window."""
    store = MemoryStore()
    engine = Engine(gridpoints.load_ruleset(RULESET), store=store)
    engine.submit_many(_events()[:2])
    first, second = (store.find_event(engine.tenant, i) for i in ("p1", "p2"))
    assert first is not None and second is not None
    steps = [r.steps[0] for d in (first.original(), second.original()) for r in d.trace.rules if r.steps]
    assert len(steps) == 2
    assert steps[0].code == steps[1].code and steps[0].code is steps[1].code
    assert steps[0].window is steps[1].window


def test_a_given_fingerprint_is_kept() -> None:
    """A record whose fingerprint was given (an engine-made event's narrower identity) keeps that fingerprint."""
    event = _events()[0]
    decision = Engine(gridpoints.load_ruleset(RULESET)).submit(event)
    store = MemoryStore()
    with store.transaction("t") as txn:
        txn.append([], {}, [EventRecord.of(event, decision, "f" * 64)])
    kept = store.find_event("t", event.id)
    assert kept is not None
    assert kept.fingerprint == "f" * 64
    assert kept.original() == decision.replace(entries=(), duplicate=True)
