"""Hypothesis strategies for event streams that a ruleset accepts.

:func:`event_streams` draws lists of event mappings (the form hosts submit) for one compiled
:class:`~gridpoints.policy._compile.Policy`:

- a small population drawn first and then fixed for the whole stream: subjects in households in grids,
  some subjects without a household, so a subject's household and grid never change within a stream;
  fresh ids (``s1``, ``h1``, ``g1`` …) and the ids rules' ``when`` conditions name (``event.subject``,
  ``event.household``, ``event.grid``), so a bonus for one named person or grid is drawn;
- event types the ruleset handles (and, rarely, types it ignores); settlement (``verify`` / ``reject`` /
  ``appeal``) and repair-task types are left out, because they are only valid against earlier state;
- attributes inside the ruleset's domains: declared enums and bounds, numbers for per-unit and range
  points, and the values that rules' ``when`` conditions and points tables mention, with the values just
  around numeric thresholds;
- times clustered around window boundaries in the ruleset's zone (local midnight, Sunday → Monday,
  month, quarter and year ends), given as aware datetimes or ISO 8601 text with the zone's offset;
- unique event ids ``e1``, ``e2`` … in list order.

Every drawn event passes the engine's event checks and every rule it matches can compute its points, so
a failure while submitting a drawn stream is an engine defect, not a bad input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from gridpoints.engine._coerce import coerce_event
from gridpoints.errors import EventError
from gridpoints.policy._compile import AttributeCheck, EventType, PointsInputError, Policy
from gridpoints.ruleset._conditions import comparisons
from gridpoints.ruleset._models import PerUnitPoints, RangePoints, TablePoints

__all__ = ["DEFAULT_START", "Population", "attribute_literals", "event_streams", "identity_literals", "populations"]

#: Friday 2025-12-26: ten days from here cross a Sunday → Monday (ISO week 2026-W01 starts on
#: 2025-12-29), a month, a quarter and a year end.
DEFAULT_START = date(2025, 12, 26)

#: Offsets (seconds) from a boundary that probe each side of it.
_NEAR = (-3600, -60, -1, 0, 1, 59, 60, 3600)


@attrs.frozen(slots=True)
class Population:
    """Who exists in one stream: each subject's household (None for a household of one) and grid."""

    members: tuple[tuple[str, str | None, str], ...]

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(subject for subject, _, _ in self.members)


def populations(*, subjects: int = 6, households: int = 3, grids: int = 2,
                literals: Mapping[str, Sequence[str]] | None = None) -> st.SearchStrategy[Population]:
    """Populations of 1..``subjects`` subjects (``s1`` …) in up to ``households`` households (``h1`` …) in
    1..``grids`` grids (``g1`` …); a household lies in one grid and all its members with it. ``literals``
    (``{"subject": [...], "household": [...], "grid": [...]}``, e.g. :func:`identity_literals`) are ids
    that may stand in for fresh ones."""
    if subjects < 1 or grids < 1 or households < 0:
        raise ValueError("need at least one subject and one grid, and no negative household count")
    named = {kind: tuple(values) for kind, values in (literals or {}).items()}

    def namer(draw: st.DrawFn, kind: str, prefix: str, count: int) -> list[str]:
        names: list[str] = []
        for number in range(1, count + 1):
            fresh = f"{prefix}{number}"
            # The fresh id first: shrinking keeps a named id only where it matters.
            name = draw(st.sampled_from((fresh, *named.get(kind, ()))))
            names.append(fresh if name in names else name)
        return names

    @st.composite
    def build(draw: st.DrawFn) -> Population:
        grid_count = draw(st.integers(1, grids))
        grid_names = namer(draw, "grid", "g", grid_count)
        household_count = draw(st.integers(0, households))
        household_names = namer(draw, "household", "h", household_count)
        household_grid = [draw(st.integers(1, grid_count)) for _ in range(household_count)]
        subject_names = namer(draw, "subject", "s", draw(st.integers(1, subjects)))
        members: list[tuple[str, str | None, str]] = []
        for subject in subject_names:
            # 0 means no household: the subject then counts as a household of one.
            home = draw(st.integers(0, household_count))
            if home:
                members.append((subject, household_names[home - 1], grid_names[household_grid[home - 1] - 1]))
            else:
                members.append((subject, None, grid_names[draw(st.integers(1, grid_count)) - 1]))
        return Population(tuple(members))

    return build()


