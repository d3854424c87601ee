"""Honours (荣誉): titles from challenges, badges for completed streaks, milestones on cumulative metrics.

An honour is not points: it is a row of the decision that earned it (rule id ``honour:<id>``, status
``honoured``) and three counters per subject — times earned, the local day first earned (its ordinal) and,
for a milestone, the progress — so :func:`honours` answers from counters and never scans the ledger. A
milestone counts, from the entries the same decision posts, the earned points (``metric: points``), the
events that earned (``events``: a report pending verification counts when it is verified) or the units of
a per-unit rule that earned (``units``, e.g. hours of volunteer service); it is earned once, when the
progress reaches ``at``. A challenge's title is earned at each win; a streak's badge once, when a run
first reaches the streak's length.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum

import attrs

from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan
from gridpoints.engine.lifecycle._streak import streak_counters
from gridpoints.model import CounterKey, LimitStep, NoticeKind, Reason, spendable
from gridpoints.policy import Policy
from gridpoints.ruleset import HonourSpec

#: The status of the decision row that earned an honour (what a notifier looks for).
HONOURED = "honoured"
#: Milestone units are counted in thousandths (2.5 hours is 2500).
_MILLI = 1000


class HonourAction(StrEnum):
    """The honours' one action: record progress and earn the honour when its condition is met."""

    EARN = "honour"


@attrs.frozen(slots=True)
class HonourStep:
    """What one plan may do for one honour: its counters and, for ``units``, the units per rule."""

    spec: HonourSpec
    times: CounterKey
    since: CounterKey
    progress: CounterKey | None = None
    #: The streak run counter a badge reads.
    run: CounterKey | None = None
    units: Mapping[str, Decimal] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class Honour:
    """An honour a subject holds: how many times earned, the local day first earned; a milestone's progress."""

    id: str
    name: str
    kind: str
    times: int
    #: None only for a record written without it (never by this engine).
    since: date | None
    progress: float | None = None
    target: int | None = None


def honour_counters(honour_id: str, subject: str) -> tuple[CounterKey, CounterKey, CounterKey]:
    """(times earned, ordinal of the day first earned, milestone progress) of one subject."""
    return (CounterKey("subject", subject, f"honour:{honour_id}", "-"),
            CounterKey("subject", subject, f"honour:{honour_id}:since", "-"),
            CounterKey("subject", subject, f"honour:{honour_id}:progress", "-"))


def kind_of(spec: HonourSpec) -> str:
    return "title" if spec.challenge is not None else "badge" if spec.streak is not None else "milestone"


def _earned_here(decider: Decider, plan: Plan, subject: str, rules: frozenset[str]) -> list[tuple[str, int]]:
    """(rule, amount) of the earning entries this plan posted so far to the subject from ``rules``."""
    found = []
    account, event_id = spendable(subject), plan.event.id
    for entry in reversed(decider.entries):
        if entry.event_id != event_id:
            break
        if entry.credit == account and entry.rule in rules and entry.reason in Reason.EARNED:
            found.append((entry.rule, entry.amount))
    return found


