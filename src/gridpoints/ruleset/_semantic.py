"""Checks across the parts of a ruleset that the models cannot make alone: ids, references, conditions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from gridpoints.errors import Issue
from gridpoints.ruleset._conditions import ConditionError, compile_condition, referenced_fields
from gridpoints.ruleset._loader import PathKey, Source
from gridpoints.ruleset._models import ItemSpec, PerUnitPoints, RangePoints, RulesetSpec, TablePoints


def nearest(name: str, options: Iterable[str]) -> str | None:
    """The closest of ``options`` to a misspelt ``name`` (the did-you-mean of every ruleset message), or None."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return close[0] if close else None


def _duplicates(ids: Sequence[str], section: str, source: Source) -> list[Issue]:
    issues = []
    first: dict[str, int] = {}
    for index, item_id in enumerate(ids):
        if item_id in first:
            issues.append(source.issue(
                (section, index, "id"), "id.duplicate", id=item_id, section=section, first=first[item_id]))
        else:
            first[item_id] = index
    return issues


def check(spec: RulesetSpec, source: Source) -> list[Issue]:
    """Every cross-reference problem in ``spec``; empty when the ruleset can be compiled."""
    issues: list[Issue] = []
    rule_ids = [rule.id for rule in spec.rules]
    issues += _duplicates(rule_ids, "rules", source)
    issues += _duplicates([limit.id for limit in spec.limits], "limits", source)

    for index, rule in enumerate(spec.rules):
        here: PathKey = ("rules", index)
        if rule.category is not None and rule.category not in spec.categories:
            issues.append(source.issue(
                (*here, "category"), "category.unknown_declared", nearest(rule.category, spec.categories),
                category=rule.category, declared=list(spec.categories)))
        if rule.on in ("verify", "reject", "appeal"):
            issues.append(source.issue((*here, "on"), "rule.on_reserved", on=rule.on))
        if rule.verify is not None and spec.rule_category(rule) == "deduction":
            issues.append(source.issue((*here, "verify"), "rule.verify_deduction"))
        if rule.appeal is not None and spec.rule_category(rule) != "deduction":
            issues.append(source.issue((*here, "appeal"), "rule.appeal_award"))
        if rule.when is not None:
            try:
                compile_condition(rule.when)
            except ConditionError as exc:
                issues.append(source.issue((*here, "when", *exc.path), exc.code, exc.suggestion, **exc.params))
        issues += _attribute_types(spec, index, source)

    repair_ids = [r.id for r in spec.repairs]
    issues += _duplicates(repair_ids, "repairs", source)
    issues += _duplicates([i.id for i in spec.catalog], "catalog", source)
    issues += _duplicates([c.id for c in spec.challenges], "challenges", source)
    issues += _duplicates([t.id for t in spec.tiers], "tiers", source)
    handled = {rule.on for rule in spec.rules}
    for index, rule in enumerate(spec.rules):
        here = ("rules", index)
        if rule.repair is not None:
            if rule.repair not in repair_ids:
                issues.append(source.issue((*here, "repair"), "repair.unknown", nearest(rule.repair, repair_ids),
                                           repair=rule.repair))
            if spec.rule_category(rule) != "deduction":
                issues.append(source.issue((*here, "repair"), "rule.repair_award"))
        if rule.on.startswith("period.") and (not isinstance(rule.points, int) or rule.when is not None
                                              or rule.verify is not None):
            issues.append(source.issue((*here, "points"), "rule.scheduled_form"))
        if rule.credit_worker is not None:
            if rule.verify is None:
                issues.append(source.issue((*here, "credit_worker"), "rule.credit_needs_verify"))
            if rule.credit_worker.category not in spec.categories:
                issues.append(source.issue((*here, "credit_worker", "category"), "category.unknown",
                                           nearest(rule.credit_worker.category, spec.categories),
                                           category=rule.credit_worker.category))
    for index, repair in enumerate(spec.repairs):
        for task_index, task in enumerate(repair.task):
            if task in handled or task in ("verify", "reject", "appeal"):
                issues.append(source.issue(("repairs", index, "task", task_index), "repair.task_taken", task=task))
    for index, challenge in enumerate(spec.challenges):
        if challenge.category not in spec.categories:
            issues.append(source.issue(("challenges", index, "category"), "category.unknown_declare",
                                       nearest(challenge.category, spec.categories), category=challenge.category))
    tier_ids = [t.id for t in spec.tiers]
    for index, item in enumerate(spec.catalog):
        for tier_index, tier in enumerate((item.eligibility.tiers or []) if item.eligibility else []):
            if tier not in tier_ids:
                issues.append(source.issue(("catalog", index, "eligibility", "tiers", tier_index), "tier.unknown",
                                           nearest(tier, tier_ids), tier=tier))
        issues += _item(item, index, source)

    issues += _duplicates([c.id for c in spec.campaigns], "campaigns", source)
    for index, campaign in enumerate(spec.campaigns):
        for rule_index, name in enumerate(campaign.rules or ()):
            if name not in rule_ids:
                issues.append(source.issue(("campaigns", index, "rules", rule_index), "rule.unknown",
                                           nearest(name, rule_ids), rule=name))
        for cat_index, name in enumerate(campaign.categories or ()):
            if name not in spec.categories:
                issues.append(source.issue(("campaigns", index, "categories", cat_index), "category.unknown",
                                           nearest(name, spec.categories), category=name))
        if campaign.when is not None:
            try:
                compile_condition(campaign.when)
            except ConditionError as exc:
                issues.append(source.issue(("campaigns", index, "when", *exc.path), exc.code, exc.suggestion,
                                           **exc.params))

    issues += _streaks_and_honours(spec, source)

    counters: dict[str, str] = {}
    for limit in spec.limits:
        counters.setdefault(limit.id, limit.id)
    for index, limit in enumerate(spec.limits):
        if limit.continues is not None:
            taken = counters.get(limit.continues)
            if taken is not None and taken != limit.id:
                issues.append(source.issue(("limits", index, "continues"), "limit.continues_taken", limit=limit.id,
                                           continues=limit.continues, taken=taken))
            counters[limit.continues] = limit.id
    for index, limit in enumerate(spec.limits):
        for rule_index, name in enumerate(limit.rules or ()):
            if name not in rule_ids:
                issues.append(source.issue(("limits", index, "rules", rule_index), "rule.unknown",
                                           nearest(name, rule_ids), rule=name))
        for cat_index, name in enumerate(limit.categories or ()):
            if name not in spec.categories:
                issues.append(source.issue(("limits", index, "categories", cat_index), "category.unknown",
                                           nearest(name, spec.categories), category=name))
    return sorted(issues, key=lambda i: (i.line or 0, i.column or 0))


