"""The engine: events in, decisions and ledger entries out.

Data flows one way: check the event → match rules → base points → limits (reading window counters) →
decision → one store transaction that appends entries, counter deltas and the event record together.
The engine reads no clock: every outcome is a function of the policy, the ordered events and the store;
"now" is passed in where a deadline matters (period close, expiry).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from hashlib import blake2b
from typing import Any, Literal, TypeVar

import attrs

from gridpoints.calendar import window_id
from gridpoints.engine._coerce import coerce_event
from gridpoints.engine._plan import Award, LimitKeys, Plan
from gridpoints.errors import (
    EventError,
    IdempotencyConflict,
    SegregationError,
    SerializationFailure,
    SettlementError,
)
from gridpoints.model import (
    DEDUCTIONS,
    EXPIRED,
    ISSUANCE,
    Anchor,
    CounterKey,
    Decision,
    Entry,
    Event,
    EventRecord,
    LimitStep,
    RuleTrace,
    Trace,
    entry_canonical_bytes,
    pending,
    spendable,
)
from gridpoints.model._registry import Membership, MemoryRegistry, Registry
from gridpoints.policy import _limits as limits
from gridpoints.policy._compile import CompiledRule, PointsInputError, Policy
from gridpoints.privacy import Pseudonymiser
from gridpoints.storage import MemoryStore, Store

T = TypeVar("T")

EventInput = Event | Mapping[str, Any]


class Engine:
    """Applies a :class:`~gridpoints.policy._compile.Policy` to events and keeps the ledger in a store.

    Thread safety: an ``Engine`` holds no mutable state of its own; each submission is one store
    transaction that locks the counters it reads, so concurrent ``submit`` calls from many threads (or
    processes, with a SQL store) leave the same ledger as some serial order of those calls, caps included.
    Share one engine per policy across a web server's threads.

    Privacy: with a ``pseudonymiser``, subject, actor and household ids are replaced by keyed pseudonyms
    as events enter, before anything is hashed or stored; readers (``balance``, ``history`` …) take raw
    ids and pseudonymise them the same way.
    """

    def __init__(
        self, policy: Policy, store: Store | None = None, *, tenant: str = "default",
        registry: Registry | None = None, pseudonymiser: Pseudonymiser | None = None, max_retries: int = 8,
    ) -> None:
        self.policy = policy
        self.store: Store = store if store is not None else MemoryStore()
        self.tenant = tenant
        self.registry: Registry = registry if registry is not None else MemoryRegistry()
        self.pseudonymiser = pseudonymiser
        self.max_retries = max_retries

    def _id(self, subject: str) -> str:
        return self.pseudonymiser.subject(subject) if self.pseudonymiser is not None else subject

    def register(
        self, subject: str, *, grid: str, household: str | None = None, roles: Iterable[str] = ("resident",),
        since: datetime | None = None, until: datetime | None = None,
    ) -> Membership:
        """Add a membership to the engine's in-process registry (a host registry is managed by the host)."""
        if not isinstance(self.registry, MemoryRegistry):
            raise TypeError("this engine reads a host-managed registry; register subjects there")
        if self.pseudonymiser is not None:
            household = self.pseudonymiser.household(household) if household is not None else None
        record = Membership(self._id(subject), grid, household, roles, since, until)
        self.registry.add(record)
        return record

    # -- writing -------------------------------------------------------------------------------------

    def submit(self, event: EventInput) -> Decision:
        """Decide one event and record it. A resubmitted id with the same content returns the original
        decision and writes nothing; with different content it raises :class:`IdempotencyConflict`."""
        return self._submit([self._plan(self._coerce(event, None), None)])[0]

    def submit_many(self, events: Iterable[EventInput]) -> list[Decision]:
        """Decide and record a batch in one transaction: same decisions as submitting one by one.

        Every event is checked before anything is written; one bad event (or an idempotency conflict)
        raises and leaves the store untouched — the batch is all or nothing. An event that settles another
        (verify, reject, appeal, a repair task) must come in a later batch than the event it settles.
        """
        return self._submit([self._plan(self._coerce(raw, index), index) for index, raw in enumerate(events)])

    def _coerce(self, raw: EventInput, index: int | None) -> Event:
        event = coerce_event(self.policy, raw, index)
        p = self.pseudonymiser
        if p is None:
            return event
        return attrs.evolve(
            event, subject=p.subject(event.subject),
            actor=p.subject(event.actor) if event.actor is not None else None,
            household=p.household(event.household) if event.household is not None else None,
        )

    def _submit(self, plans: list[Plan]) -> list[Decision]:
        if not plans:
            return []
        keys: set[CounterKey] = set()
        accounts: set[str] = set()
        for plan in plans:
            accounts.update(plan.accounts())
            keys.update(plan.counter_keys())
        ordered_keys, ordered_accounts = sorted(keys), sorted(accounts)
        # A store that persists records needs every fingerprint: compute them here, before the transaction
        # takes the tenant's lock, rather than inside it. The memory store keeps the event and computes one
        # only if the id is ever resubmitted.
        fingerprints = None if isinstance(self.store, MemoryStore) else [plan.fingerprint for plan in plans]
        return self._retrying(lambda: self._commit(plans, ordered_keys, ordered_accounts, fingerprints))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for tries in range(self.max_retries):
            try:
                return attempt()
            except SerializationFailure:
                if tries + 1 == self.max_retries:
                    raise
                # Jittered exponential back-off spreads out writers that collided on the same rows.
                time.sleep(random.uniform(0, 0.002 * 2 ** min(tries, 8)))
        raise AssertionError("unreachable")

    def _commit(self, plans: list[Plan], keys: list[CounterKey], accounts: list[str],
                fingerprints: list[str] | None) -> list[Decision]:
        with self.store.transaction(self.tenant, counters=keys, accounts=accounts) as txn:
            stored = txn.find_events([plan.event.id for plan in plans])
            decider = _Decider(self, txn.read_counters(keys), txn.read_balances(accounts), txn.head())
            decisions: list[Decision] = []
            records: list[EventRecord] = []
            batch: dict[str, EventRecord] = {}
            for index, plan in enumerate(plans):
                event_id = plan.event.id
                fingerprint = fingerprints[index] if fingerprints is not None else plan.custom_fingerprint
                record = batch.get(event_id) or stored.get(event_id)
                if record is not None:
                    received = fingerprint or plan.fingerprint
                    if record.fingerprint != received:
                        raise IdempotencyConflict(event_id, stored=record.fingerprint, received=received)
                    decisions.append(Decision.from_record(record))
                    continue
                decision = decider.decide(plan)
                record = EventRecord(event_id, fingerprint, original=decision, event=plan.event)
                batch[event_id] = record
                records.append(record)
                decisions.append(decision)
            txn.append(decider.entries, decider.deltas, records)
        return decisions

    # -- planning --------------------------------------------------------------------------------------

    def plan(self, event: Event, awards: Sequence[Award], fingerprint: str | None = None,
             local: datetime | None = None) -> Plan:
        """A plan for an event: its awards and its time as local and UTC text."""
        if local is None:
            local = event.occurred_at.astimezone(self.policy.zone)
        return Plan(event, fingerprint, local.isoformat(), local.astimezone(UTC).isoformat(), tuple(awards))

    def _plan(self, event: Event, index: int | None) -> Plan:
        etype = self.policy.event_types[event.type]
        local = event.occurred_at.astimezone(self.policy.zone)
        awards: list[Award] = []
        if etype.settles:
            from gridpoints.engine.lifecycle._settle import settlement_awards

            awards = settlement_awards(self, event, index)
        elif etype.repairs:
            from gridpoints.engine.lifecycle._repair import task_awards

            awards = task_awards(self, event, index)
        elif not etype.ignore:
            context: dict[str, Any] | None = None
            day = local.date()
            windows: dict[str, str] = {}
            for rule in etype.rules:
                if rule.predicate is not None:
                    if context is None:
                        context = {"subject": event.subject, "grid": event.grid, "household": event.household,
                                   "community": event.community, "actor": event.actor}
                    if not rule.predicate(event.attributes, context):
                        continue
                try:
                    base, code, args = rule.points(event.attributes)
                except PointsInputError as exc:
                    raise EventError(f"{exc} (rule {rule.id!r})", field=f"attributes.{exc.field}",
                                     event_id=event.id, index=index) from None
                awards.append(self.rule_award(rule, event, base, code, args, day, windows))
        return self.plan(event, awards, local=local)

    def rule_award(self, rule: CompiledRule, event: Event, base: int, code: str, args: Mapping[str, Any],
                   day: date, windows: dict[str, str]) -> Award:
        """The award one matched rule makes for an event: pending if it needs verification, else through
        the limits; a repairable deduction also reads the repair's per-year and cooldown counters."""
        if rule.spec.verify is not None and base > 0:
            return Award.of(rule, base, code, args, action="pending")
        keys = self.limit_keys(rule, event, day, windows) if base > 0 else ()
        if rule.spec.repair is not None and base < 0:
            from gridpoints.engine.lifecycle._repair import opening_counters

            return Award.of(rule, base, code, args, limits=keys, counters=opening_counters(self, rule, event),
                            extra={"repair": self.policy.repair(rule.spec.repair)})
        return Award.of(rule, base, code, args, limits=keys)

    def limit_keys(self, rule: CompiledRule, event: Event, day: date, windows: dict[str, str]) -> LimitKeys:
        applied = []
        for limit in rule.limits:
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
        return event.community or self.policy.spec.community or self.policy.id

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

    # -- lifecycles ------------------------------------------------------------------------------------

    def expire_pending(self, now: datetime) -> list[Decision]:
        """Release every pending award whose verification window closed before ``now`` (see _settle)."""
        from gridpoints.engine.lifecycle._settle import expire_pending

        return expire_pending(self, now)

    def repairs(self, subject: str) -> list[Any]:
        """The subject's repairs (积分修复), open and closed, with what remains to do."""
        from gridpoints.engine.lifecycle._repair import repairs

        return repairs(self, self._id(subject))

    def redeem(self, subject: str, item: str, request_id: str, *, at: datetime) -> Decision:
        """Redeem an item of the points mall; idempotent by ``request_id``.

        Raises :class:`~gridpoints.errors.RedemptionRefused` (with a ``reason`` code) when the balance,
        stock, eligibility, availability or per-subject limit does not allow it; nothing is written then.
        An item with ``hold`` only holds the points: :meth:`fulfil` or :meth:`cancel` settles it.
        An item with ``allocate`` is applied for instead: the hold is settled at the window's close.
        """
        from gridpoints.engine.lifecycle._mall import redeem

        return redeem(self, self._id(subject), item, request_id, at)

    def fulfil(self, request_id: str, *, at: datetime) -> Decision:
        """Complete a held redemption: the held points go to the redemption account."""
        from gridpoints.engine.lifecycle._mall import settle_hold

        return settle_hold(self, request_id, at, "fulfil")

    def cancel(self, request_id: str, *, at: datetime) -> Decision:
        """Cancel a held redemption: points and stock are returned."""
        from gridpoints.engine.lifecycle._mall import settle_hold

        return settle_hold(self, request_id, at, "cancel")

    def close_period(self, window: str, *, now: datetime) -> Any:
        """Close a calendar window (e.g. ``"2026-04"``): scheduled base points for registered subjects,
        challenges, scarce-item allocation, point expiry, and the repair deadlines, verification windows
        and redemption holds that passed ``now``. Idempotent per (ruleset, window)."""
        from gridpoints.engine.lifecycle._close import close_period

        return close_period(self, window, now)

    def tier(self, subject: str, *, at: datetime) -> str | None:
        """The subject's 社区信用 tier at ``at``: the highest whose thresholds are met, or None."""
        from gridpoints.engine.lifecycle._mall import tier

        return tier(self, self._id(subject), at)

    def leaderboard(self, window: str, *, scope: str = "community", grid: str | None = None, top: int = 10,
                    metric: Literal["earned"] = "earned") -> list[Any]:
        """Ranking by points earned in ``window`` (restored and returned points excluded unless the ruleset
        counts them), community-wide or within one grid; ties broken as
        documented in :mod:`gridpoints.engine.lifecycle._close`."""
        from gridpoints.engine.lifecycle._close import leaderboard

        if metric != "earned":
            raise ValueError(f"unknown metric {metric!r}; leaderboards rank by 'earned'")
        return leaderboard(self, window, scope=scope, grid=grid, top=top)

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
        return Decision.from_record(record) if record is not None else None

    def explain(self, event_id: str, lang: Literal["zh", "en"] = "zh") -> str:
        """Explain a recorded event's decision; raises ``KeyError`` for an unknown id."""
        decision = self.decision(event_id)
        if decision is None:
            raise KeyError(f"no recorded event {event_id!r}")
        return decision.explain(lang)

    def head(self) -> Anchor:
        """The current hash-chain anchor: record it somewhere safe to detect truncation later."""
        return self.store.head(self.tenant)


