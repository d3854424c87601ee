"""Reminders for the notices outbox: deadlines that near (a repair due, a hold expiring, a verification due).

Points awarded or deducted, a repair opened or expired and an honour earned are told by the decisions that
make them (see :meth:`~gridpoints.engine._kernel.Decider.notify`). A deadline has no decision of its own, so
:func:`remind` makes one: for each open item (from the ledger index: pending awards, deductions with a
repair under way, holds) whose deadline falls in ``[now, now + within]``, an engine event
``gp:remind:<kind>:<event id>`` whose decision writes the notices. The event id makes each reminder
idempotent: running ``remind`` again, from any process, tells nothing twice.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, settled_marker
from gridpoints.engine.lifecycle._repair import repairs
from gridpoints.model import Decision, Event, LimitStep, Notice, NoticeKind


class NotifyAction(StrEnum):
    """Actions of reminders."""

    REMIND = "remind"


def _remind(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    notices: tuple[Notice, ...] = award.payload
    for notice in notices:
        decider.notify(plan, notice.kind, notice.subject, notice.points, about=notice.event_id, **dict(notice.details))
    return "reminded"


def _days(now: datetime, deadline: datetime) -> int:
    return max(1, math.ceil((deadline - now) / timedelta(days=1)))


def remind(context: Context, now: datetime, within: timedelta) -> list[Decision]:
    """See :meth:`gridpoints.Engine.remind`."""
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    if within <= timedelta(0):
        raise ValueError(f"within must be positive, got {within}")
    index = context.index
    waiting, deductions, holds = index.read(
        lambda index: (dict(index.pending), dict(index.deductions), {k: v[0] for k, v in index.holds.items() if v}))
    settled = context.counters([settled_marker(t) for t in (*waiting, *deductions, *holds)])
    horizon = now + within
    plans: list[Plan] = []

    def due(deadline: datetime) -> bool:
        return now <= deadline <= horizon

    wanted = context.policy.spec.notices.kinds

    def plan(kind: NoticeKind, target: str, subject: str, grid: str, notices: list[Notice]) -> None:
        event_id = f"gp:remind:{kind.value}:{target}"
        if notices and (wanted is None or kind.value in wanted) and context.record(event_id) is None:
            award = Award(f"remind:{kind.value}", kind.value, "notice", 0, "notice.remind",
                          {"event": target, "kind": kind.value}, action=NotifyAction.REMIND,
                          payload=tuple(notices))
            plans.append(context.plan(Event(event_id, "remind", subject, grid, now, {"event": target}), [award]))

    for target in waiting:
        original = context.original(target)
        if settled[settled_marker(target)] or original is None:
            continue
        occurred = datetime.fromisoformat(original.occurred_local)
        governing = context.governing(target, original).policy
        specs = [rule.spec.verify for trace in original.rules if trace.status == "pending"
                 for rule in [governing.rules_by_id.get(trace.rule_id)] if rule is not None and rule.spec.verify]
        if not specs:
            continue
        deadline = occurred + max(spec.within for spec in specs)
        roles = {role for spec in specs for role in spec.by}
        if due(deadline):
            grid = original.grid or "-"
            # The grid's verifiers are told (never the beneficiary: they cannot verify their own report).
            workers = sorted(m.subject for m in context.registry.memberships()
                             if m.grid == grid and m.active(now) and m.roles & roles and m.subject != original.subject)
            plan(NoticeKind.VERIFICATION_DUE, target, original.subject, grid,
                 [Notice(NoticeKind.VERIFICATION_DUE, w, target, "", 0,
                         {"deadline": deadline.isoformat(), "days": _days(now, deadline), "resident": original.subject})
                  for w in workers])
    for subject in sorted({s for t, s in deductions.items() if not settled[settled_marker(t)]}):
        for status in repairs(context, subject):
            if status.status not in ("open", "in_progress") or status.event_id not in deductions:
                continue
            deadline = datetime.fromisoformat(status.deadline)
            if due(deadline):
                plan(NoticeKind.REPAIR_DUE, status.event_id, subject, "-",
                     [Notice(NoticeKind.REPAIR_DUE, subject, status.event_id, "", 0,
                             {"repair": status.repair, "deadline": status.deadline, "days": _days(now, deadline),
                              "remaining": f"{status.remaining.normalize():f}"})])
    for target, entry in holds.items():
        original = context.original(target)
        if settled[settled_marker(target)] or original is None or not original.rules:
            continue
        item = context.governing(target, original).policy.item(str(original.rules[0].base_args.get("item")))
        if item is None or item.hold is None:
            continue
        deadline = datetime.fromisoformat(original.occurred_local) + item.hold
        if due(deadline):
            plan(NoticeKind.HOLD_EXPIRING, target, entry.subject, "-",
                 [Notice(NoticeKind.HOLD_EXPIRING, entry.subject, target, "", entry.amount,
                         {"item": item.name or item.id, "deadline": deadline.isoformat(),
                          "days": _days(now, deadline)})])
    return context.commit(plans)


MECHANISM = Mechanism("notify", handlers=(Handler(NotifyAction.REMIND, _remind),))
