"""Compiling a validated ruleset spec into a frozen :class:`Policy`: rules indexed by event type, points
forms as functions, limits attached to the rules they bind, and the limits' arithmetic; :func:`diff` of two
versions."""

from __future__ import annotations

from pathlib import Path

from gridpoints.policy._compile import (
    SETTLEMENT_TYPES,
    AttributeCheck,
    CompiledCampaign,
    CompiledLimit,
    CompiledRule,
    EventType,
    PointsInputError,
    PointsResult,
    Policy,
    compile_policy,
)
from gridpoints.policy._diff import CounterChange, ItemChange, PolicyDiff, diff
from gridpoints.ruleset import LoadLimits, load_validated

__all__ = [
    "SETTLEMENT_TYPES",
    "AttributeCheck",
    "CompiledCampaign",
    "CompiledLimit",
    "CompiledRule",
    "CounterChange",
    "EventType",
    "ItemChange",
    "PointsInputError",
    "PointsResult",
    "Policy",
    "PolicyDiff",
    "compile_policy",
    "diff",
    "load_ruleset",
]


def load_ruleset(path_or_text: str | Path, *, limits: LoadLimits | None = None) -> Policy:
    """Load, validate and compile a ruleset from a YAML file path or YAML text; raises
    :class:`~gridpoints.errors.RulesetError` listing every problem with its place. ``limits`` bounds the
    document's size (:class:`~gridpoints.ruleset.LoadLimits`; the defaults fit any real ruleset)."""
    spec, name = load_validated(path_or_text, limits=limits or LoadLimits())
    return compile_policy(spec, name)
