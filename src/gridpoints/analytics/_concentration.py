"""Analytics over the ledger: how concentrated earned points are (积分垄断), and — re-exported from
:mod:`gridpoints.analytics._grid`, see ``docs/grid-analytics.md`` — the grid heat map, anomaly triggers and
the proactive-visit list.

A fair points scheme spreads its points over many residents; the seed warns against 积分垄断, a few
households collecting most of what a community hands out. The Gini coefficient, top shares and the Lorenz
curve make that measurable. They are exact: inputs are integers (points), results are
:class:`fractions.Fraction`, so a report, a test and an auditor get the same number without rounding noise.
Convert to float only for display.

The ledger readers (:func:`earned_by_subject`, :func:`concentration_for`, :func:`concentration_by_grid`)
are pure functions of ledger entries, e.g. ``engine.store.entries(engine.tenant)``; see
``docs/concentration.md`` for what each metric tells a community worker.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, time, tzinfo
from fractions import Fraction
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import attrs

from gridpoints.analytics._grid import (
    ACTIVITY_REASONS,
    Anomaly,
    BySeq,
    Heat,
    HeatTally,
    anomalies,
    grid_heat,
    proactive_service,
    rule_categories,
)
from gridpoints.calendar import window_end, window_start
from gridpoints.model import Entry, Reason, spendable

if TYPE_CHECKING:
    from gridpoints.policy._compile import Policy

#: A calendar window: its kind (``day`` / ``week`` / ``month`` / ``quarter`` / ``year``) and its id
#: (``2026-04`` …, see :mod:`gridpoints.calendar`).
Window = tuple[str, str]

#: Entry reasons :func:`earned_by_subject` counts by default: the points a resident earned, as rankings and
#: tiers count them (awards, verified awards, challenge bonuses; see :data:`gridpoints.model.Reason.EARNED`).
#: Bonuses are included on purpose: they are one of the ways points pile up at the top.
AWARD_REASONS = Reason.EARNED


def _points(values: Iterable[int]) -> list[int]:
    """The values as a sorted list of non-negative ints; raises on the first value that is not one."""
    found: list[int] = []
    for i, value in enumerate(values):
        if isinstance(value, bool):
            raise TypeError(f"values[{i}] is {value!r}: expected integer points, got a bool")
        try:
            points = operator.index(value)
        except TypeError:
            raise TypeError(f"values[{i}] is {value!r}: expected integer points, "
                            f"got {type(value).__name__}") from None
        if points < 0:
            raise ValueError(f"values[{i}] is {points}: concentration is measured on earned points, "
                             "which are never negative")
        found.append(points)
    found.sort()
    return found


def _gini_sorted(points: list[int]) -> Fraction:
    n, total = len(points), sum(points)
    if total == 0:
        return Fraction(0)
    # Σ_i Σ_j |x_i − x_j| = 2 Σ_{i<j} (x_j − x_i) over the ascending order, and for each j the inner sum is
    # j·x_j minus the prefix sum before it: one pass, so the cost is the sort's.
    pairs = prefix = 0
    for j, x in enumerate(points):
        pairs += j * x - prefix
        prefix += x
    # G = 2·pairs / (2 n² μ) with n μ = total.
    return Fraction(pairs, n * total)


def gini(values: Iterable[int]) -> Fraction:
    """The population Gini coefficient of non-negative integer points, exactly.

    ``G = Σ_i Σ_j |x_i − x_j| / (2 n² μ)``, computed in O(n log n) from the sorted values' prefix sums.
    0 is perfect equality; the largest value, ``(n − 1) / n``, is one holder with everything. Empty or
    all-zero input gives 0 (nobody holds more than anyone else). A negative value raises ``ValueError``
    naming its position; a non-integer raises ``TypeError``.
    """
    return _gini_sorted(_points(values))


def _parse_fraction(fraction: Fraction | float | str) -> Fraction:
    if isinstance(fraction, bool):
        raise TypeError(f"fraction must be a number or numeric text, got {fraction!r}")
    try:
        # str() first: a float's shortest repr is what the caller wrote, so 0.1 becomes exactly 1/10.
        share = Fraction(str(fraction)) if isinstance(fraction, float) else Fraction(fraction)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise ValueError(f"fraction must be a number in (0, 1] such as '0.1', got {fraction!r}") from exc
    if not 0 < share <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    return share


def _top_share_sorted(points: list[int], share: Fraction) -> Fraction:
    total = sum(points)
    if total == 0:
        return Fraction(0)
    # ceil(share·n) ≥ 1 because share > 0 and n > 0 whenever total > 0.
    count = math.ceil(share * len(points))
    return Fraction(sum(points[-count:]), total)


def top_share(values: Iterable[int], fraction: Fraction | float | str) -> Fraction:
    """The share of all points held by the top ``ceil(fraction · n)`` holders, exactly.

    Rounding is up, so with any holders at least one is counted: the top 10 % of 5 residents is the single
    largest holder, the top 1 % of 150 is two. ``fraction`` lies in (0, 1] and may be a Fraction, numeric
    text (``"0.01"``) or a float, read through its decimal text so ``0.1`` means exactly 1/10. Ties at the
    cut-off do not matter (equal values hold equal points). Empty or all-zero input gives 0.
    """
    return _top_share_sorted(_points(values), _parse_fraction(fraction))


def _lorenz_sorted(points: list[int]) -> list[tuple[Fraction, Fraction]]:
    n, total = len(points), sum(points)
    if n == 0:
        return [(Fraction(0), Fraction(0)), (Fraction(1), Fraction(1))]
    curve = [(Fraction(0), Fraction(0))]
    cumulative = 0
    for k, x in enumerate(points, start=1):
        cumulative += x
        # All zero: nobody holds more than anyone else, the line of equality (and Gini 0).
        curve.append((Fraction(k, n), Fraction(cumulative, total) if total else Fraction(k, n)))
    return curve


def lorenz(values: Iterable[int]) -> list[tuple[Fraction, Fraction]]:
    """The Lorenz curve: (share of holders, share of points they hold), poorest first.

    One point per holder after ``(0, 0)``, so the curve ends at ``(1, 1)``; ``[1, 2, 3, 4]`` gives
    (0, 0), (1/4, 1/10), (1/2, 3/10), (3/4, 3/5), (1, 1). Empty input gives just the two end points;
    all-zero input the line of equality. The area between the curve and the diagonal is half the Gini.
    """
    return _lorenz_sorted(_points(values))


@attrs.frozen(slots=True)
class Concentration:
    """How concentrated a set of holdings is: holders, total points, Gini, top 1 % and top 10 % shares, and
    the Lorenz curve (see :func:`gini`, :func:`top_share` and :func:`lorenz` for the exact definitions)."""

    n: int
    total: int
    gini: Fraction
    top1: Fraction
    top10: Fraction
    lorenz: tuple[tuple[Fraction, Fraction], ...]


def concentration(values: Iterable[int]) -> Concentration:
    """All concentration metrics of the values at once (validated and sorted once)."""
    points = _points(values)
    return Concentration(
        n=len(points), total=sum(points), gini=_gini_sorted(points),
        top1=_top_share_sorted(points, Fraction(1, 100)), top10=_top_share_sorted(points, Fraction(1, 10)),
        lorenz=tuple(_lorenz_sorted(points)),
    )


def _bounds(window: Window, zone: tzinfo) -> tuple[datetime, datetime]:
    kind, window_id = window
    # window_start / window_end raise ValueError for an unknown kind or a malformed id.
    return (datetime.combine(window_start(kind, window_id), time(), zone),
            datetime.combine(window_end(kind, window_id), time(), zone))


class EarnedTally:
    """:func:`earned_by_subject`, one batch of entries at a time: a replay adds each committed batch and asks
    for the result at the end, without keeping the entries (``zone``, ``window`` and ``reasons`` as there;
    ``grid_of`` and ``population`` are given to :meth:`result`). It remembers which entries it counted (see
    :class:`~gridpoints.analytics._grid.BySeq`), so a correction added later takes back exactly those."""

    def __init__(self, *, zone: str | tzinfo = "Asia/Shanghai", window: Window | None = None,
                 reasons: Iterable[str] = AWARD_REASONS) -> None:
        tz = ZoneInfo(zone) if isinstance(zone, str) else zone
        self._bounds = _bounds(window, tz) if window is not None else None
        self._counted = frozenset(reasons)
        self._earned: dict[str, int] = {}
        self._seen = BySeq()

    def add(self, entries: Iterable[Entry]) -> None:
        """Count the entries' earned points, less those of entries a correction among them reverses."""
        counted, bounds, earned, seen = self._counted, self._bounds, self._earned, self._seen
        for entry in entries:
            if entry.reason == Reason.CORRECTED:
                # The correction's entry mirrors the one it reverses: same subject, same amount.
                if entry.reverses is not None and seen.get(entry.tenant, entry.reverses) != BySeq.MISSING:
                    earned[entry.subject] -= entry.amount
                continue
            if entry.reason not in counted or entry.credit != spendable(entry.subject):
                continue
            if bounds is not None and not bounds[0] <= datetime.fromisoformat(entry.occurred_at) < bounds[1]:
                continue
            earned[entry.subject] = earned.get(entry.subject, 0) + entry.amount
            seen.put(entry.tenant, entry.seq, 0)

    def result(self, *, grid_of: Mapping[str, str] | None = None,
               population: Iterable[str] | None = None) -> dict[str, int]:
        """Points earned per subject so far, as :func:`earned_by_subject` gives them."""
        found: dict[str, int] = dict.fromkeys(population, 0) if population is not None else {}
        found.update(self._earned)
        if grid_of is not None:
            return {subject: points for subject, points in found.items() if subject in grid_of}
        return found


