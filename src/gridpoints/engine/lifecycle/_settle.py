"""Verification and appeal: events that settle an earlier event, and expiry of unverified awards.

An appeal is either decided at once by staff (``outcome: upheld | dismissed`` within the rule's
``appeal.within`` of the deduction), or first lodged by the resident (``outcome: lodged``, no actor or the
resident as actor, within the window) and decided later by staff: a lodged appeal's window was measured
at lodging, so a decision after it closed is still in time.

A settled event's record and entries are immutable once written, so they are read before the
transaction; the "settled" marker counter is read again under lock, so two racing settlements settle once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import attrs

from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, appealed_marker, lodged_marker, settled_marker
from gridpoints.engine.lifecycle._correct import correction_event_id
from gridpoints.errors import EventError, SettlementError
from gridpoints.model import DEDUCTIONS, ISSUANCE, Decision, Event, LimitStep, Reason, pending, spendable
from gridpoints.policy import CompiledRule


class SettleAction(StrEnum):
    """Actions of verification and appeal."""

    #: A rule's award parked until verification.
    PENDING = "pending"
    #: A pending award verified: through the limits, the rest released.
    VERIFY = "verify"
    #: A pending award rejected or expired: back to issuance.
    RELEASE = "release"
    #: An upheld appeal: the deduction given back.
    REVERSE = "reverse"
    #: A dismissed appeal: nothing moves.
    DISMISS = "dismiss"
    #: A grid worker's performance credit for a verification.
    CREDIT = "credit"
    #: A resident lodged an appeal: nothing moves; the decision may come after the window.
    LODGE = "lodge"


def _pending(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    subject = plan.event.subject
    decider.post(plan, subject, ISSUANCE, pending(subject), amount, award.rule_id, Reason.PENDING.value)
    return "pending"


def _verify(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    subject = plan.event.subject
    if amount:
        decider.post(plan, subject, pending(subject), spendable(subject), amount, award.rule_id,
                     Reason.VERIFIED.value)
    if award.base > amount:
        decider.post(plan, subject, pending(subject), ISSUANCE, award.base - amount, award.rule_id,
                     Reason.RELEASED.value)
    return "verified"


def _release(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    status = Reason.REJECTED.value if plan.event.type == "reject" else Reason.EXPIRED.value
    subject = plan.event.subject
    for seq, moved in award.reverses:
        decider.post(plan, subject, pending(subject), ISSUANCE, moved, award.rule_id, status, reverses=seq)
    return status


def _reverse(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    subject = plan.event.subject
    for seq, moved in award.reverses:
        decider.post(plan, subject, DEDUCTIONS, spendable(subject), moved, award.rule_id,
                     Reason.APPEAL_UPHELD.value, reverses=seq)
    return "reversed"


def _dismiss(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "dismissed"


@attrs.frozen(slots=True)
class Credit:
    """A worker's credit: paid only if the award of rule ``requires`` granted points in the same
    verification (None: always)."""

    requires: str | None


def _lodge(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "lodged"


def _credit(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    credit: Credit = award.payload
    if credit.requires is not None and decider.granted(credit.requires) <= 0:
        return "unpaid"
    if award.limits:
        amount = decider.limit(award, amount, steps)
    decider.grant(plan, award, amount, steps, Reason.CREDIT.value)
    return "awarded"


def _pending_award(context: Context, rule: CompiledRule, event: Event, base: int, code: str,
                   args: Mapping[str, Any], day: date, windows: dict[str, str]) -> Award | None:
    """A rule with ``verify`` parks a positive award until a verifier decides."""
    if base <= 0:
        return None
    return Award.of(rule, base, code, args, action=SettleAction.PENDING)


def settlement_awards(context: Context, event: Event, index: int | None) -> list[Award]:
    """Awards for a ``verify`` / ``reject`` / ``appeal`` event, checked against the event it settles."""
    target = str(event.attributes["event"])
    policy = context.policy

    def fail(message: str, field: str = "attributes.event", error: type[EventError] = SettlementError
             ) -> EventError:
        return error(message, field=field, event_id=event.id, index=index)

    original = context.original(target)
    if original is None:
        raise fail(f"no recorded event {target!r} to {event.type}")
    if event.subject != original.subject:
        raise fail(f"must be the settled event's subject {original.subject!r}", "subject", EventError)
    verifying = event.type in ("verify", "reject")
    lodging = not verifying and event.attributes.get("outcome") == "lodged"
    if lodging:
        if event.actor is not None and event.actor != original.subject:
            raise fail(f"an appeal is lodged by the resident {original.subject!r}; staff decide it with "
                       "outcome upheld or dismissed", "actor", EventError)
    elif event.actor is None:
        raise fail(f"required: who decided the {event.type}", "actor", EventError)
    guards = (settled_marker(target),) if verifying else (appealed_marker(target),)
    lodged = lodged_marker(target)
    found = context.counters((*guards, lodged)) if not verifying else context.counters(guards)
    if any(found[g] for g in guards):
        if context.record(correction_event_id(target)) is not None:
            raise fail(f"event {target!r} was corrected (冲正): there is nothing left to {event.type}")
        raise fail(f"event {target!r} was already {'settled' if verifying else 'appealed'}")
    was_lodged = not verifying and found[lodged] > 0
    if lodging and was_lodged:
        raise fail(f"an appeal against event {target!r} was already lodged")
    if lodging:
        guards = (lodged,)
    occurred = datetime.fromisoformat(original.occurred_local)
    if event.occurred_at < occurred:
        raise fail(f"dated {event.occurred_at.isoformat()}, before the event {target!r} it settles "
                   f"({occurred.isoformat()})", "occurred_at")
    traces = [r for r in original.rules
              if (r.status == "pending" if verifying else (r.status == "awarded" and r.granted < 0))]
    if not traces:
        raise fail(f"event {target!r} has no {'award pending verification' if verifying else 'deduction to appeal'}")
    # Only a rejection or an upheld appeal undoes entries; a verification (most settlements) needs none.
    entries = (context.event_entries(original.subject, target)
               if event.type == "reject" or event.attributes.get("outcome") == "upheld" else [])
    awards: list[Award] = []
    for trace in traces:
        rule = policy.rules_by_id.get(trace.rule_id)
        spec = (rule.spec.verify if verifying else rule.spec.appeal) if rule is not None else None
        if rule is None or spec is None:
            raise fail(f"rule {trace.rule_id!r} of event {target!r} has no "
                       f"{'verify' if verifying else 'appeal'} in {policy.ref}")
        deadline = occurred + spec.within
        if event.occurred_at > deadline and not was_lodged:
            raise fail(f"the {event.type} window of event {target!r} closed at {deadline.isoformat()}",
                       "occurred_at")
        args = {"event": target}
        first = guards if not awards else ()
        if lodging:
            awards.append(Award.of(rule, 0, "settle.lodged", args, action=SettleAction.LODGE, guards=first))
            continue
        membership = context.check_duties(event, original, spec.by, getattr(spec, "not_beneficiary", True), index)
        moved = tuple((e.seq, e.amount) for e in entries if e.rule == rule.id)
        if event.type == "verify":
            scoped = Event(target, original.event_type, original.subject, original.grid or "-", occurred,
                           household=original.household, community=original.community)
            keys = context.limit_keys(rule, scoped, context.local_date(occurred), {})
            awards.append(Award.of(rule, trace.base, "settle.verified", args, limits=keys,
                                   action=SettleAction.VERIFY, guards=first))
            credit = rule.spec.credit_worker
            worker_household = membership.household if membership is not None else None
            if (credit is not None and membership is not None and membership.grid == original.grid
                    and event.occurred_at - occurred <= credit.within
                    and (credit.for_ == "verified" or event.attributes.get("resolved") is True)
                    and (worker_household is None or worker_household != context.household_of(original))):
                worker = str(event.actor)
                # The credit is counted in the worker's own scopes, on the day of the verification.
                credit_keys = context.limit_keys(
                    rule, Event(event.id, event.type, worker, membership.grid, event.occurred_at,
                                household=worker_household, community=event.community),
                    context.local_date(event.occurred_at), {}, selected=rule.credit_limits,
                ) if rule.credit_limits else ()
                awards.append(Award(rule.credit_id, f"{rule.name} · 网格员绩效", credit.category,
                                    credit.points, "settle.worker_credit", args, credit_keys,
                                    action=SettleAction.CREDIT, subject=worker,
                                    payload=Credit(rule.id if credit.only_if_granted else None)))
        elif event.type == "reject":
            awards.append(Award.of(rule, trace.base, "settle.rejected", args, action=SettleAction.RELEASE,
                                   reverses=moved, guards=first))
        elif event.attributes["outcome"] == "upheld":
            # An upheld appeal also settles the deduction: it can no longer be repaired, and a repaired
            # deduction can no longer be reversed (the settled marker is checked and set here too).
            awards.append(Award.of(rule, -trace.granted, "settle.upheld", args, action=SettleAction.REVERSE,
                                   reverses=moved, guards=(*first, settled_marker(target)) if first else ()))
        else:
            awards.append(Award.of(rule, 0, "settle.dismissed", args, action=SettleAction.DISMISS, guards=first))
    return awards


def expire_pending(context: Context, now: datetime) -> list[Decision]:
    """Release every pending award governed by the context's version whose verification window closed
    before ``now`` (the engine runs this for each version it holds).

    Each expiry is recorded as an event ``expire:<event id>`` dated at the deadline, so running this
    again (or from two processes) changes nothing. Reads the entries written since its last run (see
    :mod:`gridpoints.engine._ledger_index`) and the records of the awards still pending: run it at period
    close, not per request.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    index = context.index
    open_targets = index.read(lambda index: dict(index.pending))
    markers = {t: settled_marker(t) for t in open_targets}
    settled = context.counters(markers.values())
    index.forget(index.pending, [t for t in open_targets if settled[markers[t]]])
    plans = []
    for target, moved in open_targets.items():
        if settled[markers[target]]:
            continue
        original = context.original(target)
        assert original is not None, "a pending entry always has its event record"
        if context.governing(target, original) is not context:
            continue
        occurred = datetime.fromisoformat(original.occurred_local)
        awards: list[Award] = []
        deadline = occurred
        for trace in original.rules:
            rule = context.policy.rules_by_id.get(trace.rule_id)
            if trace.status != "pending" or rule is None or rule.spec.verify is None:
                continue
            deadline = max(deadline, occurred + rule.spec.verify.within)
            awards.append(Award.of(rule, trace.base, "settle.expired", {"event": target},
                                   action=SettleAction.RELEASE,
                                   reverses=tuple((s, a) for s, a, r in moved if r == rule.id),
                                   guards=() if awards else (markers[target],)))
        if not awards or now < deadline:
            continue
        expiry = Event(f"gp:expire:{target}", "expire", original.subject, original.grid or "-", deadline,
                       {"event": target}, original.household, original.community)
        plans.append(context.plan(expiry, awards))
    return context.commit(plans)


MECHANISM = Mechanism(
    "settle",
    handlers=(
        Handler(SettleAction.PENDING, _pending),
        Handler(SettleAction.VERIFY, _verify, limited=True),
        Handler(SettleAction.RELEASE, _release),
        Handler(SettleAction.REVERSE, _reverse),
        Handler(SettleAction.DISMISS, _dismiss),
        Handler(SettleAction.CREDIT, _credit),
        Handler(SettleAction.LODGE, _lodge),
    ),
    events=((lambda etype: etype.settles, settlement_awards),),
    targets=((lambda etype: etype.settles, "event"),),
    rules=((lambda rule: rule.spec.verify is not None, _pending_award),),
)
