"""Period close: scheduled base points, leaderboards, challenges, scarce allocation, expiry, deadlines.

Every step is idempotent: base points and bonuses are events with ids derived from (rule or challenge,
window, subject); a challenge's or allocation's results are written in one batch guarded by a
"closed" marker, so a re-run changes nothing even if late events changed the ranking since.

Ranking (leaderboards, challenges, allocation) is :mod:`gridpoints.engine.lifecycle._ranking`'s.
Period-close events are dated at the window's start (base points: they are for that window) or its end
(bonuses and allocations, which therefore count toward the next window).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from gridpoints.calendar import months_before, previous_windows
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, closed_marker
from gridpoints.engine.lifecycle._mall import REDEMPTION_PREFIX, expire_holds, hold_settlement
from gridpoints.engine.lifecycle._ranking import Standing, bounds, earnings, grid_at, ranked, window_entries
from gridpoints.engine.lifecycle._repair import expire_repairs
from gridpoints.engine.lifecycle._settle import expire_pending
from gridpoints.engine.lifecycle._team import TeamStanding, close_team_challenge
from gridpoints.model import EXPIRED, CounterKey, Decision, Entry, Event, LimitStep, NoticeKind, Reason, spendable
from gridpoints.policy import _limits as limits

BATCH = 1000


class CloseAction(StrEnum):
    """Actions of period close."""

    #: A challenge's bonus (through the limits, like any award).
    BONUS = "bonus"
    #: Points that expire (first in, first out).
    EXPIRE_POINTS = "expire-points"
    #: The window is closed: later events in it are late.
    CLOSED = "closed"


@attrs.frozen(slots=True)
class Bonus:
    """A challenge bonus: the win counters it adds one to (for rotation)."""

    counts: tuple[CounterKey, ...]


@attrs.frozen(slots=True)
class PointsExpiry:
    """The balance the expiry was planned against (spending since then already used the oldest points)."""

    balance_seen: int


@attrs.frozen(slots=True)
class CloseReport:
    """What one period close did; each list holds the decisions written by this call (empty on a re-run)."""

    window: str
    base: tuple[Decision, ...]
    challenges: dict[str, tuple[Standing, ...]]
    allocations: dict[str, tuple[str, ...]]
    expired_points: tuple[Decision, ...]
    repairs_expired: tuple[Decision, ...]
    holds_expired: tuple[Decision, ...]
    pending_expired: tuple[Decision, ...]
    #: Team challenges' winners (see :mod:`._team`).
    teams: dict[str, tuple[TeamStanding, ...]] = attrs.field(factory=dict)


def _bonus(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    bonus: Bonus = award.payload
    for key in bonus.counts:
        decider.add(key, 1)
    decider.grant(plan, award, amount, steps, Reason.BONUS.value)
    title = award.args.get("title")
    # An honour for the challenge tells of itself (the honours mechanism); a bare title is told here.
    if title and not any(h.challenge == award.args["challenge"] for h in decider.context.policy.spec.honours):
        decider.notify(plan, NoticeKind.HONOUR_EARNED, plan.event.subject, title=title,
                       challenge=award.args["challenge"], window=award.args["window"])
    return "awarded"


def _expire_points(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    expiry: PointsExpiry = award.payload
    subject = plan.event.subject
    account = spendable(subject)
    balance = decider.balances.get(account, 0)
    # Spending since the expiry was planned already used some of the oldest points.
    spent_since = max(0, expiry.balance_seen - balance)
    amount = min(max(0, amount - spent_since), balance)
    if amount > 0:
        decider.post(plan, subject, account, EXPIRED, amount, award.rule_id, Reason.EXPIRED_POINTS.value)
    return "expired"


def _submit(context: Context, plans: list[Plan]) -> list[Decision]:
    written: list[Decision] = []
    for i in range(0, len(plans), BATCH):
        written.extend(d for d in context.commit(plans[i:i + BATCH]) if not d.duplicate)
    return written


def close_period(context: Context, window: str, now: datetime) -> CloseReport:
    """See :meth:`gridpoints.Engine.close_period`."""
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    kind, start, end = bounds(context, window)
    if now < end:
        raise ValueError(f"window {window} ends at {end.isoformat()}; close it after that, not at {now.isoformat()}")
    base = _submit(context, list(_base_plans(context, kind, window, start, end)))
    entries = window_entries(context, start, end)
    earned = earnings(context, entries, window)
    challenges = {c.id: _close_challenge(context, c.id, kind, window, earned, end)
                  for c in context.policy.spec.challenges if c.window == kind and c.team == "subject"}
    teams = {c.id: close_team_challenge(context, c, kind, window, earned, end)
             for c in context.policy.spec.challenges if c.window == kind and c.team != "subject"}
    allocations = {i.id: _allocate(context, i.id, kind, window, earned, entries, end)
                   for i in context.policy.spec.catalog if i.allocate is not None and i.allocate.window == kind}
    expired = _submit(context, list(_expiry_plans(context, window, end)))
    marker = closed_marker(kind, window)
    closing = Event(f"gp:closed:{window}", "period.closed", "-", "-", end, {"window": window})
    context.commit([context.plan(closing, [Award("period", "结账", "period", 0, "period.closed", {"window": window},
                                                 action=CloseAction.CLOSED, counters=(marker,))])])
    return CloseReport(
        window=window, base=tuple(base), challenges=challenges, allocations=allocations,
        expired_points=tuple(expired), repairs_expired=tuple(expire_repairs(context, now)),
        holds_expired=tuple(expire_holds(context, now)), pending_expired=tuple(expire_pending(context, now)),
        teams=teams,
    )


def close_older(context: Context, window: str, now: datetime, listed: frozenset[str]) -> CloseReport:
    """A period close's part for an older version the engine still holds: its own open items' deadlines
    (repairs, holds, pending verifications) by its rules, and the allocation of its items that no newer
    version held lists (``listed``: the newest version listing an item allocates it, among every
    application of the window). Base points, challenges and point expiry are the engine's own version's."""
    kind, start, end = bounds(context, window)
    entries = window_entries(context, start, end) if any(
        i.allocate is not None and i.allocate.window == kind and i.id not in listed
        for i in context.policy.spec.catalog) else []
    earned = earnings(context, entries) if entries else {}
    allocations = {i.id: _allocate(context, i.id, kind, window, earned, entries, end)
                   for i in context.policy.spec.catalog
                   if i.allocate is not None and i.allocate.window == kind and i.id not in listed}
    return CloseReport(window=window, base=(), challenges={}, allocations=allocations, expired_points=(),
                       repairs_expired=tuple(expire_repairs(context, now)),
                       holds_expired=tuple(expire_holds(context, now)),
                       pending_expired=tuple(expire_pending(context, now)))


def _base_plans(context: Context, kind: str, window: str, start: datetime, end: datetime) -> Iterable[Plan]:
    rules = context.policy.scheduled.get(kind, ())
    if not rules:
        return
    day = start.date()
    for membership in sorted(context.registry.memberships(), key=lambda m: (m.subject, str(m.since))):
        # Scheduled awards (the monthly residence base) are for residents, not for the staff who serve them.
        if "resident" not in membership.roles or not membership.overlaps(start, end):
            continue
        for rule in rules:
            assert isinstance(rule.spec.points, int)
            if not rule.in_force(start):
                continue
            event = Event(f"gp:period:{rule.id}:{window}:{membership.subject}", f"period.{kind}", membership.subject,
                          membership.grid, start, {}, membership.household)
            award = context.rule_award(rule, event, rule.spec.points, "base.fixed", {"points": rule.spec.points},
                                       day, {})
            yield context.plan(event, [award])


def _wins_keys(subject: str, name: str, kind: str, window: str, periods: int) -> list[CounterKey]:
    return [CounterKey("subject", subject, f"{name}:wins", w)
            for w in (window, *previous_windows(kind, window, periods - 1))]


def _close_challenge(context: Context, challenge_id: str, kind: str, window: str,
                     earnings: dict[str, tuple[int, str]], end: datetime) -> tuple[Standing, ...]:
    spec = next(c for c in context.policy.spec.challenges if c.id == challenge_id)
    marker = CounterKey("challenge", spec.id, "closed", window)
    if context.counter(marker):
        return ()
    inside = end - timedelta(microseconds=1)
    grids: list[str | None] = [None]
    if spec.scope == "grid":
        grids = [*sorted({grid_at(context, s, inside) for s in earnings})]
    winners: list[Standing] = []
    for grid in grids:
        taken = 0
        for standing in ranked(context, earnings, end, grid=grid, minimum=spec.min_earned):
            if taken == spec.top:
                break
            if spec.rotation is not None:
                keys = _wins_keys(standing.subject, f"challenge:{spec.id}", kind, window, spec.rotation.in_periods)
                wins = {k.window: v for k, v in context.counters(keys).items()}
                if not limits.rotation_allows(wins, kind, window, spec.rotation.max_wins, spec.rotation.in_periods):
                    continue
            winners.append(attrs.evolve(standing, rank=taken + 1))
            taken += 1
    plans = []
    for i, standing in enumerate(winners):
        won = CounterKey("subject", standing.subject, f"challenge:{spec.id}:wins", window)
        event = Event(f"gp:challenge:{spec.id}:{window}:{standing.subject}", "challenge", standing.subject,
                      standing.grid, end, {"challenge": spec.id, "window": window, "rank": standing.rank})
        award = Award(f"challenge:{spec.id}", spec.name or spec.id, spec.category, spec.bonus, "challenge.bonus",
                      {"challenge": spec.id, "window": window, "rank": standing.rank, "title": spec.title or "",
                       "earned": standing.earned},
                      action=CloseAction.BONUS, guards=(marker,) if i == 0 else (), counters=(won,),
                      payload=Bonus((won,)))
        plans.append(context.plan(event, [award]))
    # One transaction for all winners: the marker makes the whole result appear at most once.
    context.commit(plans)
    return tuple(winners)


def _allocate(context: Context, item_id: str, kind: str, window: str, earnings: dict[str, tuple[int, str]],
              window_entries: list[tuple[Entry, datetime]], end: datetime) -> tuple[str, ...]:
    item = context.policy.item(item_id)
    assert item is not None and item.allocate is not None
    marker = CounterKey("item", item.id, "allocated", window)
    if context.counter(marker):
        return ()
    applications: dict[str, tuple[str, datetime]] = {}
    for entry, placed in window_entries:
        if entry.reason == Reason.APPLIED and entry.rule == f"item:{item.id}":
            applications.setdefault(entry.subject, (entry.event_id.removeprefix(REDEMPTION_PREFIX), placed))
    ranked = sorted(applications, key=lambda s: (-earnings.get(s, (0, ""))[0], earnings.get(s, (0, ""))[1], s))
    winners: list[str] = []
    rotation = item.allocate.rotation
    for subject in ranked:
        if len(winners) == item.allocate.slots:
            break
        if rotation is not None:
            keys = _wins_keys(subject, f"item:{item.id}", kind, window, rotation.in_periods)
            wins = {k.window: v for k, v in context.counters(keys).items()}
            if not limits.rotation_allows(wins, kind, window, rotation.max_wins, rotation.in_periods):
                continue
        winners.append(subject)
    plans = []
    for subject in ranked:
        request, placed = applications[subject]
        won = subject in winners
        count = (CounterKey("subject", subject, f"item:{item.id}:wins", window),) if won else ()
        plans.append(hold_settlement(
            context, subject, item, request, placed, "allocate" if won else "release", end,
            event_id=f"gp:allocate:{item.id}:{window}:{subject}", reason="allocated" if won else "not_allocated",
            counts=count))
    if plans:
        first = plans[0]
        guarded = first.awards[0]._replace(guards=(*first.awards[0].guards, marker))
        plans[0] = first._replace(awards=(guarded,))
    context.commit(plans)
    return tuple(winners)


def _expiry_plans(context: Context, window: str, end: datetime) -> Iterable[Plan]:
    """FIFO expiry: points credited before the cutoff expire unless later spending already used them.

    Every debit from a spendable account (deduction, redemption, hold, earlier expiry) consumes the oldest
    points first; entries that undo a debit (returned holds, restored repairs, upheld appeals) give it back.
    So what may expire = earned before the cutoff − net debits so far, capped by the balance.
    """
    months = context.policy.spec.expire_after
    if months is None:
        return
    cutoff = months_before(end, months)
    old: dict[str, int] = {}
    debits: dict[str, int] = {}
    for entry in context.entries():
        account = spendable(entry.subject)
        if entry.credit == account:
            if entry.reason in Reason.ISSUED:
                if datetime.fromisoformat(entry.occurred_at) < cutoff:
                    old[entry.subject] = old.get(entry.subject, 0) + entry.amount
            else:
                debits[entry.subject] = debits.get(entry.subject, 0) - entry.amount
        elif entry.debit == account:
            debits[entry.subject] = debits.get(entry.subject, 0) + entry.amount
    balances = context.balances([spendable(s) for s in old])
    for subject, points in sorted(old.items()):
        expirable = min(points - max(debits.get(subject, 0), 0), balances[spendable(subject)])
        if expirable <= 0:
            continue
        event = Event(f"gp:expire-points:{window}:{subject}", "expire_points", subject, "-", end, {"window": window})
        award = Award("expiry", "积分过期", "expiry", expirable, "expiry.points", {"cutoff": cutoff.isoformat()},
                      action=CloseAction.EXPIRE_POINTS, payload=PointsExpiry(balances[spendable(subject)]))
        yield context.plan(event, [award])


def _closed(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    (marker,) = award.counters
    if not decider.counters.get(marker, 0):
        decider.add(marker, 1)
    return "closed"


MECHANISM = Mechanism(
    "close",
    handlers=(
        Handler(CloseAction.BONUS, _bonus, limited=True),
        Handler(CloseAction.EXPIRE_POINTS, _expire_points),
        Handler(CloseAction.CLOSED, _closed),
    ),
)
