"""Audit a tenant's ledger: the entries' chain, the sealed event records, counters, balances and anchors.

:func:`verify` reads only through the :class:`~gridpoints.storage.Store` protocol, so it audits any adapter
the same way, and it never writes. It walks the committed entries in sequence order and checks that

* the sequence is contiguous from 1 (a gap is a deleted entry),
* every entry's hash matches its contents (:meth:`~gridpoints.model.Entry.expected_hash`, keyed with the
  tenant's sealing key if it has one: an edited or re-numbered entry fails here) and links to the previous
  entry's stored hash (a removed, inserted or re-sealed entry fails here),
* every amount is positive and every entry belongs to the tenant,
* the store's chain head is the last entry (a truncated tail with the head row left behind fails here; on
  MySQL/MariaDB, where TRUNCATE fires no trigger, a truncated table fails here too),
* each account's stored balance equals the sum of its entries, and the stored balances sum to zero.

On a store that seals records (:attr:`~gridpoints.storage.StoreCapabilities.seals_records`: the SQL store) it
walks the records' chain beside the entries and checks that

* records are contiguous from 1, each record's seal matches its contents (fingerprint, decision, actor,
  attributes, counter increments, recorded time) and links to the previous record's, and the records' head
  is the last record (a deleted or edited record, a truncated events table fail here),
* every entry is one that a record sealed (the record's own list of its entries' hashes): an entry edited
  and re-sealed after its event was recorded, or appended with no record (a forged credit), fails here at
  its own seq,
* each record's decision agrees with its entries (the points it says the subject got are the net change of
  the subject's spendable account in those entries),
* every counter equals the sum of the increments the records sealed (a counter reset to 0 fails here, named
  by the counter and the first event that moved it).

On a store that seals its head (:attr:`~gridpoints.storage.StoreCapabilities.seals_head`: the SQL store,
schema v5) the head row's MAC must match the heads it holds (:class:`~gridpoints.model.SealedHead`); with a
key, a head moved by a writer without it — to where a cut ledger ends, say — fails here, reported as the
chain head (:attr:`AuditReport.bad_head`). A head restored from an earlier copy of the row still holds: only
an anchor shows that.

With anchors (heads recorded outside the database, see :class:`~gridpoints.model.LedgerAnchor`) the chain must
still pass through every one: this catches a tail truncated together with its head row, and a chain
re-sealed end to end. The report names the *first* bad sequence number: the earliest entry from which the
chain cannot be trusted (for a rewrite that only an anchor shows, the first entry after the last anchor that
still holds). Records are named by event id and record number.

Without a sealing key the report says the chain is unkeyed: whoever can write to the database can re-seal
it end to end, which only an anchor kept elsewhere reveals. With one (``key=``, ``--key-file``), nobody
without the key can.

Balances, counters and heads are compared after the walk; run it on a quiescent tenant (or a snapshot),
since writes committed during the walk show up as mismatches. The protocol has no way to list accounts or
counters, so one that appears in no entry or record is not seen.

:func:`run_verify` is the ``gridpoints verify URL [--tenant T] [--anchor HASH@SEQ] [--anchors FILE]
[--key-file F]`` command's body; it opens SQLite read-only, so the file's bytes do not change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO, cast

import attrs

from gridpoints.errors import GridpointsError
from gridpoints.model import GENESIS_HASH, Anchor, CounterKey, Entry, EventRecord, LedgerAnchor, SealedHead, spendable
from gridpoints.storage import SealedHeadStore, Store, capabilities_of, open_store

__all__ = ["AuditReport", "read_anchors", "read_key", "run_verify", "verify"]

_GENESIS = Anchor(0, GENESIS_HASH)

#: Problems listed in a report before the rest are summarised in one line.
MAX_PROBLEMS = 50


@attrs.frozen(slots=True)
class AuditReport:
    """The outcome of :func:`verify`.

    ``ok`` is true when no problem was found. ``entries_checked`` counts the entries walked and
    ``records_checked`` the sealed records; ``first_bad_seq`` is the earliest entry sequence number the chain
    breaks at (``None`` when the entries are intact — a counter or balance mismatch alone has none);
    ``first_bad_event`` the event id of the first record found wrong (``None`` if none); ``problems`` says
    what is wrong; ``notes`` what was not checked and why (an unkeyed chain, records written before records
    were sealed); ``head`` and ``record_head`` are the last entry and record walked, the anchor to record
    for the next audit once the report is ok; ``keyed``: the hashes were checked with a sealing key.
    """

    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problems: tuple[str, ...]
    head: Anchor
    records_checked: int = 0
    first_bad_event: str | None = None
    record_head: Anchor = attrs.field(factory=lambda: _GENESIS)
    keyed: bool = False
    notes: tuple[str, ...] = ()
    #: The chain-head row is wrong in itself: its MAC does not match the heads it holds, or (with a key) it
    #: has none.
    bad_head: bool = False

    def summary(self) -> str:
        """One line: the verdict, how much was checked, and where the chain first broke."""
        records = f", {self.records_checked} records" if self.records_checked else ""
        kind = "keyed" if self.keyed else "unkeyed"
        if self.ok:
            return f"ok: {self.entries_checked} entries{records} verified ({kind} chain), head {self.head}"
        where = f", first bad seq {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        event = f", first bad event {self.first_bad_event!r}" if self.first_bad_event is not None else ""
        return f"FAILED: {len(self.problems)} problem(s) in {self.entries_checked} entries{records}{where}{event}"


class _Findings:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.first_bad: int | None = None
        self.first_event: str | None = None
        self._first_record: int | None = None
        self.bad_head = False

    def chain(self, seq: int, message: str, *, event: tuple[str, int] | None = None) -> None:
        """An entry problem at ``seq`` (and the record implicated, by event id and record number)."""
        if self.first_bad is None or seq < self.first_bad:
            self.first_bad = seq
        if event is not None:
            self._event(*event)
        self.problems.append(f"seq {seq}: {message}")

    def _event(self, event_id: str, number: int) -> None:
        if self._first_record is None or number < self._first_record:
            self.first_event, self._first_record = event_id, number

    def record(self, event_id: str | None, number: int | None, message: str, *, seq: int | None = None) -> None:
        """A record problem, by event id and record number (and an entry seq, when entries are implicated)."""
        if seq is not None and (self.first_bad is None or seq < self.first_bad):
            self.first_bad = seq
        if event_id is not None:
            self._event(event_id, number or 0)
        where = [f"event {event_id!r}" if event_id is not None else None,
                 f"record {number}" if number is not None else None, f"seq {seq}" if seq is not None else None]
        self.problems.append(f"{', '.join(w for w in where if w)}: {message}")

    def other(self, message: str) -> None:
        self.problems.append(message)

    def head(self, message: str) -> None:
        """A problem of the chain-head row itself."""
        self.bad_head = True
        self.problems.append(f"chain head: {message}")


@attrs.define(slots=True)
class _Span:
    """A sealed record with entries, while its entries are walked."""

    record: EventRecord
    number: int
    start: int
    hashes: list[str]
    account: str
    points: int
    net: int = 0
    bad: bool = False

    @property
    def end(self) -> int:
        return self.start + len(self.hashes) - 1


class _Records:
    """Walks the records' chain beside the entries (both are in order, so neither is held whole)."""

    def __init__(self, store: Store, tenant: str, key: bytes, found: _Findings) -> None:
        self._tenant, self._key, self._found = tenant, key, found
        self._it: Iterator[EventRecord] = iter(store.records(tenant))
        self._pending: EventRecord | None = None
        #: Event ids of records written before records were sealed: their entries have no sealed span.
        self.legacy: set[str] = set()
        self.count = 0
        self.last = Anchor(0, GENESIS_HASH)
        self._next_from = 1
        self._span: _Span | None = None
        self._done = False
        #: Counter increments summed over the records, with the first record that moved each counter.
        self.sums: dict[CounterKey, int] = {}
        self.first_mover: dict[CounterKey, tuple[str, int]] = {}
        for record in self._it:
            if record.seal is not None:
                self._pending = record
                break
            self.legacy.add(record.event_id)

    def _pull(self) -> _Span | None:
        """Check records up to the next one with entries and return its span (``None``: no more)."""
        found, key = self._found, self._key
        while not self._done:
            record = self._pending
            if record is None:
                record = next(self._it, None)
                if record is None:
                    self._done = True
                    return None
            self._pending = None
            seal = record.seal
            if seal is None:
                found.record(record.event_id, None, "the record is not sealed, but sealed records precede it: "
                                                    "it was written outside the engine")
                continue
            self.count += 1
            expected = self.last.seq + 1
            if seal.seq > expected:
                found.record(None, expected, f"missing (the records jump from {expected - 1} to {seal.seq}): "
                                             f"record {expected}{'' if seal.seq == expected + 1 else '..'}"
                                             f"{'' if seal.seq == expected + 1 else seal.seq - 1} deleted")
            elif seal.seq < expected:
                found.record(record.event_id, seal.seq, "out of order: records re-numbered or duplicated")
            digest = _seal_hash(record, self._tenant, key)
            if digest != seal.hash:
                found.record(record.event_id, seal.seq, "the record's seal does not match its contents "
                                                        "(decision, fingerprint, actor, attributes, counters): "
                                                        f"the record was edited{_KEY_HINT if not key else ''}")
            if seal.prev_hash != self.last.hash:
                found.record(record.event_id, seal.seq, "does not link to the record before it: a record before "
                                                        "it was removed, inserted or re-sealed")
            self.last = Anchor(seal.seq, seal.hash)
            self._count_deltas(record, seal.seq)
            points, account = _decision_points(record)
            if self._next_from == 1 and self.legacy:
                # The first sealed entries follow those of records written before sealing.
                self._next_from = seal.entry_from
            if seal.entry_count() and seal.entry_from != self._next_from:
                found.record(record.event_id, seal.seq, f"its entries start at seq {seal.entry_from}, but the "
                                                        f"records before it end at seq {self._next_from - 1}",
                             seq=min(seal.entry_from, self._next_from))
            if not seal.entry_count():
                if points is not None and points != 0:
                    found.record(record.event_id, seal.seq, f"the decision says {points} points but the record "
                                                            "sealed no entries")
                continue
            self._next_from = seal.entry_from + seal.entry_count()
            return _Span(record, seal.seq, seal.entry_from, seal.hashes(), account or "",
                         points if points is not None else 0, bad=points is None)
        return None

    def _count_deltas(self, record: EventRecord, number: int) -> None:
        assert record.seal is not None
        try:
            rows = json.loads(record.seal.deltas)
            increments = [(CounterKey(*row[:4]), int(row[4])) for row in rows]
        except (ValueError, TypeError) as exc:
            self._found.record(record.event_id, number, f"its counter increments are not readable: {exc}")
            return
        for counter, delta in increments:
            self.sums[counter] = self.sums.get(counter, 0) + delta
            self.first_mover.setdefault(counter, (record.event_id, number))

    def entry(self, entry: Entry) -> None:
        """Check that ``entry`` is the one its record sealed."""
        found = self._found
        span = self._span
        while span is None or span.end < entry.seq:
            if span is not None:
                self._close(span)
            span = self._span = self._pull()
            if span is None:
                break
        if span is None or entry.seq < span.start:
            if entry.event_id in self.legacy:
                return
            found.chain(entry.seq, f"belongs to no sealed event record (event {entry.event_id!r}): it was "
                                   "appended outside the engine, or its record was deleted")
            return
        record = span.record
        if entry.hash != span.hashes[entry.seq - span.start]:
            found.chain(entry.seq, f"is not the entry the record of event {record.event_id!r} (record "
                                   f"{span.number}) sealed: it was edited or re-sealed after the event was recorded",
                        event=(record.event_id, span.number))
            span.bad = True
        if entry.event_id != record.event_id:
            found.chain(entry.seq, f"names event {entry.event_id!r}, but the record that sealed it is "
                                   f"{record.event_id!r}'s (record {span.number})",
                        event=(record.event_id, span.number))
        if entry.credit == span.account:
            span.net += entry.amount
        elif entry.debit == span.account:
            span.net -= entry.amount
        if entry.seq == span.end:
            self._close(span)
            self._span = None

    def _close(self, span: _Span) -> None:
        if span.bad:
            return
        if span.net != span.points:
            self._found.record(span.record.event_id, span.number,
                               f"the decision says {span.points} points, its entries (seq {span.start}.."
                               f"{span.end}) move the subject's balance by {span.net}", seq=span.start)

    def finish(self, last_seq: int) -> None:
        """Check the records after the last entry: they may seal no entries beyond it."""
        span = self._span
        while True:
            if span is not None and span.end > last_seq:
                first = max(span.start, last_seq + 1)
                self._found.record(span.record.event_id, span.number,
                                   f"its entries seq {first}..{span.end} are missing: the ledger's tail was "
                                   "deleted", seq=first)
            span = self._pull()
            if span is None:
                return


