"""The `when:` condition language: every operator, missing attributes, bool vs int, event fields,
malformed conditions, and the static field domain lint relies on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gridpoints.ruleset._conditions import ConditionError, compile_condition, field_domain, referenced_fields

NO_EVENT: Mapping[str, Any] = {"grid": "g1", "household": None, "community": None, "actor": None}


def holds(condition: Mapping[str, Any], attributes: Mapping[str, Any], event: Mapping[str, Any] = NO_EVENT) -> bool:
    return compile_condition(condition)(attributes, event)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"eq": "A"}, "A", True), ({"eq": "A"}, "B", False), ({"eq": 2}, 2.0, True),
        ({"ne": "A"}, "B", True), ({"ne": "A"}, "A", False),
        ({"in": ["A", "B"]}, "B", True), ({"in": ["A", "B"]}, "C", False),
        ({"not_in": ["A", "B"]}, "C", True), ({"not_in": ["A", "B"]}, "A", False),
        ({"gt": 2}, 3, True), ({"gt": 2}, 2, False),
        ({"gte": 2}, 2, True), ({"gte": 2}, 1.99, False),
        ({"lt": 2}, 1.5, True), ({"lt": 2}, 2, False),
        ({"lte": 2}, 2, True), ({"lte": 2}, 2.01, False),
        ({"exists": True}, 0, True), ({"exists": False}, 0, False),
        ({"gte": 1, "lt": 3}, 2, True), ({"gte": 1, "lt": 3}, 3, False),
    ],
)
def test_operator(condition: dict[str, Any], value: Any, expected: bool) -> None:
    """Each operator compares the attribute as documented; several operators on one field must all hold."""
    assert holds({"x": condition}, {"x": value}) is expected


def test_bare_value_means_eq() -> None:
    """`field: value` is equality."""
    assert holds({"quality": "A"}, {"quality": "A"})
    assert not holds({"quality": "A"}, {"quality": "a"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"eq": "A"}, False), ({"in": ["A"]}, False), ({"gt": 0}, False), ({"lte": 0}, False),
        ({"exists": True}, False), ({"exists": False}, True), ({"ne": "A"}, True), ({"not_in": ["A"]}, True),
    ],
)
def test_missing_attribute(condition: dict[str, Any], expected: bool) -> None:
    """On a missing attribute only `exists: false`, `ne` and `not_in` hold."""
    assert holds({"x": condition}, {}) is expected


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("value", ["5", True, None])
def test_ordering_is_false_for_non_numbers(op: str, value: Any) -> None:
    """Ordering operators never hold for strings, booleans or null, even where Python would compare them."""
    assert not holds({"x": {op: 0}}, {"x": value})
    assert not holds({"x": {op: 10}}, {"x": value})


@pytest.mark.parametrize(("condition", "value"), [({"eq": 1}, True), ({"eq": True}, 1), ({"eq": 0}, False),
                                                  ({"eq": False}, 0)])
def test_bool_is_not_int_for_eq(condition: dict[str, Any], value: Any) -> None:
    """`eq` does not treat true as 1 or false as 0 (in Python True == 1)."""
    assert not holds({"x": condition}, {"x": value})
    assert holds({"x": {"ne": condition["eq"]}}, {"x": value})


def test_bool_equals_bool() -> None:
    """`verified: true` matches true and not false."""
    assert holds({"verified": True}, {"verified": True})
    assert not holds({"verified": True}, {"verified": False})


@pytest.mark.parametrize(("members", "value"), [([1], True), ([True], 1), ([0], False), ([False], 0)])
def test_bool_is_not_int_for_in(members: list[Any], value: Any) -> None:
    """`in` does not treat true as 1 or false as 0, the same as `eq`."""
    assert not holds({"x": {"in": members}}, {"x": value})


def test_bool_is_not_int_for_not_in() -> None:
    """`not_in: [0]` holds for false, which is not the number 0."""
    assert holds({"x": {"not_in": [0]}}, {"x": False})


def test_combinators() -> None:
    """`all` needs every part, `any` one part, `not` inverts; several keys in one mapping are a conjunction."""
    high, low = {"hours": 5, "quality": "A"}, {"hours": 1, "quality": "C"}
    both = {"all": [{"hours": {"gte": 2}}, {"quality": "A"}]}
    either = {"any": [{"hours": {"gte": 2}}, {"quality": "C"}]}
    assert holds(both, high) and not holds(both, low) and not holds(both, {"hours": 5, "quality": "C"})
    assert holds(either, high) and holds(either, low) and not holds(either, {"hours": 1, "quality": "B"})
    assert holds({"not": {"quality": "A"}}, low) and not holds({"not": {"quality": "A"}}, high)
    assert holds({"hours": {"gte": 2}, "quality": "A"}, high)
    assert not holds({"hours": {"gte": 2}, "quality": "A"}, {"hours": 5, "quality": "B"})


def test_nested_combinators() -> None:
    """Combinators nest: not(any(...)) inside all."""
    condition = {"all": [{"hours": {"gt": 0}}, {"not": {"any": [{"quality": "D"}, {"flagged": True}]}}]}
    assert holds(condition, {"hours": 1, "quality": "A"})
    assert not holds(condition, {"hours": 1, "quality": "D"})
    assert not holds(condition, {"hours": 1, "flagged": True})
    assert not holds(condition, {"hours": 0, "quality": "A"})


def test_event_fields_read_the_event_not_attributes() -> None:
    """`event.grid` etc. read the event's own fields; an attribute called `grid` does not count."""
    condition = {"event.grid": {"in": ["g1", "g2"]}, "event.actor": "w1"}
    assert holds(condition, {}, {"grid": "g2", "household": None, "community": None, "actor": "w1"})
    assert not holds(condition, {"grid": "g1"}, {"grid": "g9", "household": None, "community": None, "actor": "w1"})
    assert holds({"grid": "g1"}, {"grid": "g1"}, {"grid": "g9"})


