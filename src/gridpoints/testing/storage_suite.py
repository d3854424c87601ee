"""The store conformance suite: what every :class:`~gridpoints.storage.Store` adapter must do.

Shipped the way SQLAlchemy ships its dialect suite, so a host that writes its own adapter proves it with
the same tests gridpoints runs against its memory and SQL stores. Subclass :class:`StoreConformance` in
a test module and provide the ``store`` fixture::

    import pytest
    from gridpoints.testing.storage_suite import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self):
            store = MyStore(...)
            yield store
            store.close()

For detailed assertion messages, have pytest rewrite this module's asserts: put
``pytest.register_assert_rewrite("gridpoints.testing.storage_suite")`` at the top of your
``conftest.py``, before anything imports it.

Every test writes to a fresh tenant (the ``tenant`` fixture), so one store, and one database, may serve
the whole suite. Set ``concurrent = False`` on the subclass for a store that must not be shared between
threads (one bound to a single connection, say).

A store that keeps its data after :meth:`~gridpoints.storage.Store.close` (a file, a database) should also
override the ``reopen`` fixture: a callable that opens a new store over the same data, as a host would after
a restart. The suite then checks that a closed and reopened store has everything that was committed —
entries, balances, counters, records, every tenant — and nothing that was rolled back, and that the chain
continues. Without it those tests skip (a memory store keeps nothing once closed). ``close()`` must be safe
to call twice (the fixture closes a store a test already closed)::

    @pytest.fixture
    def reopen(self, path):
        return lambda: MyStore(path)
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import attrs
import pytest

from gridpoints.audit import verify
from gridpoints.engine import Engine
from gridpoints.errors import IntegrityError, SerializationFailure, SettlementError
from gridpoints.model import (
    GENESIS_HASH,
    ISSUANCE,
    Anchor,
    CounterKey,
    Entry,
    EventRecord,
    Notice,
    NoticeKind,
    Reason,
    RecordSeal,
    SealedHead,
    make_entry,
    spendable,
)
from gridpoints.policy import load_ruleset
from gridpoints.storage import (
    HeadSealTransaction,
    NoticeOutbox,
    NoticeTransaction,
    SealedHeadStore,
    Store,
    Transaction,
    capabilities_of,
)

__all__ = ["StoreConformance", "chain"]


def chain(
    head: Anchor,
    tenant: str,
    count: int = 1,
    *,
    subject: str = "alice",
    event_id: str = "ev-1",
    amount: int = 5,
    debit: str = ISSUANCE,
    credit: str | None = None,
    reason: str = "garbage_sorting",
    reverses: int | None = None,
) -> list[Entry]:
    """``count`` sealed entries continuing ``head``: ``amount`` from ``debit`` to the subject's spendable."""
    entries: list[Entry] = []
    for _ in range(count):
        entry = make_entry(
            seq=head.seq + 1, tenant=tenant, event_id=event_id, subject=subject, debit=debit,
            credit=credit if credit is not None else spendable(subject), amount=amount,
            ruleset="pudong-sunshine@1", rule="garbage-sorting", reason=reason,
            occurred_at="2024-05-01T08:00:00+08:00", reverses=reverses, prev_hash=head.hash,
        )
        entries.append(entry)
        head = Anchor(entry.seq, entry.hash)
    return entries


def _record(event_id: str, fingerprint: str = "f" * 64) -> EventRecord:
    return EventRecord(event_id, fingerprint, '{"points":5,"trace":{}}')


KEY = CounterKey("subject", "alice", "points:reward", "2024-05-01")

_CORRECTIONS_RULESET = """\
ruleset: conformance
version: 1
name: conformance
rules:
  - {id: patrol, on: patrol, points: 30}
  - id: report
    on: hazard_report
    points: 20
    verify: {by: [grid_worker], within: 7d}
    credit_worker: {points: 5, within: 2d}
limits:
  - {id: daily, kind: cap, scope: subject, window: day, limit: 30}
challenges:
  - {id: top, window: month, top: 1, bonus: 50}
"""
_AT = datetime(2024, 5, 1, 12, tzinfo=UTC)


class _Boom(Exception):
    """Raised inside a transaction to abort it."""


