"""Period close: scheduled base points, leaderboards, challenges, scarce allocation, expiry, deadlines.

Every step is idempotent: base points and bonuses are events with ids derived from (rule or challenge,
window, subject); a challenge's or allocation's results are written in one batch guarded by a
"closed" marker, so a re-run changes nothing even if late events changed the ranking since.

Ranking (leaderboards, challenges, allocation): points earned in the window (awards, verified awards,
bonuses; restored points only where the repair counts them; never grid workers' performance credits),
highest first; ties go to
whoever reached their total first (the earlier time of their last earning entry in the window), then to
the smaller subject id. Subjects are placed in the grid of their registry membership at the window's end.
Period-close events are dated at the window's start (base points: they are for that window) or its end
(bonuses and allocations, which therefore count toward the next window).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

import attrs

from gridpoints.calendar import previous_windows, window_end, window_kind, window_start
from gridpoints.engine._ledger_index import ledger_index
from gridpoints.engine._plan import Award, Plan
from gridpoints.engine.lifecycle._mall import _hold_settlement, counts_as_earned, expire_holds
from gridpoints.model import CounterKey, Decision, Entry, Event, spendable
from gridpoints.policy import _limits as limits

if TYPE_CHECKING:
    from gridpoints.engine._engine import Engine

BATCH = 1000
#: Credits of new points, which can expire; the other credits to a spendable account undo a debit.
_FRESH_CREDITS = frozenset({"award", "verified", "bonus", "credit"})


@attrs.frozen(slots=True)
class Standing:
    rank: int
    subject: str
    grid: str
    earned: int


@attrs.frozen(slots=True)
class CloseReport:
    """What one period close did; each list holds the decisions written by this call (empty on a re-run)."""

    window: str
    base: tuple[Decision, ...]
    challenges: dict[str, tuple[Standing, ...]]
    allocations: dict[str, tuple[str, ...]]
    expired_points: tuple[Decision, ...]
    repairs_expired: tuple[object, ...]
    holds_expired: tuple[Decision, ...]
    pending_expired: tuple[Decision, ...]


def _bounds(engine: Engine, window: str) -> tuple[str, datetime, datetime]:
    kind = window_kind(window)
    zone = engine.policy.zone
    start = datetime.combine(window_start(kind, window), time(), zone)
    end = datetime.combine(window_end(kind, window), time(), zone)
    return kind, start, end


def _grid_at(engine: Engine, subject: str, moment: datetime) -> str:
    found = engine.registry.membership(subject, moment)
    return found.grid if found is not None else "-"


def _window_entries(engine: Engine, start: datetime, end: datetime) -> list[tuple[Entry, datetime]]:
    """Entries that occurred in [start, end), with their time, in sequence order."""
    candidates = ledger_index(engine).read(lambda index: index.occurred_from(start))
    found = []
    for entry in candidates:
        moment = datetime.fromisoformat(entry.occurred_at)
        if start <= moment < end:
            found.append((entry, moment))
    return found


def _earnings(engine: Engine, window: list[tuple[Entry, datetime]]) -> dict[str, tuple[int, str]]:
    """Subject → (points earned in the window's entries, time of the last earning entry)."""
    found: dict[str, tuple[int, str]] = {}
    for entry, _ in window:
        if entry.credit != spendable(entry.subject) or not counts_as_earned(engine, entry.reason, entry.rule):
            continue
        points, last = found.get(entry.subject, (0, ""))
        found[entry.subject] = (points + entry.amount, max(last, entry.occurred_at))
    return found


def _ranked(engine: Engine, earnings: dict[str, tuple[int, str]], end: datetime, *, grid: str | None = None,
            minimum: int = 1) -> list[Standing]:
    inside = end - timedelta(microseconds=1)
    rows = []
    for subject, (points, last) in earnings.items():
        if points < minimum:
            continue
        place = _grid_at(engine, subject, inside)
        if grid is not None and place != grid:
            continue
        rows.append((-points, last, subject, place))
    rows.sort()
    return [Standing(i + 1, subject, place, -neg) for i, (neg, _, subject, place) in enumerate(rows)]


def leaderboard(engine: Engine, window: str, *, scope: str, grid: str | None, top: int) -> list[Standing]:
    """See :meth:`gridpoints.Engine.leaderboard`."""
    if scope not in ("community", "grid"):
        raise ValueError(f"scope must be 'community' or 'grid', got {scope!r}")
    if scope == "grid" and grid is None:
        raise ValueError("a grid leaderboard needs grid=…")
    _, start, end = _bounds(engine, window)
    earnings = _earnings(engine, _window_entries(engine, start, end))
    board = _ranked(engine, earnings, end, grid=grid if scope == "grid" else None)
    return board[:top]


def _submit(engine: Engine, plans: list[Plan]) -> list[Decision]:
    written: list[Decision] = []
    for i in range(0, len(plans), BATCH):
        written.extend(d for d in engine._submit(plans[i:i + BATCH]) if not d.duplicate)
    return written


def close_period(engine: Engine, window: str, now: datetime) -> CloseReport:
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    kind, start, end = _bounds(engine, window)
    if now < end:
        raise ValueError(f"window {window} ends at {end.isoformat()}; close it after that, not at {now.isoformat()}")
    base = _submit(engine, list(_base_plans(engine, kind, window, start, end)))
    window_entries = _window_entries(engine, start, end)
    earnings = _earnings(engine, window_entries)
    challenges = {c.id: _close_challenge(engine, c.id, kind, window, earnings, end)
                  for c in engine.policy.spec.challenges if c.window == kind}
    allocations = {i.id: _allocate(engine, i.id, kind, window, earnings, window_entries, end)
                   for i in engine.policy.spec.catalog if i.allocate is not None and i.allocate.window == kind}
    expired = _submit(engine, list(_expiry_plans(engine, window, end)))
    from gridpoints.engine.lifecycle._repair import expire_repairs

    return CloseReport(
        window=window, base=tuple(base), challenges=challenges, allocations=allocations,
        expired_points=tuple(expired), repairs_expired=tuple(expire_repairs(engine, now)),
        holds_expired=tuple(expire_holds(engine, now)), pending_expired=tuple(engine.expire_pending(now)),
    )


def _base_plans(engine: Engine, kind: str, window: str, start: datetime, end: datetime) -> Iterable[Plan]:
    rules = engine.policy.scheduled.get(kind, ())
    if not rules:
        return
    day = start.date()
    for membership in sorted(engine.registry.memberships(), key=lambda m: (m.subject, str(m.since))):
        # Scheduled awards (the monthly residence base) are for residents, not for the staff who serve them.
        if "resident" not in membership.roles or not membership.overlaps(start, end):
            continue
        for rule in rules:
            assert isinstance(rule.spec.points, int)
            event = Event(f"gp:period:{rule.id}:{window}:{membership.subject}", f"period.{kind}", membership.subject,
                          membership.grid, start, {}, membership.household)
            award = engine.rule_award(rule, event, rule.spec.points, "base.fixed", {"points": rule.spec.points},
                                      day, {})
            yield engine.plan(event, [award])


def _wins_keys(subject: str, name: str, kind: str, window: str, periods: int) -> list[CounterKey]:
    return [CounterKey("subject", subject, f"{name}:wins", w)
            for w in (window, *previous_windows(kind, window, periods - 1))]


def _close_challenge(engine: Engine, challenge_id: str, kind: str, window: str,
                     earnings: dict[str, tuple[int, str]], end: datetime) -> tuple[Standing, ...]:
    spec = next(c for c in engine.policy.spec.challenges if c.id == challenge_id)
    marker = CounterKey("challenge", spec.id, "closed", window)
    if engine.store.counters(engine.tenant, [marker])[marker]:
        return ()
    inside = end - timedelta(microseconds=1)
    grids: list[str | None] = [None]
    if spec.scope == "grid":
        grids = [*sorted({_grid_at(engine, s, inside) for s in earnings})]
    winners: list[Standing] = []
    for grid in grids:
        taken = 0
        for standing in _ranked(engine, earnings, end, grid=grid, minimum=spec.min_earned):
            if taken == spec.top:
                break
            if spec.rotation is not None:
                keys = _wins_keys(standing.subject, f"challenge:{spec.id}", kind, window, spec.rotation.in_periods)
                wins = {k.window: v for k, v in engine.store.counters(engine.tenant, keys).items()}
                if not limits.rotation_allows(wins, kind, window, spec.rotation.max_wins, spec.rotation.in_periods):
                    continue
            winners.append(attrs.evolve(standing, rank=taken + 1))
            taken += 1
    plans = []
    for i, standing in enumerate(winners):
        event = Event(f"gp:challenge:{spec.id}:{window}:{standing.subject}", "challenge", standing.subject,
                      standing.grid, end, {"challenge": spec.id, "window": window, "rank": standing.rank})
        award = Award(f"challenge:{spec.id}", spec.name or spec.id, spec.category, spec.bonus, "challenge.bonus",
                      {"challenge": spec.id, "window": window, "rank": standing.rank, "title": spec.title or "",
                       "earned": standing.earned},
                      action="bonus", guards=(marker,) if i == 0 else (),
                      counters=(CounterKey("subject", standing.subject, f"challenge:{spec.id}:wins", window),),
                      extra={"count": (CounterKey("subject", standing.subject, f"challenge:{spec.id}:wins",
                                                  window),)})
        plans.append(engine.plan(event, [award]))
    # One transaction for all winners: the marker makes the whole result appear at most once.
    engine._submit(plans)
    return tuple(winners)


def _allocate(engine: Engine, item_id: str, kind: str, window: str, earnings: dict[str, tuple[int, str]],
              window_entries: list[tuple[Entry, datetime]], end: datetime) -> tuple[str, ...]:
    item = engine.policy.item(item_id)
    assert item is not None and item.allocate is not None
    marker = CounterKey("item", item.id, "allocated", window)
    if engine.store.counters(engine.tenant, [marker])[marker]:
        return ()
    applications: dict[str, tuple[str, datetime]] = {}
    for entry, placed in window_entries:
        if entry.reason == "applied" and entry.rule == f"item:{item.id}":
            applications.setdefault(entry.subject, (entry.event_id.removeprefix("gp:redeem:"), placed))
    ranked = sorted(applications, key=lambda s: (-earnings.get(s, (0, ""))[0], earnings.get(s, (0, ""))[1], s))
    winners: list[str] = []
    rotation = item.allocate.rotation
    for subject in ranked:
        if len(winners) == item.allocate.slots:
            break
        if rotation is not None:
            keys = _wins_keys(subject, f"item:{item.id}", kind, window, rotation.in_periods)
            wins = {k.window: v for k, v in engine.store.counters(engine.tenant, keys).items()}
            if not limits.rotation_allows(wins, kind, window, rotation.max_wins, rotation.in_periods):
                continue
        winners.append(subject)
    plans = []
    for subject in ranked:
        request, placed = applications[subject]
        won = subject in winners
        count = (CounterKey("subject", subject, f"item:{item.id}:wins", window),) if won else ()
        plans.append(_hold_settlement(
            engine, subject, item, request, placed, "allocate" if won else "release", end,
            event_id=f"gp:allocate:{item.id}:{window}:{subject}", reason="allocated" if won else "not_allocated",
            count=count))
    if plans:
        first = plans[0]
        guarded = attrs.evolve(first.awards[0], guards=(*first.awards[0].guards, marker))
        plans[0] = attrs.evolve(first, awards=(guarded,))
    engine._submit(plans)
    return tuple(winners)


def _expiry_plans(engine: Engine, window: str, end: datetime) -> Iterable[Plan]:
    """FIFO expiry: points credited before the cutoff expire unless later spending already used them.

    Every debit from a spendable account (deduction, redemption, hold, earlier expiry) consumes the oldest
    points first; entries that undo a debit (returned holds, restored repairs, upheld appeals) give it back.
    So what may expire = earned before the cutoff − net debits so far, capped by the balance.
    """
    months = engine.policy.spec.expire_after
    if months is None:
        return
    from gridpoints.calendar import months_before

    cutoff = months_before(end, months)
    old: dict[str, int] = {}
    debits: dict[str, int] = {}
    for entry in engine.store.entries(engine.tenant):
        account = spendable(entry.subject)
        if entry.credit == account:
            if entry.reason in _FRESH_CREDITS:
                if datetime.fromisoformat(entry.occurred_at) < cutoff:
                    old[entry.subject] = old.get(entry.subject, 0) + entry.amount
            else:
                debits[entry.subject] = debits.get(entry.subject, 0) - entry.amount
        elif entry.debit == account:
            debits[entry.subject] = debits.get(entry.subject, 0) + entry.amount
    balances = engine.store.balances(engine.tenant, [spendable(s) for s in old])
    for subject, points in sorted(old.items()):
        expirable = min(points - max(debits.get(subject, 0), 0), balances[spendable(subject)])
        if expirable <= 0:
            continue
        event = Event(f"gp:expire-points:{window}:{subject}", "expire_points", subject, "-", end, {"window": window})
        award = Award("expiry", "积分过期", "expiry", expirable, "expiry.points", {"cutoff": cutoff.isoformat()},
                      action="expire-points", extra={"balance_seen": balances[spendable(subject)]})
        yield engine.plan(event, [award])