_KEY_HINT = " (or the ledger is keyed: pass its sealing key)"


def _seal_hash(record: EventRecord, tenant: str, key: bytes) -> str:
    assert record.seal is not None
    return record.seal.expected_hash(tenant, record.event_id, record.fingerprint, record.decision, key)


def _decision_points(record: EventRecord) -> tuple[int | None, str | None]:
    """The points a record's decision gives its subject, and the subject's spendable account."""
    try:
        data = json.loads(record.decision)
        points, subject = data["points"], data["trace"]["subject"]
    except (ValueError, KeyError, TypeError):
        return None, None
    if type(points) is not int or type(subject) is not str:
        return None, None
    return points, spendable(subject)


def verify(store: Store, tenant: str = "default", *, anchor: Anchor | None = None,
           anchors: Iterable[LedgerAnchor] = (), key: bytes | None = None) -> AuditReport:
    """Check ``tenant``'s chains, counters, balances and, if given, recorded anchors (see the module docs).

    ``anchor``: one entries' head recorded earlier (``HASH@SEQ``); ``anchors``: heads an anchor sink kept;
    ``key``: the tenant's sealing key, if its ledger is keyed. Reads only; raises what the store raises
    (:class:`~gridpoints.errors.StoreError`) if it cannot read.
    """
    found = _Findings()
    secret = key or b""
    sealing = capabilities_of(store).seals_records
    records = _Records(store, tenant, secret, found) if sealing else None
    kept = [a for a in anchors if a.tenant == tenant]
    wanted = {a.seq for a in kept} | ({anchor.seq} if anchor is not None else set())
    at_seq: dict[int, str] = {}
    sums: dict[str, int] = {}
    expected_seq, prev_hash = 1, GENESIS_HASH
    last = Anchor(0, GENESIS_HASH)
    count = 0
    for entry in store.entries(tenant):
        count += 1
        seq = entry.seq
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            found.chain(expected_seq, f"missing (the ledger jumps from {expected_seq - 1} to {seq}): "
                                      f"entry {missing} deleted")
        elif seq < expected_seq:
            found.chain(seq, f"out of order (after seq {expected_seq - 1}): entries re-numbered or duplicated")
        if entry.hash != entry.expected_hash(secret):
            found.chain(seq, "the stored hash does not match the entry's contents: the entry was edited "
                             f"or moved to another sequence number{_KEY_HINT if not key and seq == 1 else ''}")
        if entry.prev_hash != prev_hash:
            found.chain(seq, f"prev_hash {entry.prev_hash[:12]}… does not link to the hash of the entry "
                             f"before it ({prev_hash[:12]}…): an entry before it was removed, inserted or "
                             "re-sealed")
        if entry.tenant != tenant:
            found.chain(seq, f"belongs to tenant {entry.tenant!r}, not {tenant!r}")
        if entry.amount <= 0:
            found.chain(seq, f"amount {entry.amount} is not positive")
        if records is not None:
            records.entry(entry)
        if seq in wanted:
            at_seq[seq] = entry.hash
        sums[entry.credit] = sums.get(entry.credit, 0) + entry.amount
        sums[entry.debit] = sums.get(entry.debit, 0) - entry.amount
        expected_seq, prev_hash = max(seq, expected_seq) + 1, entry.hash
        last = Anchor(seq, entry.hash)

    stored_head = store.head(tenant)
    if stored_head.seq > last.seq:
        found.chain(last.seq + 1, f"missing: the chain head says {stored_head} but the ledger ends at "
                                  f"seq {last.seq}: the tail was truncated")
    elif stored_head.seq < last.seq:
        found.chain(stored_head.seq + 1, f"beyond the chain head {stored_head}: entries were appended "
                                         "without moving the head")
    elif stored_head.hash != last.hash:
        found.chain(last.seq, f"the chain head says {stored_head}, the ledger ends at {last}")
    if anchor is not None:
        _check_anchor(found, anchor, at_seq, last)
    if records is not None:
        records.finish(last.seq)
        _check_record_head(found, store.record_head(tenant), records)
        _check_counters(found, store, tenant, records)
        if records.legacy:
            found.notes.append(f"{len(records.legacy)} record(s) were written before records were sealed "
                               "(schema v3): their decisions are not protected by the chain")
    else:
        found.notes.append("this store does not seal event records: only the entries were checked")
    if capabilities_of(store).seals_head:
        _check_head_seal(found, cast(SealedHeadStore, store).sealed_head(tenant), tenant, key)
    _check_anchors(found, kept, at_seq, last, records.last if records is not None else None)
    if not key:
        found.notes.append("the chain is unkeyed: whoever can write to the database could re-seal it end to end; "
                           "only an anchor kept elsewhere would show it")

    stored = store.balances(tenant, sorted(sums))
    for account in sorted(sums):
        if stored[account] != sums[account]:
            found.other(f"account {account}: stored balance {stored[account]}, its entries sum to {sums[account]}")
    total = sum(stored.values())
    if total:
        found.other(f"stored balances sum to {total}, not 0: the ledger does not balance")

    problems = found.problems
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more"]
    return AuditReport(not found.problems, count, found.first_bad, tuple(problems), last,
                       records.count if records is not None else 0, found.first_event,
                       records.last if records is not None else Anchor(0, GENESIS_HASH), bool(key),
                       tuple(found.notes), found.bad_head)