def earned_reasons(policy: Policy) -> frozenset[str]:
    """The entry reasons a ruleset counts as earned: :data:`AWARD_REASONS`, and staff adjustments' credits
    (``adjusted``) when its ``corrections.adjustments_earned`` says so (the ``reasons`` of
    :func:`earned_by_subject` for that ruleset's ledger)."""
    if policy.spec.corrections.adjustments_earned:
        return frozenset({*AWARD_REASONS, Reason.ADJUSTED})
    return frozenset(AWARD_REASONS)


def earned_by_subject(
    entries: Iterable[Entry], *, zone: str | tzinfo = "Asia/Shanghai", window: Window | None = None,
    grid_of: Mapping[str, str] | None = None, population: Iterable[str] | None = None,
    reasons: Iterable[str] = AWARD_REASONS,
) -> dict[str, int]:
    """Points each subject EARNED: award entries credited to the subject's spendable account.

    Deductions, redemptions and expiry are not subtracted: concentration measures what was handed out,
    not what is left to spend. An award a correction (冲正) reversed was not earned: it leaves the window it
    was counted in, whenever the correction was made (corrections follow what they reverse in ``entries``,
    as in any ledger). Staff adjustments (``adjusted``) count only when ``reasons`` names them (a ruleset's
    ``corrections.adjustments_earned``; see :func:`earned_reasons`). ``reasons`` names the entry reasons
    that count (default: awards, verified awards and challenge bonuses; pass ``{"award"}`` for direct awards
    only). With ``window`` (kind, id),
    only entries whose ``occurred_at`` falls in that calendar window in ``zone`` count. With ``grid_of``,
    only subjects it places in a grid count. Subjects in ``population`` appear with 0 when they earned
    nothing; others who earned nothing do not appear. (:class:`EarnedTally` counts the same batch by batch.)
    """
    tally = EarnedTally(zone=zone, window=window, reasons=reasons)
    tally.add(entries)
    return tally.result(grid_of=grid_of, population=population)


