"""Checks across the parts of a ruleset that the models cannot make alone: ids, references, conditions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from gridpoints.conditions import ConditionError, compile_condition, referenced_fields
from gridpoints.errors import Issue
from gridpoints.ruleset._loader import PathKey, Source
from gridpoints.ruleset._models import PerUnitPoints, RangePoints, RulesetSpec, TablePoints


def _near(name: str, options: Iterable[str]) -> str | None:
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
                _near(rule.category, spec.categories),
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

    for index, limit in enumerate(spec.limits):
        for rule_index, name in enumerate(limit.rules or ()):
            if name not in rule_ids:
                issues.append(source.issue(("limits", index, "rules", rule_index), f"unknown rule {name!r}",
                                           _near(name, rule_ids)))
        for cat_index, name in enumerate(limit.categories or ()):
            if name not in spec.categories:
                issues.append(source.issue(("limits", index, "categories", cat_index),
                                           f"unknown category {name!r}", _near(name, spec.categories)))
    return sorted(issues, key=lambda i: (i.line or 0, i.column or 0))


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
