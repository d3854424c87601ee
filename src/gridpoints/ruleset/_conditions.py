"""The ``when:`` condition language, compiled once into plain Python predicates (never ``eval``).

A condition is a mapping. Each key is either a combinator or an attribute name:

- ``all: [c, …]`` / ``any: [c, …]`` / ``not: c`` combine conditions;
- ``FIELD: VALUE`` tests equality;
- ``FIELD: {OP: ARG, …}`` applies operators, all of which must hold: ``eq``, ``ne``, ``in``, ``not_in``,
  ``gt``, ``gte``, ``lt``, ``lte``, ``exists`` (true/false).

Several keys in one mapping must all hold. Fields name event attributes; ``event.subject``, ``event.grid``,
``event.household``, ``event.community`` and ``event.actor`` name the event's own fields, and
``event.date`` (``YYYY-MM-DD``), ``event.weekday`` (1 Monday … 7 Sunday) and ``event.hour`` (0–23) its
local date and time in the ruleset's zone; ``event.date`` compares as a date, so
``event.date: {gte: 2026-06-01}`` holds from that day on (a rule reading
``event.subject`` or ``event.household`` treats residents unequally: the fairness kit's equal-treatment
property exists to catch that). A comparison
on a missing attribute is false (only ``exists: false`` and ``ne`` / ``not_in`` hold for it), and
ordering operators are false for values that are not numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import attrs

from gridpoints.ruleset._messages import render

COMBINATORS: Final = ("all", "any", "not")
OPERATORS: Final = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists")
EVENT_FIELDS: Final = ("event.subject", "event.grid", "event.household", "event.community", "event.actor",
                       "event.date", "event.weekday", "event.hour")
#: The event fields read from the event's local time (the engine supplies them as ``date``, ``weekday``, ``hour``).
TIME_FIELDS: Final = ("event.date", "event.weekday", "event.hour")

#: A compiled predicate over (attributes, event-level fields).
Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]

_MISSING: Final = object()


CondPath = tuple[str | int, ...]


class ConditionError(ValueError):
    """A condition is malformed; ``path`` is relative to the ``when`` mapping (e.g. ``("any", 1, "hours")``).
    ``code`` and ``params`` are the problem's message in the diagnostics catalogue; ``message`` its English."""

    def __init__(self, path: CondPath, code: str, suggestion: str | None = None, **params: Any) -> None:
        self.path = path
        self.code = code
        self.params = params
        self.message = render(code, "en", params)
        self.suggestion = suggestion
        super().__init__(f"{'.'.join(map(str, path))}: {self.message}" if path else self.message)


