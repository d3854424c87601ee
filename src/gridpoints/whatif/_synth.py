"""A synthetic community and its event log, for trying a ruleset before it meets real residents.

A :class:`Community` is households (1–4 residents) in grids (100–300 households where the size allows it),
one grid worker per grid, an age mix (each grid its own share of residents aged 65 or more) and a persona
per resident: ``active`` volunteers, ``occasional`` participants, ``inactive`` residents and ``violator``\\s
who are deducted again and again. :meth:`Community.events` turns it into events for a given
:class:`~gridpoints.policy._compile.Policy`: event types, attribute values, table keys and per-unit quantities come
from the ruleset's own domains (declared enums and bounds, points tables, conditions), with seasonality by
month and weekday/weekend habits by age. Awards that need verification are followed by the grid worker's
``verify`` or ``reject`` (or nothing: they expire); repairable deductions by repair tasks; appealable ones,
now and then, by an appeal.

Contracts:

- deterministic: the same community, seed, policy, start and months give the same stream, byte for byte;
- streaming: events are generated one day at a time and yielded in time order; memory holds the roster,
  per-resident counters and the follow-ups still due (at most the longest verify / repair / appeal window),
  never the period, so a year costs no more memory than a month;
- valid: every event is accepted by :meth:`gridpoints.Engine.submit_many` when replayed in order with the
  roster registered, settlements in a later batch than what they settle (``gridpoints.whatif._simulate`` does
  that). Follow-ups the engine might refuse are not emitted: a repair task only for a deduction that
  certainly opened a repair (mirroring the per-year limit, the cooldown and, under a balance floor, a
  lower bound of the balance), an appeal only for a deduction certainly posted.

Events never include ignored types (they earn nothing). When the ruleset has a catalog, the stream also
carries redemption requests to the points mall — not events but *redemption lines* (``{"redeem": {"request",
"subject", "item", "at"}}``, the form :mod:`gridpoints.whatif._simulate` replays): residents redeem one of the
cheapest items now and then (:attr:`Persona.redeems` per day, by the month's factor, in opening hours). They
are drawn from a random stream of their own, so the events are the same with or without them — except
that under a balance floor their cost lowers the balance bound the follow-ups rely on (so a few repairs or
appeals are left out: they stay valid). The engine may refuse some requests (a balance too low, a limit
reached), which a replay tallies by reason. Times carry ``+08:00``.
"""

from __future__ import annotations

import bisect
import calendar
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

import attrs

from gridpoints.engine.lifecycle._repair import restore_amount
from gridpoints.policy._compile import AttributeCheck, CompiledRule, EventType, PointsInputError, Policy
from gridpoints.ruleset._conditions import COMBINATORS, EVENT_FIELDS
from gridpoints.ruleset._models import PerUnitPoints, RangePoints, RepairSpec, TablePoints, VerifySpec

#: The offset every synthetic event carries (China Standard Time).
CST = timezone(timedelta(hours=8))
#: When synthetic memberships begin unless :meth:`Community.roster` is told otherwise.
DEFAULT_SINCE = date(2020, 1, 1)

#: Activity by month, January first: the Spring Festival dip, summer heat, autumn campaigns.
SEASON = (0.95, 0.7, 1.0, 1.05, 1.1, 1.0, 0.9, 0.85, 1.05, 0.95, 1.1, 1.05)
#: Weekday / weekend activity of working-age residents and of residents aged 65 or more.
WEEKDAY = {False: (0.75, 1.6), True: (1.05, 0.9)}
#: Violations are a little more frequent at weekends.
VIOLATION_WEEKDAY = (0.9, 1.25)
#: Per-unit quantities (e.g. hours of patrol) and how often each is reported.
UNITS = ((1, 4.0), (2, 3.0), (1.5, 2.0), (3, 1.0), (0.5, 1.0), (4, 1.0))
#: Share of pending awards the grid worker verifies, rejects; the rest expire unverified.
VERIFY_SHARE, REJECT_SHARE = 0.8, 0.1
#: Share of opened repairs a resident starts, and of those the share completed in time.
REPAIR_START, REPAIR_COMPLETE = 0.6, 0.75
#: Share of appealable deductions (without a repair under way) appealed, and of those the share upheld.
APPEAL_SHARE, APPEAL_UPHELD = 0.06, 0.4
OLD_AGE = 65


def _hours(weights: Mapping[range, float]) -> tuple[list[int], list[float]]:
    hours = list(range(24))
    raw = [sum(w for span, w in weights.items() if h in span) or 0.05 for h in hours]
    return hours, list(itertools.accumulate(raw))


#: Hour-of-day profiles (cumulative weights): elders in the morning, workers in the evening, weekends by day.
_HOURS = {
    "old": _hours({range(6, 11): 4.0, range(14, 18): 2.0, range(18, 20): 1.0}),
    "weekday": _hours({range(7, 9): 1.0, range(12, 13): 0.5, range(18, 22): 4.0}),
    "weekend": _hours({range(8, 12): 3.0, range(13, 18): 3.0, range(18, 21): 1.5}),
    "violation": _hours({range(12, 14): 1.0, range(19, 24): 4.0, range(0, 2): 1.5}),
    # The points mall's counter (or the mini-program's busy hours): daytime and early evening.
    "mall": _hours({range(9, 12): 3.0, range(14, 18): 2.0, range(18, 21): 2.0}),
}


