"""Lint: every problem as a diagnostic with a stable code and a place, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import RULESET, ruleset

import gridpoints
from gridpoints import Diagnostic

ROOT = Path(__file__).resolve().parent.parent


def codes(text: str) -> list[tuple[str, str, str]]:
    return [(d.severity, d.code, d.issue.path) for d in gridpoints.lint(text)]


def test_clean_rulesets_have_no_diagnostics(tmp_path: Path) -> None:
    """The shared test ruleset and the shipped example lint clean, from text or from a path."""
    assert gridpoints.lint(RULESET) == []
    assert gridpoints.lint(ROOT / "rulesets" / "pudong-sunshine.yaml") == []
    file = tmp_path / "r.yaml"
    file.write_text(RULESET, encoding="utf-8")
    assert gridpoints.lint(str(file)) == []


def test_diagnostic_shape() -> None:
    """A diagnostic carries severity, code and an Issue with path, line and column; str() shows them."""
    (diagnostic,) = gridpoints.lint(ruleset("  - {id: a, on: p, points: 1}\n  - {id: a, on: q, points: 1}\n"))
    assert isinstance(diagnostic, Diagnostic)
    assert (diagnostic.severity, diagnostic.code) == ("error", "duplicate-id")
    assert (diagnostic.issue.path, diagnostic.issue.line, diagnostic.issue.column) == ("rules[1].id", 6, 6)
    assert str(diagnostic) == "error[duplicate-id] rules[1].id @ <text>:6:6: duplicate id 'a' (first used at rules[0])"


def test_duplicate_limit_id() -> None:
    """Duplicate limit ids are an error diagnostic."""
    text = ruleset("  - {id: a, on: p, points: 1}\n",
                   "  - {id: c, window: day, limit: 5}\n  - {id: c, window: month, limit: 100}\n")
    assert ("error", "duplicate-id", "limits[1].id") in codes(text)


def test_cap_naming_unknown_rule_or_category() -> None:
    """Caps naming unknown rules or categories are errors with a did-you-mean."""
    text = ruleset("  - {id: patrol, on: patrol, points: 10}\n",
                   "  - {id: c1, window: day, rules: [patrl], limit: 5}\n"
                   "  - {id: c2, window: day, categories: [rewrd], limit: 5}\n")
    found = {d.code: d for d in gridpoints.lint(text) if d.severity == "error"}
    assert found["unknown-rule"].issue.path == "limits[0].rules[0]"
    assert found["unknown-rule"].issue.suggestion == "patrol"
    assert found["unknown-category"].issue.path == "limits[1].categories[0]"
    assert found["unknown-category"].issue.suggestion == "reward"


def test_rule_on_ignored_event_type_is_unreachable() -> None:
    """A rule on an event type the ruleset ignores can never fire: a warning at its `on`."""
    text = ruleset("  - {id: a, on: app_open, points: 1}\n  - {id: b, on: patrol, points: 1}\n",
                   extra="events:\n  app_open: {ignore: true}\n")
    assert codes(text) == [("warning", "unreachable-rule", "rules[0].on")]


@pytest.mark.parametrize(
    "when",
    [
        "{hours: {gt: 5, lt: 3}}",
        "{quality: {in: [A], ne: A}}",
        "{all: [{quality: A}, {quality: B}]}",
        "{quality: {in: [E, F]}}",  # the declared enum allows A-D only
    ],
)
def test_empty_condition_domain_is_unreachable(when: str) -> None:
    """A condition no value can satisfy (alone or against the declared enum) makes the rule unreachable."""
    text = ruleset(f"  - {{id: a, on: s, when: {when}, points: 1}}\n",
                   extra="events:\n  s:\n    attributes:\n      quality: {type: string, enum: [A, B, C, D]}\n"
                         "      hours: {type: number}\n")
    found = codes(text)
    assert len(found) == 1 and found[0][:2] == ("warning", "unreachable-rule")
    assert found[0][2].startswith("rules[0].when")


def test_satisfiable_conditions_are_not_flagged() -> None:
    """Reachable rules with narrow conditions are not reported."""
    text = ruleset("  - {id: a, on: s, when: {hours: {gte: 3, lte: 3}}, points: 1}\n"
                   "  - {id: b, on: s, when: {quality: {in: [A, E]}}, points: 1}\n",
                   extra="events:\n  s:\n    attributes:\n      quality: {type: string, enum: [A, B]}\n")
    assert codes(text) == []


def test_table_gap() -> None:
    """A table without a row for a value its `when` allows is a table-gap warning naming the value."""
    text = ruleset("  - {id: a, on: s, when: {q: {in: [A, B, C]}}, points: {by: q, table: {A: 3, B: 2}}}\n")
    (diagnostic,) = gridpoints.lint(text)
    assert (diagnostic.code, diagnostic.issue.path) == ("table-gap", "rules[0].points.table")
    assert "q = C" in diagnostic.issue.message


def test_table_gap_from_declared_enum() -> None:
    """The declared enum of the attribute also counts as what may arrive."""
    text = ruleset("  - {id: a, on: s, points: {by: q, table: {A: 3}}}\n",
                   extra="events:\n  s:\n    attributes:\n      q: {type: string, enum: [A, B]}\n")
    assert codes(text) == [("warning", "table-gap", "rules[0].points.table")]


def test_table_with_default_or_full_coverage_has_no_gap() -> None:
    """A default row, or a `when` excluding the missing value, closes the gap."""
    text = ruleset("  - {id: a, on: s, when: {q: {in: [A, B]}}, points: {by: q, table: {A: 3}, default: 0}}\n"
                   "  - {id: b, on: t, when: {q: {in: [A, B], ne: B}}, points: {by: q, table: {A: 3}}}\n")
    assert codes(text) == []


def test_open_table() -> None:
    """A table whose attribute nothing restricts is reported as open."""
    assert codes(ruleset("  - {id: a, on: s, points: {by: q, table: {A: 3}}}\n")) == [
        ("warning", "table-open", "rules[0].points.table")]


def test_cap_without_positive_rule_never_binds() -> None:
    """A cap that selects only deductions can never bind."""
    text = ruleset("  - {id: noise, on: noise, points: -10}\n  - {id: p, on: p, points: 5}\n",
                   "  - {id: c, window: day, rules: [noise], limit: 5}\n")
    assert codes(text) == [("warning", "cap-never-binds", "limits[0]")]


def test_cap_dominated_by_shorter_window_cap() -> None:
    """Daily 50 vs weekly 400: at most 7 × 50 = 350 per week, so the weekly cap never binds."""
    text = ruleset("  - {id: a, on: p, points: 5}\n",
                   "  - {id: daily, window: day, limit: 50}\n  - {id: weekly, window: week, limit: 400}\n")
    (diagnostic,) = gridpoints.lint(text)
    assert (diagnostic.code, diagnostic.issue.path) == ("cap-never-binds", "limits[1].limit")
    assert "350" in diagnostic.issue.message and "'daily'" in diagnostic.issue.message


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ("  - {id: daily, window: day, limit: 50}\n  - {id: weekly, window: week, limit: 349}\n", "binds below 350"),
        ("  - {id: daily, window: day, limit: 50, scope: household}\n  - {id: weekly, window: week, limit: 400}\n",
         "other scope"),
        ("  - {id: daily, window: day, limit: 50, rules: [a]}\n  - {id: weekly, window: week, limit: 400}\n",
         "daily covers fewer rules"),
    ],
)
def test_cap_that_can_bind_is_not_flagged(limits: str, reason: str) -> None:
    """A longer-window cap is only dominated when the shorter cap covers the same awards, scope and total."""
    text = ruleset("  - {id: a, on: p, points: 5}\n  - {id: b, on: q, points: 5}\n", limits)
    assert codes(text) == [], reason


def test_invalid_yaml_is_a_diagnostic() -> None:
    """Invalid YAML gives an error diagnostic with its location, not an exception."""
    (diagnostic,) = gridpoints.lint("ruleset: t\nversion: 1\nname: [\n")
    assert (diagnostic.severity, diagnostic.code) == ("error", "invalid")
    assert diagnostic.issue.line == 4


def test_schema_errors_are_diagnostics() -> None:
    """Model errors (bad points, unknown keys) come back as diagnostics."""
    found = codes(ruleset("  - {id: a, on: p, points: ten, nmae: x}\n"))
    assert ("error", "invalid", "rules[0].points") in found
    assert ("error", "invalid", "rules[0].nmae") in found


def test_missing_file_is_a_diagnostic_or_text() -> None:
    """A path that does not exist is read as YAML text and reported, not raised."""
    found = gridpoints.lint("no/such/file.yaml")
    assert found and all(d.severity == "error" for d in found)


def test_diagnostics_are_in_document_order() -> None:
    """Diagnostics come sorted by line."""
    text = ruleset("  - {id: a, on: s, points: {by: q, table: {A: 3}}}\n  - {id: a, on: p, points: 1}\n",
                   "  - {id: c, window: day, rules: [zz], limit: 5}\n")
    lines = [d.issue.line or 0 for d in gridpoints.lint(text)]
    assert len(lines) >= 3 and lines == sorted(lines)


@pytest.mark.parametrize("when", ["{x: [1, 2]}", "{x: {eq: [1]}}", "{x: {ne: {a: 1}}}", "{x: {in: [[1]]}}"])
def test_lint_never_raises_on_malformed_conditions(when: str) -> None:
    """A `when` with list or mapping values is reported as an error diagnostic, lint does not raise."""
    found = codes(ruleset(f"  - {{id: a, on: p, points: 5, when: {when}}}\n"))
    assert any(severity == "error" and code == "invalid" and path.startswith("rules[0].when.x")
               for severity, code, path in found)


def test_declared_event_type_nothing_handles() -> None:
    """An event type declared under `events` that no rule handles and that is not ignored is reported."""
    text = ruleset("  - {id: a, on: p, points: 5}\n", extra="events:\n  survey: {}\n  app_open: {ignore: true}\n")
    assert codes(text) == [("warning", "unhandled-event", "events.survey")]
