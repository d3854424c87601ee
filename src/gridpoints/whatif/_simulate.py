"""Replay an event log under a ruleset and measure what a community worker and an auditor look at.

:func:`simulate` feeds events in order through an :class:`~gridpoints.Engine` by the one batching rule of
every replay (:mod:`gridpoints.whatif._log`: ``submit_many`` batches, cut before an event that settles or
repairs one in the batch; redemption lines in log order), closes every period the log passes (base
points, challenges, expiry of unverified awards and of repairs) when the first event after its end
arrives, and the last month after the last event. The result
is a :class:`SimulationSummary`, whose :meth:`~SimulationSummary.to_dict` is the document
:func:`gridpoints.whatif._report.write_report` draws and ``gridpoints simulate --json`` prints.

By default a replay keeps live state only (``keep_ledger=False``): a
:class:`~gridpoints.storage._live.LiveStore` holds balances, counters of open windows, the chain head and
what later decisions read back; each committed batch of entries is summed into the figures as it is
written (and, with ``entries_out`` or ``sink``, streamed to a JSON Lines file or a callable), and after
each period close the store drops what :func:`retention` says no later decision reads. The figures are
those of a full replay: the same sums over the same entries in the same order. ``keep_ledger=True`` (or a
store passed in, which is then the ledger) keeps every entry instead and sums them at the end.

:func:`compare` plays the same log through two rulesets in one pass (two stores) and returns a
:class:`Comparison`: per-resident deltas of points earned, winners and losers, rank agreement, and both
summaries.

Definitions (each figure says what it counts):

- *issued*: points credited to a spendable account for activity — awards (including scheduled base
  points), verified reports, challenge bonuses and grid workers' credits; *deducted*: deductions as
  posted (after the floor); *restored* / *reversed*: deductions given back by a repair or an upheld appeal.
- *earned* (leaderboard, concentration, compare): :attr:`Reason.EARNED <gridpoints.model.Reason>` entries of
  registered residents (grid workers are not ranked against the residents they serve).
- *participation* of a grid in a month: the share of its registered residents (memberships with the
  ``resident`` role overlapping the month) with at least one event of their own that month that earned
  or would earn points (an award above zero, or a report pending verification). Engine-made events (base
  points, bonuses) do not count: everyone gets those.
- a limit *applied* each time a trace step names it; it *bit* when the step's code ends in
  ``truncated``, ``rejected`` or ``reduced``; ``points_cut`` sums requested − granted over those steps.
- *liability*: the sum of positive spendable balances at the end (points the community owes), valued at
  the catalog's cheapest item (value ÷ cost) when the catalog gives values; with the residents' median,
  90th-percentile and largest balance.

Without a roster the registered population is whoever appears in the log: each subject is registered as
a resident of the grid and household of their first event, each unknown actor as that grid's worker.

A live replay fails (:class:`ReplayError`) on an event that occurred before the oldest state it kept — a
log out of order by more than :func:`retention`'s look-back — where a full replay would still decide it;
replay such a log with ``keep_ledger=True``.

Redemptions (积分商城) are not events: the host calls :meth:`~gridpoints.Engine.redeem`. A log carries one
as a *redemption line* (see :mod:`gridpoints.whatif._log`). The replay treats it in log order like an
event: periods ending at or before its ``at`` close first, the queued events are submitted (so the balance
is current), then the engine is asked. A refusal is an outcome, tallied by reason under
``redemptions.refused``; a malformed line, and an item the catalog does not have (reason ``unknown_item``:
the log, not the resident, is wrong), raise :class:`ReplayError` with the line.
"""

from __future__ import annotations

import gc
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import attrs

from gridpoints.analytics import _concentration as analytics
from gridpoints.analytics._concentration import EarnedTally, earned_reasons
from gridpoints.analytics._grid import HeatTally
from gridpoints.calendar import WINDOW_KINDS, months_before, previous_windows, window_end, window_id, window_start
from gridpoints.engine._engine import Engine
from gridpoints.engine.lifecycle import HONOURED, adjustment_event_id, correction_event_id, redemption_event_id
from gridpoints.errors import EventError
from gridpoints.model import DEDUCTIONS, ISSUANCE, Decision, Entry, Event, LimitStep, Reason, held, pending, spendable
from gridpoints.model._registry import Membership, MemoryRegistry
from gridpoints.policy._compile import Policy
from gridpoints.storage import MemoryStore, Store
from gridpoints.storage._live import PRUNED_SUBJECT, JsonlSink, LiveStore, Sink
from gridpoints.whatif._log import (
    CORRECT_KEY,
    DEFAULT_BATCH,
    REDEEM_FIELDS,
    REDEEM_KEY,
    Batcher,
    EventLike,
    ReplayError,
    apply_staff_action,
    implied_members,
    located,
    parse_redemption,
    parse_staff_action,
    read_jsonl,
    redeem,
    settling_types,
    staff_kind,
    submit_batch,
)

#: Trace step outcomes that mean a limit cut something.
LIMIT_BITS = ("truncated", "rejected", "reduced")
#: Entry reasons of points issued for activity (see the module docstring).
ISSUED_REASONS = Reason.ISSUED
#: Entry reasons of the points mall (积分商城).
REDEMPTION_REASONS = Reason.REDEMPTION
#: Most points kept of a Lorenz curve in a summary (evenly spaced holders; both ends always kept).
LORENZ_POINTS = 201
_KIND_ORDER = {kind: i for i, kind in enumerate(WINDOW_KINDS)}
#: Entries read back from the ledger per step of a full replay's summing-up.
_CHUNK = 4096
#: Places in a decision's compact limit steps (:class:`LimitStep` field order).
_S_LIMIT, _S_KIND, _S_REQUESTED, _S_GRANTED, _S_CODE = (
    LimitStep._fields.index(name) for name in ("limit_id", "kind", "requested", "granted", "code"))

