"""The decision kernel's seam and the capabilities it relies on: mechanisms plug in through a table, reasons
come from one enumeration, time text is formatted once, the collector pause is balanced, stores declare what
they need, and the record codec round-trips."""

from __future__ import annotations

import ast
import gc
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from _support import RULESET
from hypothesis import given, settings
from hypothesis import strategies as st

import gridpoints
from gridpoints import Engine, MemoryStore, Reason
from gridpoints.calendar import LocalTimes
from gridpoints.engine import Award, Context, Handler, Kernel, Mechanism, Plan
from gridpoints.engine._collector import collector_paused
from gridpoints.engine._kernel import Decider
from gridpoints.engine.lifecycle import MECHANISMS
from gridpoints.model import Event, EventRecord, LimitStep, RuleTrace
from gridpoints.storage import StoreCapabilities, capabilities_of
from gridpoints.storage.sql import SQLStore

T = datetime.fromisoformat

LIFECYCLE = Path(gridpoints.__file__).parent / "engine" / "lifecycle"


class Bonus(StrEnum):
    """A mechanism made up for the test: a doubled award."""

    DOUBLE = "test-double"


def _double(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    decider.grant(plan, award, amount * 2, steps)
    return "doubled"


def _doubling(context: Context, rule: object, event: Event, base: int, code: str, args: object, day: object,
              windows: dict[str, str]) -> Award | None:
    return Award("patrol", "巡逻", "reward", base, code, {}, action=Bonus.DOUBLE) if event.type == "patrol" else None


def test_a_mechanism_plugs_in_through_the_table() -> None:
    """A new action with its handler and a rule hook, added to the table, decides events; nothing else changes."""
    policy = gridpoints.load_ruleset(RULESET)
    toy = Mechanism("double", handlers=(Handler(Bonus.DOUBLE, _double),),
                    rules=((lambda rule: rule.id == "patrol", _doubling),))
    kernel = Kernel(policy, MemoryStore(), tenant="t", registry=None, pseudonymiser=None, max_retries=1,
                    mechanisms=(*MECHANISMS, toy))
    event = {"id": "p1", "type": "patrol", "subject": "s1", "grid": "g1", "occurred_at": "2026-04-01T09:00:00+08:00",
             "attributes": {"hours": 1}}
    (decision,) = kernel.commit([kernel.plan_input(event, 0)])
    assert decision.points == 20
    assert decision.trace.rules[0].status == "doubled"


def test_an_action_is_handled_once() -> None:
    """Two mechanisms registering the same action is a configuration error, not a silent override."""
    policy = gridpoints.load_ruleset(RULESET)
    twice = Mechanism("again", handlers=(Handler(Bonus.DOUBLE, _double), Handler(Bonus.DOUBLE, _double)))
    with pytest.raises(ValueError, match="already handled"):
        Kernel(policy, None, tenant="t", registry=None, pseudonymiser=None, max_retries=1, mechanisms=(twice,))


def test_an_award_without_a_handler_is_a_typed_error() -> None:
    """An award whose action no mechanism registered names the action instead of failing obscurely."""
    policy = gridpoints.load_ruleset(RULESET)
    kernel = Kernel(policy, None, tenant="t", registry=None, pseudonymiser=None, max_retries=1, mechanisms=())
    event = Event("x", "patrol", "s1", "g1", T("2026-04-01T09:00:00+08:00"), {"hours": 1})
    plan = kernel.plan(event, [Award("r", "r", "reward", 5, "base.fixed", {}, action=Bonus.DOUBLE)])
    with pytest.raises(TypeError, match="test-double"):
        kernel.commit([plan])


def test_mechanisms_reach_no_private_name() -> None:
    """Lifecycle modules use the Context and the Decider's public verbs: no ``obj._name`` access (named-tuple
    methods aside) and no import of the engine facade."""
    allowed = {"_replace", "_make", "_asdict"}
    found = []
    for path in LIFECYCLE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in allowed):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "gridpoints.engine._engine":
                found.append(f"{path.name}:{node.lineno} imports the engine")
    assert found == []


def test_every_posted_reason_is_a_reason() -> None:
    """A month of the Pudong example posts only reasons of the one enumeration, and its named sets hold."""
    from gridpoints.whatif import PRESETS, Community, memberships, simulate

    policy = gridpoints.load_ruleset(Path(__file__).resolve().parents[1] / "rulesets" / "pudong-sunshine.yaml")
    habits = PRESETS["pudong"]
    community = Community(200, 2, seed=3, name="pudong", mix=habits.mix, elderly=habits.elderly, preset=habits)
    store = MemoryStore()
    simulate(policy, community.events(policy, date(2026, 3, 1), 2), roster=memberships(community.roster()),
             store=store)
    reasons = {entry.reason for entry in store.entries("default")}
    assert reasons and reasons <= set(Reason)
    assert Reason.EARNED < Reason.ISSUED
    assert Reason.AWARDED < Reason.EARNED
    assert Reason.CREDIT not in Reason.EARNED


