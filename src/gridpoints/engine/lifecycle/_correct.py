"""冲正 and 人工调整 — corrections of a recorded event, and staff adjustments of a balance.

A correction reverses one event: an entry for each entry the event wrote, moving the same amount between the
same accounts the other way and linked to it (``reverses`` = its seq, reason ``corrected``, the reversed
entry's subject and rule), and the counter increments the event's limits made in the windows it used (caps,
diminishing occurrences, shares, budgets) taken back, so the resident's room under the caps returns. Its
event id is ``gp:correct:<event id>``, dated ``at``: a correction is idempotent by the corrected event (the
same reason and actor return the original correction; a different one is an
:class:`~gridpoints.errors.IdempotencyConflict`).

What can be corrected:

- an award or a deduction (a streak bonus the event paid is reversed with it); the event is then marked
  settled, so a corrected deduction can no longer be repaired or appealed;
- an award pending verification: reversed out of the pending account and marked settled, so a later
  verification is refused (:class:`~gridpoints.errors.SettlementError`) and its expiry does nothing;
- a verified award: the event's pending entry and its verification's entries (verified, released, and the
  grid worker's performance credit, whose reversal is the worker's) are all reversed, and the limits the
  verification counted in (the award's in the resident's scopes, the credit's in the worker's) given back.

What cannot (:class:`~gridpoints.errors.CorrectionRefused` ``not_correctable`` or ``nothing_to_correct``,
naming the event and why, in zh and en): a deduction already repaired or upheld on appeal (its settlement
stands: adjust instead); a pending award rejected or expired (nothing was paid); a verification, rejection,
appeal or repair task (correct the event it settles); redemptions (the points mall cancels or returns them);
a period close's postings — base points, challenge bonuses, expiry (a closed period is not rewritten: adjust
instead); corrections and adjustments themselves.

Rankings and challenges leave a corrected earning entry out in every window not yet closed when the
correction was made, whatever window the correction falls in
(:func:`~gridpoints.engine.lifecycle._ranking.earnings`). A window already closed keeps it: the correction
is recorded in the current period, a row says so, and
:func:`~gridpoints.engine._plan.corrected_after_close` marks the window. Issue 14's counters: a streak run
the event moved is rolled back when nothing counted since, else kept and said so; a milestone's progress is
taken back; an honour already earned stays, and the correction says so.

A staff adjustment credits or debits a resident through the adjustments account
(:data:`~gridpoints.model.ADJUSTMENTS`, reason ``adjusted``); its event id is ``gp:adjust:<request id>``. The
ruleset's ``corrections:`` block says which roles may do either (default ``staff``), whether adjustment
credits count as earned (default no), and may cap the points one staff member adjusts per window. Neither
may be done by the beneficiary or a member of their household. Both explain themselves in zh and en.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

import attrs

from gridpoints.calendar import WINDOW_KINDS, window_id
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, closed_marker, corrected_after_close, settled_marker
from gridpoints.engine.lifecycle._honour import HONOURED, honour_counters
from gridpoints.engine.lifecycle._mall import REDEMPTION_PREFIX
from gridpoints.engine.lifecycle._ranking import bounds
from gridpoints.engine.lifecycle._streak import period_ordinal, streak_counters
from gridpoints.errors import CorrectionRefused
from gridpoints.model import ADJUSTMENTS, CounterKey, Decision, Entry, Event, LimitStep, Reason, Trace, spendable
from gridpoints.policy import _limits as limits


class CorrectionAction(StrEnum):
    """Actions of corrections and adjustments."""

    REVERSE = "correct"
    ADJUST = "adjust"
    #: A worker's credit the correction takes back (the entry is the reversal's; the row says whose).
    NOTE = "correct-credit"
    #: Whether a window of the corrected event was already closed (then its results stand).
    CLOSED = "correct-closed"
    #: A streak run the corrected event moved: rolled back if nothing counted since, else kept and said so.
    STREAK = "correct-streak"
    #: Honour progress taken back; an honour already earned stays, and the row says so.
    HONOUR = "correct-honour"


#: What a correction's and an adjustment's event ids start with.
CORRECTION_PREFIX = "gp:correct:"
ADJUSTMENT_PREFIX = "gp:adjust:"
#: The reasons of a corrected event's own entries: awards (a streak's bonus among them), deductions, pending.
CORRECTABLE = frozenset({Reason.AWARD, Reason.DEDUCTION, Reason.PENDING, Reason.BONUS})


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


@attrs.frozen(slots=True)
class Correction:
    """One correction (冲正) as a report shows it: what was corrected, when it happened and when it was
    corrected (local ISO times, so each names its window), the reason and the staff member, the points it
    moved on the resident's balance, the entries it reversed (their seqs) and the windows of the corrected
    event that were already closed when it was made (their results stand)."""

    event_id: str
    correction_id: str
    subject: str
    points: int
    reason: str
    actor: str
    occurred_local: str
    corrected_local: str
    reversed: tuple[int, ...]
    closed: tuple[str, ...]


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
    _refuse_engine_made(event_id)
    original = context.original(event_id)
    if original is None:
        raise CorrectionRefused("unknown_event", f"no recorded event {event_id!r}", event_id=event_id,
                                zh=f"没有事件 {event_id!r} 的记录")
    cid = correction_event_id(event_id)
    event = Event(cid, "correct", original.subject, original.grid or "-", at, {"event": event_id, "reason": reason},
                  original.household, original.community, actor)
    fingerprint = _fingerprint("correct", event_id, reason, actor)
    if context.record(cid) is not None:
        # A retry: the kernel answers it from the record (or refuses a different reason or actor).
        return context.commit([context.plan(event, [], fingerprint=fingerprint)])[0]
    context.check_duties(event, original, context.policy.spec.corrections.roles, True, None)
    _refuse_settlement(original)
    own = tuple(context.event_entries(original.subject, event_id))
    odd = sorted({e.reason for e in own} - CORRECTABLE)
    if odd:
        raise CorrectionRefused("not_correctable", f"event {event_id!r} has {', '.join(odd)} entries; awards, "
                                                   "deductions, pending and verified awards are corrected",
                                event_id=event_id,
                                zh=f"事件 {event_id!r} 含 {', '.join(odd)} 分录，"
                                   "只有加分、扣分、待核实和已核实的加分可冲正")
    pending_rows = [r for r in original.rules if r.status == "pending"]
    settled = context.counter(settled_marker(event_id)) > 0
    settlement: Trace | None = None
    entries = own
    guards: tuple[CounterKey, ...] = (settled_marker(event_id),)
    if settled and pending_rows:
        settlement, settled_entries = _verification(context, original, own)
        entries = (*own, *settled_entries)
        guards = ()  # a verified award was settled once, by its verification; the record keys the correction
    elif settled:
        raise CorrectionRefused("not_correctable", f"event {event_id!r} was already settled (repaired or appealed); "
                                                   "its settlement stands: adjust the balance instead",
                                event_id=event_id,
                                zh=f"事件 {event_id!r} 已结清（已修复或申诉），不能冲正，请用人工调整")
    deltas = _limit_deltas(context, original, original, None)
    if settlement is not None:
        deltas = _merge(deltas, _limit_deltas(context, settlement, original, settlement))
    if not entries and not deltas:
        raise CorrectionRefused("nothing_to_correct", f"event {event_id!r} posted nothing and counted nothing",
                                event_id=event_id, zh=f"事件 {event_id!r} 没有可冲正的分录或计数")
    account = spendable(original.subject)
    points = sum(e.amount if e.credit == account else -e.amount if e.debit == account else 0 for e in entries)
    args = {"event": event_id, "reason": reason, "actor": actor}
    award = Award("correction", "冲正", "correction", -points, "correct.reversed", args,
                  action=CorrectionAction.REVERSE, guards=guards, counters=tuple(k for k, _ in deltas),
                  payload=Reversal(entries, deltas))
    awards = [award, *_credit_notes(entries, original.subject), *_closed_notes(context, event_id, entries),
              *_streak_notes(context, original), *_honour_notes(context, original, settlement)]
    return context.commit([context.plan(event, awards, fingerprint=fingerprint)])[0]


def _refuse_engine_made(event_id: str) -> None:
    """Postings the engine made itself are settled by their own mechanism, not corrected."""
    if not event_id.startswith("gp:"):
        return
    for prefixes, en, zh in _ENGINE_MADE:
        if event_id.startswith(prefixes):
            raise CorrectionRefused("not_correctable", f"event {event_id!r} {en}", event_id=event_id,
                                    zh=f"事件 {event_id!r} {zh}")
    raise CorrectionRefused("not_correctable", f"event {event_id!r} is a posting the engine made itself; adjust "
                                               "the balance instead", event_id=event_id,
                            zh=f"事件 {event_id!r} 是引擎自动生成的记账，不能冲正，请用人工调整")


#: Why each kind of engine-made event is not corrected (en, zh).
_ENGINE_MADE: tuple[tuple[tuple[str, ...], str, str], ...] = (
    ((CORRECTION_PREFIX, ADJUSTMENT_PREFIX), "is a correction or an adjustment; adjust the balance instead",
     "本身是冲正或人工调整，不能再冲正，请用人工调整"),
    ((REDEMPTION_PREFIX, "gp:allocate:", "gp:hold-expired:"),
     "is a redemption: the points mall cancels or returns it (settle_hold), it is not corrected",
     "是积分兑换，由积分商城取消或退回（settle_hold），不冲正"),
    (("gp:period:", "gp:challenge:", "gp:expire-points:", "gp:closed:"),
     "is a period close's posting: a closed period's results are not rewritten; adjust the balance instead",
     "是结账记账，已结账期的结果不改写，请用人工调整"),
    (("gp:expire:", "gp:repair-expired:"),
     "is an expiry; correct the event it expired instead", "是过期处理，请冲正其所处理的原事件"),
)


def _refuse_settlement(original: Trace) -> None:
    """A verification, rejection, appeal or repair task settles another event: that one is corrected."""
    for row in original.rules:
        if row.base_code.startswith(("settle.", "repair.")) and row.base_code != "repair.opened":
            target = dict(row.base_args).get("event", "")
            raise CorrectionRefused(
                "not_correctable", f"event {original.event_id!r} settles event {target!r} ({row.base_code}); "
                                   "correct that event instead", event_id=original.event_id,
                zh=f"事件 {original.event_id!r} 是对事件 {target!r} 的结算（{row.base_code}），请冲正原事件")


def _verification(context: Context, original: Trace, own: Sequence[Entry]) -> tuple[Trace, tuple[Entry, ...]]:
    """The event that settled a pending award, and its entries (the worker's credit among them) when it was
    a verification; a rejected or expired award paid nothing and is refused."""
    event_id = original.event_id
    rules = {r.rule_id for r in original.rules if r.status == "pending"}
    after = min((e.seq for e in own), default=0)
    candidates = dict.fromkeys(e.event_id for e in context.entries(subject=original.subject, after_seq=after)
                               if e.rule in rules and e.reason in Reason.SETTLED_PENDING and e.event_id != event_id)
    for candidate in candidates:
        trace = context.original(candidate)
        if trace is None:
            continue
        codes = {r.base_code for r in trace.rules if dict(r.base_args).get("event") == event_id}
        if "settle.verified" in codes:
            first = next(e.seq for e in context.entries(subject=original.subject, after_seq=after)
                         if e.event_id == candidate)
            # One decision's entries are contiguous in the ledger: the worker's credit is among them.
            found = []
            for entry in context.entries(after_seq=first - 1):
                if entry.event_id != candidate:
                    break
                found.append(entry)
            return trace, tuple(found)
        if codes & {"settle.rejected", "settle.expired"}:
            break
    raise CorrectionRefused("nothing_to_correct", f"the award of event {event_id!r} pending verification was "
                                                  "rejected or expired: nothing was paid", event_id=event_id,
                            zh=f"事件 {event_id!r} 的待核实加分已被驳回或过期，没有发放积分")


def _merge(*parts: tuple[tuple[CounterKey, int], ...]) -> tuple[tuple[CounterKey, int], ...]:
    found: dict[CounterKey, int] = {}
    for part in parts:
        for key, value in part:
            found[key] = found.get(key, 0) + value
    return tuple(sorted(found.items()))


def _limit_deltas(context: Context, trace: Trace, original: Trace, settlement: Trace | None
                  ) -> tuple[tuple[CounterKey, int], ...]:
    """The increments a decision's limits recorded: per limit of each rule row, the award's final amount (one
    occurrence for diminishing) on the member's counter and a share's pool counter. A verification counted
    the award in the original event's scopes and the worker's credit in the worker's."""
    by_id = {limit.id: limit for limit in context.policy.limits}
    at = datetime.fromisoformat(original.occurred_local)
    scoped = Event(original.event_id, original.event_type, original.subject, original.grid or "-", at, {},
                   original.household, original.community)
    found: dict[CounterKey, int] = {}
    for rule in trace.rules:
        if settlement is not None and rule.base_code not in ("settle.verified", "settle.worker_credit"):
            continue
        steps: Sequence[LimitStep] = [s for s in rule.steps if s.limit_id in by_id and s.kind == by_id[s.limit_id].kind]
        if not steps:
            continue
        event = scoped
        if rule.base_code == "settle.worker_credit":
            worker = steps[0].scope_id
            moment = datetime.fromisoformat(trace.occurred_local)
            membership = context.registry.membership(worker, moment)
            event = Event(trace.event_id, trace.event_type, worker, membership.grid if membership else "-", moment,
                          {}, membership.household if membership else None, original.community)
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


def _credit_notes(entries: Sequence[Entry], subject: str) -> list[Award]:
    """A row per worker whose performance credit the correction takes back."""
    paid: dict[str, int] = {}
    for entry in entries:
        if entry.reason == Reason.CREDIT and entry.subject != subject:
            paid[entry.subject] = paid.get(entry.subject, 0) + entry.amount
    return [Award("correction:credit", "冲正 · 网格员绩效", "correction", -points, "correct.credit",
                  {"worker": worker, "points": points}, action=CorrectionAction.NOTE, subject=worker)
            for worker, points in sorted(paid.items())]


def _closed_notes(context: Context, event_id: str, entries: Sequence[Entry]) -> list[Award]:
    """For every window of every kind holding a reversed earning entry: a check, under lock, whether it was
    already closed (then the correction is recorded in the current period and the window's results stand)."""
    cid = correction_event_id(event_id)
    windows: set[tuple[str, str]] = set()
    for entry in entries:
        if entry.reason in Reason.EARNED and entry.credit == spendable(entry.subject):
            day = context.local_date(datetime.fromisoformat(entry.occurred_at))
            windows.update((kind, window_id(kind, day)) for kind in WINDOW_KINDS)
    subject = entries[0].subject if entries else ""
    notes = []
    for kind, window in sorted(windows, key=lambda kw: (WINDOW_KINDS.index(kw[0]), kw[1])):
        # A challenge the resident won in the window: its bonus and title stand with the window's results.
        won = [c.name or c.id for c in context.policy.spec.challenges if c.window == kind
               and context.record(f"gp:challenge:{c.id}:{window}:{subject}") is not None]
        args = {"window": window, "event": event_id, **({"challenges": "、".join(won)} if won else {})}
        notes.append(Award("correction:closed", "冲正 · 已结账期", "correction", 0,
                           "correct.closed_won" if won else "correct.closed", args, action=CorrectionAction.CLOSED,
                           counters=(closed_marker(kind, window), corrected_after_close(cid, window)),
                           payload=(closed_marker(kind, window), corrected_after_close(cid, window))))
    return notes


@attrs.frozen(slots=True)
class StreakUndo:
    """A streak run the corrected event moved: the counters as it left them, and as they were before it."""

    last: CounterKey
    run: CounterKey
    left: tuple[int, int]
    before: tuple[int, int]


def _streak_notes(context: Context, original: Trace) -> list[Award]:
    """Per streak the corrected event counted toward: undo its step when it is still the run's latest and no
    other event counted that period, else say that the run stands."""
    found = []
    day = date.fromisoformat(original.occurred_local[:10])
    for row in original.rules:
        if not row.rule_id.startswith("streak:") or not row.steps:
            continue
        step = row.steps[-1]
        spec = next((s for s in context.policy.spec.streaks if s.id == step.limit_id), None)
        if spec is None:
            continue
        last, run = streak_counters(spec.id, original.subject)
        ordinal = period_ordinal(spec.period, day)
        code = step.code
        if code in ("streak.same", "streak.late"):
            continue  # the event moved no counter
        if code == "streak.completed":
            # With a length above 1 only an extended run completes; a run of length 1 may have been broken.
            code = "streak.extended" if spec.length > 1 else "streak.broken"
        undo = None
        if code in ("streak.extended", "streak.started") and not _counted_since(context, original, spec.id, day):
            length = step.before + 1 if code == "streak.extended" else 1
            previous = (ordinal - 1, step.before) if code == "streak.extended" else (0, 0)
            undo = StreakUndo(last, run, (ordinal, length), previous)
        args = {"streak": spec.id, "name": spec.name or spec.id, "bonus": step.granted}
        found.append(Award(row.rule_id, row.rule_name, "correction", 0, "correct.streak", args,
                           action=CorrectionAction.STREAK, counters=(last, run), payload=undo))
    return found


def _counted_since(context: Context, original: Trace, streak_id: str, day: date) -> bool:
    """Whether another event of the subject with entries on the same local day also counted for the streak
    (then that day stays counted)."""
    others = dict.fromkeys(
        e.event_id for e in context.entries(subject=original.subject)
        if e.event_id != original.event_id and not e.event_id.startswith("gp:")
        and context.local_date(datetime.fromisoformat(e.occurred_at)) == day)
    for other in others:
        trace = context.original(other)
        if trace is not None and any(r.rule_id == f"streak:{streak_id}" for r in trace.rules):
            return True
    return False


def _honour_notes(context: Context, original: Trace, settlement: Trace | None) -> list[Award]:
    """Per honour the corrected event (or its verification) made progress toward or earned: take the
    milestone progress back; an honour already earned stays, and the row says so."""
    found = []
    for trace in (original, settlement):
        if trace is None:
            continue
        for row in trace.rules:
            if not row.rule_id.startswith("honour:"):
                continue
            honour = row.rule_id.removeprefix("honour:")
            progress = honour_counters(honour, original.subject)[2]
            delta = sum(s.requested for s in row.steps if s.kind == "honour")
            earned = row.status == HONOURED
            if not delta and not earned:
                continue
            args = {"honour": honour, "name": row.rule_name, "progress": delta / 1000, "earned": earned}
            found.append(Award(row.rule_id, row.rule_name, "correction", 0,
                               "correct.honour_kept" if earned else "correct.honour", args,
                               action=CorrectionAction.HONOUR, counters=(progress,) if delta else (),
                               payload=(progress, delta)))
    return found


def corrections(context: Context, window: str | None) -> list[Correction]:
    """See :meth:`gridpoints.Engine.corrections`."""
    start = end = None
    if window is not None:
        _, start, end = bounds(context, window)
    by_correction: dict[str, list[int]] = {}
    for seq, cid in sorted(context.index.read(lambda index: dict(index.corrections)).items()):
        by_correction.setdefault(cid, []).append(seq)
    found = []
    for cid, seqs in by_correction.items():
        record = context.record(cid)
        assert record is not None, "a correction's entries always have its record"
        decision = record.original()
        trace = decision.trace
        corrected = datetime.fromisoformat(trace.occurred_local)
        if start is not None and end is not None and not start <= corrected < end:
            continue
        row = next(r for r in trace.rules if r.base_code == "correct.reversed")
        args = dict(row.base_args)
        original = context.original(str(args["event"]))
        assert original is not None, "a correction names a recorded event"
        closed = tuple(str(dict(r.base_args)["window"]) for r in trace.rules
                       if r.base_code in ("correct.closed", "correct.closed_won"))
        found.append(Correction(str(args["event"]), cid, trace.subject, decision.points, str(args["reason"]),
                                str(args["actor"]), original.occurred_local, trace.occurred_local, tuple(seqs),
                                closed))
    return sorted(found, key=lambda c: (c.corrected_local, c.correction_id))


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


def _note(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "credit-reversed"


def _closed(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    marker, after = award.payload
    if not decider.counters.get(marker, 0):
        # Not closed: the row is left out and the window's rankings leave the event out.
        return ""
    if not decider.counters.get(after, 0):
        decider.add(after, 1)
    return "closed"


def _streak(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    undo: StreakUndo | None = award.payload
    if undo is None:
        return "kept"
    counters = decider.counters
    if (counters.get(undo.last, 0), counters.get(undo.run, 0)) != undo.left:
        # A later period counted since: the run as it stands now includes it.
        return "kept"
    decider.add(undo.last, undo.before[0] - undo.left[0])
    decider.add(undo.run, undo.before[1] - undo.left[1])
    return "rolled-back"


def _honour(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    progress, delta = award.payload
    if delta:
        taken = min(delta, decider.counters.get(progress, 0))
        decider.add(progress, -taken)
    return "honour-kept" if award.args["earned"] else "progress-back"


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
    handlers=(Handler(CorrectionAction.REVERSE, _reverse), Handler(CorrectionAction.ADJUST, _adjust),
              Handler(CorrectionAction.NOTE, _note), Handler(CorrectionAction.CLOSED, _closed),
              Handler(CorrectionAction.STREAK, _streak), Handler(CorrectionAction.HONOUR, _honour)),
)
