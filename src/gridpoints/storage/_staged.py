"""Writes staged in process memory until an in-process store applies them at commit.

What the memory store and the live replay store share of a transaction: the chain check on append, balances
read through the entries staged so far, and the staged counter deltas and records. Each store adds its own
``find_events`` and ``read_counters`` over what it keeps, and applies :attr:`StagedTransaction.entries`,
:attr:`~StagedTransaction.counter_deltas` and :attr:`~StagedTransaction.records` on a clean exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

import attrs

from gridpoints.errors import IntegrityError
from gridpoints.model import GENESIS_HASH, Anchor, CounterKey, Entry, EventRecord, Notice

#: The records' chain head of a store that does not seal records.
UNSEALED = Anchor(0, GENESIS_HASH)


@attrs.define(slots=True)
class Outbox:
    """An in-process store's notices of one tenant (cursor n at index n - 1) and its acknowledged cursor.
    Used under the tenant's lock."""

    kept: list[Notice] = attrs.field(factory=list)
    acknowledged: int = 0

    def after(self, after: int, limit: int | None) -> list[Notice]:
        found = self.kept[max(after, 0):]
        return found if limit is None else found[:limit]

    def acknowledge(self, cursor: int) -> int:
        # Never back, and never past the last notice (a later one must not count as delivered).
        self.acknowledged = max(self.acknowledged, min(cursor, len(self.kept)))
        return self.acknowledged


class StagedTransaction:
    """The staged half of an in-process transaction (see the module docstring)."""

    __slots__ = ("_balances", "_head", "counter_deltas", "entries", "notices", "records")

    def __init__(self, head: Anchor, balances: Mapping[str, int]) -> None:
        self._head = head
        self._balances = balances
        #: Entries appended, in order (they continue the chain from the head the transaction began at).
        self.entries: list[Entry] = []
        #: Counter increments appended, summed per key.
        self.counter_deltas: dict[CounterKey, int] = {}
        #: Records appended, by event id.
        self.records: dict[str, EventRecord] = {}
        #: Notices appended, in order (numbered by the store when it applies them).
        self.notices: list[Notice] = []

    def apply_ledger(self, balances: MutableMapping[str, int], kept: list[tuple[Any, ...]],
                     by_subject: dict[str, list[tuple[Any, ...]]],
                     counters: MutableMapping[tuple[str, str, str, str], int]) -> None:
        """Move the staged entries (as plain tuples, in order and by subject), their balances and the staged
        counter deltas (keyed by plain tuples) into a store's kept state; records are the store's to keep."""
        for entry in self.entries:
            data = tuple(entry)
            credit, debit, amount = entry.credit, entry.debit, entry.amount
            balances[credit] = balances.get(credit, 0) + amount
            balances[debit] = balances.get(debit, 0) - amount
            kept.append(data)
            mine = by_subject.get(entry.subject)
            if mine is None:
                by_subject[entry.subject] = [data]
            else:
                mine.append(data)
        for key, delta in self.counter_deltas.items():
            plain: tuple[str, str, str, str] = (key[0], key[1], key[2], key[3])
            counters[plain] = counters.get(plain, 0) + delta

    def append_notices(self, notices: Sequence[Notice]) -> None:
        self.notices.extend(notices)

    def apply_notices(self, outbox: Outbox) -> None:
        """Number the staged notices after those already in ``outbox`` and add them to it."""
        kept = outbox.kept
        start = len(kept)
        kept.extend(attrs.evolve(notice, cursor=start + n) for n, notice in enumerate(self.notices, start=1))

    def read_balances(self, accounts: Iterable[str]) -> dict[str, int]:
        stored = self._balances
        result = {a: stored.get(a, 0) for a in accounts}
        for entry in self.entries:
            if entry.credit in result:
                result[entry.credit] += entry.amount
            if entry.debit in result:
                result[entry.debit] -= entry.amount
        return result

    def head(self) -> Anchor:
        return self._head

    def record_head(self) -> Anchor:
        """In-process stores do not seal records (see :class:`~gridpoints.storage.StoreCapabilities`)."""
        return UNSEALED

    def append(
        self, entries: Sequence[Entry], counter_deltas: Mapping[CounterKey, int], events: Sequence[EventRecord]
    ) -> None:
        seq, digest = self._head.seq, self._head.hash
        for entry in entries:
            if entry.seq != seq + 1 or entry.prev_hash != digest:
                raise IntegrityError(
                    f"entry {entry.seq} does not continue the chain at {seq} "
                    f"(expected seq {seq + 1} linked to {digest[:12]}…)"
                )
            seq, digest = entry.seq, entry.hash
        if entries:
            self._head = Anchor(seq, digest)
        self.entries.extend(entries)
        deltas = self.counter_deltas
        for key, delta in counter_deltas.items():
            deltas[key] = deltas.get(key, 0) + delta
        for record in events:
            self.records[record.event_id] = record