def _check_head_seal(found: _Findings, row: SealedHead, tenant: str, key: bytes | None) -> None:
    """The head row's MAC against the heads it holds. With a key, a head moved by someone without it (to
    where a cut ledger ends, say) fails here; a head restored from an earlier copy of the row holds, and
    only an anchor shows it."""
    where = f"{row.head.seq} entries, {row.records.seq} records"
    if row.mac is None:
        if row.head.seq == 0 and row.records.seq == 0:
            return
        if key:
            found.head(f"the row ({where}) carries no MAC: it was moved by a writer without the key, or its MAC "
                       "was removed (a ledger upgraded to schema v5 gets its MAC at its next write)")
        else:
            found.notes.append(f"the chain head ({where}) carries no MAC: it was not written since heads were "
                               "sealed (schema v5)")
        return
    if not row.holds(tenant, key or b""):
        found.head(f"the row's MAC does not match the heads it holds ({where}): the row was edited or moved "
                   f"without the key{_KEY_HINT if not key else ''}")


def _check_anchor(found: _Findings, anchor: Anchor, at_seq: dict[int, str], last: Anchor) -> None:
    if last.seq < anchor.seq:
        found.chain(last.seq + 1, f"missing: the recorded anchor {anchor} is beyond the ledger's end "
                                  f"at seq {last.seq}: the tail was truncated")
    elif anchor.seq not in at_seq:
        found.chain(anchor.seq, f"missing: no entry at the recorded anchor {anchor}")
    elif at_seq[anchor.seq] != anchor.hash:
        found.chain(anchor.seq, f"hash {at_seq[anchor.seq][:12]}… differs from the recorded anchor {anchor}: "
                                "the ledger was rewritten up to or past the anchor")