# -- attribute domains ------------------------------------------------------------------------------


def _mentioned(node: Any, found: dict[str, list[Any]]) -> None:
    """Collect, per attribute, the literal values a ``when`` condition compares it with."""
    for key, value in comparisons(node):
        if str(key).startswith("event."):
            continue
        if isinstance(value, Mapping):
            for op, arg in value.items():
                if op in ("in", "not_in") and isinstance(arg, list):
                    found.setdefault(key, []).extend(arg)
                elif op in ("gt", "gte", "lt", "lte") and _is_number(arg):
                    # Either side of a threshold, and the threshold itself.
                    found.setdefault(key, []).extend([arg - 1, arg - 0.5, arg, arg + 0.5, arg + 1])
                elif op in ("eq", "ne") and not isinstance(arg, Mapping | list):
                    found.setdefault(key, []).append(arg)
                elif op == "exists":
                    found.setdefault(key, [])
        elif not isinstance(value, list):
            found.setdefault(key, []).append(value)


#: The event fields a ``when`` may compare with literals, and the population kind each names.
_IDENTITY_FIELDS = {"event.subject": "subject", "event.household": "household", "event.grid": "grid"}


def identity_literals(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Subject, household and grid ids that some rule's ``when`` names (``event.subject: {in: [...]}`` …):
    streams draw them beside fresh ids, so a bonus for one named person or grid is exercised."""
    found: dict[str, list[str]] = {kind: [] for kind in _IDENTITY_FIELDS.values()}
    for rule in policy.rules:
        for key, value in comparisons(rule.spec.when or {}):
            if key not in _IDENTITY_FIELDS:
                continue
            kind = found[_IDENTITY_FIELDS[key]]
            for arg in value.values() if isinstance(value, Mapping) else [value]:
                for literal in arg if isinstance(arg, list) else [arg]:
                    if isinstance(literal, str) and literal not in kind:
                        kind.append(literal)
    return {kind: tuple(values) for kind, values in found.items()}


def attribute_literals(etype: EventType) -> dict[str, tuple[Any, ...]]:
    """Per attribute, the literal values the type's rules compare it with or look points up by."""
    return {name: domain.mentioned for name, domain in _domains(etype).items()}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@attrs.frozen(slots=True)
class _Domain:
    check: AttributeCheck
    mentioned: tuple[Any, ...]
    #: Table keys when the attribute selects a points row (values outside rarely help).
    table_keys: tuple[str, ...] | None


def _domains(etype: EventType) -> dict[str, _Domain]:
    mentioned: dict[str, list[Any]] = {}
    table_keys: dict[str, list[str]] = {}
    for rule in etype.rules:
        _mentioned(rule.spec.when or {}, mentioned)
        points = rule.spec.points
        if isinstance(points, TablePoints):
            table_keys.setdefault(points.by, []).extend(points.table)
            mentioned.setdefault(points.by, []).extend(points.table)
        elif isinstance(points, RangePoints):
            low, high = points.range
            mentioned.setdefault(points.from_, []).extend([low - 1, low, (low + high) // 2, high, high + 1])
        elif isinstance(points, PerUnitPoints):
            units = mentioned.setdefault(points.per, [])
            units.extend([0, 0.5, 1, 1.5, 2, 2.3])
            if points.max_units is not None:
                units.extend([points.max_units, points.max_units + 1])
    names = list(etype.attributes) + [name for name in mentioned if name not in etype.attributes]
    found: dict[str, _Domain] = {}
    for name in names:
        check = etype.attributes.get(name) or AttributeCheck(name)
        keys = table_keys.get(name)
        found[name] = _Domain(check, tuple(mentioned.get(name, ())), tuple(keys) if keys is not None else None)
    return found


def _within(check: AttributeCheck, value: Any) -> bool:
    if check.enum is not None:
        return value in check.enum
    kind = check.type
    if kind in ("number", "integer"):
        if not _is_number(value) or (kind == "integer" and not isinstance(value, int)):
            return False
        return (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "scalar":
        return isinstance(value, str | int) and not isinstance(value, bool)
    return value is None or isinstance(value, str | int | float | bool)


def _as_typed(check: AttributeCheck, value: Any) -> Any:
    """A table key (always text) in the attribute's declared type: ``"1"`` is the integer 1 when numeric."""
    if isinstance(value, str) and check.type in ("number", "integer"):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _values(domain: _Domain) -> st.SearchStrategy[Any]:
    check = domain.check
    mentioned = [_as_typed(check, v) for v in domain.mentioned]
    if check.enum is not None:
        return st.sampled_from(sorted(check.enum, key=lambda v: (type(v).__name__, v)))
    if check.type == "boolean":
        return st.booleans()
    if check.type in ("number", "integer"):
        numbers = [v for v in mentioned if _is_number(v)]
        low = check.min if check.min is not None else min([0.0, *numbers]) - 5
        high = check.max if check.max is not None else max([10.0, *numbers]) * 1.5 + 5
        low_int, high_int = math.ceil(low), math.floor(high)
        ends = {low_int, high_int} if low_int <= high_int else set()
        picks = sorted({v for v in numbers if low <= v <= high} | ends)
        if check.type == "integer":
            picks = [v for v in picks if isinstance(v, int) or float(v).is_integer()]
            picks = [int(v) for v in picks]
        options: list[st.SearchStrategy[Any]] = []
        if picks:
            options.append(st.sampled_from(picks))
        if low_int <= high_int:
            options.append(st.integers(low_int, high_int))
        if check.type == "number":
            options.append(st.floats(low, high, allow_nan=False, allow_infinity=False)
                           .map(lambda x: min(high, max(low, round(x, 2)))))
        return st.one_of(options)
    if domain.table_keys is not None:
        keys = [_as_typed(check, k) for k in domain.table_keys]
        extra = [v for v in mentioned if v not in keys and _within(check, v)]
        return st.sampled_from(sorted(set(keys + extra), key=lambda v: (type(v).__name__, v)))
    usable = sorted({v for v in mentioned if _within(check, v)}, key=lambda v: (type(v).__name__, str(v)))
    if check.type in ("string", "scalar"):
        other = st.text(alphabet="xyz", min_size=1, max_size=3)
        return st.one_of(st.sampled_from(usable), other) if usable else other
    return st.sampled_from(usable) if usable else st.one_of(st.booleans(), st.integers(-5, 5))


def _attributes(etype: EventType) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, domain in _domains(etype).items():
        (required if domain.check.required else optional)[name] = _values(domain)
    return st.fixed_dictionaries(required, optional=optional)


# -- times --------------------------------------------------------------------------------------------


def _boundaries(policy: Policy, start: date, days: int) -> tuple[list[datetime], list[datetime]]:
    """Local midnights in the window, and the ones that also start a week, month, quarter or year."""
    midnights = [datetime.combine(start + timedelta(days=n), datetime.min.time(), tzinfo=policy.zone)
                 for n in range(days + 1)]
    special = [m for m in midnights if m.weekday() == 0 or m.day == 1]
    # Where a rule, limit, item or campaign starts or stops being in force, if it falls in the days drawn.
    first, last = midnights[0], midnights[-1]
    special += sorted({moment for moment in _validity_edges(policy) if first <= moment <= last})
    return midnights, special or midnights


def _validity_edges(policy: Policy) -> set[datetime]:
    spec = policy.spec
    dated: list[Any] = [*spec.rules, *spec.limits, *spec.catalog, *spec.campaigns]
    return {moment.astimezone(policy.zone) for part in dated for moment in (part.valid_from, part.valid_until)
            if moment is not None}


def _times(policy: Policy, start: date, days: int) -> st.SearchStrategy[datetime]:
    midnights, special = _boundaries(policy, start, days)
    first, span = midnights[0], days * 86400

    def shifted(pair: tuple[datetime, int]) -> datetime:
        base, seconds = pair
        # Through UTC: adding to a zone-aware time is wall-clock arithmetic, which a DST gap would skew.
        return (base.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(policy.zone)

    near = st.tuples(st.sampled_from(special), st.sampled_from(_NEAR))
    around = st.tuples(st.sampled_from(midnights), st.integers(-12 * 3600, 12 * 3600))
    anywhere = st.tuples(st.just(first), st.integers(0, max(span - 1, 0)))
    return st.one_of(near, around, anywhere).map(shifted)


def _moment_form(policy: Policy, moment: datetime, form: int) -> datetime | str:
    local = moment.astimezone(policy.zone)
    if form == 0:
        return local
    if form == 1:
        return moment.astimezone(UTC)
    return local.isoformat()


# -- streams ------------------------------------------------------------------------------------------


def _accepted(policy: Policy, event: Mapping[str, Any]) -> bool:
    """Whether the engine takes the event: it passes the checks and every matched rule can compute points."""
    try:
        checked = coerce_event(policy, event)
    except EventError:
        return False
    etype = policy.event_types[checked.type]
    if etype.ignore:
        return True
    context = policy.condition_fields(checked.subject, checked.grid, checked.household, checked.community,
                                      checked.actor, checked.occurred_at)
    for rule in etype.rules:
        if rule.predicate is not None and not rule.predicate(checked.attributes, context):
            continue
        try:
            rule.points(checked.attributes)
        except PointsInputError:
            return False
    return True


def _types(policy: Policy) -> tuple[list[EventType], list[EventType]]:
    handled = [t for t in policy.event_types.values() if t.rules and not t.settles and not t.repairs]
    ignored = [t for t in policy.event_types.values() if t.ignore]
    return sorted(handled, key=lambda t: t.name), sorted(ignored, key=lambda t: t.name)


def event_streams(
    policy: Policy, *, subjects: int = 6, households: int = 3, grids: int = 2, start: date | None = None,
    days: int = 10, min_size: int = 0, max_size: int = 40, ignored: bool = True,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of event mappings ``{id, type, subject, grid, household?, occurred_at, attributes}`` that
    ``policy`` accepts, between ``min_size`` and ``max_size`` long.

    ``subjects``, ``households`` and ``grids`` bound the population (drawn once per stream and fixed);
    times fall in the ``days`` local days from ``start`` (default :data:`DEFAULT_START`), clustered at
    window boundaries. ``ignored`` lets a few events of ignored types through. Raises ``ValueError`` when
    the ruleset handles no event type a stream could carry.
    """
    handled, ignored_types = _types(policy)
    if not handled:
        raise ValueError(f"{policy.ref} handles no event type that a stream can carry "
                         "(only settlement, repair-task or scheduled rules)")
    if days < 1 or max_size < min_size:
        raise ValueError("need days >= 1 and max_size >= min_size")
    if not ignored:
        ignored_types = []
    attributes = {t.name: _attributes(t) for t in (*handled, *ignored_types)}
    times = _times(policy, start or DEFAULT_START, days)
    named = identity_literals(policy)

    # The strategies are built once per call, not per drawn stream: decorating a composite inspects its
    # source, which would otherwise dominate the cost of drawing a stream.
    people = populations(subjects=subjects, households=households, grids=grids, literals=named)
    tenths, forms = st.integers(0, 9), st.integers(0, 2)
    pick_handled, pick_ignored = st.integers(0, len(handled) - 1), st.integers(0, max(len(ignored_types) - 1, 0))

    @st.composite
    def build(draw: st.DrawFn, population: Population) -> dict[str, Any]:
        # One in ten events is of an ignored type, when the ruleset has any.
        if ignored_types and draw(tenths) == 0:
            etype = ignored_types[draw(pick_ignored)]
        else:
            etype = handled[draw(pick_handled)]
        subject, household, grid = population.members[draw(st.integers(0, len(population.members) - 1))]
        raw: dict[str, Any] = {"id": "e0", "type": etype.name, "subject": subject, "grid": grid}
        if household is not None:
            raw["household"] = household
        raw["occurred_at"] = _moment_form(policy, draw(times), draw(forms))
        raw["attributes"] = draw(attributes[etype.name])
        return raw

    def accepted(raw: dict[str, Any]) -> bool:
        return _accepted(policy, raw)

    @st.composite
    def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
        population = draw(people)
        one = build(population).filter(accepted)
        # Short streams shrink well, but limits bind only under load: half the streams are long.
        drawn = draw(st.one_of(st.lists(one, min_size=min_size, max_size=max_size),
                               st.lists(one, min_size=max(min_size, max_size // 2), max_size=max_size)))
        return [{**raw, "id": f"e{number}"} for number, raw in enumerate(drawn, start=1)]

    return streams()

