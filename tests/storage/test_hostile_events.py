"""Hostile events on every store: each is an EventError before anything is written, the same on the memory,
live, SQLite, PostgreSQL and MariaDB stores (the corpus is fuzz/corpus.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gridpoints
from gridpoints import Engine, EventError, EventLimits, Pseudonymiser, SettlementError
from gridpoints.storage import LiveStore, MemoryStore, Store
from gridpoints.storage.sql._store import SQLStore

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gridpoints_fuzz_corpus", ROOT / "fuzz" / "corpus.py")
assert _spec is not None and _spec.loader is not None
CORPUS: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CORPUS)

RULESET = """\
ruleset: hostile
version: 1
name: Hostile
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
  - {id: report, on: report, points: 5, verify: {by: [grid_worker], within: 7d}}
  - {id: litter, on: litter, points: -10, repair: clean}
repairs:
  - {id: clean, task: [cleanup], within: 30d}
"""
POLICY = gridpoints.load_ruleset(RULESET)
STORES = ("memory", "live", "sqlite", "postgresql", "mysql")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, prefix: str) -> Iterator[Store]:
    kind = request.param
    made: Store
    if kind == "memory":
        made = MemoryStore()
    elif kind == "live":
        made = LiveStore()
    else:
        made = SQLStore(request.getfixturevalue(f"{kind}_engine"), table_prefix=prefix)
    yield made
    made.close()


def good(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": "e1", "type": "patrol", "subject": "alice", "grid": "g1",
                             "occurred_at": "2026-05-01T10:00:00+08:00", "attributes": {"hours": 2}}
    attributes = changes.pop("attributes", None)
    event.update(changes)
    if attributes is not None:
        event["attributes"] = {**event["attributes"], **attributes}
    return event


def _nothing_written(engine: Engine) -> None:
    assert engine.store.head(engine.tenant).seq == 0
    assert engine.decision("e1") is None


@pytest.mark.parametrize("name", sorted(CORPUS.EVENTS))
def test_hostile_event_is_an_event_error_on_every_store(name: str, store: Store) -> None:
    changes, field = CORPUS.EVENTS[name]
    engine = Engine(POLICY, store=store)
    with pytest.raises(EventError) as caught:
        engine.submit(good(**changes))
    assert caught.value.field == field
    _nothing_written(engine)
    # In a batch it aborts the batch with the same typed error, at its position; nothing of the batch lands.
    with pytest.raises(EventError) as in_batch:
        engine.submit_many([good(id="ok-1"), good(**changes), good(id="ok-2")])
    assert in_batch.value.field == field and in_batch.value.index == 1
    assert engine.store.head(engine.tenant).seq == 0
    engine.submit(good())  # the store still works: the refused event left nothing half-written
    assert engine.balance("alice") == 20


def test_an_award_past_int64_is_refused_and_so_is_a_balance_past_it(store: Store) -> None:
    engine = Engine(POLICY, store=store)
    with pytest.raises(EventError, match="signed 64-bit") as caught:
        engine.submit(good(attributes={"hours": 2 * 10**18}))
    assert caught.value.field == "points"
    _nothing_written(engine)
    near = (2**63 - 1) // 10  # 922337203685477580 hours: 9223372036854775800 points, just within int64
    engine.submit(good(id="big", attributes={"hours": near}))
    with pytest.raises(EventError, match="balance beyond the signed 64-bit range") as over:
        engine.submit(good(id="more", attributes={"hours": 1}))
    assert over.value.field == "points"
    assert engine.balance("alice") == near * 10 and engine.decision("more") is None


def test_a_settlement_dated_before_the_event_it_settles_is_refused(store: Store) -> None:
    engine = Engine(POLICY, store=store)
    engine.register("wang", grid="g1", roles=["grid_worker"])
    engine.submit(good(id="r1", type="report", attributes={}))
    verify = good(id="v1", type="verify", actor="wang", occurred_at="2026-05-01T09:59:59+08:00",
                  attributes={"event": "r1"})
    del verify["attributes"]["hours"]
    with pytest.raises(SettlementError, match="before the event 'r1'") as caught:
        engine.submit(verify)
    assert caught.value.field == "occurred_at"
    engine.submit({**verify, "id": "v2", "occurred_at": "2026-05-01T10:00:00+08:00"})
    assert engine.balance("alice") == 5


def test_a_repair_task_dated_before_its_deduction_is_refused(store: Store) -> None:
    engine = Engine(POLICY, store=store)
    engine.submit(good(id="d1", type="litter", attributes={}))
    task = {"id": "t1", "type": "cleanup", "subject": "alice", "grid": "g1",
            "occurred_at": "2026-04-30T10:00:00+08:00", "attributes": {"repair": "d1"}}
    with pytest.raises(SettlementError, match="before the deduction 'd1'") as caught:
        engine.submit(task)
    assert caught.value.field == "occurred_at"


def test_event_limits_are_an_engine_option() -> None:
    small = EventLimits(max_id=8, max_string=10, max_attributes=2, max_event=15)
    engine = Engine(POLICY, event_limits=small)
    engine.submit(good(id="short"))
    cases = [
        (good(id="a-long-event-id"), "id", "1–8"),
        (good(id="s1", subject="a-long-subject"), "subject", "1–8"),
        (good(id="s2", attributes={"note": "x" * 11}), "attributes.note", "max_string = 10"),
        (good(id="s3", attributes={"a": 1, "b": 2}), "attributes", "max_attributes = 2"),
        (good(id="s4", attributes={"note": "x" * 10}), "attributes", "max_event = 15"),  # 5 + 4 + 10 characters
    ]
    for event, field, message in cases:
        with pytest.raises(EventError, match=message) as caught:
            engine.submit(event)
        assert caught.value.field == field
    defaults = EventLimits()
    assert (defaults.max_id, defaults.max_string, defaults.max_attributes, defaults.max_event) == (
        128, 4096, 64, 65536)
    with pytest.raises(ValueError, match="max_id"):
        EventLimits(max_id=500)


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+08:00"])
def test_extreme_times_given_to_engine_methods_are_event_errors(when: str) -> None:
    from datetime import datetime

    engine = Engine(POLICY)
    moment = datetime.fromisoformat(when)
    for call in (lambda: engine.expire_pending(moment), lambda: engine.close_period("2026-05", now=moment),
                 lambda: engine.tier("alice", at=moment), lambda: engine.redeem("alice", "x", "q1", at=moment)):
        with pytest.raises(EventError, match="outside the years 1900 to 8999"):
            call()


def test_no_raw_subject_in_an_error_with_a_pseudonymiser_on() -> None:
    engine = Engine(POLICY, pseudonymiser=Pseudonymiser(b"k" * 32))
    for subject in ("alice\n", " alice", "alice" * 30, "alice\ud800"):
        for field in ("subject", "actor", "household"):
            with pytest.raises(EventError) as caught:
                engine.submit(good(**{field: subject}))
            assert "alice" not in str(caught.value) and caught.value.field == field
    with pytest.raises(EventError) as plain:  # without one, the value is shown to help the host fix it
        Engine(POLICY).submit(good(subject="alice\n"))
    assert "alice" in str(plain.value)
