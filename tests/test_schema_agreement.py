"""The JSON Schema and the loader agree: every document the schema generates is accepted by the loader, or
refused only for a cross-reference or bound the schema cannot state, each listed in CANNOT_EXPRESS."""

from __future__ import annotations

import json
import re
from datetime import timedelta, timezone
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gridpoints.errors import RulesetError
from gridpoints.ruleset import json_schema, load_spec

#: Why the loader may refuse a schema-valid document: checks across keys, or bounds JSON Schema cannot say.
CANNOT_EXPRESS = {
    "duplicate id": r"duplicate id ",
    "unknown reference (rule, category, repair, tier, challenge, streak)":
        r"unknown (rule|category|repair|tier|challenge|streak) ",
    "event types a streak counts must exist": r"no rule, repair or declared event type",
    "an honour's one source": r"an honour comes from exactly one of",
    "units milestones need per-unit rules": r"metric: units counts the units of per-unit rules",
    "team grids compete community-wide": r"a team: grid challenge needs scope: community",
    "reserved settlement event types": r"is reserved: the engine handles it",
    "verify only on awards": r"only awards can wait for verification",
    "appeal only on deductions": r"only deductions can be appealed",
    "repair only on deductions": r"only deductions can be repaired",
    "scheduled rules award fixed points": r"a scheduled rule \(on: period\.\*\)",
    "worker credit needs verify": r"worker credit needs 'verify'",
    "repair tasks are their own event types": r"a repair task type must be its own",
    "the when-condition language (rules, campaigns, streaks)": r"\.when\b",
    "attribute types read by rules": r"declared as \w+, but this rule reads it as a number|a table looks up exact",
    "min <= max": r"min must not be above max",
    "range lo <= hi": r"range must be \[lo, hi\]",
    "IANA time zone names": r"unknown IANA time zone",
    "date-time years 1900-8999": r"expected a time in the years 1900 to 8999",
    "valid_until after valid_from": r"must be after valid_from",
    "one name for a validity bound": r"give valid_(from|until) or its older name",
    "a campaign raises something": r"a campaign needs a multiplier above 1 or a bonus",
}


SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def from_schema(node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Documents valid under one JSON Schema node, for the constructs the ruleset schema uses ($ref, anyOf,
    oneOf, const, enum, objects with properties / patternProperties / propertyNames, arrays with items /
    prefixItems, bounded integers and numbers, strings with patterns, lengths and date-time format).
    (hypothesis-jsonschema would do this, but its releases do not run on current Hypothesis.)"""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(SCHEMA["$defs"][name], depth + 1))
    for key in ("anyOf", "oneOf"):
        if key in node:
            return st.one_of([from_schema(branch, depth) for branch in node[key]])
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return _object(node, depth)
    if kind == "array":
        if "prefixItems" in node:
            return st.tuples(*(from_schema(item, depth) for item in node["prefixItems"])).map(list)
        items = from_schema(node.get("items", {}), depth + 1) if "items" in node else _any()
        low = node.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=min(node.get("maxItems", low + 3), low + 3))
    if kind == "integer":
        low = node.get("minimum", node["exclusiveMinimum"] + 1 if "exclusiveMinimum" in node else None)
        high = node.get("maximum")
        return st.one_of(st.integers(low, high), st.sampled_from([v for v in (low, high) if v is not None] or [0]))
    if kind == "number":
        return st.floats(min_value=node.get("minimum", node.get("exclusiveMinimum")), max_value=node.get("maximum"),
                         exclude_min="exclusiveMinimum" in node, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        return _string(node)
    return _any()


def _any() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.text(max_size=5))


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if node.get("format") == "date-time":  # RFC 3339: an offset in whole minutes
        offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
        return st.datetimes(timezones=offsets).map(lambda moment: moment.isoformat())
    low, high = node.get("minLength", 0), node.get("maxLength", 20)
    if "pattern" in node:
        text = st.from_regex(node["pattern"], fullmatch=True)
    else:
        text = st.text(min_size=low, max_size=min(high, low + 20))
    return text.filter(lambda value: low <= len(value) <= high)


def _object(node: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", ()))
    fixed = st.fixed_dictionaries(
        {name: from_schema(sub, depth + 1) for name, sub in properties.items() if name in required},
        optional={name: from_schema(sub, depth + 1) for name, sub in properties.items()
                  if name not in required and depth < 4},
    )
    patterned = node.get("patternProperties")
    extra = node.get("additionalProperties")
    if patterned or isinstance(extra, dict):
        if patterned:
            ((pattern, value_schema),) = patterned.items()
            keys = st.from_regex(pattern, fullmatch=True)
        else:
            value_schema = extra
            keys = _string(node.get("propertyNames", {"type": "string"}))
        low = node.get("minProperties", 0)
        return st.dictionaries(keys, from_schema(value_schema, depth + 1), min_size=low, max_size=low + 3)
    return fixed


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(document=from_schema(SCHEMA))
def test_every_schema_document_loads_or_fails_for_a_listed_reason(document: dict[str, Any]) -> None:
    assume(VALIDATOR.is_valid(document))
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)  # escapes what YAML cannot carry raw
    try:
        load_spec(text)
    except RulesetError as exc:
        unexplained = [str(issue) for issue in exc.issues
                       if not any(re.search(pattern, str(issue)) for pattern in CANNOT_EXPRESS.values())]
        assert not unexplained, f"schema-valid but refused: {unexplained}\n{text[:2000]}"


@pytest.mark.parametrize(("mutation", "value"), [
    ("limit: 50.5", {"limits": [{"id": "c", "window": "day", "limit": 50.5}]}),
    ("version: true", {"version": True}),
    ("points: 2**63", {"rules": [{"id": "r", "on": "e", "points": 2**63}]}),
    ("tier_months: 0", {"tier_months": 0}),
    ("within: 99999d", {"rules": [{"id": "r", "on": "e", "points": 5, "verify": {"by": ["w"], "within": "99999d"}}]}),
    ("categories: {'': x}", {"categories": {"": "x"}}),
    ("timezone of 65 characters", {"timezone": "a" * 65}),
    ("restore: -5", {"repairs": [{"id": "p", "task": ["t"], "within": "7d", "restore": -5}]}),
])
def test_what_the_loader_refuses_the_schema_refuses(mutation: str, value: dict[str, Any]) -> None:
    """The mutations where schema and loader once disagreed (schema-accepts, loader-rejects)."""
    document = {"ruleset": "t", "version": 1, "name": "T", "rules": [{"id": "r", "on": "e", "points": 5}], **value}
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document)), mutation
    with pytest.raises(RulesetError):
        load_spec(json.dumps(document) + "\n")


def test_an_integral_float_is_an_integer_for_both() -> None:
    """JSON Schema counts 50.0 as an integer, so the loader does too (and 50.5 is refused by both)."""
    document = {"ruleset": "t", "version": 1.0, "name": "T", "rules": [{"id": "r", "on": "e", "points": 5.0}],
                "limits": [{"id": "c", "window": "day", "limit": 50.0}]}
    assert VALIDATOR.is_valid(document)
    spec = load_spec(json.dumps(document) + "\n")
    assert (spec.version, spec.rules[0].points, spec.limits[0].limit) == (1, 5, 50)
    assert type(spec.limits[0].limit) is int