def test_event_community_and_household() -> None:
    """`event.community` and `event.household` compare the event's fields."""
    event = {"grid": "g1", "household": "h7", "community": "c1", "actor": None}
    assert holds({"event.household": "h7", "event.community": {"ne": "c2"}}, {}, event)
    assert not holds({"event.household": "h8"}, {}, event)


def test_event_field_absent_does_not_exist() -> None:
    """An event without a household or actor fails `exists: true` and passes `exists: false`."""
    assert holds({"event.household": {"exists": False}}, {}, NO_EVENT)
    assert not holds({"event.actor": {"exists": True}}, {}, NO_EVENT)


@pytest.mark.parametrize(
    ("condition", "path", "fragment", "suggestion"),
    [
        ({"quality": {"inn": ["A"]}}, ("quality", "inn"), "unknown operator 'inn'", "in"),
        ({"hours": {"gt": "two"}}, ("hours", "gt"), "'gt' takes a number, got 'two'", None),
        ({"hours": {"gt": True}}, ("hours", "gt"), "'gt' takes a number, got True", None),
        ({"x": {"in": "A"}}, ("x", "in"), "'in' takes a list", None),
        ({"x": {"not_in": 3}}, ("x", "not_in"), "'not_in' takes a list", None),
        ({"x": {"eq": [1]}}, ("x", "eq"), "'eq' takes a scalar", None),
        ({"x": {"exists": "yes"}}, ("x", "exists"), "'exists' takes true or false", None),
        ({"x": {}}, ("x",), "an empty operator mapping", None),
        ({"x": ["A", "B"]}, ("x",), "a list needs an operator", None),
        ({"all": []}, ("all",), "non-empty list", None),
        ({"any": {"x": 1}}, ("any",), "non-empty list", None),
        ({"not": 5}, ("not",), "expected a mapping of conditions", None),
        ({"any": [{"x": 1}, {"y": {"lt": "z"}}]}, ("any", 1, "y", "lt"), "'lt' takes a number", None),
        ({"all": [{"x": 1}, 7]}, ("all", 1), "expected a mapping of conditions", None),
        ({"event.gird": "g1"}, ("event.gird",), "unknown event field", "event.grid"),
        ({1: "x"}, (1,), "condition keys are names", None),
        ({}, (), "an empty condition", None),
    ],
)
def test_malformed_conditions_raise_with_path(
    condition: Any, path: tuple[Any, ...], fragment: str, suggestion: str | None
) -> None:
    """A malformed condition raises ConditionError (a ValueError) with the path of the bad part."""
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.path == path
    assert fragment in error.message
    assert error.suggestion == suggestion


