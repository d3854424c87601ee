"""积分商城 — the points mall: redemption, two-phase holds, stock, per-subject limits, eligibility, tiers.

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
from datetime import datetime
from typing import TYPE_CHECKING

from gridpoints.calendar import months_before, window_id
from gridpoints.engine._ledger_index import ledger_index
from gridpoints.engine._plan import Award, Plan, settled_marker
from gridpoints.errors import RedemptionRefused
from gridpoints.model import REDEMPTIONS, CounterKey, Decision, Event, LimitStep, held, spendable
from gridpoints.ruleset._models import ItemSpec

if TYPE_CHECKING:
    from gridpoints.engine._engine import Engine, _Decider

#: Entry reasons that count as points earned in rankings and tiers. Grid workers' performance credits are
#: not among them: workers are not competing with the residents they serve.
EARNED_REASONS = frozenset({"award", "verified", "bonus"})


def _fingerprint(*parts: str) -> str:
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=32).hexdigest()


def item_counters(engine: Engine, item: ItemSpec, subject: str, at: datetime) -> tuple[CounterKey | None,
                                                                                       CounterKey | None]:
    """The item's stock counter (units handed out) and the subject's per-window counter, where they apply."""
    stock = CounterKey("item", item.id, "units", "-") if item.stock is not None else None
    limit = None
    if item.limit is not None:
        window = window_id(item.limit.window, at.astimezone(engine.policy.zone).date())
        limit = CounterKey("subject", subject, f"item:{item.id}", window)
    return stock, limit


def redeem(engine: Engine, subject: str, item_id: str, request_id: str, at: datetime) -> Decision:
    """See :meth:`gridpoints.Engine.redeem`."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    item = engine.policy.item(item_id)
    if item is None:
        known = ", ".join(i.id for i in engine.policy.spec.catalog) or "none"
        raise RedemptionRefused("unknown_item", f"no item {item_id!r} in the catalog (items: {known})",
                                item=item_id, subject=subject)
    event_id = f"gp:redeem:{request_id}"
    # A retry is answered from the stored record (a different subject or item is a conflict), so the checks
    # below apply only to a first request.
    stored = engine.store.find_event(engine.tenant, event_id)
    early = item.available_from is not None and at < item.available_from
    outside = early or (item.available_until is not None and at >= item.available_until)
    if stored is None and outside:
        raise RedemptionRefused("unavailable", f"{item_id!r} is not available at {at.isoformat()}", item=item_id,
                                subject=subject)
    membership = engine.registry.membership(subject, at)
    if stored is None and item.eligibility is not None:
        rules = item.eligibility
        if rules.roles is not None and (membership is None or not membership.roles & set(rules.roles)):
            raise RedemptionRefused("not_eligible", f"{item_id!r} is for {', '.join(rules.roles)}", item=item_id,
                                    subject=subject)
        if rules.tiers is not None and tier(engine, subject, at) not in rules.tiers:
            raise RedemptionRefused("not_eligible", f"{item_id!r} needs tier {' or '.join(rules.tiers)}",
                                    item=item_id, subject=subject)
    stock, limit = item_counters(engine, item, subject, at)
    action = "apply" if item.allocate is not None else ("hold" if item.hold is not None else "redeem")
    award = Award(f"item:{item.id}", item.name or item.id, "redemption", -item.cost, f"redeem.{action}",
                  {"item": item.id, "request": request_id, "cost": item.cost}, action=action,
                  counters=tuple(k for k in (stock, limit) if k is not None),
                  extra={"item": item, "stock": stock, "limit": limit})
    event = Event(event_id, "redeem", subject, membership.grid if membership else "-", at,
                  {"item": item.id, "request": request_id},
                  membership.household if membership else None)
    plan = engine.plan(event, [award], fingerprint=_fingerprint("redeem", subject, item.id, request_id))
    return engine._submit([plan])[0]


