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

    def describe(self, lang: str = "en") -> str:
        """``severity[code] place: message`` in ``lang`` (``zh`` or ``en``); ``str()`` is the English."""
        label = _SEVERITY_ZH[self.severity] if lang == "zh" else self.severity
        return f"{label}[{self.code}] {self.issue.describe(lang)}"

    def __str__(self) -> str:
        return self.describe("en")


_SEVERITY_ZH: dict[str, str] = {"error": "错误", "warning": "警告"}


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
    found += [_warn("team-bonus-each", source, ("challenges", index, "split"), "lint.team_bonus_each",
                    challenge=challenge.id, team=challenge.team)
              for index, challenge in enumerate(spec.challenges)
              if challenge.team != "subject" and challenge.split == "each"]
    found += _open_entitlements(spec, source)
    found += _self_reported_repairs(spec, source)
    found += _notices_never_sent(spec, source)
    return sorted(found, key=lambda d: (d.issue.line or 0, d.issue.column or 0, d.code))


#: Lint codes of the load errors that have their own (the rest are ``invalid``), by message code.
_ERROR_CODES: dict[str, str] = {
    "id.duplicate": "duplicate-id", "rule.unknown": "unknown-rule", "category.unknown": "unknown-category",
    "category.unknown_declared": "unknown-category", "category.unknown_declare": "unknown-category",
}


def _code(issue: Issue) -> str:
    return _ERROR_CODES.get(issue.code or "", "invalid")


def _warn(code: str, source: Source, path: PathKey, message: str, **params: Any) -> Diagnostic:
    """Warning ``code`` at ``path`` with ``message``, a code of the diagnostics catalogue, and its parameters."""
    return Diagnostic("warning", code, source.issue(path, message, **params))


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
            ("rules", index, "on"), "lint.undeclared_event", near, rule=rule.id, on=name, near=near)))
    return found


def _unreachable(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    handled = {rule.on for rule in spec.rules} | {task for repair in spec.repairs for task in repair.task}
    for name, event_spec in spec.events.items():
        if not event_spec.ignore and name not in handled:
            found.append(_warn("unhandled-event", source, ("events", name), "lint.unhandled_event", name=name))
    for index, rule in enumerate(spec.rules):
        declared = spec.events.get(rule.on)
        if declared is not None and declared.ignore:
            found.append(_warn("unreachable-rule", source, ("rules", index, "on"), "lint.rule_on_ignored",
                               rule=rule.id, on=rule.on))
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
                                   "lint.rule_never_matches", rule=rule.id, field=field))
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
                               "lint.campaign_selects_nothing", campaign=campaign.id))
            continue
        if not any(overlaps(campaign.valid_from, campaign.valid_until, r.valid_from, r.valid_until) for r in rules):
            found.append(_warn("campaign-never-applies", source, ("campaigns", index, "valid_from"),
                               "lint.campaign_out_of_force", campaign=campaign.id))
        for domain_field, natural in _TIME_VALUES.items():
            domain = field_domain(campaign.when, domain_field)
            if domain_field in _condition_keys(campaign.when) and attrs.evolve(
                    domain, allowed=natural if domain.allowed is None else domain.allowed & natural).empty():
                found.append(_warn("campaign-never-applies", source, ("campaigns", index, "when", domain_field),
                                   "lint.campaign_never_matches", campaign=campaign.id, field=domain_field))
        for other_index in range(index):
            other = spec.campaigns[other_index]
            shared = sorted({r.id for r in rules} & {r.id for r in chosen[other_index]})
            if shared and overlaps(campaign.valid_from, campaign.valid_until, other.valid_from, other.valid_until):
                found.append(_warn("campaign-overlap", source, ("campaigns", index, "valid_from"),
                                   "lint.campaign_overlap", other=other.id, campaign=campaign.id, rules=shared))
    return found


def _streaks_and_honours(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    found = []
    badges = {honour.streak for honour in spec.honours if honour.streak is not None}
    for index, streak in enumerate(spec.streaks):
        if streak.bonus == 0 and streak.id not in badges:
            found.append(_warn("streak-does-nothing", source, ("streaks", index, "bonus"), "lint.streak_does_nothing",
                               streak=streak.id))
    awarding = {rule.id for rule in spec.rules if _can_award(rule)}
    for index, honour in enumerate(spec.honours):
        if honour.milestone is not None and not awarding & set(honour.milestone.rules):
            found.append(_warn("honour-never-earned", source, ("honours", index, "milestone", "rules"),
                               "lint.milestone_never_earned", honour=honour.id))
        challenge = next((c for c in spec.challenges if c.id == honour.challenge), None)
        if challenge is not None and challenge.title is not None and honour.name not in (None, challenge.title):
            found.append(_warn("honour-title-differs", source, ("honours", index, "name"),
                               "lint.honour_title_differs", honour=honour.id, name=honour.name,
                               challenge=challenge.id, title=challenge.title))
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
            found.append(_warn("table-open", source, ("rules", index, "points", "table"), "lint.table_open",
                               by=points.by))
            continue
        missing = sorted(str(v) for v in allowed - domain.excluded if str(v) not in points.table)
        if missing:
            found.append(_warn("table-gap", source, ("rules", index, "points", "table"), "lint.table_gap",
                               by=points.by, missing=missing))
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
            found.append(_warn("cap-never-binds", source, ("limits", index), "lint.limit_selects_nothing",
                               kind=cap.kind, limit=cap.id))
            continue
        if not isinstance(cap, CapSpec):
            continue
        for other_index, other in enumerate(spec.limits):
            factor = MAX_SUBWINDOWS.get((other.window, cap.window))
            if other_index == index or factor is None or not isinstance(other, CapSpec) or other.scope != cap.scope:
                continue
            if mine <= selected(other_index) and other.limit * factor <= cap.limit:
                found.append(_warn("cap-never-binds", source, ("limits", index, "limit"), "lint.cap_never_binds",
                                   cap=cap.id, limit=cap.limit, window=cap.window, other=other.id,
                                   other_limit=other.limit, other_window=other.window, factor=factor,
                                   product=other.limit * factor))
                break
    return found


def _open_entitlements(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A free benefit anyone may claim is seldom meant: entitlements are usually targeted (精准服务)."""
    return [_warn("open-entitlement", source, ("catalog", index, "cost"), "lint.open_entitlement", item=item.id)
            for index, item in enumerate(spec.catalog) if item.cost == 0 and item.eligibility is None]


def _self_reported_repairs(spec: RulesetSpec, source: Source) -> list[Diagnostic]:
    """A repair without ``verify`` restores on the violator's own word: the task's hours are not attested."""
    return [_warn("unverified-repair", source, ("repairs", index, "task"), "lint.unverified_repair",
                  repair=repair.id)
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
    return [_warn("notice-never-sent", source, ("notices", "kinds", index), "lint.notice_never_sent", kind=kind)
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