def test_unhashable_in_members_raise_condition_error() -> None:
    """`in: [[1]]` is a ConditionError at its path, not a TypeError."""
    with pytest.raises(ConditionError) as caught:
        compile_condition({"x": {"in": [[1]]}})
    assert caught.value.path == ("x", "in")


def test_not_a_mapping() -> None:
    """A condition that is not a mapping is refused."""
    with pytest.raises(ConditionError):
        compile_condition(["x"])


def test_referenced_fields() -> None:
    """referenced_fields lists each field read, through combinators, with its operators."""
    found = referenced_fields({"hours": {"gt": 1, "lte": 4}, "any": [{"quality": "A"}, {"not": {"q2": {"in": [1]}}}]})
    assert found == {"hours": {"gt", "lte"}, "quality": {"eq"}, "q2": {"in"}}


# -- field_domain: what lint may conclude statically ------------------------------------------------------


def test_domain_of_unmentioned_field_is_open() -> None:
    """A field the condition does not mention may take any value."""
    domain = field_domain({"other": 1}, "x")
    assert domain.allowed is None and not domain.empty()


def test_domain_narrows_by_in_eq_and_exclusions() -> None:
    """`in` and `eq` (also under `all`) intersect the allowed set; `ne`/`not_in` exclude values."""
    domain = field_domain({"q": {"in": ["A", "B", "C"], "ne": "C"}, "all": [{"q": {"in": ["B", "C", "D"]}}]}, "q")
    assert domain.allowed == frozenset({"B", "C"})
    assert domain.excluded == frozenset({"C"})
    assert not domain.empty()


@pytest.mark.parametrize(
    "condition",
    [
        {"q": {"in": ["A"], "ne": "A"}},
        {"q": {"in": ["A", "B"], "not_in": ["A", "B"]}},
        {"q": "A", "all": [{"q": "B"}]},
        {"h": {"gt": 5, "lt": 3}},
        {"h": {"gt": 3, "lt": 3}},
        {"h": {"gte": 3, "lt": 3}},
        {"h": {"in": [1, 2], "gt": 2}},
    ],
)
def test_domain_empty(condition: dict[str, Any]) -> None:
    """Contradictory conjuncts leave no value: the domain is empty."""
    field = next(iter(condition))
    assert field_domain(condition, field).empty()


@pytest.mark.parametrize(
    "condition",
    [
        {"h": {"gte": 3, "lte": 3}},
        {"h": {"gt": 1, "lt": 2}},
        {"h": {"in": [1, 2], "gt": 1}},
        {"q": {"ne": "A"}},
        {"any": [{"q": "A"}, {"q": "B"}]},
        {"not": {"q": "A"}},
    ],
)
def test_domain_not_empty(condition: dict[str, Any]) -> None:
    """A satisfiable condition never has an empty domain (lint must not report false unreachability)."""
    assert not field_domain(condition, "h" if "h" in condition else "q").empty()


def test_domain_keeps_the_strictest_bound() -> None:
    """`gt: 5` then `gte: 5` keeps the exclusive bound, so with `lte: 5` nothing is left."""
    assert field_domain({"h": {"gt": 5, "gte": 5, "lte": 5}}, "h").empty()