@attrs.frozen(slots=True)
class Persona:
    """How a kind of resident behaves: positive events and deductions per resident per day (before the
    month's and the weekday's factors), how much more likely a resident aged 65+ is to be one, and redemption
    requests per resident per day (before the month's factor)."""

    name: str
    activity: float
    violations: float
    elder_weight: float = 1.0
    redeems: float = 0.0


PERSONAS = (
    Persona("active", 0.8, 0.001, elder_weight=1.8, redeems=0.03),
    Persona("occasional", 0.15, 0.002, redeems=0.006),
    Persona("inactive", 0.005, 0.001, redeems=0.0005),
    Persona("violator", 0.05, 0.07, elder_weight=0.3, redeems=0.004),
)
#: Items a synthetic resident asks for: those costing at most this many times the cheapest priced item.
CHEAP_ITEM_FACTOR = 2
_PERSONA_INDEX = {p.name: i for i, p in enumerate(PERSONAS)}


@attrs.frozen(slots=True)
class Preset:
    """A seed programme's size and habits (see ``seed/grid-points-management.zh.txt``).

    ``mix`` is the share of each persona; ``elderly`` the range of grids' shares of residents aged 65+;
    ``type_weights`` how often each event type occurs relative to the others (1 if absent, 0.5 for types
    needing verification); ``value_weights`` maps ``type.attribute`` to the weight of each value.
    """

    name: str
    households: int
    grids: int
    ruleset: str
    mix: Mapping[str, float]
    elderly: tuple[float, float]
    type_weights: Mapping[str, float] = attrs.field(factory=dict)
    value_weights: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict)


PRESETS: Mapping[str, Preset] = {
    # 阳光社区: 5,000 households; participation rose from 15 % to 65 % in a year.
    "pudong": Preset(
        "pudong", 5000, 25, "pudong-sunshine",
        {"active": 0.12, "occasional": 0.45, "inactive": 0.40, "violator": 0.03}, (0.15, 0.40),
        {"garbage_sorting": 5.0, "patrol": 2.5, "hazard_report": 0.6, "mediation": 0.4, "noise_violation": 1.0},
        {"garbage_sorting.quality": {"A": 3.0, "B": 4.0, "C": 2.0, "D": 1.0}},
    ),
    # 和谐社区: 8,000 households in 20 grids (400 per grid: larger than the usual 100–300, as the seed says).
    "chaoyang": Preset(
        "chaoyang", 8000, 20, "chaoyang-harmony",
        {"active": 0.10, "occasional": 0.45, "inactive": 0.42, "violator": 0.03}, (0.12, 0.45),
        {"service_order": 3.0, "problem_report": 1.0, "satisfaction_survey": 0.2},
        {"service_order.status": {"completed": 9.0, "cancelled": 1.0}},
    ),
    # 活力社区: 12,000 households; participation rose from 20 % to 75 %.
    "tianhe": Preset(
        "tianhe", 12000, 60, "tianhe-vitality",
        {"active": 0.15, "occasional": 0.50, "inactive": 0.32, "violator": 0.03}, (0.08, 0.30),
        {"safety_publicity": 2.0, "hazard_report": 1.5},
        {"high_altitude_throwing.severity": {"minor": 3.0, "serious": 1.0}},
    ),
}

DEFAULT_MIX: Mapping[str, float] = {"active": 0.12, "occasional": 0.45, "inactive": 0.40, "violator": 0.03}