@attrs.frozen(slots=True)
class FieldDomain:
    """What a condition lets through for one field, as far as static analysis can tell (used by lint).

    ``allowed`` is None when any value may pass; ``low``/``high`` bound numbers when known.
    """

    allowed: frozenset[Any] | None = None
    excluded: frozenset[Any] = frozenset()
    low: float | None = None
    low_inclusive: bool = True
    high: float | None = None
    high_inclusive: bool = True

    def empty(self) -> bool:
        if self.allowed is not None and not (self.allowed - self.excluded):
            return True
        if self.allowed is not None and (self.low is not None or self.high is not None):
            numeric = [v for v in self.allowed - self.excluded if _is_number(v) and self._in_range(v)]
            return not numeric
        if self.low is not None and self.high is not None:
            if self.low > self.high:
                return True
            if self.low == self.high and not (self.low_inclusive and self.high_inclusive):
                return True
        return False

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None
                    and (value > self.high or (value == self.high and not self.high_inclusive)))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(field: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    if field in EVENT_FIELDS:
        key = field.split(".", 1)[1]
        # An event without a household (or actor …) has none: None reads as absent, as for attributes.
        return lambda attrs_, ev: _MISSING if ev.get(key) is None else ev[key]
    return lambda attrs_, ev: attrs_.get(field, _MISSING)


def _suggest(name: str, options: Sequence[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1)
    return close[0] if close else None


def _as_date_text(arg: Any, op: str, path: CondPath) -> Any:
    """``event.date`` arguments as ISO text (YAML reads an unquoted 2026-06-01 as a date)."""
    if isinstance(arg, list | tuple):
        return [_as_date_text(item, op, path) for item in arg]
    if isinstance(arg, datetime):
        raise ConditionError(path, "cond.date_datetime", arg=arg.isoformat())
    if isinstance(arg, date):
        return arg.isoformat()
    if isinstance(arg, str):
        try:
            return date.fromisoformat(arg).isoformat()
        except ValueError:
            pass
    if op == "exists":
        return arg
    raise ConditionError(path, "cond.date_form", arg=arg)


def _date_order(field: str, op: str, bound: str) -> Predicate:
    get = _lookup(field)
    compare: Callable[[str], bool] = {
        "gt": lambda v: v > bound, "gte": lambda v: v >= bound,
        "lt": lambda v: v < bound, "lte": lambda v: v <= bound,
    }[op]
    return lambda a, e: isinstance(value := get(a, e), str) and compare(value)


def _operator(field: str, op: str, arg: Any, path: CondPath) -> Predicate:
    if field == "event.date":
        arg = _as_date_text(arg, op, path)
        if op in ("gt", "gte", "lt", "lte"):
            return _date_order(field, op, arg)
    get = _lookup(field)
    if op == "exists":
        if not isinstance(arg, bool):
            raise ConditionError(path, "cond.exists_bool", arg=arg)
        want = arg
        return lambda a, e: (get(a, e) is not _MISSING) == want
    if op in ("in", "not_in"):
        if not isinstance(arg, list | tuple):
            raise ConditionError(path, "cond.needs_list", op=op, arg=arg)
        for item in arg:
            if isinstance(item, float) and not math.isfinite(item):
                raise ConditionError(path, "cond.list_finite", op=op, item=item)
            if not _is_scalar(item):
                raise ConditionError(path, "cond.list_scalars", op=op, item=item)
        members = frozenset(_tagged(item) for item in arg)
        if op == "in":
            return lambda a, e: _member(get(a, e), members)
        return lambda a, e: not _member(get(a, e), members)
    if op in ("eq", "ne"):
        if isinstance(arg, dict | list):
            raise ConditionError(path, "cond.needs_scalar", op=op, arg=arg)
        if isinstance(arg, float) and not math.isfinite(arg):
            raise ConditionError(path, "cond.finite", op=op, arg=arg)
        if op == "eq":
            return lambda a, e: _equal(get(a, e), arg)
        return lambda a, e: not _equal(get(a, e), arg)
    if not _is_number(arg):
        raise ConditionError(path, "cond.needs_number", op=op, arg=arg)
    if not math.isfinite(arg):
        raise ConditionError(path, "cond.finite", op=op, arg=arg)
    bound = arg
    compare: Callable[[Any], bool] = {
        "gt": lambda v: v > bound, "gte": lambda v: v >= bound,
        "lt": lambda v: v < bound, "lte": lambda v: v <= bound,
    }[op]
    return lambda a, e: _numeric(get(a, e)) and compare(get(a, e))


def _numeric(value: Any) -> bool:
    return _is_number(value)


def _equal(value: Any, expected: Any) -> bool:
    if value is _MISSING:
        return False
    # True == 1 in Python; a policy author writing `verified: true` does not mean `verified: 1`.
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    return bool(value == expected)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _tagged(value: Any) -> tuple[bool, Any]:
    # True == 1 and hash(True) == hash(1): tag booleans so that `in: [1]` does not match true.
    return (isinstance(value, bool), value)


def _member(value: Any, members: frozenset[Any]) -> bool:
    if value is _MISSING or not _is_scalar(value):
        return False
    return _tagged(value) in members


def compile_condition(spec: Any, path: CondPath = ()) -> Predicate:
    """Compile a ``when:`` mapping to a predicate; raises :class:`ConditionError` naming the bad part."""
    if not isinstance(spec, Mapping):
        raise ConditionError(path, "cond.not_mapping", spec=spec)
    if not spec:
        raise ConditionError(path, "cond.empty")
    parts: list[Predicate] = []
    for key, value in spec.items():
        here: CondPath = (*path, key)
        if not isinstance(key, str):
            raise ConditionError(here, "cond.key_not_name", key=key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(here, "cond.combinator_list", key=key, value=value)
            subs = tuple(compile_condition(v, (*here, i)) for i, v in enumerate(value))
            parts.append(_all(subs) if key == "all" else _any(subs))
        elif key == "not":
            parts.append(_not(compile_condition(value, here)))
        elif key.startswith("event.") and key not in EVENT_FIELDS:
            raise ConditionError(here, "cond.unknown_event_field", _suggest(key, EVENT_FIELDS), key=key)
        elif isinstance(value, Mapping):
            if not value:
                raise ConditionError(here, "cond.empty_operators")
            for op, arg in value.items():
                if op not in OPERATORS:
                    raise ConditionError((*here, op), "cond.unknown_operator", _suggest(str(op), OPERATORS), op=op,
                                         operators=list(OPERATORS))
                parts.append(_operator(key, op, arg, (*here, op)))
        elif isinstance(value, list):
            raise ConditionError(here, "cond.list_needs_operator", value=value)
        else:
            parts.append(_operator(key, "eq", value, here))
    return parts[0] if len(parts) == 1 else _all(tuple(parts))


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda a, e: all(p(a, e) for p in parts)


def _not(inner: Predicate) -> Predicate:
    return lambda a, e: not inner(a, e)


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda a, e: any(p(a, e) for p in parts)


def comparisons(spec: Any) -> Iterator[tuple[str, Any]]:
    """Every comparison of a condition tree as ``(field, test)``, through ``all``/``any`` lists and ``not``:
    ``test`` is the field's operator table or its bare value (an implied ``eq``). The one walk of the
    ``when:`` shape that typing, lint and the fairness kit's literal finders share."""
    if not isinstance(spec, Mapping):
        return
    for key, value in spec.items():
        if key in ("all", "any") and isinstance(value, list):
            for item in value:
                yield from comparisons(item)
        elif key == "not":
            yield from comparisons(value)
        else:
            yield key, value


def referenced_fields(spec: Any) -> dict[str, set[str]]:
    """Attribute names a condition reads, with the operators applied to each (for typing and lint)."""
    found: dict[str, set[str]] = {}
    for key, value in comparisons(spec):
        if isinstance(value, Mapping):
            found.setdefault(key, set()).update(str(op) for op in value)
        else:
            found.setdefault(key, set()).add("eq")
    return found


def field_domain(spec: Any, field: str) -> FieldDomain:
    """What values of ``field`` can satisfy ``spec``, from its top-level conjuncts (``any``/``not`` ignored)."""
    domain = FieldDomain()
    if not isinstance(spec, Mapping):
        return domain
    conjuncts: list[Mapping[str, Any]] = [spec]
    for item in spec.get("all", []) if isinstance(spec.get("all"), list) else []:
        if isinstance(item, Mapping):
            conjuncts.append(item)
    for node in conjuncts:
        if field not in node:
            continue
        value = node[field]
        ops = value if isinstance(value, Mapping) else {"eq": value}
        for op, arg in ops.items():
            domain = _narrow(domain, op, arg)
    return domain


def _narrow(domain: FieldDomain, op: str, arg: Any) -> FieldDomain:
    # Lint calls this on conditions that may not compile: anything but a scalar argument is ignored here
    # (the load check reports it).
    scalars = [a for a in arg if _is_scalar(a)] if isinstance(arg, list | tuple) else None
    if op == "eq" and _is_scalar(arg):
        allowed = frozenset([arg]) if domain.allowed is None else domain.allowed & {arg}
        return attrs.evolve(domain, allowed=allowed)
    if op == "in" and scalars is not None:
        allowed = frozenset(scalars) if domain.allowed is None else domain.allowed & frozenset(scalars)
        return attrs.evolve(domain, allowed=allowed)
    if op == "ne" and _is_scalar(arg):
        return attrs.evolve(domain, excluded=domain.excluded | {arg})
    if op == "not_in" and scalars is not None:
        return attrs.evolve(domain, excluded=domain.excluded | frozenset(scalars))
    if op in ("gt", "gte") and _is_number(arg):
        inclusive = op == "gte"
        if domain.low is None or arg > domain.low:
            return attrs.evolve(domain, low=arg, low_inclusive=inclusive)
        if arg == domain.low:
            return attrs.evolve(domain, low_inclusive=domain.low_inclusive and inclusive)
    if op in ("lt", "lte") and _is_number(arg):
        inclusive = op == "lte"
        if domain.high is None or arg < domain.high:
            return attrs.evolve(domain, high=arg, high_inclusive=inclusive)
        if arg == domain.high:
            return attrs.evolve(domain, high_inclusive=domain.high_inclusive and inclusive)
    return domain
