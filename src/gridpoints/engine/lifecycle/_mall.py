"""积分商城 — the points mall: redemption, two-phase holds, stock, per-subject limits, eligibility, tiers.

Eligibility (精准服务) reads the registry at the redemption's time (roles, grids, tags, age band) and the
subject's own figures (tier, points earned in the current window, and the balance bounds, which are checked
under the transaction's locks). An item with ``cost: 0`` is an entitlement (a school recommendation, a
priority medical appointment): it moves no points; its record and its stock and per-subject counters are
what it leaves, so it needs a stock or a limit.

A redemption is idempotent by its request id (its event id is ``redeem:<request id>``; a retry with the
same subject and item returns the original decision whatever its time). Stock and balance are checked
under the transaction's locks, so they never go negative and the last unit goes to exactly one
requester. An item with ``hold`` moves the cost into the subject's held account until :func:`settle_hold`
fulfils it (to the redemption account) or cancels it (back, with the stock); a hold not settled within
its window is returned at period close. An item with ``allocate`` is applied for with a hold and handed
out at the window's close to the top-ranked applicants (see :mod:`gridpoints.engine.lifecycle._close`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from enum import StrEnum

import attrs

from gridpoints.calendar import months_before, window_id, window_start
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, settled_marker
from gridpoints.engine.lifecycle._ranking import earned
from gridpoints.engine.lifecycle._repair import repairs
from gridpoints.errors import RedemptionRefused
from gridpoints.model import (
    REDEMPTIONS,
    CounterKey,
    Decision,
    Event,
    LimitStep,
    Membership,
    Reason,
    held,
    spendable,
)
from gridpoints.ruleset import ItemSpec


class MallAction(StrEnum):
    """Actions of the points mall."""

    REDEEM = "redeem"
    HOLD = "hold"
    APPLY = "apply"
    FULFIL = "fulfil"
    UNHOLD = "unhold"


@attrs.frozen(slots=True)
class ItemMove:
    """An item, its stock and per-subject counters, and how a settlement of its hold is told."""

    item: ItemSpec
    stock: CounterKey | None
    limit: CounterKey | None
    #: How a fulfilment or return is named in the trace (fulfil, cancel, expired, allocated, not_allocated).
    reason: str = ""
    #: Counters to add one to (an allocation's win, for rotation).
    counts: tuple[CounterKey, ...] = ()
    #: Whether the hold was an application (allocated at close: stock is taken on allocation).
    applied: bool = False


#: What a redemption's event id starts with; the rest is the host's request id.
REDEMPTION_PREFIX = "gp:redeem:"


def redemption_event_id(request_id: str) -> str:
    """The event id a redemption is recorded under (its idempotency key within the tenant)."""
    return REDEMPTION_PREFIX + request_id


def _fingerprint(*parts: str) -> str:
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=32).hexdigest()


def item_counters(context: Context, item: ItemSpec, subject: str, at: datetime
                  ) -> tuple[CounterKey | None, CounterKey | None]:
    """The item's stock counter (units handed out) and the subject's per-window counter, where they apply."""
    stock = CounterKey("item", item.id, "units", "-") if item.stock is not None else None
    limit = None
    if item.limit is not None:
        limit = CounterKey("subject", subject, f"item:{item.id}", window_id(item.limit.window, context.local_date(at)))
    return stock, limit


def redeem(context: Context, subject: str, item_id: str, request_id: str, at: datetime) -> Decision:
    """See :meth:`gridpoints.Engine.redeem`."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    item = context.policy.item(item_id)
    if item is None:
        known = ", ".join(i.id for i in context.policy.spec.catalog) or "none"
        raise RedemptionRefused("unknown_item", f"no item {item_id!r} in the catalog (items: {known})",
                                item=item_id, subject=subject)
    event_id = redemption_event_id(request_id)
    # A retry is answered from the stored record (a different subject or item is a conflict), so the checks
    # below apply only to a first request.
    stored = context.record(event_id)
    opens, closes = item.opens, item.closes
    outside = (opens is not None and at < opens) or (closes is not None and at >= closes)
    if stored is None and outside:
        raise RedemptionRefused("unavailable", f"{item_id!r} is not available at {at.isoformat()}", item=item_id,
                                subject=subject)
    membership = context.registry.membership(subject, at)
    if stored is None and item.cost > 0:
        _check_required_repairs(context, item, subject)
    if stored is None and item.eligibility is not None:
        _check_eligibility(context, item, subject, membership, at)
    stock, limit = item_counters(context, item, subject, at)
    action = (MallAction.APPLY if item.allocate is not None
              else MallAction.HOLD if item.hold is not None else MallAction.REDEEM)
    code = "redeem.entitle" if item.cost == 0 else f"redeem.{action.value}"
    award = Award(f"item:{item.id}", item.name or item.id, "redemption", -item.cost, code,
                  {"item": item.id, "request": request_id, "cost": item.cost}, action=action,
                  counters=tuple(k for k in (stock, limit) if k is not None),
                  payload=ItemMove(item, stock, limit))
    event = Event(event_id, "redeem", subject, membership.grid if membership else "-", at,
                  {"item": item.id, "request": request_id},
                  membership.household if membership else None)
    plan = context.plan(event, [award], fingerprint=_fingerprint("redeem", subject, item.id, request_id))
    return context.commit([plan])[0]


