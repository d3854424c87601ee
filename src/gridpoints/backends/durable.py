"""The stateless part of a ruleset compiled to durable_rules: an independent oracle for base points.

What it covers: for each event of a type the ruleset handles, which rules match (event type and ``when:``
conditions, ``event.*`` fields included) and each matched rule's base points (fixed, per-unit, by-table with
or without a default, range). Conditions become durable_rules expressions (``&``, ``|``, ``+m.f`` for
"present", ``-m.f`` for "absent"; ``not`` is pushed down to the leaves); a by-table rule becomes one
durable rule per row (and one for the default); per-unit and range points are computed in the action, with
this module's own arithmetic. Nothing is taken from the engine's compiled predicates or point functions, so
a disagreement points at a defect on one side.

What it does not cover: anything with state — limits, counters, pending awards, repairs, the mall, period
close — and attribute checks (events are assumed already accepted by the engine).

Why the engine does not run on it: durable_rules keeps every ruleset in one process-global registry (a
ruleset's name can be registered once per process, and there is no way to drop one), its facts and
counters live in its own per-ruleset session state rather than in a store the engine can lock, read and
replay transactionally, and an event posted as a message is consumed by the first rule it matches (so each
event is asserted as a fact and retracted after). It is an oracle, not a runtime: ``benchmarks/oracle.py``
measures it.

Use :class:`DurableOracle` directly, or ``assert_fair(ruleset, oracle="durable")`` in the fairness kit.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gridpoints.errors import MissingExtra
from gridpoints.model import Event
from gridpoints.policy import Policy
from gridpoints.ruleset._models import PerUnitPoints, RangePoints, RuleSpec, TablePoints

try:
    from durable import engine as _durable_engine
    from durable import lang as _durable
except ImportError:  # the extra is not installed: DurableOracle raises MissingExtra
    _durable = None
    _durable_engine = None

__all__ = ["DurableOracle"]

_EVENT_FIELDS = {"event.subject": "subject", "event.grid": "grid", "event.household": "household",
                 "event.community": "community", "event.actor": "actor"}
_names = itertools.count(1)
#: durable_rules' registry is process-global and not thread-safe while a ruleset is declared or used.
_LOCK = threading.Lock()


def _require() -> Any:
    if _durable is None:
        raise MissingExtra("durable", "the durable_rules oracle")
    return _durable


class DurableOracle:
    """A policy's rules compiled to a durable_rules ruleset. :meth:`base_points` gives, for one event, each
    matched rule's base points, as durable_rules decides them. Thread-safe (calls are serialised: the
    library's registry is process-global)."""

    def __init__(self, policy: Policy) -> None:
        lang = _require()
        self.policy = policy
        self.name = f"gridpoints_{policy.id}_{policy.version}_{next(_names)}".replace("-", "_").replace(".", "_")
        self._fired: dict[str, int] = {}
        with _LOCK, lang.ruleset(self.name):
            for rule in policy.rules:
                if rule.on.startswith("period."):
                    continue
                for condition, points in self._forms(lang, rule.spec):
                    self._declare(lang, rule.id, condition, points)

    def _declare(self, lang: Any, rule_id: str, condition: Any, points: Any) -> None:
        fired = self._fired

        def action(c: Any) -> None:
            fired[rule_id] = points(c.m.a)

        action.__name__ = f"{rule_id}_{len(fired)}"
        lang.when_all(condition)(action)

    def _forms(self, lang: Any, rule: RuleSpec) -> list[tuple[Any, Any]]:
        m = lang.m
        base = m.type == rule.on
        if rule.when is not None:
            base = base & _condition(m, rule.when, negate=False)
        points = rule.points
        if isinstance(points, int):
            fixed = points
            return [(base, lambda a: fixed)]
        if isinstance(points, PerUnitPoints):
            return [(base & +_field(m, points.per), _per_unit(points))]
        if isinstance(points, RangePoints):
            return [(base & +_field(m, points.from_), _range(points))]
        assert isinstance(points, TablePoints)
        forms = []
        for key, value in points.table.items():
            row = _row_condition(m, points.by, key)
            forms.append((base & row, _constant(value)))
        if points.default is not None:
            others = _all([_negated_row(m, points.by, key) for key in points.table])
            forms.append((base & others, _constant(points.default)))
        return forms

    def base_points(self, event: Event) -> dict[str, int]:
        """Rule id → base points of every rule that matches ``event`` (an event the engine accepted)."""
        lang = _require()
        fact: dict[str, Any] = {"id": f"{event.id}#{next(_names)}", "type": event.type, "subject": event.subject,
                                "grid": event.grid,
                                "a": {k: _value(v) for k, v in event.attributes.items() if v is not None}}
        for key in ("household", "community", "actor"):
            value = getattr(event, key)
            if value is not None:
                fact[key] = value
        with _LOCK:
            self._fired.clear()
            try:
                lang.assert_fact(self.name, fact)
            except _unhandled():
                return {}  # no rule matched
            lang.retract_fact(self.name, fact)
            found = dict(self._fired)
        return found


