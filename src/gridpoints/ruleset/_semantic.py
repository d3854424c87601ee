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
                (section, index, "id"), f"duplicate id {item_id!r} (first used at {section}[{first[item_id]}])"
            ))
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
                (*here, "category"),
                f"unknown category {rule.category!r}; declared: {', '.join(spec.categories)}",
                nearest(rule.category, spec.categories),
            ))
        if rule.on in ("verify", "reject", "appeal"):
            issues.append(source.issue((*here, "on"), f"{rule.on!r} is reserved: the engine handles it to settle "
                                                      "earlier events (verification and appeal)"))
        if rule.verify is not None and spec.rule_category(rule) == "deduction":
            issues.append(source.issue((*here, "verify"), "only awards can wait for verification, not deductions"))
        if rule.appeal is not None and spec.rule_category(rule) != "deduction":
            issues.append(source.issue((*here, "appeal"), "only deductions can be appealed; set category: "
                                                          "deduction or remove 'appeal'"))
        if rule.when is not None:
            try:
                compile_condition(rule.when)
            except ConditionError as exc:
                issues.append(source.issue((*here, "when", *exc.path), exc.message, exc.suggestion))
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
                issues.append(source.issue((*here, "repair"), f"unknown repair {rule.repair!r}",
                                           nearest(rule.repair, repair_ids)))
            if spec.rule_category(rule) != "deduction":
                issues.append(source.issue((*here, "repair"), "only deductions can be repaired"))
        if rule.on.startswith("period.") and (not isinstance(rule.points, int) or rule.when is not None
                                              or rule.verify is not None):
            issues.append(source.issue((*here, "points"), "a scheduled rule (on: period.*) awards fixed points to "
                                                          "every registered subject: no 'when', no 'verify', an "
                                                          "integer 'points'"))
        if rule.credit_worker is not None:
            if rule.verify is None:
                issues.append(source.issue((*here, "credit_worker"), "worker credit needs 'verify' on the rule"))
            if rule.credit_worker.category not in spec.categories:
                issues.append(source.issue((*here, "credit_worker", "category"),
                                           f"unknown category {rule.credit_worker.category!r}",
                                           nearest(rule.credit_worker.category, spec.categories)))
    for index, repair in enumerate(spec.repairs):
        for task_index, task in enumerate(repair.task):
            if task in handled or task in ("verify", "reject", "appeal"):
                issues.append(source.issue(("repairs", index, "task", task_index),
                                           f"{task!r} is handled by rules; a repair task type must be its own"))
    for index, challenge in enumerate(spec.challenges):
        if challenge.category not in spec.categories:
            issues.append(source.issue(("challenges", index, "category"), f"unknown category {challenge.category!r}; "
                                       "declare it under 'categories'", nearest(challenge.category, spec.categories)))
    tier_ids = [t.id for t in spec.tiers]
    for index, item in enumerate(spec.catalog):
        for tier_index, tier in enumerate((item.eligibility.tiers or []) if item.eligibility else []):
            if tier not in tier_ids:
                issues.append(source.issue(("catalog", index, "eligibility", "tiers", tier_index),
                                           f"unknown tier {tier!r}", nearest(tier, tier_ids)))
        issues += _item(item, index, source)

    issues += _duplicates([c.id for c in spec.campaigns], "campaigns", source)
    for index, campaign in enumerate(spec.campaigns):
        for rule_index, name in enumerate(campaign.rules or ()):
            if name not in rule_ids:
                issues.append(source.issue(("campaigns", index, "rules", rule_index), f"unknown rule {name!r}",
                                           nearest(name, rule_ids)))
        for cat_index, name in enumerate(campaign.categories or ()):
            if name not in spec.categories:
                issues.append(source.issue(("campaigns", index, "categories", cat_index),
                                           f"unknown category {name!r}", nearest(name, spec.categories)))
        if campaign.when is not None:
            try:
                compile_condition(campaign.when)
            except ConditionError as exc:
                issues.append(source.issue(("campaigns", index, "when", *exc.path), exc.message, exc.suggestion))

    issues += _streaks_and_honours(spec, source)

    counters: dict[str, str] = {}
    for limit in spec.limits:
        counters.setdefault(limit.id, limit.id)
    for index, limit in enumerate(spec.limits):
        if limit.continues is not None:
            taken = counters.get(limit.continues)
            if taken is not None and taken != limit.id:
                issues.append(source.issue(("limits", index, "continues"),
                                           f"limit {limit.id!r} continues {limit.continues!r}, whose counters "
                                           f"{taken!r} already reads: two limits would share them"))
            counters[limit.continues] = limit.id
    for index, limit in enumerate(spec.limits):
        for rule_index, name in enumerate(limit.rules or ()):
            if name not in rule_ids:
                issues.append(source.issue(("limits", index, "rules", rule_index), f"unknown rule {name!r}",
                                           nearest(name, rule_ids)))
        for cat_index, name in enumerate(limit.categories or ()):
            if name not in spec.categories:
                issues.append(source.issue(("limits", index, "categories", cat_index),
                                           f"unknown category {name!r}", nearest(name, spec.categories)))
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
                issues.append(source.issue(("streaks", index, "on", type_index),
                                           f"no rule, repair or declared event type {name!r}", nearest(name, handled)))
        if streak.category not in spec.categories:
            issues.append(source.issue(("streaks", index, "category"), f"unknown category {streak.category!r}",
                                       nearest(streak.category, spec.categories)))
        if streak.when is not None:
            try:
                compile_condition(streak.when)
            except ConditionError as exc:
                issues.append(source.issue(("streaks", index, "when", *exc.path), exc.message, exc.suggestion))
    issues += _duplicates([h.id for h in spec.honours], "honours", source)
    challenge_ids = [c.id for c in spec.challenges]
    for index, honour in enumerate(spec.honours):
        if honour.challenge is not None and honour.challenge not in challenge_ids:
            issues.append(source.issue(("honours", index, "challenge"), f"unknown challenge {honour.challenge!r}",
                                       nearest(honour.challenge, challenge_ids)))
        if honour.streak is not None and honour.streak not in streak_ids:
            issues.append(source.issue(("honours", index, "streak"), f"unknown streak {honour.streak!r}",
                                       nearest(honour.streak, streak_ids)))
        milestone = honour.milestone
        for rule_index, name in enumerate(milestone.rules if milestone is not None else ()):
            here: PathKey = ("honours", index, "milestone", "rules", rule_index)
            if name not in rule_ids:
                issues.append(source.issue(here, f"unknown rule {name!r}", nearest(name, rule_ids)))
            elif milestone is not None and milestone.metric == "units" and not isinstance(
                    spec.rules[rule_ids.index(name)].points, PerUnitPoints):
                issues.append(source.issue(here, f"metric: units counts the units of per-unit rules; {name!r} "
                                                 "has no 'per'"))
    return issues