class StoreConformance:
    """Tests every Store must pass. Override the ``store`` fixture; see the module docs."""

    concurrent = True

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        pytest.fail("StoreConformance needs a `store` fixture: override it in the subclass")
        yield  # pragma: no cover - pytest.fail raises; the yield makes this a generator fixture

    @pytest.fixture
    def tenant(self) -> str:
        return f"conformance-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def reopen(self) -> Callable[[], Store] | None:
        """Open another store over the ``store`` fixture's data (override for a store that persists)."""
        return None

    @staticmethod
    def _commit(
        store: Store, tenant: str, entries: Sequence[Entry] = (),
        deltas: dict[CounterKey, int] | None = None, events: Sequence[EventRecord] = (),
    ) -> None:
        deltas = deltas or {}
        accounts = {e.debit for e in entries} | {e.credit for e in entries}
        with store.transaction(tenant, counters=deltas, accounts=accounts) as txn:
            txn.append(entries, deltas, events)

    # -- the protocol ------------------------------------------------------------------------------

    def test_sealed_records_continue_the_records_chain(self, store: Store, tenant: str) -> None:
        """A store that seals records keeps each seal as given, moves the records' head with them, returns
        them in seal order, and refuses a record that does not continue the records' chain."""
        if not capabilities_of(store).seals_records:
            assert store.record_head(tenant) == Anchor(0, GENESIS_HASH)
            return
        assert store.record_head(tenant) == Anchor(0, GENESIS_HASH)
        with store.transaction(tenant, accounts=[ISSUANCE, spendable("alice")]) as txn:
            entries = chain(txn.head(), tenant, 2)
            record = _record("ev-1")
            seal = RecordSeal.make(seq=1, tenant=tenant, event_id="ev-1", fingerprint=record.fingerprint,
                                   decision=record.decision, actor="w-1", attributes='{"hours":2}',
                                   recorded_at="2024-05-01T00:00:00+00:00", deltas='[["subject","alice","m","-",5]]',
                                   entry_from=1, entry_hashes="".join(e.hash for e in entries),
                                   prev_hash=GENESIS_HASH)
            txn.append(entries, {}, [record.sealed(seal)])
            assert txn.record_head() == Anchor(1, seal.hash)
        assert store.record_head(tenant) == Anchor(1, seal.hash)
        (kept,) = list(store.records(tenant))
        assert (kept.event_id, kept.fingerprint, kept.decision, kept.seal) == ("ev-1", record.fingerprint,
                                                                              record.decision, seal)
        stale = RecordSeal.make(seq=1, tenant=tenant, event_id="ev-2", fingerprint="f" * 64, decision="{}",
                                actor=None, attributes="{}", recorded_at=seal.recorded_at, deltas="[]",
                                entry_from=3, entry_hashes="", prev_hash=GENESIS_HASH)
        with pytest.raises(IntegrityError), store.transaction(tenant) as txn:
            txn.append([], {}, [EventRecord("ev-2", "f" * 64, "{}", stale)])
        assert store.record_head(tenant) == Anchor(1, seal.hash)

    def test_corrections_and_adjustments_through_the_engine(self, store: Store, tenant: str) -> None:
        """冲正 and 人工调整 on this store: the reversal links each entry it reverses and gives the cap's room
        back, an adjustment credits through the adjustments account, retries write nothing, and the
        ledger still audits."""
        policy = load_ruleset(_CORRECTIONS_RULESET)
        engine = Engine(policy, store, tenant=tenant)
        engine.register("staff-1", grid="g1", household="hs", roles=("staff",))
        at = "2024-05-01T10:00:00+08:00"
        award = engine.submit({"id": "ev-1", "type": "patrol", "subject": "alice", "grid": "g1",
                               "occurred_at": at, "attributes": {}})
        fixed = engine.correct("ev-1", reason="not done", actor="staff-1", at=_AT)
        assert [(e.reverses, e.reason, e.amount) for e in fixed.entries] == [
            (e.seq, Reason.CORRECTED, e.amount) for e in award.entries]
        assert engine.correct("ev-1", reason="not done", actor="staff-1", at=_AT).duplicate
        again = engine.submit({"id": "ev-2", "type": "patrol", "subject": "alice", "grid": "g1",
                               "occurred_at": at, "attributes": {}})
        assert again.points == 30  # the cap's room came back with the correction
        engine.adjust("alice", 7, reason="missed", actor="staff-1", at=_AT, request_id="a-1")
        assert engine.adjust("alice", 7, reason="missed", actor="staff-1", at=_AT, request_id="a-1").duplicate
        assert engine.balance("alice") == 37
        report = verify(store, tenant)
        assert report.ok, report.problems

    def test_corrections_of_pending_verified_and_closed_period_awards(self, store: Store, tenant: str) -> None:
        """冲正 of an award pending verification (its verification is then refused), of a verified award with
        the worker's credit (every entry reversed, the worker's too), and of an award in a closed month (the
        correction is dated now and the month's ranking stands); the ledger still audits and sums to zero."""
        engine = Engine(load_ruleset(_CORRECTIONS_RULESET), store, tenant=tenant)
        engine.register("staff-1", grid="g1", household="hs", roles=("staff",))
        engine.register("zhao", grid="g1", household="hz", roles=("grid_worker",))

        def submit(event_id: str, kind: str, at: str, **more: Any) -> Any:
            return engine.submit({"id": event_id, "type": kind, "subject": "alice", "grid": "g1",
                                  "occurred_at": at, **more})

        submit("r-1", "hazard_report", "2024-04-02T10:00:00+08:00")
        engine.correct("r-1", reason="duplicate", actor="staff-1", at=_AT)
        with pytest.raises(SettlementError):
            submit("v-1", "verify", "2024-04-02T11:00:00+08:00", actor="zhao", attributes={"event": "r-1"})
        report = submit("r-2", "hazard_report", "2024-04-03T10:00:00+08:00")
        verified = submit("v-2", "verify", "2024-04-03T11:00:00+08:00", actor="zhao", attributes={"event": "r-2"})
        award = submit("p-1", "patrol", "2024-04-04T10:00:00+08:00")
        engine.close_period("2024-04", now=datetime(2024, 5, 1, 1, tzinfo=UTC))
        assert engine.balances(["alice", "zhao"]) == {"alice": 100, "zhao": 5}
        fixed = engine.correct("r-2", reason="not a hazard", actor="staff-1", at=_AT)
        assert sorted(e.reverses or 0 for e in fixed.entries) == sorted(
            e.seq for e in (*report.entries, *verified.entries))
        late = engine.correct("p-1", reason="not done", actor="staff-1", at=_AT)
        assert [e.reverses for e in late.entries] == [e.seq for e in award.entries]
        assert {e.occurred_at[:10] for e in late.entries} == {"2024-05-01"}
        assert engine.balances(["alice", "zhao"]) == {"alice": 50, "zhao": 0}
        assert [(s.subject, s.earned) for s in engine.leaderboard("2024-04")] == [("alice", 50)]
        entries = list(store.entries(tenant))
        accounts = {e.credit for e in entries} | {e.debit for e in entries}
        assert sum(store.balances(tenant, accounts).values()) == 0
        audited = verify(store, tenant)
        assert audited.ok, audited.problems

    def test_satisfies_the_protocol(self, store: Store, tenant: str) -> None:
        """The store and its transactions are runtime-checkable Store and Transaction objects."""
        assert isinstance(store, Store)
        with store.transaction(tenant) as txn:
            assert isinstance(txn, Transaction)

    def test_unknown_tenant_reads_empty(self, store: Store, tenant: str) -> None:
        """A tenant never written has the genesis head, no entries, no events and zero balances and counters."""
        assert store.head(tenant) == Anchor(0, GENESIS_HASH)
        assert list(store.entries(tenant)) == []
        assert store.find_event(tenant, "ev-1") is None
        assert store.balances(tenant, ["subject:alice:spendable"]) == {"subject:alice:spendable": 0}
        assert store.counters(tenant, [KEY]) == {KEY: 0}

    def test_empty_transaction_changes_nothing(self, store: Store, tenant: str) -> None:
        """A transaction that appends nothing commits nothing: the head stays at genesis."""
        with store.transaction(tenant, counters=[KEY], accounts=[spendable("alice")]) as txn:
            assert txn.head() == Anchor(0, GENESIS_HASH)
        assert store.head(tenant) == Anchor(0, GENESIS_HASH)
        assert store.counters(tenant, [KEY]) == {KEY: 0}

    def test_commit_stores_entries_exactly(self, store: Store, tenant: str) -> None:
        """Committed entries come back field for field, their hashes still verifying."""
        entries = chain(Anchor(0, GENESIS_HASH), tenant, 1, subject="居民-张三", reason="垃圾分类 A 级",
                        event_id="事件-1")
        entries += chain(Anchor(entries[-1].seq, entries[-1].hash), tenant, 1, subject="居民-张三",
                         event_id="事件-2", reverses=1, debit=spendable("居民-张三"), credit=ISSUANCE)
        self._commit(store, tenant, entries)
        stored = list(store.entries(tenant))
        assert stored == entries
        assert all(e.expected_hash() == e.hash for e in stored)

    def test_head_advances_with_each_commit(self, store: Store, tenant: str) -> None:
        """The committed head is the last appended entry's seq and hash."""
        first = chain(store.head(tenant), tenant, 3)
        self._commit(store, tenant, first)
        assert store.head(tenant) == Anchor(3, first[-1].hash)
        second = chain(store.head(tenant), tenant, 2)
        self._commit(store, tenant, second)
        assert store.head(tenant) == Anchor(5, second[-1].hash)

    def test_balances_follow_postings(self, store: Store, tenant: str) -> None:
        """A posting adds its amount to the credit account and takes it from the debit account; all sum to 0."""
        award = chain(store.head(tenant), tenant, 2, amount=7)
        self._commit(store, tenant, award)
        spend = chain(store.head(tenant), tenant, 1, amount=3, debit=spendable("alice"), credit="community:mall")
        self._commit(store, tenant, spend)
        accounts = [ISSUANCE, spendable("alice"), "community:mall"]
        balances = store.balances(tenant, accounts)
        assert balances == {ISSUANCE: -14, spendable("alice"): 11, "community:mall": 3}
        assert sum(balances.values()) == 0

    def test_transaction_reads_its_own_appends(self, store: Store, tenant: str) -> None:
        """Inside a transaction, head, balances, counters and event records include what it appended."""
        with store.transaction(tenant, counters=[KEY], accounts=[spendable("alice")]) as txn:
            entries = chain(txn.head(), tenant, 2, amount=4)
            txn.append(entries, {KEY: 8}, [_record("ev-1")])
            assert txn.head() == Anchor(2, entries[-1].hash)
            assert txn.read_balances([spendable("alice"), ISSUANCE]) == {spendable("alice"): 8, ISSUANCE: -8}
            assert txn.read_counters([KEY]) == {KEY: 8}
            assert txn.find_events(["ev-1"]) == {"ev-1": _record("ev-1")}
            more = chain(txn.head(), tenant, 1, amount=1)
            txn.append(more, {KEY: 1}, [])
            assert txn.read_counters([KEY]) == {KEY: 9}
        assert store.head(tenant) == Anchor(3, more[-1].hash)

    def test_transaction_reads_committed_state(self, store: Store, tenant: str) -> None:
        """A new transaction starts from what earlier transactions committed."""
        entries = chain(store.head(tenant), tenant, 1, amount=6)
        self._commit(store, tenant, entries, {KEY: 6}, [_record("ev-1")])
        with store.transaction(tenant, counters=[KEY], accounts=[spendable("alice")]) as txn:
            assert txn.head() == Anchor(1, entries[0].hash)
            assert txn.read_counters([KEY]) == {KEY: 6}
            assert txn.read_balances([spendable("alice")]) == {spendable("alice"): 6}
            assert txn.find_events(["ev-1"]) == {"ev-1": _record("ev-1")}

    # -- idempotency records -----------------------------------------------------------------------

    def test_event_records_inside_and_outside(self, store: Store, tenant: str) -> None:
        """find_events returns only stored ids, inside a transaction before commit and outside after it."""
        with store.transaction(tenant) as txn:
            assert txn.find_events(["ev-1", "ev-2"]) == {}
            txn.append([], {}, [_record("ev-1", "a" * 64)])
            assert txn.find_events(["ev-1", "ev-2"]) == {"ev-1": _record("ev-1", "a" * 64)}
        assert store.find_event(tenant, "ev-1") == _record("ev-1", "a" * 64)
        assert store.find_event(tenant, "ev-2") is None
        with store.transaction(tenant) as txn:
            assert txn.find_events(["ev-2", "ev-1"]) == {"ev-1": _record("ev-1", "a" * 64)}

    def test_event_ids_compare_exactly(self, store: Store, tenant: str) -> None:
        """Event ids differing only in case or a trailing space are different ids."""
        ids = ["Ev-1", "ev-1", "ev-1 "]
        self._commit(store, tenant, events=[_record(i, str(n) * 64) for n, i in enumerate(ids)])
        for n, event_id in enumerate(ids):
            assert store.find_event(tenant, event_id) == _record(event_id, str(n) * 64)

    def test_large_decision_text_round_trips(self, store: Store, tenant: str) -> None:
        """An event record keeps a decision text of 100 000 characters, non-ASCII included, unchanged."""
        decision = '{"trace":"' + "积分" * 50_000 + '"}'
        self._commit(store, tenant, events=[EventRecord("ev-big", "b" * 64, decision)])
        assert store.find_event(tenant, "ev-big") == EventRecord("ev-big", "b" * 64, decision)

    # -- the head row's MAC (stores that declare capabilities.seals_head) ----------------------------

    @staticmethod
    def _sealing(store: Store) -> SealedHeadStore:
        if not capabilities_of(store).seals_head:
            pytest.skip("the store does not seal its head row (capabilities.seals_head is false)")
        assert isinstance(store, SealedHeadStore)
        return store

    def test_the_head_mac_is_kept_with_the_head_it_seals(self, store: Store, tenant: str) -> None:
        """The MAC staged with ``seal_head`` is committed with the head it moved to; a new tenant has none;
        a transaction that moves nothing keeps the last one."""
        sealing = self._sealing(store)
        assert sealing.sealed_head(tenant) == SealedHead(Anchor(0, GENESIS_HASH), Anchor(0, GENESIS_HASH), None)
        for mac in ("1" * 64, "2" * 64):
            with store.transaction(tenant, accounts=[spendable("alice"), ISSUANCE]) as txn:
                entries = chain(txn.head(), tenant, 2, event_id=f"ev-{mac[0]}")
                cast(HeadSealTransaction, txn).seal_head(mac)
                txn.append(entries, {}, [])
        assert sealing.sealed_head(tenant) == SealedHead(Anchor(4, entries[-1].hash), Anchor(0, GENESIS_HASH),
                                                          "2" * 64)
        with store.transaction(tenant) as txn:
            cast(HeadSealTransaction, txn).seal_head("3" * 64)
            txn.append([], {}, [])
        assert sealing.sealed_head(tenant).mac == "2" * 64

    def test_the_head_mac_rolls_back_with_the_transaction(self, store: Store, tenant: str) -> None:
        """A transaction that raises after staging a MAC and appending leaves the head row as it was."""
        sealing = self._sealing(store)
        with store.transaction(tenant, accounts=[spendable("alice"), ISSUANCE]) as txn:
            cast(HeadSealTransaction, txn).seal_head("1" * 64)
            txn.append(chain(txn.head(), tenant, 1), {}, [])
        before = sealing.sealed_head(tenant)
        with pytest.raises(_Boom), store.transaction(tenant, accounts=[spendable("alice"), ISSUANCE]) as txn:
            cast(HeadSealTransaction, txn).seal_head("2" * 64)
            txn.append(chain(txn.head(), tenant, 1, event_id="ev-2"), {}, [])
            raise _Boom
        assert sealing.sealed_head(tenant) == before

    # -- the notices outbox (stores that declare capabilities.keeps_notices) -------------------------

    @staticmethod
    def _outbox(store: Store) -> NoticeOutbox:
        if not capabilities_of(store).keeps_notices:
            pytest.skip("the store declares no notices outbox (capabilities.keeps_notices is false)")
        assert isinstance(store, NoticeOutbox)
        return store

    @staticmethod
    def _notice(n: int, subject: str = "居民-张三") -> Notice:
        return Notice(NoticeKind.POINTS_AWARDED, subject, f"ev-{n}", "2024-05-01T08:00:00+08:00", n,
                      {"rule": "垃圾分类", "n": n})

    def test_notices_commit_with_the_entries_and_are_numbered(self, store: Store, tenant: str) -> None:
        """Notices appended in a transaction commit with its entries, numbered 1, 2, 3 … field for field."""
        outbox = self._outbox(store)
        assert outbox.notices(tenant) == [] and outbox.acknowledged(tenant) == 0
        for batch in ((1, 2), (3,)):
            with store.transaction(tenant, accounts=[spendable("alice"), ISSUANCE]) as txn:
                txn.append(chain(txn.head(), tenant, 1, event_id=f"ev-{batch[0]}"), {}, [])
                assert isinstance(txn, NoticeTransaction)
                txn.append_notices([self._notice(n) for n in batch])
        found = outbox.notices(tenant)
        assert [n.cursor for n in found] == [1, 2, 3]
        assert found[0] == attrs.evolve(self._notice(1), cursor=1)
        assert [n.event_id for n in outbox.notices(tenant, after=1, limit=1)] == ["ev-2"]
        assert outbox.notices(tenant, after=3) == []

    def test_notices_roll_back_with_the_transaction(self, store: Store, tenant: str) -> None:
        """A transaction that raises leaves no notice, and the next one's are numbered from 1."""
        outbox = self._outbox(store)
        with pytest.raises(_Boom), store.transaction(tenant) as txn:
            cast(NoticeTransaction, txn).append_notices([self._notice(1)])
            raise _Boom
        assert outbox.notices(tenant) == []
        with store.transaction(tenant) as txn:
            cast(NoticeTransaction, txn).append_notices([self._notice(2)])
        assert [(n.cursor, n.event_id) for n in outbox.notices(tenant)] == [(1, "ev-2")]

    def test_acknowledgement_is_idempotent_and_never_moves_back(self, store: Store, tenant: str) -> None:
        """Acknowledging a cursor twice, or a lower one, changes nothing; nor can it pass the last notice."""
        outbox = self._outbox(store)
        with store.transaction(tenant) as txn:
            cast(NoticeTransaction, txn).append_notices([self._notice(n) for n in range(1, 4)])
        assert outbox.acknowledge(tenant, 2) == 2
        assert outbox.acknowledge(tenant, 2) == 2
        assert outbox.acknowledge(tenant, 1) == 2
        assert outbox.acknowledged(tenant) == 2
        assert outbox.acknowledge(tenant, 99) == 3
        with store.transaction(tenant) as txn:
            cast(NoticeTransaction, txn).append_notices([self._notice(4)])
        assert [n.cursor for n in outbox.notices(tenant, after=outbox.acknowledged(tenant))] == [4]

    def test_notices_of_tenants_are_apart(self, store: Store, tenant: str) -> None:
        """Each tenant numbers and acknowledges its own notices."""
        outbox = self._outbox(store)
        other = f"{tenant}-other"
        for name in (tenant, other, tenant):
            with store.transaction(name) as txn:
                cast(NoticeTransaction, txn).append_notices([self._notice(1, subject=name)])
        outbox.acknowledge(other, 1)
        assert [n.cursor for n in outbox.notices(tenant)] == [1, 2]
        assert [(n.cursor, n.subject) for n in outbox.notices(other)] == [(1, other)]
        assert (outbox.acknowledged(tenant), outbox.acknowledged(other)) == (0, 1)

    # -- atomicity ---------------------------------------------------------------------------------

    def test_exception_rolls_back_everything(self, store: Store, tenant: str) -> None:
        """An exception in the block propagates unchanged and leaves no entry, counter, balance or record."""
        committed = chain(store.head(tenant), tenant, 1)
        self._commit(store, tenant, committed, {KEY: 5}, [_record("ev-0")])
        before = store.head(tenant)
        boom = _Boom()
        with (
            pytest.raises(_Boom) as raised,
            store.transaction(tenant, counters=[KEY], accounts=[spendable("alice")]) as txn,
        ):
            txn.append(chain(txn.head(), tenant, 3, event_id="ev-1"), {KEY: 15}, [_record("ev-1")])
            raise boom
        assert raised.value is boom
        assert store.head(tenant) == before
        assert list(store.entries(tenant)) == committed
        assert store.counters(tenant, [KEY]) == {KEY: 5}
        assert store.balances(tenant, [spendable("alice"), ISSUANCE]) == {spendable("alice"): 5, ISSUANCE: -5}
        assert store.find_event(tenant, "ev-1") is None

    def test_next_transaction_after_rollback_continues_old_head(self, store: Store, tenant: str) -> None:
        """After a rollback the chain continues from the last committed entry."""
        with pytest.raises(_Boom), store.transaction(tenant) as txn:
            txn.append(chain(txn.head(), tenant, 2), {}, [])
            raise _Boom
        entries = chain(store.head(tenant), tenant, 1)
        self._commit(store, tenant, entries)
        assert [e.seq for e in store.entries(tenant)] == [1]

    # -- hash chain --------------------------------------------------------------------------------

    @pytest.mark.parametrize("defect", ["gap", "repeat", "wrong_prev_hash", "break_within_batch"])
    def test_append_rejects_a_broken_chain(self, store: Store, tenant: str, defect: str) -> None:
        """Entries that skip or repeat a seq, or do not link to the head's hash, raise IntegrityError."""
        self._commit(store, tenant, chain(store.head(tenant), tenant, 2))
        head = store.head(tenant)
        if defect == "gap":
            bad = chain(Anchor(head.seq + 1, head.hash), tenant, 1)
        elif defect == "repeat":
            bad = chain(Anchor(head.seq - 1, head.hash), tenant, 1)
        elif defect == "wrong_prev_hash":
            bad = chain(Anchor(head.seq, "1" * 64), tenant, 1)
        else:
            good = chain(head, tenant, 1)
            bad = good + chain(Anchor(good[0].seq, "2" * 64), tenant, 1)
        with pytest.raises(IntegrityError), store.transaction(tenant) as txn:
            txn.append(bad, {KEY: 1}, [_record("ev-bad")])
        assert store.head(tenant) == head
        assert len(list(store.entries(tenant))) == 2
        assert store.find_event(tenant, "ev-bad") is None
        assert store.counters(tenant, [KEY]) == {KEY: 0}

    # -- counters ----------------------------------------------------------------------------------

    def test_counter_keys_are_independent(self, store: Store, tenant: str) -> None:
        """Keys differing in any one part (or tenant) are separate counters; unknown ones read 0."""
        others = [
            CounterKey("grid", KEY.scope_id, KEY.metric, KEY.window),
            CounterKey(KEY.scope, "bob", KEY.metric, KEY.window),
            CounterKey(KEY.scope, KEY.scope_id, "points:deduction", KEY.window),
            CounterKey(KEY.scope, KEY.scope_id, KEY.metric, "2024-05-02"),
        ]
        self._commit(store, tenant, deltas={KEY: 12})
        assert store.counters(tenant, [KEY, *others]) == {KEY: 12, **dict.fromkeys(others, 0)}
        assert store.counters(f"{tenant}-other", [KEY]) == {KEY: 0}

    def test_counters_accumulate_signed_deltas(self, store: Store, tenant: str) -> None:
        """Deltas add up across transactions, negative ones included."""
        self._commit(store, tenant, deltas={KEY: 10})
        self._commit(store, tenant, deltas={KEY: -4})
        self._commit(store, tenant, deltas={KEY: 3})
        assert store.counters(tenant, [KEY]) == {KEY: 9}

    def test_many_keys_in_one_transaction(self, store: Store, tenant: str) -> None:
        """A transaction may lock, read and add to 1200 counters and 600 accounts at once."""
        keys = [CounterKey("subject", f"s{i:04d}", "points", "2024-W18") for i in range(1200)]
        accounts = [spendable(f"s{i:04d}") for i in range(600)]
        with store.transaction(tenant, counters=keys, accounts=accounts) as txn:
            assert set(txn.read_counters(keys).values()) == {0}
            txn.append([], {k: i + 1 for i, k in enumerate(keys)}, [])
        assert store.counters(tenant, keys) == {k: i + 1 for i, k in enumerate(keys)}

    # -- ordering and filters ----------------------------------------------------------------------

    def test_entries_come_in_seq_order_across_many(self, store: Store, tenant: str) -> None:
        """1200 entries from one append read back complete and in seq order, also after a given seq."""
        entries = chain(store.head(tenant), tenant, 1200, amount=1)
        self._commit(store, tenant, entries)
        assert [e.seq for e in store.entries(tenant)] == list(range(1, 1201))
        assert [e.seq for e in store.entries(tenant, after_seq=1150)] == list(range(1151, 1201))
        assert list(store.entries(tenant, after_seq=1200)) == []

    def test_subject_filter_and_after_seq(self, store: Store, tenant: str) -> None:
        """The subject filter returns that subject's entries only, in order, combinable with after_seq."""
        for subject in ["alice", "bob", "Alice", "alice", "bob", "alice"]:
            self._commit(store, tenant, chain(store.head(tenant), tenant, 1, subject=subject))
        assert [e.seq for e in store.entries(tenant, subject="alice")] == [1, 4, 6]
        assert [e.seq for e in store.entries(tenant, subject="Alice")] == [3]
        assert [e.seq for e in store.entries(tenant, subject="alice", after_seq=1)] == [4, 6]
        assert [e.seq for e in store.entries(tenant, subject="carol")] == []

    def test_tenants_are_isolated(self, store: Store, tenant: str) -> None:
        """Two tenants have separate chains, balances and event ids."""
        other = f"{tenant}-b"
        self._commit(store, tenant, chain(store.head(tenant), tenant, 2), events=[_record("ev-1", "a" * 64)])
        self._commit(store, other, chain(store.head(other), other, 1), events=[_record("ev-1", "b" * 64)])
        assert store.head(tenant).seq == 2
        assert store.head(other).seq == 1
        assert [e.tenant for e in store.entries(other)] == [other]
        assert store.balances(other, [spendable("alice")]) == {spendable("alice"): 5}
        assert store.find_event(other, "ev-1") == _record("ev-1", "b" * 64)

    # -- closing and reopening ---------------------------------------------------------------------

    def test_close_twice_is_harmless(self, store: Store, tenant: str) -> None:
        """close() releases what the store holds and returns None; a second call does nothing and raises nothing."""
        self._commit(store, tenant, chain(store.head(tenant), tenant, 1))
        assert store.close() is None  # type: ignore[func-returns-value]  # the protocol's close returns None
        assert store.close() is None  # type: ignore[func-returns-value]

    def _reopened(self, store: Store, reopen: Callable[[], Store] | None) -> Store:
        if reopen is None:
            pytest.skip("the store keeps nothing once closed (override the reopen fixture for one that does)")
        store.close()
        return reopen()

    def test_reopened_store_has_everything_committed(self, store: Store, tenant: str,
                                                     reopen: Callable[[], Store] | None) -> None:
        """After close() a store opened again over the same data has every tenant's committed entries (field
        for field), head, balances, counters and records, and none of a rolled-back transaction."""
        other = f"{tenant}-b"
        entries = chain(store.head(tenant), tenant, 3, subject="居民-张三", event_id="事件-1")
        self._commit(store, tenant, entries, {KEY: 7}, [_record("事件-1", "a" * 64)])
        self._commit(store, other, chain(store.head(other), other, 1), {KEY: 2}, [_record("ev-1", "b" * 64)])
        with pytest.raises(_Boom), store.transaction(tenant, counters=[KEY]) as txn:
            txn.append(chain(txn.head(), tenant, 1, event_id="ev-lost"), {KEY: 100}, [_record("ev-lost")])
            raise _Boom
        head, others = store.head(tenant), list(store.entries(other))
        again = self._reopened(store, reopen)
        try:
            assert list(again.entries(tenant)) == entries
            assert again.head(tenant) == head == Anchor(3, entries[-1].hash)
            assert again.balances(tenant, [spendable("居民-张三"), ISSUANCE]) == {spendable("居民-张三"): 15,
                                                                                 ISSUANCE: -15}
            assert again.counters(tenant, [KEY]) == {KEY: 7}
            assert again.find_event(tenant, "事件-1") == _record("事件-1", "a" * 64)
            assert again.find_event(tenant, "ev-lost") is None
            assert list(again.entries(other)) == others
            assert again.counters(other, [KEY]) == {KEY: 2}
            assert again.find_event(other, "ev-1") == _record("ev-1", "b" * 64)
        finally:
            again.close()

    def test_reopened_store_continues_the_chain(self, store: Store, tenant: str,
                                                reopen: Callable[[], Store] | None) -> None:
        """A reopened store appends after the committed head and refuses entries that do not continue it."""
        self._commit(store, tenant, chain(store.head(tenant), tenant, 2))
        stale = store.head(tenant)
        again = self._reopened(store, reopen)
        try:
            more = chain(again.head(tenant), tenant, 1)
            self._commit(again, tenant, more, {KEY: 1})
            assert [e.seq for e in again.entries(tenant)] == [1, 2, 3]
            assert again.head(tenant) == Anchor(3, more[0].hash)
            with pytest.raises(IntegrityError), again.transaction(tenant) as txn:
                txn.append(chain(stale, tenant, 1), {}, [])
        finally:
            again.close()

    # -- concurrency -------------------------------------------------------------------------------

    THREADS, ROUNDS = 4, 8

    def _race(self, once: Callable[[], None]) -> None:
        """Run ``once`` ROUNDS times on each of THREADS threads, re-running it after SerializationFailure."""
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(self.ROUNDS):
                    for attempt in range(20):
                        try:
                            once()
                            break
                        except SerializationFailure:
                            if attempt == 19:
                                raise
                            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
            except BaseException as exc:  # collected and asserted on below, in the test's thread
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(self.THREADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert errors == []

    def test_concurrent_writers_serialise(self, store: Store, tenant: str) -> None:
        """Writers on several threads each see the previous one's counter and the chain stays contiguous."""

        def once() -> None:
            with store.transaction(tenant, counters=[KEY], accounts=[spendable("alice")]) as txn:
                seen = txn.read_counters([KEY])[KEY]
                # The amount records what this writer read: any two writers reading alike would repeat it.
                txn.append(chain(txn.head(), tenant, 1, amount=seen + 1), {KEY: 1}, [])

        self._race(once)
        total = self.THREADS * self.ROUNDS
        entries = list(store.entries(tenant))
        assert [e.seq for e in entries] == list(range(1, total + 1))
        assert [e.amount for e in entries] == list(range(1, total + 1))
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
        assert store.counters(tenant, [KEY]) == {KEY: total}

    def test_concurrent_counter_updates_serialise(self, store: Store, tenant: str) -> None:
        """Transactions that only read and add to a counter never read the same value twice."""
        seen: list[int] = []

        def once() -> None:
            with store.transaction(tenant, counters=[KEY]) as txn:
                value = txn.read_counters([KEY])[KEY]
                txn.append([], {KEY: 1}, [])
            seen.append(value)  # only once committed: a re-run must not count twice

        self._race(once)
        total = self.THREADS * self.ROUNDS
        assert sorted(seen) == list(range(total))
        assert store.counters(tenant, [KEY]) == {KEY: total}
