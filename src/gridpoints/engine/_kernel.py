"""The decision kernel: coerce → plan → decide → commit, and the seam lifecycle mechanisms plug into.

The kernel knows how to turn an event into a :class:`~gridpoints.engine._plan.Plan` and a plan into entries
inside one store transaction. Everything else — verification, repair, the points mall, period close — is
a mechanism (a module of :mod:`gridpoints.engine.lifecycle`) that

1. plans through the :class:`Context` the kernel hands it (policy, tenant, registry, store reads, scope
   and duty checks, ``commit(plans)``), and
2. registers, in its :class:`Mechanism`, handlers for its own actions (a ``StrEnum`` each), planners for
   the event types it owns, and rule hooks that shape a rule's award (a pending award, a repairable
   deduction).

The kernel imports no mechanism; the engine hands it the table.

Speed: a plan is named tuples; a decision is made from plain tuples and its trace is built only if read;
local and UTC time text is formatted once per hour of event time (:class:`~gridpoints.calendar.LocalTimes`);
entries are sealed with the codec's spelled-out canonical form.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from hashlib import blake2b
from typing import Any, Literal, Protocol, TypeVar, cast

import attrs

from gridpoints.calendar import LocalTimes, window_id
from gridpoints.engine._coerce import DEFAULT_EVENT_LIMITS, EventLimits, coerce_event
from gridpoints.engine._ledger_index import LedgerIndex
from gridpoints.engine._plan import (
    Action,
    Award,
    LimitKeys,
    Plan,
    appealed_marker,
    carried_marker,
    closed_marker,
    settled_marker,
)
from gridpoints.errors import (
    EventError,
    IdempotencyConflict,
    SealKeyMismatch,
    SegregationError,
    SerializationFailure,
    SettlementError,
    VersionMissing,
)
from gridpoints.model import (
    DEDUCTIONS,
    INT64_MAX,
    INT64_MIN,
    ISSUANCE,
    Anchor,
    CounterKey,
    Decision,
    Entry,
    Event,
    EventRecord,
    LedgerAnchor,
    LimitStep,
    Membership,
    MemoryRegistry,
    Notice,
    NoticeKind,
    Reason,
    RecordSeal,
    Registry,
    RuleData,
    SealedHead,
    Trace,
    spendable,
)
from gridpoints.model._codec import attributes_json, deltas_json, entry_canonical_bytes_of_text
from gridpoints.policy import SETTLEMENT_TYPES, CompiledLimit, CompiledRule, EventType, PointsInputError, Policy
from gridpoints.policy import _limits as limits
from gridpoints.privacy import Pseudonymiser
from gridpoints.storage import (
    HeadSealTransaction,
    MemoryStore,
    NoticeTransaction,
    SealedHeadStore,
    Store,
    StoreCapabilities,
    capabilities_of,
)

T = TypeVar("T")

EventInput = Event | Mapping[str, Any]
#: What an engine does with an event whose grid or household contradicts the registry: refuse it, or take
#: the registry's (and say so in the trace).
Scopes = Literal["refuse", "registry"]
#: The rule id of the trace line that says the registry's scopes replaced the event's.
SCOPE_NOTE = "registry:scope"

_AWARD = Reason.AWARD.value
_DEDUCTION = Reason.DEDUCTION.value


# -- the seam -------------------------------------------------------------------------------------------------


class ActionFunction(Protocol):
    def __call__(self, decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
        """Post what the award does (``amount`` is its base after the limits, if the handler is limited) and
        return the rule trace's status; an empty status leaves no row in the trace (for an action that
        posted nothing and changed nothing worth explaining, such as an honour already held)."""
        ...


@attrs.frozen(slots=True)
class Handler:
    """How the decider turns one action's award into entries.

    ``limited``: a positive amount goes through the award's limits first (and is counted in them).
    """

    action: StrEnum
    function: ActionFunction
    limited: bool = False


class EventPlanner(Protocol):
    def __call__(self, context: Context, event: Event, index: int | None) -> list[Award]:
        """The awards for an event of a type the mechanism owns (a settlement, a repair task)."""
        ...


class BaseHook(Protocol):
    def __call__(self, context: Context, rule: CompiledRule, event: Event, base: int, code: str,
                 args: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[int, str, Mapping[str, Any]]:
        """A matched rule's base points as the mechanism changes them (a campaign's multiplier), before the
        award is shaped; ``fields`` are the event-level fields a condition reads. Return them unchanged
        when the mechanism does not apply."""
        ...


class FollowHook(Protocol):
    def __call__(self, context: Context, plan: Plan) -> Sequence[Award]:
        """Awards to add after a plan's own (a streak's day, a milestone's progress); empty for none."""
        ...


class RuleHook(Protocol):
    def __call__(self, context: Context, rule: CompiledRule, event: Event, base: int, code: str,
                 args: Mapping[str, Any], day: date, windows: dict[str, str]) -> Award | None:
        """The award of a matched rule when this mechanism shapes it (e.g. pending verification), else None."""
        ...


@attrs.frozen(slots=True)
class Mechanism:
    """One lifecycle mechanism's registrations: see the module docstring."""

    name: str
    handlers: tuple[Handler, ...] = ()
    #: (does the mechanism own this event type?, its planner)
    events: tuple[tuple[Callable[[EventType], bool], EventPlanner], ...] = ()
    #: (does the hook apply to this rule?, the hook)
    rules: tuple[tuple[Callable[[CompiledRule], bool], RuleHook], ...] = ()
    #: (does the hook apply to this rule of the policy?, the hook that changes its base points); every applicable
    #: hook runs,
    #: in the table's order, before the rule hook shapes the award.
    bases: tuple[tuple[Callable[[Policy, CompiledRule], bool], BaseHook], ...] = ()
    #: (does the mechanism follow plans under this policy?, the hook adding awards to every plan the kernel
    #: makes — of submitted events and of engine-made ones).
    follows: tuple[tuple[Callable[[Policy], bool], FollowHook], ...] = ()
    #: (does the mechanism own this event type?, the attribute naming the earlier event it settles): such an
    #: event is planned by the ruleset version that governs the event it names (see :class:`Versions`).
    targets: tuple[tuple[Callable[[EventType], bool], str], ...] = ()


