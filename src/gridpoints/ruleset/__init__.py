"""The ruleset DSL: models, loading with source locations, semantic checks, JSON Schema, lint, the ``when:``
language. Compiling a spec into a policy is the layer above (:mod:`gridpoints.policy`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridpoints.errors import RulesetError
from gridpoints.ruleset._lint import Diagnostic, lint
from gridpoints.ruleset._loader import DEFAULT_LIMITS, LoadLimits, RulesetLoader, parse_spec, read_source
from gridpoints.ruleset._models import (
    AttributeSpec,
    BudgetSpec,
    CampaignSpec,
    CapSpec,
    ChallengeSpec,
    DiminishingSpec,
    EventTypeSpec,
    HonourSpec,
    ItemSpec,
    MilestoneSpec,
    PerUnitPoints,
    RangePoints,
    RepairSpec,
    RulesetSpec,
    RuleSpec,
    ShareSpec,
    StreakSpec,
    TablePoints,
)
from gridpoints.ruleset._semantic import check

__all__ = [
    "AttributeSpec",
    "BudgetSpec",
    "CampaignSpec",
    "CapSpec",
    "ChallengeSpec",
    "Diagnostic",
    "DiminishingSpec",
    "EventTypeSpec",
    "HonourSpec",
    "ItemSpec",
    "LoadLimits",
    "MilestoneSpec",
    "PerUnitPoints",
    "RangePoints",
    "RepairSpec",
    "RuleSpec",
    "RulesetLoader",
    "RulesetSpec",
    "ShareSpec",
    "StreakSpec",
    "TablePoints",
    "json_schema",
    "lint",
    "load_spec",
    "load_validated",
]

SCHEMA_ID = "https://gridpoints.dev/schema/ruleset.schema.json"


def load_validated(
    path_or_text: str | Path, *, limits: LoadLimits = DEFAULT_LIMITS
) -> tuple[RulesetSpec, str | None]:
    """Parse and validate a ruleset; the spec and the source's name (the policy layer compiles it)."""
    source = read_source(path_or_text, limits)
    spec = parse_spec(source)
    issues = check(spec, source)
    if issues:
        raise RulesetError(issues)
    return spec, source.name


def load_spec(path_or_text: str | Path, *, limits: LoadLimits = DEFAULT_LIMITS) -> RulesetSpec:
    """Parse and validate a ruleset; raises :class:`RulesetError` listing every problem with its place
    (and for a document past one of ``limits``, naming the limit)."""
    return load_validated(path_or_text, limits=limits)[0]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a ruleset file, for editors (yaml-language-server) and other tools."""
    schema = RulesetSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
