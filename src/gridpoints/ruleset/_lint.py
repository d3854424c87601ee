"""Lint: every problem in a ruleset as a diagnostic, without raising."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import attrs

from gridpoints.calendar import MAX_SUBWINDOWS
from gridpoints.errors import Issue, RulesetError
from gridpoints.ruleset._conditions import field_domain
from gridpoints.ruleset._loader import DEFAULT_LIMITS, LoadLimits, PathKey, Source, parse_spec, read_source
from gridpoints.ruleset._models import CampaignSpec, CapSpec, RulesetSpec, RuleSpec, TablePoints, worker_credit_id
from gridpoints.ruleset._semantic import check, nearest

Severity = Literal["error", "warning"]


@attrs.frozen(slots=True)
class Diagnostic:
    """One lint finding. ``code`` is stable (for suppressing or testing); ``issue`` says where and what."""

    severity: Severity
    code: str
    issue: Issue

    def __str__(self) -> str:
        return f"{self.severity}[{self.code}] {self.issue}"


def lint(path_or_text: str | Path, *, limits: LoadLimits = DEFAULT_LIMITS) -> list[Diagnostic]:
    """All load errors and warnings for a ruleset; never raises for a bad ruleset, whatever its text (a
    document past one of ``limits`` is one ``invalid`` diagnostic naming the limit)."""
    try:
        source = read_source(path_or_text, limits)
        spec = parse_spec(source)
    except RulesetError as exc:
        return [Diagnostic("error", "invalid", issue) for issue in exc.issues]
    found = [Diagnostic("error", _code(issue), issue) for issue in check(spec, source)]
    found += _undeclared_events(spec, source)
    found += _unreachable(spec, source)
    found += _table_gaps(spec, source)
    found += _caps_that_never_bind(spec, source)
    found += _campaigns(spec, source)
    found += _streaks_and_honours(spec, source)
    found += [_warn("team-bonus-each", source, ("challenges", index, "split"),
                    f"every member of {challenge.id!r}'s winning {challenge.team} gets the whole bonus, so a "
                    f"bigger {challenge.team} is paid more; split: equal pays the team the bonus once")
              for index, challenge in enumerate(spec.challenges)
              if challenge.team != "subject" and challenge.split == "each"]
    found += _open_entitlements(spec, source)
    found += _self_reported_repairs(spec, source)
    found += _notices_never_sent(spec, source)
    return sorted(found, key=lambda d: (d.issue.line or 0, d.issue.column or 0, d.code))


def _code(issue: Issue) -> str:
    if issue.message.startswith("duplicate id"):
        return "duplicate-id"
    if issue.message.startswith("unknown rule"):
        return "unknown-rule"
    if issue.message.startswith("unknown category"):
        return "unknown-category"
    return "invalid"


def _warn(code: str, source: Source, path: PathKey, message: str) -> Diagnostic:
    return Diagnostic("warning", code, source.issue(path, message))


def _undeclared_events(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A rule's ``on:`` that no ``events:`` entry declares and nothing else uses, close to a type that is
    declared or used, is likely a typo (it silently makes a new event type): a warning with the near type."""
    found = []
    tasks = {task for repair in spec.repairs for task in repair.task}
    for index, rule in enumerate(spec.rules):
        name = rule.on
        if name.startswith("period.") or name in spec.events or name in tasks:
            continue
        if any(other.on == name for other in spec.rules if other is not rule):
            continue
        known = set(spec.events) | tasks | {r.on for r in spec.rules if r.on != name and not r.on.startswith("period.")}
        near = nearest(name, known)
        if near is None:
            continue
        found.append(Diagnostic("warning", "undeclared-event", source.issue(
            ("rules", index, "on"), f"rule {rule.id!r} handles {name!r}, which 'events' does not declare and no "
                                    f"other rule uses; did you mean {near!r}? (declare it under 'events' if "
                                    "it is a new type)", near)))
    return found