def _check_anchors(found: _Findings, kept: Sequence[LedgerAnchor], at_seq: dict[int, str], last: Anchor,
                   record_last: Anchor | None) -> None:
    """Every anchor the sink kept must still be on the chain. A rewrite that only anchors show is dated by
    them: the first bad seq is the first entry after the last anchor that still holds."""
    good = 0
    for kept_anchor in sorted(kept, key=lambda a: a.seq):
        where = f"the anchor taken {kept_anchor.at} ({kept_anchor.reason}) at seq {kept_anchor.seq}"
        if last.seq < kept_anchor.seq:
            found.chain(max(good, last.seq) + 1, f"missing: {where} is beyond the ledger's end at seq {last.seq}: "
                                                 "the tail was truncated")
            return
        if kept_anchor.seq and at_seq.get(kept_anchor.seq) != kept_anchor.hash:
            found.chain(good + 1, f"the ledger was rewritten after seq {good}: {where} says "
                                  f"{kept_anchor.hash[:12]}…, the entry there is "
                                  f"{(at_seq.get(kept_anchor.seq) or '?')[:12]}…")
            return
        if record_last is not None and record_last.seq < kept_anchor.records:
            found.record(None, record_last.seq + 1, f"missing: {where} says {kept_anchor.records} records, "
                                                    f"the records end at {record_last.seq}")
            return
        good = kept_anchor.seq


