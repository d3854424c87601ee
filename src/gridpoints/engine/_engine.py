"""The engine: events in, decisions and ledger entries out.

Data flows one way: check the event → match rules → base points → limits (reading window counters) →
decision → one store transaction that appends entries, counter deltas and the event record together.
The engine reads no clock: every outcome is a function of the policy, the ordered events and the store;
"now" is passed in where a deadline matters (period close, expiry).

:class:`Engine` is the kernel (:mod:`gridpoints.engine._kernel`) composed with the lifecycle mechanisms'
table (:data:`gridpoints.engine.lifecycle.MECHANISMS`); its lifecycle methods plan through the kernel's
:class:`~gridpoints.engine._kernel.Context`, as any mechanism does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, cast

import attrs

from gridpoints.calendar import window_id
from gridpoints.engine import lifecycle
from gridpoints.engine._coerce import DEFAULT_EVENT_LIMITS, EventLimits, check_moment
from gridpoints.engine._collector import collector_paused
from gridpoints.engine._kernel import EventInput, Kernel, Scopes
from gridpoints.engine.lifecycle import (
    Choices,
    CloseReport,
    Correction,
    Honour,
    OpenItem,
    RepairStatus,
    ResidentStanding,
    Standing,
    Statement,
    StrandedItem,
    TeamStanding,
    WorkerView,
)
from gridpoints.errors import UpgradeRefused
from gridpoints.model import (
    Anchor,
    Decision,
    Entry,
    LedgerAnchor,
    Membership,
    MemoryRegistry,
    Notice,
    Registry,
    spendable,
)
from gridpoints.policy import Policy
from gridpoints.privacy import Pseudonymiser
from gridpoints.storage import NoticeOutbox, Store


class Engine(Kernel):
    """Applies a :class:`~gridpoints.policy.Policy` to events and keeps the ledger in a store.

    Thread safety: an ``Engine`` holds no state that changes per event (its ledger index of open items is
    read and refreshed under its own lock); each submission is one store transaction that locks the
    counters it reads, so concurrent ``submit`` calls from many threads (or processes, with a SQL store)
    leave the same ledger as some serial order of those calls, caps included. Share one engine per policy
    across a web server's threads.

    Batches: while a ``submit_many`` batch of at least ``pause_collector`` events (and a period close) is
    planned and committed, Python's cyclic garbage collector is paused (see :mod:`._collector`: a batch
    makes no reference cycles, and collections during it were ~40 % of its time); ``None`` never pauses it.

    Sealing: with a store that seals records (the SQL store), every event record is sealed into the
    tenant's chain with its entries (see :mod:`gridpoints.audit`). ``seal_key`` (16–64 bytes, the host's,
    never stored) makes every entry's and record's hash keyed BLAKE2b, so a writer without the key cannot
    append to the chain or re-seal it; ``clock`` (default: the UTC system clock) gives each record its
    ``recorded_at``, which no decision depends on.

    Anchors: an ``anchor_sink`` (a callable, e.g. :class:`gridpoints.storage.JsonlAnchors`) receives a
    :class:`~gridpoints.model.LedgerAnchor` — both chain heads — after the first commit, whenever the ledger
    passes a multiple of ``anchor_every`` entries, and after each period close; keep them where the
    database's owner cannot reach, and audit with ``verify(…, anchors=…)``.

    Scopes: the registry is the truth for a registered subject's grid and household. An event that omits
    the household gets the registry's; one that names another grid or household is refused with an
    :class:`~gridpoints.errors.EventError`, or, with ``scopes="registry"``, decided with the registry's (its
    trace then starts with a ``registry:scope`` line saying what was replaced). Limits and duty checks read
    the scopes so settled. An unregistered subject keeps the event's.

    Privacy: with a ``pseudonymiser``, subject, actor and household ids are replaced by keyed pseudonyms
    as events enter, before anything is hashed or stored; readers (``balance``, ``history`` …) take raw
    ids and pseudonymise them the same way. No error message then shows a raw subject, actor or household.

    Versions: ``previous`` gives the older versions of the ruleset that may still govern open items (awards
    pending verification, deductions that may be appealed or are being repaired, held redemptions); each is
    settled by the version that opened it, and the entries that settle it are stamped with that version (see
    :meth:`upgrade`, :meth:`open_items` and docs/versions.md). An item of a version not given is refused
    with :class:`~gridpoints.errors.VersionMissing`.

    Input bounds: ``event_limits`` (:class:`~gridpoints.engine.EventLimits`) bounds an event's ids, its
    attributes' number and text, and its whole size; the defaults are 128-character ids, 64 attributes,
    4,096-character attribute text and 64 Ki characters in all. Whatever the limits, text must encode as
    UTF-8, integers fit signed 64-bit, numbers are finite and times lie in the years 1900 to 8999; an award
    the rules compute beyond 64 bits is refused. Each is an :class:`~gridpoints.errors.EventError` before
    anything is written, the same on every store.
    """

    def __init__(
        self, policy: Policy, store: Store | None = None, *, tenant: str = "default",
        registry: Registry | None = None, pseudonymiser: Pseudonymiser | None = None, max_retries: int = 8,
        pause_collector: int | None = 64, seal_key: bytes | None = None,
        clock: Callable[[], datetime] | None = None, anchor_sink: Callable[[LedgerAnchor], None] | None = None,
        anchor_every: int = 1000, scopes: Scopes = "refuse", event_limits: EventLimits = DEFAULT_EVENT_LIMITS,
        notify: bool = False, previous: Iterable[Policy] = (),
    ) -> None:
        if isinstance(previous, Policy):
            raise TypeError("previous is a collection of policies: previous=[older_policy]")
        super().__init__(policy, store, tenant=tenant, registry=registry, pseudonymiser=pseudonymiser,
                         max_retries=max_retries, mechanisms=lifecycle.MECHANISMS, seal_key=seal_key, clock=clock,
                         anchor_sink=anchor_sink, anchor_every=anchor_every, scopes=scopes, event_limits=event_limits,
                         notify=notify, previous=tuple(previous))
        if pause_collector is not None and pause_collector < 1:
            raise ValueError(f"pause_collector must be at least 1 or None, got {pause_collector}")
        self.pause_collector = pause_collector

    def _id(self, subject: str) -> str:
        return self.pseudonymiser.subject(subject) if self.pseudonymiser is not None else subject

    def register(
        self, subject: str, *, grid: str, household: str | None = None, roles: Iterable[str] = ("resident",),
        since: datetime | None = None, until: datetime | None = None, building: str | None = None,
        tags: Iterable[str] = (), age_band: str | None = None,
    ) -> Membership:
        """Add a membership to the engine's in-process registry (a host registry is managed by the host)."""
        if not isinstance(self.registry, MemoryRegistry):
            raise TypeError("this engine reads a host-managed registry; register subjects there")
        if self.pseudonymiser is not None:
            household = self.pseudonymiser.household(household) if household is not None else None
        record = Membership(self._id(subject), grid, household, roles, since, until, building, tags, age_band)
        self.registry.add(record)
        return record

    # -- writing -------------------------------------------------------------------------------------

    def submit(self, event: EventInput) -> Decision:
        """Decide one event and record it. A resubmitted id with the same content returns the original
        decision and writes nothing; with different content it raises :class:`IdempotencyConflict`."""
        return self.commit([self.plan_input(event, None)])[0]

    def submit_many(self, events: Iterable[EventInput]) -> list[Decision]:
        """Decide and record a batch in one transaction: same decisions as submitting one by one.

        Every event is checked before anything is written; one bad event (or an idempotency conflict)
        raises and leaves the store untouched — the batch is all or nothing. An event that settles another
        (verify, reject, appeal, a repair task) must come in a later batch than the event it settles.
        """
        plan = self.plan_input
        batch = events if isinstance(events, Sequence) else list(events)
        if self.pause_collector is None or len(batch) < self.pause_collector:
            return self.commit([plan(raw, index) for index, raw in enumerate(batch)])
        with collector_paused():
            return self.commit([plan(raw, index) for index, raw in enumerate(batch)])

    # -- lifecycles ------------------------------------------------------------------------------------

    def expire_pending(self, now: datetime) -> list[Decision]:
        """Release every pending award whose verification window (of the version that governs it) closed
        before ``now``."""
        now = check_moment(now, "now")
        lifecycle.open_items(self.context, now)  # a version missing is refused before anything is written
        return [d for version in self.context.versions for d in lifecycle.expire_pending(version, now)]

    def repairs(self, subject: str) -> list[RepairStatus]:
        """The subject's repairs (积分修复), open and closed, with what remains to do."""
        return lifecycle.repairs(self.context, self._id(subject))

    def redeem(self, subject: str, item: str, request_id: str, *, at: datetime) -> Decision:
        """Redeem an item of the points mall; idempotent by ``request_id``.

        Raises :class:`~gridpoints.errors.RedemptionRefused` (with a ``reason`` code) when the balance,
        stock, eligibility, availability or per-subject limit does not allow it; nothing is written then.
        An item with ``hold`` only holds the points: :meth:`fulfil` or :meth:`cancel` settles it.
        An item with ``allocate`` is applied for instead: the hold is settled at the window's close.
        """
        return lifecycle.redeem(self.context, self._id(subject), item, request_id, check_moment(at, "at"))

    def fulfil(self, request_id: str, *, at: datetime) -> Decision:
        """Complete a held redemption: the held points go to the redemption account."""
        return lifecycle.settle_hold(self.context, request_id, check_moment(at, "at"), "fulfil")

    def cancel(self, request_id: str, *, at: datetime) -> Decision:
        """Cancel a held redemption: points and stock are returned."""
        return lifecycle.settle_hold(self.context, request_id, check_moment(at, "at"), "cancel")

    def correct(self, event_id: str, *, reason: str, actor: str, at: datetime) -> Decision:
        """Correct (冲正) a recorded event, dated ``at``: reverse every entry it wrote — and, for a verified
        award, every entry of its verification, the grid worker's credit included — each by an entry linked
        to it (``reverses``), give back the counter increments their limits made, and leave the event out of
        rankings and challenges of every window not yet closed (a closed window's results stand, and the
        correction says so). A pending award is reversed out of pending; its verification is then refused and
        its expiry does nothing. Streak runs, milestone progress and honours the event moved are rolled back
        or, where that cannot be done (a later period counted; an honour already earned), kept and explained.

        Idempotent by the event corrected. ``actor`` needs a role the ruleset's ``corrections.roles`` names
        (default ``staff``) and may be neither the beneficiary nor in their household; ``reason`` is kept and
        explained. Raises :class:`~gridpoints.errors.CorrectionRefused` (nothing written; the message names
        the event and why, :meth:`~gridpoints.errors.CorrectionRefused.explain` in zh and en) for an unknown
        event or one that is not correctable — a settlement, repair task, redemption, period posting,
        correction or adjustment, a deduction already repaired or appealed, an award rejected or expired —
        :class:`~gridpoints.errors.SegregationError` for an actor who may not."""
        return lifecycle.correct(self.context, event_id, reason, self._id(actor), at)

    def corrections(self, window: str | None = None) -> list[Correction]:
        """The corrections recorded (dated) in ``window`` (all when ``None``), in the order they were made:
        what a period's report lists, closed-period corrections among them."""
        return lifecycle.corrections(self.context, window)

    def adjust(self, subject: str, points: int, *, reason: str, actor: str, at: datetime,
               request_id: str) -> Decision:
        """A staff adjustment (人工调整): credit (``points`` > 0) or debit a resident through the adjustments
        account; idempotent by ``request_id``. The same role and household rules as :meth:`correct`; the
        ruleset says whether adjustments count as earned (default no) and may cap them per staff member and
        window (:class:`~gridpoints.errors.CorrectionRefused` ``cap_reached``); a debit stops at the floor."""
        return lifecycle.adjust(self.context, self._id(subject), points, reason, self._id(actor), at, request_id)

    def close_period(self, window: str, *, now: datetime) -> CloseReport:
        """Close a calendar window (e.g. ``"2026-04"``): scheduled base points for registered subjects,
        challenges, scarce-item allocation, point expiry, and the repair deadlines, verification windows
        and redemption holds that passed ``now``. Idempotent per (ruleset, window). The anchor sink, if any,
        then receives the heads (reason ``close:WINDOW``)."""
        now = check_moment(now, "now")
        # Every open item's version must be held: refused (VersionMissing) before anything is written.
        lifecycle.open_items(self.context, now)
        if self.pause_collector is None:
            report = self._close(window, now)
        else:
            with collector_paused():
                report = self._close(window, now)
        self.prune(now)
        self.anchor(f"close:{window}")
        return report

    def _close(self, window: str, now: datetime) -> CloseReport:
        report = lifecycle.close_period(self.context, window, now)
        listed = frozenset(i.id for i in self.policy.spec.catalog if i.allocate is not None)
        for older in self.context.versions[1:]:
            part = lifecycle.close_older(older, window, now, listed)
            listed |= {i.id for i in older.policy.spec.catalog if i.allocate is not None}
            report = attrs.evolve(
                report, allocations={**part.allocations, **report.allocations},
                repairs_expired=report.repairs_expired + part.repairs_expired,
                holds_expired=report.holds_expired + part.holds_expired,
                pending_expired=report.pending_expired + part.pending_expired)
        return report

    # -- versions --------------------------------------------------------------------------------------

    @property
    def versions(self) -> tuple[str, ...]:
        """The ruleset versions this engine holds (``ruleset@version``): its own first, then the older ones
        that still govern open items."""
        return self.version_table.refs()

    def open_items(self, *, now: datetime) -> list[OpenItem]:
        """Every open item at ``now`` — awards pending verification, deductions that may still be appealed or
        whose appeal is lodged, repairs under way, held redemptions and applications — each with the version
        that governs it. Raises :class:`~gridpoints.errors.VersionMissing` for an item of a version this
        engine does not hold."""
        return lifecycle.open_items(self.context, check_moment(now, "now"))

    def prune(self, now: datetime) -> tuple[str, ...]:
        """Stop holding the older versions that govern no open item at ``now`` (a period close does this);
        returns the versions dropped."""
        still = {item.ruleset for item in lifecycle.open_items(self.context, check_moment(now, "now"))}
        dropped = tuple(ref for ref in self.versions[1:] if ref not in still)
        for ref in dropped:
            self.version_table.drop(ref)
        return dropped

    def stranded(self, policy: Policy, *, now: datetime, stranded: Choices | None = None) -> list[StrandedItem]:
        """The open items at ``now`` that ``policy`` — a new version of this engine's ruleset — could not
        settle by its own rules; with ``stranded`` (the choices :meth:`upgrade` takes), each says what the
        upgrade would do with it."""
        chosen = lifecycle.choices(stranded) if stranded is not None else None
        return lifecycle.stranded(self.context, policy, check_moment(now, "now"), chosen)

    def upgrade(self, policy: Policy, *, now: datetime, stranded: Choices = "keep") -> Engine:
        """An engine for ``policy`` — a newer version of this engine's ruleset — on this engine's store,
        tenant, registry and options, holding this engine's versions while they govern open items.

        ``stranded`` says what happens to open items, one choice for every kind or a mapping per kind
        (``pending``, ``appeal``, ``repair``, ``hold``): ``"keep"`` (default: the version that opened an
        item settles it by its rules), ``"expire"`` (settled now: pending points returned, the appeal window
        closed, the repair ended, the hold cancelled), ``"carry"`` (the new version settles it by its rule,
        repair or item of the same id) or ``"refuse"``. Each expiry, carry and kept stranded item is
        recorded (``gp:upgrade:<new ref>:<event id>``, explained in zh and en) in one transaction. Raises
        :class:`~gridpoints.errors.UpgradeRefused` listing the items (nothing written) when ``refuse`` meets
        a stranded item or ``carry`` one the new version cannot settle. Limits' counters carry by identity
        (a limit's id, or the id it ``continues``): ``gridpoints.policy.diff(old, new)`` says which carry,
        re-base or reset."""
        now = check_moment(now, "now")
        chosen = lifecycle.choices(stranded)
        if policy.id != self.policy.id or policy.version <= self.policy.version:
            raise ValueError(f"upgrade to a newer version of {self.policy.id} (above version {self.policy.version}), "
                             f"not {policy.ref}")
        plans, refused = lifecycle.upgrade_plans(self.context, policy, now, chosen)
        if refused:
            raise UpgradeRefused(self.policy.ref, policy.ref, list(refused), how=(
                "choose stranded='keep' (the version that opened each item settles it) or 'expire' (settled now) "
                "for " + ", ".join(sorted({item.kind for item in refused})) + "; 'carry' needs the new version "
                "to have the same rule, repair or item"))
        self.commit(plans)
        held = [kernel.policy for kernel in self.version_table.kernels()]
        upgraded = Engine(policy, self.store, tenant=self.tenant, registry=self.registry,
                          pseudonymiser=self.pseudonymiser, max_retries=self.max_retries,
                          pause_collector=self.pause_collector, seal_key=self._seal_key or None, clock=self.clock,
                          anchor_sink=self.anchor_sink, anchor_every=self.anchor_every, scopes=self.scopes,
                          event_limits=self.event_limits, notify=self.notify, previous=held)
        upgraded.prune(now)
        return upgraded

    def tier(self, subject: str, *, at: datetime) -> str | None:
        """The subject's 社区信用 tier at ``at``: the highest whose thresholds are met, or None."""
        return lifecycle.tier(self.context, self._id(subject), check_moment(at, "at"))

    def honours(self, subject: str) -> list[Honour]:
        """The honours the subject holds (titles, badges, milestones), in the ruleset's order; read from
        counters, never from the ledger."""
        return lifecycle.honours(self.context, self._id(subject))

    def leaderboard(self, window: str, *, scope: str = "community", grid: str | None = None, top: int = 10,
                    metric: Literal["earned"] = "earned") -> list[Standing]:
        """Ranking by points earned in ``window`` (restored and returned points excluded unless the ruleset
        counts them), community-wide or within one grid; ties broken as documented in
        :mod:`gridpoints.engine.lifecycle._ranking`."""
        if metric != "earned":
            raise ValueError(f"unknown metric {metric!r}; leaderboards rank by 'earned'")
        return lifecycle.leaderboard(self.context, window, scope=scope, grid=grid, top=top)

    def team_leaderboard(self, window: str, *, team: Literal["household", "building", "grid"],
                         scope: str = "community", grid: str | None = None, top: int = 10) -> list[TeamStanding]:
        """Teams (households, buildings or grids) by their members' points earned together in ``window``,
        community-wide or the households or buildings of one grid; ties as for residents (see
        :mod:`gridpoints.engine.lifecycle._team`)."""
        return lifecycle.team_leaderboard(self.context, window, team=team, scope=scope, grid=grid, top=top)

    def standing(self, subject: str, window: str, *, scope: Literal["community", "grid"] = "community",
                 at: datetime | None = None) -> ResidentStanding:
        """A resident's rank in ``window`` (by points earned, as :meth:`leaderboard` ranks, community-wide or
        in their grid), the points to pass the one above, and the 社区信用 tier at ``at`` (default: the
        window's end) with the earned points still missing for the next one."""
        return lifecycle.standing(self.context, self._id(subject), window, scope=scope, at=at)

    def statement(self, subject: str, window: str) -> Statement:
        """A resident's statement for ``window`` (e.g. ``"2026-04"``): opening and closing spendable balance,
        the entries that occurred in it, and what was pending verification and held at its end."""
        return lifecycle.statement(self.context, self._id(subject), window)

    def worker_view(self, grid: str, *, now: datetime, window: str | None = None,
                    visit_tags: Iterable[str] = ("elderly",), visit_max_earned: int = 0) -> WorkerView:
        """A grid worker's view at ``now``: open verifications of the grid's events, repairs under way of
        its residents, and the residents to visit (主动上门): holding one of ``visit_tags`` and having earned
        at most ``visit_max_earned`` in ``window`` so far (default: the month of ``now``)."""
        if window is None:
            window = window_id("month", self.context.local_date(now))
        if isinstance(visit_tags, str):
            raise TypeError(f"visit_tags must be a collection of tags, got the string {visit_tags!r}")
        return lifecycle.worker_view(self.context, grid, now, window=window, visit_tags=frozenset(visit_tags),
                                     visit_max_earned=visit_max_earned)

    # -- notices ---------------------------------------------------------------------------------------

    def remind(self, now: datetime, *, within: timedelta | None = None) -> list[Decision]:
        """Write reminders to the outbox for deadlines in ``[now, now + within]`` (default: the ruleset's
        ``notices.remind_within``): a repair due, a hold expiring, a verification due (told to the grid's
        verifiers). Each is told once, however often this runs; run it daily. Needs ``notify=True``."""
        self._needs_notices()
        return lifecycle.remind(self.context, now, within if within is not None else
                                self.policy.spec.notices.remind_within)

    def notices(self, *, after: int | None = None, limit: int | None = 100) -> list[Notice]:
        """Notices in the outbox after ``after`` (default: after the last acknowledged), in cursor order."""
        outbox = self._needs_notices()
        start = outbox.acknowledged(self.tenant) if after is None else after
        return outbox.notices(self.tenant, after=start, limit=limit)

    def acknowledge(self, cursor: int) -> int:
        """Mark every notice up to ``cursor`` delivered; idempotent, never moves back. Returns the cursor."""
        return self._needs_notices().acknowledge(self.tenant, cursor)

    def _needs_notices(self) -> NoticeOutbox:
        if not self.notify:
            raise ValueError("this engine writes no notices: make it with Engine(..., notify=True)")
        # The kernel checked the store's keeps_notices when the engine was made.
        return cast(NoticeOutbox, self.store)

    # -- reading ---------------------------------------------------------------------------------------

    def balance(self, subject: str) -> int:
        """The subject's spendable balance."""
        account = spendable(self._id(subject))
        return self.store.balances(self.tenant, [account])[account]

    def balances(self, subjects: Sequence[str]) -> dict[str, int]:
        """Spendable balances of several subjects."""
        found = self.store.balances(self.tenant, [spendable(self._id(s)) for s in subjects])
        return {s: found[spendable(self._id(s))] for s in subjects}

    def history(self, subject: str) -> list[Entry]:
        """The subject's ledger entries, oldest first."""
        return list(self.store.entries(self.tenant, subject=self._id(subject)))

    def decision(self, event_id: str) -> Decision | None:
        """The recorded decision for an event id (``duplicate`` is set: it is the stored original)."""
        record = self.store.find_event(self.tenant, event_id)
        return record.original() if record is not None else None

    def explain(self, event_id: str, lang: Literal["zh", "en"] = "zh") -> str:
        """Explain a recorded event's decision (as decided, not as a resubmission: nothing is submitted here);
        Chinese text names attributes by their ``events:`` descriptions. Raises ``KeyError`` for an unknown id."""
        decision = self.decision(event_id)
        if decision is None:
            raise KeyError(f"no recorded event {event_id!r}")
        return decision.replace(duplicate=False).explain(
            lang, self.policy.attribute_labels(decision.trace.event_type))

    def head(self) -> Anchor:
        """The current hash-chain anchor: record it somewhere safe to detect truncation later."""
        return self.store.head(self.tenant)


__all__ = ["CloseReport", "Correction", "Engine", "EventInput", "Honour", "RepairStatus", "ResidentStanding",
           "Standing", "Statement", "TeamStanding", "WorkerView"]
