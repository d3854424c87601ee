"""Verification and appeal: events that settle an earlier event, and expiry of unverified awards.

A settled event's record and entries are immutable once written, so they are read before the
transaction; the "settled" marker counter is read again under lock, so two racing settlements settle once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gridpoints.engine._ledger_index import ledger_index
from gridpoints.engine._plan import Award, appealed_marker, settled_marker
from gridpoints.errors import EventError, SettlementError
from gridpoints.model import Decision, Event, Trace

if TYPE_CHECKING:
    from gridpoints.engine._engine import Engine


def settlement_awards(engine: Engine, event: Event, index: int | None) -> list[Award]:
    """Awards for a ``verify`` / ``reject`` / ``appeal`` event, checked against the event it settles."""
    target = str(event.attributes["event"])

    def fail(message: str, field: str = "attributes.event", error: type[EventError] = SettlementError
             ) -> EventError:
        return error(message, field=field, event_id=event.id, index=index)

    original = _original(engine, target)
    if original is None:
        raise fail(f"no recorded event {target!r} to {event.type}")
    if event.subject != original.subject:
        raise fail(f"must be the settled event's subject {original.subject!r}", "subject", EventError)
    if event.actor is None:
        raise fail(f"required: who decided the {event.type}", "actor", EventError)
    verifying = event.type in ("verify", "reject")
    guards = (settled_marker(target),) if verifying else (appealed_marker(target),)
    if any(engine.store.counters(engine.tenant, guards).values()):
        raise fail(f"event {target!r} was already {'settled' if verifying else 'appealed'}")
    occurred = datetime.fromisoformat(original.occurred_local)
    traces = [r for r in original.rules
              if (r.status == "pending" if verifying else (r.status == "awarded" and r.granted < 0))]
    if not traces:
        raise fail(f"event {target!r} has no {'award pending verification' if verifying else 'deduction to appeal'}")
    # Only a rejection or an upheld appeal undoes entries; a verification (most settlements) needs none.
    entries = ([e for e in engine.store.entries(engine.tenant, subject=original.subject) if e.event_id == target]
               if event.type == "reject" or event.attributes.get("outcome") == "upheld" else [])
    awards: list[Award] = []
    for trace in traces:
        rule = engine.policy.rules_by_id.get(trace.rule_id)
        spec = (rule.spec.verify if verifying else rule.spec.appeal) if rule is not None else None
        if rule is None or spec is None:
            raise fail(f"rule {trace.rule_id!r} of event {target!r} has no "
                       f"{'verify' if verifying else 'appeal'} in {engine.policy.ref}")
        deadline = occurred + spec.within
        if event.occurred_at > deadline:
            raise fail(f"the {event.type} window of event {target!r} closed at {deadline.isoformat()}",
                       "occurred_at")
        membership = engine.check_duties(event, original, spec.by, getattr(spec, "not_beneficiary", True), index)
        moved = tuple((e.seq, e.amount) for e in entries if e.rule == rule.id)
        args = {"event": target}
        first = guards if not awards else ()
        if event.type == "verify":
            context = Event(target, original.event_type, original.subject, original.grid or "-", occurred,
                            household=original.household, community=original.community)
            day = occurred.astimezone(engine.policy.zone).date()
            keys = engine.limit_keys(rule, context, day, {})
            awards.append(Award.of(rule, trace.base, "settle.verified", args, limits=keys, action="verify",
                                   guards=first))
            credit = rule.spec.credit_worker
            worker_household = membership.household if membership is not None else None
            if (credit is not None and membership is not None and membership.grid == original.grid
                    and event.occurred_at - occurred <= credit.within
                    and (worker_household is None or worker_household != engine.household_of(original))):
                awards.append(Award(f"{rule.id}:worker-credit", f"{rule.name} · 网格员绩效", credit.category,
                                    credit.points, "settle.worker_credit", args, action="credit",
                                    subject=str(event.actor)))
        elif event.type == "reject":
            awards.append(Award.of(rule, trace.base, "settle.rejected", args, action="release", reverses=moved,
                                   guards=first))
        elif event.attributes["outcome"] == "upheld":
            # An upheld appeal also settles the deduction: it can no longer be repaired, and a repaired
            # deduction can no longer be reversed (the settled marker is checked and set here too).
            awards.append(Award.of(rule, -trace.granted, "settle.upheld", args, action="reverse", reverses=moved,
                                   guards=(*first, settled_marker(target)) if first else ()))
        else:
            awards.append(Award.of(rule, 0, "settle.dismissed", args, action="dismiss", guards=first))
    return awards


def _original(engine: Engine, event_id: str) -> Trace | None:
    record = engine.store.find_event(engine.tenant, event_id)
    return record.original().trace if record is not None else None


def expire_pending(engine: Engine, now: datetime) -> list[Decision]:
    """Release every pending award whose verification window closed before ``now``.

    Each expiry is recorded as an event ``expire:<event id>`` dated at the deadline, so running this
    again (or from two processes) changes nothing. Reads the entries written since its last run (see
    :mod:`gridpoints.engine._ledger_index`) and the records of the awards still pending: run it at period close,
    not per request.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    index = ledger_index(engine)
    open_targets = index.read(lambda index: dict(index.pending))
    markers = {t: settled_marker(t) for t in open_targets}
    settled = engine.store.counters(engine.tenant, markers.values())
    index.forget(index.pending, [t for t in open_targets if settled[markers[t]]])
    plans = []
    for target, moved in open_targets.items():
        if settled[markers[target]]:
            continue
        original = _original(engine, target)
        assert original is not None, "a pending entry always has its event record"
        occurred = datetime.fromisoformat(original.occurred_local)
        awards: list[Award] = []
        deadline = occurred
        for trace in original.rules:
            rule = engine.policy.rules_by_id.get(trace.rule_id)
            if trace.status != "pending" or rule is None or rule.spec.verify is None:
                continue
            deadline = max(deadline, occurred + rule.spec.verify.within)
            awards.append(Award.of(rule, trace.base, "settle.expired", {"event": target}, action="release",
                                   reverses=tuple((s, a) for s, a, r in moved if r == rule.id),
                                   guards=() if awards else (markers[target],)))
        if not awards or now < deadline:
            continue
        expiry = Event(f"gp:expire:{target}", "expire", original.subject, original.grid or "-", deadline,
                       {"event": target}, original.household, original.community)
        plans.append(engine.plan(expiry, awards))
    return engine._submit(plans)
