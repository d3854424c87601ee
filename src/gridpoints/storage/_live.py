"""A live-state store: what a replay's later decisions read, not the history that led there.

A what-if replay (``simulate``, ``compare``) needs the ledger's *state* — balances, counters of windows
still open, the chain head, the records and entries of items that may still be settled — and the
*figures* of what happened, which it can sum from the entries as they are committed. A :class:`LiveStore`
keeps the first and streams the second: every committed batch of entries goes to the sinks (callables
taking the batch, e.g. a :class:`JsonlSink`), and :meth:`LiveStore.prune` drops what no later decision
reads. Entries are sealed by the engine; the store checks that they continue the chain. Until the first
prune it is a complete store (and passes :mod:`gridpoints.testing.storage_suite`).

*Targets* are the events a later decision reads back — those with a ``pending``, ``held``, ``applied`` or
``deduction`` entry (a verification, rejection, appeal, repair task, hold or allocation settles them). An
*open* target is one whose settled marker ``CounterKey("event", id, "settled", "-")`` still reads 0 and
that something can still settle: a pending award, hold or application, or a deduction whose decision
opened a repair. Given its cutoffs (the caller computes them from its policy; see
:func:`gridpoints.whatif._simulate.retention`), :meth:`~LiveStore.prune` keeps

- entries that occurred at or after ``cutoff``, and the target entries of the targets kept;
- targets' records in full while open, and deductions' also while they occurred at or after
  ``deductions_cutoff`` (a dismissed appeal reads a deduction however it was settled; a tier counts its
  marker); other records only while they are among the ``recent_records`` latest (nothing reads them back
  but a resubmission);
- counters, except those of windows that ended before ``counters_cutoff`` (window ids read with
  :func:`gridpoints.calendar.window_kind` in that cutoff's own time zone; the ``-`` window never ends) and
  the event-scoped ones (scope ``event``) of events whose record went, which are dropped one prune later
  (an engine may still look a marker up at the period close after it was set). A counter dropped reads 0.

For every other event id it keeps only what idempotency needs: a 64-bit hash of the id and the
fingerprint's 32 bytes, in sorted arrays behind a Bloom filter. A resubmitted id gets a *thin* record —
the true fingerprint, so the engine still tells a duplicate from an
:class:`~gridpoints.errors.IdempotencyConflict`, and a placeholder decision (0 points, subject
``(pruned)``, no rules). Two ids whose 64-bit hashes collide (about one chance in 10¹² per event in a
replay of millions) would be mistaken for one another.
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import attrs

from gridpoints.calendar import window_end, window_kind
from gridpoints.model import (
    GENESIS_HASH,
    Anchor,
    CompactRecord,
    CounterKey,
    Entry,
    EventRecord,
    LedgerAnchor,
    Notice,
    Reason,
)
from gridpoints.model._codec import entry_json_line
from gridpoints.storage._protocol import StoreCapabilities
from gridpoints.storage._staged import UNSEALED, Outbox, StagedTransaction

#: Something that receives each committed batch of entries, in sequence order.
Sink = Callable[[Sequence[Entry]], None]

#: Entry reasons whose event a later decision reads back while it is open (see the module docstring).
TARGET_REASONS = frozenset({Reason.PENDING, Reason.DEDUCTION, Reason.HELD, Reason.APPLIED})
#: The subject of a thin record's placeholder decision.
PRUNED_SUBJECT = "(pruned)"

_M64 = (1 << 64) - 1
_encode = json.encoder.encode_basestring
_make_entry = Entry._make
#: An entry kept as a plain tuple of its fields (untracked by the garbage collector), and its fields' places.
_EntryData = tuple[Any, ...]
_SEQ, _EVENT, _SUBJECT, _REASON, _OCCURRED = (
    Entry._fields.index(name) for name in ("seq", "event_id", "subject", "reason", "occurred_at"))
_seq = itemgetter(_SEQ)


def _settled(event_id: str) -> tuple[str, str, str, str]:
    return ("event", event_id, "settled", "-")


def _thin_decision(event_id: str) -> str:
    return (f'{{"points":0,"trace":{{"event_id":{_encode(event_id)},"event_type":"","subject":'
            f'{_encode(PRUNED_SUBJECT)},"occurred_local":"","ruleset":"","grid":null,"household":null,'
            f'"community":null,"rules":[]}}}}')


def _opened_repair(event_id: str, data: CompactRecord) -> bool:
    """Whether a deduction's decision opened a repair (a task or the repair's expiry may still settle it)."""
    return any(step.kind == "repair" and step.code == "repair.opened"
               for rule in EventRecord.from_compact(event_id, data).original().trace.rules for step in rule.steps)


def _fingerprint(event_id: str, data: CompactRecord) -> str:
    return data[0] if data[0] is not None else EventRecord.from_compact(event_id, data).fingerprint


class _Thin:
    """Idempotency of records no longer kept: 64-bit id hash → fingerprint (32 bytes).

    New ids are staged in a dict and moved, :data:`LEVEL` at a time, into a sorted ``array('Q')`` with the
    fingerprints aligned beside it; a Bloom filter (2 probes, 16 bits per id, rebuilt twice as large when
    full) answers "never seen" — by far the usual answer — without looking at the levels. Fingerprints that
    are not 64 hex digits (a host's own scheme) are kept as text.
    """

    LEVEL = 1 << 16

    def __init__(self) -> None:
        self.count = 0
        self._bits = bytearray(1 << 17)
        self._mask = (len(self._bits) << 3) - 1
        self._staged: dict[int, bytes] = {}
        self._levels: list[tuple[array[int], bytes]] = []
        self._odd: dict[str, str] = {}

    def add(self, event_id: str, fingerprint: str) -> None:
        key = hash(event_id) & _M64
        try:
            digest = bytes.fromhex(fingerprint)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            self._odd[event_id] = fingerprint
            self.count += 1
            return
        self._staged[key] = digest
        self.count += 1
        if self.count > len(self._bits) >> 1:
            self._grow()
        else:
            bits, mask = self._bits, self._mask
            a, b = key & mask, (key >> 32) & mask
            bits[a >> 3] |= 1 << (a & 7)
            bits[b >> 3] |= 1 << (b & 7)
        if len(self._staged) >= self.LEVEL:
            self._flush()

    def known(self, event_id: str) -> bool:
        """False if the id was certainly never added (the usual answer); True if it may have been."""
        key = hash(event_id) & _M64
        bits, mask = self._bits, self._mask
        a, b = key & mask, (key >> 32) & mask
        return bool(bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1) or event_id in self._odd

    def get(self, event_id: str) -> str | None:
        key = hash(event_id) & _M64
        bits, mask = self._bits, self._mask
        a, b = key & mask, (key >> 32) & mask
        if not (bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1):
            return self._odd.get(event_id) if self._odd else None
        digest = self._staged.get(key)
        if digest is None:
            for keys, digests in reversed(self._levels):
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    digest = digests[32 * i:32 * i + 32]
                    break
        if digest is None:
            return self._odd.get(event_id)
        return digest.hex()

    def _mark(self, key: int) -> None:
        bits, mask = self._bits, self._mask
        a, b = key & mask, (key >> 32) & mask
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)

    def _grow(self) -> None:
        self._bits = bytearray(len(self._bits) * 2)
        self._mask = (len(self._bits) << 3) - 1
        mark = self._mark
        for keys, _ in self._levels:
            for key in keys:
                mark(key)
        for key in self._staged:
            mark(key)

    def _flush(self) -> None:
        keys = sorted(self._staged)
        staged = self._staged
        self._levels.append((array("Q", keys), b"".join([staged[k] for k in keys])))
        self._staged = {}


#: A target's record (compact; None if it was not committed with its entries), when its entries occurred
#: (their text), and which target reasons they have.
_Target = tuple[CompactRecord | None, str, int]
_DEDUCTION, _OTHER = 1, 2


@attrs.define(slots=True)
class _Tenant:
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    head: Anchor = attrs.field(factory=lambda: Anchor(0, GENESIS_HASH))
    entries: list[_EntryData] = attrs.field(factory=list)
    by_subject: dict[str, list[_EntryData]] = attrs.field(factory=dict)
    balances: dict[str, int] = attrs.field(factory=dict)
    #: Keys as plain tuples (equal to, and hashing like, the CounterKey they were).
    counters: dict[tuple[str, str, str, str], int] = attrs.field(factory=dict)
    targets: dict[str, _Target] = attrs.field(factory=dict)
    #: Other records, oldest first (an OrderedDict: the oldest goes in constant time).
    recent: OrderedDict[str, CompactRecord] = attrs.field(factory=OrderedDict)
    thin: _Thin = attrs.field(factory=_Thin)
    #: Event-scoped counters whose event's record went at the last prune: dropped at the next.
    doomed: list[tuple[str, str, str, str]] = attrs.field(factory=list)
    written: int = 0
    outbox: Outbox = attrs.field(factory=Outbox)

    def read(self, keys: Iterable[CounterKey], staged: Mapping[CounterKey, int] | None = None
             ) -> dict[CounterKey, int]:
        stored = self.counters
        if staged:
            return {k: stored.get(k, 0) + staged.get(k, 0) for k in keys}
        return {k: stored.get(k, 0) for k in keys}

    def record(self, event_id: str) -> EventRecord | None:
        target = self.targets.get(event_id)
        if target is not None and target[0] is not None:
            return EventRecord.from_compact(event_id, target[0])
        data = self.recent.get(event_id)
        if data is not None:
            return EventRecord.from_compact(event_id, data)
        fingerprint = self.thin.get(event_id)
        if fingerprint is None:
            return None
        return EventRecord(event_id, fingerprint, _thin_decision(event_id))


class _LiveTransaction(StagedTransaction):
    __slots__ = ("_tenant",)

    def __init__(self, tenant: _Tenant) -> None:
        super().__init__(tenant.head, tenant.balances)
        self._tenant = tenant

    def find_events(self, event_ids: Sequence[str]) -> Mapping[str, EventRecord]:
        found: dict[str, EventRecord] = {}
        staged, stored = self.records, self._tenant.record
        for event_id in event_ids:
            record = staged.get(event_id) or stored(event_id)
            if record is not None:
                found[event_id] = record
        return found

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        return self._tenant.read(keys, self.counter_deltas)


@attrs.frozen(slots=True)
class Retained:
    """What a tenant of a :class:`LiveStore` holds: ``written`` entries committed in all, ``entries`` still
    kept, ``records`` kept in full, ``thin`` ids kept only for idempotency, ``counters``."""

    written: int
    entries: int
    records: int
    thin: int
    counters: int


class LiveStore:
    """A :class:`~gridpoints.storage.Store` for replays: live state in process memory, entries streamed to
    ``sinks`` on commit, history dropped by :meth:`prune` (see the module docstring). Thread-safe.

    A sink is called with each committed batch, before the batch is applied: a sink that raises aborts the
    transaction (nothing is written) and the exception propagates. ``recent_records`` is how many records of
    non-target events are kept in full (the latest ones) before only their idempotency key is.
    """

    #: Fingerprints are kept for every event (they are what idempotency needs once a record goes); no record
    #: is serialised; entries are kept only as long as later decisions read them.
    capabilities = StoreCapabilities(needs_fingerprints=True, persists_records=False, keeps_history=False,
                                     keeps_notices=True)

    def __init__(self, sinks: Iterable[Sink] = (), *, recent_records: int = 4096) -> None:
        if recent_records < 0:
            raise ValueError(f"recent_records must not be negative, got {recent_records}")
        self.sinks: list[Sink] = list(sinks)
        self.recent_records = recent_records
        self._tenants: dict[str, _Tenant] = {}
        self._guard = threading.Lock()

    def subscribe(self, sink: Sink) -> None:
        """Also send every batch committed from now on to ``sink``."""
        self.sinks.append(sink)

    def _tenant(self, tenant: str) -> _Tenant:
        state = self._tenants.get(tenant)
        if state is None:
            with self._guard:
                state = self._tenants.setdefault(tenant, _Tenant())
        return state

    @contextmanager
    def transaction(
        self, tenant: str, *, counters: Iterable[CounterKey] = (), accounts: Iterable[str] = ()
    ) -> Iterator[_LiveTransaction]:
        # One lock per tenant covers every counter and account in it (as in the memory store).
        state = self._tenant(tenant)
        with state.lock:
            txn = _LiveTransaction(state)
            yield txn
            self._apply(state, txn)

    def _apply(self, state: _Tenant, txn: _LiveTransaction) -> None:
        entries = txn.entries
        if entries:
            for sink in self.sinks:
                sink(entries)
        txn.apply_ledger(state.balances, state.entries, state.by_subject, state.counters)
        if txn.notices:
            txn.apply_notices(state.outbox)
        targets: dict[str, tuple[str, int]] = {}
        for entry in entries:
            if entry.reason in TARGET_REASONS:
                kind = _DEDUCTION if entry.reason == Reason.DEDUCTION else _OTHER
                first = targets.get(entry.event_id)
                targets[entry.event_id] = (first[0], first[1] | kind) if first else (entry.occurred_at, kind)
        state.written += len(entries)
        state.head = txn.head()
        recent, events, kept_targets = state.recent, txn.records, state.targets
        for event_id, (occurred, kinds) in targets.items():
            record = events.get(event_id)
            prior = kept_targets.get(event_id)
            compact = record.compact() if record is not None else prior[0] if prior is not None else None
            if prior is not None:
                occurred, kinds = prior[1], prior[2] | kinds
            kept_targets[event_id] = (compact, occurred, kinds)
        for event_id, record in events.items():
            if event_id in targets:
                continue
            prior = kept_targets.get(event_id)
            if prior is not None:
                kept_targets[event_id] = (record.compact(), prior[1], prior[2])
            else:
                recent[event_id] = record.compact()
                recent.move_to_end(event_id)
        while len(recent) > self.recent_records:
            event_id, data = recent.popitem(last=False)
            state.thin.add(event_id, _fingerprint(event_id, data))

    def balances(self, tenant: str, accounts: Iterable[str]) -> dict[str, int]:
        stored = self._tenant(tenant).balances
        return {a: stored.get(a, 0) for a in accounts}

    def counters(self, tenant: str, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        return self._tenant(tenant).read(keys)

    def entries(self, tenant: str, *, subject: str | None = None, after_seq: int = 0) -> Iterator[Entry]:
        """Committed entries still kept, in sequence order (all of them until the first :meth:`prune`)."""
        state = self._tenant(tenant)
        with state.lock:
            found = state.entries if subject is None else state.by_subject.get(subject, [])
            snapshot = found[bisect_right(found, after_seq, key=_seq):] if after_seq else found[:]
        return map(_make_entry, snapshot)

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        state = self._tenant(tenant)
        with state.lock:
            return state.record(event_id)

    def head(self, tenant: str) -> Anchor:
        state = self._tenant(tenant)
        with state.lock:
            return state.head

    def record_head(self, tenant: str) -> Anchor:
        """Records are not sealed by a replay: genesis."""
        return UNSEALED

    def records(self, tenant: str) -> Iterator[EventRecord]:
        """Nothing: a replay keeps only the records later decisions read (see :meth:`find_event`)."""
        return iter(())

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
        """Nothing to release (sinks belong to whoever made them); present for the protocol."""

    def retained(self, tenant: str) -> Retained:
        """What the tenant holds now (see :class:`Retained`)."""
        state = self._tenant(tenant)
        with state.lock:
            return Retained(state.written, len(state.entries), len(state.targets) + len(state.recent),
                            state.thin.count, len(state.counters))

    # -- pruning ----------------------------------------------------------------------------------------

    def prune(self, cutoff: datetime, *, deductions_cutoff: datetime | None = None,
              counters_cutoff: datetime | None = None, tenant: str | None = None) -> None:
        """Drop what no later decision reads (see the module docstring): entries that occurred before
        ``cutoff`` (except those of targets kept), deductions that occurred before ``deductions_cutoff``
        and are no longer open, counters of windows that ended before ``counters_cutoff`` (both default
        to ``cutoff``). One tenant, or all of them.

        The cutoffs must be aware datetimes; window ids are read in ``counters_cutoff``'s own zone (pass the
        ruleset's). Call it where the engine has just looked at what period close looks at (right after a
        close): an event-scoped marker set since then is kept until the prune after the next.
        """
        deductions_cutoff = deductions_cutoff if deductions_cutoff is not None else cutoff
        counters_cutoff = counters_cutoff if counters_cutoff is not None else cutoff
        if any(c.utcoffset() is None for c in (cutoff, deductions_cutoff, counters_cutoff)):
            raise ValueError("the cutoffs must carry a UTC offset")
        for name in ([tenant] if tenant is not None else list(self._tenants)):
            state = self._tenant(name)
            with state.lock:
                _prune(state, cutoff, deductions_cutoff, counters_cutoff)


def _since(cutoff: datetime) -> Callable[[str], bool]:
    """Whether an entry's time text is at or after ``cutoff``: engine-made UTC text compares as text, anything
    else is parsed (once per distinct text)."""
    utc = cutoff.astimezone(UTC).isoformat()
    parsed: dict[str, bool] = {}

    def since(occurred: str) -> bool:
        if len(utc) == 25 and len(occurred) >= 25 and occurred.endswith("+00:00"):
            return occurred >= utc
        found = parsed.get(occurred)
        if found is None:
            found = parsed[occurred] = datetime.fromisoformat(occurred) >= cutoff
        return found

    return since


def _prune(state: _Tenant, cutoff: datetime, deductions_cutoff: datetime, counters_cutoff: datetime) -> None:
    counters, thin = state.counters, state.thin
    recent, recent_deduction = _since(cutoff), _since(deductions_cutoff)
    targets: dict[str, _Target] = {}
    for event_id, target in state.targets.items():
        data, occurred, kinds = target
        open_ = not counters.get(_settled(event_id), 0) and bool(
            kinds & _OTHER or (kinds & _DEDUCTION and data is not None and _opened_repair(event_id, data)))
        if open_ or (kinds & _DEDUCTION and recent_deduction(occurred)):
            targets[event_id] = target
        elif data is not None:
            thin.add(event_id, _fingerprint(event_id, data))
    state.targets = targets

    kept = [e for e in state.entries if recent(e[_OCCURRED]) or (e[_REASON] in TARGET_REASONS and e[_EVENT] in targets)]
    by_subject: dict[str, list[_EntryData]] = {}
    for entry in kept:
        mine = by_subject.get(entry[_SUBJECT])
        if mine is None:
            by_subject[entry[_SUBJECT]] = [entry]
        else:
            mine.append(entry)
    state.entries, state.by_subject = kept, by_subject

    held = state.recent
    for key in state.doomed:
        if key[1] not in targets and key[1] not in held:
            counters.pop(key, None)
    last = counters_cutoff.date()
    ended: dict[str, bool] = {"-": False}
    doomed = []
    for key in list(counters):
        window = key[3]
        gone = ended.get(window)
        if gone is None:
            try:
                gone = window_end(window_kind(window), window) <= last
            except ValueError:
                gone = False  # not a window id: never ends
            ended[window] = gone
        if gone:
            del counters[key]
        elif key[0] == "event" and key[1] not in targets and key[1] not in held:
            doomed.append(key)
    state.doomed = doomed


class JsonlAnchors:
    """An anchor sink appending each :class:`~gridpoints.model.LedgerAnchor` to a JSON Lines file, one line
    each, flushed and synced as written (``gridpoints verify --anchors FILE`` reads it back)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __call__(self, anchor: LedgerAnchor) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(anchor.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())


class JsonlSink:
    """Writes each entry as one JSON object per line (the :class:`~gridpoints.model.Entry` fields, so
    ``Entry(**line)`` rebuilds it and ``expected_hash()`` re-verifies it). A context manager; :meth:`close`
    flushes and closes the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = self.path.open("w", encoding="utf-8")

    def __call__(self, entries: Sequence[Entry]) -> None:
        self._handle.write("".join(map(entry_json_line, entries)))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["PRUNED_SUBJECT", "TARGET_REASONS", "JsonlSink", "LiveStore", "Retained", "Sink"]
