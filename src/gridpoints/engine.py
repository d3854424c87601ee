"""The engine: events in, decisions and ledger entries out.

Data flows one way: check the event → match rules → base points → caps (reading window counters) →
decision → one store transaction that appends entries, counter deltas and the event record together.
The engine reads no clock: every outcome is a function of the policy, the ordered events and the store.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

import attrs

from gridpoints import limits
from gridpoints._events import coerce_event
from gridpoints.compile import CompiledLimit, CompiledRule, PointsInputError, Policy
from gridpoints.errors import (
    EventError,
    IdempotencyConflict,
    SegregationError,
    SerializationFailure,
    SettlementError,
)
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
    pending,
    spendable,
)
from gridpoints.periods import window_id
from gridpoints.registry import Membership, MemoryRegistry, Registry
from gridpoints.storage import MemoryStore, Store

T = TypeVar("T")

EventInput = Event | Mapping[str, Any]


@attrs.frozen(slots=True)
class _Award:
    """One movement an event causes for one rule.

    ``action`` says which: ``award`` (points, through the limits), ``pending`` (held until verified),
    ``verify`` (pending → spendable, through the limits), ``release`` (pending back to issuance: rejected or
    expired), ``reverse`` (an upheld appeal undoes a deduction), ``dismiss`` (an appeal that changes nothing).
    """

    rule: CompiledRule
    base: int
    code: str
    args: dict[str, Any]
    limits: tuple[tuple[CompiledLimit, tuple[CounterKey, ...]], ...] = ()
    action: str = "award"
    #: (sequence number, amount) of the entries a release or reversal undoes.
    reverses: tuple[tuple[int, int], ...] = ()
    #: The counter that marks the settled event, so it is settled at most once.
    marker: CounterKey | None = None


@attrs.frozen(slots=True)
class _Plan:
    """Everything about an event that does not depend on store state, computed before any lock is taken."""

    event: Event
    fingerprint: str
    occurred_local: str
    occurred_utc: str
    awards: tuple[_Award, ...]

    def counter_keys(self) -> Iterable[CounterKey]:
        for award in self.awards:
            for _, keys in award.limits:
                yield from keys
            if award.marker is not None:
                yield award.marker


class Engine:
    """Applies a :class:`~gridpoints.compile.Policy` to events and keeps the ledger in a store.

    Thread safety: an ``Engine`` holds no mutable state of its own; each submission is one store
    transaction that locks the counters it reads, so concurrent ``submit`` calls from many threads (or
    processes, with a SQL store) leave the same ledger as some serial order of those calls, caps included.
    Share one engine per policy across a web server's threads.
    """

    def __init__(
        self, policy: Policy, store: Store | None = None, *, tenant: str = "default",
        registry: Registry | None = None, max_retries: int = 8,
    ) -> None:
        self.policy = policy
        self.store: Store = store if store is not None else MemoryStore()
        self.tenant = tenant
        self.registry: Registry = registry if registry is not None else MemoryRegistry()
        self.max_retries = max_retries

    def register(
        self, subject: str, *, grid: str, household: str | None = None, roles: Iterable[str] = ("resident",),
        since: datetime | None = None, until: datetime | None = None,
    ) -> Membership:
        """Add a membership to the engine's in-process registry (a host registry is managed by the host)."""
        if not isinstance(self.registry, MemoryRegistry):
            raise TypeError("this engine reads a host-managed registry; register subjects there")
        record = Membership(subject, grid, household, roles, since, until)
        self.registry.add(record)
        return record

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
            keys.update(plan.counter_keys())
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
        if etype.settles:
            awards = self._settlement(event, index)
        elif not etype.ignore:
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
                if rule.spec.verify is not None and base > 0:
                    awards.append(_Award(rule, base, code, args, action="pending"))
                else:
                    limit_keys = self._limit_keys(rule, event, day, windows) if base > 0 else ()
                    awards.append(_Award(rule, base, code, args, limit_keys))
        return _Plan(event, event.fingerprint(), local.isoformat(),
                     event.occurred_at.astimezone(UTC).isoformat(), tuple(awards))

    def _limit_keys(self, rule: CompiledRule, event: Event, day: date, windows: dict[str, str]
                    ) -> tuple[tuple[CompiledLimit, tuple[CounterKey, ...]], ...]:
        applied = []
        for limit in rule.limits:
            window = windows.get(limit.window)
            if window is None:
                window = windows[limit.window] = window_id(limit.window, day)
            pool_id = self._scope_id(limit.pool, event) if limit.pool is not None else None
            applied.append((limit, limits.counter_keys(limit, self._scope_id(limit.scope, event), pool_id, window)))
        return tuple(applied)

    def _settlement(self, event: Event, index: int | None) -> list[_Award]:
        """Awards for a verify / reject / appeal event, checked against the event it settles.

        The settled event's record and entries are immutable once written, so they are read before the
        transaction; the "settled" marker counter is read again under lock, so a race settles once.
        """
        target = str(event.attributes["event"])

        def fail(error: type[EventError], message: str, field: str = "attributes.event") -> EventError:
            return error(message, field=field, event_id=event.id, index=index)

        record = self.store.find_event(self.tenant, target)
        if record is None:
            raise fail(SettlementError, f"no recorded event {target!r} to {event.type}")
        original = record.original().trace
        if event.subject != original.subject:
            raise fail(EventError, f"must be the settled event's subject {original.subject!r}", "subject")
        if event.actor is None:
            raise fail(EventError, f"required: who decided the {event.type}", "actor")
        marker = CounterKey("event", target, "settled", "-")
        if self.store.counters(self.tenant, [marker])[marker]:
            raise fail(SettlementError, f"event {target!r} was already settled")
        occurred = datetime.fromisoformat(original.occurred_local)
        wanted = "pending" if event.type in ("verify", "reject") else "awarded"
        traces = [r for r in original.rules if r.status == wanted and r.granted <= 0
                  and (wanted == "pending" or r.granted < 0)]
        if not traces:
            what = "an award pending verification" if wanted == "pending" else "a deduction to appeal"
            raise fail(SettlementError, f"event {target!r} has no {what}")
        entries = [e for e in self.store.entries(self.tenant, subject=original.subject) if e.event_id == target]
        awards: list[_Award] = []
        for trace in traces:
            rule = self.policy.rules_by_id.get(trace.rule_id)
            spec = (rule.spec.verify if wanted == "pending" else rule.spec.appeal) if rule is not None else None
            if rule is None or spec is None:
                raise fail(SettlementError, f"rule {trace.rule_id!r} of event {target!r} has no "
                                            f"{'verify' if wanted == 'pending' else 'appeal'} in {self.policy.ref}")
            deadline = occurred + spec.within
            if event.occurred_at > deadline:
                raise fail(SettlementError, f"the {event.type} window of event {target!r} closed at "
                                            f"{deadline.isoformat()}", "occurred_at")
            self._check_duties(event, original, spec.by, getattr(spec, "not_beneficiary", True), fail)
            moved = tuple((e.seq, e.amount) for e in entries if e.rule == rule.id)
            args = {"event": target}
            first = marker if not awards else None
            if event.type == "verify":
                context = Event(target, original.event_type, original.subject, original.grid or "-", occurred,
                                household=original.household, community=original.community)
                keys = self._limit_keys(rule, context, occurred.astimezone(self.policy.zone).date(), {})
                awards.append(_Award(rule, trace.base, "settle.verified", args, keys, "verify", marker=first))
            elif event.type == "reject":
                awards.append(_Award(rule, trace.base, "settle.rejected", args, (), "release", moved, first))
            elif event.attributes["outcome"] == "upheld":
                awards.append(_Award(rule, -trace.granted, "settle.upheld", args, (), "reverse", moved, first))
            else:
                awards.append(_Award(rule, 0, "settle.dismissed", args, (), "dismiss", (), first))
        return awards

    def _check_duties(self, event: Event, original: Trace, roles: Sequence[str] | None, not_beneficiary: bool,
                      fail: Callable[..., EventError]) -> None:
        """Segregation of duties: a listed role; never the beneficiary or a member of their household."""
        actor = str(event.actor)
        if actor == original.subject:
            raise fail(SegregationError, f"{actor!r} cannot {event.type} their own event", "actor")
        membership = self.registry.membership(actor, event.occurred_at)
        if roles is not None:
            if membership is None:
                raise fail(SegregationError, f"{actor!r} is not registered at {event.occurred_at.isoformat()}; "
                                             f"{event.type} needs one of the roles {', '.join(roles)}", "actor")
            if not membership.roles & set(roles):
                raise fail(SegregationError, f"{actor!r} holds {', '.join(sorted(membership.roles))}; "
                                             f"{event.type} needs one of {', '.join(roles)}", "actor")
        if not_beneficiary and membership is not None and membership.household is not None:
            household = original.household
            if household is None:
                beneficiary = self.registry.membership(original.subject, datetime.fromisoformat(
                    original.occurred_local))
                household = beneficiary.household if beneficiary is not None else None
            if household == membership.household:
                raise fail(SegregationError, f"{actor!r} lives in the beneficiary's household {household!r}",
                           "actor")

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
        held = pending(event.subject)
        ref = self.policy.ref
        rule_traces: list[RuleTrace] = []
        entries: list[Entry] = []
        net = 0

        def post(debit: str, credit: str, amount: int, rule: str, reason: str, reverses: int | None = None) -> None:
            nonlocal head
            entry = make_entry(
                seq=head.seq + 1, tenant=self.tenant, event_id=event.id, subject=event.subject, debit=debit,
                credit=credit, amount=amount, ruleset=ref, rule=rule, reason=reason,
                occurred_at=plan.occurred_utc, reverses=reverses, prev_hash=head.hash,
            )
            head = Anchor(entry.seq, entry.hash)
            entries.append(entry)

        for award in plan.awards:
            if award.marker is not None:
                if counters.get(award.marker, 0):
                    raise SettlementError(f"event {award.args['event']!r} was already settled",
                                          field="attributes.event", event_id=event.id)
                counters[award.marker] = deltas[award.marker] = 1
            rule_id = award.rule.id
            amount = award.base
            steps: list[LimitStep] = []
            status = "awarded"
            if award.action in ("award", "verify") and amount > 0:
                # Each limit sees what the previous ones left (diminishing first, then the listed order).
                for limit, keys in award.limits:
                    amount, step = limits.apply(limit, keys, amount, counters)
                    steps.append(step)
                for limit, keys in award.limits:
                    limits.record(limit, keys, amount, counters, deltas)
            if award.action == "award":
                if amount < 0 and floor is not None:
                    before = balances.get(account, 0)
                    allowed = limits.floor_allowance(-amount, before, floor)
                    outcome = "floor.within" if allowed == -amount else "floor.truncated"
                    steps.append(LimitStep("floor", "floor", "subject", event.subject, "-", before, floor, amount,
                                           -allowed, "truncate", outcome))
                    amount = -allowed
                if amount > 0:
                    post(ISSUANCE, account, amount, rule_id, "award")
                elif amount < 0:
                    post(account, DEDUCTIONS, -amount, rule_id, "deduction")
            elif award.action == "pending":
                post(ISSUANCE, held, amount, rule_id, "pending")
                amount, status = 0, "pending"
            elif award.action == "verify":
                if amount:
                    post(held, account, amount, rule_id, "verified")
                if award.base > amount:
                    post(held, ISSUANCE, award.base - amount, rule_id, "released")
                status = "verified"
            elif award.action == "release":
                reason = "rejected" if event.type == "reject" else "expired"
                for seq, moved in award.reverses:
                    post(held, ISSUANCE, moved, rule_id, reason, reverses=seq)
                amount, status = 0, reason
            elif award.action == "reverse":
                amount = 0
                for seq, moved in award.reverses:
                    post(DEDUCTIONS, account, moved, rule_id, "appeal-upheld", reverses=seq)
                    amount += moved
                status = "reversed"
            else:
                amount, status = 0, "dismissed"
            if amount:
                balances[account] = balances.get(account, 0) + amount
                net += amount
            rule_traces.append(RuleTrace(rule_id, award.rule.name, award.rule.category, award.base,
                                         award.code, award.args, tuple(steps), amount, status))
        trace = Trace(event.id, event.type, event.subject, plan.occurred_local, ref, tuple(rule_traces),
                      event.grid, event.household, event.community)
        return Decision(event.id, event.subject, net, tuple(entries), trace), head

    def expire_pending(self, now: datetime) -> list[Decision]:
        """Release every pending award whose verification window closed before ``now``.

        Each expiry is recorded as an event ``expire:<event id>`` dated at the deadline, so running this
        again (or from two processes) changes nothing. Scans the ledger for pending entries; run it at
        period close, not per request.
        """
        if now.utcoffset() is None:
            raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
        open_targets: dict[str, list[Entry]] = {}
        for entry in self.store.entries(self.tenant):
            if entry.reason == "pending":
                open_targets.setdefault(entry.event_id, []).append(entry)
        markers = {t: CounterKey("event", t, "settled", "-") for t in open_targets}
        settled = self.store.counters(self.tenant, markers.values())
        plans: list[_Plan] = []
        for target, pending_entries in open_targets.items():
            if settled[markers[target]]:
                continue
            record = self.store.find_event(self.tenant, target)
            assert record is not None, "a pending entry always has its event record"
            original = record.original().trace
            occurred = datetime.fromisoformat(original.occurred_local)
            awards: list[_Award] = []
            deadline = occurred
            for trace in original.rules:
                rule = self.policy.rules_by_id.get(trace.rule_id)
                if trace.status != "pending" or rule is None or rule.spec.verify is None:
                    continue
                deadline = max(deadline, occurred + rule.spec.verify.within)
                moved = tuple((e.seq, e.amount) for e in pending_entries if e.rule == rule.id)
                awards.append(_Award(rule, trace.base, "settle.expired", {"event": target}, (), "release", moved,
                                     markers[target] if not awards else None))
            if not awards or now < deadline:
                continue
            expiry = Event(f"expire:{target}", "expire", original.subject, original.grid or "-", deadline,
                           {"event": target}, original.household, original.community)
            local = deadline.astimezone(self.policy.zone)
            plans.append(_Plan(expiry, expiry.fingerprint(), local.isoformat(),
                               deadline.astimezone(UTC).isoformat(), tuple(awards)))
        return self._submit(plans)

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