class Context:
    """What a mechanism may use: the policy, tenant and registry, committed store reads, the ledger index,
    the scope and duty checks, the kernel's planning of rule awards, and ``commit(plans)``."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    @property
    def policy(self) -> Policy:
        return self._kernel.policy

    @property
    def tenant(self) -> str:
        return self._kernel.tenant

    @property
    def registry(self) -> Registry:
        return self._kernel.registry

    @property
    def store(self) -> Store:
        return self._kernel.store

    @property
    def index(self) -> LedgerIndex:
        """The engine's index of open items and of when entries occurred (see :mod:`._ledger_index`)."""
        return self._kernel.index

    def record(self, event_id: str) -> EventRecord | None:
        return self._kernel.store.find_event(self._kernel.tenant, event_id)

    def original(self, event_id: str) -> Trace | None:
        """The trace of a recorded event's decision, if the event is recorded."""
        record = self.record(event_id)
        return record.original().trace if record is not None else None

    def governing(self, event_id: str, original: Trace) -> Context:
        """The context of the ruleset version that settles the open item ``event_id`` (whose recorded trace is
        ``original``): the version that opened it, or the newer one an upgrade carried it into. Raises
        :class:`~gridpoints.errors.VersionMissing` when the engine does not hold that version."""
        return self._kernel.version_table.governing(event_id, original).context

    @property
    def versions(self) -> tuple[Context, ...]:
        """The contexts of every ruleset version the engine holds, newest (the engine's own) first."""
        return tuple(kernel.context for kernel in self._kernel.version_table.kernels())

    def counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        return self._kernel.store.counters(self._kernel.tenant, keys)

    def counter(self, key: CounterKey) -> int:
        return self._kernel.store.counters(self._kernel.tenant, [key])[key]

    def balances(self, accounts: Iterable[str]) -> dict[str, int]:
        return self._kernel.store.balances(self._kernel.tenant, accounts)

    def entries(self, *, subject: str | None = None, after_seq: int = 0) -> Iterable[Entry]:
        return self._kernel.store.entries(self._kernel.tenant, subject=subject, after_seq=after_seq)

    def event_entries(self, subject: str, event_id: str) -> list[Entry]:
        """The entries one event wrote to one subject's accounts."""
        return [e for e in self.entries(subject=subject) if e.event_id == event_id]

    def scope_id(self, scope: str, event: Event) -> str:
        return self._kernel.scope_id(scope, event)

    def limit_keys(self, rule: CompiledRule, event: Event, day: date, windows: dict[str, str], *,
                   selected: Sequence[CompiledLimit] | None = None) -> LimitKeys:
        return self._kernel.limit_keys(rule, event, day, windows, selected=selected)

    def rule_award(self, rule: CompiledRule, event: Event, base: int, code: str, args: Mapping[str, Any],
                   day: date, windows: dict[str, str]) -> Award:
        return self._kernel.rule_award(rule, event, base, code, args, day, windows)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._kernel.policy.zone).date()

    def check_duties(self, event: Event, original: Trace, roles: Sequence[str] | None, not_beneficiary: bool,
                     index: int | None) -> Membership | None:
        return self._kernel.check_duties(event, original, roles, not_beneficiary, index)

    def household_of(self, original: Trace) -> str | None:
        return self._kernel.household_of(original)

    def plan(self, event: Event, awards: Sequence[Award], fingerprint: str | None = None) -> Plan:
        return self._kernel.plan(event, awards, fingerprint)

    def commit(self, plans: list[Plan]) -> list[Decision]:
        """Decide and record the plans in one transaction (retried on serialization failures)."""
        return self._kernel.commit(plans)


class Versions:
    """The ruleset versions an engine holds: its own and older ones that still govern open items.

    An open item (an award pending verification, a deduction that may be appealed or is being repaired, a
    held redemption) is governed by the version that opened it — the ``ruleset@version`` on its record —
    unless an upgrade carried it into a newer one (a ``carried`` marker counter). That version's kernel
    plans whatever settles it, and its entries and decision are stamped with that version. Shared by the
    engine's kernel and the older versions' kernels.
    """

    __slots__ = ("_by_ref", "_main", "targets")

    def __init__(self, main: Kernel) -> None:
        self._main = main
        self._by_ref: dict[str, Kernel] = {main.policy.ref: main}
        #: Event type → the attribute naming the event it settles, over every version held.
        self.targets: dict[str, str] = dict(main._targets)

    def hold(self, kernel: Kernel) -> None:
        ref, main = kernel.policy.ref, self._main.policy
        if ref in self._by_ref:
            raise ValueError(f"the engine already holds {ref}: give each ruleset version once")
        if kernel.policy.id != main.id or kernel.policy.version >= main.version:
            raise ValueError(f"previous versions are older versions of {main.id} (below version {main.version}), "
                             f"got {ref}")
        self._by_ref[ref] = kernel
        for name, attribute in kernel._targets.items():
            self.targets.setdefault(name, attribute)

    def drop(self, ref: str) -> None:
        """Stop holding an older version (the engine does once it has no open item left)."""
        if ref == self._main.policy.ref:
            raise ValueError(f"{ref} is the engine's own version")
        # Copied, not changed in place: threads routing events meanwhile read the tables they started with.
        kept = {r: kernel for r, kernel in self._by_ref.items() if r != ref}
        targets = dict(self._main._targets)
        for kernel in kept.values():
            for name, attribute in kernel._targets.items():
                targets.setdefault(name, attribute)
        self._by_ref, self.targets = kept, targets

    def refs(self) -> tuple[str, ...]:
        """The versions held: the engine's own first, then older ones as given."""
        return tuple(self._by_ref)

    def kernels(self) -> tuple[Kernel, ...]:
        return tuple(self._by_ref.values())

    def kernel(self, ref: str | None) -> Kernel:
        return self._main if ref is None else self._by_ref[ref]

    def governing(self, event_id: str, original: Trace) -> Kernel:
        """The kernel of the version that settles ``event_id`` (see the class docstring)."""
        opened = original.ruleset
        main = self._main
        if opened == main._ref or not opened:
            # The engine's own version is the newest: nothing it opened was carried anywhere. A store that keeps
            # only recent records in full (a what-if replay's) answers a settled item's with a placeholder that
            # names no version: the engine's own reads it, as it always did.
            return main
        newer = [ref for ref in self._by_ref if ref != opened]
        if newer:
            carried = main._store.counters(main.tenant, [carried_marker(event_id, ref) for ref in newer])
            for ref in newer:
                if carried[carried_marker(event_id, ref)]:
                    return self._by_ref[ref]
        found = self._by_ref.get(opened)
        if found is None:
            raise VersionMissing(opened, event_id, self.refs())
        return found

    def router(self, raw: EventInput) -> Kernel | None:
        """For a submitted event that settles an earlier one, the kernel that governs the event it names; None
        when it names none (or no recorded one): the engine's own kernel plans it and says what is wrong."""
        kind: object
        attributes: object
        if isinstance(raw, Event):
            kind, attributes = raw.type, raw.attributes
        elif isinstance(raw, Mapping):
            kind, attributes = raw.get("type"), raw.get("attributes")
        else:
            return None
        attribute = self.targets.get(kind) if isinstance(kind, str) else None
        if attribute is None and kind in SETTLEMENT_TYPES:
            # A settlement no version held takes: an item of a version not held is named as such.
            attribute = "event"
        if attribute is None or not isinstance(attributes, Mapping):
            return None
        target = attributes.get(attribute)
        main = self._main
        if not isinstance(target, str):
            return None
        record = main._store.find_event(main.tenant, target)
        if record is None:
            if kind in main._targets or kind not in self.targets:
                return None
            # A type only an older version knows: that version says there is no such event.
            return next((k for k in self._by_ref.values() if kind in k._targets), None)
        original = record.original().trace
        if original.ruleset != main._ref and original.ruleset not in self._by_ref:
            closed = main._store.counters(main.tenant, [settled_marker(target), appealed_marker(target)])
            if all(closed.values()):
                # Nothing of it is open: the engine's own planner says it was already settled.
                return None
        return self.governing(target, original)


