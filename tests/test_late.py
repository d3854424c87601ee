"""Recorded time and late events: an event in a window a period close already closed is flagged late (and
explained), or refused when the ruleset says ``closed_periods: reject``; a resubmission is still answered."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from _support import RULESET

import gridpoints
from gridpoints import Engine, EventError, MemoryStore, Store
from gridpoints.audit import verify
from gridpoints.storage import capabilities_of
from gridpoints.storage.sql import SQLStore

MAY = datetime(2026, 5, 1, 1, tzinfo=UTC)


def test_event_in_a_closed_month_is_flagged_late(engine: Engine, make_event: Any) -> None:
    """After April's close an April event is accepted with a late line in its trace (zh and en); a May event
    is not late; points flow as usual."""
    engine.submit(make_event("mediation", subject="r1"))
    engine.close_period("2026-04", now=MAY)
    late = engine.submit(make_event("mediation", subject="r1", at="2026-04-20T10:00:00+08:00"))
    assert late.points == 10 and late.trace.rules[-1].status == "late"
    assert "recorded after window 2026-04 was closed" in late.explain("en")
    assert "在周期 2026-04 结账后才记录" in late.explain("zh")
    fresh = engine.submit(make_event("mediation", subject="r1", at="2026-05-02T10:00:00+08:00"))
    assert all(rule.status != "late" for rule in fresh.trace.rules)


def test_closed_periods_reject_refuses_late_events_but_answers_resubmissions(make_event: Any) -> None:
    policy = gridpoints.load_ruleset(RULESET + "closed_periods: reject\n")
    engine = Engine(policy)
    first = engine.submit(make_event("mediation", id="e-early", subject="r1"))
    engine.close_period("2026-04", now=MAY)
    head = engine.head()
    with pytest.raises(EventError, match="which was already closed") as caught:
        engine.submit_many([make_event("mediation", id="e-new", subject="r2", at="2026-05-02T10:00:00+08:00"),
                            make_event("mediation", id="e-late", subject="r2", at="2026-04-20T10:00:00+08:00")])
    assert (caught.value.field, caught.value.index) == ("occurred_at", 1)
    assert engine.head() == head and engine.balance("r2") == 0
    again = engine.submit(make_event("mediation", id="e-early", subject="r1"))
    assert again.duplicate and again.points == first.points


def test_records_carry_recorded_at_from_the_injected_clock(policy: gridpoints.Policy, make_event: Any,
                                                           tmp_path: Path) -> None:
    """Each sealed record has ``recorded_at`` from the host's clock (UTC), which no decision depends on."""
    store = SQLStore(f"sqlite:///{tmp_path / 'r.db'}")
    moments = iter([datetime(2026, 4, 3, 8, tzinfo=UTC), datetime(2026, 4, 9, 8, tzinfo=UTC)])
    engine = Engine(policy, store, clock=lambda: next(moments))
    one = engine.submit(make_event("mediation", subject="r1"))
    two = engine.submit(make_event("mediation", subject="r1"))
    assert one.points == two.points
    assert [r.seal.recorded_at for r in store.records("default") if r.seal] == [
        "2026-04-03T08:00:00+00:00", "2026-04-09T08:00:00+00:00"]
    assert verify(store).ok
    store.close()


class Counting:
    """A store that counts the calls made on it, by method name."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.capabilities = capabilities_of(store)
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return counted


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_single_submit_is_one_store_transaction(policy: gridpoints.Policy, make_event: Any, tmp_path: Path,
                                                  kind: str) -> None:
    """The closed-window markers are read in the write transaction: a submit makes one store call (its
    transaction), no read of its own, whether its month is open or closed."""
    inner: Store = SQLStore(f"sqlite:///{tmp_path / 'c.db'}") if kind == "sqlite" else MemoryStore()
    store = Counting(inner)
    engine = Engine(policy, cast(Store, store))
    engine.submit(make_event("mediation", subject="r1"))
    store.calls.clear()
    engine.submit(make_event("mediation", subject="r1"))
    assert store.calls == {"transaction": 1}
    engine.close_period("2026-04", now=MAY)
    store.calls.clear()
    late = engine.submit(make_event("mediation", subject="r1", at="2026-04-20T10:00:00+08:00"))
    assert late.trace.rules[-1].status == "late" and store.calls == {"transaction": 1}
    inner.close()


def test_batches_flag_only_their_late_events_and_answer_resubmissions(engine: Engine, make_event: Any) -> None:
    """In one batch an April event after April's close is late, a May one is not, and a recorded April
    event resubmitted in the batch is answered from its record (not late, not posted again)."""
    early = engine.submit(make_event("mediation", id="e-early", subject="r1"))
    engine.close_period("2026-04", now=MAY)
    again, late, fresh = engine.submit_many([
        make_event("mediation", id="e-early", subject="r1"),
        make_event("mediation", id="e-april", subject="r2", at="2026-04-20T10:00:00+08:00"),
        make_event("mediation", id="e-may", subject="r2", at="2026-05-02T10:00:00+08:00")])
    assert again.duplicate and again.trace == early.trace
    assert [r.status for r in late.trace.rules] == ["awarded", "late"]
    assert all(r.status != "late" for r in fresh.trace.rules)
    assert engine.balance("r1") == 10 and engine.balance("r2") == 20


def test_engine_made_plans_are_not_subject_to_the_closed_period_rule(make_event: Any) -> None:
    """Under ``closed_periods: reject`` an engine-made plan dated in a closed month (as a mechanism's
    redemption or correction is) is committed; a submitted event's plan is refused by the commit itself."""
    policy = gridpoints.load_ruleset(RULESET + "closed_periods: reject\n")
    engine = Engine(policy)
    engine.submit(make_event("mediation", id="e1", subject="r1"))
    engine.close_period("2026-04", now=MAY)
    kernel_plan = engine.plan(engine.coerce(make_event("mediation", id="e2", subject="r1",
                                                       at="2026-04-21T10:00:00+08:00"), None), ())
    assert not kernel_plan.submitted
    (decision,) = engine.commit([kernel_plan])
    assert decision.points == 0 and engine.decision("e2") is not None
    submitted = engine.plan_input(make_event("mediation", id="e3", subject="r1", at="2026-04-21T10:00:00+08:00"), None)
    with pytest.raises(EventError, match="closed_periods: reject"):
        engine.commit([submitted])
    assert engine.decision("e3") is None
