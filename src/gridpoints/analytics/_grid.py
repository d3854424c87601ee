"""Grid analytics: a heat map of points per household, anomaly triggers and a proactive-visit list.

These are the three uses the seed names for the data a points ledger holds (精准服务): a 热力图 of points per
household by grid and month, an anomaly that triggers a 专项服务 (a grid whose deductions stand well above
its own history or its peers), and 主动上门 (elderly residents with little or no activity, whom the grid
worker visits). All three read ledger entries and memberships only; they are pure functions, and the host
decides what to do with the result.
"""

from __future__ import annotations

import itertools
import math
import statistics
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, time, tzinfo
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import attrs

from gridpoints.calendar import WINDOW_KINDS, local_date, window_end, window_id, window_kind, window_start
from gridpoints.engine._coerce import RESERVED_ID_PREFIX
from gridpoints.model import DEDUCTIONS, ISSUANCE, Entry, Reason, pending, spendable
from gridpoints.model._registry import Membership

if TYPE_CHECKING:
    from gridpoints.policy._compile import Policy

#: grid → window id → category (or entry reason) → points per household.
Heat = dict[str, dict[str, dict[str, float]]]

#: Entry reasons that count as a resident's own activity for :func:`proactive_service`: an award when it is
#: made, or a pending award (a report waiting for verification) when it is submitted. ``verified`` is left
#: out so one report is not counted twice. Entries of events the engine makes itself (ids ``gp:…``:
#: scheduled base points, challenge bonuses) are not something the resident did and never count.
ACTIVITY_REASONS = Reason.ACTIVITY