class _Decider:
    """Turns plans into entries inside one transaction, over the counters and balances read under lock."""

    def __init__(self, engine: Engine, counters: dict[CounterKey, int], balances: dict[str, int],
                 head: Anchor) -> None:
        self.engine = engine
        self.tenant = engine.tenant
        self.ref = engine.policy.ref
        self.floor = engine.policy.spec.floor
        self.category_names = engine.policy.spec.categories
        self.counters = counters
        self.balances = balances
        self.seq, self.hash = head.seq, head.hash
        self.deltas: dict[CounterKey, int] = {}
        self.entries: list[Entry] = []
        #: Net change of the account being decided for, kept as entries are posted.
        self.watch = ""
        self.watched = 0

    def add(self, key: CounterKey, amount: int) -> None:
        self.counters[key] = self.counters.get(key, 0) + amount
        self.deltas[key] = self.deltas.get(key, 0) + amount

    def post(self, plan: Plan, subject: str, debit: str, credit: str, amount: int, rule: str, reason: str,
             reverses: int | None = None) -> None:
        self.seq = seq = self.seq + 1
        event_id, ref, occurred, prev = plan.event.id, self.ref, plan.occurred_utc, self.hash
        self.hash = digest = blake2b(
            entry_canonical_bytes(seq, self.tenant, event_id, subject, debit, credit, amount, ref, rule, reason,
                                  occurred, reverses, prev), digest_size=32,
        ).hexdigest()
        entry = Entry(seq, self.tenant, event_id, subject, debit, credit, amount, ref, rule, reason, occurred,
                      reverses, prev, digest)
        self.entries.append(entry)
        balances = self.balances
        balances[debit] = balances.get(debit, 0) - amount
        balances[credit] = balances.get(credit, 0) + amount
        if credit == self.watch:
            self.watched += amount
        elif debit == self.watch:
            self.watched -= amount

    def decide(self, plan: Plan) -> Decision:
        event = plan.event
        first_entry = len(self.entries)
        net = 0
        rule_traces = []
        for award in plan.awards:
            rule_trace = self._apply(plan, award)
            rule_traces.append(rule_trace)
            if award.subject is None or award.subject == event.subject:
                net += rule_trace.granted
        trace = Trace(event.id, event.type, event.subject, plan.occurred_local, self.ref,
                      tuple(rule_traces), event.grid, event.household, event.community)
        return Decision(event.id, event.subject, net, tuple(self.entries[first_entry:]), trace)

    def _apply(self, plan: Plan, award: Award) -> RuleTrace:
        event = plan.event
        for guard in award.guards:
            if self.counters.get(guard, 0):
                raise SettlementError(f"event {guard.scope_id!r} was already settled", field="attributes.event",
                                      event_id=event.id)
        for guard in award.guards:
            self.add(guard, 1)
        for key in award.extra.get("count", ()):
            self.add(key, 1)
        subject = award.subject or event.subject
        account, rule = spendable(subject), award.rule_id
        self.watch, self.watched = account, 0
        amount = award.base
        steps: list[LimitStep] = []
        status = "awarded"
        if award.action in ("award", "verify", "credit", "bonus") and amount > 0:
            # Each limit sees what the previous ones left (diminishing first, then the listed order).
            for limit, keys in award.limits:
                amount, step = limits.apply(limit, keys, amount, self.counters)
                steps.append(step)
            for limit, keys in award.limits:
                limits.record(limit, keys, amount, self.counters, self.deltas)
        action = award.action
        if action in ("award", "credit", "bonus"):
            floor = self.floor
            if amount < 0 and floor is not None:
                before = self.balances.get(account, 0)
                allowed = limits.floor_allowance(-amount, before, floor)
                outcome = "floor.within" if allowed == -amount else "floor.truncated"
                steps.append(LimitStep("floor", "floor", "subject", subject, "-", before, floor, amount,
                                       -allowed, "truncate", outcome))
                amount = -allowed
            if amount > 0:
                self.post(plan, subject, ISSUANCE, account, amount, rule, "award" if action == "award" else action)
            elif amount < 0:
                self.post(plan, subject, account, DEDUCTIONS, -amount, rule, "deduction")
                if "repair" in award.extra:
                    from gridpoints.engine.lifecycle._repair import open_repair

                    steps.append(open_repair(self, plan, award, -amount))
        elif action == "pending":
            self.post(plan, subject, ISSUANCE, pending(subject), amount, rule, "pending")
            status = "pending"
        elif action == "verify":
            if amount:
                self.post(plan, subject, pending(subject), account, amount, rule, "verified")
            if award.base > amount:
                self.post(plan, subject, pending(subject), ISSUANCE, award.base - amount, rule, "released")
            status = "verified"
        elif action == "release":
            status = "rejected" if event.type == "reject" else "expired"
            for seq, moved in award.reverses:
                self.post(plan, subject, pending(subject), ISSUANCE, moved, rule, status, reverses=seq)
        elif action == "reverse":
            for seq, moved in award.reverses:
                self.post(plan, subject, DEDUCTIONS, account, moved, rule, "appeal-upheld", reverses=seq)
            status = "reversed"
        elif action == "dismiss":
            status = "dismissed"
        elif action == "expire-points":
            balance = self.balances.get(account, 0)
            # Spending since the expiry was planned already used some of the oldest points.
            spent_since = max(0, int(award.extra["balance_seen"]) - balance)
            amount = min(max(0, amount - spent_since), balance)
            if amount > 0:
                self.post(plan, subject, account, EXPIRED, amount, rule, "expired-points")
            status = "expired"
        elif action in ("repair-task", "repair-expire"):
            from gridpoints.engine.lifecycle._repair import apply_task

            status = apply_task(self, plan, award, steps)
        else:
            from gridpoints.engine.lifecycle._mall import apply_redemption

            status = apply_redemption(self, plan, award, steps)
        return RuleTrace(rule, award.rule_name, award.category, award.base, award.code, award.args, tuple(steps),
                         self.watched, status, self.category_names.get(award.category, award.category))


__all__ = ["Engine", "EventInput"]
