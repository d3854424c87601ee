"""Test helpers shipped with gridpoints: the store conformance suite and fairness tooling.

The fairness names below are loaded on first use, so that importing this package (as the pytest plugin
and the conformance suite do) does not need hypothesis until a fairness helper is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridpoints.testing.fairness import PropertyResult, assert_fair, check_ruleset, run_check
    from gridpoints.testing.properties import (
        PROPERTIES,
        Bound,
        Concentration,
        FairnessViolation,
        check_appeals_and_repairs,
        check_attribute_blind,
        check_campaigns,
        check_caps,
        check_concentration,
        check_conservation,
        check_determinism,
        check_durable_base_points,
        check_equal_treatment,
        check_event_type_bounds,
        check_floor,
        check_honours,
        check_idempotency,
        check_notices,
        check_positive_events,
        check_shares,
        check_streaks,
        check_targeting,
        check_team_challenges,
        events_jsonl,
    )
    from gridpoints.testing.strategies import event_streams

__all__ = [
    "PROPERTIES",
    "Bound",
    "Concentration",
    "FairnessViolation",
    "PropertyResult",
    "assert_fair",
    "check_appeals_and_repairs",
    "check_attribute_blind",
    "check_campaigns",
    "check_caps",
    "check_concentration",
    "check_conservation",
    "check_determinism",
    "check_durable_base_points",
    "check_equal_treatment",
    "check_event_type_bounds",
    "check_floor",
    "check_honours",
    "check_idempotency",
    "check_notices",
    "check_positive_events",
    "check_ruleset",
    "check_shares",
    "check_streaks",
    "check_targeting",
    "check_team_challenges",
    "event_streams",
    "events_jsonl",
    "run_check",
]

_HOMES = {
    **dict.fromkeys(("PropertyResult", "assert_fair", "check_ruleset", "run_check"), "fairness"),
    "event_streams": "strategies",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOMES.get(name, 'properties')}")
    return getattr(module, name)