def _streaks_and_honours(spec: RulesetSpec, source: Source) -> list[Issue]:
    issues: list[Issue] = []
    rule_ids = [rule.id for rule in spec.rules]
    handled = sorted({rule.on for rule in spec.rules if not rule.on.startswith("period.")}
                     | {name for name, e in spec.events.items() if not e.ignore}
                     | {task for repair in spec.repairs for task in repair.task})
    streak_ids = [s.id for s in spec.streaks]
    issues += _duplicates(streak_ids, "streaks", source)
    for index, streak in enumerate(spec.streaks):
        for type_index, name in enumerate(streak.on):
            if name not in handled:
                issues.append(source.issue(("streaks", index, "on", type_index), "streak.unknown_event",
                                           nearest(name, handled), name=name))
        if streak.category not in spec.categories:
            issues.append(source.issue(("streaks", index, "category"), "category.unknown",
                                       nearest(streak.category, spec.categories), category=streak.category))
        if streak.when is not None:
            try:
                compile_condition(streak.when)
            except ConditionError as exc:
                issues.append(source.issue(("streaks", index, "when", *exc.path), exc.code, exc.suggestion,
                                           **exc.params))
    issues += _duplicates([h.id for h in spec.honours], "honours", source)
    challenge_ids = [c.id for c in spec.challenges]
    for index, honour in enumerate(spec.honours):
        if honour.challenge is not None and honour.challenge not in challenge_ids:
            issues.append(source.issue(("honours", index, "challenge"), "challenge.unknown",
                                       nearest(honour.challenge, challenge_ids), challenge=honour.challenge))
        if honour.streak is not None and honour.streak not in streak_ids:
            issues.append(source.issue(("honours", index, "streak"), "streak.unknown",
                                       nearest(honour.streak, streak_ids), streak=honour.streak))
        milestone = honour.milestone
        for rule_index, name in enumerate(milestone.rules if milestone is not None else ()):
            here: PathKey = ("honours", index, "milestone", "rules", rule_index)
            if name not in rule_ids:
                issues.append(source.issue(here, "rule.unknown", nearest(name, rule_ids), rule=name))
            elif milestone is not None and milestone.metric == "units" and not isinstance(
                    spec.rules[rule_ids.index(name)].points, PerUnitPoints):
                issues.append(source.issue(here, "milestone.units_not_per_unit", rule=name))
    return issues


def _item(item: ItemSpec, index: int, source: Source) -> list[Issue]:
    """An entitlement (cost 0) must be bounded and moves no points; a balance bound must leave room to pay."""
    issues = []
    if item.cost == 0:
        if item.stock is None and item.limit is None:
            issues.append(source.issue(("catalog", index, "cost"), "item.entitlement_unbounded"))
        for key in ("hold", "allocate"):
            if getattr(item, key) is not None:
                issues.append(source.issue(("catalog", index, key), "item.entitlement_holds", key=key))
    ceiling = item.eligibility.max_balance if item.eligibility is not None else None
    if ceiling is not None and ceiling < item.cost:
        issues.append(source.issue(("catalog", index, "eligibility", "max_balance"), "item.ceiling_below_cost",
                                   ceiling=ceiling, cost=item.cost))
    return issues


def _attribute_types(spec: RulesetSpec, index: int, source: Source) -> list[Issue]:
    """A rule must not read an attribute numerically that the ruleset declares as something else."""
    rule = spec.rules[index]
    declared = spec.events.get(rule.on)
    if declared is None:
        return []
    numeric: list[tuple[str, PathKey]] = []
    points = rule.points
    if isinstance(points, PerUnitPoints):
        numeric.append((points.per, ("rules", index, "points", "per")))
    elif isinstance(points, RangePoints):
        numeric.append((points.from_, ("rules", index, "points", "from")))
    for field, ops in referenced_fields(rule.when or {}).items():
        if ops & {"gt", "gte", "lt", "lte"}:
            numeric.append((field, ("rules", index, "when", field)))
    issues = []
    for field, path in numeric:
        attr = declared.attributes.get(field)
        if attr is not None and attr.type not in ("number", "integer"):
            issues.append(source.issue(path, "attribute.not_numeric", field=field, on=rule.on, type=attr.type))
    if isinstance(points, TablePoints):
        attr = declared.attributes.get(points.by)
        if attr is not None and attr.type == "number":
            issues.append(source.issue(("rules", index, "points", "by"), "attribute.table_number", field=points.by))
    return issues
