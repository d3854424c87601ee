"""The store boundary: a few verbs a host can implement for its own database.

A write is one transaction that the engine opens naming every counter and account it may touch. The
adapter locks them (sorted, so two writers cannot deadlock) plus the tenant's chain head, then the engine:

1. looks up the event ids (idempotency),
2. reads counters and balances,
3. reads the chain head and seals new entries onto it (and, for a store that
   :attr:`~StoreCapabilities.seals_records`, reads the record head and seals each record onto the records'
   chain, bound to its entries),
4. appends entries, counter deltas and event records,

and the context manager commits on a clean exit or rolls everything back on an exception. Reads outside a
transaction (balances, entries, head) see only committed data. Prove an adapter with
:mod:`gridpoints.testing.storage_suite`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import attrs

from gridpoints.model import Anchor, CounterKey, Entry, EventRecord, Notice, SealedHead


@attrs.frozen(slots=True)
class StoreCapabilities:
    """What a store tells the engine about itself, instead of the engine testing its type.

    ``needs_fingerprints``: the store persists each record's fingerprint, so the engine computes them before
    the transaction takes its locks (a store that keeps the event object can compute one only when an id
    is resubmitted). ``persists_records``: records are serialised (their decision's JSON text is read).
    ``keeps_history``: :meth:`Store.entries` returns every entry ever committed (a live-state replay store
    keeps only what later decisions read). ``seals_records``: the store keeps each record's
    :class:`~gridpoints.model.RecordSeal` and its records' chain head (:meth:`Transaction.record_head`,
    :meth:`Store.records`, :meth:`Store.record_head`), so the engine seals every record into the chain and
    an audit can check them; a store without it keeps records unsealed (off by default, so an adapter
    written before seals existed keeps working).
    ``keeps_notices``: the store has a transactional outbox of notices (see :class:`NoticeOutbox`); an
    engine with ``notify=True`` needs one.
    ``seals_head``: the store keeps a MAC in each tenant's chain-head row (see :class:`HeadSealTransaction`
    and :class:`SealedHeadStore`): the engine seals the head with every write, an audit checks it, and an
    engine checks at start that its sealing key is the one the ledger was sealed with.
    """

    needs_fingerprints: bool = True
    persists_records: bool = True
    keeps_history: bool = True
    seals_records: bool = False
    #: The store keeps a notices outbox (:class:`NoticeOutbox`): ``append_notices`` on its transactions,
    #: ``notices`` / ``acknowledge`` / ``acknowledged`` on the store.
    keeps_notices: bool = False
    #: The store keeps the chain-head row's MAC (:class:`HeadSealTransaction`, :class:`SealedHeadStore`).
    seals_head: bool = False


def capabilities_of(store: object) -> StoreCapabilities:
    """A store's declared :class:`StoreCapabilities` (its ``capabilities`` attribute), or the defaults of a
    store that persists everything."""
    found = getattr(store, "capabilities", None)
    return found if isinstance(found, StoreCapabilities) else StoreCapabilities()


@runtime_checkable
class Transaction(Protocol):
    """An open write transaction on one tenant. Every read sees this transaction's own appends."""

    def find_events(self, event_ids: Sequence[str]) -> Mapping[str, EventRecord]:
        """Records of the given event ids that are already stored (absent ids are left out)."""
        ...

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        """Current value of each counter; a counter never written reads 0."""
        ...

    def read_balances(self, accounts: Iterable[str]) -> dict[str, int]:
        """Current balance of each account; an account never posted to reads 0."""
        ...

    def head(self) -> Anchor:
        """The chain head the next entry must link to."""
        ...

    def record_head(self) -> Anchor:
        """The records' chain head (the number of sealed records and the last one's hash) the next sealed
        record must link to; genesis for a store that does not seal records."""
        ...

    def append(
        self,
        entries: Sequence[Entry],
        counter_deltas: Mapping[CounterKey, int],
        events: Sequence[EventRecord],
    ) -> None:
        """Stage entries (contiguous, linking to :meth:`head`), counter increments and event records.

        Raises :class:`~gridpoints.errors.IntegrityError` if the entries do not continue the chain, or if
        sealed records do not continue the records' chain from :meth:`record_head`.
        """
        ...


@runtime_checkable
class NoticeTransaction(Protocol):
    """The outbox half of a transaction of a store that keeps notices."""

    def append_notices(self, notices: Sequence[Notice]) -> None:
        """Stage notices; the store numbers them (each tenant's cursors run 1, 2, 3 … in commit order) when
        the transaction commits, and drops them if it rolls back."""
        ...


@runtime_checkable
class HeadSealTransaction(Protocol):
    """The head-sealing half of a transaction of a store that ``seals_head``."""

    def seal_head(self, mac: str) -> None:
        """Stage the MAC of the heads this transaction's :meth:`~Transaction.append` moves the chain to
        (:meth:`gridpoints.model.SealedHead.expected_mac`); written with the head row when it moves, in the
        same statement."""
        ...


@runtime_checkable
class SealedHeadStore(Protocol):
    """The committed chain-head row of a store that ``seals_head``."""

    def sealed_head(self, tenant: str) -> SealedHead:
        """Both committed heads and the row's MAC (genesis heads and no MAC for a tenant never written)."""
        ...


@runtime_checkable
class NoticeOutbox(Protocol):
    """A store's transactional outbox of notices (with ``capabilities.keeps_notices``)."""

    def notices(self, tenant: str, *, after: int = 0, limit: int | None = None) -> list[Notice]:
        """Committed notices with a cursor above ``after``, in cursor order, at most ``limit``."""
        ...

    def acknowledge(self, tenant: str, cursor: int) -> int:
        """Record that every notice up to ``cursor`` was delivered; never moves back (acknowledging a lower
        or the same cursor again changes nothing). Returns the acknowledged cursor."""
        ...

    def acknowledged(self, tenant: str) -> int:
        """The highest cursor acknowledged (0 if none)."""
        ...


@runtime_checkable
class Store(Protocol):
    """Persistence for ledgers, counters and event records, per tenant."""

    def transaction(
        self, tenant: str, *, counters: Iterable[CounterKey] = (), accounts: Iterable[str] = ()
    ) -> AbstractContextManager[Transaction]:
        """Open a write transaction holding locks on the named counters and accounts and the chain head."""
        ...

    def balances(self, tenant: str, accounts: Iterable[str]) -> dict[str, int]:
        """Committed balances of the given accounts (0 for unknown)."""
        ...

    def counters(self, tenant: str, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        """Committed values of the given counters (0 for unknown)."""
        ...

    def entries(self, tenant: str, *, subject: str | None = None, after_seq: int = 0) -> Iterator[Entry]:
        """Committed entries in sequence order, optionally one subject's, after a sequence number."""
        ...

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        """The committed record of an event id, if any."""
        ...

    def head(self, tenant: str) -> Anchor:
        """The committed chain head."""
        ...

    def record_head(self, tenant: str) -> Anchor:
        """The committed records' chain head (genesis for a store that does not seal records)."""
        ...

    def records(self, tenant: str) -> Iterator[EventRecord]:
        """Every committed record: unsealed ones (written before sealing) first, then sealed ones in seal
        order. A store that does not seal records may return nothing."""
        ...

    def close(self) -> None:
        """Release connections and other resources."""
        ...
