"""Team challenges and leaderboards (楼栋/网格评比): households, buildings or grids compete.

A team's points in a window are its members' earned points together (as :mod:`._ranking` counts them);
a subject belongs to the team of its registry membership at the window's end — its household (a subject
without one is a household of one), its building (``Membership.building``; a subject without one is in no
building team) or its grid. Ties go, as for residents, to the team that reached its total first (the later
of its members' last earning times), then to the smaller team id. Rotation counts a team's wins.

A winning team's members — the residents of the team at the window's end — are paid by the challenge's
``split``: ``each`` member gets the bonus; ``equal`` shares the bonus (the remainder one point each to the
members who earned most, then by subject id); ``proportional`` shares it in proportion to what each member
earned in the window (largest remainders, the same order on a tie), so a member who earned nothing gets
nothing. Each member's payment is its own event (``gp:challenge:<id>:<window>:<subject>``) and carries
the challenge's title to any honour that names it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from gridpoints.calendar import previous_windows
from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan
from gridpoints.engine.lifecycle._ranking import bounds, earnings, window_entries
from gridpoints.model import CounterKey, Event, LimitStep, Membership, Reason
from gridpoints.policy import _limits as limits
from gridpoints.ruleset import ChallengeSpec


class TeamAction(StrEnum):
    """The team challenge's action: one member's share of a winning team's bonus."""

    BONUS = "team-bonus"


@attrs.frozen(slots=True)
class TeamWin:
    """The team's win counter, added to once (on its first member's payment)."""

    counts: tuple[CounterKey, ...]


