"""积分修复 — point repair: a deduction that names a repair can be restored by doing a task in time.

Lifecycle of one repair, keyed by the deduction's event id:

``open`` (the deduction opened it: within the per-year limit and the cooldown) → ``in_progress`` (task
events accumulate units: hours of community service, or a count of task events) → ``completed`` (restore
entries, each linked to the deduction entry it restores) | ``expired`` (at the deadline, on period close) |
``cancelled`` (an appeal against the deduction was upheld). A deduction is repaired at most once; a task
event naming no open repair is a typed error. Restored points carry the reason ``repair-restored`` and do
not count as earned in rankings unless the repair says ``counts_for_ranking``.

Progress is kept in thousandths of a unit so that 1.5 hours accumulate exactly.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from gridpoints.calendar import window_id
from gridpoints.engine._ledger_index import ledger_index
from gridpoints.engine._plan import Award, Plan, settled_marker
from gridpoints.errors import EventError, SettlementError
from gridpoints.model import DEDUCTIONS, CounterKey, Event, LimitStep, RuleTrace, Trace, spendable
from gridpoints.ruleset._models import RepairSpec

if TYPE_CHECKING:
    from gridpoints.engine._engine import Engine, _Decider
    from gridpoints.policy._compile import CompiledRule

MILLI = 1000


def _milli(units: float | int | Decimal) -> int:
    return int(Decimal(str(units)) * MILLI)


def _progress_key(event_id: str) -> CounterKey:
    return CounterKey("event", event_id, "repair:progress", "-")


def restore_amount(spec: RepairSpec, deducted: int) -> int:
    """Points a completed repair restores: a percentage (toward zero) or a number, never more than deducted."""
    if isinstance(spec.restore, str):
        return min(deducted, deducted * int(spec.restore.rstrip("%")) // 100)
    return min(deducted, spec.restore)


def opening_counters(engine: Engine, rule: CompiledRule, event: Event) -> tuple[CounterKey, CounterKey]:
    """Counters a repairable deduction reads: repairs opened this year, and when the last one opened."""
    assert rule.spec.repair is not None
    year = window_id("year", event.occurred_at.astimezone(engine.policy.zone).date())
    return (CounterKey("subject", event.subject, f"repair:{rule.spec.repair}:opened", year),
            CounterKey("subject", event.subject, f"repair:{rule.spec.repair}:last", "-"))


def open_repair(decider: _Decider, plan: Plan, award: Award, deducted: int) -> LimitStep:
    """Open the repair for a deduction just posted, unless the per-year limit or the cooldown forbids it."""
    spec: RepairSpec = award.extra["repair"]
    opened, last = award.counters
    event = plan.event
    before = decider.counters.get(opened, 0)
    moment = int(event.occurred_at.timestamp())
    previous = decider.counters.get(last, 0)
    deadline = (event.occurred_at + spec.within).astimezone(decider.engine.policy.zone).isoformat()
    if spec.max_per_year is not None and before >= spec.max_per_year:
        code = "repair.max_per_year"
    elif spec.cooldown is not None and previous and moment - previous < spec.cooldown.total_seconds():
        code = "repair.cooldown"
    else:
        code = "repair.opened"
        decider.add(opened, 1)
        # The counter holds the last opening's Unix time; counters only add, so add the difference.
        decider.add(last, moment - previous)
    return LimitStep(spec.id, "repair", "subject", event.subject, opened.window, before, spec.max_per_year or 0,
                     -deducted, -deducted, "open", code, param=deadline if code == "repair.opened" else None)


def _opened_step(engine: Engine, target: str) -> tuple[Trace, RuleTrace, LimitStep] | None:
    """The deduction event's trace, the rule that deducted, and the step that opened its repair (if any)."""
    record = engine.store.find_event(engine.tenant, target)
    if record is None:
        return None
    trace = record.original().trace
    for rule in trace.rules:
        for step in rule.steps:
            if step.kind == "repair" and step.code == "repair.opened":
                return trace, rule, step
    return None


