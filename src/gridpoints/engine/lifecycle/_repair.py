"""积分修复 — point repair: a deduction that names a repair can be restored by doing a task in time.

Lifecycle of one repair, keyed by the deduction's event id:

``open`` (the deduction opened it: within the per-year limit and the cooldown) → ``in_progress`` (task
events accumulate units: hours of community service, or a count of task events) → ``completed`` (restore
entries, each linked to the deduction entry it restores) | ``expired`` (at the deadline, on period close) |
``cancelled`` (an appeal against the deduction was upheld). A repair with ``verify`` counts a task event
only when its ``actor`` holds one of the verifier roles and is neither the violator nor of their household
(积分修复需核实: no self-reported hours). A deduction is repaired at most once; a task
event naming no open repair is a typed error. Restored points carry the reason ``repair-restored`` and do
not count as earned in rankings unless the repair says ``counts_for_ranking``.

Progress is kept in thousandths of a unit so that 1.5 hours accumulate exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import attrs

from gridpoints.calendar import window_id
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, appealed_marker, lodged_marker, settled_marker
from gridpoints.errors import EventError, SettlementError
from gridpoints.model import (
    DEDUCTIONS,
    CounterKey,
    Decision,
    Event,
    LimitStep,
    NoticeKind,
    Reason,
    RuleTrace,
    Trace,
    spendable,
)
from gridpoints.policy import CompiledRule
from gridpoints.ruleset import RepairSpec

MILLI = 1000


class RepairAction(StrEnum):
    """Actions of point repair."""

    #: A deduction that may open a repair.
    DEDUCT = "deduct-repairable"
    #: A task event's progress toward a repair (and the restore on completion).
    TASK = "repair-task"
    #: A repair's deadline passed.
    EXPIRE = "repair-expire"


@attrs.frozen(slots=True)
class RepairOpening:
    """The repair a deduction may open, and its per-year and cooldown counters."""

    spec: RepairSpec
    opened: CounterKey
    last: CounterKey


@attrs.frozen(slots=True)
class RepairTask:
    """A task's repair, the points deducted, and the deduction entries a completion restores."""

    spec: RepairSpec
    deducted: int
    reverses: tuple[tuple[int, int], ...]


def _milli(units: float | int | Decimal) -> int:
    return int(Decimal(str(units)) * MILLI)


def _progress_key(event_id: str) -> CounterKey:
    return CounterKey("event", event_id, "repair:progress", "-")


