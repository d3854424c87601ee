"""Shared fixtures for the core tests: the small ruleset with caps (text and compiled), a fresh engine and an
event factory. Importable helpers live in _support.py.

The long reliability runs are opt-in: see _selection.py, whose hooks this conftest installs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

import gridpoints
from gridpoints import Engine, MemoryStore, Policy

pytest.register_assert_rewrite("_support")

from _selection import pytest_collection_modifyitems, pytest_terminal_summary  # noqa: E402,F401  (the hooks)
from _support import RULESET  # noqa: E402  (imported after registering assertion rewriting for it)


@pytest.fixture
def ruleset_text() -> str:
    """The shared test ruleset as YAML text."""
    return RULESET


@pytest.fixture
def policy() -> Policy:
    """The shared test ruleset, compiled."""
    return gridpoints.load_ruleset(RULESET)


@pytest.fixture
def engine(policy: Policy) -> Engine:
    """A fresh engine over an empty memory store."""
    return Engine(policy, store=MemoryStore())


EventFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_event() -> EventFactory:
    """Build event mappings: ``make_event("patrol", hours=2, at="2026-04-01T10:00:00+08:00")``.

    Ids are unique per test unless given; ``at`` defaults to a fixed Shanghai morning.
    """
    serial = itertools.count(1)

    def build(
        type: str = "mediation", *, id: str | None = None, subject: str = "s1", grid: str = "g1",
        at: str | datetime = "2026-04-01T10:00:00+08:00", household: str | None = None,
        community: str | None = None, actor: str | None = None, **attributes: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": id if id is not None else f"e{next(serial)}", "type": type, "subject": subject,
            "grid": grid, "occurred_at": at, "attributes": attributes,
        }
        for name, value in (("household", household), ("community", community), ("actor", actor)):
            if value is not None:
                event[name] = value
        return event

    return build
