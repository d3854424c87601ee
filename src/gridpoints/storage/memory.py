"""An in-process store: the default for tests and simulations, and the reference adapter.

One lock per tenant serialises writers, which is what makes an :class:`~gridpoints.Engine` over a
``MemoryStore`` safe to share between threads. A transaction stages its writes and applies them only on
a clean exit, so an exception anywhere leaves the store exactly as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs

from gridpoints.errors import IntegrityError
from gridpoints.model import GENESIS_HASH, Anchor, CounterKey, Entry, EventRecord


@attrs.define(slots=True)
class _Tenant:
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    entries: list[Entry] = attrs.field(factory=list)
    by_subject: dict[str, list[int]] = attrs.field(factory=dict)
    balances: dict[str, int] = attrs.field(factory=dict)
    counters: dict[CounterKey, int] = attrs.field(factory=dict)
    events: dict[str, EventRecord] = attrs.field(factory=dict)

    def head(self) -> Anchor:
        if not self.entries:
            return Anchor(0, GENESIS_HASH)
        last = self.entries[-1]
        return Anchor(last.seq, last.hash)


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
            record = staged.get(event_id) or stored.get(event_id)
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
        balances, by_subject = tenant.balances, tenant.by_subject
        base = len(tenant.entries)
        for offset, entry in enumerate(self._entries):
            balances[entry.credit] = balances.get(entry.credit, 0) + entry.amount
            balances[entry.debit] = balances.get(entry.debit, 0) - entry.amount
            by_subject.setdefault(entry.subject, []).append(base + offset)
        tenant.entries.extend(self._entries)
        counters = tenant.counters
        for key, delta in self._counter_deltas.items():
            counters[key] = counters.get(key, 0) + delta
        tenant.events.update(self._events)


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
                snapshot = [state.entries[i] for i in state.by_subject.get(subject, ())]
                snapshot = [e for e in snapshot if e.seq > after_seq]
        return iter(snapshot)

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        return self._tenant(tenant).events.get(event_id)

    def head(self, tenant: str) -> Anchor:
        state = self._tenant(tenant)
        with state.lock:
            return state.head()

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