def concentration_for(
    entries: Iterable[Entry], window: Window | None = None, *, zone: str | tzinfo = "Asia/Shanghai",
    population: Iterable[str] | None = None, reasons: Iterable[str] = AWARD_REASONS,
) -> Concentration:
    """Community-wide concentration of earned points (see :func:`earned_by_subject`).

    Pass the registry's residents as ``population``: a community's Gini must include the residents who
    earned nothing, and without them it measures only inequality among those who took part.
    """
    earned = earned_by_subject(entries, zone=zone, window=window, population=population, reasons=reasons)
    return concentration(earned.values())


def concentration_by_grid(
    entries: Iterable[Entry], grid_of: Mapping[str, str], window: Window | None = None, *,
    zone: str | tzinfo = "Asia/Shanghai", population: Iterable[str] | None = None,
    reasons: Iterable[str] = AWARD_REASONS,
) -> dict[str, Concentration]:
    """Concentration of earned points within each grid, keyed by grid id in sorted order.

    ``grid_of`` places subjects in grids; earners it does not place are left out. A grid appears when at
    least one subject counts in it; pass ``population`` (the registry's residents) so residents who earned
    nothing count, as in :func:`concentration_for`.
    """
    earned = earned_by_subject(entries, zone=zone, window=window, grid_of=grid_of, population=population,
                               reasons=reasons)
    by_grid: dict[str, list[int]] = defaultdict(list)
    for subject, points in earned.items():
        by_grid[grid_of[subject]].append(points)
    return {grid: concentration(by_grid[grid]) for grid in sorted(by_grid)}


__all__ = [
    "ACTIVITY_REASONS",
    "AWARD_REASONS",
    "Anomaly",
    "Concentration",
    "EarnedTally",
    "Heat",
    "HeatTally",
    "Window",
    "anomalies",
    "concentration",
    "concentration_by_grid",
    "concentration_for",
    "earned_by_subject",
    "earned_reasons",
    "gini",
    "grid_heat",
    "lorenz",
    "proactive_service",
    "rule_categories",
    "top_share",
]