def _zone(zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def _bounds(kind: str, window: str, zone: tzinfo) -> tuple[datetime, datetime]:
    return (datetime.combine(window_start(kind, window), time(), zone),
            datetime.combine(window_end(kind, window), time(), zone))


def _windows_between(kind: str, first: str, last: str) -> list[str]:
    found = [first]
    while found[-1] < last:
        found.append(window_id(kind, window_end(kind, found[-1])))
    return found


def _household(membership: Membership) -> str:
    return membership.household if membership.household is not None else f"subject:{membership.subject}"


def _by_subject(memberships: Iterable[Membership]) -> dict[str, list[Membership]]:
    found: dict[str, list[Membership]] = defaultdict(list)
    for record in memberships:
        found[record.subject].append(record)
    return found


def _grid_at(history: Mapping[str, list[Membership]], subject: str, moment: datetime) -> str | None:
    for record in history.get(subject, ()):
        if record.active(moment):
            return record.grid
    return None


class BySeq:
    """A small integer per ledger entry a tally counted, keyed by (tenant, seq), so that a correction's entry
    (:attr:`Reason.CORRECTED <gridpoints.model.Reason>`, linked by ``reverses``) can take back exactly what
    the entry it reverses added, in the window that entry was counted in, without the tally keeping entries.

    A ledger's seqs are dense and arrive in order, so the values sit in one ``array('i')`` per tenant (4 bytes
    an entry); a seq before the first one seen, or far past the last, goes to a dict instead.
    """

    #: What :meth:`get` returns for a seq never :meth:`put`.
    MISSING = -1
    #: A seq this far past the end of the array goes to the dict (a sparse stretch is not filled in).
    _GAP = 1 << 16

    def __init__(self) -> None:
        self._dense: dict[str, tuple[int, array[int]]] = {}
        self._sparse: dict[tuple[str, int], int] = {}

    def put(self, tenant: str, seq: int, value: int) -> None:
        """Remember ``value`` (≥ 0) for the entry ``(tenant, seq)``."""
        found = self._dense.get(tenant)
        if found is None:
            found = self._dense[tenant] = (seq, array("i"))
        base, values = found
        offset = seq - base
        if 0 <= offset < len(values) + self._GAP:
            if offset >= len(values):
                values.extend(itertools.repeat(self.MISSING, offset - len(values) + 1))
            values[offset] = value
        else:
            self._sparse[tenant, seq] = value

    def get(self, tenant: str, seq: int) -> int:
        """The value put for ``(tenant, seq)``, or :data:`MISSING`."""
        found = self._dense.get(tenant)
        if found is not None:
            offset = seq - found[0]
            if 0 <= offset < len(found[1]):
                value = found[1][offset]
                if value != self.MISSING:
                    return value
        return self._sparse.get((tenant, seq), self.MISSING)


def _signed(entry: Entry) -> int:
    """The entry's effect on its subject's spendable balance, counting only earning and deduction moves (a
    correction's entries are not: they take back what the entry they reverse added, see :class:`BySeq`)."""
    if entry.reason == Reason.CORRECTED:
        return 0
    account = spendable(entry.subject)
    if entry.credit == account and entry.debit in (ISSUANCE, pending(entry.subject), DEDUCTIONS):
        return entry.amount
    if entry.debit == account and entry.credit == DEDUCTIONS:
        return -entry.amount
    return 0


class HeatTally:
    """:func:`grid_heat`, one batch of entries at a time: a replay :meth:`register` s memberships as it learns
    them, adds each committed batch and asks for the map at the end, without keeping the entries.

    Sums are kept per grid, window, rule and reason, and named by category only in :meth:`result` (a
    replay learns some rules' categories as it goes). An entry is placed in the grid of its subject's
    first membership active at its time among those registered when it is added — later registrations
    append and never change that — and an entry whose subject had none then is placed again by
    :meth:`result`, so the map is what :func:`grid_heat` gives with every membership known up front.
    With ``complete`` (every membership is given here) such an entry is left out at once instead.
    """

    def __init__(self, memberships: Iterable[Membership] = (), *, zone: str | tzinfo = "Asia/Shanghai",
                 window_kind: str = "month", complete: bool = False) -> None:
        if window_kind not in WINDOW_KINDS:
            raise ValueError(f"unknown window kind {window_kind!r}; expected one of {', '.join(WINDOW_KINDS)}")
        self.zone = _zone(zone)
        self.window_kind = window_kind
        self.members: list[Membership] = []
        self._history: dict[str, list[Membership]] = defaultdict(list)
        self._sums: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        self._seen: set[str] = set()
        #: (subject, time, window, rule, reason, points) of entries whose subject had no membership then.
        self._unplaced: list[tuple[str, datetime, str, str, str, int]] = []
        #: The last entry time read: (its text, the moment, its window); an event's entries share it.
        self._last: tuple[str, datetime, str] | None = None
        self._complete = complete
        #: Where each counted entry went, for its correction: ``2·cell`` (an index into ``_cells``) when it was
        #: placed, ``2·k + 1`` when it is ``_unplaced[k]``.
        self._placed = BySeq()
        self._cells: list[tuple[tuple[str, str], tuple[str, str]]] = []
        self._cell_ids: dict[tuple[str, str, str, str], int] = {}
        for record in memberships:
            self.register(record)

    def register(self, membership: Membership) -> None:
        """Know one more membership (for entries added from now on, and for unplaced ones at the end)."""
        self.members.append(membership)
        self._history[membership.subject].append(membership)

    def add(self, entries: Iterable[Entry]) -> None:
        """Sum the entries that earn or deduct, and take back those a correction reverses (see
        :func:`grid_heat`)."""
        history, sums, last, placed = self._history, self._sums, self._last, self._placed
        for entry in entries:
            if entry.reason == Reason.CORRECTED:
                self._take_back(entry)
                continue
            amount = _signed(entry)
            if not amount:
                continue
            text = entry.occurred_at
            if last is None or last[0] != text:
                moment = datetime.fromisoformat(text)
                last = (text, moment, window_id(self.window_kind, local_date(moment, self.zone)))
            _, moment, window = last
            grid = _grid_at(history, entry.subject, moment)
            if grid is None:
                if not self._complete:
                    placed.put(entry.tenant, entry.seq, 2 * len(self._unplaced) + 1)
                    self._unplaced.append((entry.subject, moment, window, entry.rule, entry.reason, amount))
                continue
            self._seen.add(window)
            cell = sums.get((grid, window))
            if cell is None:
                cell = sums[grid, window] = {}
            key = (entry.rule, entry.reason)
            cell[key] = cell.get(key, 0) + amount
            placed.put(entry.tenant, entry.seq, 2 * self._cell(grid, window, key))
        self._last = last

    def _cell(self, grid: str, window: str, key: tuple[str, str]) -> int:
        ident = (grid, window, key[0], key[1])
        found = self._cell_ids.get(ident)
        if found is None:
            found = self._cell_ids[ident] = len(self._cells)
            self._cells.append(((grid, window), key))
        return found

    def _take_back(self, correction: Entry) -> None:
        """A correction's entry: what the entry it reverses added leaves that entry's cell (its grid and window)."""
        if correction.reverses is None:
            return
        where = self._placed.get(correction.tenant, correction.reverses)
        if where == BySeq.MISSING:
            return
        # The correction moves the amount the other way: out of spendable when the reversed entry paid in.
        amount = correction.amount if correction.debit == spendable(correction.subject) else -correction.amount
        if where % 2:
            subject, moment, window, rule, reason, _ = self._unplaced[where // 2]
            self._unplaced.append((subject, moment, window, rule, reason, -amount))
            return
        place, key = self._cells[where // 2]
        cell = self._sums[place]
        cell[key] -= amount

    def result(self, *, categories: Mapping[str, str] | None = None, windows: Iterable[str] | None = None) -> Heat:
        """The heat map of what was added (``categories`` and ``windows`` as in :func:`grid_heat`)."""
        kind, tz = self.window_kind, self.zone
        categories = categories or {}
        sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for place, by_rule in self._sums.items():
            named = sums[place]
            for (rule, reason), points in by_rule.items():
                named[categories.get(rule, reason)] += points
        seen = set(self._seen)
        for subject, moment, window, rule, reason, points in self._unplaced:
            grid = _grid_at(self._history, subject, moment)
            if grid is not None:
                seen.add(window)
                sums[grid, window][categories.get(rule, reason)] += points
        if windows is not None:
            span = sorted(set(windows))
            for window in span:
                window_start(kind, window)
        else:
            span = _windows_between(kind, min(seen), max(seen)) if seen else []
        heat: Heat = {}
        for window in span:
            start, end = _bounds(kind, window, tz)
            households: dict[str, set[str]] = defaultdict(set)
            for record in self.members:
                if record.overlaps(start, end):
                    households[record.grid].add(_household(record))
            for grid in sorted(households):
                count = len(households[grid])
                cell = sums.get((grid, window), {})
                heat.setdefault(grid, {})[window] = {cat: points / count for cat, points in sorted(cell.items())}
        return heat


def grid_heat(
    entries: Iterable[Entry], memberships: Iterable[Membership], *, categories: Mapping[str, str] | None = None,
    zone: str | tzinfo = "Asia/Shanghai", window_kind: str = "month", windows: Iterable[str] | None = None,
) -> Heat:
    """Points per household by category, per grid and calendar window: the data of a 热力图.

    Counted: every entry that moves points into or out of a subject's spendable balance by earning or
    deduction — awards, verified reports, worker credit and bonuses (positive), deductions (negative),
    and deductions given back by a repair or an upheld appeal (positive). An entry a correction (冲正)
    reversed leaves the cell it was counted in (its grid and window, not the correction's), whenever the
    correction was made; a correction's own entries are not counted. Redemptions, holds and expiry are
    spending, not activity, and are not counted. Each entry's key is ``categories[entry.rule]`` (build it
    from a policy: ``{r.id: r.category for r in policy.rules}``), or the entry's reason when the rule is not
    in ``categories``. Values are signed: a grid's ``deduction`` cell is negative.

    An entry belongs to the grid of its subject's membership at the entry's time; entries of subjects with
    no membership then are left out. A grid's households in a window are the distinct household ids of its
    memberships overlapping the window (a membership without one counts as a household of its own).

    Windows are those of ``window_kind`` in ``zone`` from the first to the last entry's window (or exactly
    ``windows`` if given); a grid appears in every window in which it has a household, with an empty
    mapping when nothing happened there, so quiet months count as history for :func:`anomalies`.
    """
    tally = HeatTally(memberships, zone=zone, window_kind=window_kind, complete=True)
    tally.add(entries)
    return tally.result(categories=categories, windows=windows)


def rule_categories(policy: Policy) -> dict[str, str]:
    """``{rule id: category}`` of a compiled policy, the ``categories`` argument of :func:`grid_heat`."""
    return {rule.id: rule.category for rule in policy.rules}


@attrs.frozen(slots=True)
class Anomaly:
    """A grid whose rate in a window stands well above its own history or its peers (see :func:`anomalies`).

    ``baseline`` is what the value was compared with (the mean of the grid's history, or the median of its
    peers); ``score`` is the standard score over the history, or the robust z-score among peers, and
    ``math.inf`` when the baseline values had no spread at all.
    """

    grid: str
    window: str
    metric: str
    value: float
    baseline: float
    reason: Literal["history", "peers"]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


#: MAD × 1/0.6745 estimates the standard deviation of normally distributed values (Iglewicz and Hoaglin).
_MAD_SCALE = 0.6745


def _rates(heat_or_rates: Mapping[str, Mapping[str, Any]], metric: str) -> dict[str, dict[str, float]]:
    rates: dict[str, dict[str, float]] = {}
    for grid, by_window in heat_or_rates.items():
        rates[grid] = {}
        for window, cell in by_window.items():
            value = cell.get(metric, 0.0) if isinstance(cell, Mapping) else cell
            rates[grid][window] = abs(float(value))
    return rates


def _judge(value: float, baseline: float, score: float, threshold: float, factor: float) -> bool:
    """Above ``factor`` × baseline and, where the baseline values spread at all (a finite score), a score
    above ``threshold``."""
    return value > factor * baseline and (math.isinf(score) or score > threshold)


def anomalies(
    heat_or_rates: Mapping[str, Mapping[str, Any]], *, metric: str = "deduction", k: float = 2.0,
    min_history: int = 3, history: int = 6, peer_z: float = 3.5, min_peers: int = 3, factor: float = 1.5,
    min_value: float = 0.0, windows: Collection[str] | None = None,
    rules: Collection[str] = ("history", "peers"),
) -> list[Anomaly]:
    """Grids whose ``metric`` rate stands well above their own history or their peers: 专项服务 triggers.

    Input is a heat map from :func:`grid_heat` (the value is ``abs(cell.get(metric, 0))``: deductions are
    negative there and their size is the rate) or plain rates ``{grid: {window: float}}`` (``abs`` too).
    For each grid and window (all, or those in ``windows``) with a value above ``min_value``:

    * **history** — the grid's values in up to ``history`` earlier windows present in the input (at least
      ``min_history`` of them): mean μ, population standard deviation σ. Flagged when
      ``value > factor·μ`` and ``(value − μ) / σ > k``; when σ = 0 the first test alone decides.
    * **peers** — the other grids' values in the same window (at least ``min_peers``; the grid itself is
      left out so an outlier does not raise its own bar): median m, MAD = median(|x − m|). Flagged when
      ``value > factor·m`` and the robust z-score ``0.6745·(value − m) / MAD > peer_z``; when MAD = 0 the
      first test alone decides.

    The relative test keeps a tiny absolute rise over a very steady baseline from raising an alarm; the
    statistical test keeps ordinary month-to-month noise from doing so. A grid flagged by both rules gives
    two records. Sorted by window, grid, then reason.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    if min_history < 1 or min_peers < 1 or history < min_history:
        raise ValueError("need 1 <= min_history <= history and min_peers >= 1")
    unknown = set(rules) - {"history", "peers"}
    if unknown:
        raise ValueError(f"unknown anomaly rules {sorted(unknown)}; expected 'history' and/or 'peers'")
    rates = _rates(heat_or_rates, metric)
    by_window: dict[str, dict[str, float]] = defaultdict(dict)
    for grid, values in rates.items():
        for window, value in values.items():
            by_window[window][grid] = value
    found: list[Anomaly] = []
    for grid, values in rates.items():
        ordered = sorted(values)
        for position, window in enumerate(ordered):
            value = values[window]
            if value <= min_value or (windows is not None and window not in windows):
                continue
            earlier = [values[w] for w in ordered[max(0, position - history):position]]
            if "history" in rules and len(earlier) >= min_history:
                mean, sigma = statistics.fmean(earlier), statistics.pstdev(earlier)
                score = (value - mean) / sigma if sigma else math.inf
                if _judge(value, mean, score, k, factor):
                    found.append(Anomaly(grid, window, metric, value, mean, "history", score))
            peers = [v for g, v in by_window[window].items() if g != grid]
            if "peers" in rules and len(peers) >= min_peers:
                median = statistics.median(peers)
                mad = statistics.median(abs(v - median) for v in peers)
                score = _MAD_SCALE * (value - median) / mad if mad else math.inf
                if _judge(value, median, score, peer_z, factor):
                    found.append(Anomaly(grid, window, metric, value, median, "peers", score))
    found.sort(key=lambda a: (a.window, a.grid, a.reason))
    return found


Resident = tuple[Membership, Mapping[str, Any]]


def _older(attributes: Mapping[str, Any]) -> bool:
    age = attributes.get("age", 0)
    return isinstance(age, int | float) and age >= 65


def proactive_service(
    residents: Iterable[Resident] | Mapping[str, Mapping[str, Any]], entries: Iterable[Entry], *, window: str,
    predicate: Callable[[Mapping[str, Any]], bool] = _older, max_positive_events: int = 0,
    zone: str | tzinfo = "Asia/Shanghai",
) -> list[str]:
    """Residents to visit (主动上门): those the host's ``predicate`` selects (by default age 65 or more) who
    had at most ``max_positive_events`` positive events in ``window`` (a window id: ``2026-04``,
    ``2026-W14`` …, in ``zone``).

    ``residents`` pairs each membership with the host's attributes for that subject (gridpoints keeps no
    ages or other personal facts); only memberships with the ``resident`` role that overlap the window
    count. A plain ``{subject: attributes}`` mapping skips the membership check. A positive event is a
    distinct event id with an entry of a reason in :data:`ACTIVITY_REASONS` for the subject, excluding events
    the engine made (scheduled base points, challenge bonuses) and entries a correction (冲正) reversed.
    Returned sorted by grid then subject (a mapping has no grids: by subject).
    """
    kind = window_kind(window)
    start, end = _bounds(kind, window, _zone(zone))
    candidates: dict[str, str] = {}
    if isinstance(residents, Mapping):
        for subject, attributes in residents.items():
            if predicate(attributes):
                candidates[subject] = ""
    else:
        for membership, attributes in residents:
            if "resident" in membership.roles and membership.overlaps(start, end) and predicate(attributes):
                candidates.setdefault(membership.subject, membership.grid)
    activity: dict[tuple[str, int], tuple[str, str]] = {}
    reversed_: set[tuple[str, int]] = set()
    for entry in entries:
        if entry.reason == Reason.CORRECTED and entry.reverses is not None:
            reversed_.add((entry.tenant, entry.reverses))
            continue
        if entry.subject not in candidates or entry.reason not in ACTIVITY_REASONS or entry.amount <= 0:
            continue
        if entry.event_id.startswith(RESERVED_ID_PREFIX):
            continue
        if start <= datetime.fromisoformat(entry.occurred_at) < end:
            activity[entry.tenant, entry.seq] = (entry.subject, entry.event_id)
    events: dict[str, set[str]] = defaultdict(set)
    for key, (subject, event_id) in activity.items():
        if key not in reversed_:
            events[subject].add(event_id)
    quiet = [(grid, subject) for subject, grid in candidates.items() if len(events[subject]) <= max_positive_events]
    return [subject for _, subject in sorted(quiet)]


__all__ = ["ACTIVITY_REASONS", "Anomaly", "BySeq", "Heat", "HeatTally", "anomalies", "grid_heat", "proactive_service",
           "rule_categories"]