def _check_record_head(found: _Findings, stored: Anchor, records: _Records) -> None:
    last = records.last
    if stored.seq > last.seq:
        found.record(None, last.seq + 1, f"missing: the records' head says {stored.seq} records but they end at "
                                         f"record {last.seq}: records were deleted or the table truncated")
    elif stored.seq < last.seq:
        found.record(None, stored.seq + 1, f"beyond the records' head {stored.seq}: records were added without "
                                           "moving the head")
    elif stored.hash != last.hash:
        found.record(None, last.seq, f"the records' head says {stored.hash[:12]}…, the last record is "
                                     f"{last.hash[:12]}…")


def _check_counters(found: _Findings, store: Store, tenant: str, records: _Records) -> None:
    """Every counter the records moved must equal the increments they sealed; the first that differs (in the
    order the records first moved them) is named with the record that first moved it."""
    if not records.sums:
        return
    stored = store.counters(tenant, list(records.sums))
    order = sorted(records.sums, key=lambda k: records.first_mover[k][1])
    for counter in order:
        if stored[counter] != records.sums[counter]:
            event_id, number = records.first_mover[counter]
            found.record(event_id, number, f"counter {counter.scope}/{counter.scope_id}/{counter.metric}/"
                                           f"{counter.window}: stored {stored[counter]}, the records' increments "
                                           f"sum to {records.sums[counter]}")


