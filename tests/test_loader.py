"""Loading rulesets: located, specific errors; YAML pitfalls; the error types hosts catch."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import RULESET, ruleset

import gridpoints
from gridpoints import GridpointsError, Issue, RulesetError
from gridpoints.ruleset import load_spec

ROOT = Path(__file__).resolve().parent.parent


def issues_of(text: str | Path) -> tuple[Issue, ...]:
    with pytest.raises(RulesetError) as caught:
        gridpoints.load_ruleset(text)
    return caught.value.issues


def one_issue(text: str | Path, path: str) -> Issue:
    found = [issue for issue in issues_of(text) if issue.path == path]
    assert len(found) == 1, [str(i) for i in issues_of(text)]
    return found[0]


FOUR_RULES = ruleset(
    "  - {id: a, on: patrol, points: 10}\n"
    "  - {id: b, on: mediation, points: 5}\n"
    "  - {id: c, on: survey, points: 5}\n"
    "  - id: d\n"
    "    on: report\n"
    "    points: ten\n"
)


def test_shipped_ruleset_loads() -> None:
    """The example ruleset in rulesets/ loads, keeps its id, version and time zone."""
    policy = gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml")
    assert policy.ref == "pudong-sunshine@1"
    assert str(policy.zone) == "Asia/Shanghai"
    assert {"patrol", "garbage_sorting", "noise_violation", "app_open"} <= set(policy.event_types)


def test_shared_ruleset_loads_from_text_and_path(tmp_path: Path) -> None:
    """Text and a file path give the same policy; a file's name is remembered as its source."""
    file = tmp_path / "community.yaml"
    file.write_text(RULESET, encoding="utf-8")
    from_text, from_path = gridpoints.load_ruleset(RULESET), gridpoints.load_ruleset(file)
    assert from_text.spec == from_path.spec
    assert from_path.source == str(file)
    assert from_text.source is None


def test_bad_points_names_path_line_column_expected_and_got() -> None:
    """A bad points value: path rules[3].points, its line and column, what was expected and what arrived."""
    issue = one_issue(FOUR_RULES, "rules[3].points")
    assert (issue.line, issue.column) == (10, 5)
    assert issue.message == "expected an integer or a mapping with 'per', 'by' or 'range', got 'ten'"
    assert str(issue) == (
        "rules[3].points @ <text>:10:5: expected an integer or a mapping with 'per', 'by' or 'range', got 'ten'"
    )


def test_error_names_the_file(tmp_path: Path) -> None:
    """Loading from a file puts the file name in each issue and in the message."""
    file = tmp_path / "bad.yaml"
    file.write_text(FOUR_RULES, encoding="utf-8")
    with pytest.raises(RulesetError) as caught:
        gridpoints.load_ruleset(file)
    (issue,) = caught.value.issues
    assert issue.source == str(file)
    assert f"rules[3].points @ {file}:10:5" in str(caught.value)


@pytest.mark.parametrize(
    ("points", "got"),
    [("true", "True"), ("1.5", "1.5"), ("[1, 2]", "[1, 2]"), ("{each: 3}", "{'each': 3}")],
)
def test_other_bad_points_forms(points: str, got: str) -> None:
    """Booleans, floats, lists and form-less mappings are not points; the message shows what arrived."""
    issue = one_issue(ruleset(f"  - {{id: a, on: p, points: {points}}}\n"), "rules[0].points")
    assert issue.message.startswith("expected an integer or a mapping with 'per', 'by' or 'range'")
    assert issue.message.endswith(f"got {got}")


def test_fractional_each_is_rejected_at_its_path() -> None:
    """Per-unit points must be an integer per unit (integers only): rules[0].points.each."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: {per: hours, each: 1.5}}\n"), "rules[0].points.each")
    assert issue.message == "expected an integer, got 1.5"


def test_inverted_range_is_rejected() -> None:
    """A range [hi, lo] is an error naming the range."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: {range: [20, 15], from: s}}\n"), "rules[0].points.range")
    assert "[20, 15]" in issue.message


@pytest.mark.parametrize(("typo", "meant"), [("categries", "categories"), ("limt", "limit"), ("scpoe", "scope")])
def test_unknown_cap_key_is_an_error_with_did_you_mean(typo: str, meant: str) -> None:
    """An unknown key in a cap is an error at its own path, suggesting the key that was meant."""
    fields = {"categories": "[reward]", "limit": "50", "scope": "subject"}
    fields[typo] = fields.pop(meant)
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    text = ruleset("  - {id: a, on: p, points: 1}\n", f"  - {{id: cap, window: day, {body}}}\n")
    issue = one_issue(text, f"limits[0].{typo}")
    assert issue.message.startswith(f"unknown key {typo!r}")
    assert issue.suggestion == meant
    assert f"(did you mean {meant!r}?)" in str(issue)
    assert issue.line == 7


