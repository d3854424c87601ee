"""What a host app shows a resident and a grid worker: a standing, a statement, a worker's grid view.

Read-only; each is a frozen value built from reads that scale with what it shows, never the whole ledger:
a standing reads the window's entries through the ledger index's time blocks (as leaderboards do) and the
subject's own entries for the tier; a statement reads the subject's own entries; a worker view reads the
index's open pending awards and deductions and the window's entries once for the grid's earnings.

Times: a statement places each entry by the time of the event it belongs to (``occurred_at``), as windows,
rankings and tiers do, so a late-submitted event lands in the window it happened in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from gridpoints.calendar import months_before
from gridpoints.engine._kernel import Context
from gridpoints.engine._plan import settled_marker
from gridpoints.engine.lifecycle._mall import tier
from gridpoints.engine.lifecycle._ranking import bounds, earned, earnings, grid_at, ranked, window_entries
from gridpoints.engine.lifecycle._repair import repairs
from gridpoints.model import Entry, held, pending, spendable


@attrs.frozen(slots=True)
class ResidentStanding:
    """A resident's place in a window's ranking (by points earned, as leaderboards rank) and the way up.

    ``rank`` is None when the subject earned too little to be ranked (then ``to_next_rank`` is what it takes
    to enter the ranking). ``to_next_rank``: points to pass the one ranked just above (None when first).
    ``tier`` / ``next_tier``: the 社区信用 tier now and the next one up; ``to_next_tier``: earned points still
    missing for it over the tier's look-back, and ``tier_blocked`` when open violations would hold it back
    even with the points."""

    subject: str
    window: str
    scope: str
    grid: str
    rank: int | None
    ranked: int
    earned: int
    to_next_rank: int | None
    tier: str | None
    next_tier: str | None
    to_next_tier: int | None
    tier_blocked: bool


@attrs.frozen(slots=True)
class Statement:
    """A resident's statement for a window (e.g. the monthly 积分对账单): the spendable balance at the
    window's start, every entry on their accounts that occurred in it, the balance at its end, and what
    stood pending verification and held for redemptions at its end."""

    subject: str
    window: str
    opening: int
    entries: tuple[Entry, ...]
    closing: int
    pending: int
    held: int
    earned: int

    @property
    def credits(self) -> int:
        """Points that came into the spendable account in the window."""
        account = spendable(self.subject)
        return sum(e.amount for e in self.entries if e.credit == account)

    @property
    def debits(self) -> int:
        """Points that left the spendable account in the window."""
        account = spendable(self.subject)
        return sum(e.amount for e in self.entries if e.debit == account)


@attrs.frozen(slots=True)
class OpenVerification:
    """An award waiting for a verifier: its event, beneficiary, points and deadline (local time)."""

    event_id: str
    subject: str
    points: int
    deadline: str


@attrs.frozen(slots=True)
class RepairDue:
    """An open repair in the grid: its deduction, subject, what remains to do and by when."""

    event_id: str
    subject: str
    repair: str
    remaining: Decimal
    deadline: str


@attrs.frozen(slots=True)
class WorkerView:
    """A grid worker's to-do list at ``now``: verifications waiting (soonest deadline first), repairs
    under way (soonest first) and residents to visit (主动上门: those holding one of the visit tags who
    earned at most ``visit_max_earned`` in the window so far)."""

    grid: str
    now: str
    window: str
    verifications: tuple[OpenVerification, ...]
    repairs_due: tuple[RepairDue, ...]
    visits: tuple[str, ...]


def standing(context: Context, subject: str, window: str, *, scope: str, at: datetime | None) -> ResidentStanding:
    """See :meth:`gridpoints.Engine.standing`."""
    if scope not in ("community", "grid"):
        raise ValueError(f"scope must be 'community' or 'grid', got {scope!r}")
    _, start, end = bounds(context, window)
    place = grid_at(context, subject, end - timedelta(microseconds=1))
    board = ranked(context, earnings(context, window_entries(context, start, end), window), end,
                   grid=place if scope == "grid" else None)
    mine = next((s for s in board if s.subject == subject), None)
    points = mine.earned if mine is not None else earned(context, subject, start, end)
    to_next: int | None
    rank: int | None
    if mine is None:
        # Unranked: to enter, earn the ranking's minimum (one point), or pass the last ranked.
        to_next = (board[-1].earned - points + 1) if board else 1 - points
        rank = None
    else:
        rank = mine.rank
        to_next = board[rank - 2].earned - points + 1 if rank > 1 else None
    moment = at if at is not None else end
    current, following, missing, blocked = _tier_gap(context, subject, moment)
    return ResidentStanding(subject, window, scope, place, rank, len(board), points, to_next, current, following,
                            missing, blocked)


def _tier_gap(context: Context, subject: str, at: datetime) -> tuple[str | None, str | None, int | None, bool]:
    spec = context.policy.spec
    if not spec.tiers:
        return None, None, None, False
    current = tier(context, subject, at)
    ids = [t.id for t in spec.tiers]
    position = ids.index(current) if current is not None else -1
    if position + 1 >= len(ids):
        return current, None, None, False
    following = spec.tiers[position + 1]
    points = earned(context, subject, months_before(at, spec.tier_months), at)
    missing = max(0, following.min_earned - points)
    # With the points there and still below it, open violations are what holds the subject back.
    return current, following.id, missing, missing == 0


def statement(context: Context, subject: str, window: str) -> Statement:
    """See :meth:`gridpoints.Engine.statement`."""
    _, start, end = bounds(context, window)
    account, waiting, holding = spendable(subject), pending(subject), held(subject)
    opening = closing = pending_at_end = held_at_end = 0
    inside: list[Entry] = []
    for entry in context.entries(subject=subject):
        moment = datetime.fromisoformat(entry.occurred_at)
        if moment >= end:
            continue
        change = _change(entry, account)
        if moment < start:
            opening += change
        elif change or _change(entry, waiting) or _change(entry, holding):
            inside.append(entry)
        closing += change
        pending_at_end += _change(entry, waiting)
        held_at_end += _change(entry, holding)
    return Statement(subject, window, opening, tuple(inside), closing, pending_at_end, held_at_end,
                     earned(context, subject, start, end))


def _change(entry: Entry, account: str) -> int:
    if entry.credit == account:
        return entry.amount
    if entry.debit == account:
        return -entry.amount
    return 0


def worker_view(context: Context, grid: str, now: datetime, *, window: str, visit_tags: frozenset[str],
                visit_max_earned: int) -> WorkerView:
    """See :meth:`gridpoints.Engine.worker_view`."""
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    index = context.index
    waiting, deductions = index.read(lambda index: (dict(index.pending), dict(index.deductions)))
    settled = context.counters([settled_marker(t) for t in (*waiting, *deductions)])
    verifications = []
    for target, moved in waiting.items():
        if settled[settled_marker(target)]:
            continue
        original = context.original(target)
        if original is None or (original.grid or "-") != grid:
            continue
        occurred = datetime.fromisoformat(original.occurred_local)
        deadline = occurred
        # The verification window is the one of the version that governs the award.
        policy = context.governing(target, original).policy
        for trace in original.rules:
            rule = policy.rules_by_id.get(trace.rule_id)
            if trace.status == "pending" and rule is not None and rule.spec.verify is not None:
                deadline = max(deadline, occurred + rule.spec.verify.within)
        verifications.append(OpenVerification(target, original.subject, sum(a for _, a, _ in moved),
                                              deadline.isoformat()))
    due = []
    for subject in sorted({s for t, s in deductions.items() if not settled[settled_marker(t)]}):
        if grid_at(context, subject, now) != grid:
            continue
        for status in repairs(context, subject):
            if status.status in ("open", "in_progress") and status.event_id in deductions:
                due.append(RepairDue(status.event_id, subject, status.repair, status.remaining, status.deadline))
    _, start, _end = bounds(context, window)
    so_far = earnings(context, window_entries(context, start, now), window)
    visits = sorted(
        m.subject for m in context.registry.memberships()
        if m.grid == grid and m.active(now) and m.tags & visit_tags
        and so_far.get(m.subject, (0, ""))[0] <= visit_max_earned
    )
    return WorkerView(grid, now.astimezone(context.policy.zone).isoformat(), window,
                      tuple(sorted(verifications, key=lambda v: (v.deadline, v.event_id))),
                      tuple(sorted(due, key=lambda r: (r.deadline, r.event_id))), tuple(visits))