def _grid_sizes(rng: random.Random, households: int, grids: int) -> list[int]:
    """Household counts per grid summing to ``households``: ±40 % around the mean, kept within 100–300
    whenever the mean allows it."""
    mean = households / grids
    low, high = max(1, math.floor(mean * 0.6)), max(1, math.ceil(mean * 1.4))
    if 100 <= mean <= 300:
        low, high = max(low, 100), min(high, 300)
    sizes = [rng.randint(low, high) for _ in range(grids)]
    # Nudge one household at a time toward the total, never leaving [low, high].
    order = list(range(grids))
    while (gap := households - sum(sizes)) != 0:
        rng.shuffle(order)
        for g in order:
            if gap > 0 and sizes[g] < high:
                sizes[g] += 1
                gap -= 1
            elif gap < 0 and sizes[g] > low:
                sizes[g] -= 1
                gap += 1
            if gap == 0:
                break
    return sizes


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, product = math.exp(-lam), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def _pick(rng: random.Random, values: Sequence[Any], cumulative: Sequence[float]) -> Any:
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _nice(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` calendar months later, clamped to that month's length."""
    total = day.year * 12 + day.month - 1 + months
    year, month = total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- what a policy lets residents do --------------------------------------------------------------------


@attrs.frozen(slots=True)
class _Attribute:
    """How to draw one attribute: from weighted ``values``, or uniformly from ``[low, high]``."""

    name: str
    presence: float
    values: tuple[Any, ...] = ()
    cumulative: tuple[float, ...] = ()
    low: float = 0
    high: float = 0
    integer: bool = False

    def draw(self, rng: random.Random) -> Any:
        if self.values:
            cumulative = self.cumulative
            return self.values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        if self.integer:
            return rng.randint(int(self.low), int(self.high))
        return round(rng.uniform(self.low, self.high), 1)


@attrs.frozen(slots=True)
class _Kind:
    """An event type residents may generate: its rules, its attributes and its weight among its sign."""

    name: str
    deduction: bool
    weight: float
    attributes: tuple[_Attribute, ...]
    rules: tuple[CompiledRule, ...]
    #: Whether events of this kind may have follow-ups (verification, repair, appeal).
    follows: bool = False
    #: Whether any rule's condition reads the event's own fields (the event-level context is built only then).
    conditional: bool = False
    #: How each attribute is drawn, flat: (name, presence, values, cumulative, low, high, integer).
    plan: tuple[tuple[Any, ...], ...] = attrs.field(init=False)
    #: Whether every value drawn can be a dict key (numbers, text, booleans), so matches can be kept by them.
    hashable: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "plan", tuple((a.name, a.presence, a.values, a.cumulative, a.low, a.high, a.integer)
                                               for a in self.attributes))
        object.__setattr__(self, "hashable", all(_hashable(v) for a in self.attributes for v in a.values))


def _condition_literals(node: Any, found: dict[str, list[Any]]) -> None:
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        if key in COMBINATORS:
            for item in value if isinstance(value, list) else [value]:
                _condition_literals(item, found)
        elif str(key).startswith("event."):
            continue
        elif isinstance(value, Mapping):
            for op, arg in value.items():
                if op in ("eq", "ne"):
                    found.setdefault(key, []).append(arg)
                elif op in ("in", "not_in") and isinstance(arg, list):
                    found.setdefault(key, []).extend(arg)
        else:
            found.setdefault(key, []).append(value)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _reads_event(node: Any) -> bool:
    """Whether a ``when:`` condition reads one of the event's own fields (``event.subject`` …)."""
    if not isinstance(node, Mapping):
        return False
    for key, value in node.items():
        if key in COMBINATORS:
            if any(_reads_event(item) for item in (value if isinstance(value, list) else [value])):
                return True
        elif key in EVENT_FIELDS:
            return True
    return False


def _number_bounds(check: AttributeCheck | None, fallback: tuple[float, float]) -> tuple[float, float]:
    low = check.min if check is not None and check.min is not None else None
    high = check.max if check is not None and check.max is not None else None
    if low is None and high is None:
        return fallback
    if low is None:
        assert high is not None
        return high - (fallback[1] - fallback[0]), high
    if high is None:
        return low, low + (fallback[1] - fallback[0])
    return low, high


def _weighted(values: Sequence[Any], weights: Mapping[str, float] | None) -> tuple[tuple[Any, ...], tuple[float, ...]]:
    # The first declared value is the usual one; others are half as frequent unless the preset says.
    raw = [(weights or {}).get(str(v), 2.0 if i == 0 else 1.0) for i, v in enumerate(values)]
    kept = [(v, w) for v, w in zip(values, raw, strict=True) if w > 0]
    return tuple(v for v, _ in kept), tuple(itertools.accumulate(w for _, w in kept))


def _attributes(policy: Policy, etype: EventType, value_weights: Mapping[str, Mapping[str, float]],
                skip: frozenset[str] = frozenset()) -> tuple[_Attribute, ...]:
    declared = policy.spec.events.get(etype.name)
    literals: dict[str, list[Any]] = {}
    per_unit: dict[str, float | None] = {}
    ranges: dict[str, tuple[int, int]] = {}
    tables: dict[str, list[str]] = {}
    for rule in etype.rules:
        _condition_literals(rule.spec.when, literals)
        points = rule.spec.points
        if isinstance(points, PerUnitPoints):
            per_unit[points.per] = points.max_units
        elif isinstance(points, RangePoints):
            ranges[points.from_] = points.range
        elif isinstance(points, TablePoints):
            tables.setdefault(points.by, []).extend(points.table)
    names = [*etype.attributes, *(n for n in (*literals, *per_unit, *ranges, *tables) if n not in etype.attributes)]
    found: list[_Attribute] = []
    for name in dict.fromkeys(names):
        if name in skip:
            continue
        check = etype.attributes.get(name)
        required = (check is not None and check.required) or name in per_unit or name in ranges or name in tables
        presence = 1.0 if required else 0.85
        weights = value_weights.get(f"{etype.name}.{name}")
        declared_attr = declared.attributes.get(name) if declared is not None else None
        enum = list(declared_attr.enum) if declared_attr is not None and declared_attr.enum is not None else None
        if enum is None and check is not None and check.enum is not None:
            enum = sorted(check.enum, key=str)
        candidates = enum if enum is not None else list(dict.fromkeys([*tables.get(name, []), *literals.get(name, [])]))
        kind = check.type if check is not None else None
        if candidates and kind not in ("number", "integer"):
            values, cumulative = _weighted(candidates, weights)
            found.append(_Attribute(name, presence, values, cumulative))
        elif name in per_unit:
            low, high = _number_bounds(check, (0, 24))
            units = [(u, w) for u, w in UNITS if low <= u <= high] or [(_nice(low), 1.0)]
            found.append(_Attribute(name, presence, tuple(u for u, _ in units),
                                    tuple(itertools.accumulate(w for _, w in units))))
        elif name in ranges:
            low, high = _number_bounds(check, ranges[name])
            found.append(_Attribute(name, presence, low=max(low, ranges[name][0]), high=min(high, ranges[name][1]),
                                    integer=True))
        elif kind in ("number", "integer"):
            low, high = _number_bounds(check, (1, 5))
            if candidates:
                numbers = [c for c in candidates if isinstance(c, int | float) and not isinstance(c, bool)]
                low, high = min([low, *numbers]), max([high, *numbers])
            integral = float(low).is_integer() and float(high).is_integer()
            found.append(_Attribute(name, presence, low=low, high=high,
                                    integer=kind == "integer" or (kind is None and integral)))
        elif kind == "boolean":
            found.append(_Attribute(name, presence, (True, False), (1.0, 2.0)))
        else:
            found.append(_Attribute(name, presence, ("note",), (1.0,)))
    return tuple(found)


def _sign(rule: CompiledRule) -> int:
    points = rule.spec.points
    if isinstance(points, int):
        return (points > 0) - (points < 0)
    if isinstance(points, PerUnitPoints):
        return (points.each > 0) - (points.each < 0)
    if isinstance(points, TablePoints):
        values = list(points.table.values())
        return 1 if max(values) > 0 else (-1 if min(values) < 0 else 0)
    if isinstance(points, RangePoints):
        return 1 if points.range[1] > 0 else (-1 if points.range[0] < 0 else 0)
    return 0


@attrs.frozen(slots=True)
class _Menu:
    """What a policy lets residents do: positive kinds and deduction kinds, each with cumulative weights."""

    positive: tuple[_Kind, ...]
    positive_cumulative: tuple[float, ...]
    deductions: tuple[_Kind, ...]
    deduction_cumulative: tuple[float, ...]

    @classmethod
    def of(cls, policy: Policy, preset: Preset | None) -> _Menu:
        type_weights = preset.type_weights if preset is not None else {}
        value_weights = preset.value_weights if preset is not None else {}
        positive: list[_Kind] = []
        deductions: list[_Kind] = []
        for etype in policy.event_types.values():
            if etype.ignore or etype.settles or etype.repairs or not etype.rules:
                continue
            signs = [_sign(rule) for rule in etype.rules]
            deduction = max(signs) <= 0 and min(signs) < 0
            if not deduction and max(signs) <= 0:
                continue
            default = 0.5 if any(rule.spec.verify is not None for rule in etype.rules) else 1.0
            weight = type_weights.get(etype.name, default)
            if weight <= 0:
                continue
            follows = deduction or any(rule.spec.verify is not None or _sign(rule) < 0 for rule in etype.rules)
            kind = _Kind(etype.name, deduction, weight, _attributes(policy, etype, value_weights), etype.rules,
                         follows, any(_reads_event(rule.spec.when) for rule in etype.rules))
            (deductions if deduction else positive).append(kind)
        return cls(tuple(positive), tuple(itertools.accumulate(k.weight for k in positive)),
                   tuple(deductions), tuple(itertools.accumulate(k.weight for k in deductions)))


# -- the community --------------------------------------------------------------------------------------


class _Matched(NamedTuple):
    """The rules an event matches, each with its base points, and what its follow-ups need of them: the
    verification of the first rule that parks positive points, if a grid worker may give it (and the latest
    delay for it: an hour before the shortest such ``within``), and the deductions."""

    rules: tuple[tuple[CompiledRule, int], ...]
    verify: VerifySpec | None
    by_worker: bool
    latest: timedelta
    deductions: tuple[tuple[CompiledRule, int], ...]

    @classmethod
    def of(cls, rules: tuple[tuple[CompiledRule, int], ...]) -> _Matched:
        verified = [rule.spec.verify for rule, base in rules if base > 0 and rule.spec.verify is not None]
        first = verified[0] if verified else None
        return cls(rules, first, first is not None and "grid_worker" in first.by,
                   min((v.within for v in verified), default=timedelta(0)) - timedelta(hours=1),
                   tuple((rule, base) for rule, base in rules if base < 0))


#: A generated event before its id: (order, second of its day, resident index, kind, attributes, matched rules)
#: — a plain tuple: a year makes millions. ``order`` is second · 2³² + resident: the day's events sort by it
#: (stably: one resident's events in the same second stay in the order drawn).
_Raw = tuple[int, int, int, _Kind, dict[str, Any], _Matched]


#: "MM:SS" of each second of an hour, and "HH:" of each hour: a whole-second time of day's ISO text is their
#: concatenation (what ``datetime.isoformat`` writes for it), without formatting one per event.
_MINUTES_SECONDS = tuple(f"{s // 60:02d}:{s % 60:02d}" for s in range(3600))
_HOUR_TEXT = tuple(f"{h:02d}:" for h in range(24))
#: The zero-padded thousands and units of a day's event number (``f"{n:05d}"`` below 100 000, in two pieces).
_THOUSANDS = tuple(f"{n:02d}" for n in range(100))
_UNITS = tuple(f"{n:03d}" for n in range(1000))
#: Matched rules per kind and attribute values, kept until this many (a kind's values come from small sets).
_MATCH_CACHE = 1 << 16


def _clock(day: date) -> list[str]:
    """``YYYY-MM-DDTHH:`` for each hour of ``day``."""
    head = day.isoformat() + "T"
    return [head + hour for hour in _HOUR_TEXT]


_RAW_ORDER = itemgetter(0)
_UNKNOWN: Any = object()
_TEN_MINUTES, _NO_TIME = timedelta(minutes=10), timedelta(0)
_EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})


def _match(kind: _Kind, attributes: dict[str, Any], context: Mapping[str, Any] | None,
           matches: dict[Any, Any]) -> _Matched | None:
    """The kind's rules that match, each with its base points, or None when the attributes have no points (a
    points table without that row), kept in ``matches`` for the next draw of the same values.

    Rules are pure functions of the attributes (and of the event's own fields, for a ``conditional`` kind:
    those are not kept), so a kind's results are kept per attribute values, with their types (1, 1.0 and
    True are different values to a rule); the caller looks them up first (when ``kind.hashable``)."""
    key = (kind.name, tuple(attributes.items()), tuple(map(type, attributes.values()))) \
        if context is None and kind.hashable else None
    matched: _Matched | None
    try:
        matched = _Matched.of(tuple((rule, rule.points(attributes)[0]) for rule in kind.rules
                                    if rule.predicate is None or rule.predicate(attributes, context or _EMPTY_CONTEXT)))
    except PointsInputError:
        matched = None
    if key is not None:
        if len(matches) >= _MATCH_CACHE:
            matches.clear()
        matches[key] = matched
    return matched


class _State:
    """What follow-ups need to stay valid: per-resident balance lower bounds and the repair mirror."""

    def __init__(self) -> None:
        #: Lower bound of each resident's balance: minus every deduction requested, plus certain restores.
        self.floor_bound: dict[int, int] = {}
        #: Residents whose repair counters the engine may have moved without our knowing.
        self.uncertain: set[int] = set()
        self.opened: dict[tuple[int, str, int], int] = {}
        self.last_opened: dict[tuple[int, str], int] = {}
        #: (resident, points) to add to the lower bound at the end of the current day.
        self.restores: list[tuple[int, int]] = []


class Community:
    """A synthetic community: households in grids, residents with ages and personas, a worker per grid.

    ``Community(households=…, grids=…)`` builds a custom one (``grids`` defaults to one per 200 households);
    :meth:`from_preset` one of :data:`PRESETS`. Construction is deterministic in ``seed``.
    """

    def __init__(self, households: int = 1000, grids: int | None = None, *, seed: int = 1, name: str = "custom",
                 mix: Mapping[str, float] | None = None, elderly: tuple[float, float] = (0.1, 0.35),
                 preset: Preset | None = None) -> None:
        if households < 1:
            raise ValueError(f"households must be at least 1, got {households}")
        grids = grids if grids is not None else max(1, round(households / 200))
        if not 1 <= grids <= households:
            raise ValueError(f"grids must be between 1 and the number of households ({households}), got {grids}")
        mix = dict(mix if mix is not None else DEFAULT_MIX)
        unknown = set(mix) - set(_PERSONA_INDEX)
        if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
            raise ValueError(f"mix must give non-negative shares of {', '.join(_PERSONA_INDEX)}, got {mix}")
        self.name, self.seed, self.preset, self.mix, self.elderly = name, seed, preset, mix, elderly
        rng = random.Random(f"gridpoints.synth:{name}:{seed}:roster")
        sizes = _grid_sizes(rng, households, grids)
        gwidth, hwidth = len(str(grids)), len(str(max(sizes)))
        self.grid_ids = [f"g{g + 1:0{gwidth}d}" for g in range(grids)]
        self.grid_sizes = sizes
        self.workers = [f"{grid}-w" for grid in self.grid_ids]
        self.worker_ages = [rng.randint(26, 55) for _ in self.grid_ids]
        self.household_ids: list[str] = []
        self.subjects: list[str] = []
        self.resident_grid: list[int] = []
        self.resident_household: list[int] = []
        self.ages: list[int] = []
        self.personas: list[int] = []
        self.elderly_share: list[float] = []
        members = (1, 2, 3, 4)
        member_weights = tuple(itertools.accumulate((0.22, 0.38, 0.25, 0.15)))
        for g, grid in enumerate(self.grid_ids):
            share = rng.uniform(*elderly)
            self.elderly_share.append(share)
            for h in range(sizes[g]):
                household = f"{grid}-h{h + 1:0{hwidth}d}"
                hh = len(self.household_ids)
                self.household_ids.append(household)
                for m in range(_pick(rng, members, member_weights)):
                    old = rng.random() < share
                    age = rng.randint(OLD_AGE, 92) if old else rng.randint(18, OLD_AGE - 1)
                    weights = [mix.get(p.name, 0.0) * (p.elder_weight if old else 1.0) for p in PERSONAS]
                    persona = _pick(rng, range(len(PERSONAS)), tuple(itertools.accumulate(weights)))
                    self.subjects.append(f"{household}-{m + 1}")
                    self.resident_grid.append(g)
                    self.resident_household.append(hh)
                    self.ages.append(age)
                    self.personas.append(persona)
        #: Each resident's grid and household id (what every event of theirs names).
        self._grid_of = [self.grid_ids[g] for g in self.resident_grid]
        self._household_of = [self.household_ids[h] for h in self.resident_household]
        self._groups: dict[tuple[int, bool], list[int]] = {}
        for index, (persona, age) in enumerate(zip(self.personas, self.ages, strict=True)):
            self._groups.setdefault((persona, age >= OLD_AGE), []).append(index)

    @classmethod
    def from_preset(cls, name: str, seed: int = 1) -> Community:
        """The community of a seed programme: ``pudong`` (5,000 households), ``chaoyang`` (8,000 in 20
        grids) or ``tianhe`` (12,000)."""
        preset = PRESETS.get(name)
        if preset is None:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        return cls(preset.households, preset.grids, seed=seed, name=preset.name, mix=preset.mix,
                   elderly=preset.elderly, preset=preset)

    @property
    def households(self) -> int:
        return len(self.household_ids)

    @property
    def residents(self) -> int:
        return len(self.subjects)

    def roster(self, since: date = DEFAULT_SINCE) -> Iterator[dict[str, Any]]:
        """Memberships as plain dicts — ``subject``, ``grid``, ``household``, ``roles``, ``age``, ``since`` —
        grid workers first (role ``grid_worker``, no household in the community), then residents, who also
        carry their ``persona`` (the generator's ground truth, for checking analytics against). ``age`` and
        ``persona`` are host attributes (gridpoints keeps none); ``since`` is midnight of ``since`` at +08:00."""
        start = datetime.combine(since, time(), CST).isoformat()
        for worker, grid, age in zip(self.workers, self.grid_ids, self.worker_ages, strict=True):
            yield {"subject": worker, "grid": grid, "household": None, "roles": ["grid_worker"], "age": age,
                   "since": start}
        for index, subject in enumerate(self.subjects):
            yield {"subject": subject, "grid": self.grid_ids[self.resident_grid[index]],
                   "household": self.household_ids[self.resident_household[index]], "roles": ["resident"],
                   "age": self.ages[index], "persona": PERSONAS[self.personas[index]].name, "since": start}

    # -- events ---------------------------------------------------------------------------------------

    def events(self, policy: Policy, start: date, months: int, *, redemptions: bool = True
               ) -> Iterator[dict[str, Any]]:
        """Events of ``months`` calendar months from ``start`` (a date; the period ends, exclusive, on the same
        day ``months`` months later), in time order: ``id``, ``type``, ``subject``, ``grid``, ``household``,
        ``occurred_at`` (ISO 8601, +08:00), ``attributes`` and, for settlements, ``actor``. With
        ``redemptions`` and a catalog in ``policy``, redemption lines (``{"redeem": {…}}``) come among them
        in time order; without, the events alone (the same events unless the policy has a balance floor: see
        the module docstring)."""
        if months < 0:
            raise ValueError(f"months must not be negative, got {months}")
        menu = _Menu.of(policy, self.preset)
        # Entitlements (cost 0) and targeted services (grid, tag or age band) are for the few they target,
        # whom the synthetic roster does not mark; residents buy the rest.
        priced = [item for item in policy.spec.catalog if item.cost > 0 and not (
            item.eligibility and (item.eligibility.grids or item.eligibility.tags or item.eligibility.age_bands))]
        costs = [item.cost for item in priced]
        items = tuple((item.id, item.cost) for item in priced
                      if redemptions and item.cost <= CHEAP_ITEM_FACTOR * min(costs))
        end = add_months(start, months)
        state = _State()
        # Follow-ups not yet due: (microsecond since the first day's midnight, serial, line, restore).
        due: list[tuple[int, int, dict[str, Any], tuple[int, int] | None]] = []
        origin = datetime.combine(start, time(), CST)
        serial = 0
        subjects, grids, households = self.subjects, self._grid_of, self._household_of
        matches: dict[Any, Any] = {}
        day = start
        while day < end:
            rng = random.Random(f"gridpoints.synth:{self.name}:{self.seed}:{day.isoformat()}")
            # (microsecond of the day, serial, line): every time below is on this day, in CST.
            ready: list[tuple[int, int, dict[str, Any]]] = []
            raws = self._day(rng, menu, day, matches)
            stamp = day.strftime("%y%m%d")
            clock = _clock(day)
            if items:
                # Whatever the day's requests may spend lowers the balance bound before the day's deductions:
                # a follow-up must not count on points that may have gone to the mall.
                for second, index, cost, request in self._redemptions(day, stamp, clock, items):
                    state.floor_bound[index] = state.floor_bound.get(index, 0) - cost
                    serial += 1
                    ready.append((second * 1_000_000, serial, request))
            prefix = f"{self.name}-{stamp}-"
            midnight = datetime.combine(day, time(), CST)
            for n, (_, second, index, kind, attributes, matched) in enumerate(raws):
                event = {
                    "id": prefix + _THOUSANDS[n // 1000] + _UNITS[n % 1000] if n < 100_000 else f"{prefix}{n:05d}",
                    "type": kind.name, "subject": subjects[index], "grid": grids[index],
                    "household": households[index],
                    "occurred_at": clock[second // 3600] + _MINUTES_SECONDS[second % 3600] + "+08:00",
                    "attributes": attributes,
                }
                serial += 1
                ready.append((second * 1_000_000, serial, event))
                if kind.follows:
                    for at, follow_up, restore in self._follow_ups(rng, policy, state, index, matched,
                                                                   midnight + timedelta(seconds=second), event):
                        serial += 1
                        since = at - origin
                        heapq.heappush(due, ((since.days * 86400 + since.seconds) * 1_000_000 + since.microseconds,
                                             serial, follow_up, restore))
            today = (day - start).days * 86_400_000_000
            tomorrow = today + 86_400_000_000
            restores: list[tuple[int, int]] = []
            while due and due[0][0] < tomorrow:
                # Follow-ups due today were pushed today or earlier and popped the first day they are due.
                moment, order, follow_up, restore = heapq.heappop(due)
                ready.append((moment - today, order, follow_up))
                if restore is not None:
                    restores.append(restore)
            ready.sort()  # by time, then serial: unique, so the lines themselves are never compared
            for _, _, event in ready:
                yield event
            # A restore raises the lower bound only after the day it happens in: a deduction earlier that day
            # must not count on it.
            for index, points in restores:
                state.floor_bound[index] = state.floor_bound.get(index, 0) + points
            day += timedelta(days=1)

    def _day(self, rng: random.Random, menu: _Menu, day: date, matches: dict[Any, Any]) -> list[_Raw]:
        season = SEASON[day.month - 1]
        weekend = day.weekday() >= 5
        raws: list[_Raw] = []
        random_, bisect_right, append = rng.random, bisect.bisect_right, raws.append
        for (persona_index, old), members in self._groups.items():
            persona = PERSONAS[persona_index]
            size = len(members)
            streams = []
            if menu.positive:
                hours = _HOURS["old" if old else ("weekend" if weekend else "weekday")]
                streams.append((persona.activity * season * WEEKDAY[old][weekend], menu.positive,
                                menu.positive_cumulative, hours))
            if menu.deductions:
                streams.append((persona.violations * season * VIOLATION_WEEKDAY[weekend], menu.deductions,
                                menu.deduction_cumulative, _HOURS["violation"]))
            for rate, kinds, cumulative, (hour_values, hour_cumulative) in streams:
                total, hour_total = cumulative[-1], hour_cumulative[-1]
                for _ in range(_poisson(rng, rate * size)):
                    kind = kinds[bisect_right(cumulative, random_() * total)]
                    resident = members[int(random_() * size)]
                    second = (hour_values[bisect_right(hour_cumulative, random_() * hour_total)] * 3600
                              + int(random_() * 3600))
                    context = self._context(resident, day, second) if kind.conditional else None
                    # A value a points table has no row for would be an error, not a zero: draw again (a few
                    # times). Each attribute: its presence (when optional), then its value, as declared.
                    for _ in range(4):
                        attributes: dict[str, Any] = {}
                        for name, presence, values, weights, low, high, integer in kind.plan:
                            if presence >= 1 or random_() < presence:
                                if values:
                                    attributes[name] = values[bisect_right(weights, random_() * weights[-1])]
                                elif integer:
                                    attributes[name] = rng.randint(int(low), int(high))
                                else:
                                    attributes[name] = round(rng.uniform(low, high), 1)
                        matched = matches.get((kind.name, tuple(attributes.items()),
                                               tuple(map(type, attributes.values()))), _UNKNOWN) \
                            if context is None and kind.hashable else _UNKNOWN
                        if matched is _UNKNOWN:
                            matched = _match(kind, attributes, context, matches)
                        if matched is not None:
                            append((second << 32 | resident, second, resident, kind, attributes, matched))
                            break
        raws.sort(key=_RAW_ORDER)
        return raws

    def _redemptions(self, day: date, stamp: str, clock: list[str], items: tuple[tuple[str, int], ...]
                     ) -> list[tuple[int, int, int, dict[str, Any]]]:
        """The day's redemption requests (second of the day, resident, cost, line), from a random stream of
        their own."""
        rng = random.Random(f"gridpoints.synth:{self.name}:{self.seed}:{day.isoformat()}:redeem")
        season = SEASON[day.month - 1]
        hours = _HOURS["mall"]
        drawn: list[tuple[int, int, tuple[str, int]]] = []
        for (persona_index, _), members in self._groups.items():
            for _ in range(_poisson(rng, PERSONAS[persona_index].redeems * season * len(members))):
                resident = members[int(rng.random() * len(members))]
                hour = hours[0][bisect.bisect_right(hours[1], rng.random() * hours[1][-1])]
                second = hour * 3600 + int(rng.random() * 3600)
                drawn.append((second, resident, items[int(rng.random() * len(items))]))
        drawn.sort()
        return [(second, resident, cost, {"redeem": {
                    "request": f"{self.name}-{stamp}-r{n:04d}", "subject": self.subjects[resident], "item": item,
                    "at": clock[second // 3600] + _MINUTES_SECONDS[second % 3600] + "+08:00"}})
                for n, (second, resident, (item, cost)) in enumerate(drawn)]

    def _context(self, resident: int, day: date, second: int) -> dict[str, Any]:
        """The event-level fields a rule's condition may read (``event.subject`` … ``event.hour``), as the
        engine passes them for a ruleset in China Standard Time (synthetic times carry +08:00)."""
        return {"subject": self.subjects[resident], "grid": self.grid_ids[self.resident_grid[resident]],
                "household": self.household_ids[self.resident_household[resident]], "community": None,
                "actor": None, "date": day.isoformat(), "weekday": day.isoweekday(), "hour": second // 3600}

    # -- follow-ups -----------------------------------------------------------------------------------

    def _settlement(self, event: dict[str, Any], kind: str, at: datetime, index: int, target: str,
                    attributes: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{target}-{kind[0]}", "type": kind, "subject": event["subject"], "grid": event["grid"],
                "household": event["household"], "occurred_at": at.isoformat(), "attributes": attributes,
                "actor": self.workers[self.resident_grid[index]]}

    def _follow_ups(self, rng: random.Random, policy: Policy, state: _State, index: int, matched: _Matched,
                    at: datetime, event: dict[str, Any]
                    ) -> list[tuple[datetime, dict[str, Any], tuple[int, int] | None]]:
        found: list[tuple[datetime, dict[str, Any], tuple[int, int] | None]] = []
        if matched.verify is not None:
            draw = rng.random()
            if matched.by_worker and draw < VERIFY_SHARE + REJECT_SHARE:
                kind = "verify" if draw < VERIFY_SHARE else "reject"
                # rng.expovariate(1 / 8), spelled out as random.Random defines it (a Python-level call less).
                delay = min(_TEN_MINUTES + timedelta(hours=-math.log(1.0 - rng.random()) / (1 / 8)), matched.latest)
                if delay > _NO_TIME:
                    settled = at + delay
                    found.append((settled, self._settlement(event, kind, settled, index, event["id"],
                                                            {"event": event["id"]}), None))
        if matched.deductions:
            found.extend(self._deduction(rng, policy, state, index, at, event, matched.deductions))
        return found

    def _deduction(self, rng: random.Random, policy: Policy, state: _State, index: int, when: datetime,
                   event: dict[str, Any], deductions: tuple[tuple[CompiledRule, int], ...]
                   ) -> list[tuple[datetime, dict[str, Any], tuple[int, int] | None]]:
        requested = -sum(base for _, base in deductions)
        floor = policy.spec.floor
        bound = state.floor_bound.get(index, 0)
        state.floor_bound[index] = bound - requested
        # Certain to be posted in full only if even a balance at the lower bound leaves room above the floor.
        full = floor is None or bound - requested >= floor
        repairable = [rule for rule, _ in deductions if rule.spec.repair is not None]
        if repairable and (not full or len(deductions) > 1):
            state.uncertain.add(index)
        if not full or len(deductions) > 1:
            return []
        rule = deductions[0][0]
        found: list[tuple[datetime, dict[str, Any], tuple[int, int] | None]] = []
        opened = rule.spec.repair is not None and index not in state.uncertain and self._opens(
            policy, state, index, policy.repair(rule.spec.repair), when)
        if opened and rng.random() < REPAIR_START:
            assert rule.spec.repair is not None
            found.extend(self._tasks(rng, policy, policy.repair(rule.spec.repair), index, when, event, requested))
        elif rule.spec.appeal is not None and rng.random() < APPEAL_SHARE:
            appeal = rule.spec.appeal
            if appeal.by is None or "grid_worker" in appeal.by:
                delay = timedelta(hours=rng.uniform(2, max(2.0, appeal.within.total_seconds() / 3600 - 2)))
                if delay < appeal.within:
                    upheld = rng.random() < APPEAL_UPHELD
                    at = when + delay
                    found.append((at, self._settlement(event, "appeal", at, index, event["id"], {
                        "event": event["id"], "outcome": "upheld" if upheld else "dismissed"}),
                        (index, requested) if upheld else None))
        return found

    def _opens(self, policy: Policy, state: _State, index: int, spec: RepairSpec, at: datetime) -> bool:
        """Mirror of the engine's repair opening: per-year limit, then cooldown since the last opening."""
        year = at.astimezone(policy.zone).year
        count = state.opened.get((index, spec.id, year), 0)
        moment = int(at.timestamp())
        previous = state.last_opened.get((index, spec.id), 0)
        if spec.max_per_year is not None and count >= spec.max_per_year:
            return False
        if spec.cooldown is not None and previous and moment - previous < spec.cooldown.total_seconds():
            return False
        state.opened[index, spec.id, year] = count + 1
        state.last_opened[index, spec.id] = moment
        return True

    def _tasks(self, rng: random.Random, policy: Policy, spec: RepairSpec, index: int, when: datetime,
               event: dict[str, Any], deducted: int) -> list[tuple[datetime, dict[str, Any], tuple[int, int] | None]]:
        complete = rng.random() < REPAIR_COMPLETE
        quantity = spec.quantity
        if spec.per is not None:
            units: list[float] = [quantity] if rng.random() < 0.5 else [quantity / 2, quantity / 2]
            if not complete:
                units = [quantity / 2]
        else:
            needed = math.ceil(quantity)
            units = [1] * (needed if complete else needed - 1)
        etype = policy.event_types[spec.task[0]]
        extra = _attributes(policy, etype, {}, frozenset({"repair", *([spec.per] if spec.per else [])}))
        deadline = when + spec.within
        at = when + timedelta(days=rng.uniform(1, max(1.0, min(20.0, spec.within.days * 0.6))))
        found: list[tuple[datetime, dict[str, Any], tuple[int, int] | None]] = []
        for number, amount in enumerate(units, start=1):
            if at >= deadline - timedelta(hours=1):
                break
            attributes: dict[str, Any] = {a.name: a.draw(rng) for a in extra if a.presence >= 1
                                          or rng.random() < a.presence}
            attributes["repair"] = event["id"]
            if spec.per is not None:
                attributes[spec.per] = _nice(amount)
            last = complete and number == len(units)
            restore = (index, restore_amount(spec, deducted)) if last else None
            task = {"id": f"{event['id']}-t{number}", "type": etype.name, "subject": event["subject"],
                    "grid": event["grid"], "household": event["household"], "occurred_at": at.isoformat(),
                    "attributes": attributes}
            if spec.verify is not None:
                # The grid's worker attests the task (a repair with ``verify`` counts no self-reported task).
                task["actor"] = self.workers[self.resident_grid[index]]
            found.append((at, task, restore))
            at += timedelta(hours=rng.uniform(20, 72))
        return found


__all__ = ["CHEAP_ITEM_FACTOR", "CST", "PERSONAS", "PRESETS", "SEASON", "Community", "Persona", "Preset", "add_months"]
