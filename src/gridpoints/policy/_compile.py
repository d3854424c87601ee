"""RulesetSpec → Policy: a frozen plan with rules indexed by event type and caps attached to the rules they bind.

Everything the engine needs per event is precomputed here — predicates, point functions, attribute checks,
which caps apply to which rule — so the hot path only looks things up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from gridpoints.ruleset._conditions import Predicate, compile_condition, referenced_fields
from gridpoints.ruleset._models import (
    BudgetSpec,
    CampaignSpec,
    CapSpec,
    DiminishingSpec,
    ItemSpec,
    LimitSpec,
    PerUnitPoints,
    RangePoints,
    RepairSpec,
    RulesetSpec,
    RuleSpec,
    TablePoints,
    worker_credit_id,
)

#: (base points, message code, arguments for the message)
PointsResult = tuple[int, str, Mapping[str, Any]]


class PointsInputError(ValueError):
    """An attribute a points form needs is missing or unusable; the engine turns it into an EventError."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@attrs.frozen(slots=True)
class AttributeCheck:
    """What an event attribute must look like; ``type`` None accepts any scalar."""

    name: str
    type: str | None = None
    enum: frozenset[Any] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False


@attrs.frozen(slots=True)
class CompiledLimit:
    """One limit, any kind. ``scope`` is whose counter it reads: for a share, the member (``pool`` is the pool)."""

    id: str
    kind: str
    scope: str
    window: str
    rules: frozenset[str] | None
    categories: frozenset[str] | None
    limit: int = 0
    mode: str = "truncate"
    factors: tuple[Decimal, ...] = ()
    pool: str | None = None
    max_share: Fraction | None = None
    min_total: int = 0
    #: In force from (inclusive) / until (exclusive); an award of an event outside is not limited by it.
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def in_force(self, moment: datetime) -> bool:
        return _within(moment, self.valid_from, self.valid_until)

    #: The counters' identity: the limit's id, or the earlier limit it ``continues``.
    counter: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.counter:
            object.__setattr__(self, "counter", self.id)

    def selects(self, rule_id: str, category: str) -> bool:
        if self.rules is not None and rule_id not in self.rules:
            return False
        return self.categories is None or category in self.categories


@attrs.frozen(slots=True)
class CompiledRule:
    id: str
    name: str
    on: str
    category: str
    predicate: Predicate | None
    points: Callable[[Mapping[str, Any]], PointsResult]
    #: Diminishing limits (applied first), then every other limit, each in the order the ruleset lists them.
    limits: tuple[CompiledLimit, ...]
    spec: RuleSpec
    #: In force from (inclusive) / until (exclusive); outside, the rule does not match.
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    #: Whether any limit of the rule has a validity window (then the kernel checks each limit per event).
    dated_limits: bool = False
    #: The limits that bind the rule's grid-worker credit (those selecting its category, or all awards).
    credit_limits: tuple[CompiledLimit, ...] = ()

    @property
    def credit_id(self) -> str:
        """The rule id a grid worker's credit for this rule is posted under."""
        return worker_credit_id(self.id)

    def in_force(self, moment: datetime) -> bool:
        return _within(moment, self.valid_from, self.valid_until)


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