# -- the kernel ----------------------------------------------------------------------------------------------


class Kernel:
    """Plans events and commits plans: the part of :class:`~gridpoints.Engine` that every mechanism shares.

    Holds the policy, store, tenant, registry and pseudonymiser it was given, the ledger index of the store
    and tenant, and the handler table; nothing it holds changes per event, so one kernel serves many
    threads (each commit is one store transaction).
    """

    def __init__(self, policy: Policy, store: Store | None, *, tenant: str, registry: Registry | None,
                 pseudonymiser: Pseudonymiser | None, max_retries: int, mechanisms: Sequence[Mechanism],
                 seal_key: bytes | None = None, clock: Callable[[], datetime] | None = None,
                 anchor_sink: Callable[[LedgerAnchor], None] | None = None, anchor_every: int = 1000,
                 scopes: Scopes = "refuse", event_limits: EventLimits = DEFAULT_EVENT_LIMITS,
                 notify: bool = False, previous: Sequence[Policy] = ()) -> None:
        if type(tenant) is not str or not tenant:
            raise ValueError(f"tenant must be a non-empty string, got {tenant!r}")
        if scopes not in ("refuse", "registry"):
            raise ValueError(f"scopes must be 'refuse' or 'registry', got {scopes!r}")
        self.scopes: Scopes = scopes
        if seal_key is not None and (not isinstance(seal_key, bytes) or not 16 <= len(seal_key) <= 64):
            raise ValueError("seal_key must be 16 to 64 bytes (BLAKE2b's keyed mode), "
                             f"got {type(seal_key).__name__} of length {len(seal_key) if seal_key else 0}")
        #: The tenant's sealing key (never stored): entries and records are sealed with BLAKE2b keyed by it.
        self._seal_key = seal_key or b""
        #: When records are written (``recorded_at``); no decision depends on it.
        self.clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        if anchor_every < 1:
            raise ValueError(f"anchor_every must be at least 1, got {anchor_every}")
        #: Where the chain's heads go to be kept outside the database (see :meth:`anchor`).
        self.anchor_sink = anchor_sink
        self.anchor_every = anchor_every
        self._anchored = -1
        self.policy = policy
        self.event_limits = event_limits
        self._store: Store = store if store is not None else MemoryStore()
        if notify and not capabilities_of(self._store).keeps_notices:
            raise ValueError(f"notify=True needs a store with a notices outbox; {type(self._store).__name__} "
                             "does not declare capabilities.keeps_notices")
        #: Whether each commit writes notices to the store's outbox (see :mod:`gridpoints.model._notices`).
        self.notify = notify
        wanted = policy.spec.notices.kinds
        #: The kinds the ruleset's ``notices.kinds`` lets through.
        self.notice_kinds = frozenset(NoticeKind(k) for k in wanted) if wanted is not None else frozenset(NoticeKind)
        self.tenant = tenant
        self.registry: Registry = registry if registry is not None else MemoryRegistry()
        self.pseudonymiser = pseudonymiser
        self.max_retries = max_retries
        self._retried = 0
        self._retry_lock = threading.Lock()
        self.index = LedgerIndex(self._store, tenant)
        self.context = Context(self)
        self._capabilities: StoreCapabilities = capabilities_of(self._store)
        self._times = LocalTimes(policy.zone)
        handlers: dict[str, Handler] = {Action.AWARD.value: Handler(Action.AWARD, _award, limited=True),
                                        Action.LATE.value: Handler(Action.LATE, _late),
                                        Action.SCOPE.value: Handler(Action.SCOPE, _scope_note)}
        self._event_planners: dict[str, EventPlanner] = {}
        self._rule_hooks: dict[str, RuleHook] = {}
        base_hooks: dict[str, list[BaseHook]] = {}
        follow_hooks: list[FollowHook] = []
        for mechanism in mechanisms:
            for handler in mechanism.handlers:
                if handler.action.value in handlers:
                    raise ValueError(f"action {handler.action.value!r} of {mechanism.name} is already handled")
                handlers[handler.action.value] = handler
            for owns, planner in mechanism.events:
                for name, etype in policy.event_types.items():
                    if owns(etype):
                        self._event_planners.setdefault(name, planner)
            for applies, hook in mechanism.rules:
                for rule in policy.rules:
                    if applies(rule):
                        self._rule_hooks.setdefault(rule.id, hook)
            for changes, base_hook in mechanism.bases:
                for rule in policy.rules:
                    if changes(policy, rule):
                        base_hooks.setdefault(rule.id, []).append(base_hook)
            follow_hooks.extend(follow for follows, follow in mechanism.follows if follows(policy))
        self._base_hooks: dict[str, tuple[BaseHook, ...]] = {k: tuple(v) for k, v in base_hooks.items()}
        self._follow_hooks: tuple[FollowHook, ...] = tuple(follow_hooks)
        self.handlers: Mapping[str, Handler] = handlers
        # The decider looks a handler up by the action member's identity: members are singletons, and an
        # enum member's hash is a Python-level call.
        self._handler_of: dict[int, Handler] = {id(h.action): h for h in handlers.values()}
        self._ref = policy.ref
        self._community = policy.spec.community or policy.id
        #: Window kinds a period close may close for this ruleset: months, and whatever it schedules,
        #: challenges or allocates by.
        self._closing_kinds = tuple(sorted({"month", *policy.scheduled, *(c.window for c in policy.spec.challenges),
                                            *(i.allocate.window for i in policy.spec.catalog if i.allocate)}))
        self._check_key()
        #: Event type → the attribute naming the event it settles, for the types a mechanism targets.
        self._targets: dict[str, str] = {name: attribute for mechanism in mechanisms
                                         for owns, attribute in mechanism.targets
                                         for name, etype in policy.event_types.items() if owns(etype)}
        #: The version plans of this kernel are stamped with when another kernel commits them (None: its own).
        self._tag: str | None = None
        #: The kernel whose transactions commit this one's plans (None: itself).
        self._main: Kernel | None = None
        self.version_table = Versions(self)
        for older in previous:
            sibling = Kernel(older, self._store, tenant=tenant, registry=self.registry, pseudonymiser=pseudonymiser,
                             max_retries=max_retries, mechanisms=mechanisms, seal_key=seal_key, clock=self.clock,
                             scopes=scopes, event_limits=event_limits, notify=notify)
            sibling.index, sibling._tag, sibling._main = self.index, older.ref, self
            sibling.version_table = self.version_table
            self.version_table.hold(sibling)

    @property
    def store(self) -> Store:
        return self._store

    @store.setter
    def store(self, store: Store) -> None:
        # The index belongs to a store and tenant: a new store starts a new one.
        if self.notify and not capabilities_of(store).keeps_notices:
            raise ValueError("this engine writes notices; the new store has no notices outbox")
        old, capabilities = self._store, self._capabilities
        self._store, self._capabilities = store, capabilities_of(store)
        try:
            self._check_key()
        except SealKeyMismatch:
            self._store, self._capabilities = old, capabilities
            raise
        self.index = LedgerIndex(store, self.tenant)
        for sibling in self.version_table.kernels()[1:]:
            sibling._store, sibling._capabilities, sibling.index = store, self._capabilities, self.index

    def _check_key(self) -> None:
        """Refuse (:class:`~gridpoints.errors.SealKeyMismatch`) a store whose ledger for this tenant was sealed
        with another key than the engine's, or keyed where the engine is not, or the other way round: one
        read of the head row, judged by its MAC (or, for a head not written since heads were sealed, by the
        last entry's hash). A store that does not seal its head, or a tenant with nothing sealed, passes."""
        if not self._capabilities.seals_head:
            return
        row = cast(SealedHeadStore, self._store).sealed_head(self.tenant)
        key = self._seal_key
        if row.mac is not None:
            if row.holds(self.tenant, key):
                return
            unkeyed = row.holds(self.tenant)
        else:
            if row.head.seq == 0:
                return
            last = next(iter(self._store.entries(self.tenant, after_seq=row.head.seq - 1)), None)
            if last is None or last.hash == last.expected_hash(key):
                # A head with no entry under it is a broken ledger, for verify to name, not a key question.
                return
            unkeyed = last.hash == last.expected_hash()
        reason = "keyed_ledger" if not key else "unkeyed_ledger" if unkeyed else "other_key"
        raise SealKeyMismatch(reason, tenant=self.tenant, seq=row.head.seq)

    @property
    def retries(self) -> int:
        """Serialization failures retried since this kernel was made (monotonic; for a host's metrics).
        Each was invisible to the caller; one that outlived ``max_retries`` was raised and is not counted."""
        return self._retried

    # -- intake and planning -----------------------------------------------------------------------------

    def coerce(self, raw: EventInput, index: int | None) -> Event:
        p = self.pseudonymiser
        event = coerce_event(self.policy, raw, index, self.event_limits, redact=p is not None)
        if p is None:
            return event
        return attrs.evolve(
            event, subject=p.subject(event.subject),
            actor=p.subject(event.actor) if event.actor is not None else None,
            household=p.household(event.household) if event.household is not None else None,
        )

    def registered(self, event: Event, index: int | None) -> tuple[Event, Award | None]:
        """The event with the grid and household of its subject's registry membership at its time.

        An event without a household gets the registry's. One naming another grid or household is refused
        with an :class:`EventError` (``scopes="refuse"``, the default), or takes the registry's with a note
        in its trace (``scopes="registry"``). An unregistered subject keeps what the event says."""
        membership = self.registry.membership(event.subject, event.occurred_at)
        if membership is None:
            return event, None
        grid, household = membership.grid, membership.household
        if event.grid == grid and (event.household is None or event.household == household):
            if event.household is None and household is not None:
                return attrs.evolve(event, household=household), None
            return event, None
        changed: dict[str, str] = {}
        if event.grid != grid:
            changed["grid"] = f"{event.grid} → {grid}"
        if event.household is not None and event.household != household:
            changed["household"] = f"{event.household} → {household if household is not None else '-'}"
        if self.scopes == "refuse":
            field = "grid" if "grid" in changed else "household"
            said = event.grid if field == "grid" else event.household
            where = (f"grid {grid!r}" if field == "grid"
                     else f"household {household!r}" if household is not None else "no household")
            raise EventError(f"{event.subject!r} is registered in {where} at {event.occurred_at.isoformat()}, "
                             f"not {said!r} (the registry decides scopes; an engine with scopes='registry' "
                             "takes the registry's)", field=field, event_id=event.id, index=index)
        note = Award(SCOPE_NOTE, SCOPE_NOTE, "-", 0, "scope.registry", changed, action=Action.SCOPE)
        return attrs.evolve(event, grid=grid, household=household), note

    def plan_input(self, raw: EventInput, index: int | None) -> Plan:
        """Check one submitted event and plan it (``index``: its position in a batch, None for a single
        submit); the plan is marked :attr:`~Plan.submitted`, so its commit applies the closed-period rule. An
        event that settles an earlier one (a verification, an appeal, a repair task) is planned by the ruleset
        version that governs the event it names, else by this kernel's."""
        versions = self.version_table
        if versions.targets:
            governing = versions.router(raw)
            if governing is not None and governing is not self:
                return governing.plan_input_here(raw, index)
        return self.plan_input_here(raw, index)

    def plan_input_here(self, raw: EventInput, index: int | None) -> Plan:
        """Check one submitted event and plan it by this kernel's own version."""
        event, note = self.registered(self.coerce(raw, index), index)
        text = raw.get("occurred_at") if type(raw) is dict else None
        local, utc, day = self._times.of(event.occurred_at, text)
        planner = self._event_planners.get(event.type)
        if planner is not None:
            # A resubmitted settlement or repair task is answered from its record at commit (the original
            # decision, or a conflict), not planned again against the state it has itself changed since.
            if self.context.record(event.id) is not None:
                return Plan(event, None, local, utc, (), True, index, ruleset=self._tag)
            planned = planner(self.context, event, index)
            return self._followed(Plan(event, None, local, utc,
                                       (note, *planned) if note is not None else tuple(planned), True, index,
                                       ruleset=self._tag))
        etype = self.policy.event_types[event.type]
        if etype.ignore or not etype.rules:
            return self._followed(Plan(event, None, local, utc, (note,) if note is not None else (), True, index,
                                       ruleset=self._tag))
        awards: list[Award] = [note] if note is not None else []
        context: dict[str, Any] | None = None
        windows: dict[str, str] = {}
        attributes = event.attributes
        base_hooks = self._base_hooks
        for rule in etype.rules:
            if (rule.valid_from is not None or rule.valid_until is not None) and not rule.in_force(event.occurred_at):
                continue
            if rule.predicate is not None:
                if context is None:
                    context = self._fields(event, local, day)
                if not rule.predicate(attributes, context):
                    continue
            try:
                base, code, args = rule.points(attributes)
            except PointsInputError as exc:
                raise EventError(f"{exc} (rule {rule.id!r})", field=f"attributes.{exc.field}",
                                 event_id=event.id, index=index) from None
            changers = base_hooks.get(rule.id) if base_hooks else None
            if changers is not None:
                if context is None:
                    context = self._fields(event, local, day)
                for change in changers:
                    base, code, args = change(self.context, rule, event, base, code, args, context)
            if not INT64_MIN <= base <= INT64_MAX:
                # Refused here, before any store is touched, the same on every store.
                raise EventError(f"rule {rule.id!r} computes {base} points, outside the signed 64-bit range "
                                 "every store holds", field="points", event_id=event.id, index=index)
            awards.append(self.rule_award(rule, event, base, code, args, day, windows))
        return self._followed(Plan(event, None, local, utc, tuple(awards), True, index, ruleset=self._tag))

    @staticmethod
    def _fields(event: Event, local: str, day: date) -> dict[str, Any]:
        # The local time text is ISO 8601 (YYYY-MM-DDTHH:…): its hour is characters 11–12.
        return {"subject": event.subject, "grid": event.grid, "household": event.household,
                "community": event.community, "actor": event.actor, "date": day.isoformat(),
                "weekday": day.isoweekday(), "hour": int(local[11:13])}

    def _followed(self, plan: Plan) -> Plan:
        follows = self._follow_hooks
        if not follows:
            return plan
        # Each hook sees the awards the hooks before it added (a streak's, for an honour that reads it).
        for follow in follows:
            added = follow(self.context, plan)
            if added:
                plan = plan._replace(awards=(*plan.awards, *added))
        return plan

    def plan(self, event: Event, awards: Sequence[Award], fingerprint: str | None = None) -> Plan:
        """A plan for an engine-made event (period close, expiry, redemption …)."""
        local, utc, _ = self._times.of(event.occurred_at)
        return self._followed(Plan(event, fingerprint, local, utc, tuple(awards), ruleset=self._tag))

    def rule_award(self, rule: CompiledRule, event: Event, base: int, code: str, args: Mapping[str, Any],
                   day: date, windows: dict[str, str]) -> Award:
        """The award one matched rule makes for an event: as a mechanism shapes it (pending verification, a
        repairable deduction), else through the limits."""
        hook = self._rule_hooks.get(rule.id)
        if hook is not None:
            shaped = hook(self.context, rule, event, base, code, args, day, windows)
            if shaped is not None:
                return shaped
        keys = self.limit_keys(rule, event, day, windows) if base > 0 and rule.limits else ()
        return Award(rule.id, rule.name, rule.category, base, code, args, keys)

    def limit_keys(self, rule: CompiledRule, event: Event, day: date, windows: dict[str, str], *,
                   selected: Sequence[CompiledLimit] | None = None) -> LimitKeys:
        """The counters the rule's limits (or the ``selected`` ones) read for an award in ``event``'s scopes."""
        applied = []
        dated = rule.dated_limits
        for limit in rule.limits if selected is None else selected:
            if dated and not limit.in_force(event.occurred_at):
                continue
            window = windows.get(limit.window)
            if window is None:
                window = windows[limit.window] = window_id(limit.window, day)
            pool_id = self.scope_id(limit.pool, event) if limit.pool is not None else None
            applied.append((limit, limits.counter_keys(limit, self.scope_id(limit.scope, event), pool_id, window)))
        return tuple(applied)

    def scope_id(self, scope: str, event: Event) -> str:
        if scope == "subject":
            return event.subject
        if scope == "household":
            # A subject without a household is a household of one.
            return event.household if event.household is not None else f"subject:{event.subject}"
        if scope == "grid":
            return event.grid
        return event.community or self._community

    def check_duties(self, event: Event, original: Trace, roles: Sequence[str] | None, not_beneficiary: bool,
                     index: int | None) -> Membership | None:
        """Segregation of duties: a listed role; never the beneficiary or a member of their household.
        Returns the actor's membership (None if unregistered and no role is required)."""
        actor = str(event.actor)

        def fail(message: str) -> SegregationError:
            return SegregationError(message, field="actor", event_id=event.id, index=index)

        if actor == original.subject:
            raise fail(f"{actor!r} cannot {event.type} their own event")
        membership = self.registry.membership(actor, event.occurred_at)
        if roles is not None:
            if membership is None:
                raise fail(f"{actor!r} is not registered at {event.occurred_at.isoformat()}; "
                           f"{event.type} needs one of the roles {', '.join(roles)}")
            if not membership.roles & set(roles):
                raise fail(f"{actor!r} holds {', '.join(sorted(membership.roles))}; "
                           f"{event.type} needs one of {', '.join(roles)}")
        if (not_beneficiary and membership is not None and membership.household is not None
                and self.household_of(original) == membership.household):
            raise fail(f"{actor!r} lives in the beneficiary's household {membership.household!r}")
        return membership

    def household_of(self, original: Trace) -> str | None:
        """The beneficiary's household at the time of an event: as the event said, else from the registry."""
        if original.household is not None:
            return original.household
        found = self.registry.membership(original.subject, datetime.fromisoformat(original.occurred_local))
        return found.household if found is not None else None

    # -- committing --------------------------------------------------------------------------------------------

    def commit(self, plans: list[Plan]) -> list[Decision]:
        """Decide and record ``plans`` in one store transaction, all or nothing; retried on a serialization
        failure (never reported as a business rejection).

        A :attr:`~Plan.submitted` plan whose window a period close already closed — read in this transaction,
        with the limits' counters, so a close committed before it is seen — is flagged late (an extra trace
        line, nothing posted), or refused with an :class:`~gridpoints.errors.EventError` on ``occurred_at``
        (nothing written) when the ruleset says ``closed_periods: reject``. Both come after the idempotency
        lookup: a resubmission of a recorded event is answered from its record. An older version's kernel
        commits through the engine's own (one transaction, its plans stamped with its version)."""
        if self._main is not None:
            return self._main.commit(plans)
        if not plans:
            return []
        keys: set[CounterKey] = set()
        accounts: set[str] = set()
        # The closed-period markers each submitted plan's day reads (empty for engine-made plans).
        markers: list[tuple[CounterKey, ...]] = []
        by_day: dict[str, tuple[CounterKey, ...]] = {}
        kinds = self._closing_kinds
        for plan in plans:
            if plan.submitted:
                day = plan.occurred_local[:10]
                marks = by_day.get(day)
                if marks is None:
                    on = date.fromisoformat(day)
                    marks = by_day[day] = tuple(closed_marker(kind, window_id(kind, on)) for kind in kinds)
                    keys.update(marks)
                markers.append(marks)
            else:
                markers.append(())
            accounts.add(spendable(plan.event.subject))
            for award in plan.awards:
                if award.subject is not None:
                    accounts.add(spendable(award.subject))
                for _, limit_keys in award.limits:
                    keys.update(limit_keys)
                if award.guards:
                    keys.update(award.guards)
                if award.counters:
                    keys.update(award.counters)
        ordered_keys = sorted(keys) if len(keys) > 1 else list(keys)
        ordered_accounts = sorted(accounts) if len(accounts) > 1 else list(accounts)
        # A store that persists records needs every fingerprint: compute them before the transaction takes
        # its locks. One that keeps the event computes a fingerprint only if the id is resubmitted.
        fingerprints: list[str | None] = ([plan.fingerprint for plan in plans] if self._capabilities.needs_fingerprints
                        else [plan.custom_fingerprint for plan in plans])
        decisions, head, records = self._retrying(
            lambda: self._commit(plans, ordered_keys, ordered_accounts, fingerprints, markers,
                                 [key for marks in by_day.values() for key in marks]))
        if self.anchor_sink is not None:
            # Every ``anchor_every`` entries (the first anchor after the first commit that crosses a multiple).
            done = self._anchored
            if done < 0 or head.seq // self.anchor_every > done // self.anchor_every:
                self._emit(head, records, "every")
        return decisions

    def anchor(self, reason: str) -> LedgerAnchor | None:
        """Send the committed heads to the anchor sink now (the engine does after each period close and every
        ``anchor_every`` entries); returns the anchor, or ``None`` without a sink."""
        if self.anchor_sink is None:
            return None
        return self._emit(self._store.head(self.tenant), self._store.record_head(self.tenant), reason)

    def _emit(self, head: Anchor, records: Anchor, reason: str) -> LedgerAnchor:
        assert self.anchor_sink is not None
        made = LedgerAnchor(self.tenant, head.seq, head.hash, records.seq, records.hash,
                            self.clock().astimezone(UTC).isoformat(), reason)
        self._anchored = max(self._anchored, head.seq)
        self.anchor_sink(made)
        return made

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for tries in range(self.max_retries):
            try:
                return attempt()
            except SerializationFailure:
                if tries + 1 == self.max_retries:
                    raise
                with self._retry_lock:
                    self._retried += 1
                # Jittered exponential back-off spreads out writers that collided on the same rows.
                time.sleep(random.uniform(0, 0.002 * 2 ** min(tries, 8)))
        raise AssertionError("unreachable")

    def _commit(self, plans: list[Plan], keys: list[CounterKey], accounts: list[str],
                fingerprints: list[str | None], markers: list[tuple[CounterKey, ...]],
                watched: list[CounterKey]) -> tuple[list[Decision], Anchor, Anchor]:
        with self._store.transaction(self.tenant, counters=keys, accounts=accounts) as txn:
            stored = txn.find_events([plan.event.id for plan in plans])
            counters = txn.read_counters(keys)
            # Read before any plan is decided: what the period closes committed before this transaction.
            closed = {key for key in watched if counters[key]}
            decider = Decider(self, counters, txn.read_balances(accounts), txn.head())
            decide = decider.decide
            decisions: list[Decision] = []
            records: list[EventRecord] = []
            batch: dict[str, EventRecord] = {}
            # Most batches hold new, distinct ids: then no event needs looking up one by one.
            look = bool(stored) or len({plan.event.id for plan in plans}) < len(plans)
            of = EventRecord.of
            sealer = _Sealer(self, txn.record_head(), decider) if self._capabilities.seals_records else None
            for position, (plan, fingerprint) in enumerate(zip(plans, fingerprints, strict=True)):
                event = plan.event
                if look:
                    record = batch.get(event.id) or stored.get(event.id)
                    if record is not None:
                        received = fingerprint or plan.fingerprint
                        if record.fingerprint != received:
                            raise IdempotencyConflict(event.id, stored=record.fingerprint, received=received)
                        decisions.append(record.original())
                        continue
                if closed and markers[position]:
                    plan = self._closed_rule(plan, markers[position], closed)
                if sealer is not None:
                    sealer.start()
                decision = decide(plan)
                record = of(event, decision, fingerprint, utc=plan.occurred_utc)
                if sealer is not None:
                    sealer.seal(event, record)
                if look:
                    batch[event.id] = record
                records.append(record)
                decisions.append(decision)
            if sealer is not None:
                sealer.finish()
            if self._capabilities.seals_head:
                moved = sealer.head() if sealer is not None else txn.record_head()
                cast(HeadSealTransaction, txn).seal_head(SealedHead.expected_mac(
                    self.tenant, Anchor(decider.seq, decider.hash), moved, self._seal_key))
            txn.append(decider.entries, decider.deltas, records)
            if decider.notices:
                # The store declared keeps_notices (checked when the engine was made).
                cast(NoticeTransaction, txn).append_notices(decider.notices)
            heads = txn.head(), txn.record_head()
        return decisions, *heads


    def _closed_rule(self, plan: Plan, marks: tuple[CounterKey, ...], closed: set[CounterKey]) -> Plan:
        """A new submitted plan under the closed-period rule: unchanged while its windows are open; else
        flagged late, or refused under ``closed_periods: reject``."""
        shut = next((key for key in marks if key in closed), None)
        if shut is None:
            return plan
        event = plan.event
        if self.policy.spec.closed_periods == "reject":
            raise EventError(f"event {event.id!r} occurred in {shut.window}, which was already closed; "
                             "this ruleset refuses late events (closed_periods: reject)",
                             field="occurred_at", event_id=event.id, index=plan.batch_index)
        late = Award("late", "迟到事件", "late", 0, "late.closed", {"window": shut.window}, action=Action.LATE)
        return plan._replace(awards=(*plan.awards, late))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Sealer:
    """Seals each new record of a transaction onto the records' chain, bound to its entries, with the
    counter increments its decision made (collected per record: the decider's deltas are swapped for each)."""

    __slots__ = ("_batch", "_decider", "_first", "_from", "_hash", "_key", "_mine", "_recorded_at", "_seq",
                 "_tenant")

    def __init__(self, kernel: Kernel, head: Any, decider: Decider) -> None:
        self._decider = decider
        self._seq, self._hash = head.seq, head.hash
        self._key = kernel._seal_key
        self._tenant = kernel.tenant
        moment = kernel.clock()
        if moment.tzinfo is None:
            raise ValueError(f"the engine's clock must return an aware datetime, got {moment!r}")
        self._recorded_at = moment.astimezone(UTC).isoformat()
        self._batch = decider.deltas
        self._mine: dict[CounterKey, int] = {}
        self._first = 0
        self._from = 0

    def start(self) -> None:
        decider = self._decider
        self._first, self._from = len(decider.entries), decider.seq + 1
        self._mine = decider.deltas = {}

    def seal(self, event: Event, record: EventRecord) -> None:
        decider, mine, batch = self._decider, self._mine, self._batch
        for key, delta in mine.items():
            batch[key] = batch.get(key, 0) + delta
        self._seq += 1
        made = RecordSeal.make(
            seq=self._seq, tenant=self._tenant, event_id=record.event_id, fingerprint=record.fingerprint,
            decision=record.decision, actor=event.actor, attributes=attributes_json(event.attributes.items()),
            recorded_at=self._recorded_at, deltas=deltas_json(mine.items()), entry_from=self._from,
            entry_hashes="".join(entry.hash for entry in decider.entries[self._first:]), prev_hash=self._hash,
            key=self._key)
        self._hash = made.hash
        record.sealed(made)
        decider.deltas = batch

    def finish(self) -> None:
        self._decider.deltas = self._batch

    def head(self) -> Anchor:
        """The records' head after the records sealed so far."""
        return Anchor(self._seq, self._hash)