def restore_amount(spec: RepairSpec, deducted: int) -> int:
    """Points a completed repair restores: a percentage (toward zero) or a number, never more than deducted."""
    if isinstance(spec.restore, str):
        return min(deducted, deducted * int(spec.restore.rstrip("%")) // 100)
    return min(deducted, spec.restore)


def _repairable(context: Context, rule: CompiledRule, event: Event, base: int, code: str,
                args: Mapping[str, Any], day: date, windows: dict[str, str]) -> Award | None:
    """A deduction whose rule names a repair reads the repair's per-year and cooldown counters."""
    if base >= 0 or rule.spec.repair is None:
        return None
    spec = context.policy.repair(rule.spec.repair)
    year = window_id("year", day)
    opened = CounterKey("subject", event.subject, f"repair:{spec.id}:opened", year)
    last = CounterKey("subject", event.subject, f"repair:{spec.id}:last", "-")
    return Award.of(rule, base, code, args, action=RepairAction.DEDUCT, counters=(opened, last),
                    payload=RepairOpening(spec, opened, last))


def _deduct(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    """Post the deduction; open its repair unless the per-year limit or the cooldown forbids it."""
    posted = decider.grant(plan, award, amount, steps)
    if posted >= 0:
        return "awarded"
    opening: RepairOpening = award.payload
    spec, opened, last = opening.spec, opening.opened, opening.last
    event = plan.event
    before = decider.counters.get(opened, 0)
    moment = int(event.occurred_at.timestamp())
    previous = decider.counters.get(last, 0)
    deadline = (event.occurred_at + spec.within).astimezone(decider.context.policy.zone).isoformat()
    if spec.max_per_year is not None and before >= spec.max_per_year:
        code = "repair.max_per_year"
    elif spec.cooldown is not None and previous and moment - previous < spec.cooldown.total_seconds():
        code = "repair.cooldown"
    else:
        code = "repair.opened"
        decider.notify(plan, NoticeKind.REPAIR_OPENED, event.subject, posted, repair=spec.name or spec.id,
                       deadline=deadline)
        decider.add(opened, 1)
        # The counter holds the last opening's Unix time; counters only add, so add the difference.
        decider.add(last, moment - previous)
    steps.append(LimitStep(spec.id, "repair", "subject", event.subject, opened.window, before, spec.max_per_year or 0,
                           posted, posted, "open", code, param=deadline if code == "repair.opened" else None))
    return "awarded"


def _opened_step(context: Context, target: str) -> tuple[Trace, RuleTrace, LimitStep] | None:
    """The deduction event's trace, the rule that deducted, and the step that opened its repair (if any)."""
    trace = context.original(target)
    if trace is None:
        return None
    for rule in trace.rules:
        for step in rule.steps:
            if step.kind == "repair" and step.code == "repair.opened":
                return trace, rule, step
    return None


def _deadline(trace: Trace, spec: RepairSpec) -> datetime:
    """When a deduction's repair closes: the deduction's time plus the repair's ``within``."""
    return datetime.fromisoformat(trace.occurred_local) + spec.within


def task_awards(context: Context, event: Event, index: int | None) -> list[Award]:
    """The award for a repair task event: progress toward the repair of the deduction it names."""
    target = str(event.attributes["repair"])

    def fail(message: str, field: str = "attributes.repair") -> EventError:
        return SettlementError(message, field=field, event_id=event.id, index=index)

    found = _opened_step(context, target)
    if found is None:
        raise fail(f"event {target!r} opened no repair")
    original, rule_trace, step = found
    spec = context.policy.repair(step.limit_id)
    if event.type not in spec.task:
        raise fail(f"{event.type!r} is not a task of repair {spec.id!r} (tasks: {', '.join(spec.task)})", "type")
    if event.subject != original.subject:
        raise EventError(f"must be the deduction's subject {original.subject!r}", field="subject",
                         event_id=event.id, index=index)
    opened = datetime.fromisoformat(original.occurred_local)
    if event.occurred_at < opened:
        raise fail(f"dated {event.occurred_at.isoformat()}, before the deduction {target!r} it repairs "
                   f"({opened.isoformat()})", "occurred_at")
    verifier = None
    if spec.verify is not None:
        if event.actor is None:
            raise EventError(f"repair {spec.id!r} counts a task only when a verifier ("
                             f"{', '.join(spec.verify.by)}) attests it: set 'actor'", field="actor",
                             event_id=event.id, index=index)
        context.check_duties(event, original, spec.verify.by, spec.verify.not_beneficiary, index)
        verifier = str(event.actor)
    deadline = _deadline(original, spec)
    if event.occurred_at > deadline:
        raise fail(f"the repair of event {target!r} closed at {step.param or deadline.isoformat()}", "occurred_at")
    marker = settled_marker(target)
    if context.counter(marker):
        raise fail(f"the repair of event {target!r} is no longer open (completed, expired or cancelled)")
    units = event.attributes[spec.per] if spec.per is not None else 1
    moved = tuple((e.seq, e.amount) for e in context.event_entries(original.subject, target)
                  if e.reason == Reason.DEDUCTION)
    args: dict[str, Any] = {"event": target, "repair": spec.id}
    if verifier is not None:
        args["verifier"] = verifier
    return [Award(rule_trace.rule_id, spec.name or spec.id, "repair", _milli(units),
                  "repair.task_verified" if verifier is not None else "repair.task", args, action=RepairAction.TASK,
                  counters=(_progress_key(target), marker),
                  payload=RepairTask(spec, -rule_trace.granted, moved))]


def _expire(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    spec: RepairSpec = award.payload
    steps.append(LimitStep(spec.id, "repair", "event", str(award.args["event"]), "-", 0, 0, 0, 0, "expire",
                           "repair.expired"))
    decider.notify(plan, NoticeKind.REPAIR_EXPIRED, plan.event.subject, repair=spec.name or spec.id,
                   event=str(award.args["event"]))
    return "expired"


def _task(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    """Count a task's units; on completion post the restore entries. Returns the trace status."""
    task: RepairTask = award.payload
    spec = task.spec
    target = str(award.args["event"])
    progress, marker = award.counters
    if decider.counters.get(marker, 0):
        raise SettlementError(f"the repair of event {target!r} is no longer open", field="attributes.repair",
                              event_id=plan.event.id)
    before = decider.counters.get(progress, 0)
    decider.add(progress, award.base)
    needed = _milli(spec.quantity)
    done = before + award.base
    if done < needed:
        steps.append(LimitStep(spec.id, "repair", "event", target, "-", before, needed, award.base, done,
                               "units/1000", "repair.progress"))
        return "in_progress"
    decider.add(marker, 1)
    remaining = restore_amount(spec, task.deducted)
    account = spendable(plan.event.subject)
    for seq, moved in task.reverses:
        portion = min(moved, remaining)
        if portion:
            decider.post(plan, plan.event.subject, DEDUCTIONS, account, portion, award.rule_id,
                         Reason.REPAIR_RESTORED.value, reverses=seq)
            remaining -= portion
    steps.append(LimitStep(spec.id, "repair", "event", target, "-", before, needed, award.base, done,
                           "units/1000", "repair.completed"))
    return "repaired"


@attrs.frozen(slots=True)
class RepairStatus:
    """One repair as a resident or worker sees it."""

    event_id: str
    repair: str
    deducted: int
    deadline: str
    done: Decimal
    quantity: Decimal
    status: str  # open | in_progress | completed | expired | cancelled
    restored: int
    #: Whether the repair must be completed before the subject spends points (需完成).
    required: bool = False
    #: The ruleset version whose repair it is (``ruleset@version``).
    ruleset: str = ""

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.quantity - self.done)


def repairs(context: Context, subject: str) -> list[RepairStatus]:
    """Every repair the subject's deductions opened, oldest first, with what remains to do."""
    history = list(context.entries(subject=subject))
    deductions: dict[str, list[int]] = {}
    for entry in history:
        if entry.reason == Reason.DEDUCTION:
            deductions.setdefault(entry.event_id, []).append(entry.seq)
    found: list[RepairStatus] = []
    for event_id, seqs in deductions.items():
        opened = _opened_step(context, event_id)
        if opened is None:
            continue
        trace, rule_trace, step = opened
        governing = context.governing(event_id, trace)
        spec = governing.policy.repair(step.limit_id)
        counters = context.counters([_progress_key(event_id), settled_marker(event_id)])
        done = counters[_progress_key(event_id)]
        restored = sum(e.amount for e in history if e.reason == Reason.REPAIR_RESTORED and e.reverses in seqs)
        reversed_ = any(e.reason == Reason.APPEAL_UPHELD and e.reverses in seqs for e in history)
        if restored:
            status = "completed"
        elif reversed_:
            status = "cancelled"
        elif counters[settled_marker(event_id)]:
            status = "expired"
        else:
            status = "in_progress" if done else "open"
        found.append(RepairStatus(event_id, spec.id, -rule_trace.granted, str(step.param), Decimal(done) / MILLI,
                                  Decimal(str(spec.quantity)), status, restored, spec.required,
                                  governing.policy.ref))
    return found


def _appealable(context: Context, target: str, now: datetime) -> bool:
    """Whether a deduction that opened no repair may still be appealed (or its lodged appeal decided): it stays
    in the ledger index's open deductions until then, so that its version is held while it is open."""
    trace = context.original(target)
    if trace is None or not trace.ruleset:
        return False
    policy = context.governing(target, trace).policy
    occurred = datetime.fromisoformat(trace.occurred_local)
    windows = [rule.spec.appeal.within for r in trace.rules if r.granted < 0
               for rule in [policy.rules_by_id.get(r.rule_id)] if rule is not None and rule.spec.appeal is not None]
    if not windows:
        return False
    found = context.counters([appealed_marker(target), lodged_marker(target)])
    if found[appealed_marker(target)]:
        return False
    return bool(found[lodged_marker(target)]) or now <= occurred + max(windows)


def expire_repairs(context: Context, now: datetime) -> list[Decision]:
    """Close every open repair governed by the context's version whose deadline passed before ``now`` (the
    engine runs this for each version it holds); returns the decisions written."""
    index = context.index
    targets = index.read(lambda index: dict(index.deductions))
    plans = []
    markers = {t: settled_marker(t) for t in targets}
    settled = context.counters(markers.values())
    # Settled deductions, and those that opened no repair, never have a repair to expire again.
    closed = []
    for target, subject in targets.items():
        if settled[markers[target]]:
            closed.append(target)
            continue
        opened = _opened_step(context, target)
        if opened is None:
            if not _appealable(context, target, now):
                closed.append(target)
            continue
        trace, rule_trace, step = opened
        if context.governing(target, trace) is not context:
            continue
        spec = context.policy.repair(step.limit_id)
        deadline = _deadline(trace, spec)
        if now < deadline:
            continue
        event = Event(f"gp:repair-expired:{target}", "repair_expired", subject, "-", deadline, {"event": target})
        award = Award(rule_trace.rule_id, spec.name or spec.id, "repair", 0, "repair.expired",
                      {"event": target, "repair": spec.id}, action=RepairAction.EXPIRE, guards=(markers[target],),
                      payload=spec)
        plans.append(context.plan(event, [award]))
    index.forget(index.deductions, closed)
    return context.commit(plans)


MECHANISM = Mechanism(
    "repair",
    handlers=(
        Handler(RepairAction.DEDUCT, _deduct),
        Handler(RepairAction.TASK, _task),
        Handler(RepairAction.EXPIRE, _expire),
    ),
    events=((lambda etype: bool(etype.repairs), task_awards),),
    targets=((lambda etype: bool(etype.repairs), "repair"),),
    rules=((lambda rule: rule.spec.repair is not None, _repairable),),
)
