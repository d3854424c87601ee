"""durable_rules as an independent oracle: the stateless part of each ruleset compiled to durable_rules
gives the engine's base points for every generated event."""

from __future__ import annotations

from pathlib import Path

import pytest

import gridpoints
from gridpoints.engine._coerce import coerce_event
from gridpoints.testing import FairnessViolation, assert_fair, check_durable_base_points

pytest.importorskip("durable.lang", reason="the durable extra (durable-rules) is not installed")

from gridpoints.backends.durable import DurableOracle

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "rulesets").glob("*.yaml"))

CONDITIONS = """
ruleset: conditions
version: 1
name: conditions
events:
  task:
    attributes:
      level: {type: integer, min: 0, max: 10}
      kind: {type: string}
      member: {type: boolean}
      quality: {type: string}
rules:
  - {id: high, on: task, when: {level: {gte: 5}}, points: 3}
  - {id: not-low, on: task, when: {not: {level: {lt: 3}}}, points: 2}
  - {id: any, on: task, when: {any: [{kind: a}, {kind: {in: [b, c]}}]}, points: 1}
  - {id: ne, on: task, when: {kind: {ne: a, exists: true}}, points: 4}
  - {id: absent, on: task, when: {kind: {exists: false}}, points: 5}
  - {id: member, on: task, when: {member: true}, points: 6}
  - {id: not-in, on: task, when: {kind: {not_in: [a, b]}}, points: 7}
  - {id: grid, on: task, when: {event.grid: g2}, points: 8}
  - {id: table, on: task, when: {quality: {exists: true}}, points: {by: quality, table: {A: 9, B: 1}, default: 0}}
  - {id: per, on: patrol, points: {per: hours, each: 10, max_units: 4}}
  - {id: range, on: report, points: {range: [15, 20], from: severity}}
"""


def _event(policy: gridpoints.Policy, type: str, grid: str = "g1", **attributes: object) -> gridpoints.Event:
    return coerce_event(policy, {"id": "e1", "type": type, "subject": "s1", "grid": grid,
                                 "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": attributes})


@pytest.mark.parametrize(("type", "grid", "attributes"), [
    ("task", "g1", {}),
    ("task", "g2", {"level": 5, "kind": "b"}),
    ("task", "g1", {"level": 2, "kind": "a", "member": True}),
    ("task", "g1", {"level": 1, "member": False, "quality": "A"}),
    ("task", "g1", {"level": 3, "kind": "z", "quality": "Q"}),
    ("patrol", "g1", {"hours": 2.3}),
    ("patrol", "g1", {"hours": 6}),
    ("report", "g1", {"severity": 99}),
])
def test_the_oracle_agrees_with_the_engine_case_by_case(type: str, grid: str, attributes: dict[str, object]) -> None:
    policy = gridpoints.load_ruleset(CONDITIONS)
    event = _event(policy, type, grid, **attributes)
    engine = gridpoints.Engine(policy)
    decision = engine.submit({"id": "e1", "type": type, "subject": "s1", "grid": grid,
                              "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": attributes})
    assert DurableOracle(policy).base_points(event) == {r.rule_id: r.base for r in decision.trace.rules}


def test_truth_values_are_not_numbers_to_the_oracle() -> None:
    """durable_rules compares true equal to 1; the oracle keeps them apart, as the engine does."""
    text = """
ruleset: truth
version: 1
name: truth
rules:
  - {id: yes, on: task, when: {flag: true}, points: 1}
  - {id: one, on: task, when: {flag: 1}, points: 2}
"""
    policy = gridpoints.load_ruleset(text)
    oracle = DurableOracle(policy)
    assert oracle.base_points(_event(policy, "task", flag=True)) == {"yes": 1}
    assert oracle.base_points(_event(policy, "task", flag=1)) == {"one": 2}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_base_points_equal_durable_rules_on_every_shipped_ruleset(path: Path) -> None:
    assert_fair(path, properties=[], oracle="durable", max_examples=25, seed=8)


def test_a_disagreement_is_a_violation() -> None:
    """The property compares with the oracle: an oracle for another ruleset disagrees, and it says so."""
    policy = gridpoints.load_ruleset(CONDITIONS)
    other = gridpoints.load_ruleset(CONDITIONS.replace("points: 3}", "points: 30}"))
    from gridpoints.testing import properties

    properties._ORACLES[id(policy)] = (policy, DurableOracle(other))
    try:
        with pytest.raises(FairnessViolation, match="durable_rules"):
            check_durable_base_points(policy, [{"id": "e1", "type": "task", "subject": "s1", "grid": "g1",
                                                "occurred_at": "2026-04-01T10:00:00+08:00",
                                                "attributes": {"level": 7}}])
    finally:
        properties._ORACLES.pop(id(policy), None)


def test_an_unknown_oracle_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown oracle"):
        assert_fair(CONDITIONS, properties=[], oracle="zen")  # type: ignore[arg-type]
