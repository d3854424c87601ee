"""The committed JSON Schema is current, and every shipped ruleset validates against it and lints clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import gridpoints
from gridpoints.ruleset import json_schema_text
from gridpoints.ruleset._loader import read_source

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema" / "ruleset.schema.json"
RULESETS = sorted((ROOT / "rulesets").glob("*.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=../schema/ruleset.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the committed schema (itself checked against the 2020-12 meta-schema)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current() -> None:
    """schema/ruleset.schema.json equals what `gridpoints schema` prints (regenerate with --output if not)."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text()


def test_rulesets_are_shipped() -> None:
    """The three community rulesets are in rulesets/."""
    assert {p.stem for p in RULESETS} >= {"pudong-sunshine", "chaoyang-harmony", "tianhe-vitality"}


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: p.name)
def test_ruleset_validates_against_schema(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    """Each shipped ruleset, read with YAML 1.2 booleans, is valid under the JSON Schema."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(read_source(path).data)]
    assert errors == []


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: p.name)
def test_ruleset_starts_with_schema_comment(path: Path) -> None:
    """Each shipped ruleset's first line points editors at the schema."""
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_COMMENT


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: p.name)
def test_ruleset_lints_clean(path: Path) -> None:
    """Each shipped ruleset has no lint diagnostics at all, warnings included."""
    assert [str(d) for d in gridpoints.lint(path)] == []


def test_schema_rejects_a_misspelt_key(validator: jsonschema.Draft202012Validator) -> None:
    """The schema is strict: an unknown key in a rule (a typo an editor should flag) is invalid."""
    data: dict[str, Any] = read_source(ROOT / "rulesets" / "pudong-sunshine.yaml").data
    data["rules"][0]["pionts"] = data["rules"][0].pop("points")
    assert not validator.is_valid(data)