def _check_required_repairs(context: Context, item: ItemSpec, subject: str) -> None:
    """需完成: a violator with a required repair still open spends nothing until it is done (an entitlement
    is no spending, and stays open to them)."""
    if not any(r.required for version in context.versions for r in version.policy.spec.repairs):
        return
    for status in repairs(context, subject):
        if status.status in ("open", "in_progress") and status.required:
            raise RedemptionRefused("repair_required", f"the repair {status.repair!r} of event {status.event_id!r} "
                                                       f"must be completed first (by {status.deadline})",
                                    item=item.id, subject=subject)


def _check_eligibility(context: Context, item: ItemSpec, subject: str, membership: Membership | None,
                       at: datetime) -> None:
    """The registry's and the subject's own conditions that do not move under the transaction's locks
    (the balance bounds are checked under them, in :func:`_take`)."""
    rules = item.eligibility
    assert rules is not None

    def refuse(condition: str, message: str) -> RedemptionRefused:
        return RedemptionRefused("not_eligible", message, item=item.id, subject=subject, condition=condition)

    if rules.roles is not None and (membership is None or not membership.roles & set(rules.roles)):
        raise refuse("roles", f"{item.id!r} is for {', '.join(rules.roles)}")
    if rules.grids is not None and (membership is None or membership.grid not in rules.grids):
        where = membership.grid if membership is not None else "no grid"
        raise refuse("grids", f"{item.id!r} is for grids {', '.join(rules.grids)}; {subject!r} is in {where}")
    if rules.tags is not None and (membership is None or not membership.tags & set(rules.tags)):
        raise refuse("tags", f"{item.id!r} is for residents tagged {' or '.join(rules.tags)}")
    if rules.age_bands is not None and (membership is None or membership.age_band not in rules.age_bands):
        raise refuse("age_bands", f"{item.id!r} is for age bands {', '.join(rules.age_bands)}")
    if rules.tiers is not None and tier(context, subject, at) not in rules.tiers:
        raise refuse("tiers", f"{item.id!r} needs tier {' or '.join(rules.tiers)}")
    bound = rules.earned
    if bound is not None:
        window = window_id(bound.window, context.local_date(at))
        start = datetime.combine(window_start(bound.window, window), time(), context.policy.zone)
        points = earned(context, subject, start, at)
        if bound.min is not None and points < bound.min:
            raise refuse("earned", f"{points} points earned in {window}, below the minimum {bound.min}")
        if bound.max is not None and points > bound.max:
            raise refuse("earned", f"{points} points earned in {window}, above the maximum {bound.max}")


