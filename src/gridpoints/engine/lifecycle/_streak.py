"""Streaks (连续打卡): a bonus for an event of a type on N consecutive days or weeks, broken by a gap.

A streak's state is two counters per subject — the last period it counted (a day's or an ISO week's
ordinal) and the length of the run ending there — read and written under the transaction's lock like any
window counter; nothing scans the ledger. An event of a listed type (whose ``when:`` holds) on the day after
the last counted one extends the run; on the same day it changes nothing; after a gap it starts a new run
of 1; one dated before the last counted day is too late to count (streaks follow events in the order
they are decided). When the run reaches ``length`` the bonus is paid (reason ``bonus``, so it counts as
earned); with ``repeat`` it is paid again at every further multiple of ``length``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import attrs

from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan
from gridpoints.model import CounterKey, LimitStep, Reason
from gridpoints.policy import Policy
from gridpoints.ruleset import StreakSpec


class StreakAction(StrEnum):
    """The streak's one action: count an event's period toward the run, and pay when it completes."""

    COUNT = "streak"


@attrs.frozen(slots=True)
class StreakStep:
    """One event's period for a streak: its ordinal, and the two counters of the subject's run."""

    spec: StreakSpec
    ordinal: int
    last: CounterKey
    run: CounterKey


def period_ordinal(period: str, day: date) -> int:
    """A day's ordinal, or its ISO week's (consecutive weeks have consecutive ordinals)."""
    ordinal = day.toordinal()
    return ordinal if period == "day" else (ordinal - day.isoweekday() + 1) // 7


def streak_counters(streak_id: str, subject: str) -> tuple[CounterKey, CounterKey]:
    """The counters of one subject's run: (last period counted, run length)."""
    return (CounterKey("subject", subject, f"streak:{streak_id}:last", "-"),
            CounterKey("subject", subject, f"streak:{streak_id}:run", "-"))


def _count(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    step: StreakStep = award.payload
    spec = step.spec
    last, run = decider.counters.get(step.last, 0), decider.counters.get(step.run, 0)
    if last and step.ordinal < last:
        outcome, length = "streak.late", run
    elif step.ordinal == last:
        outcome, length = "streak.same", run
    else:
        length = run + 1 if last and step.ordinal == last + 1 else 1
        outcome = "streak.extended" if length > 1 else ("streak.broken" if last else "streak.started")
        decider.add(step.last, step.ordinal - last)
        decider.add(step.run, length - run)
    done = outcome in ("streak.extended", "streak.started") and (
        length == spec.length or (spec.repeat and length % spec.length == 0))
    paid = decider.grant(plan, award, award.base, steps, Reason.BONUS.value) if done and award.base > 0 else 0
    steps.append(LimitStep(spec.id, "streak", "subject", plan.event.subject, spec.period, run, spec.length,
                           award.base, paid, "-", "streak.completed" if done else outcome))
    return "awarded" if done else "streak"


def _follow(context: Context, plan: Plan) -> list[Award]:
    event = plan.event
    streaks = context.policy.spec.streaks
    found: list[Award] = []
    for spec in streaks:
        if event.type not in spec.on:
            continue
        predicate = context.policy.streak_predicates.get(spec.id)
        if predicate is not None and not predicate(event.attributes, context.policy.condition_fields(
                event.subject, event.grid, event.household, event.community, event.actor, event.occurred_at)):
            continue
        day = context.local_date(event.occurred_at)
        last, run = streak_counters(spec.id, event.subject)
        label = day.isoformat() if spec.period == "day" else "{}-W{:02d}".format(*day.isocalendar()[:2])
        found.append(Award(f"streak:{spec.id}", spec.name or spec.id, spec.category, spec.bonus, "streak.count",
                           {"streak": spec.id, "period": label, "length": spec.length, "unit": spec.period},
                           action=StreakAction.COUNT, counters=(last, run),
                           payload=StreakStep(spec, period_ordinal(spec.period, day), last, run)))
    return found


def _has_streaks(policy: Policy) -> bool:
    return bool(policy.spec.streaks)


MECHANISM = Mechanism("streak", handlers=(Handler(StreakAction.COUNT, _count),), follows=((_has_streaks, _follow),))