def test_unknown_top_level_and_rule_keys_are_errors() -> None:
    """Unknown keys anywhere are errors, never silently dropped: a rule's `pionts`, a top-level `limts`."""
    text = ruleset("  - {id: a, on: p, pionts: 1}\n", extra="limts: []\n")
    paths = {issue.path: issue for issue in issues_of(text)}
    assert paths["limts"].suggestion == "limits"
    assert paths["rules[0].pionts"].suggestion == "points"


def test_missing_required_key_is_named() -> None:
    """A cap without a limit says which key is missing, at the cap's path and line."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 1}\n", "  - {id: cap, window: day}\n"), "limits[0]")
    assert issue.message == "missing required key 'limit'"
    assert issue.line == 7


def test_unknown_rule_and_category_in_cap_suggest_the_near_id() -> None:
    """A cap naming an unknown rule or category is an error with the declared id that was probably meant."""
    text = ruleset(
        "  - {id: patrol, on: patrol, points: 10}\n",
        "  - {id: c1, window: day, rules: [patrl], limit: 5}\n"
        "  - {id: c2, window: day, categories: [rewrd], limit: 5}\n",
    )
    rule = one_issue(text, "limits[0].rules[0]")
    assert rule.message == "unknown rule 'patrl'" and rule.suggestion == "patrol"
    category = one_issue(text, "limits[1].categories[0]")
    assert category.message == "unknown category 'rewrd'" and category.suggestion == "reward"
    assert (rule.line, category.line) == (7, 8)


def test_unknown_rule_category_suggests_near_id() -> None:
    """A rule's category must be declared; the error lists the declared ones and suggests the nearest."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 1, category: rewad}\n"), "rules[0].category")
    assert issue.message.startswith("unknown category 'rewad'; declared: ")
    assert issue.suggestion == "reward"


def test_window_typo_suggests_the_window() -> None:
    """An unknown window lists the allowed ones and suggests the nearest."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 1}\n", "  - {id: c, window: dya, limit: 1}\n"),
                      "limits[0].window")
    assert "got 'dya'" in issue.message
    assert issue.suggestion == "day"


def test_yaml_syntax_error_has_line_and_column() -> None:
    """A YAML syntax error is a RulesetError with the line and column the parser stopped at."""
    (issue,) = issues_of("ruleset: t\nversion: 1\nname: T\nrules:\n  - {id: a, on: p\n")
    assert issue.message.startswith("not valid YAML")
    assert issue.line == 6 and issue.column is not None


def test_duplicate_yaml_key_is_an_error() -> None:
    """A key given twice in one mapping is an error (YAML would silently keep the last)."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 1, points: 2}\n"), "rules[0].points")
    assert issue.message == "duplicate key 'points'"


def test_on_key_is_not_a_boolean() -> None:
    """`on:` (and `yes`/`no`/`off` values) are read as strings, not YAML 1.1 booleans."""
    text = ruleset("  - id: a\n    on: patrol\n    name: off\n    points: 1\n")
    spec = load_spec(text)
    assert spec.rules[0].on == "patrol"
    assert spec.rules[0].name == "off"


