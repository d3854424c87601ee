"""Recorded time and late events: an event in a window a period close already closed is flagged late (and
explained), or refused when the ruleset says ``closed_periods: reject``; a resubmission is still answered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _support import RULESET

import gridpoints
from gridpoints import Engine, EventError
from gridpoints.audit import verify
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