def _earn(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    step: HonourStep = award.payload
    spec = step.spec
    subject = plan.event.subject
    times = decider.counters.get(step.times, 0)
    if times and spec.challenge is None:
        # A badge or milestone is earned once; once held, later events leave no row for it.
        return ""
    earned = False
    if spec.challenge is not None:
        earned = True
    elif spec.streak is not None:
        assert step.run is not None
        earned = times == 0 and decider.counters.get(step.run, 0) >= policy_streak_length(decider, spec.streak)
    else:
        milestone = spec.milestone
        assert milestone is not None and step.progress is not None
        posted = _earned_here(decider, plan, subject, frozenset(milestone.rules))
        if milestone.metric == "points":
            delta = sum(points for _, points in posted) * _MILLI
        elif milestone.metric == "events":
            delta = _MILLI if posted else 0
        else:
            delta = sum(int(step.units.get(rule, 0) * _MILLI) for rule in {rule for rule, _ in posted})
        before = decider.counters.get(step.progress, 0)
        if delta:
            decider.add(step.progress, delta)
        earned = times == 0 and before + delta >= milestone.at * _MILLI
        steps.append(LimitStep(spec.id, "honour", "subject", subject, "-", before, milestone.at * _MILLI, delta,
                               before + delta, milestone.metric, "honour.earned" if earned else "honour.progress"))
    if not earned:
        return "progress"
    decider.add(step.times, 1)
    if not times:
        decider.add(step.since, date.fromisoformat(plan.occurred_local[:10]).toordinal()
                    - decider.counters.get(step.since, 0))
    decider.notify(plan, NoticeKind.HONOUR_EARNED, subject, title=spec.name or spec.id, honour=spec.id)
    return HONOURED


def policy_streak_length(decider: Decider, streak_id: str) -> int:
    return next(s.length for s in decider.context.policy.spec.streaks if s.id == streak_id)


def _units(context: Context, plan: Plan, award: Award) -> Decimal:
    counted = award.args.get("counted")
    if counted is None and award.code == "settle.verified":
        # A verification: the units are those of the event it verifies.
        original = context.original(str(award.args.get("event")))
        row = next((r for r in original.rules if r.rule_id == award.rule_id), None) if original else None
        counted = dict(row.base_args).get("counted") if row is not None else None
    return Decimal(str(counted)) if counted is not None else Decimal(0)


def _follow(context: Context, plan: Plan) -> list[Award]:
    spec_of = context.policy.spec
    subject = plan.event.subject
    rules_here = {award.rule_id: award for award in plan.awards if award.subject is None or award.subject == subject}
    if not rules_here:
        return []
    found: list[Award] = []
    for spec in spec_of.honours:
        times, since, progress = honour_counters(spec.id, subject)
        step: HonourStep | None = None
        if spec.challenge is not None and f"challenge:{spec.challenge}" in rules_here:
            step = HonourStep(spec, times, since)
        elif spec.streak is not None and f"streak:{spec.streak}" in rules_here:
            step = HonourStep(spec, times, since, run=streak_counters(spec.streak, subject)[1])
        elif spec.milestone is not None and (mine := [r for r in spec.milestone.rules if r in rules_here]):
            units = {r: _units(context, plan, rules_here[r]) for r in mine} if spec.milestone.metric == "units" else {}
            step = HonourStep(spec, times, since, progress, units=units)
        if step is None:
            continue
        counters = tuple(k for k in (times, since, step.progress, step.run) if k is not None)
        found.append(Award(f"honour:{spec.id}", spec.name or spec.id, "honour", 0, f"honour.{kind_of(spec)}",
                           {"honour": spec.id, "name": spec.name or spec.id}, action=HonourAction.EARN,
                           counters=counters, payload=step))
    return found


def honours(context: Context, subject: str) -> list[Honour]:
    """See :meth:`gridpoints.Engine.honours`."""
    specs = context.policy.spec.honours
    keys = {spec.id: honour_counters(spec.id, subject) for spec in specs}
    values = context.counters([k for trio in keys.values() for k in trio])
    held = []
    for spec in specs:
        times, since, progress = (values[k] for k in keys[spec.id])
        if not times:
            continue
        milestone = spec.milestone
        held.append(Honour(spec.id, spec.name or spec.id, kind_of(spec), times,
                           date.fromordinal(since) if since > 0 else None,
                           progress / _MILLI if milestone is not None else None,
                           milestone.at if milestone is not None else None))
    return held


def _has_honours(policy: Policy) -> bool:
    return bool(policy.spec.honours)


MECHANISM = Mechanism("honour", handlers=(Handler(HonourAction.EARN, _earn),), follows=((_has_honours, _follow),))
