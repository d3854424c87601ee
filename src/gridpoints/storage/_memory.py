"""An in-process store: the default for tests and simulations, and the reference adapter.

One lock per tenant serialises writers, which is what makes an :class:`~gridpoints.Engine` over a
``MemoryStore`` safe to share between threads. A transaction stages its writes and applies them only on
a clean exit, so an exception anywhere leaves the store exactly as it was.

What is kept is plain tuples: entries as tuples of their fields, counter keys as tuples, and event records
in the record codec's compact form (:meth:`~gridpoints.model.EventRecord.compact`), rebuilt into objects
when read. A tuple of strings and numbers is one allocation and is untracked by the garbage collector, so
a ledger of millions of entries costs the collector nothing to walk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs

from gridpoints.model import GENESIS_HASH, Anchor, CompactRecord, CounterKey, Entry, EventRecord, Notice
from gridpoints.storage._protocol import StoreCapabilities
from gridpoints.storage._staged import UNSEALED, Outbox, StagedTransaction

_EntryData = tuple[Any, ...]
_make_entry = Entry._make


@attrs.define(slots=True)
class _Tenant:
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    entries: list[_EntryData] = attrs.field(factory=list)
    by_subject: dict[str, list[_EntryData]] = attrs.field(factory=dict)
    balances: dict[str, int] = attrs.field(factory=dict)
    counters: dict[tuple[str, str, str, str], int] = attrs.field(factory=dict)
    events: dict[str, CompactRecord] = attrs.field(factory=dict)
    outbox: Outbox = attrs.field(factory=Outbox)

    def head(self) -> Anchor:
        if not self.entries:
            return Anchor(0, GENESIS_HASH)
        last = self.entries[-1]
        return Anchor(last[0], last[13])


class _MemoryTransaction(StagedTransaction):
    __slots__ = ("_tenant",)

    def __init__(self, tenant: _Tenant) -> None:
        super().__init__(tenant.head(), tenant.balances)
        self._tenant = tenant

    def find_events(self, event_ids: Sequence[str]) -> Mapping[str, EventRecord]:
        found: dict[str, EventRecord] = {}
        stored, staged = self._tenant.events, self.records
        for event_id in event_ids:
            record = staged.get(event_id)
            if record is None:
                kept = stored.get(event_id)
                if kept is not None:
                    record = EventRecord.from_compact(event_id, kept)
            if record is not None:
                found[event_id] = record
        return found

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        stored, staged = self._tenant.counters, self.counter_deltas
        if not staged:
            return {k: stored.get(k, 0) for k in keys}
        return {k: stored.get(k, 0) + staged.get(k, 0) for k in keys}

    def _apply(self) -> None:
        tenant = self._tenant
        self.apply_ledger(tenant.balances, tenant.entries, tenant.by_subject, tenant.counters)
        events = tenant.events
        for event_id, record in self.records.items():
            events[event_id] = record.compact()
        if self.notices:
            self.apply_notices(tenant.outbox)


class MemoryStore:
    """A :class:`~gridpoints.storage.Store` kept in process memory. Thread-safe; nothing survives the process."""

    #: Records are kept as objects' compact forms: no JSON text, and fingerprints only when asked for.
    capabilities = StoreCapabilities(needs_fingerprints=False, persists_records=False, keeps_history=True,
                                     keeps_notices=True)

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
                snapshot = [e for e in snapshot if e[0] > after_seq] if after_seq else snapshot[:]
        return map(_make_entry, snapshot)

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        kept = self._tenant(tenant).events.get(event_id)
        return EventRecord.from_compact(event_id, kept) if kept is not None else None

    def head(self, tenant: str) -> Anchor:
        state = self._tenant(tenant)
        with state.lock:
            return state.head()

    def record_head(self, tenant: str) -> Anchor:
        """Records are not sealed in memory: genesis."""
        return UNSEALED

    def records(self, tenant: str) -> Iterator[EventRecord]:
        """Every record, unsealed (a snapshot taken under the tenant's lock)."""
        state = self._tenant(tenant)
        with state.lock:
            kept = list(state.events.items())
        return (EventRecord.from_compact(event_id, data) for event_id, data in kept)

    def notices(self, tenant: str, *, after: int = 0, limit: int | None = None) -> list[Notice]:
        state = self._tenant(tenant)
        with state.lock:
            return state.outbox.after(after, limit)

    def acknowledge(self, tenant: str, cursor: int) -> int:
        state = self._tenant(tenant)
        with state.lock:
            return state.outbox.acknowledge(cursor)

    def acknowledged(self, tenant: str) -> int:
        return self._tenant(tenant).outbox.acknowledged

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