@attrs.frozen(slots=True)
class CompiledCampaign:
    """A campaign over a window: positive base points of the rules it selects × ``multiplier`` + ``bonus``."""

    id: str
    name: str
    valid_from: datetime
    valid_until: datetime
    predicate: Predicate | None
    multiplier: Decimal
    bonus: int
    spec: CampaignSpec

    def in_force(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_until

    def raised(self, base: int) -> int:
        """The points of a positive base under this campaign (rounded toward zero)."""
        return int(self.multiplier * base) + self.bonus

    def selects(self, rule_id: str, category: str) -> bool:
        spec = self.spec
        if spec.rules is not None and rule_id not in spec.rules:
            return False
        return spec.categories is None or category in spec.categories


#: Event types the engine handles itself: they settle an earlier event named by their ``event`` attribute.
SETTLEMENT_TYPES = ("verify", "reject", "appeal")


@attrs.frozen(slots=True)
class EventType:
    name: str
    ignore: bool
    attributes: Mapping[str, AttributeCheck]
    rules: tuple[CompiledRule, ...]
    settles: bool = False
    #: Repairs this event type is a task for (its events must name the deduction they repair).
    repairs: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class Policy:
    """A compiled ruleset. Immutable; share it freely between engines and threads."""

    spec: RulesetSpec
    source: str | None
    zone: ZoneInfo
    event_types: Mapping[str, EventType]
    rules: tuple[CompiledRule, ...]
    limits: tuple[CompiledLimit, ...]
    rules_by_id: Mapping[str, CompiledRule]
    #: Rules awarded at each period close, by window kind ("month" for ``on: period.month``).
    scheduled: Mapping[str, tuple[CompiledRule, ...]]
    campaigns: tuple[CompiledCampaign, ...] = ()
    #: Rule id → the campaigns that select it, in the order listed.
    campaigns_by_rule: Mapping[str, tuple[CompiledCampaign, ...]] = attrs.field(factory=dict)
    #: Streak id → its compiled ``when:``, for the streaks that have one.
    streak_predicates: Mapping[str, Predicate] = attrs.field(factory=dict)
    #: Rule ids (rules, workers' credits, challenges) whose points do not count for rankings.
    unranked: frozenset[str] = frozenset()

    def repair(self, repair_id: str) -> RepairSpec:
        return next(r for r in self.spec.repairs if r.id == repair_id)

    def item(self, item_id: str) -> ItemSpec | None:
        return next((i for i in self.spec.catalog if i.id == item_id), None)

    @property
    def id(self) -> str:
        return self.spec.ruleset

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def ref(self) -> str:
        """``ruleset@version``, stamped on every ledger entry."""
        return f"{self.spec.ruleset}@{self.spec.version}"

    @property
    def windows(self) -> tuple[str, ...]:
        return tuple(sorted({limit.window for limit in self.limits}))

    def category_name(self, category: str) -> str:
        return self.spec.category_name(category)

    def attribute_labels(self, event_type: str) -> Mapping[str, str]:
        """Attribute name → label, from the ``description`` of each attribute the ruleset declares for
        ``event_type``: the names Chinese explanations show instead of the attribute's id."""
        declared = self.spec.events.get(event_type)
        if declared is None:
            return {}
        return {name: attr.description for name, attr in declared.attributes.items() if attr.description}

    def counts_for_ranking(self, rule_id: str) -> bool:
        """Whether earned points posted under ``rule_id`` (a rule, a worker's credit, a challenge's bonus) count
        for leaderboards and challenges (see ``counts_for_ranking`` on categories and rules)."""
        return rule_id not in self.unranked

    def condition_fields(self, subject: str, grid: str, household: str | None, community: str | None,
                         actor: str | None, occurred_at: datetime) -> dict[str, Any]:
        """The event-level fields a ``when:`` condition reads (``event.subject`` … ``event.hour``)."""
        local = occurred_at.astimezone(self.zone)
        return {"subject": subject, "grid": grid, "household": household, "community": community, "actor": actor,
                "date": local.date().isoformat(), "weekday": local.isoweekday(), "hour": local.hour}

    def best_campaign(self, rule: CompiledRule, base: int, attributes: Mapping[str, Any],
                      fields: Mapping[str, Any], moment: datetime) -> CompiledCampaign | None:
        """The campaign that raises a positive award the most at ``moment`` (the first listed on a tie)."""
        best: CompiledCampaign | None = None
        most = base
        for campaign in self.campaigns_by_rule.get(rule.id, ()):
            if not campaign.in_force(moment):
                continue
            if campaign.predicate is not None and not campaign.predicate(attributes, fields):
                continue
            raised = campaign.raised(base)
            if raised > most:
                best, most = campaign, raised
        return best


def _points_function(points: Any) -> Callable[[Mapping[str, Any]], PointsResult]:
    if isinstance(points, int):
        # One read-only result shared by every event: the trace keeps it as is, with nothing to copy.
        result: PointsResult = (points, "base.fixed", MappingProxyType({"points": points}))
        return lambda attributes: result
    if isinstance(points, PerUnitPoints):
        return _per_unit(points)
    if isinstance(points, TablePoints):
        return _table(points)
    if isinstance(points, RangePoints):
        return _range(points)
    raise TypeError(f"unknown points form {points!r}")


def _per_unit(spec: PerUnitPoints) -> Callable[[Mapping[str, Any]], PointsResult]:
    field, each, max_units = spec.per, spec.each, spec.max_units

    def evaluate(attributes: Mapping[str, Any]) -> PointsResult:
        units = attributes.get(field)
        if units is None:
            raise PointsInputError(field, f"required by the rule's points ({each} per {field})")
        counted = units if max_units is None else min(units, max_units)
        # Decimal of the text form keeps 2.3 hours × 10 at 23, not 22.999… truncated to 22.
        exact = Decimal(str(counted)) * each
        points = int(exact)
        return points, "base.per", {
            "units": units, "counted": counted, "each": each, "field": field, "max_units": max_units,
            "capped": counted != units, "rounded": Decimal(points) != exact,
        }

    return evaluate


def _table(spec: TablePoints) -> Callable[[Mapping[str, Any]], PointsResult]:
    field, table, default = spec.by, dict(spec.table), spec.default

    def evaluate(attributes: Mapping[str, Any]) -> PointsResult:
        value = attributes.get(field)
        key = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if key is not None and key in table:
            return table[key], "base.table", {"field": field, "value": value}
        if default is not None:
            return default, "base.table_default", {"field": field, "value": value}
        if value is None:
            raise PointsInputError(field, "required by the rule's points table")
        raise PointsInputError(field, f"{value!r} has no row in the points table (rows: {', '.join(table)})")

    return evaluate


def _range(spec: RangePoints) -> Callable[[Mapping[str, Any]], PointsResult]:
    field, (low, high) = spec.from_, spec.range

    def evaluate(attributes: Mapping[str, Any]) -> PointsResult:
        value = attributes.get(field)
        if value is None:
            raise PointsInputError(field, f"required by the rule's points (range {low}..{high})")
        whole = int(Decimal(str(value)))
        points = max(low, min(high, whole))
        return points, "base.range", {"field": field, "value": value, "low": low, "high": high,
                                      "clamped": points != whole}

    return evaluate


def _compile_limit(spec: LimitSpec) -> CompiledLimit:
    common: dict[str, Any] = {
        "id": spec.id, "kind": spec.kind, "window": spec.window,
        "rules": frozenset(spec.rules) if spec.rules is not None else None,
        "categories": frozenset(spec.categories) if spec.categories is not None else None,
        "counter": spec.continues or spec.id,
    }
    common["valid_from"], common["valid_until"] = spec.valid_from, spec.valid_until
    if isinstance(spec, CapSpec):
        return CompiledLimit(scope=spec.scope, limit=spec.limit, mode=spec.mode, **common)
    if isinstance(spec, BudgetSpec):
        return CompiledLimit(scope=spec.scope, limit=spec.limit, mode=spec.on_exhausted, **common)
    if isinstance(spec, DiminishingSpec):
        # The text form keeps 0.1 exactly one tenth.
        return CompiledLimit(scope=spec.scope, factors=tuple(Decimal(str(f)) for f in spec.factors), **common)
    return CompiledLimit(scope=spec.member, pool=spec.scope, max_share=Fraction(str(spec.max_share)),
                         min_total=spec.min_total, **common)


def _inferred_attributes(rules: list[RuleSpec]) -> dict[str, AttributeCheck]:
    """Attribute expectations implied by how rules read them (used where the ruleset declares none)."""
    found: dict[str, AttributeCheck] = {}
    for rule in rules:
        points = rule.points
        if isinstance(points, PerUnitPoints):
            found[points.per] = AttributeCheck(points.per, "number", min=0)
        elif isinstance(points, RangePoints):
            found.setdefault(points.from_, AttributeCheck(points.from_, "number"))
        elif isinstance(points, TablePoints):
            found.setdefault(points.by, AttributeCheck(points.by, "scalar"))
        for field, ops in referenced_fields(rule.when or {}).items():
            if field.startswith("event."):
                continue
            if ops & {"gt", "gte", "lt", "lte"}:
                prior = found.get(field)
                found[field] = AttributeCheck(field, "number", min=prior.min if prior else None)
    return found


def _declared_attributes(spec: RulesetSpec, event_type: str) -> dict[str, AttributeCheck]:
    declared = spec.events.get(event_type)
    if declared is None:
        return {}
    return {
        name: AttributeCheck(
            name, attr.type, frozenset(attr.enum) if attr.enum is not None else None,
            attr.min, attr.max, attr.required,
        )
        for name, attr in declared.attributes.items()
    }


def compile_policy(spec: RulesetSpec, source: str | None = None) -> Policy:
    """Compile a validated spec (see :func:`gridpoints.ruleset.check`) into a :class:`Policy`."""
    limits = tuple(_compile_limit(limit) for limit in spec.limits)
    # Modifiers before limits (DESIGN's data flow); a stable sort keeps the listed order within each group.
    ordered = sorted(limits, key=lambda lim: lim.kind != "diminishing")
    compiled: list[CompiledRule] = []
    for rule in spec.rules:
        category = spec.rule_category(rule)
        selected = tuple(lim for lim in ordered if lim.selects(rule.id, category))
        credit = rule.credit_worker
        compiled.append(CompiledRule(
            id=rule.id, name=rule.name or rule.id, on=rule.on, category=category,
            predicate=compile_condition(rule.when) if rule.when is not None else None,
            points=_points_function(rule.points),
            limits=selected,
            spec=rule, valid_from=rule.valid_from, valid_until=rule.valid_until,
            dated_limits=any(lim.valid_from is not None or lim.valid_until is not None for lim in selected),
            credit_limits=() if credit is None else tuple(
                lim for lim in ordered if lim.selects(worker_credit_id(rule.id), credit.category)),
        ))
    campaigns = tuple(CompiledCampaign(
        id=c.id, name=c.name or c.id, valid_from=c.valid_from, valid_until=c.valid_until,
        predicate=compile_condition(c.when) if c.when is not None else None,
        multiplier=Decimal(str(c.multiplier)), bonus=c.bonus, spec=c) for c in spec.campaigns)
    campaigns_by_rule = {rule.id: found for rule in compiled
                         if (found := tuple(c for c in campaigns if c.selects(rule.id, rule.category)))}
    scheduled: dict[str, tuple[CompiledRule, ...]] = {}
    for compiled_rule in compiled:
        if compiled_rule.on.startswith("period."):
            kind = compiled_rule.on.removeprefix("period.")
            scheduled[kind] = (*scheduled.get(kind, ()), compiled_rule)
    task_types: dict[str, list[RepairSpec]] = {}
    for repair in spec.repairs:
        for task in repair.task:
            task_types.setdefault(task, []).append(repair)
    names = sorted(({rule.on for rule in spec.rules} | set(spec.events) | set(task_types))
                   - {r.on for r in compiled if r.on.startswith("period.")})
    # Grouped once: a lookup per type, not a scan of every rule per type (10,000 rules load linearly).
    specs_on: dict[str, list[RuleSpec]] = {}
    compiled_on: dict[str, list[CompiledRule]] = {}
    for rule, compiled_rule in zip(spec.rules, compiled, strict=True):
        specs_on.setdefault(rule.on, []).append(rule)
        compiled_on.setdefault(rule.on, []).append(compiled_rule)
    event_types: dict[str, EventType] = {}
    for name in names:
        rules_here = specs_on.get(name, [])
        checks = _inferred_attributes(rules_here)
        for attr_name, declared in _declared_attributes(spec, name).items():
            inferred = checks.get(attr_name)
            minimum = declared.min if declared.min is not None else (inferred.min if inferred else None)
            checks[attr_name] = attrs.evolve(declared, min=minimum)
        declared_type = spec.events.get(name)
        repairs_here = task_types.get(name, [])
        if repairs_here:
            checks["repair"] = AttributeCheck("repair", "string", required=True)
            for repair in repairs_here:
                if repair.per is not None:
                    checks[repair.per] = AttributeCheck(repair.per, "number", min=0, required=True)
        event_types[name] = EventType(
            name=name,
            ignore=bool(declared_type and declared_type.ignore),
            attributes=checks,
            rules=tuple(compiled_on.get(name, ())),
            repairs=tuple(r.id for r in repairs_here),
        )
    target = AttributeCheck("event", "string", required=True)
    settlement: dict[str, dict[str, AttributeCheck]] = {}
    if any(rule.verify is not None for rule in spec.rules):
        settlement["verify"] = settlement["reject"] = {"event": target}
        if any(rule.credit_worker is not None and rule.credit_worker.for_ == "resolved" for rule in spec.rules):
            settlement["verify"] = {"event": target, "resolved": AttributeCheck("resolved", "boolean")}
    if any(rule.appeal is not None for rule in spec.rules):
        settlement["appeal"] = {"event": target, "outcome": AttributeCheck(
            "outcome", "string", frozenset({"lodged", "upheld", "dismissed"}), required=True)}
    for name, checks in settlement.items():
        event_types[name] = EventType(name=name, ignore=False, attributes=checks, rules=(), settles=True)
    unranked = {rule.id for rule in spec.rules if not spec.rule_counts_for_ranking(rule)}
    unranked |= {worker_credit_id(rule.id) for rule in spec.rules if rule.credit_worker is not None
                 and not spec.category_counts_for_ranking(rule.credit_worker.category)}
    unranked |= {c.id for c in spec.challenges if not spec.category_counts_for_ranking(c.category)}
    return Policy(spec=spec, source=source, zone=ZoneInfo(spec.timezone), event_types=event_types,
                  rules=tuple(compiled), limits=limits, rules_by_id={rule.id: rule for rule in compiled},
                  scheduled=scheduled, campaigns=campaigns, campaigns_by_rule=campaigns_by_rule,
                  streak_predicates={streak.id: compile_condition(streak.when) for streak in spec.streaks
                                     if streak.when is not None},
                  unranked=frozenset(unranked))