def _item(item: ItemSpec, index: int, source: Source) -> list[Issue]:
    """An entitlement (cost 0) must be bounded and moves no points; a balance bound must leave room to pay."""
    issues = []
    if item.cost == 0:
        if item.stock is None and item.limit is None:
            issues.append(source.issue(("catalog", index, "cost"), "an entitlement (cost 0) needs a 'stock' or a "
                                                                   "per-subject 'limit'; otherwise it is unbounded"))
        for key in ("hold", "allocate"):
            if getattr(item, key) is not None:
                issues.append(source.issue(("catalog", index, key), f"an entitlement (cost 0) holds no points: "
                                                                    f"remove {key!r} or give the item a cost"))
    ceiling = item.eligibility.max_balance if item.eligibility is not None else None
    if ceiling is not None and ceiling < item.cost:
        issues.append(source.issue(("catalog", index, "eligibility", "max_balance"),
                                   f"max_balance {ceiling} is below the cost {item.cost}: nobody could redeem it"))
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
            issues.append(source.issue(path, f"attribute {field!r} of {rule.on!r} is declared as {attr.type}, "
                                             "but this rule reads it as a number"))
    if isinstance(points, TablePoints):
        attr = declared.attributes.get(points.by)
        if attr is not None and attr.type == "number":
            issues.append(source.issue(("rules", index, "points", "by"),
                                       f"attribute {points.by!r} is a number; a table looks up exact values, "
                                       "declare it as integer or string"))
    return issues
