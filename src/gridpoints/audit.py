"""Audit a tenant's ledger: the hash chain, the stored balances, and (given one) a recorded anchor.

:func:`verify` reads only through the :class:`~gridpoints.storage.Store` protocol, so it audits any adapter
the same way, and it never writes. It walks the committed entries in sequence order and checks that

* the sequence is contiguous from 1 (a gap is a deleted entry),
* every entry's hash matches its contents (:meth:`~gridpoints.model.Entry.expected_hash`: an edited or
  re-numbered entry fails here) and links to the previous entry's stored hash (a removed, inserted or
  re-sealed entry fails here),
* every amount is positive and every entry belongs to the tenant,
* the store's chain head is the last entry (a truncated tail with the head row left behind fails here),
* each account's stored balance equals the sum of its entries, and the stored balances sum to zero,
* with an ``anchor`` (a head recorded earlier, ``HASH@SEQ``): the chain still reaches ``anchor.seq`` and
  the entry there still has ``anchor.hash`` — this catches a tail truncated together with its head row,
  which no internal check can.

The report names the *first* bad sequence number: the earliest entry from which the chain cannot be
trusted. Balances and the head are compared after the walk; run it on a quiescent tenant (or a snapshot),
since writes committed during the walk show up as balance mismatches. The protocol has no way to list
accounts, so an account that holds a balance but appears in no entry is not seen.

:func:`run_verify` is the ``gridpoints verify URL [--tenant T] [--anchor HASH@SEQ]`` command's body.
"""

from __future__ import annotations

import re
from typing import TextIO

import attrs

from gridpoints.errors import GridpointsError
from gridpoints.model import GENESIS_HASH, Anchor
from gridpoints.storage import Store, open_store

__all__ = ["AuditReport", "run_verify", "verify"]

#: Problems listed in a report before the rest are summarised in one line.
MAX_PROBLEMS = 50


@attrs.frozen(slots=True)
class AuditReport:
    """The outcome of :func:`verify`.

    ``ok`` is true when no problem was found. ``entries_checked`` counts the entries walked;
    ``first_bad_seq`` is the earliest sequence number the chain breaks at (``None`` when the chain is
    intact — a balance mismatch alone has no sequence number); ``problems`` says what is wrong, chain
    problems first, in sequence order; ``head`` is the last entry walked (``0`` / genesis if none), the
    anchor to record for the next audit once the report is ok.
    """

    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problems: tuple[str, ...]
    head: Anchor

    def summary(self) -> str:
        """One line: the verdict, how much was checked, and where the chain first broke."""
        if self.ok:
            return f"ok: {self.entries_checked} entries verified, head {self.head}"
        where = f", first bad seq {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"FAILED: {len(self.problems)} problem(s) in {self.entries_checked} entries{where}"


class _Findings:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.first_bad: int | None = None

    def chain(self, seq: int, message: str) -> None:
        if self.first_bad is None or seq < self.first_bad:
            self.first_bad = seq
        self.problems.append(f"seq {seq}: {message}")

    def other(self, message: str) -> None:
        self.problems.append(message)


def verify(store: Store, tenant: str = "default", *, anchor: Anchor | None = None) -> AuditReport:
    """Check ``tenant``'s hash chain, balances and, if given, a recorded ``anchor`` (see the module docs).

    Reads only; raises what the store raises (:class:`~gridpoints.errors.StoreError`) if it cannot read.
    """
    found = _Findings()
    sums: dict[str, int] = {}
    expected_seq, prev_hash = 1, GENESIS_HASH
    last = Anchor(0, GENESIS_HASH)
    anchor_hash: str | None = None
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
        if entry.hash != entry.expected_hash():
            found.chain(seq, "the stored hash does not match the entry's contents: the entry was edited "
                             "or moved to another sequence number")
        if entry.prev_hash != prev_hash:
            found.chain(seq, f"prev_hash {entry.prev_hash[:12]}… does not link to the hash of the entry "
                             f"before it ({prev_hash[:12]}…): an entry before it was removed, inserted or "
                             "re-sealed")
        if entry.tenant != tenant:
            found.chain(seq, f"belongs to tenant {entry.tenant!r}, not {tenant!r}")
        if entry.amount <= 0:
            found.chain(seq, f"amount {entry.amount} is not positive")
        if anchor is not None and seq == anchor.seq:
            anchor_hash = entry.hash
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
        if last.seq < anchor.seq:
            found.chain(last.seq + 1, f"missing: the recorded anchor {anchor} is beyond the ledger's end "
                                      f"at seq {last.seq}: the tail was truncated")
        elif anchor_hash is None:
            found.chain(anchor.seq, f"missing: no entry at the recorded anchor {anchor}")
        elif anchor_hash != anchor.hash:
            found.chain(anchor.seq, f"hash {anchor_hash[:12]}… differs from the recorded anchor {anchor}: "
                                    "the ledger was rewritten up to or past the anchor")

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
    return AuditReport(not found.problems, count, found.first_bad, tuple(problems), last)


def _open(url: str) -> Store:
    """The store at ``url``; a SQL schema is opened as it is, never created or upgraded by an audit."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        from gridpoints.storage.sql._store import SQLStore

        return SQLStore(url, auto_upgrade=False)
    return open_store(url)


def _redact(url: str) -> str:
    """``url`` with any password replaced, fit to print."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def run_verify(url: str, tenant: str, anchor: str | None, out: TextIO) -> int:
    """Audit the store at ``url`` and write the report to ``out``; the ``gridpoints verify`` command.

    Returns the exit code: 0 when the ledger verifies, 1 when problems were found, 2 when it could not be
    audited (a malformed ``anchor``, an unreachable store, no gridpoints schema at ``url``).
    """
    try:
        parsed = Anchor.parse(anchor) if anchor is not None else None
    except ValueError as exc:
        out.write(f"error: {exc}\n")
        return 2
    try:
        store = _open(url)
    except (GridpointsError, ValueError) as exc:
        out.write(f"error: cannot open {_redact(url)}: {exc}\n")
        return 2
    try:
        report = verify(store, tenant, anchor=parsed)
    except GridpointsError as exc:
        out.write(f"error: reading tenant {tenant!r} failed: {exc}\n")
        return 2
    finally:
        store.close()
    out.write(f"tenant {tenant!r}: {report.summary()}\n")
    for problem in report.problems:
        out.write(f"  - {problem}\n")
    return 0 if report.ok else 1
