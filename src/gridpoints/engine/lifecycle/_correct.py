"""冲正 and 人工调整 — corrections of a recorded event, and staff adjustments of a balance.

A correction reverses one event: an entry for each of the event's own entries, moving the same amount the
other way and linked to it (``reverses`` = its seq, reason ``corrected``), and the counter increments the
event's limits made in the windows it used (caps, diminishing occurrences, shares, budgets) taken back, so
the resident's room under the caps returns. Its event id is ``gp:correct:<event id>``: a correction is
idempotent by the corrected event (the same reason and actor return the original correction; a different
one is an :class:`~gridpoints.errors.IdempotencyConflict`). The corrected event is marked settled, so a
deduction that was corrected can no longer be repaired or appealed, and one already settled cannot be
corrected. Rankings, challenges and tiers leave the event out: an earned entry whose correction falls in
the same window no longer counts (:func:`~gridpoints.engine.lifecycle._ranking.earnings`); a correction of an
event whose window was closed is recorded in the current period, and the closed period's results stand.

A staff adjustment credits or debits a resident through the adjustments account
(:data:`~gridpoints.model.ADJUSTMENTS`, reason ``adjusted``); its event id is ``gp:adjust:<request id>``. The
ruleset's ``corrections:`` block says which roles may do either (default ``staff``), whether adjustment
credits count as earned (default no), and may cap the points one staff member adjusts per window. Neither
may be done by the beneficiary or a member of their household. Both explain themselves in zh and en.

Only events whose own entries are plain awards and deductions can be corrected: a pending award is settled
by verification, a redemption by its hold, a period close's postings by the close itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import attrs

from gridpoints.calendar import window_id
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, settled_marker
from gridpoints.errors import CorrectionRefused
from gridpoints.model import ADJUSTMENTS, CounterKey, Decision, Entry, Event, LimitStep, Reason, Trace, spendable
from gridpoints.policy import _limits as limits


class CorrectionAction(StrEnum):
    """Actions of corrections and adjustments."""

    REVERSE = "correct"
    ADJUST = "adjust"


#: What a correction's and an adjustment's event ids start with.
CORRECTION_PREFIX = "gp:correct:"
ADJUSTMENT_PREFIX = "gp:adjust:"
#: The reasons of the entries a correction may reverse.
CORRECTABLE = frozenset({Reason.AWARD, Reason.DEDUCTION})


def correction_event_id(event_id: str) -> str:
    """The event id a correction of ``event_id`` is recorded under."""
    return CORRECTION_PREFIX + event_id


def adjustment_event_id(request_id: str) -> str:
    """The event id a staff adjustment is recorded under (its idempotency key within the tenant)."""
    return ADJUSTMENT_PREFIX + request_id


@attrs.frozen(slots=True)
class Reversal:
    """The entries a correction reverses and the counter increments it takes back."""

    entries: tuple[Entry, ...]
    deltas: tuple[tuple[CounterKey, int], ...]


@attrs.frozen(slots=True)
class Adjustment:
    """A staff adjustment's cap counter (if the ruleset caps adjustments) and the cap."""

    counter: CounterKey | None
    cap: int | None


def _fingerprint(*parts: str | int) -> str:
    return hashlib.blake2b(json.dumps(parts, ensure_ascii=False).encode(), digest_size=32).hexdigest()


def _check(value: str, name: str) -> str:
    if type(value) is not str or not value.strip():
        raise CorrectionRefused("invalid", f"{name} must be a non-empty string, got {value!r}")
    return value