def task_awards(engine: Engine, event: Event, index: int | None) -> list[Award]:
    """The award for a repair task event: progress toward the repair of the deduction it names."""
    target = str(event.attributes["repair"])

    def fail(message: str, field: str = "attributes.repair") -> EventError:
        return SettlementError(message, field=field, event_id=event.id, index=index)

    found = _opened_step(engine, target)
    if found is None:
        raise fail(f"event {target!r} opened no repair")
    original, rule_trace, step = found
    spec = engine.policy.repair(step.limit_id)
    if event.type not in spec.task:
        raise fail(f"{event.type!r} is not a task of repair {spec.id!r} (tasks: {', '.join(spec.task)})", "type")
    if event.subject != original.subject:
        raise EventError(f"must be the deduction's subject {original.subject!r}", field="subject",
                         event_id=event.id, index=index)
    assert step.param is not None
    deadline = datetime.fromisoformat(step.param)
    if event.occurred_at > deadline:
        raise fail(f"the repair of event {target!r} closed at {step.param}", "occurred_at")
    marker = settled_marker(target)
    if engine.store.counters(engine.tenant, [marker])[marker]:
        raise fail(f"the repair of event {target!r} is no longer open (completed, expired or cancelled)")
    units = event.attributes[spec.per] if spec.per is not None else 1
    moved = tuple((e.seq, e.amount) for e in engine.store.entries(engine.tenant, subject=original.subject)
                  if e.event_id == target and e.reason == "deduction")
    return [Award(rule_trace.rule_id, spec.name or spec.id, "repair", _milli(units), "repair.task",
                  {"event": target, "repair": spec.id}, action="repair-task",
                  counters=(_progress_key(target), marker),
                  extra={"repair": spec, "deducted": -rule_trace.granted, "reverses": moved})]


def apply_task(decider: _Decider, plan: Plan, award: Award, steps: list[LimitStep]) -> str:
    """Count a task's units; on completion post the restore entries. Returns the trace status."""
    spec: RepairSpec = award.extra["repair"]
    target = str(award.args["event"])
    if award.action == "repair-expire":
        steps.append(LimitStep(spec.id, "repair", "event", target, "-", 0, 0, 0, 0, "expire", "repair.expired"))
        return "expired"
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
    remaining = restore_amount(spec, int(award.extra["deducted"]))
    account = spendable(plan.event.subject)
    for seq, amount in award.extra["reverses"]:
        portion = min(amount, remaining)
        if portion:
            decider.post(plan, plan.event.subject, DEDUCTIONS, account, portion, award.rule_id, "repair-restored",
                         reverses=seq)
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

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.quantity - self.done)


def repairs(engine: Engine, subject: str) -> list[RepairStatus]:
    """Every repair the subject's deductions opened, oldest first, with what remains to do."""
    history = list(engine.store.entries(engine.tenant, subject=subject))
    deductions: dict[str, list[int]] = {}
    for entry in history:
        if entry.reason == "deduction":
            deductions.setdefault(entry.event_id, []).append(entry.seq)
    found: list[RepairStatus] = []
    for event_id, seqs in deductions.items():
        opened = _opened_step(engine, event_id)
        if opened is None:
            continue
        _, rule_trace, step = opened
        spec = engine.policy.repair(step.limit_id)
        counters = engine.store.counters(engine.tenant, [_progress_key(event_id), settled_marker(event_id)])
        done = counters[_progress_key(event_id)]
        restored = sum(e.amount for e in history if e.reason == "repair-restored" and e.reverses in seqs)
        reversed_ = any(e.reason == "appeal-upheld" and e.reverses in seqs for e in history)
        if restored:
            status = "completed"
        elif reversed_:
            status = "cancelled"
        elif counters[settled_marker(event_id)]:
            status = "expired"
        else:
            status = "in_progress" if done else "open"
        deducted = -rule_trace.granted
        found.append(RepairStatus(event_id, spec.id, deducted, str(step.param), Decimal(done) / MILLI,
                                  Decimal(str(spec.quantity)), status, restored))
    return found


def expire_repairs(engine: Engine, now: datetime) -> list[object]:
    """Close every open repair whose deadline passed before ``now``; returns the decisions written."""
    index = ledger_index(engine)
    targets = index.read(lambda index: dict(index.deductions))
    plans = []
    markers = {t: settled_marker(t) for t in targets}
    settled = engine.store.counters(engine.tenant, markers.values())
    # Settled deductions, and those that opened no repair, never have a repair to expire again.
    closed = []
    for target, subject in targets.items():
        if settled[markers[target]]:
            closed.append(target)
            continue
        opened = _opened_step(engine, target)
        if opened is None:
            closed.append(target)
            continue
        _, rule_trace, step = opened
        assert step.param is not None
        deadline = datetime.fromisoformat(step.param)
        if now < deadline:
            continue
        spec = engine.policy.repair(step.limit_id)
        event = Event(f"gp:repair-expired:{target}", "repair_expired", subject, "-", deadline, {"event": target})
        award = Award(rule_trace.rule_id, spec.name or spec.id, "repair", 0, "repair.expired",
                      {"event": target, "repair": spec.id}, action="repair-expire", guards=(markers[target],),
                      extra={"repair": spec})
        plans.append(engine.plan(event, [award]))
    index.forget(index.deductions, closed)
    return list(engine._submit(plans))