def _unreachable(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    handled = {rule.on for rule in spec.rules} | {task for repair in spec.repairs for task in repair.task}
    for name, event_spec in spec.events.items():
        if not event_spec.ignore and name not in handled:
            found.append(_warn("unhandled-event", source, ("events", name),
                               f"no rule handles {name!r}: its events will be refused; add a rule or 'ignore: true'"))
    for index, rule in enumerate(spec.rules):
        declared = spec.events.get(rule.on)
        if declared is not None and declared.ignore:
            found.append(_warn("unreachable-rule", source, ("rules", index, "on"),
                               f"rule {rule.id!r} handles {rule.on!r}, which the ruleset ignores"))
            continue
        for field in _condition_fields(rule):
            domain = field_domain(rule.when, field)
            attr = declared.attributes.get(field) if declared else None
            if attr is not None and attr.enum is not None and domain.allowed is not None:
                domain = attrs.evolve(domain, allowed=domain.allowed & frozenset(attr.enum))
            natural = _TIME_VALUES.get(field)
            if natural is not None:
                domain = attrs.evolve(domain, allowed=natural if domain.allowed is None else domain.allowed & natural)
            if domain.empty():
                found.append(_warn("unreachable-rule", source, ("rules", index, "when", field),
                                   f"rule {rule.id!r} can never match: no value of {field!r} satisfies its condition"))
                break
    return found


#: The values the local-time fields of a condition can take.
_TIME_VALUES: dict[str, frozenset[Any]] = {"event.weekday": frozenset(range(1, 8)),
                                           "event.hour": frozenset(range(24))}


def _campaigns(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """Campaigns that can never raise an award, and campaigns that overlap (the larger award wins)."""
    found = []
    categories = {rule.id: spec.rule_category(rule) for rule in spec.rules}
    awarding = [rule for rule in spec.rules if _can_award(rule) and not rule.on.startswith("period.")]

    def selected(campaign: CampaignSpec) -> list[RuleSpec]:
        return [rule for rule in awarding if (campaign.rules is None or rule.id in campaign.rules)
                and (campaign.categories is None or categories[rule.id] in campaign.categories)]

    def overlaps(a_from: datetime | None, a_until: datetime | None, b_from: datetime | None,
                 b_until: datetime | None) -> bool:
        return (a_until is None or b_from is None or b_from < a_until) and (
            b_until is None or a_from is None or a_from < b_until)

    chosen = [selected(c) for c in spec.campaigns]
    for index, campaign in enumerate(spec.campaigns):
        rules = chosen[index]
        if not rules:
            found.append(_warn("campaign-never-applies", source, ("campaigns", index),
                               f"campaign {campaign.id!r} selects no rule that awards points on an event "
                               "(scheduled rules and deductions are never raised)"))
            continue
        if not any(overlaps(campaign.valid_from, campaign.valid_until, r.valid_from, r.valid_until) for r in rules):
            found.append(_warn("campaign-never-applies", source, ("campaigns", index, "valid_from"),
                               f"campaign {campaign.id!r} runs while none of its rules is in force"))
        for domain_field, natural in _TIME_VALUES.items():
            domain = field_domain(campaign.when, domain_field)
            if domain_field in _condition_keys(campaign.when) and attrs.evolve(
                    domain, allowed=natural if domain.allowed is None else domain.allowed & natural).empty():
                found.append(_warn("campaign-never-applies", source, ("campaigns", index, "when", domain_field),
                                   f"campaign {campaign.id!r} can never apply: no {domain_field} satisfies its "
                                   "condition"))
        for other_index in range(index):
            other = spec.campaigns[other_index]
            shared = sorted({r.id for r in rules} & {r.id for r in chosen[other_index]})
            if shared and overlaps(campaign.valid_from, campaign.valid_until, other.valid_from, other.valid_until):
                found.append(_warn(
                    "campaign-overlap", source, ("campaigns", index, "valid_from"),
                    f"campaigns {other.id!r} and {campaign.id!r} overlap on {', '.join(shared)}: they never stack; "
                    f"each award gets the one giving more points ({other.id!r} on a tie)"))
    return found


def _streaks_and_honours(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    badges = {honour.streak for honour in spec.honours if honour.streak is not None}
    for index, streak in enumerate(spec.streaks):
        if streak.bonus == 0 and streak.id not in badges:
            found.append(_warn("streak-does-nothing", source, ("streaks", index, "bonus"),
                               f"streak {streak.id!r} pays no bonus and no honour names it"))
    awarding = {rule.id for rule in spec.rules if _can_award(rule)}
    for index, honour in enumerate(spec.honours):
        if honour.milestone is not None and not awarding & set(honour.milestone.rules):
            found.append(_warn("honour-never-earned", source, ("honours", index, "milestone", "rules"),
                               f"milestone {honour.id!r} counts earnings of rules that never award points"))
        challenge = next((c for c in spec.challenges if c.id == honour.challenge), None)
        if challenge is not None and challenge.title is not None and honour.name not in (None, challenge.title):
            found.append(_warn("honour-title-differs", source, ("honours", index, "name"),
                               f"honour {honour.id!r} is named {honour.name!r} but challenge {challenge.id!r} "
                               f"gives the title {challenge.title!r}"))
    return found


def _condition_keys(when: dict[str, Any] | None) -> list[str]:
    when = when or {}
    fields = [k for k in when if k not in ("all", "any", "not")]
    for item in when.get("all", []) if isinstance(when.get("all"), list) else []:
        if isinstance(item, dict):
            fields.extend(k for k in item if k not in ("all", "any", "not") and k not in fields)
    return fields


def _condition_fields(rule: RuleSpec) -> list[str]:
    return _condition_keys(rule.when)


def _table_gaps(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    for index, rule in enumerate(spec.rules):
        points = rule.points
        if not isinstance(points, TablePoints) or points.default is not None:
            continue
        domain = field_domain(rule.when, points.by)
        allowed = domain.allowed
        declared = spec.events.get(rule.on)
        attr = declared.attributes.get(points.by) if declared else None
        if attr is not None and attr.enum is not None:
            allowed = frozenset(attr.enum) if allowed is None else allowed & frozenset(attr.enum)
        if allowed is None:
            found.append(_warn("table-open", source, ("rules", index, "points", "table"),
                               f"nothing limits {points.by!r} to the table's rows; an event with another value "
                               "is rejected — add a 'when' with 'in', an enum under 'events', or a 'default'"))
            continue
        missing = sorted(str(v) for v in allowed - domain.excluded if str(v) not in points.table)
        if missing:
            found.append(_warn("table-gap", source, ("rules", index, "points", "table"),
                               f"the condition allows {points.by} = {', '.join(missing)}, "
                               "which the table has no row for"))
    return found


def _caps_that_never_bind(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    categories = {rule.id: spec.rule_category(rule) for rule in spec.rules}
    positive = {rule.id for rule in spec.rules if _can_award(rule)}
    # A grid worker's credit is an award too, under its own rule id and category.
    for rule in spec.rules:
        if rule.credit_worker is not None:
            categories[worker_credit_id(rule.id)] = rule.credit_worker.category
            positive.add(worker_credit_id(rule.id))

    def selected(index: int) -> set[str]:
        cap = spec.limits[index]
        return {rid for rid in positive
                if (cap.rules is None or rid in cap.rules)
                and (cap.categories is None or categories[rid] in cap.categories)}

    for index, cap in enumerate(spec.limits):
        mine = selected(index)
        if not mine:
            found.append(_warn("cap-never-binds", source, ("limits", index),
                               f"{cap.kind} {cap.id!r} selects no rule that awards points"))
            continue
        if not isinstance(cap, CapSpec):
            continue
        for other_index, other in enumerate(spec.limits):
            factor = MAX_SUBWINDOWS.get((other.window, cap.window))
            if other_index == index or factor is None or not isinstance(other, CapSpec) or other.scope != cap.scope:
                continue
            if mine <= selected(other_index) and other.limit * factor <= cap.limit:
                found.append(_warn(
                    "cap-never-binds", source, ("limits", index, "limit"),
                    f"cap {cap.id!r} ({cap.limit} per {cap.window}) can never bind: {other.id!r} already "
                    f"allows at most {other.limit} per {other.window} × {factor} = {other.limit * factor}",
                ))
                break
    return found


def _open_entitlements(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A free benefit anyone may claim is seldom meant: entitlements are usually targeted (精准服务)."""
    return [_warn("open-entitlement", source, ("catalog", index, "cost"),
                  f"entitlement {item.id!r} (cost 0) has no eligibility: every registered subject may claim it")
            for index, item in enumerate(spec.catalog) if item.cost == 0 and item.eligibility is None]


def _self_reported_repairs(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A repair without ``verify`` restores on the violator's own word: the task's hours are not attested."""
    return [_warn("unverified-repair", source, ("repairs", index, "task"),
                  f"repair {repair.id!r} restores on task events nobody attests (a violator can self-report "
                  "them); add 'verify: {by: [grid_worker]}'")
            for index, repair in enumerate(spec.repairs) if repair.verify is None]


def _notices_never_sent(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A notice kind chosen under ``notices.kinds`` that nothing in the ruleset can cause."""
    causes = {
        "verification_due": any(rule.verify is not None for rule in spec.rules),
        "repair_opened": bool(spec.repairs), "repair_due": bool(spec.repairs), "repair_expired": bool(spec.repairs),
        "hold_expiring": any(item.hold is not None for item in spec.catalog),
        "honour_earned": any(challenge.title for challenge in spec.challenges),
        "points_deducted": any(spec.rule_category(rule) == "deduction" for rule in spec.rules)
                           or spec.expire_after is not None,
    }
    return [_warn("notice-never-sent", source, ("notices", "kinds", index),
                  f"no part of the ruleset can cause a {kind!r} notice")
            for index, kind in enumerate(spec.notices.kinds or ()) if not causes.get(kind, True)]


def _can_award(rule: RuleSpec) -> bool:
    points = rule.points
    if isinstance(points, int):
        return points > 0
    if isinstance(points, TablePoints):
        return any(v > 0 for v in points.table.values()) or (points.default or 0) > 0
    if hasattr(points, "each"):
        return bool(points.each > 0)
    return bool(points.range[1] > 0)