def settle_hold(engine: Engine, request_id: str, at: datetime, op: str) -> Decision:
    """Fulfil or cancel a held redemption (``op``: ``fulfil`` | ``cancel``)."""
    if at.utcoffset() is None:
        raise ValueError("at must carry a UTC offset; the engine never guesses a zone")
    target = f"gp:redeem:{request_id}"
    record = engine.store.find_event(engine.tenant, target)
    if record is None:
        raise RedemptionRefused("unknown_request", f"no redemption with request id {request_id!r}")
    original = record.original().trace
    if not original.rules or original.rules[0].status != "held":
        raise RedemptionRefused("already_settled", f"redemption {request_id!r} is not a hold awaiting {op}")
    item = engine.policy.item(str(original.rules[0].base_args["item"]))
    assert item is not None and item.hold is not None
    existing = engine.store.find_event(engine.tenant, f"gp:{op}:{request_id}")
    if existing is None and engine.store.counters(engine.tenant, [settled_marker(target)])[settled_marker(target)]:
        raise RedemptionRefused("already_settled", f"redemption {request_id!r} was already settled")
    placed = datetime.fromisoformat(original.occurred_local)
    if existing is None and op == "fulfil" and at > placed + item.hold:
        raise RedemptionRefused("unavailable", f"the hold of {request_id!r} expired at "
                                               f"{(placed + item.hold).isoformat()}")
    plan = _hold_settlement(engine, original.subject, item, request_id, placed, op, at)
    return engine._submit([plan])[0]


def _hold_settlement(engine: Engine, subject: str, item: ItemSpec, request_id: str, placed: datetime, op: str,
                     at: datetime, *, event_id: str | None = None, reason: str | None = None,
                     count: tuple[CounterKey, ...] = ()) -> Plan:
    target = f"gp:redeem:{request_id}"
    hold_seq = next(e.seq for e in engine.store.entries(engine.tenant, subject=subject)
                    if e.event_id == target and e.reason in ("held", "applied"))
    stock, limit = item_counters(engine, item, subject, placed)
    action = "fulfil" if op in ("fulfil", "allocate") else "unhold"
    award = Award(f"item:{item.id}", item.name or item.id, "redemption", item.cost, f"redeem.{op}",
                  {"item": item.id, "request": request_id, "cost": item.cost}, action=action,
                  reverses=((hold_seq, item.cost),), guards=(settled_marker(target),),
                  counters=tuple(k for k in (stock, limit) if k is not None),
                  extra={"item": item, "stock": stock, "limit": limit, "reason": reason or op, "count": count,
                         "applied": item.allocate is not None})
    event = Event(event_id or f"gp:{op}:{request_id}", op, subject, "-", at, {"request": request_id})
    return engine.plan(event, [award], fingerprint=_fingerprint(op, request_id))


def apply_redemption(decider: _Decider, plan: Plan, award: Award, steps: list[LimitStep]) -> str:
    """Post a redemption, hold, application, fulfilment or return. Returns the trace status."""
    item: ItemSpec = award.extra["item"]
    subject = plan.event.subject
    account = spendable(subject)
    stock: CounterKey | None = award.extra["stock"]
    limit: CounterKey | None = award.extra["limit"]
    if award.action in ("redeem", "hold", "apply"):
        balance = decider.balances.get(account, 0)
        minimum = item.eligibility.min_balance if item.eligibility and item.eligibility.min_balance else 0
        if balance < item.cost:
            raise RedemptionRefused("insufficient_balance", f"balance {balance} is below the cost {item.cost}",
                                    item=item.id, subject=subject)
        if balance < minimum:
            raise RedemptionRefused("not_eligible", f"balance {balance} is below the minimum {minimum}",
                                    item=item.id, subject=subject)
        if award.action != "apply":
            _take_stock(decider, item, subject, stock, limit, steps)
        reason = {"redeem": "redeemed", "hold": "held", "apply": "applied"}[award.action]
        target = REDEMPTIONS if award.action == "redeem" else held(subject)
        decider.post(plan, subject, account, target, item.cost, award.rule_id, reason)
        return reason
    ((seq, amount),) = award.reverses
    if award.action == "fulfil":
        if award.extra["applied"]:
            _take_stock(decider, item, subject, stock, limit, steps)
        decider.post(plan, subject, held(subject), REDEMPTIONS, amount, award.rule_id, "redeemed", reverses=seq)
        return "redeemed" if award.extra["reason"] == "fulfil" else "allocated"
    if not award.extra["applied"]:
        # A returned hold gives back the unit and the subject's use of the per-window limit.
        for key in (stock, limit):
            if key is not None:
                decider.add(key, -1)
    decider.post(plan, subject, held(subject), account, amount, award.rule_id, "returned", reverses=seq)
    return str(award.extra["reason"])