def _bonus(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    win: TeamWin = award.payload
    for key in win.counts:
        decider.add(key, 1)
    decider.grant(plan, award, amount, steps, Reason.BONUS.value)
    return "awarded"


@attrs.frozen(slots=True)
class TeamStanding:
    """One team's place: rank (1 first), team id, its grid, points earned together, its members (residents at
    the window's end, by subject id) and, for a winner, what each was paid (by subject)."""

    rank: int
    team: str
    grid: str
    earned: int
    members: tuple[str, ...]
    paid: tuple[tuple[str, int], ...] = ()


def team_of(kind: str, membership: Membership) -> str | None:
    if kind == "household":
        return membership.household if membership.household is not None else f"subject:{membership.subject}"
    if kind == "building":
        return membership.building
    return membership.grid


def _members(context: Context, kind: str, inside: datetime) -> dict[str, list[Membership]]:
    teams: dict[str, list[Membership]] = {}
    for membership in context.registry.memberships():
        if "resident" not in membership.roles or not membership.active(inside):
            continue
        team = team_of(kind, membership)
        if team is not None:
            teams.setdefault(team, []).append(membership)
    for members in teams.values():
        members.sort(key=lambda m: m.subject)
    return teams


def ranked_teams(context: Context, earned: dict[str, tuple[int, str]], end: datetime, kind: str, *,
                 grid: str | None = None, minimum: int = 1) -> tuple[list[TeamStanding], dict[str, int]]:
    """Teams by points earned together, and each member's own points (see the module docstring)."""
    inside = end - timedelta(microseconds=1)
    teams = _members(context, kind, inside)
    own: dict[str, int] = {}
    rows = []
    for team, members in teams.items():
        points, last = 0, ""
        for member in members:
            mine, when = earned.get(member.subject, (0, ""))
            own[member.subject] = mine
            points, last = points + mine, max(last, when)
        place = members[0].grid
        if points < minimum or (grid is not None and place != grid):
            continue
        rows.append((-points, last, team, place, tuple(m.subject for m in members)))
    rows.sort()
    return [TeamStanding(i + 1, team, place, -neg, members)
            for i, (neg, _, team, place, members) in enumerate(rows)], own


def split(bonus: int, how: str, members: tuple[str, ...], own: dict[str, int]) -> list[tuple[str, int]]:
    """What each member of a winning team is paid (see the module docstring)."""
    order = sorted(members, key=lambda s: (-own.get(s, 0), s))
    if how == "each":
        return [(s, bonus) for s in members]
    if how == "equal":
        share, rest = divmod(bonus, len(members))
        extra = set(order[:rest])
        return [(s, share + (s in extra)) for s in members]
    total = sum(max(own.get(s, 0), 0) for s in members)
    if total <= 0:
        return [(s, 0) for s in members]
    floors = {s: bonus * max(own.get(s, 0), 0) // total for s in members}
    rest = bonus - sum(floors.values())
    by_remainder = sorted(members, key=lambda s: (-(bonus * max(own.get(s, 0), 0) % total), -own.get(s, 0), s))
    for s in by_remainder[:rest]:
        floors[s] += 1
    return [(s, floors[s]) for s in members]


def _wins_keys(team: str, challenge: str, kind: str, window: str, periods: int) -> list[CounterKey]:
    return [CounterKey("team", team, f"challenge:{challenge}:wins", w)
            for w in (window, *previous_windows(kind, window, periods - 1))]


def close_team_challenge(context: Context, spec: ChallengeSpec, kind: str, window: str,
                         earned: dict[str, tuple[int, str]], end: datetime) -> tuple[TeamStanding, ...]:
    """Rank the teams of a team challenge, pay the winners' members; idempotent per window."""
    marker = CounterKey("challenge", spec.id, "closed", window)
    if context.counter(marker):
        return ()
    board, own = ranked_teams(context, earned, end, spec.team, minimum=spec.min_earned)
    grids: list[str | None] = [None]
    if spec.scope == "grid":
        grids = [*sorted({t.grid for t in board})]
    winners: list[TeamStanding] = []
    for grid in grids:
        taken = 0
        for standing in board:
            if taken == spec.top:
                break
            if grid is not None and standing.grid != grid:
                continue
            if spec.rotation is not None:
                keys = _wins_keys(standing.team, spec.id, kind, window, spec.rotation.in_periods)
                wins = {k.window: v for k, v in context.counters(keys).items()}
                if not limits.rotation_allows(wins, kind, window, spec.rotation.max_wins, spec.rotation.in_periods):
                    continue
            taken += 1
            winners.append(attrs.evolve(standing, rank=taken, paid=tuple(split(spec.bonus, spec.split,
                                                                             standing.members, own))))
    plans: list[Plan] = []
    for standing in winners:
        won = CounterKey("team", standing.team, f"challenge:{spec.id}:wins", window)
        for number, (subject, amount) in enumerate(standing.paid):
            facts = {"challenge": spec.id, "window": window, "rank": standing.rank, "team": standing.team}
            event = Event(f"gp:challenge:{spec.id}:{window}:{subject}", "challenge", subject, standing.grid, end,
                          facts)
            counts = (won,) if number == 0 else ()
            award = Award(f"challenge:{spec.id}", spec.name or spec.id, spec.category, amount, "challenge.team",
                          {**facts, "title": spec.title or "", "earned": standing.earned,
                           "team_kind": spec.team, "split": spec.split, "members": len(standing.paid)},
                          action=TeamAction.BONUS, guards=(marker,) if not plans else (), counters=counts,
                          payload=TeamWin(counts))
            plans.append(context.plan(event, [award]))
    # One transaction for all winners' members: the marker makes the whole result appear at most once.
    if plans:
        context.commit(plans)
    return tuple(winners)


def team_leaderboard(context: Context, window: str, *, team: str, scope: str, grid: str | None,
                     top: int) -> list[TeamStanding]:
    """See :meth:`gridpoints.Engine.team_leaderboard`."""
    if team not in ("household", "building", "grid"):
        raise ValueError(f"team must be 'household', 'building' or 'grid', got {team!r}")
    if scope not in ("community", "grid"):
        raise ValueError(f"scope must be 'community' or 'grid', got {scope!r}")
    if scope == "grid" and (grid is None or team == "grid"):
        raise ValueError("a grid team leaderboard needs grid=… and households or buildings")
    _, start, end = bounds(context, window)
    board, _ = ranked_teams(context, earnings(context, window_entries(context, start, end), window), end, team,
                            grid=grid if scope == "grid" else None)
    return board[:top]


MECHANISM = Mechanism("team", handlers=(Handler(TeamAction.BONUS, _bonus, limited=True),))