@attrs.frozen(slots=True)
class SimulationSummary:
    """What one replay did. Immutable; :meth:`to_dict` gives the stable JSON document (the report's input).

    Keys of ``to_dict()``: ``ruleset`` (id@version), ``period`` {start, end} (local dates of the first and
    last event), ``totals``, ``by_category`` {category: {issued, deducted, restored, reversed}},
    ``by_rule`` {rule: {category, matched, issued, deducted, restored, reversed}}, ``limits`` {id:
    {applied, bit, points_cut}}, ``participation`` {grid: {"YYYY-MM": 0..1}}, ``earned_by_subject``
    {resident: points}, ``grid_of`` {resident: grid}, ``heat`` {grid: {month: {category: points per
    household}}}, ``concentration`` {gini, top10, top1, n, total, lorenz [[x, y], …]}, ``leaderboard``
    [{subject, grid, earned}] (the last month's top 10), ``repairs``, ``redemptions`` {count, points, held,
    applied, returned, allocated (ledger entries), requests (redemption lines replayed), refused {reason:
    count}, by_item}, ``liability``, ``honours`` {earned {honour: times}, streaks_completed {streak: runs}},
    ``corrections`` {count, points, after_close, rows [{event, subject, window, corrected_in, points, reason,
    actor, after_close}]} (冲正 from the log's correction lines; ``points`` are the points each reversed, a
    deduction's negative; ``window`` and ``corrected_in`` are the months of the event and of its correction;
    ``after_close`` whether that month was closed when it was corrected) and ``late`` {events, points,
    by_window {window: {events, points}}} (events recorded after their window was closed, by the closed
    window they fell in).
    """

    ruleset: str
    period: Mapping[str, str]
    totals: Mapping[str, int | float]
    by_category: Mapping[str, Mapping[str, int]]
    by_rule: Mapping[str, Mapping[str, Any]]
    limits: Mapping[str, Mapping[str, int]]
    participation: Mapping[str, Mapping[str, float]]
    earned_by_subject: Mapping[str, int]
    grid_of: Mapping[str, str]
    heat: Mapping[str, Mapping[str, Mapping[str, float]]]
    concentration: Mapping[str, Any]
    leaderboard: Sequence[Mapping[str, Any]]
    repairs: Mapping[str, int]
    redemptions: Mapping[str, Any]
    liability: Mapping[str, Any]
    honours: Mapping[str, Mapping[str, int]] = attrs.field(factory=dict)
    corrections: Mapping[str, Any] = attrs.field(factory=dict)
    late: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: plain dicts and lists, ints and floats, keys in a fixed order."""
        result: dict[str, Any] = json.loads(json.dumps(attrs.asdict(self, recurse=False), default=_plain))
        return result


def _plain(value: Any) -> Any:
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | list | set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# -- reading --------------------------------------------------------------------------------------------


def memberships(rows: Iterable[Mapping[str, Any]], *, source: str = "roster") -> list[Membership]:
    """Memberships from roster rows (``subject``, ``grid``, optional ``household``, ``roles`` [default
    resident], ``since`` / ``until`` ISO times, ``building``, ``tags``, ``age_band``); other keys (``age`` …)
    are host attributes and ignored."""
    found: list[Membership] = []
    for number, row in enumerate(rows, start=1):
        try:
            since, until = row.get("since"), row.get("until")
            found.append(Membership(
                str(row["subject"]), str(row["grid"]), row.get("household"), tuple(row.get("roles", ("resident",))),
                datetime.fromisoformat(since) if isinstance(since, str) else since,
                datetime.fromisoformat(until) if isinstance(until, str) else until,
                str(row["building"]) if row.get("building") is not None else None,
                tuple(row.get("tags", ())), row.get("age_band"),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"{source}:{number}: not a membership ({exc!r})") from None
    return found


def read_roster(path: str | Path) -> list[Membership]:
    """Memberships from a roster JSON Lines file (as ``gridpoints synth --roster`` writes)."""
    return memberships((row for _, row in read_jsonl(path)), source=str(path))


# -- one replay -----------------------------------------------------------------------------------------


@attrs.define
class _Tally:
    """Counts kept while decisions stream by."""

    events: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    matched: Counter[str] = attrs.field(factory=Counter)
    limits: dict[str, list[int]] = attrs.field(factory=dict)
    active: dict[tuple[str, str], set[str]] = attrs.field(factory=lambda: defaultdict(set))
    statuses: Counter[str] = attrs.field(factory=Counter)
    repairs: Counter[str] = attrs.field(factory=Counter)
    #: Honours earned (by honour id) and streaks completed (by streak id).
    honours: Counter[str] = attrs.field(factory=Counter)
    streaks: Counter[str] = attrs.field(factory=Counter)
    categories: dict[str, str] = attrs.field(factory=dict)
    requests: int = 0
    refused: Counter[str] = attrs.field(factory=Counter)
    #: Rows of the corrections made (see :class:`SimulationSummary`), and staff adjustments (count, points).
    corrections: list[dict[str, Any]] = attrs.field(factory=list)
    adjustments: Counter[str] = attrs.field(factory=Counter)
    #: Late events by the closed window they fell in: [events, points].
    late: dict[str, list[int]] = attrs.field(factory=dict)


class _Figures:
    """The summary's ledger figures, summed batch by batch of entries in sequence order: as they are
    committed (live) or as they are read back from the ledger at the end (``keep_ledger``)."""

    def __init__(self, zone: Any, heat: HeatTally, reasons: Iterable[str] = Reason.EARNED) -> None:
        self.by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        self.points_expired = 0
        self.redemptions: Counter[str] = Counter()
        self.by_item: dict[str, Counter[str]] = defaultdict(Counter)
        #: Every subject an entry names (for the balances behind the liability).
        self.subjects: set[str] = set()
        self.earned = EarnedTally(zone=zone, reasons=reasons)
        self.heat = heat
        #: Net points staff adjustments moved to residents' spendable balances.
        self.points_adjusted = 0

    def add(self, entries: Sequence[Entry]) -> None:
        by_rule, redemptions, by_item, subjects = self.by_rule, self.redemptions, self.by_item, self.subjects
        for entry in entries:
            subjects.add(entry.subject)
            account, reason, rule = spendable(entry.subject), entry.reason, entry.rule
            if reason == Reason.CORRECTED:
                # A correction's entry mirrors the one it reverses: an award (from issuance, or verified from
                # pending) leaves what was issued, a deduction what was deducted, in the original's rule.
                if entry.debit == account and entry.credit in (ISSUANCE, pending(entry.subject)):
                    by_rule[rule]["issued"] -= entry.amount
                elif entry.credit == account and entry.debit == DEDUCTIONS:
                    by_rule[rule]["deducted"] -= entry.amount
            elif entry.credit == account and reason in ISSUED_REASONS:
                by_rule[rule]["issued"] += entry.amount
            elif entry.debit == account and entry.credit == DEDUCTIONS:
                by_rule[rule]["deducted"] += entry.amount
            elif reason == Reason.REPAIR_RESTORED:
                by_rule[rule]["restored"] += entry.amount
            elif reason == Reason.APPEAL_UPHELD:
                by_rule[rule]["reversed"] += entry.amount
            elif reason == Reason.EXPIRED_POINTS:
                self.points_expired += entry.amount
            elif reason == Reason.ADJUSTED:
                self.points_adjusted += entry.amount if entry.credit == account else -entry.amount
            if reason in REDEMPTION_REASONS:
                redemptions[reason] += 1
                redemptions[f"{reason}_points"] += entry.amount
                by_item[rule.removeprefix("item:")][reason] += 1
        self.earned.add(entries)
        self.heat.add(entries)


def closed_kinds(policy: Policy) -> list[str]:
    """The window kinds a replay closes, shortest first: month (the summary's periods), and the windows of
    scheduled awards, challenges and scarce-item allocation."""
    spec = policy.spec
    kinds = {"month", *policy.scheduled, *(c.window for c in spec.challenges),
             *(i.allocate.window for i in spec.catalog if i.allocate is not None)}
    return sorted(kinds, key=_KIND_ORDER.__getitem__)


@attrs.frozen(slots=True)
class Retention:
    """What a live replay keeps after a period close (see :func:`retention`), as cutoffs in the policy's
    zone: entries that occurred from ``entries``; deductions (their records, entries and markers) from
    ``deductions``; counters of windows that end after ``counters``. ``earliest`` is the oldest event time
    the replay still decides exactly as a full replay would."""

    earliest: datetime
    entries: datetime
    deductions: datetime
    counters: datetime


def retention(policy: Policy, now: datetime) -> Retention | None:
    """How far back what a replay decides after ``now`` (a period close's time) can read, or None when
    nothing may be dropped (points expire: ``expire_after`` sums the whole ledger).

    A later event may come out of order by up to one full window of the longest kind the replay closes
    (:func:`closed_kinds`; usually a month): ``earliest`` is the start of the window before the one in
    progress. Everything an event at or after ``earliest`` reads is kept:

    - entries from the start of the window in progress of each kind the replay closes (its close ranks
      that window's entries; the month's also give the summary's leaderboard), and over ``tier_months``
      before ``earliest`` when an item's eligibility names tiers (a tier counts earned points and open
      violations over that time). Entries and records of open items (pending awards, holds, applications,
      repairs under way) are kept by the store until they are settled, whatever their age;
    - deductions from ``earliest`` less the longest appeal or repair window (a dismissed appeal reads a
      deduction however it was settled; a tier counts its settled marker);
    - counters back to ``earliest`` less the longest verification or hold window (a verification reads the
      report's limit windows, a returned hold the placement's), and to the first of the ``in_periods``
      windows a challenge's or allocation's rotation looks at. A counter goes only once its window ended
      before that: an event reads only windows containing its own time (or its report's, or its hold's).
    """
    spec = policy.spec
    if spec.expire_after is not None:
        return None
    zone = policy.zone
    day = now.astimezone(zone).date()

    def start(kind: str, window: str) -> datetime:
        return datetime.combine(window_start(kind, window), time(), zone)

    kinds = closed_kinds(policy)
    longest = kinds[-1]
    earliest = start(longest, previous_windows(longest, window_id(longest, day), 1)[0])
    entries = min(start(kind, window_id(kind, day)) for kind in kinds)
    settling = [rule.spec.appeal.within for rule in policy.rules if rule.spec.appeal is not None]
    settling += [repair.within for repair in spec.repairs]
    deductions = earliest - max(settling, default=timedelta(0))
    if spec.tiers and any(item.eligibility is not None and item.eligibility.tiers for item in spec.catalog):
        tiers = months_before(earliest, spec.tier_months)
        entries, deductions = min(entries, tiers), min(deductions, tiers)
    reading = [rule.spec.verify.within for rule in policy.rules if rule.spec.verify is not None]
    reading += [item.hold for item in spec.catalog if item.hold is not None]
    counters = min(entries, earliest - max(reading, default=timedelta(0)))
    rotations = [(c.window, c.rotation) for c in spec.challenges]
    rotations += [(i.allocate.window, i.allocate.rotation) for i in spec.catalog if i.allocate is not None]
    for kind, rotation in rotations:
        if rotation is not None and rotation.in_periods > 1:
            oldest = previous_windows(kind, window_id(kind, day), rotation.in_periods - 1)[-1]
            counters = min(counters, start(kind, oldest))
    return Retention(earliest, entries, deductions, counters)


class Replay:
    """One engine replaying one log: batches, period closes and streaming tallies; :meth:`finish` sums up.

    ``roster`` registers memberships first; without it subjects and actors are registered as they appear
    (see the module docstring). ``source`` names the log in error messages.

    The ledger: without ``store``, a :class:`~gridpoints.storage._live.LiveStore` (live state only, pruned
    after each period close; see the module docstring), or with ``keep_ledger`` a memory store keeping
    every entry. A store passed in is the ledger (every entry is read back at the end), unless it is a
    ``LiveStore``, which is replayed live. The committed entries go to ``sink`` (a callable taking each
    batch) and to a JSON Lines file at ``entries_out`` (one entry per line; see
    :class:`~gridpoints.storage._live.JsonlSink`), as they are committed in a live replay, at the end
    otherwise. :meth:`finish` (or :meth:`close`) closes that file.

    ``freeze_gc`` moves everything alive into the collector's permanent generation after each batch
    (``gc.freeze()``) and back at :meth:`finish` (``gc.unfreeze()``): a memory store keeps millions of
    long-lived objects, and full collections re-scanning them were a fifth of a long replay's time. It is
    process-wide, so it is off by default; the commands and the benchmark turn it on.
    """

    def __init__(self, policy: Policy, store: Store | None = None, roster: Iterable[Membership] | None = None, *,
                 tenant: str = "default", batch: int = DEFAULT_BATCH, source: str = "events",
                 freeze_gc: bool = False, keep_ledger: bool = False, sink: Sink | None = None,
                 entries_out: str | Path | None = None) -> None:
        self._batcher = Batcher(policy, self._submit, batch)
        self.policy = policy
        self.registry = MemoryRegistry()
        if store is None:
            store = MemoryStore() if keep_ledger else LiveStore()
        #: The live store being replayed into, or None when the store keeps the whole ledger.
        self.live = store if isinstance(store, LiveStore) else None
        # Every replay batch runs with the collector paused (its batches are cut short before settlements,
        # so many are smaller than the engine's default threshold); a replay is one thread.
        self.engine = Engine(policy, store, tenant=tenant, registry=self.registry, pause_collector=1)
        self.batch_size = batch
        self.source = source
        self.freeze_gc = freeze_gc
        self.inferred = roster is None
        self.members: list[Membership] = []
        self._heat = HeatTally(zone=policy.zone, complete=not self.inferred)
        for record in roster or ():
            self.registry.add(record)
            self._member(record)
        self.known = {m.subject for m in self.members}
        self._figures = _Figures(policy.zone, self._heat, earned_reasons(policy))
        self._owned: list[JsonlSink] = [JsonlSink(entries_out)] if entries_out is not None else []
        self._sinks: list[Sink] = [*([sink] if sink is not None else []), *self._owned]
        if self.live is not None:
            self.live.subscribe(self._committed)
        #: The oldest event time the last prune kept what is needed to decide (:attr:`Retention.earliest`), and
        #: the oldest entry time it kept (:attr:`Retention.entries`: what a correction reverses).
        self._kept_from: datetime | None = None
        self._entries_from: datetime | None = None
        self._closed_at: datetime | None = None
        self._tally = _Tally()
        self._rules = set(policy.rules_by_id)
        self._settling = settling_types(policy)
        self._kinds = closed_kinds(policy)
        self._windows: dict[str, str] = {}
        self._first: datetime | None = None
        self._last: datetime | None = None
        self._next: tuple[datetime, str] | None = None
        self._closed: list[str] = []
        self._repairs_expired = 0

    # -- feeding --------------------------------------------------------------------------------------

    def feed(self, event: EventLike, line: int | None = None) -> None:
        """Queue one event (submitted with its batch); closes the periods its time has passed first.

        A redemption line (a mapping whose key is ``redeem``) is not queued but asked of the engine at once,
        after the queued events (see the module docstring)."""
        if not isinstance(event, Event) and REDEEM_KEY in event:
            self._redeem(event, line)
            return
        if staff_kind(event) is not None:
            assert not isinstance(event, Event)  # a staff line is a mapping
            self._staff(event, line)
            return
        moment, event_id, subject, actor, grid, household = _fields(event)
        if moment is None:
            self._fail(EventError("missing or not an ISO time with offset", field="occurred_at",
                                  event_id=event_id), line)
        self._advance(moment, line, event_id)
        if self.inferred:
            self._infer(subject, grid, household, actor)
        self._batcher.add(event, line)

    def _advance(self, moment: datetime, line: int | None, event_id: Any = None) -> None:
        """Move the replay's clock to ``moment``, closing the periods it passes and, live, pruning after them
        (an earlier time is counted out of order and closes nothing; live, one older than what was kept is
        refused unless its id was recorded: a resubmission is answered from the id alone)."""
        if self._first is None:
            self._first = moment.astimezone(self.policy.zone)
            self._windows = {kind: window_id(kind, self._first.date()) for kind in self._kinds}
            self._next = self._next_close()
        if self._last is not None and moment < self._last:
            self._tally.out_of_order += 1
            if self._kept_from is not None and moment < self._kept_from and not self._recorded(event_id):
                self._fail(ReplayError(
                    f"occurred at {moment.isoformat()}, before {self._kept_from.isoformat()}: a live replay "
                    f"keeps what events up to one period out of order read, not older; replay this log with "
                    f"keep_ledger=True (--keep-ledger)"), line)
        else:
            # Aware datetimes compare as instants: no zone conversion per event.
            self._last = moment
            if self._next is not None and self._next[0] <= moment:
                self._close_until(moment)
                self._prune()

    def _recorded(self, event_id: Any) -> bool:
        """Whether the store knows the id (a resubmission needs nothing older than that)."""
        return isinstance(event_id, str) and self.engine.store.find_event(self.engine.tenant, event_id) is not None

    def _prune(self) -> None:
        """Live: drop what no later decision reads (see :func:`retention`), as of the last period close."""
        if self.live is None or self._closed_at is None:
            return
        kept = retention(self.policy, self._closed_at)
        if kept is None:
            return
        self.live.prune(kept.entries, deductions_cutoff=kept.deductions, counters_cutoff=kept.counters,
                        tenant=self.engine.tenant)
        self._kept_from = kept.earliest
        self._entries_from = kept.entries

    def _committed(self, entries: Sequence[Entry]) -> None:
        """A live store committed a batch: sum it up and pass it on."""
        if entries[0].tenant != self.engine.tenant:
            return
        self._figures.add(entries)
        for sink in self._sinks:
            sink(entries)

    def _redeem(self, line_data: Mapping[str, Any], line: int | None) -> None:
        try:
            request = parse_redemption(line_data)
        except ValueError as exc:
            self._fail(exc, line)
        self._advance(request.at, line, redemption_event_id(request.request))
        self.flush()
        self._tally.requests += 1
        try:
            _, reason = redeem(self.engine, request)
        except ValueError as exc:
            self._fail(exc, line)
        if reason is not None:
            self._tally.refused[reason] += 1

    def _staff(self, line_data: Mapping[str, Any], line: int | None) -> None:
        """A correction or adjustment line: in log order, after the queued events (as a redemption line)."""
        try:
            action = parse_staff_action(line_data)
        except ValueError as exc:
            self._fail(exc, line)
        correcting = action.kind == CORRECT_KEY
        own_id = correction_event_id(action.target) if correcting else adjustment_event_id(action.target)
        self._advance(action.at, line, own_id)
        self.flush()
        original = self.engine.decision(action.target) if correcting else None
        if original is not None and self.live is not None and not self._recorded(own_id):
            moment = original.trace.occurred_local
            if original.subject == PRUNED_SUBJECT or (
                    self._entries_from is not None and datetime.fromisoformat(moment) < self._entries_from):
                self._fail(ReplayError(
                    f"corrects {action.target!r}, an event older than a live replay keeps the entries of; replay "
                    "this log with keep_ledger=True (--keep-ledger)"), line)
        try:
            decision = apply_staff_action(self.engine, action)
        except ValueError as exc:
            self._fail(exc, line)
        if decision.duplicate:
            self._tally.duplicates += 1
            return
        if original is None:
            self._tally.adjustments["count"] += 1
            self._tally.adjustments["points"] += decision.points
            return
        window = original.trace.occurred_local[:7]
        self._tally.corrections.append({
            "event": action.target, "subject": decision.subject, "window": window,
            "corrected_in": window_id("month", action.at.astimezone(self.policy.zone).date()),
            "points": -decision.points, "reason": action.reason, "actor": action.actor,
            "after_close": window in self._closed,
        })

    def feed_all(self, events: Iterable[EventLike]) -> None:
        for event in events:
            self.feed(event)

    def flush(self) -> None:
        """Submit the queued batch."""
        self._batcher.flush()

    def _submit(self, batch: list[EventLike], lines: list[int | None]) -> None:
        decisions = submit_batch(self.engine, batch, lines, self.source)
        self._tally.events += len(batch)
        for decision in decisions:
            self._count(decision)
        if self.freeze_gc:
            gc.freeze()

    def _fail(self, exc: Exception, line: int | None) -> NoReturn:
        raise located(self.source, line, exc) from exc

    def _infer(self, subject: str | None, grid: str | None, household: str | None, actor: str | None) -> None:
        for record in implied_members(subject, grid, household, actor, self.known):
            self.registry.add(record)
            self._member(record)

    def _member(self, record: Membership) -> None:
        self.members.append(record)
        if "resident" in record.roles:
            self._heat.register(record)

    # -- closing periods --------------------------------------------------------------------------------

    def _next_close(self) -> tuple[datetime, str] | None:
        best: tuple[datetime, int, str] | None = None
        for kind in self._kinds:
            window = self._windows[kind]
            end = datetime.combine(window_end(kind, window), time(), self.policy.zone)
            if best is None or (end, _KIND_ORDER[kind]) < best[:2]:
                best = (end, _KIND_ORDER[kind], kind)
        return (best[0], best[2]) if best is not None else None

    def _close_until(self, moment: datetime) -> None:
        while self._next is not None and self._next[0] <= moment:
            self._close(*self._next)
            self._next = self._next_close()

    def _close(self, end: datetime, kind: str) -> None:
        self.flush()
        window = self._windows[kind]
        report = self.engine.close_period(window, now=end)
        for decision in (*report.base, *report.pending_expired):
            self._count(decision)
        # A challenge's decisions are not in the report: its winners each earned its honours' title.
        for honour in self.policy.spec.honours:
            if honour.challenge is not None:
                self._tally.honours[honour.id] += len(report.challenges.get(honour.challenge, ())) + sum(
                    len(team.paid) for team in report.teams.get(honour.challenge, ()))
        self._repairs_expired += len(report.repairs_expired)
        self._closed.append(window)
        self._closed_at = end
        self._windows[kind] = window_id(kind, end.date())

    # -- tallies ----------------------------------------------------------------------------------------

    def _count(self, decision: Decision) -> None:
        # The decision's compact trace (plain tuples): the replay reads every decision, and building
        # its trace objects would cost more than the counting.
        tally = self._tally
        if decision.duplicate:
            tally.duplicates += 1
            return
        head, rules = decision.compact()
        own = not decision.event_id.startswith("gp:") and head[0] not in self._settling
        active = False
        categories, known = tally.categories, self._rules
        # A compact rule is a RuleTrace's fields in order (gridpoints.model.RuleData).
        for rule_id, _, category, base, _, args, steps, granted, status, _ in rules:
            if rule_id not in categories:
                categories[rule_id] = category
            if own and rule_id in known:
                tally.matched[rule_id] += 1
                if (status == "awarded" and granted > 0) or (status == "pending" and base > 0):
                    active = True
            if status != "awarded":
                tally.statuses[status] += 1
                if status == "late":
                    # One late line per event, naming the closed window the event fell in.
                    late = tally.late.setdefault(str(dict(args)["window"]), [0, 0])
                    late[0] += 1
                    late[1] += decision.points
                if status == HONOURED:
                    tally.honours[rule_id.removeprefix("honour:")] += 1
            for step in steps:
                code = step[_S_CODE]
                kind = step[_S_KIND]
                if kind == "repair":
                    tally.repairs[code.rpartition(".")[2]] += 1
                    continue
                if kind == "streak" or kind == "honour":
                    if code == "streak.completed":
                        tally.streaks[step[_S_LIMIT]] += 1
                    continue
                counts = tally.limits.get(step[_S_LIMIT])
                if counts is None:
                    counts = tally.limits[step[_S_LIMIT]] = [0, 0, 0]
                counts[0] += 1
                if code.endswith(LIMIT_BITS):
                    counts[1] += 1
                    counts[2] += abs(step[_S_REQUESTED] - step[_S_GRANTED])
        if active:
            tally.active[head[3] or "-", head[1][:7]].add(decision.subject)

    # -- the summary ------------------------------------------------------------------------------------

    def finish(self) -> SimulationSummary:
        """Submit what is queued, close the periods up to the end of the last event's month, and sum up."""
        self.flush()
        if self._last is not None:
            last = self._last.astimezone(self.policy.zone).date()
            horizon = datetime.combine(window_end("month", window_id("month", last)), time(),
                                       self.policy.zone)
            self._close_until(horizon)
        try:
            if self.live is None:
                self._read_back()
            return _summarise(self)
        finally:
            self.close()
            if self.freeze_gc:
                gc.unfreeze()

    def _read_back(self) -> None:
        """A full replay: sum the ledger's entries up (and pass them on), a chunk at a time."""
        chunk: list[Entry] = []
        for entry in self.engine.store.entries(self.engine.tenant):
            chunk.append(entry)
            if len(chunk) == _CHUNK:
                self._read(chunk)
                chunk = []
        if chunk:
            self._read(chunk)

    def _read(self, entries: list[Entry]) -> None:
        self._figures.add(entries)
        for sink in self._sinks:
            sink(entries)

    def close(self) -> None:
        """Close the ``entries_out`` file (the summary needs nothing more from it)."""
        for sink in self._owned:
            sink.close()
        self._owned = []


def _fields(event: EventLike) -> tuple[datetime | None, Any, Any, Any, Any, Any]:
    if isinstance(event, Event):
        return event.occurred_at, event.id, event.subject, event.actor, event.grid, event.household
    moment = event.get("occurred_at")
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        moment = None
    return (moment, event.get("id"), event.get("subject"), event.get("actor"), event.get("grid"),
            event.get("household"))


def _categories(replay: Replay) -> dict[str, str]:
    """Rule id → category for every rule id the ledger can carry (rules, worker credits, challenges)."""
    policy = replay.policy
    found = dict(replay._tally.categories)
    for rule in policy.rules:
        found.setdefault(rule.id, rule.category)
        if rule.spec.credit_worker is not None:
            found.setdefault(f"{rule.id}:worker-credit", rule.spec.credit_worker.category)
    for challenge in policy.spec.challenges:
        found.setdefault(f"challenge:{challenge.id}", challenge.category)
    return found


def _months(first: date, last: date) -> list[str]:
    months, current = [], window_id("month", first)
    end = window_id("month", last)
    while current <= end:
        months.append(current)
        current = window_id("month", window_end("month", current))
    return months


def _lorenz(points: Sequence[tuple[Fraction, Fraction]]) -> list[list[float]]:
    if len(points) <= LORENZ_POINTS:
        return [[float(x), float(y)] for x, y in points]
    last = len(points) - 1
    picks = sorted({round(i * last / (LORENZ_POINTS - 1)) for i in range(LORENZ_POINTS)})
    return [[float(points[i][0]), float(points[i][1])] for i in picks]


def _summarise(replay: Replay) -> SimulationSummary:
    policy, engine, tally = replay.policy, replay.engine, replay._tally
    zone = policy.zone
    categories = _categories(replay)
    residents = [m for m in replay.members if "resident" in m.roles]
    grid_of: dict[str, str] = {}
    for record in residents:
        grid_of.setdefault(record.subject, record.grid)
    first = replay._first.date() if replay._first is not None else None
    last = replay._last.astimezone(zone).date() if replay._last is not None else None
    months = _months(first, last) if first is not None and last is not None else []

    figures = replay._figures
    by_rule, redemptions, by_item = figures.by_rule, figures.redemptions, figures.by_item
    subjects = figures.subjects | replay.known
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for rule, counts in by_rule.items():
        by_category[categories.get(rule, rule)].update(counts)

    earned = figures.earned.result(grid_of=grid_of, population=grid_of)
    heat = figures.heat.result(categories=categories, windows=months)

    participation: dict[str, dict[str, float]] = {}
    for month in months:
        start = datetime.combine(date.fromisoformat(f"{month}-01"), time(), zone)
        end = datetime.combine(window_end("month", month), time(), zone)
        registered: dict[str, set[str]] = defaultdict(set)
        for record in residents:
            if record.overlaps(start, end):
                registered[record.grid].add(record.subject)
        for grid, members in sorted(registered.items()):
            taking_part = tally.active.get((grid, month), set()) & members
            participation.setdefault(grid, {})[month] = len(taking_part) / len(members)

    board = engine.leaderboard(months[-1], top=10) if months else []
    leaderboard = [{"subject": s.subject, "grid": s.grid, "earned": s.earned} for s in board]

    ordered = sorted(subjects)
    balances = engine.store.balances(engine.tenant, [spendable(s) for s in ordered])
    pendings = engine.store.balances(engine.tenant, [pending(s) for s in ordered])
    helds = engine.store.balances(engine.tenant, [held(s) for s in ordered])
    owed = sum(b for b in balances.values() if b > 0)
    liability: dict[str, Any] = {
        "points": owed, "holders": sum(1 for b in balances.values() if b > 0),
        "negative_points": -sum(b for b in balances.values() if b < 0),
        "pending_points": sum(pendings.values()), "held_points": sum(helds.values()),
    }
    liability.update(balance_spread([balances[spendable(s)] for s in grid_of]))
    liability.update(valuation(policy, owed))

    issued = sum(c["issued"] for c in by_rule.values())
    deducted = sum(c["deducted"] for c in by_rule.values())
    restored = sum(c["restored"] for c in by_rule.values())
    reversed_ = sum(c["reversed"] for c in by_rule.values())
    rates = [rate for by_month in participation.values() for rate in by_month.values()]
    summary_totals: dict[str, int | float] = {
        "events": tally.events, "duplicates": tally.duplicates, "out_of_order": tally.out_of_order,
        "residents": len(grid_of), "grids": len({m.grid for m in residents}),
        "households": len({m.household or f"subject:{m.subject}" for m in residents}),
        "points_issued": issued, "points_deducted": deducted, "points_restored": restored,
        "points_reversed": reversed_, "points_expired": figures.points_expired,
        "corrections": len(tally.corrections), "points_corrected": sum(r["points"] for r in tally.corrections),
        "adjustments": tally.adjustments["count"], "points_adjusted": figures.points_adjusted,
        "late_events": sum(events for events, _ in tally.late.values()),
        "points_net": issued - deducted + restored + reversed_ + figures.points_adjusted - figures.points_expired,
        "pending_verified": tally.statuses["verified"], "pending_rejected": tally.statuses["rejected"],
        "pending_expired": tally.statuses["expired"],
        "participation_mean": sum(rates) / len(rates) if rates else 0.0,
        "periods_closed": len(replay._closed),
    }
    repairs = {
        "opened": tally.repairs["opened"], "refused": tally.repairs["max_per_year"] + tally.repairs["cooldown"],
        "completed": tally.repairs["completed"], "expired": replay._repairs_expired,
        "points_restored": restored,
    }
    return SimulationSummary(
        ruleset=policy.ref,
        period={"start": first.isoformat() if first else "", "end": last.isoformat() if last else ""},
        totals=summary_totals,
        by_category={c: _money(counts) for c, counts in sorted(by_category.items())},
        by_rule={r: {"category": categories.get(r, r), "matched": tally.matched.get(r, 0), **_money(by_rule[r])}
                 for r in sorted(set(by_rule) | set(tally.matched))},
        limits={lid: {"applied": c[0], "bit": c[1], "points_cut": c[2]} for lid, c in sorted(tally.limits.items())},
        participation=participation,
        earned_by_subject=dict(sorted(earned.items())),
        grid_of=dict(sorted(grid_of.items())),
        heat=heat,
        concentration=concentration_figures(earned.values()),
        leaderboard=leaderboard,
        repairs=repairs,
        redemptions={"count": redemptions["redeemed"], "points": redemptions["redeemed_points"],
                     "held": redemptions["held"], "applied": redemptions["applied"],
                     "returned": redemptions["returned"], "allocated": redemptions["allocated"],
                     "requests": tally.requests, "refused": dict(sorted(tally.refused.items())),
                     "by_item": {item: dict(sorted(c.items())) for item, c in sorted(by_item.items())}},
        liability=liability,
        honours={"earned": dict(sorted(tally.honours.items())),
                 "streaks_completed": dict(sorted(tally.streaks.items()))},
        corrections={"count": len(tally.corrections), "points": sum(r["points"] for r in tally.corrections),
                     "after_close": sum(1 for r in tally.corrections if r["after_close"]),
                     "rows": list(tally.corrections)},
        late={"events": sum(events for events, _ in tally.late.values()),
              "points": sum(points for _, points in tally.late.values()),
              "by_window": {window: {"events": events, "points": points}
                            for window, (events, points) in sorted(tally.late.items())}},
    )


def concentration_figures(earned: Iterable[int]) -> dict[str, Any]:
    """A summary's ``concentration`` of residents' earned points: gini, top10, top1, n, total and the Lorenz
    curve (at most :data:`LORENZ_POINTS` points)."""
    found = analytics.concentration(earned)
    return {"gini": float(found.gini), "top10": float(found.top10), "top1": float(found.top1), "n": found.n,
            "total": found.total, "lorenz": _lorenz(found.lorenz)}


def balance_spread(resident_balances: Sequence[int]) -> dict[str, float | int]:
    """A summary's ``balance_median``, ``balance_p90`` and ``balance_max`` of residents' spendable balances."""
    return {"balance_median": percentile(resident_balances, 0.5), "balance_p90": percentile(resident_balances, 0.9),
            "balance_max": max(resident_balances, default=0)}


def valuation(policy: Policy, owed: int) -> dict[str, Any]:
    """What ``owed`` outstanding points are worth at the catalog's values: ``valued_at`` (the cheapest valued
    item), ``value_per_point``, ``value`` and the range over items (``value_low``, ``value_high``); empty when
    no item has a value."""
    valued = [(item.cost, item.id, item.value) for item in policy.spec.catalog if item.value is not None]
    if not valued:
        return {}
    cost, item_id, value = min(valued)
    assert value is not None
    rates = [v / c for c, _, v in valued if v is not None]
    return {"valued_at": item_id, "value_per_point": value / cost, "value": owed * value / cost,
            "value_low": owed * min(rates), "value_high": owed * max(rates)}


def _money(counts: Mapping[str, int]) -> dict[str, int]:
    return {key: int(counts.get(key, 0)) for key in ("issued", "deducted", "restored", "reversed")}


def simulate(policy: Policy, events: Iterable[EventLike], *, roster: Iterable[Membership] | None = None,
             store: Store | None = None, tenant: str = "default", batch: int = DEFAULT_BATCH,
             source: str = "events", freeze_gc: bool = False, keep_ledger: bool = False, sink: Sink | None = None,
             entries_out: str | Path | None = None) -> SimulationSummary:
    """Replay ``events`` (in time order; redemption lines among them) under ``policy`` and summarise: live
    (a fresh :class:`~gridpoints.storage._live.LiveStore`) by default, into a fresh memory store keeping
    every entry with ``keep_ledger``, or into ``store`` (see :class:`Replay` for these, ``sink`` and
    ``entries_out``). Raises :class:`ReplayError` at the first event the engine refuses or the first
    malformed redemption line."""
    replay = Replay(policy, store, roster, tenant=tenant, batch=batch, source=source, freeze_gc=freeze_gc,
                    keep_ledger=keep_ledger, sink=sink, entries_out=entries_out)
    try:
        replay.feed_all(events)
        return replay.finish()
    finally:
        replay.close()


# -- comparing two rulesets -------------------------------------------------------------------------------


def percentile(values: Sequence[int | float], fraction: float) -> float:
    """The ``fraction`` quantile by linear interpolation between closest ranks (numpy's default, and
    ``statistics.quantiles(method="inclusive")``): position ``(n − 1) · fraction`` of the sorted values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def average_ranks(values: Sequence[int | float]) -> list[Fraction]:
    """1-based ranks, ascending; tied values share the average of the ranks they span (exact)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks: list[Fraction] = [Fraction(0)] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = Fraction(i + j + 2, 2)
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


def spearman(xs: Sequence[int | float], ys: Sequence[int | float]) -> float | None:
    """Spearman's rank correlation: the Pearson correlation of the average ranks (so ties are handled
    exactly, not by the 1 − 6Σd²/(n(n²−1)) shortcut, which assumes no ties). Sums are exact fractions;
    only the final square root is floating point. None when fewer than two values or either side is
    constant (the correlation is undefined)."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length ({len(xs)} and {len(ys)})")
    n = len(xs)
    if n < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    mean = Fraction(n + 1, 2)
    cov = sum(((a - mean) * (b - mean) for a, b in zip(rx, ry, strict=True)), Fraction(0))
    vx = sum(((a - mean) ** 2 for a in rx), Fraction(0))
    vy = sum(((b - mean) ** 2 for b in ry), Fraction(0))
    if vx == 0 or vy == 0:
        return None
    return float(cov) / math.sqrt(float(vx) * float(vy))


def _top(earned: Mapping[str, int], count: int) -> list[str]:
    return [s for s, _ in sorted(earned.items(), key=lambda item: (-item[1], item[0]))[:count]]


@attrs.frozen(slots=True)
class Comparison:
    """The same log under two rulesets. :meth:`to_dict` gives ``old`` and ``new`` (summaries), ``deltas``
    {distribution {residents, min, p10, median, p90, max, mean, total, gained, lost, unchanged}, gainers,
    losers [{subject, grid, old, new, delta}]}, ``rank`` {top10_overlap, spearman}, ``categories``,
    ``limits``, ``concentration`` and ``liability`` (old, new, delta)."""

    old: SimulationSummary
    new: SimulationSummary
    deltas: Mapping[str, Any]
    rank: Mapping[str, Any]
    categories: Mapping[str, Mapping[str, int]]
    limits: Mapping[str, Mapping[str, Any]]
    concentration: Mapping[str, Mapping[str, float]]
    liability: Mapping[str, int]

    @classmethod
    def of(cls, old: SimulationSummary, new: SimulationSummary) -> Comparison:
        """Compare two summaries of the same log: per resident (union of both populations, 0 where absent)."""
        before, after = old.earned_by_subject, new.earned_by_subject
        grid_of = {**old.grid_of, **new.grid_of}
        subjects = sorted(set(before) | set(after))
        rows = [(s, before.get(s, 0), after.get(s, 0)) for s in subjects]
        deltas = [b - a for _, a, b in rows]
        distribution: dict[str, int | float] = {
            "residents": len(rows), "min": min(deltas, default=0), "p10": percentile(deltas, 0.1),
            "median": percentile(deltas, 0.5), "p90": percentile(deltas, 0.9), "max": max(deltas, default=0),
            "mean": sum(deltas) / len(deltas) if deltas else 0.0, "total": sum(deltas),
            "gained": sum(1 for d in deltas if d > 0), "lost": sum(1 for d in deltas if d < 0),
            "unchanged": sum(1 for d in deltas if d == 0),
        }

        def row(subject: str, a: int, b: int) -> dict[str, Any]:
            return {"subject": subject, "grid": grid_of.get(subject, ""), "old": a, "new": b, "delta": b - a}

        gainers = [row(*r) for r in sorted(rows, key=lambda r: (-(r[2] - r[1]), r[0])) if r[2] > r[1]][:10]
        losers = [row(*r) for r in sorted(rows, key=lambda r: (r[2] - r[1], r[0])) if r[2] < r[1]][:10]
        top_old, top_new = _top(before, 10), _top(after, 10)
        rank = {"top10_overlap": len(set(top_old) & set(top_new)), "top10_old": top_old, "top10_new": top_new,
                "spearman": spearman([a for _, a, _ in rows], [b for _, _, b in rows])}
        categories = {
            c: {f"{side}_{key}": int(summary.by_category.get(c, {}).get(key, 0))
                for side, summary in (("old", old), ("new", new)) for key in ("issued", "deducted")}
            for c in sorted(set(old.by_category) | set(new.by_category))
        }
        limits: dict[str, dict[str, Any]] = {}
        for lid in sorted(set(old.limits) | set(new.limits)):
            entry: dict[str, Any] = {}
            for side, summary in (("old", old), ("new", new)):
                counts = summary.limits.get(lid, {"applied": 0, "bit": 0})
                entry[f"{side}_applied"], entry[f"{side}_bit"] = counts["applied"], counts["bit"]
                entry[f"{side}_rate"] = counts["bit"] / counts["applied"] if counts["applied"] else 0.0
            limits[lid] = entry
        concentration = {side: {k: float(s.concentration[k]) for k in ("gini", "top10", "top1")}
                         for side, s in (("old", old), ("new", new))}
        liability = {"old": int(old.liability["points"]), "new": int(new.liability["points"]),
                     "delta": int(new.liability["points"]) - int(old.liability["points"])}
        return cls(old, new, {"distribution": distribution, "gainers": gainers, "losers": losers}, rank,
                   categories, limits, concentration, liability)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the compare report's input and ``gridpoints compare --json``)."""
        result: dict[str, Any] = json.loads(json.dumps({
            "old": self.old.to_dict(), "new": self.new.to_dict(), "deltas": self.deltas, "rank": self.rank,
            "categories": self.categories, "limits": self.limits, "concentration": self.concentration,
            "liability": self.liability,
        }, default=_plain))
        return result


def compare(old: Policy, new: Policy, events: Iterable[EventLike], *, roster: Iterable[Membership] | None = None,
            batch: int = DEFAULT_BATCH, source: str = "events", freeze_gc: bool = False, keep_ledger: bool = False,
            entries_out: tuple[str | Path, str | Path] | None = None) -> Comparison:
    """Replay ``events`` under ``old`` and ``new`` at once (one pass, two stores: live ones by default,
    memory stores keeping every entry with ``keep_ledger``) and compare. ``entries_out`` names a JSON Lines
    file for each side's entries (old, new)."""
    members = list(roster) if roster is not None else None
    outs = entries_out if entries_out is not None else (None, None)
    replays = [Replay(policy, None, members, batch=batch, source=source, freeze_gc=freeze_gc,
                      keep_ledger=keep_ledger, entries_out=out) for policy, out in zip((old, new), outs, strict=True)]
    try:
        for event in events:
            for replay in replays:
                replay.feed(event)
        return Comparison.of(replays[0].finish(), replays[1].finish())
    finally:
        for replay in replays:
            replay.close()


__all__ = ["DEFAULT_BATCH", "LIMIT_BITS", "REDEEM_FIELDS", "REDEEM_KEY", "Comparison", "Replay", "ReplayError",
           "Retention", "SimulationSummary", "average_ranks", "balance_spread", "closed_kinds", "compare",
           "concentration_figures", "memberships", "percentile", "read_jsonl", "read_roster", "retention", "simulate",
           "spearman", "valuation"]
