"""The closed-period rule is read inside the write transaction: a period close committed by another engine
after an event was planned, but before its transaction, is seen on every SQL backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

import gridpoints
from gridpoints import Engine as PointsEngine
from gridpoints import EventError
from gridpoints.model import CounterKey
from gridpoints.storage import Store, Transaction
from gridpoints.storage.sql._store import SQLStore

RULESET = """\
ruleset: late-race
version: 1
name: 迟到事件
timezone: Asia/Shanghai
rules:
  - {id: mediation, name: 邻里调解, on: mediation, points: 10}
"""
MAY = datetime(2026, 5, 1, 1, tzinfo=UTC)


def _event(event_id: str, at: str = "2026-04-20T10:00:00+08:00") -> dict[str, Any]:
    return {"id": event_id, "type": "mediation", "subject": "r1", "grid": "g1", "occurred_at": at}


class CloseFirst:
    """A store that, before its first write transaction opens, lets another engine close April: the close
    commits after the event was planned and before the event's transaction reads anything."""

    def __init__(self, store: SQLStore, closer: PointsEngine) -> None:
        self._store = store
        self._closer: PointsEngine | None = closer
        self.capabilities = store.capabilities

    def transaction(self, tenant: str, *, counters: Any = (), accounts: Any = ()
                    ) -> AbstractContextManager[Transaction]:
        if self._closer is not None:
            closer, self._closer = self._closer, None
            closer.close_period("2026-04", now=MAY)
        return self._store.transaction(tenant, counters=counters, accounts=accounts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def stores(sql_engine: Engine, prefix: str) -> Iterator[tuple[SQLStore, SQLStore]]:
    """Two stores (two engines' worth of connections) on one schema."""
    one, two = SQLStore(sql_engine, table_prefix=prefix), SQLStore(sql_engine, table_prefix=prefix)
    yield one, two
    one.close()
    two.close()


def _engines(stores: tuple[SQLStore, SQLStore], text: str) -> tuple[PointsEngine, PointsEngine]:
    policy = gridpoints.load_ruleset(text)
    closer = PointsEngine(policy, stores[1])
    store: Store = CloseFirst(stores[0], closer)  # type: ignore[assignment]
    return PointsEngine(policy, store), closer


def test_a_close_committed_after_planning_is_seen(stores: tuple[SQLStore, SQLStore]) -> None:
    """April closed by another engine between planning an April event and its transaction: it is flagged
    late, and its points still flow."""
    submitter, closer = _engines(stores, RULESET)
    decision = submitter.submit(_event("e-late"))
    assert [rule.status for rule in decision.trace.rules] == ["awarded", "late"]
    assert stores[0].counters("default", [CounterKey("period", "month", "closed", "2026-04")]) == {
        CounterKey("period", "month", "closed", "2026-04"): 1}
    assert closer.balance("r1") == 10


def test_reject_refuses_an_event_whose_month_closed_concurrently(stores: tuple[SQLStore, SQLStore]) -> None:
    """Under ``closed_periods: reject`` the same race refuses the event, with nothing of it written."""
    submitter, closer = _engines(stores, RULESET + "closed_periods: reject\n")
    with pytest.raises(EventError, match="2026-04, which was already closed") as caught:
        submitter.submit(_event("e-late"))
    assert (caught.value.field, caught.value.index, caught.value.event_id) == ("occurred_at", None, "e-late")
    assert stores[0].find_event("default", "e-late") is None and closer.balance("r1") == 0
    assert list(stores[0].entries("default")) == []