def test_event_type_named_yes_is_a_string() -> None:
    """An event type called `yes` stays the string 'yes'."""
    policy = gridpoints.load_ruleset(ruleset("  - {id: a, on: yes, points: 1}\n"))
    assert "yes" in policy.event_types


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_bad_timezone(zone: str) -> None:
    """An unknown IANA zone is an error at `timezone`, quoting what arrived."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 1}\n", extra=f"timezone: '{zone}'\n"), "timezone")
    assert issue.message == f"unknown IANA time zone {zone!r}"
    assert issue.line == 4


def test_duplicate_rule_and_limit_ids() -> None:
    """Ids must be unique within rules and within limits; the error points at the second use."""
    text = ruleset(
        "  - {id: a, on: p, points: 1}\n  - {id: a, on: q, points: 2}\n",
        "  - {id: c, window: day, limit: 1}\n  - {id: c, window: week, limit: 9}\n",
    )
    rule = one_issue(text, "rules[1].id")
    assert rule.message == "duplicate id 'a' (first used at rules[0])" and rule.line == 6
    limit = one_issue(text, "limits[1].id")
    assert limit.message == "duplicate id 'c' (first used at limits[0])" and limit.line == 9


def test_bad_when_operator_has_its_path() -> None:
    """An unknown `when` operator is reported at rules[1].when.quality.inn with a did-you-mean."""
    text = ruleset(
        "  - {id: a, on: p, points: 1}\n"
        "  - id: b\n"
        "    on: garbage_sorting\n"
        "    when: {quality: {inn: [A, B]}}\n"
        "    points: 5\n"
    )
    issue = one_issue(text, "rules[1].when.quality.inn")
    assert issue.message.startswith("unknown operator 'inn'")
    assert issue.suggestion == "in"
    assert issue.line == 8


def test_when_errors_inside_combinators_have_index_paths() -> None:
    """A bad condition inside `any` is located by its index: rules[0].when.any[1].hours.gt."""
    text = ruleset("  - {id: a, on: p, points: 1, when: {any: [{hours: {gt: 1}}, {hours: {gt: two}}]}}\n")
    issue = one_issue(text, "rules[0].when.any[1].hours.gt")
    assert issue.message == "'gt' takes a number, got 'two'"


def test_several_problems_are_all_reported_in_document_order() -> None:
    """Every validation problem is listed, ordered by line."""
    text = ruleset(
        "  - {id: a, on: p, points: ten}\n  - {id: b, on: Bad, points: 1}\n",
        "  - {id: c, window: dya, limit: 1}\n",
    )
    found = issues_of(text)
    assert sorted({issue.path for issue in found}) == ["limits[0].window", "rules[0].points", "rules[1].on"]
    assert [issue.line for issue in found] == sorted(issue.line or 0 for issue in found)


def test_one_bad_value_is_one_issue() -> None:
    """A bad event type in `on` is reported once, saying what an event type looks like."""
    found = issues_of(ruleset("  - {id: a, on: Bad, points: 1}\n"))
    assert [issue.path for issue in found] == ["rules[0].on"]


def test_ruleset_error_types_and_attributes() -> None:
    """RulesetError is a ValueError and a GridpointsError; .issues are Issue objects with their facts."""
    with pytest.raises(ValueError) as caught:
        gridpoints.load_ruleset(FOUR_RULES)
    error = caught.value
    assert isinstance(error, RulesetError) and isinstance(error, GridpointsError)
    assert isinstance(error.issues, tuple) and all(isinstance(i, Issue) for i in error.issues)
    issue = error.issues[0]
    assert (issue.path, issue.source, issue.suggestion) == ("rules[3].points", None, None)
    assert str(error).startswith("invalid ruleset (1 problem(s)):")


@pytest.mark.parametrize(("text", "expected"), [("", "got nothing"), ("- a\n- b\n", "got list")])
def test_document_that_is_not_a_mapping(text: str, expected: str) -> None:
    """An empty document or a list is an error saying a mapping was expected."""
    (issue,) = issues_of(text)
    assert issue.message.startswith("expected a mapping with 'ruleset', 'version', 'rules'")
    assert issue.message.endswith(expected)


def test_empty_rules_list_is_an_error() -> None:
    """A ruleset with no rules is an error at `rules`."""
    issue = one_issue("ruleset: t\nversion: 1\nname: T\nrules: []\n", "rules")
    assert "at least 1" in issue.message


def test_merge_keys_are_refused() -> None:
    """YAML merge keys (<<) are an error rather than a hidden source of values."""
    text = "ruleset: t\nversion: 1\nname: T\nbase: &b {on: p, points: 1}\nrules:\n  - {<<: *b, id: a}\n"
    found = issues_of(text)
    assert any("merge keys" in issue.message for issue in found)


@pytest.mark.parametrize("when", ["{x: {in: [[1]]}}", "{x: {not_in: [{a: 1}]}}"])
def test_unhashable_members_of_in_are_a_ruleset_error(when: str) -> None:
    """`in`/`not_in` lists of lists or mappings are a located RulesetError, not a TypeError."""
    found = issues_of(ruleset(f"  - {{id: a, on: p, points: 5, when: {when}}}\n"))
    assert found[0].path.startswith("rules[0].when.x.")


def test_unreadable_file_is_a_ruleset_error(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a RulesetError naming the file."""
    file = tmp_path / "latin1.yaml"
    file.write_bytes("name: caf\xe9\n".encode("latin-1"))
    (issue,) = issues_of(file)
    assert issue.source == str(file)
    assert issue.message.startswith("cannot read ruleset")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (ruleset("  - {id: a, on: p, points: 5}\n", "  - {id: c, window: day, limit: true}\n"), "limits[0].limit"),
        (ruleset("  - {id: a, on: p, points: {per: hours, each: true}}\n"), "rules[0].points.each"),
        (ruleset("  - {id: a, on: p, points: {by: q, table: {A: true}}}\n"), "rules[0].points.table.A"),
        (ruleset("  - {id: a, on: p, points: {range: [true, 5], from: s}}\n"), "rules[0].points.range"),
        ("ruleset: t\nversion: true\nname: T\nrules:\n  - {id: a, on: p, points: 1}\n", "version"),
    ],
    ids=["limit", "each", "table", "range", "version"],
)
def test_booleans_are_not_integers(text: str, path: str) -> None:
    """`true` where an integer belongs is an error at that path, as `points: true` already is."""
    assert any(issue.path.startswith(path) for issue in issues_of(text))


def test_quoted_numbers_are_not_integers() -> None:
    """A quoted number is text, not an integer: `limit: '50'` is an error."""
    issue = one_issue(ruleset("  - {id: a, on: p, points: 5}\n", "  - {id: c, window: day, limit: '50'}\n"),
                      "limits[0].limit")
    assert issue.message.startswith("expected an integer")