_zones = st.sampled_from([*sorted(z for z in available_timezones() if "/" in z)[:400:7],
                          "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
_offsets = st.sampled_from([0, 8, -5, 1, 5.5, -3.5, 14, -12, 9.75])
_seconds = st.integers(min_value=0, max_value=3 * 366 * 86_400)


@settings(max_examples=400, deadline=None)
@given(zone=_zones, offset=_offsets, second=_seconds, micro=st.sampled_from([0, 0, 0, 1, 999_999]))
def test_local_times_are_the_formatted_times(zone: str, offset: float, second: int, micro: int) -> None:
    """Cached hours give exactly the text and date the datetime methods would, in any zone and offset."""
    tz = ZoneInfo(zone)
    times = LocalTimes(tz)
    moment = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=offset))) + timedelta(seconds=second,
                                                                                        microseconds=micro)
    text = moment.isoformat()
    local = moment.astimezone(tz)
    expected = (local.isoformat(), local.astimezone(UTC).isoformat(), local.date())
    assert times.of(moment, text) == expected
    assert times.of(moment, text) == expected  # the second look is served from the hour kept
    assert times.of(moment) == expected


def test_collector_pause_is_balanced() -> None:
    """Nested and concurrent pauses re-enable the collector once, after the last; a collector disabled
    before stays disabled; an exception inside still resumes it."""
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("inside a batch")
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(5)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread's batch is still running
    release.set()
    worker.join()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_large_batches_run_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """submit_many pauses the collector for a batch of at least ``pause_collector`` events, not for a smaller
    one, and never with ``pause_collector=None``."""
    policy = gridpoints.load_ruleset(RULESET)
    seen: list[bool] = []
    real = Kernel.commit

    def spy(self: Kernel, plans: list[Plan]) -> list[gridpoints.Decision]:
        seen.append(gc.isenabled())
        return real(self, plans)

    monkeypatch.setattr(Kernel, "commit", spy)

    def batch(n: int, start: int) -> list[dict[str, object]]:
        return [{"id": f"e{start + i}", "type": "patrol", "subject": f"s{i}", "grid": "g1",
                 "occurred_at": "2026-04-01T09:00:00+08:00", "attributes": {"hours": 1}} for i in range(n)]

    engine = Engine(policy, pause_collector=10)
    engine.submit_many(batch(10, 0))
    engine.submit_many(batch(9, 100))
    Engine(policy, pause_collector=None).submit_many(batch(50, 200))
    assert seen == [False, True, True]
    assert gc.isenabled()


def test_stores_declare_their_capabilities() -> None:
    """The memory store needs no fingerprints up front and keeps a notices outbox; a store that declares
    nothing gets the safe defaults (no outbox)."""
    assert capabilities_of(MemoryStore()) == StoreCapabilities(needs_fingerprints=False, persists_records=False,
                                                               keeps_notices=True)
    assert capabilities_of(object()) == StoreCapabilities()
    assert not StoreCapabilities().keeps_notices
    assert capabilities_of(SQLStore).needs_fingerprints and capabilities_of(SQLStore).keeps_notices


def test_fingerprints_come_before_the_lock_when_the_store_needs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a store that needs fingerprints, every one is computed before the transaction opens; for the
    memory store none is computed at all on a first submission."""
    calls: list[str] = []
    real_fingerprint = Event.fingerprint
    monkeypatch.setattr(Event, "fingerprint",
                        lambda self, *a: calls.append("fingerprint") or real_fingerprint(self, *a))

    class Persisting(MemoryStore):
        capabilities = StoreCapabilities()

        def transaction(self, tenant: str, **kw: Any) -> Any:
            calls.append("transaction")
            return super().transaction(tenant, **kw)

    policy = gridpoints.load_ruleset(RULESET)
    events = [{"id": f"e{i}", "type": "patrol", "subject": "s1", "grid": "g1",
               "occurred_at": "2026-04-01T09:00:00+08:00", "attributes": {"hours": 1}} for i in range(3)]
    Engine(policy, store=Persisting()).submit_many(events)
    assert calls == ["fingerprint"] * 3 + ["transaction"]
    calls.clear()
    Engine(policy, store=MemoryStore()).submit_many(events)
    assert calls == []


_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)


@settings(max_examples=60, deadline=None)
@given(attributes=st.dictionaries(st.text(min_size=1, max_size=6), _scalars, max_size=3),
       actor=st.none() | st.text(min_size=1, max_size=6))
def test_record_codec_round_trips(attributes: dict[str, object], actor: str | None) -> None:
    """A record made from a decision, kept compact and read back, has the same fingerprint, decision text and
    original; a record read from text stays that text."""
    step = LimitStep("cap", "cap", "subject", "s1", "2026-04-01", 40, 50, 20, 10, "truncate", "cap.truncated")
    trace_rules = (RuleTrace("rule", "规则", "reward", 20, "base.fixed", {"points": 20}, (step,), 10),)
    event = Event("e1", "patrol", "s1", "g1", T("2026-04-01T09:00:00+08:00"), attributes, "h1", None, actor)
    decision = gridpoints.Decision("e1", "s1", 10, (), gridpoints.Trace(
        "e1", "patrol", "s1", "2026-04-01T09:00:00+08:00", "demo@1", trace_rules, "g1", "h1", None))
    record = EventRecord.of(event, decision)
    back = EventRecord.from_compact("e1", record.compact())
    assert back.fingerprint == event.fingerprint()
    assert back.decision == record.decision
    assert back.original() == record.original()
    text = EventRecord("e2", "f" * 64, '{"points":5,"trace":{}}')
    assert EventRecord.from_compact("e2", text.compact()) == text