def _unhandled() -> type[Exception]:
    found: type[Exception] = _durable_engine.MessageNotHandledException
    return found


def _field(m: Any, name: str) -> Any:
    if name in _EVENT_FIELDS:
        return getattr(m, _EVENT_FIELDS[name])
    return getattr(m.a, name)


def _all(parts: list[Any]) -> Any:
    result = parts[0]
    for part in parts[1:]:
        result = result & part
    return result


def _any(parts: list[Any]) -> Any:
    result = parts[0]
    for part in parts[1:]:
        result = result | part
    return result


def _condition(m: Any, spec: Mapping[str, Any], negate: bool) -> Any:
    """A ``when:`` mapping as a durable_rules expression (``negate``: its negation, by De Morgan)."""
    parts = []
    for key, value in spec.items():
        if key in ("all", "any"):
            subs = [_condition(m, item, negate) for item in value]
            parts.append(_all(subs) if (key == "all") != negate else _any(subs))
        elif key == "not":
            parts.append(_condition(m, value, not negate))
        elif isinstance(value, Mapping):
            leaves = [_leaf(m, key, op, arg, negate) for op, arg in value.items()]
            parts.append(_any(leaves) if negate else _all(leaves))
        else:
            parts.append(_leaf(m, key, "eq", value, negate))
    return _any(parts) if negate else _all(parts)


_NEGATED = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in", "gt": "lte", "lte": "gt", "gte": "lt",
            "lt": "gte"}


def _leaf(m: Any, name: str, op: str, arg: Any, negate: bool) -> Any:
    field = _field(m, name)
    if op == "exists":
        return +field if bool(arg) != negate else -field
    if negate:
        op = _NEGATED[op]
        if op in ("gt", "gte", "lt", "lte"):
            # The negation of an ordering also holds for an absent value.
            return -field | _leaf(m, name, op, arg, False)
    arg = [_value(v) for v in arg] if isinstance(arg, list) else _value(arg)
    if op == "eq":
        return field == arg
    if op == "ne":
        return -field | (field != arg)
    if op == "in":
        return _any([field == v for v in arg])
    if op == "not_in":
        return -field | _all([field != v for v in arg])
    return {"gt": field > arg, "gte": field >= arg, "lt": field < arg, "lte": field <= arg}[op]


#: durable_rules compares true equal to 1: truth values travel as these tokens, in facts and conditions alike.
_TRUTH = {True: "\u0000true", False: "\u0000false"}


def _value(value: Any) -> Any:
    return _TRUTH[value] if isinstance(value, bool) else value


def _row_condition(m: Any, name: str, key: str) -> Any:
    field = getattr(m.a, name)
    options = [field == key]
    if key.lstrip("-").isdigit():
        options.append(field == int(key))
    return _any(options)


def _negated_row(m: Any, name: str, key: str) -> Any:
    field = getattr(m.a, name)
    parts = [field != key]
    if key.lstrip("-").isdigit():
        parts.append(field != int(key))
    return -field | _all(parts)


def _constant(value: int) -> Any:
    return lambda a: value


def _per_unit(spec: PerUnitPoints) -> Any:
    name, each, most = spec.per, spec.each, spec.max_units

    def points(a: Any) -> int:
        units = a[name]
        counted = units if most is None or units <= most else most
        return int(Decimal(str(counted)) * each)

    return points


def _range(spec: RangePoints) -> Any:
    name, (low, high) = spec.from_, spec.range

    def points(a: Any) -> int:
        return max(low, min(high, int(Decimal(str(a[name])))))

    return points