def _take_stock(decider: _Decider, item: ItemSpec, subject: str, stock: CounterKey | None, limit: CounterKey | None,
                steps: list[LimitStep]) -> None:
    counters = decider.counters
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


def expire_holds(engine: Engine, now: datetime) -> list[Decision]:
    """Return every hold whose window passed before ``now`` (points and stock come back)."""
    index = ledger_index(engine)
    holds = index.read(lambda index: [e for entries in index.holds.values() for e in entries])
    markers = {e.event_id: settled_marker(e.event_id) for e in holds}
    settled = engine.store.counters(engine.tenant, markers.values())
    index.forget(index.holds, [event_id for event_id, marker in markers.items() if settled[marker]])
    plans = []
    for entry in holds:
        if settled[markers[entry.event_id]]:
            continue
        record = engine.store.find_event(engine.tenant, entry.event_id)
        assert record is not None
        original = record.original().trace
        item = engine.policy.item(str(original.rules[0].base_args["item"]))
        if item is None or item.hold is None:
            continue
        placed = datetime.fromisoformat(original.occurred_local)
        deadline = placed + item.hold
        if now < deadline:
            continue
        request = entry.event_id.removeprefix("gp:redeem:")
        plans.append(_hold_settlement(engine, entry.subject, item, request, placed, "expire", deadline,
                                      event_id=f"gp:hold-expired:{request}", reason="expired"))
    return engine._submit(plans)


def earned(engine: Engine, subject: str, start: datetime, end: datetime) -> int:
    """Points the subject earned in ``[start, end)``: awards, verified awards, bonuses, and restored points
    of repairs that count for ranking."""
    total = 0
    for entry in engine.store.entries(engine.tenant, subject=subject):
        if entry.credit == spendable(subject) and counts_as_earned(engine, entry.reason, entry.rule):
            moment = datetime.fromisoformat(entry.occurred_at)
            if start <= moment < end:
                total += entry.amount
    return total


def counts_as_earned(engine: Engine, reason: str, rule_id: str) -> bool:
    if reason in EARNED_REASONS:
        return True
    if reason == "repair-restored":
        rule = engine.policy.rules_by_id.get(rule_id)
        if rule is not None and rule.spec.repair is not None:
            return engine.policy.repair(rule.spec.repair).counts_for_ranking
    return False


def tier(engine: Engine, subject: str, at: datetime) -> str | None:
    """The highest tier whose ``min_earned`` (over the last ``tier_months`` months) and
    ``max_open_violations`` (deductions in that time neither repaired nor reversed) the subject meets."""
    spec = engine.policy.spec
    if not spec.tiers:
        return None
    start = months_before(at, spec.tier_months)
    points = earned(engine, subject, start, at)
    deductions = {e.event_id for e in engine.store.entries(engine.tenant, subject=subject)
                  if e.reason == "deduction" and start <= datetime.fromisoformat(e.occurred_at) < at}
    markers = [settled_marker(d) for d in deductions]
    open_violations = sum(1 for v in engine.store.counters(engine.tenant, markers).values() if not v)
    best = None
    for candidate in spec.tiers:
        if points >= candidate.min_earned and (candidate.max_open_violations is None
                                               or open_violations <= candidate.max_open_violations):
            best = candidate.id
    return best


__all__ = ["EARNED_REASONS", "earned", "redeem", "settle_hold", "tier"]