def settle_hold(context: Context, request_id: str, at: datetime, op: str) -> Decision:
    """Fulfil or cancel a held redemption (``op``: ``fulfil`` | ``cancel``)."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    target = redemption_event_id(request_id)
    original = context.original(target)
    if original is None:
        raise RedemptionRefused("unknown_request", f"no redemption with request id {request_id!r}")
    if not original.rules or original.rules[0].status != "held":
        raise RedemptionRefused("already_settled", f"redemption {request_id!r} is not a hold awaiting {op}")
    # The version that governs the hold settles it: its item, hold window and stock.
    context = context.governing(target, original)
    item = context.policy.item(str(original.rules[0].base_args["item"]))
    assert item is not None and item.hold is not None
    existing = context.record(f"gp:{op}:{request_id}")
    if existing is None and context.counter(settled_marker(target)):
        raise RedemptionRefused("already_settled", f"redemption {request_id!r} was already settled")
    placed = datetime.fromisoformat(original.occurred_local)
    if existing is None and op == "fulfil" and at > placed + item.hold:
        raise RedemptionRefused("unavailable", f"the hold of {request_id!r} expired at "
                                               f"{(placed + item.hold).isoformat()}")
    plan = hold_settlement(context, original.subject, item, request_id, placed, op, at)
    return context.commit([plan])[0]


def hold_settlement(context: Context, subject: str, item: ItemSpec, request_id: str, placed: datetime, op: str,
                    at: datetime, *, event_id: str | None = None, reason: str | None = None,
                    counts: tuple[CounterKey, ...] = ()) -> Plan:
    """The plan that settles a hold or an application: ``op`` fulfil, allocate (to the redemption account),
    cancel, release, expire (back to the subject)."""
    target = redemption_event_id(request_id)
    hold_seq = next(e.seq for e in context.event_entries(subject, target)
                    if e.reason in (Reason.HELD, Reason.APPLIED))
    stock, limit = item_counters(context, item, subject, placed)
    action = MallAction.FULFIL if op in ("fulfil", "allocate") else MallAction.UNHOLD
    award = Award(f"item:{item.id}", item.name or item.id, "redemption", item.cost, f"redeem.{op}",
                  {"item": item.id, "request": request_id, "cost": item.cost}, action=action,
                  reverses=((hold_seq, item.cost),), guards=(settled_marker(target),),
                  counters=tuple(k for k in (stock, limit) if k is not None) + counts,
                  payload=ItemMove(item, stock, limit, reason or op, counts, item.allocate is not None))
    event = Event(event_id or f"gp:{op}:{request_id}", op, subject, "-", at, {"request": request_id})
    return context.plan(event, [award], fingerprint=_fingerprint(op, request_id))


_TAKES = {MallAction.REDEEM: Reason.REDEEMED.value, MallAction.HOLD: Reason.HELD.value,
          MallAction.APPLY: Reason.APPLIED.value}


def _take(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    """Post a redemption, hold or application: the balance and eligibility checked under lock."""
    move: ItemMove = award.payload
    item = move.item
    subject = plan.event.subject
    account = spendable(subject)
    balance = decider.balances.get(account, 0)
    rules = item.eligibility
    minimum = rules.min_balance if rules and rules.min_balance else 0
    if balance < item.cost:
        raise RedemptionRefused("insufficient_balance", f"balance {balance} is below the cost {item.cost}",
                                item=item.id, subject=subject)
    if balance < minimum:
        raise RedemptionRefused("not_eligible", f"balance {balance} is below the minimum {minimum}",
                                item=item.id, subject=subject, condition="min_balance")
    if rules is not None and rules.max_balance is not None and balance > rules.max_balance:
        raise RedemptionRefused("not_eligible", f"balance {balance} is above the maximum {rules.max_balance}",
                                item=item.id, subject=subject, condition="max_balance")
    if award.action != MallAction.APPLY:
        _take_stock(decider, move, subject, steps)
    if item.cost == 0:
        # An entitlement moves no points: its record and the stock and limit counters are what it leaves.
        return "entitled"
    reason = _TAKES[MallAction(award.action)]
    target = REDEMPTIONS if award.action == MallAction.REDEEM else held(subject)
    decider.post(plan, subject, account, target, item.cost, award.rule_id, reason)
    return reason


def _fulfil(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    move: ItemMove = award.payload
    subject = plan.event.subject
    for key in move.counts:
        decider.add(key, 1)
    if move.applied:
        _take_stock(decider, move, subject, steps)
    ((seq, moved),) = award.reverses
    decider.post(plan, subject, held(subject), REDEMPTIONS, moved, award.rule_id, Reason.REDEEMED.value, reverses=seq)
    return "redeemed" if move.reason == "fulfil" else "allocated"


def _unhold(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    move: ItemMove = award.payload
    subject = plan.event.subject
    for key in move.counts:
        decider.add(key, 1)
    if not move.applied:
        # A returned hold gives back the unit and the subject's use of the per-window limit.
        for used in (move.stock, move.limit):
            if used is not None:
                decider.add(used, -1)
    ((seq, moved),) = award.reverses
    decider.post(plan, subject, held(subject), spendable(subject), moved, award.rule_id, Reason.RETURNED.value,
                 reverses=seq)
    return move.reason


def _take_stock(decider: Decider, move: ItemMove, subject: str, steps: list[LimitStep]) -> None:
    counters, item, stock, limit = decider.counters, move.item, move.stock, move.limit
    if stock is not None:
        used = counters.get(stock, 0)
        assert item.stock is not None
        if used >= item.stock:
            raise RedemptionRefused("out_of_stock", f"all {item.stock} units of {item.id!r} are gone",
                                    item=item.id, subject=subject)
        steps.append(LimitStep(item.id, "stock", "item", item.id, "-", used, item.stock, 1, 1, "reject",
                               "stock.within"))
        decider.add(stock, 1)
    if limit is not None:
        used = counters.get(limit, 0)
        assert item.limit is not None
        if used >= item.limit.per_subject:
            raise RedemptionRefused("limit_reached", f"{item.limit.per_subject} per {item.limit.window} "
                                                     f"({limit.window}) already used", item=item.id, subject=subject)
        steps.append(LimitStep(item.id, "item-limit", "subject", subject, limit.window, used, item.limit.per_subject,
                               1, 1, "reject", "item-limit.within"))
        decider.add(limit, 1)


def expire_holds(context: Context, now: datetime) -> list[Decision]:
    """Return every hold governed by the context's version whose window passed before ``now`` (points and
    stock come back); the engine runs this for each version it holds."""
    index = context.index
    holds = index.read(lambda index: [e for entries in index.holds.values() for e in entries])
    markers = {e.event_id: settled_marker(e.event_id) for e in holds}
    settled = context.counters(markers.values())
    index.forget(index.holds, [event_id for event_id, marker in markers.items() if settled[marker]])
    plans = []
    for entry in holds:
        if settled[markers[entry.event_id]]:
            continue
        original = context.original(entry.event_id)
        assert original is not None
        if context.governing(entry.event_id, original) is not context:
            continue
        item = context.policy.item(str(original.rules[0].base_args["item"]))
        if item is None or item.hold is None:
            continue
        placed = datetime.fromisoformat(original.occurred_local)
        deadline = placed + item.hold
        if now < deadline:
            continue
        request = entry.event_id.removeprefix(REDEMPTION_PREFIX)
        plans.append(hold_settlement(context, entry.subject, item, request, placed, "expire", deadline,
                                     event_id=f"gp:hold-expired:{request}", reason="expired"))
    return context.commit(plans)


def tier(context: Context, subject: str, at: datetime) -> str | None:
    """The highest tier whose ``min_earned`` (over the last ``tier_months`` months) and
    ``max_open_violations`` (deductions in that time neither repaired nor reversed) the subject meets."""
    spec = context.policy.spec
    if not spec.tiers:
        return None
    start = months_before(at, spec.tier_months)
    points = earned(context, subject, start, at)
    deductions = {e.event_id for e in context.entries(subject=subject)
                  if e.reason == Reason.DEDUCTION and start <= datetime.fromisoformat(e.occurred_at) < at}
    markers = [settled_marker(d) for d in deductions]
    open_violations = sum(1 for v in context.counters(markers).values() if not v)
    best = None
    for candidate in spec.tiers:
        if points >= candidate.min_earned and (candidate.max_open_violations is None
                                               or open_violations <= candidate.max_open_violations):
            best = candidate.id
    return best


MECHANISM = Mechanism(
    "mall",
    handlers=(
        Handler(MallAction.REDEEM, _take),
        Handler(MallAction.HOLD, _take),
        Handler(MallAction.APPLY, _take),
        Handler(MallAction.FULFIL, _fulfil),
        Handler(MallAction.UNHOLD, _unhold),
    ),
)
