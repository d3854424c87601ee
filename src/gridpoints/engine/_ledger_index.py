"""What period close looks up in the ledger, kept per engine and brought up to date by reading only the
entries written since the last look (``Store.entries(after_seq=…)``), so a close costs what was written
since the previous one rather than the whole ledger.

Kept: the event ids of pending awards, deductions, holds and applications that may still be open (the
expiry steps drop those they find settled: a settled marker is never unset), the entries that corrections
reversed, and, per block of :data:`BLOCK` entries, the latest time any entry up to its end occurred, so a
window's entries are read from the first block that can hold one. Entries are immutable and sequence numbers contiguous,
which is what makes both exact. The index belongs to an engine (its ``index`` attribute) and that engine's
store and tenant; a new store starts a new index.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gridpoints.model import Entry, Reason

if TYPE_CHECKING:
    from gridpoints.storage import Store

T = TypeVar("T")

_PENDING, _DEDUCTION, _HELD, _APPLIED = (Reason.PENDING.value, Reason.DEDUCTION.value, Reason.HELD.value,
                                          Reason.APPLIED.value)
_CORRECTED = Reason.CORRECTED.value

#: Entries per block of the time index.
BLOCK = 4096


class LedgerIndex:
    """Open pending awards, deductions and holds, and a time index of the ledger. Use under :attr:`lock`."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self.lock = threading.Lock()
        #: The last sequence number read.
        self.seq = 0
        #: Per complete block k: the latest occurrence among entries 1 … (k + 1) · BLOCK (never decreasing).
        self.reach: list[datetime] = []
        self._latest: datetime | None = None
        #: Event id → (seq, amount, rule) of its pending entries.
        self.pending: dict[str, list[tuple[int, int, str]]] = {}
        #: Event id of a deduction → its subject.
        self.deductions: dict[str, str] = {}
        #: Event id of a redemption → its "held" entries.
        self.holds: dict[str, list[Entry]] = {}
        #: Seq of an entry a correction (冲正) reversed → the correction's event id (corrections are rare).
        self.corrections: dict[int, str] = {}
        #: Event id of an application for an allocated item → its "applied" entry.
        self.applications: dict[str, Entry] = {}

    def refresh(self) -> None:
        """Read the entries written since the last refresh."""
        latest, reach = self._latest, self.reach
        for entry in self.store.entries(self.tenant, after_seq=self.seq):
            moment = datetime.fromisoformat(entry.occurred_at)
            if latest is None or moment > latest:
                latest = moment
            if entry.seq % BLOCK == 0:
                reach.append(latest)
            reason = entry.reason
            if reason == _PENDING:
                self.pending.setdefault(entry.event_id, []).append((entry.seq, entry.amount, entry.rule))
            elif reason == _DEDUCTION:
                self.deductions.setdefault(entry.event_id, entry.subject)
            elif reason == _HELD:
                self.holds.setdefault(entry.event_id, []).append(entry)
            elif reason == _APPLIED:
                self.applications.setdefault(entry.event_id, entry)
            elif reason == _CORRECTED and entry.reverses is not None:
                self.corrections[entry.reverses] = entry.event_id
            self.seq = entry.seq
        self._latest = latest

    def read(self, what: Callable[[LedgerIndex], T]) -> T:
        """``what(self)`` under the lock, after reading the entries written since the last look."""
        with self.lock:
            self.refresh()
            return what(self)

    def forget(self, table: dict[str, Any], event_ids: Iterable[str]) -> None:
        """Drop settled event ids from one of the open tables (a settled marker is never unset)."""
        with self.lock:
            for event_id in event_ids:
                table.pop(event_id, None)

    def occurred_from(self, start: datetime) -> Iterable[Entry]:
        """Entries that may have occurred at or after ``start`` (all that did, and some that did not)."""
        first = bisect_left(self.reach, start) * BLOCK
        return self.store.entries(self.tenant, after_seq=first)