def correct(context: Context, event_id: str, reason: str, actor: str, at: datetime) -> Decision:
    """See :meth:`gridpoints.Engine.correct`."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    _check(reason, "reason")
    _check(actor, "actor")
    if event_id.startswith((CORRECTION_PREFIX, ADJUSTMENT_PREFIX)):
        raise CorrectionRefused("not_correctable", f"{event_id!r} is a correction or an adjustment; adjust the "
                                                   "balance instead", event_id=event_id)
    original = context.original(event_id)
    if original is None:
        raise CorrectionRefused("unknown_event", f"no recorded event {event_id!r}", event_id=event_id)
    cid = correction_event_id(event_id)
    event = Event(cid, "correct", original.subject, original.grid or "-", at, {"event": event_id, "reason": reason},
                  original.household, original.community, actor)
    fingerprint = _fingerprint("correct", event_id, reason, actor)
    if context.record(cid) is not None:
        # A retry: the kernel answers it from the record (or refuses a different reason or actor).
        return context.commit([context.plan(event, [], fingerprint=fingerprint)])[0]
    context.check_duties(event, original, context.policy.spec.corrections.roles, True, None)
    entries = tuple(context.event_entries(original.subject, event_id))
    odd = sorted({e.reason for e in entries} - CORRECTABLE)
    if odd or event_id.startswith("gp:"):
        what = ", ".join(odd) if odd else "postings the engine made itself"
        raise CorrectionRefused("not_correctable", f"event {event_id!r} has {what}; only awards and deductions "
                                                   "are corrected", event_id=event_id)
    deltas = _limit_deltas(context, original)
    if not entries and not deltas:
        raise CorrectionRefused("nothing_to_correct", f"event {event_id!r} posted nothing and counted nothing",
                                event_id=event_id)
    points = sum(e.amount if e.credit == spendable(original.subject) else -e.amount for e in entries)
    award = Award("correction", "冲正", "correction", -points, "correct.reversed",
                  {"event": event_id, "reason": reason, "actor": actor}, action=CorrectionAction.REVERSE,
                  guards=(settled_marker(event_id),), counters=tuple(k for k, _ in deltas),
                  payload=Reversal(entries, deltas))
    return context.commit([context.plan(event, [award], fingerprint=fingerprint)])[0]


def _limit_deltas(context: Context, original: Trace) -> tuple[tuple[CounterKey, int], ...]:
    """The increments the original decision's limits recorded: per limit of each rule, the award's final
    amount (one occurrence for diminishing) on the member's counter and a share's pool counter."""
    by_id = {limit.id: limit for limit in context.policy.limits}
    at = datetime.fromisoformat(original.occurred_local)
    event = Event(original.event_id, original.event_type, original.subject, original.grid or "-", at, {},
                  original.household, original.community)
    found: dict[CounterKey, int] = {}
    for rule in original.rules:
        steps: Sequence[LimitStep] = [s for s in rule.steps if s.limit_id in by_id and s.kind == by_id[s.limit_id].kind]
        if not steps:
            continue
        final = steps[-1].granted
        for step in steps:
            limit = by_id[step.limit_id]
            add = 1 if limit.kind == "diminishing" else final
            if not add:
                continue
            pool = context.scope_id(limit.pool, event) if limit.kind == "share" and limit.pool else None
            for key in limits.counter_keys(limit, step.scope_id, pool, step.window):
                found[key] = found.get(key, 0) + add
    return tuple(sorted(found.items()))


def adjust(context: Context, subject: str, points: int, reason: str, actor: str, at: datetime,
           request_id: str) -> Decision:
    """See :meth:`gridpoints.Engine.adjust`."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    if type(points) is not int or points == 0:
        raise CorrectionRefused("invalid", f"points must be a non-zero integer, got {points!r}", subject=subject)
    _check(reason, "reason")
    _check(actor, "actor")
    _check(request_id, "request_id")
    aid = adjustment_event_id(request_id)
    membership = context.registry.membership(subject, at)
    grid = membership.grid if membership is not None else "-"
    household = membership.household if membership is not None else None
    event = Event(aid, "adjust", subject, grid, at, {"points": points, "reason": reason, "request": request_id},
                  household, None, actor)
    fingerprint = _fingerprint("adjust", subject, points, reason, actor)
    spec = context.policy.spec.corrections
    counter = None
    if spec.adjustment_cap is not None:
        window = window_id(spec.adjustment_cap.window, context.local_date(at))
        counter = CounterKey("actor", actor, "adjustments", window)
    if context.record(aid) is None:
        beneficiary = Trace(aid, "adjust", subject, at.isoformat(), context.policy.ref, (), grid, household)
        context.check_duties(event, beneficiary, spec.roles, True, None)
    code = "adjust.credit" if points > 0 else "adjust.debit"
    award = Award("adjustment", "人工调整", "adjustment", points, code,
                  {"points": abs(points), "reason": reason, "actor": actor}, action=CorrectionAction.ADJUST,
                  counters=(counter,) if counter is not None else (),
                  payload=Adjustment(counter, spec.adjustment_cap.limit if spec.adjustment_cap else None))
    return context.commit([context.plan(event, [award], fingerprint=fingerprint)])[0]


def _reverse(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    reversal: Reversal = award.payload
    for key, delta in reversal.deltas:
        decider.add(key, -delta)
    for entry in reversal.entries:
        decider.post(plan, entry.subject, entry.credit, entry.debit, entry.amount, entry.rule,
                     Reason.CORRECTED.value, reverses=entry.seq)
    return "corrected"


def _adjust(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    move: Adjustment = award.payload
    subject = plan.event.subject
    account = spendable(subject)
    size = abs(award.base)
    if move.counter is not None and move.cap is not None:
        used = decider.counters.get(move.counter, 0)
        if used + size > move.cap:
            raise CorrectionRefused("cap_reached", f"{move.counter.scope_id!r} adjusted {used} of {move.cap} points "
                                                   f"in {move.counter.window}; {size} more would pass the cap",
                                    subject=subject)
        steps.append(LimitStep("adjustment-cap", "cap", "actor", move.counter.scope_id, move.counter.window, used,
                               move.cap, size, size, "reject", "cap.within"))
        decider.add(move.counter, size)
    floor = decider.context.policy.spec.floor
    if award.base < 0 and floor is not None and decider.balances.get(account, 0) - size < floor:
        raise CorrectionRefused("below_floor", f"a debit of {size} would take the balance "
                                               f"{decider.balances.get(account, 0)} below the floor {floor}",
                                subject=subject)
    if award.base > 0:
        decider.post(plan, subject, ADJUSTMENTS, account, size, award.rule_id, Reason.ADJUSTED.value)
    else:
        decider.post(plan, subject, account, ADJUSTMENTS, size, award.rule_id, Reason.ADJUSTED.value)
    return "adjusted"


MECHANISM = Mechanism(
    "corrections",
    handlers=(Handler(CorrectionAction.REVERSE, _reverse), Handler(CorrectionAction.ADJUST, _adjust)),
)
