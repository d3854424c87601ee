"""What counts as earned, and rankings by it: leaderboards, and the standings challenges and allocation use.

Ranking: points earned in the window (:attr:`Reason.EARNED <gridpoints.model.Reason>` entries of rules and
categories that count for ranking — not base points nor adjustments unless the ruleset says so; restored
points only where the repair counts them; never grid workers' performance credits), highest first; ties go
to whoever reached their total first (the earlier time of their last earning entry in the window), then to
the smaller subject id. Subjects are placed in the grid of their registry membership at the window's end.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import attrs

from gridpoints.calendar import window_end, window_kind, window_start
from gridpoints.engine._kernel import Context
from gridpoints.engine._plan import corrected_after_close
from gridpoints.model import Entry, Reason, spendable


@attrs.frozen(slots=True)
class Standing:
    """One place in a ranking: rank (1 first), subject, their grid at the window's end, points earned."""

    rank: int
    subject: str
    grid: str
    earned: int


def counts_as_earned(context: Context, reason: str, rule_id: str) -> bool:
    """Whether an entry to a spendable account counts for rankings: an earning reason, from a rule (or
    challenge) whose category counts for ranking (base points and adjustments do not, by default), or restored
    points where the repair counts them."""
    if reason in Reason.EARNED:
        return context.policy.counts_for_ranking(rule_id)
    if reason == Reason.ADJUSTED:
        return context.policy.spec.corrections.adjustments_earned
    if reason == Reason.REPAIR_RESTORED:
        rule = context.policy.rules_by_id.get(rule_id)
        if rule is not None and rule.spec.repair is not None:
            return context.policy.repair(rule.spec.repair).counts_for_ranking
    return False


def earned(context: Context, subject: str, start: datetime, end: datetime) -> int:
    """Points the subject earned in ``[start, end)``, less those a correction reversed."""
    window = [(entry, moment) for entry in context.entries(subject=subject)
              if start <= (moment := datetime.fromisoformat(entry.occurred_at)) < end]
    found = earnings(context, window).get(subject)
    return found[0] if found is not None else 0


def bounds(context: Context, window: str) -> tuple[str, datetime, datetime]:
    """A window id's kind and its local start and end."""
    kind = window_kind(window)
    zone = context.policy.zone
    start = datetime.combine(window_start(kind, window), time(), zone)
    end = datetime.combine(window_end(kind, window), time(), zone)
    return kind, start, end


def grid_at(context: Context, subject: str, moment: datetime) -> str:
    found = context.registry.membership(subject, moment)
    return found.grid if found is not None else "-"


def window_entries(context: Context, start: datetime, end: datetime) -> list[tuple[Entry, datetime]]:
    """Entries that occurred in [start, end), with their time, in sequence order."""
    candidates = context.index.read(lambda index: index.occurred_from(start))
    found = []
    for entry in candidates:
        moment = datetime.fromisoformat(entry.occurred_at)
        if start <= moment < end:
            found.append((entry, moment))
    return found


def earnings(context: Context, window: list[tuple[Entry, datetime]], window_id: str | None = None
             ) -> dict[str, tuple[int, str]]:
    """Subject → (points earned in the window's entries, time of the last earning entry). An earning entry a
    correction (冲正) reversed does not count, whatever window the correction is in — unless the correction was
    made after ``window_id`` (the window ranked, if it is one) had been closed: a closed period's results stand."""
    corrected = context.index.read(lambda index: dict(index.corrections)) if window else {}
    if corrected and window_id is not None:
        here = {entry.seq: corrected_after_close(corrected[entry.seq], window_id)
                for entry, _ in window if entry.seq in corrected}
        if here:
            stands = context.counters(set(here.values()))
            corrected = {seq: by for seq, by in corrected.items() if seq not in here or not stands[here[seq]]}
    found: dict[str, tuple[int, str]] = {}
    for entry, _ in window:
        if entry.credit != spendable(entry.subject) or not counts_as_earned(context, entry.reason, entry.rule):
            continue
        if corrected and entry.seq in corrected:
            continue
        points, last = found.get(entry.subject, (0, ""))
        found[entry.subject] = (points + entry.amount, max(last, entry.occurred_at))
    return found


def ranked(context: Context, earned_in: dict[str, tuple[int, str]], end: datetime, *, grid: str | None = None,
           minimum: int = 1) -> list[Standing]:
    inside = end - timedelta(microseconds=1)
    rows = []
    for subject, (points, last) in earned_in.items():
        if points < minimum:
            continue
        place = grid_at(context, subject, inside)
        if grid is not None and place != grid:
            continue
        rows.append((-points, last, subject, place))
    rows.sort()
    return [Standing(i + 1, subject, place, -neg) for i, (neg, _, subject, place) in enumerate(rows)]


def leaderboard(context: Context, window: str, *, scope: str, grid: str | None, top: int) -> list[Standing]:
    """See :meth:`gridpoints.Engine.leaderboard`."""
    if scope not in ("community", "grid"):
        raise ValueError(f"scope must be 'community' or 'grid', got {scope!r}")
    if scope == "grid" and grid is None:
        raise ValueError("a grid leaderboard needs grid=…")
    _, start, end = bounds(context, window)
    board = ranked(context, earnings(context, window_entries(context, start, end), window), end,
                   grid=grid if scope == "grid" else None)
    return board[:top]
