"""An in-process store: the default for tests and simulations, and the reference adapter.

One lock per tenant serialises writers, which is what makes an :class:`~gridpoints.Engine` over a
``MemoryStore`` safe to share between threads. A transaction stages its writes and applies them only on
a clean exit, so an exception anywhere leaves the store exactly as it was.

A replay keeps millions of entries and event records here, so what is kept is lean: an event record built
from a decision is kept as flat tuples (the event's fields and the trace's rules, with repeated attribute
and argument mappings shared) and its :class:`~gridpoints.model.Decision` is rebuilt when it is read;
account names are shared between entries, and a subject's entries are indexed by reference.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from gridpoints.errors import IntegrityError
from gridpoints.model import (
    GENESIS_HASH,
    Anchor,
    CounterKey,
    Decision,
    Entry,
    Event,
    EventRecord,
    LimitStep,
    RuleTrace,
    Trace,
)

#: Value types whose equal values also print the same (so a shared mapping renders like the original).
_SCALARS = frozenset({str, int, float, bool, type(None)})

#: A limit step whose code or window was a string of its own: (limit_id, kind, scope, limit, mode) shared per
#: limit, then scope_id, window, before, requested, granted, code, and pool and param unless both are None.
_StepData = tuple[Any, ...]
#: (rule_id, rule_name, category, category_name) shared per rule, base, base_code, base_args, steps, granted, status
_RuleData = tuple[tuple[str, str, str, str | None], int, str, Mapping[str, Any], tuple[LimitStep | _StepData, ...],
                  int, str]
#: type, subject, grid, occurred_at (None when it reads as occurred_local: the event came in the policy's zone),
#: attributes, household, community, actor, points, occurred_local, ruleset, rules, fingerprint (None until asked
#: for, unless the record was given one)
_RecordData = tuple[str, str, str, datetime | None, Mapping[str, Any], str | None, str | None, str | None, int, str,
                    str, tuple[_RuleData, ...], str | None]


class _KeptRecord(EventRecord):
    """A record read from its flat tuples; its decision (and, if asked for, its fingerprint) is rebuilt on read."""

    __slots__ = ("_data",)

    def __init__(self, event_id: str, data: _RecordData) -> None:
        # Not EventRecord.__init__: this record holds neither the decision object nor its text.
        self.event_id = event_id
        self._fingerprint = data[12]
        self._event = None
        self._json = None
        self._original = None
        self._data = data

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            etype, subject, grid, occurred_at, attributes, household, community, actor, _, local = self._data[:10]
            moment = occurred_at if occurred_at is not None else datetime.fromisoformat(local)
            event = Event(self.event_id, etype, subject, grid, moment, attributes, household, community, actor)
            self._fingerprint = event.fingerprint()
        return self._fingerprint

    @property
    def decision(self) -> str:
        return self.original().to_record_json()

    def original(self) -> Decision:
        etype, subject, grid, _, _, household, community, _, points, local, ruleset, rules, _ = self._data
        trace = Trace(self.event_id, etype, subject, local, ruleset, tuple(
            RuleTrace(rule_id, name, category, base, code, args, tuple(map(_limit_step, steps)), granted, status,
                      category_name)
            for (rule_id, name, category, category_name), base, code, args, steps, granted, status in rules
        ), grid, household, community)
        return Decision(self.event_id, subject, points, (), trace, duplicate=True)


def _limit_step(step: LimitStep | _StepData) -> LimitStep:
    if not isinstance(step, tuple):
        return step
    (limit_id, kind, scope, limit, mode), scope_id, window, before, requested, granted, code, *rest = step
    return LimitStep(limit_id, kind, scope, scope_id, window, before, limit, requested, granted, mode, code, *rest)


def _record(event_id: str, kept: EventRecord | _RecordData) -> EventRecord:
    return _KeptRecord(event_id, kept) if isinstance(kept, tuple) else kept


@attrs.define(slots=True)
class _Tenant:
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    entries: list[Entry] = attrs.field(factory=list)
    by_subject: dict[str, list[Entry]] = attrs.field(factory=dict)
    balances: dict[str, int] = attrs.field(factory=dict)
    counters: dict[CounterKey, int] = attrs.field(factory=dict)
    #: Records as given, or as flat tuples (see :meth:`keep`).
    events: dict[str, EventRecord | _RecordData] = attrs.field(factory=dict)
    #: One object per distinct account name, limit code, window id, attribute mapping and argument mapping.
    shared: dict[Any, Any] = attrs.field(factory=dict)
    #: The shared mappings that were given as they are kept, by identity (each held, so no id is reused).
    same: dict[int, Mapping[str, Any]] = attrs.field(factory=dict)
    #: One tuple per distinct limit (id, kind, scope, limit, mode) and rule (id, name, category, category name).
    heads: dict[tuple[Any, ...], Any] = attrs.field(factory=dict)

    def head(self) -> Anchor:
        if not self.entries:
            return Anchor(0, GENESIS_HASH)
        last = self.entries[-1]
        return Anchor(last.seq, last.hash)

    def share(self, mapping: Mapping[str, Any]) -> Mapping[str, Any]:
        """One read-only mapping per distinct content, key order and value types (1, 1.0 and True differ)."""
        if not mapping or self.same.get(id(mapping)) is mapping:
            return mapping
        values = tuple(mapping.values())
        types = tuple(map(type, values))
        if not _SCALARS.issuperset(types):
            return mapping
        key = (*mapping, *values, *types)
        found = self.shared.get(key)
        if found is None:
            found = self.shared[key] = mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(
                dict(mapping))
            if found is mapping:
                # The engine hands the same object again and again for some results: know it by identity.
                self.same[id(mapping)] = mapping
        return found

    def name(self, text: str) -> str:
        found: str = self.shared.setdefault(text, text)
        return found

    def step(self, step: LimitStep) -> LimitStep | _StepData:
        """The step, or if its code or window was a string of its own, its fields with those strings shared."""
        code, window = self.name(step.code), self.name(step.window)
        if code is step.code and window is step.window:
            return step
        head = (step.limit_id, step.kind, step.scope, step.limit, step.mode)
        head = self.heads.setdefault(head, head)
        if step.pool is None and step.param is None:
            return (head, step.scope_id, window, step.before, step.requested, step.granted, code)
        return (head, step.scope_id, window, step.before, step.requested, step.granted, code, step.pool, step.param)

    def keep(self, record: EventRecord) -> EventRecord | _RecordData:
        """The record as flat tuples, or unchanged if it was not built from a decision of its own event."""
        decision, event = record._original, record._event
        if decision is None or event is None or record._json is not None or decision.duplicate:
            return record
        trace = decision.trace
        if not (record.event_id == event.id == decision.event_id == trace.event_id
                and event.subject == decision.subject == trace.subject and event.type == trace.event_type
                and event.grid == trace.grid and event.household == trace.household
                and event.community == trace.community):
            return record
        share, step, heads = self.share, self.step, self.heads
        rules = []
        for r in trace.rules:
            head = (r.rule_id, r.rule_name, r.category, r.category_name)
            rules.append((heads.setdefault(head, head), r.base, r.base_code, share(r.base_args),
                          tuple(map(step, r.steps)) if r.steps else r.steps, r.granted, r.status))
        local = trace.occurred_local
        moment = None if event.occurred_at.isoformat() == local else event.occurred_at
        return (event.type, event.subject, event.grid, moment, share(event.attributes), event.household,
                event.community, event.actor, decision.points, local, trace.ruleset, tuple(rules),
                record._fingerprint)


class _MemoryTransaction:
    __slots__ = ("_counter_deltas", "_entries", "_events", "_head", "_tenant")

    def __init__(self, tenant: _Tenant) -> None:
        self._tenant = tenant
        self._entries: list[Entry] = []
        self._counter_deltas: dict[CounterKey, int] = {}
        self._events: dict[str, EventRecord] = {}
        self._head = tenant.head()

    def find_events(self, event_ids: Sequence[str]) -> Mapping[str, EventRecord]:
        found: dict[str, EventRecord] = {}
        stored, staged = self._tenant.events, self._events
        for event_id in event_ids:
            record = staged.get(event_id)
            if record is None:
                kept = stored.get(event_id)
                if kept is not None:
                    record = _record(event_id, kept)
            if record is not None:
                found[event_id] = record
        return found

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        stored, staged = self._tenant.counters, self._counter_deltas
        return {k: stored.get(k, 0) + staged.get(k, 0) for k in keys}

    def read_balances(self, accounts: Iterable[str]) -> dict[str, int]:
        wanted = list(accounts)
        result = {a: self._tenant.balances.get(a, 0) for a in wanted}
        for entry in self._entries:
            if entry.credit in result:
                result[entry.credit] += entry.amount
            if entry.debit in result:
                result[entry.debit] -= entry.amount
        return result

    def head(self) -> Anchor:
        return self._head

    def append(
        self, entries: Sequence[Entry], counter_deltas: Mapping[CounterKey, int], events: Sequence[EventRecord]
    ) -> None:
        head = self._head
        for entry in entries:
            if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
                raise IntegrityError(
                    f"entry {entry.seq} does not continue the chain at {head.seq} "
                    f"(expected seq {head.seq + 1} linked to {head.hash[:12]}…)"
                )
            head = Anchor(entry.seq, entry.hash)
        self._head = head
        self._entries.extend(entries)
        deltas = self._counter_deltas
        for key, delta in counter_deltas.items():
            deltas[key] = deltas.get(key, 0) + delta
        for record in events:
            self._events[record.event_id] = record

    def _apply(self) -> None:
        tenant = self._tenant
        balances, by_subject, name = tenant.balances, tenant.by_subject, tenant.name
        kept = tenant.entries
        for entry in self._entries:
            balances[entry.credit] = balances.get(entry.credit, 0) + entry.amount
            balances[entry.debit] = balances.get(entry.debit, 0) - entry.amount
            debit, credit = name(entry.debit), name(entry.credit)
            if debit is not entry.debit or credit is not entry.credit:
                entry = Entry(entry.seq, entry.tenant, entry.event_id, entry.subject, debit, credit, entry.amount,
                              entry.ruleset, entry.rule, entry.reason, entry.occurred_at, entry.reverses,
                              entry.prev_hash, entry.hash)
            kept.append(entry)
            by_subject.setdefault(entry.subject, []).append(entry)
        counters = tenant.counters
        for key, delta in self._counter_deltas.items():
            counters[key] = counters.get(key, 0) + delta
        events, keep = tenant.events, tenant.keep
        for event_id, record in self._events.items():
            events[event_id] = keep(record)


class MemoryStore:
    """A :class:`~gridpoints.storage.Store` kept in process memory. Thread-safe; nothing survives the process."""

    def __init__(self) -> None:
        self._tenants: dict[str, _Tenant] = {}
        self._guard = threading.Lock()

    def _tenant(self, tenant: str) -> _Tenant:
        state = self._tenants.get(tenant)
        if state is None:
            with self._guard:
                state = self._tenants.setdefault(tenant, _Tenant())
        return state

    @contextmanager
    def transaction(
        self, tenant: str, *, counters: Iterable[CounterKey] = (), accounts: Iterable[str] = ()
    ) -> Iterator[_MemoryTransaction]:
        # One lock per tenant covers every counter and account in it, so the named keys need no locks of
        # their own; they are part of the protocol for adapters with row-level locking.
        state = self._tenant(tenant)
        with state.lock:
            txn = _MemoryTransaction(state)
            yield txn
            txn._apply()

    def balances(self, tenant: str, accounts: Iterable[str]) -> dict[str, int]:
        stored = self._tenant(tenant).balances
        return {a: stored.get(a, 0) for a in accounts}

    def counters(self, tenant: str, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        stored = self._tenant(tenant).counters
        return {k: stored.get(k, 0) for k in keys}

    def entries(self, tenant: str, *, subject: str | None = None, after_seq: int = 0) -> Iterator[Entry]:
        state = self._tenant(tenant)
        with state.lock:
            if subject is None:
                # seq n lives at index n - 1: the chain is contiguous from 1.
                snapshot = state.entries[after_seq:]
            else:
                snapshot = state.by_subject.get(subject, [])
                snapshot = [e for e in snapshot if e.seq > after_seq] if after_seq else snapshot[:]
        return iter(snapshot)

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        kept = self._tenant(tenant).events.get(event_id)
        return _record(event_id, kept) if kept is not None else None

    def head(self, tenant: str) -> Anchor:
        state = self._tenant(tenant)
        with state.lock:
            return state.head()

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