def read_anchors(path: str | Path) -> list[LedgerAnchor]:
    """Anchors from a JSON Lines file (one :class:`~gridpoints.model.LedgerAnchor` a line); a bad line raises
    ``ValueError`` naming the file and line."""
    found: list[LedgerAnchor] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                found.append(LedgerAnchor.from_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not an anchor: {exc}") from exc
    return found


def _open(url: str) -> Store:
    """The store at ``url``, opened read-only; a SQL schema is opened as it is, never created or upgraded."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        from gridpoints.storage.sql._store import SQLStore

        return SQLStore(url, auto_upgrade=False, read_only=True)
    return open_store(url)


def _redact(url: str) -> str:
    """``url`` with any password replaced, fit to print."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def read_key(path: str | Path) -> bytes:
    """A sealing key from a file: its bytes, less one trailing newline (16 to 64 bytes)."""
    data = Path(path).read_bytes()
    if data.endswith(b"\n"):
        data = data[:-1]
    if not 16 <= len(data) <= 64:
        raise ValueError(f"{path}: a sealing key must be 16 to 64 bytes, the file holds {len(data)}")
    return data


def run_verify(url: str, tenant: str, anchor: str | None, out: TextIO, *, anchors_file: str | None = None,
               key_file: str | None = None) -> int:
    """Audit the store at ``url`` and write the report to ``out``; the ``gridpoints verify`` command.

    Returns the exit code: 0 when the ledger verifies, 1 when problems were found, 2 when it could not be
    audited (a malformed ``anchor``, anchors file or key file, an unreachable store, no gridpoints schema at
    ``url``, a SQLite file that does not exist).
    """
    try:
        parsed = Anchor.parse(anchor) if anchor is not None else None
        kept = read_anchors(anchors_file) if anchors_file is not None else []
        key = read_key(key_file) if key_file is not None else None
    except (ValueError, OSError) as exc:
        out.write(f"error: {exc}\n")
        return 2
    try:
        store = _open(url)
    except (GridpointsError, ValueError) as exc:
        out.write(f"error: cannot open {_redact(url)}: {exc}\n")
        return 2
    try:
        report = verify(store, tenant, anchor=parsed, anchors=kept, key=key)
    except GridpointsError as exc:
        out.write(f"error: reading tenant {tenant!r} failed: {exc}\n")
        return 2
    finally:
        store.close()
    out.write(f"tenant {tenant!r}: {report.summary()}\n")
    for problem in report.problems:
        out.write(f"  - {problem}\n")
    for note in report.notes:
        out.write(f"  note: {note}\n")
    return 0 if report.ok else 1
