"""The engine: events in, decisions and ledger entries out.

Data flows one way: check the event → match rules → base points → caps (reading window counters) →
decision → one store transaction that appends entries, counter deltas and the event record together.
The engine reads no clock: every outcome is a function of the policy, the ordered events and the store.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any, Literal, TypeVar

import attrs

from gridpoints import limits
from gridpoints._events import coerce_event
from gridpoints.compile import CompiledLimit, CompiledRule, PointsInputError, Policy
from gridpoints.errors import EventError, IdempotencyConflict, SerializationFailure
from gridpoints.model import (
    DEDUCTIONS,
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
    make_entry,
    spendable,
)
from gridpoints.periods import window_id
from gridpoints.storage import MemoryStore, Store

T = TypeVar("T")

EventInput = Event | Mapping[str, Any]


@attrs.frozen(slots=True)
class _Award:
    rule: CompiledRule
    base: int
    code: str
    args: dict[str, Any]
    limits: tuple[tuple[CompiledLimit, tuple[CounterKey, ...]], ...]


@attrs.frozen(slots=True)
class _Plan:
    """Everything about an event that does not depend on store state, computed before any lock is taken."""

    event: Event
    fingerprint: str
    occurred_local: str
    occurred_utc: str
    awards: tuple[_Award, ...]


class Engine:
    """Applies a :class:`~gridpoints.compile.Policy` to events and keeps the ledger in a store.

    Thread safety: an ``Engine`` holds no mutable state of its own; each submission is one store
    transaction that locks the counters it reads, so concurrent ``submit`` calls from many threads (or
    processes, with a SQL store) leave the same ledger as some serial order of those calls, caps included.
    Share one engine per policy across a web server's threads.
    """

    def __init__(
        self, policy: Policy, store: Store | None = None, *, tenant: str = "default", max_retries: int = 8
    ) -> None:
        self.policy = policy
        self.store: Store = store if store is not None else MemoryStore()
        self.tenant = tenant
        self.max_retries = max_retries

    # -- writing -------------------------------------------------------------------------------------

    def submit(self, event: EventInput) -> Decision:
        """Decide one event and record it. A resubmitted id with the same content returns the original
        decision and writes nothing; with different content it raises :class:`IdempotencyConflict`."""
        return self._submit([self._plan(coerce_event(self.policy, event), None)])[0]

    def submit_many(self, events: Iterable[EventInput]) -> list[Decision]:
        """Decide and record a batch in one transaction: same decisions as submitting one by one.

        Every event is checked before anything is written; one bad event (or an idempotency conflict)
        raises and leaves the store untouched — the batch is all or nothing.
        """
        return self._submit([self._plan(coerce_event(self.policy, raw, index), index)
                             for index, raw in enumerate(events)])

    def _submit(self, plans: list[_Plan]) -> list[Decision]:
        if not plans:
            return []
        keys: set[CounterKey] = set()
        accounts: set[str] = set()
        for plan in plans:
            accounts.add(spendable(plan.event.subject))
            for award in plan.awards:
                for _, limit_keys in award.limits:
                    keys.update(limit_keys)
        ordered_keys, ordered_accounts = sorted(keys), sorted(accounts)
        return self._retrying(lambda: self._commit(plans, ordered_keys, ordered_accounts))

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

    def _commit(self, plans: list[_Plan], keys: list[CounterKey], accounts: list[str]) -> list[Decision]:
        with self.store.transaction(self.tenant, counters=keys, accounts=accounts) as txn:
            stored = txn.find_events([plan.event.id for plan in plans])
            counters = txn.read_counters(keys)
            balances = txn.read_balances(accounts)
            head = txn.head()
            decisions: list[Decision] = []
            entries: list[Entry] = []
            records: list[EventRecord] = []
            deltas: dict[CounterKey, int] = {}
            batch: dict[str, EventRecord] = {}
            for plan in plans:
                event_id = plan.event.id
                record = batch.get(event_id) or stored.get(event_id)
                if record is not None:
                    if record.fingerprint != plan.fingerprint:
                        raise IdempotencyConflict(event_id, stored=record.fingerprint, received=plan.fingerprint)
                    decisions.append(Decision.from_record(record))
                    continue
                decision, head = self._decide(plan, counters, deltas, balances, head)
                record = EventRecord(event_id, plan.fingerprint, original=decision)
                batch[event_id] = record
                records.append(record)
                entries.extend(decision.entries)
                decisions.append(decision)
            txn.append(entries, deltas, records)
        return decisions

    # -- deciding --------------------------------------------------------------------------------------

    def _plan(self, event: Event, index: int | None) -> _Plan:
        policy = self.policy
        local = event.occurred_at.astimezone(policy.zone)
        day = local.date()
        etype = policy.event_types[event.type]
        awards: list[_Award] = []
        if not etype.ignore:
            context = {"grid": event.grid, "household": event.household, "community": event.community,
                       "actor": event.actor}
            windows: dict[str, str] = {}
            for rule in etype.rules:
                if rule.predicate is not None and not rule.predicate(event.attributes, context):
                    continue
                try:
                    base, code, args = rule.points(event.attributes)
                except PointsInputError as exc:
                    raise EventError(f"{exc} (rule {rule.id!r})", field=f"attributes.{exc.field}",
                                     event_id=event.id, index=index) from None
                applied: list[tuple[CompiledLimit, tuple[CounterKey, ...]]] = []
                if base > 0:
                    for limit in rule.limits:
                        window = windows.get(limit.window)
                        if window is None:
                            window = windows[limit.window] = window_id(limit.window, day)
                        pool_id = self._scope_id(limit.pool, event) if limit.pool is not None else None
                        applied.append((limit, limits.counter_keys(limit, self._scope_id(limit.scope, event),
                                                                   pool_id, window)))
                awards.append(_Award(rule, base, code, args, tuple(applied)))
        return _Plan(event, event.fingerprint(), local.isoformat(),
                     event.occurred_at.astimezone(UTC).isoformat(), tuple(awards))

    def _scope_id(self, scope: str, event: Event) -> str:
        if scope == "subject":
            return event.subject
        if scope == "household":
            # A subject without a household is a household of one.
            return event.household if event.household is not None else f"subject:{event.subject}"
        if scope == "grid":
            return event.grid
        return event.community or self.policy.spec.community or self.policy.id

    def _decide(
        self, plan: _Plan, counters: dict[CounterKey, int], deltas: dict[CounterKey, int],
        balances: dict[str, int], head: Anchor,
    ) -> tuple[Decision, Anchor]:
        event = plan.event
        floor = self.policy.spec.floor
        account = spendable(event.subject)
        ref = self.policy.ref
        rule_traces: list[RuleTrace] = []
        entries: list[Entry] = []
        net = 0
        for award in plan.awards:
            amount = award.base
            steps: list[LimitStep] = []
            # Each limit sees what the previous ones left (diminishing first, then the listed order).
            for limit, keys in award.limits:
                amount, step = limits.apply(limit, keys, amount, counters)
                steps.append(step)
            for limit, keys in award.limits:
                limits.record(limit, keys, amount, counters, deltas)
            if amount < 0 and floor is not None:
                before = balances.get(account, 0)
                allowed = limits.floor_allowance(-amount, before, floor)
                outcome = "floor.within" if allowed == -amount else "floor.truncated"
                steps.append(LimitStep("floor", "floor", "subject", event.subject, "-", before, floor, amount,
                                       -allowed, "truncate", outcome))
                amount = -allowed
            if amount:
                balances[account] = balances.get(account, 0) + amount
            if amount != 0:
                debit, credit, reason = ((ISSUANCE, account, "award") if amount > 0
                                         else (account, DEDUCTIONS, "deduction"))
                entry = make_entry(
                    seq=head.seq + 1, tenant=self.tenant, event_id=event.id, subject=event.subject,
                    debit=debit, credit=credit, amount=abs(amount), ruleset=ref, rule=award.rule.id,
                    reason=reason, occurred_at=plan.occurred_utc, reverses=None, prev_hash=head.hash,
                )
                head = Anchor(entry.seq, entry.hash)
                entries.append(entry)
                net += amount
            rule_traces.append(RuleTrace(award.rule.id, award.rule.name, award.rule.category, award.base,
                                         award.code, award.args, tuple(steps), amount))
        trace = Trace(event.id, event.type, event.subject, plan.occurred_local, ref, tuple(rule_traces))
        return Decision(event.id, event.subject, net, tuple(entries), trace), head

    # -- reading ---------------------------------------------------------------------------------------

    def balance(self, subject: str) -> int:
        """The subject's spendable balance."""
        account = spendable(subject)
        return self.store.balances(self.tenant, [account])[account]

    def balances(self, subjects: Sequence[str]) -> dict[str, int]:
        """Spendable balances of several subjects."""
        found = self.store.balances(self.tenant, [spendable(s) for s in subjects])
        return {s: found[spendable(s)] for s in subjects}

    def history(self, subject: str) -> list[Entry]:
        """The subject's ledger entries, oldest first."""
        return list(self.store.entries(self.tenant, subject=subject))

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