class Decider:
    """Turns plans into entries inside one transaction, over the counters and balances read under lock.

    Handlers use :attr:`counters`, :attr:`balances`, :meth:`add`, :meth:`post` and :meth:`grant`;
    :attr:`context` gives them the policy and the rest of the seam.
    """

    __slots__ = ("_categories", "_floor", "_granted", "_handlers", "_key", "_on", "_ref", "_tenant", "_told",
                 "_versions", "balances", "context", "counters", "deltas", "entries", "hash", "notices", "seq", "watch",
                 "watched")

    def __init__(self, kernel: Kernel, counters: dict[CounterKey, int], balances: dict[str, int], head: Any) -> None:
        self.context = kernel.context
        self._handlers = kernel._handler_of
        self._tenant = kernel.tenant
        self._ref = kernel.policy.ref
        self._floor = kernel.policy.spec.floor
        self._categories = kernel.policy.spec.category_names()
        #: The version deciding the current plan (None: the kernel's own) and the versions held.
        self._on: str | None = None
        self._versions = kernel.version_table
        self.counters = counters
        self.balances = balances
        self.seq, self.hash = head.seq, head.hash
        self._key = kernel._seal_key
        self.deltas: dict[CounterKey, int] = {}
        self.entries: list[Entry] = []
        self._granted: dict[str, int] = {}
        #: The account being decided for, and its net change so far.
        self.watch = ""
        self.watched = 0
        #: Notices for the outbox, or None when the engine writes none.
        self.notices: list[Notice] | None = [] if kernel.notify else None
        self._told = kernel.notice_kinds

    def notify(self, plan: Plan, kind: NoticeKind, subject: str, points: int = 0, *, about: str | None = None,
               **details: Any) -> None:
        """Add a notice for the outbox (written in this transaction), if the engine writes notices. It tells of
        the plan's event, or of the event ``about`` (a reminder's item)."""
        if self.notices is not None and kind in self._told:
            self.notices.append(Notice(kind, subject, about or plan.event.id, plan.occurred_local, points, details))

    def add(self, key: CounterKey, amount: int) -> None:
        self.counters[key] = self.counters.get(key, 0) + amount
        self.deltas[key] = self.deltas.get(key, 0) + amount

    def post(self, plan: Plan, subject: str, debit: str, credit: str, amount: int, rule: str, reason: str,
             reverses: int | None = None) -> None:
        """Seal one entry onto the chain and move the balances."""
        self.seq = seq = self.seq + 1
        event_id, prev = plan.event.id, self.hash
        tenant, ref, occurred = self._tenant, self._ref, plan.occurred_utc
        self.hash = digest = blake2b(entry_canonical_bytes_of_text(
            seq, tenant, event_id, subject, debit, credit, amount, ref, rule, reason, occurred, reverses, prev),
            digest_size=32, key=self._key).hexdigest()
        self.entries.append(_entry((seq, tenant, event_id, subject, debit, credit, amount, ref, rule, reason,
                                    occurred, reverses, prev, digest)))
        balances = self.balances
        balances[debit] = low = balances.get(debit, 0) - amount
        balances[credit] = high = balances.get(credit, 0) + amount
        if low < INT64_MIN or high > INT64_MAX:
            # Inside the transaction, before anything is written: it is rolled back whole, on every store.
            raise EventError(f"{amount} points would take a balance beyond the signed 64-bit range every store "
                             "holds", field="points", event_id=event_id)
        if credit == self.watch:
            self.watched += amount
        elif debit == self.watch:
            self.watched -= amount

    def grant(self, plan: Plan, award: Award, amount: int, steps: list[LimitStep], reason: str = _AWARD) -> int:
        """Post an award's final amount to its subject: a credit from issuance, or a deduction (through the
        balance floor) to the deductions account. Returns the amount posted (negative for a deduction)."""
        subject = award.subject or plan.event.subject
        # The account being decided for (set per award before its handler runs) is this subject's.
        account = self.watch
        if amount < 0 and self._floor is not None:
            before = self.balances.get(account, 0)
            allowed = limits.floor_allowance(-amount, before, self._floor)
            outcome = "floor.within" if allowed == -amount else "floor.truncated"
            steps.append(LimitStep("floor", "floor", "subject", subject, "-", before, self._floor, amount, -allowed,
                                   "truncate", outcome))
            amount = -allowed
        if amount > 0:
            self.post(plan, subject, ISSUANCE, account, amount, award.rule_id, reason)
        elif amount < 0:
            self.post(plan, subject, account, DEDUCTIONS, -amount, award.rule_id, _DEDUCTION)
        return amount

    def limit(self, award: Award, amount: int, steps: list[LimitStep]) -> int:
        """Put a positive amount through the award's limits and count what is left in them: each limit sees
        what the previous ones left (diminishing first, then the listed order). For a handler that decides
        itself whether its award is limited at all (a worker's credit paid only if the award was)."""
        counters = self.counters
        for limit, keys in award.limits:
            amount, step = limits.apply(limit, keys, amount, counters)
            steps.append(step)
        for limit, keys in award.limits:
            limits.record(limit, keys, amount, counters, self.deltas)
        return amount

    def granted(self, rule_id: str) -> int:
        """What an earlier award of the plan being decided, by rule id, moved on its subject's balance."""
        return self._granted.get(rule_id, 0)

    def _version(self, ruleset: str | None) -> None:
        """Decide the next plans by ``ruleset`` (None: the kernel's own): stamp, floor, categories, context."""
        kernel = self._versions.kernel(ruleset)
        self._on = ruleset
        self._ref = kernel.policy.ref
        self._floor = kernel.policy.spec.floor
        self._categories = kernel.policy.spec.category_names()
        self.context = kernel.context

    def decide(self, plan: Plan) -> Decision:
        if plan.ruleset != self._on:
            self._version(plan.ruleset)
        event = plan.event
        first = len(self.entries)
        told = len(self.notices) if self.notices is not None else 0
        net = 0
        rules: list[RuleData] = []
        subject = event.subject
        granted = self._granted
        if granted:
            granted.clear()
        for award in plan.awards:
            data = self._apply(plan, award)
            if data[8]:
                rules.append(data)
            if len(plan.awards) > 1:
                granted[award.rule_id] = data[7]
            if award.subject is None or award.subject == subject:
                net += data[7]
        entries = tuple(self.entries[first:]) if len(self.entries) > first else ()
        if self.notices is not None and entries:
            self._points_notices(plan, entries, rules, told)
        return Decision(event.id, subject, net, entries,
                        head=(event.type, plan.occurred_local, self._ref, event.grid, event.household,
                              event.community), rules=tuple(rules))

    def _points_notices(self, plan: Plan, entries: tuple[Entry, ...], rules: list[RuleData], told: int) -> None:
        """Points awarded or deducted per subject by one decision, told before what its handlers told (from
        index ``told``); the mall's own movements (spending, held and returned points) tell nothing new."""
        assert self.notices is not None
        theirs = self.notices[told:]
        del self.notices[told:]
        net: dict[str, int] = {}
        for entry in entries:
            if entry.reason in Reason.REDEMPTION:
                continue
            account = spendable(entry.subject)
            if entry.credit == account:
                net[entry.subject] = net.get(entry.subject, 0) + entry.amount
            elif entry.debit == account:
                net[entry.subject] = net.get(entry.subject, 0) - entry.amount
        names = ", ".join(dict.fromkeys(str(r[1] or r[0]) for r in rules))
        for subject, points in net.items():
            if points:
                kind = NoticeKind.POINTS_AWARDED if points > 0 else NoticeKind.POINTS_DEDUCTED
                self.notify(plan, kind, subject, points, rule=names)
        self.notices.extend(theirs)

    def _apply(self, plan: Plan, award: Award) -> RuleData:
        counters = self.counters
        for guard in award.guards:
            if counters.get(guard, 0):
                raise SettlementError(f"event {guard.scope_id!r} was already settled", field="attributes.event",
                                      event_id=plan.event.id)
        for guard in award.guards:
            self.add(guard, 1)
        self.watch, self.watched = spendable(award.subject or plan.event.subject), 0
        handler = self._handlers.get(id(award.action))
        if handler is None:
            raise TypeError(f"no handler for action {award.action!r}: is its mechanism in the engine's table?")
        amount = award.base
        steps: list[LimitStep] = []
        if handler.limited and amount > 0 and award.limits:
            amount = self.limit(award, amount, steps)
        status = handler.function(self, plan, award, amount, steps)
        category, args = award.category, award.args
        return (award.rule_id, award.rule_name, category, award.base, award.code,
                tuple(args.items()) if args else (), tuple(map(tuple, steps)) if steps else (),
                self.watched, status, self._categories.get(category, category))


def _late(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "late"


def _award(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    decider.grant(plan, award, amount, steps)
    return "awarded"


def _scope_note(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "registry"


#: An entry from its 14 fields without the named tuple's argument handling (the fields are in order).
_entry: Callable[[tuple[Any, ...]], Entry] = functools.partial(tuple.__new__, Entry)

__all__ = ["SCOPE_NOTE", "Action", "ActionFunction", "BaseHook", "Context", "Decider", "EventInput", "EventPlanner",
           "FollowHook", "Handler", "Kernel", "Mechanism", "RuleHook", "Scopes", "Versions"]
