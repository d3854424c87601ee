"""The ledger audit: an untouched ledger verifies; edits, deletions, reordering and truncation are caught at
the right sequence number, on the memory store and on every SQL backend tampered with as its owner would."""

from __future__ import annotations

import importlib.util
import io
import json
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import attrs
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from gridpoints import Engine as PointsEngine
from gridpoints import MemoryStore, Policy, Store
from gridpoints.audit import AuditReport, read_anchors, run_verify, verify
from gridpoints.errors import SealKeyMismatch, StoreError
from gridpoints.model import ISSUANCE, Anchor, Entry, LedgerAnchor, RecordSeal, SealedHead, spendable
from gridpoints.storage import JsonlAnchors, StoreCapabilities
from gridpoints.storage.sql._migrations import CURRENT_VERSION
from gridpoints.storage.sql._store import SQLStore, make_engine


def storage_conftest() -> ModuleType:
    """tests/storage/conftest.py, for its server URLs and the reachable-or-skip (fail in CI) check."""
    name = "gridpoints_tests_storage_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "storage" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class Tamper(Protocol):
    """What a malicious database owner does to a tenant's ledger, below gridpoints."""

    def edit_amount(self, seq: int, amount: int) -> None: ...
    def delete(self, seq: int) -> None: ...
    def swap(self, a: int, b: int) -> None: ...
    def truncate_after(self, seq: int, *, cover_up: bool) -> None: ...
    def reseal_from(self, seq: int, amount: int) -> None: ...


def _recomputed(entries: list[Entry]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for e in entries:
        sums[e.credit] = sums.get(e.credit, 0) + e.amount
        sums[e.debit] = sums.get(e.debit, 0) - e.amount
    return sums


def _resealed(entries: list[Entry], start: int, amount: int) -> list[Entry]:
    """The chain from ``start`` on with that entry's amount changed and every later hash recomputed."""
    prev = entries[start - 2].hash if start > 1 else entries[0].prev_hash
    out = []
    for e in entries[start - 1:]:
        changed = e._replace(prev_hash=prev, amount=amount if e.seq == start else e.amount)
        changed = changed._replace(hash=changed.expected_hash())
        out.append(changed)
        prev = changed.hash
    return out


class MemoryTamper:
    def __init__(self, store: MemoryStore, tenant: str) -> None:
        self.state: Any = store._tenants[tenant]  # the test reaches inside on purpose: it plays the attacker

    def edit_amount(self, seq: int, amount: int) -> None:
        self.state.entries[seq - 1] = tuple(Entry._make(self.state.entries[seq - 1])._replace(amount=amount))

    def delete(self, seq: int) -> None:
        del self.state.entries[seq - 1]

    def swap(self, a: int, b: int) -> None:
        entries = self.state.entries
        entries[a - 1], entries[b - 1] = (tuple(Entry._make(entries[b - 1])._replace(seq=a)),
                                          tuple(Entry._make(entries[a - 1])._replace(seq=b)))

    def truncate_after(self, seq: int, *, cover_up: bool) -> None:
        gone = [Entry._make(e) for e in self.state.entries[seq:]]
        del self.state.entries[seq:]
        if cover_up:
            sums = _recomputed([Entry._make(e) for e in self.state.entries])
            for account in _recomputed(gone):
                self.state.balances[account] = sums.get(account, 0)

    def reseal_from(self, seq: int, amount: int) -> None:
        entries = [Entry._make(e) for e in self.state.entries]
        entry = entries[seq - 1]
        old = entry.amount
        self.state.entries[seq - 1:] = [tuple(e) for e in _resealed(entries, seq, amount)]
        self.state.balances[entry.credit] += amount - old
        self.state.balances[entry.debit] -= amount - old


LEDGER_TABLES = ("entries", "events", "balances", "counters", "chain_heads")


class SQLTamper:
    """Raw SQL as the owner: PostgreSQL's triggers are disabled, SQLite's and MariaDB's dropped."""

    def __init__(self, engine: Engine, store: SQLStore, prefix: str, tenant: str) -> None:
        self.engine, self.store, self.prefix, self.tenant = engine, store, prefix, tenant
        self.family = engine.dialect.name

    def _run(self, *statements: tuple[str, dict[str, Any]]) -> None:
        tables = [f"{self.prefix}{name}" for name in LEDGER_TABLES]
        with self.engine.begin() as conn:
            for table in tables:
                if self.family == "postgresql":
                    conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
                else:
                    for op in ("update", "delete"):
                        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
            for sql, params in statements:
                conn.execute(text(sql.format(p=self.prefix)), {"tenant": self.tenant, **params})
            if self.family == "postgresql":
                for table in tables:
                    conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")

    def run(self, *statements: tuple[str, dict[str, Any]]) -> None:
        """Any raw statements, ``{p}`` the table prefix and ``:tenant`` the tenant, with protection off."""
        self._run(*statements)

    def edit_amount(self, seq: int, amount: int) -> None:
        self._run(("UPDATE {p}entries SET amount = :amount WHERE tenant = :tenant AND seq = :seq",
                   {"amount": amount, "seq": seq}))

    def delete(self, seq: int) -> None:
        self._run(("DELETE FROM {p}entries WHERE tenant = :tenant AND seq = :seq", {"seq": seq}))

    def swap(self, a: int, b: int) -> None:
        move = "UPDATE {p}entries SET seq = :to WHERE tenant = :tenant AND seq = :from"
        self._run((move, {"from": a, "to": -1}), (move, {"from": b, "to": a}), (move, {"from": -1, "to": b}))

    def truncate_after(self, seq: int, *, cover_up: bool) -> None:
        everything = list(self.store.entries(self.tenant))
        statements = [("DELETE FROM {p}entries WHERE tenant = :tenant AND seq > :seq", {"seq": seq})]
        if cover_up:
            kept = everything[:seq]
            statements.append(("UPDATE {p}chain_heads SET seq = :seq, hash = :hash WHERE tenant = :tenant",
                               {"seq": seq, "hash": kept[-1].hash}))
            statements += self._balances(kept, everything)
        self._run(*statements)

    def reseal_from(self, seq: int, amount: int) -> None:
        everything = list(self.store.entries(self.tenant))
        resealed = _resealed(everything, seq, amount)
        statements = [
            ("UPDATE {p}entries SET amount = :amount, prev_hash = :prev, hash = :hash "
             "WHERE tenant = :tenant AND seq = :seq",
             {"amount": e.amount, "prev": e.prev_hash, "hash": e.hash, "seq": e.seq})
            for e in resealed
        ]
        statements.append(("UPDATE {p}chain_heads SET hash = :hash WHERE tenant = :tenant",
                           {"hash": resealed[-1].hash}))
        statements += self._balances(everything[:seq - 1] + resealed, everything)
        self._run(*statements)

    def _balances(self, kept: list[Entry], everything: list[Entry]) -> list[tuple[str, dict[str, Any]]]:
        sums = _recomputed(kept)
        return [("UPDATE {p}balances SET balance = :balance WHERE tenant = :tenant AND account = :account",
                 {"balance": sums.get(account, 0), "account": account})
                for account in _recomputed(everything)]


@attrs.define
class Ledger:
    engine: PointsEngine
    tamper: Tamper

    @property
    def store(self) -> Store:
        return self.engine.store


BACKENDS = ("memory", "sqlite", "postgresql", "mysql")


@pytest.fixture(scope="module")
def stem() -> str:
    return f"gpa{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="module")
def sql_engines(stem: str) -> Iterator[dict[str, Engine]]:
    """Engines by backend, opened on first use; their tables are dropped at the end of the module."""
    engines: dict[str, Engine] = {}
    yield engines
    for name, engine in engines.items():
        if name != "sqlite":
            storage_conftest()._drop_schemas(engine, stem)
        engine.dispose()


def _sql_engine(engines: dict[str, Engine], backend: str, directory: Path) -> Engine:
    """The backend's engine; a server is checked as tests/storage checks it (skip, or fail in CI)."""
    if backend not in engines:
        conftest = storage_conftest()
        if backend == "sqlite":
            engines[backend] = make_engine(f"sqlite:///{directory / 'audit.db'}")
        else:
            engines[backend] = conftest._server(conftest.POSTGRES_URL if backend == "postgresql"
                                                else conftest.MYSQL_URL)
    return engines[backend]


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, policy: Policy, make_event: Any, stem: str,
           sql_engines: dict[str, Engine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A tenant with 12 entries (awards to three residents, two deductions) and a way to tamper with it."""
    tenant = f"audit-{uuid.uuid4().hex[:8]}"
    tamper: Tamper
    engine: Engine | None = None
    if request.param == "memory":
        memory = MemoryStore()
        store: Store = memory
    else:
        engine = _sql_engine(sql_engines, request.param, tmp_path_factory.getbasetemp())
        prefix = f"{stem}{request.param[:2]}_"
        sql_store = SQLStore(engine, table_prefix=prefix)
        store = sql_store
    points = PointsEngine(policy, store, tenant=tenant)
    for n in range(10):
        points.submit(make_event("mediation", subject=f"r{n % 3}"))
    points.submit(make_event("noise_violation", subject="r0"))
    points.submit(make_event("noise_violation", subject="r1"))
    tamper = MemoryTamper(memory, tenant) if engine is None else SQLTamper(engine, sql_store, prefix, tenant)
    yield Ledger(points, tamper)
    store.close()


def _report(ledger: Ledger, anchor: Anchor | None = None) -> AuditReport:
    return verify(ledger.store, ledger.engine.tenant, anchor=anchor)


def test_untouched_ledger_verifies(ledger: Ledger) -> None:
    """An untouched ledger verifies, against its current head and an earlier anchor alike; a store that
    seals records has every record checked, and the report says the chain is unkeyed."""
    head = ledger.engine.head()
    earlier = list(ledger.store.entries(ledger.engine.tenant))[4]
    sealed = not isinstance(ledger.store, MemoryStore)
    for anchor in (None, head, Anchor(earlier.seq, earlier.hash)):
        report = _report(ledger, anchor)
        assert (report.ok, report.entries_checked, report.first_bad_seq, report.problems, report.head) == (
            True, 12, None, (), head)
        assert report.records_checked == (12 if sealed else 0)
        assert not report.keyed and any("unkeyed" in note for note in report.notes)


def test_edited_amount_is_reported_at_its_seq(ledger: Ledger) -> None:
    """An amount changed in place breaks that entry's hash and its accounts' balances."""
    ledger.tamper.edit_amount(4, 500)
    report = _report(ledger)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "seq 4: the stored hash does not match" in report.problems[0]
    assert any("stored balance" in p for p in report.problems)


def test_deleted_entry_is_reported_as_a_gap(ledger: Ledger) -> None:
    """A deleted entry leaves a gap at its seq (and the next entry linking to nothing)."""
    ledger.tamper.delete(5)
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq, report.entries_checked) == (False, 5, 11)
    assert report.problems[0].startswith("seq 5: missing")
    assert any(p.startswith("seq 6: prev_hash") for p in report.problems)


def test_swapped_entries_are_reported_at_the_earlier(ledger: Ledger) -> None:
    """Two entries that trade sequence numbers fail at the earlier of the two."""
    ledger.tamper.swap(3, 8)
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert {p.split(":")[0] for p in report.problems} >= {"seq 3", "seq 8"}


def test_truncated_tail_is_caught_by_the_anchor(ledger: Ledger) -> None:
    """A tail cut off with head and balances covered up: the records of its events still name its entries
    (a store that seals records catches it without an anchor); the recorded anchor catches it anyway."""
    anchor = ledger.engine.head()
    ledger.tamper.truncate_after(7, cover_up=True)
    alone = _report(ledger)
    if isinstance(ledger.store, MemoryStore):
        assert alone.ok
    else:
        assert (alone.ok, alone.first_bad_seq, alone.first_bad_event) == (False, 8, "e8")
        assert "its entries seq 8..8 are missing" in alone.problems[0]
    report = _report(ledger, anchor)
    assert (report.ok, report.first_bad_seq, report.entries_checked) == (False, 8, 7)
    assert any("beyond the ledger's end" in p for p in report.problems)


def test_resealed_history_is_caught_at_the_edited_seq(ledger: Ledger) -> None:
    """A rewritten and re-hashed chain is consistent in itself. Its records sealed the entries as they were,
    so a store that seals records names the edited seq; the memory store only sees that the anchor's hash
    is gone."""
    anchor_entry = list(ledger.store.entries(ledger.engine.tenant))[8]
    ledger.tamper.reseal_from(3, 1)
    report = _report(ledger, Anchor(anchor_entry.seq, anchor_entry.hash))
    if isinstance(ledger.store, MemoryStore):
        assert _report(ledger).ok
        assert (report.ok, report.first_bad_seq) == (False, 9)
        assert "differs from the recorded anchor" in report.problems[0]
    else:
        assert (report.ok, report.first_bad_seq, report.first_bad_event) == (False, 3, "e3")
        assert report.problems[0].startswith("seq 3: is not the entry the record of event 'e3'")


@pytest.mark.parametrize("ledger", ["sqlite", "postgresql", "mysql"], indirect=True)
def test_truncation_leaving_the_head_row_is_caught_without_anchor(ledger: Ledger) -> None:
    """On SQL stores the head row outlives a truncated tail: the audit sees the ledger end short of it."""
    ledger.tamper.truncate_after(9, cover_up=False)
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert "the tail was truncated" in report.problems[0]


# -- the verify command's body -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path, policy: Policy, make_event: Any) -> str:
    """A SQLite file with the default table prefix holding six entries for tenant 't1'."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = SQLStore(url)
    points = PointsEngine(policy, store, tenant="t1")
    for n in range(6):
        points.submit(make_event("mediation", subject=f"r{n % 2}"))
    store.close()
    return url


def _run(url: str, tenant: str = "t1", anchor: str | None = None) -> tuple[int, str]:
    out = io.StringIO()
    return run_verify(url, tenant, anchor, out), out.getvalue()


def test_run_verify_reports_ok_with_exit_0(sqlite_url: str) -> None:
    """A sound ledger exits 0 and prints the head to record as the next anchor."""
    store = SQLStore(sqlite_url)
    head = store.head("t1")
    store.close()
    code, out = _run(sqlite_url, anchor=str(head))
    assert code == 0
    assert out.splitlines()[0] == f"tenant 't1': ok: 6 entries, 6 records verified (unkeyed chain), head {head}"
    assert "note: the chain is unkeyed" in out


def test_run_verify_lists_problems_with_exit_1(sqlite_url: str) -> None:
    """A tampered ledger exits 1 and prints the first bad seq and each problem."""
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER gridpoints_entries_no_update")
        conn.exec_driver_sql("UPDATE gridpoints_entries SET amount = 99 WHERE seq = 2")
    engine.dispose()
    code, out = _run(sqlite_url)
    assert code == 1
    assert "first bad seq 2" in out.splitlines()[0]
    assert "  - seq 2: the stored hash does not match" in out


@pytest.mark.parametrize(
    ("target", "anchor", "expected"),
    [("ledger", "not-an-anchor", "anchor must look like HASH@SEQ"),
     ("empty", None, "schema is at version 0"),
     ("missing", None, "no such SQLite file; create or upgrade a ledger there with 'gridpoints db upgrade")],
)
def test_run_verify_exits_2_when_it_cannot_audit(
    sqlite_url: str, tmp_path: Path, target: str, anchor: str | None, expected: str
) -> None:
    """A malformed anchor, a database without a gridpoints schema or a missing file exits 2, and the audit
    creates nothing: no tables in an empty file, no file where there was none."""
    path = tmp_path / f"{target}.db"
    if target == "empty":
        sqlite3.connect(path).close()
    url = sqlite_url if target == "ledger" else f"sqlite:///{path}"
    code, out = _run(url, anchor=anchor)
    assert code == 2
    assert expected in out
    if target == "missing":
        assert str(path) in out
        assert not path.exists()
    if target == "empty":
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_run_verify_redacts_the_password() -> None:
    """An unreachable server's URL is printed without its password."""
    code, out = _run("postgresql://auditor:s3cret@127.0.0.1:1/none")
    assert code == 2
    assert "s3cret" not in out


# -- the tampering table: what an owner of the database does below the engine, on every SQL backend ---------

SQL_BACKENDS = ("sqlite", "postgresql", "mysql")


def _sql(ledger: Ledger) -> SQLTamper:
    assert isinstance(ledger.tamper, SQLTamper)
    return ledger.tamper


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_edited_decision_is_caught_by_its_event(ledger: Ledger) -> None:
    """A decision record's JSON edited (points × 100): the engine now answers 4000-style points, the audit
    names the event and its record, and says the decision disagrees with its entries."""
    tenant = ledger.engine.tenant
    record = ledger.store.find_event(tenant, "e5")
    assert record is not None
    data = json.loads(record.decision)
    forged = {**data, "points": data["points"] * 100}
    _sql(ledger).run(("UPDATE {p}events SET decision = :decision WHERE tenant = :tenant AND event_id = 'e5'",
                      {"decision": json.dumps(forged, ensure_ascii=False, separators=(",", ":"))}))
    assert ledger.engine.decision("e5").points == data["points"] * 100  # type: ignore[union-attr]
    report = _report(ledger)
    assert (report.ok, report.first_bad_event, report.first_bad_seq) == (False, "e5", 5)
    assert report.problems[0].startswith("event 'e5', record 5: the record's seal does not match")
    assert any(p.startswith("event 'e5', record 5, seq 5: the decision says") for p in report.problems)


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_zeroed_counters_are_caught_by_the_first_event_that_moved_them(ledger: Ledger) -> None:
    """Every window counter set to 0 (so that caps would let a resident earn again): each counter is
    recomputed from the records' sealed increments and named with the first event that moved it."""
    _sql(ledger).run(("UPDATE {p}counters SET value = 0 WHERE tenant = :tenant", {}))
    report = _report(ledger)
    assert (report.ok, report.first_bad_event, report.first_bad_seq) == (False, "e1", None)
    assert report.problems[0].startswith("event 'e1', record 1: counter ")
    assert ": stored 0, the records' increments sum to " in report.problems[0]


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_deleted_record_then_resubmitted_is_caught(ledger: Ledger, make_event: Any) -> None:
    """One event record deleted and the event resubmitted: decided and awarded a second time, but the
    records' chain has a gap at the deleted record and its entry belongs to no sealed record."""
    tenant = ledger.engine.tenant
    _sql(ledger).run(("DELETE FROM {p}events WHERE tenant = :tenant AND event_id = 'e4'", {}))
    again = ledger.engine.submit(make_event("mediation", id="e4", subject="r0"))
    assert not again.duplicate and again.entries
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert any(p.startswith("seq 4: belongs to no sealed event record (event 'e4')") for p in report.problems)
    assert any(p.startswith("record 4: missing (the records jump from 3 to 5)") for p in report.problems)
    assert ledger.store.find_event(tenant, "e4") is not None


def _forge_credit(ledger: Ledger, amount: int, *, key: bytes = b"") -> Entry:
    """Append an entry crediting r0 with its hash recomputed (with ``key``, as a writer holding it would),
    moving the head (its MAC recomputed with ``key`` too) and the balances to match."""
    tenant = ledger.engine.tenant
    head = ledger.store.head(tenant)
    forged = Entry(head.seq + 1, tenant, "forged", "r0", ISSUANCE, spendable("r0"), amount, "x", "x", "award",
                   "2026-04-01T02:00:00+00:00", None, head.hash, "")
    forged = forged._replace(hash=forged.expected_hash(key))
    columns = ", ".join(f'"{c}"' if c != "rule" else '"rule"' for c in Entry._fields)
    if _sql(ledger).family == "mysql":
        columns = columns.replace('"', "`")
    values = ", ".join(f":{c}" for c in Entry._fields)
    mac = SealedHead.expected_mac(tenant, Anchor(forged.seq, forged.hash), ledger.store.record_head(tenant), key)
    _sql(ledger).run(
        (f"INSERT INTO {{p}}entries ({columns}) VALUES ({values})", forged._asdict()),
        ("UPDATE {p}chain_heads SET seq = :seq, hash = :hash, mac = :mac WHERE tenant = :tenant",
         {"seq": forged.seq, "hash": forged.hash, "mac": mac}),
        ("UPDATE {p}balances SET balance = balance + :amount WHERE tenant = :tenant AND account = :account",
         {"amount": amount, "account": spendable("r0")}),
        ("UPDATE {p}balances SET balance = balance - :amount WHERE tenant = :tenant AND account = :account",
         {"amount": amount, "account": ISSUANCE}),
    )
    return forged


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_forged_credit_with_its_hash_recomputed_is_caught(ledger: Ledger) -> None:
    """A +5000 entry appended with its hash recomputed, head and balances moved to match: it continues the
    entries' chain, but no sealed record sealed it."""
    forged = _forge_credit(ledger, 5000)
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq) == (False, forged.seq)
    assert report.problems == (f"seq {forged.seq}: belongs to no sealed event record (event 'forged'): it was "
                               "appended outside the engine, or its record was deleted",)


def _cut_tail(ledger: Ledger, keep: int, *, key: bytes = b"") -> None:
    """Delete the entries and records after the first ``keep``, and make both heads (with the head row's MAC
    recomputed under ``key``, as far as the writer knows it), balances and counters match what is left."""
    tenant = ledger.engine.tenant
    entries = list(ledger.store.entries(tenant))
    records = list(ledger.store.records(tenant))
    kept_entries, gone = entries[:keep], entries[keep:]
    kept_records = [r for r in records if r.seal is not None and r.seal.entry_from <= keep]
    last_seal = kept_records[-1].seal
    assert last_seal is not None
    sums = _recomputed(kept_entries)
    counters: dict[tuple[str, ...], int] = {}
    for record in kept_records:
        assert record.seal is not None
        for *counter, delta in json.loads(record.seal.deltas):
            counters[tuple(counter)] = counters.get(tuple(counter), 0) + delta
    head, record_head = Anchor(keep, kept_entries[-1].hash), Anchor(last_seal.seq, last_seal.hash)
    window = '`window`' if _sql(ledger).family == "mysql" else '"window"'
    _sql(ledger).run(
        ("DELETE FROM {p}entries WHERE tenant = :tenant AND seq > :keep", {"keep": keep}),
        ("DELETE FROM {p}events WHERE tenant = :tenant AND seq > :records", {"records": last_seal.seq}),
        ("UPDATE {p}chain_heads SET seq = :seq, hash = :hash, records = :records, record_hash = :rhash, "
         "mac = :mac WHERE tenant = :tenant",
         {"seq": keep, "hash": head.hash, "records": last_seal.seq, "rhash": last_seal.hash,
          "mac": SealedHead.expected_mac(tenant, head, record_head, key)}),
        *[("UPDATE {p}balances SET balance = :balance WHERE tenant = :tenant AND account = :account",
           {"balance": sums.get(account, 0), "account": account}) for account in _recomputed(gone)],
        ("UPDATE {p}counters SET value = 0 WHERE tenant = :tenant", {}),
        *[(f"UPDATE {{p}}counters SET value = :value WHERE tenant = :tenant AND scope = :scope AND "
           f"scope_id = :scope_id AND metric = :metric AND {window} = :window",
           {"value": value, "scope": k[0], "scope_id": k[1], "metric": k[2], "window": k[3]})
          for k, value in counters.items()],
    )


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_tail_deleted_with_every_head_and_record_is_caught_by_the_anchors(ledger: Ledger) -> None:
    """The last 5 entries deleted with their records, both heads (and the unkeyed head MAC, which anyone can
    recompute), balances and counters made to match: the ledger is consistent in itself, and only the
    anchors kept outside it show the cut, at the first entry past the last anchor that still holds."""
    tenant = ledger.engine.tenant
    entries = list(ledger.store.entries(tenant))
    records = list(ledger.store.records(tenant))
    anchors = [_anchor_at(tenant, entries, records, seq) for seq in (4, 8, 12)]
    _cut_tail(ledger, 7)
    assert _report(ledger).ok
    report = verify(ledger.store, tenant, anchors=anchors)
    assert (report.ok, report.first_bad_seq) == (False, 8)
    assert "the anchor taken" in report.problems[0] and "beyond the ledger's end at seq 7" in report.problems[0]


def _anchor_at(tenant: str, entries: list[Entry], records: list[Any], seq: int) -> LedgerAnchor:
    """The anchor a sink would have kept when the ledger ended at ``seq``."""
    upto = [r for r in records if r.seal.entry_from <= seq]
    last = upto[-1].seal
    return LedgerAnchor(tenant, seq, entries[seq - 1].hash, last.seq, last.hash, "2026-04-01T00:00:00+00:00", "every")


@pytest.mark.parametrize("ledger", ["mysql"], indirect=True)
def test_truncate_on_mariadb_is_caught_by_the_heads(ledger: Ledger) -> None:
    """TRUNCATE fires no trigger on MariaDB: a truncated entries or events table is caught by the chain
    heads' lengths."""
    _sql(ledger).run(("TRUNCATE TABLE {p}events", {}))
    report = _report(ledger)
    assert not report.ok
    assert any(p.startswith("record 1: missing: the records' head says 12 records") for p in report.problems)
    _sql(ledger).run(("TRUNCATE TABLE {p}entries", {}))
    report = _report(ledger)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "seq 1: missing: the chain head says" in report.problems[0]


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize(("table", "statement"), [
    ("events", "UPDATE {p}events SET decision = '{{}}' WHERE tenant = :tenant"),
    ("events", "DELETE FROM {p}events WHERE tenant = :tenant"),
    ("entries", "DELETE FROM {p}entries WHERE tenant = :tenant"),
    ("balances", "DELETE FROM {p}balances WHERE tenant = :tenant"),
    ("counters", "DELETE FROM {p}counters WHERE tenant = :tenant"),
    ("chain_heads", "DELETE FROM {p}chain_heads WHERE tenant = :tenant"),
    ("events", "TRUNCATE TABLE {p}events"),
])
def test_every_ledger_table_refuses_rewrites_inside_the_database(
    backend: str, table: str, statement: str, policy: Policy, make_event: Any, stem: str,
    sql_engines: dict[str, Engine], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Append-only protection in the database itself, whoever connects: UPDATE and DELETE of entries and
    records, DELETE of balances, counters and heads (PostgreSQL: TRUNCATE too). MariaDB and SQLite have no
    TRUNCATE trigger (SQLite has no TRUNCATE); there the audit catches it (test above)."""
    engine = _sql_engine(sql_engines, backend, tmp_path_factory.getbasetemp())
    if statement.startswith("TRUNCATE") and engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL has TRUNCATE triggers; MariaDB's TRUNCATE is caught by verify")
    prefix = f"{stem}{backend[:2]}p_"  # tables of their own: the tampering tests drop the module's triggers
    store = SQLStore(engine, table_prefix=prefix)
    points = PointsEngine(policy, store, tenant="t")
    points.submit(make_event("mediation", subject="r0"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement.format(p=prefix)), {"tenant": "t"})
    assert verify(store, "t").ok
    store.close()


# -- keyed seals ------------------------------------------------------------------------------------------

KEY = b"k" * 32


@pytest.fixture
def keyed(tmp_path: Path, policy: Policy, make_event: Any) -> Iterator[Ledger]:
    """A SQLite ledger of 6 entries sealed with a key the database never sees."""
    engine = make_engine(f"sqlite:///{tmp_path / 'keyed.db'}")
    store = SQLStore(engine)
    points = PointsEngine(policy, store, tenant="t", seal_key=KEY)
    for n in range(6):
        points.submit(make_event("mediation", subject=f"r{n % 2}"))
    yield Ledger(points, SQLTamper(engine, store, "gridpoints_", "t"))
    store.close()
    engine.dispose()


def test_keyed_ledger_verifies_only_with_its_key(keyed: Ledger) -> None:
    """A keyed ledger verifies with its key (and says so); without it, the first hash fails with a hint."""
    report = verify(keyed.store, "t", key=KEY)
    assert (report.ok, report.keyed, report.records_checked) == (True, True, 6)
    assert not any("unkeyed" in note for note in report.notes)
    bare = verify(keyed.store, "t")
    assert (bare.ok, bare.first_bad_seq) == (False, 1)
    assert "pass its sealing key" in bare.problems[0]
    assert (verify(keyed.store, "t", key=b"w" * 32).first_bad_seq) == 1


def test_keyed_ledger_catches_a_forgery_with_a_forged_record(keyed: Ledger) -> None:
    """Without the key a writer cannot seal: a forged credit with an unkeyed hash, and a record forged to
    seal it, fail at the forged entry and record."""
    forged = _forge_credit(keyed, 5000)
    records = list(keyed.store.records("t"))
    last = records[-1].seal
    assert last is not None
    fake = RecordSeal.make(seq=last.seq + 1, tenant="t", event_id="forged", fingerprint="f" * 64,
                           decision=json.dumps({"points": 5000, "trace": {"subject": "r0"}}), actor=None,
                           attributes="{}", recorded_at=last.recorded_at, deltas="[]", entry_from=forged.seq,
                           entry_hashes=forged.hash, prev_hash=last.hash)
    _sql(keyed).run(
        ("INSERT INTO {p}events (tenant, event_id, fingerprint, decision, seq, recorded_at, actor, attributes, "
         "deltas, entry_from, entry_hashes, prev_hash, hash) VALUES (:tenant, 'forged', :fp, :decision, :seq, "
         ":at, NULL, '{{}}', '[]', :start, :hashes, :prev, :hash)",
         {"fp": "f" * 64, "decision": json.dumps({"points": 5000, "trace": {"subject": "r0"}}), "seq": fake.seq,
          "at": fake.recorded_at, "start": forged.seq, "hashes": forged.hash, "prev": fake.prev_hash,
          "hash": fake.hash}),
        ("UPDATE {p}chain_heads SET records = :seq, record_hash = :hash WHERE tenant = :tenant",
         {"seq": fake.seq, "hash": fake.hash}),
    )
    assert verify(keyed.store, "t").problems[-1:] != ()  # unkeyed, everything fails from seq 1
    report = verify(keyed.store, "t", key=KEY)
    assert (report.ok, report.first_bad_seq, report.first_bad_event) == (False, forged.seq, "forged")
    assert report.problems[0] == (f"seq {forged.seq}: the stored hash does not match the entry's contents: the "
                                  "entry was edited or moved to another sequence number")
    assert any(p.startswith(f"event 'forged', record {fake.seq}: the record's seal does not match")
               for p in report.problems)


def test_seal_key_must_fit_blake2b(policy: Policy) -> None:
    """A key BLAKE2b cannot take (or one too short to be a secret) is refused when the engine is made."""
    for bad in (b"short", b"x" * 65):
        with pytest.raises(ValueError, match="seal_key must be 16 to 64 bytes"):
            PointsEngine(policy, seal_key=bad)


def test_run_verify_reads_the_key_file(keyed: Ledger, tmp_path: Path) -> None:
    """``--key-file``: the key's bytes (a trailing newline dropped); a key of the wrong size exits 2."""
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    (tmp_path / "key").write_bytes(KEY + b"\n")
    out = io.StringIO()
    assert run_verify(url, "t", None, out, key_file=str(tmp_path / "key")) == 0
    assert "(keyed chain)" in out.getvalue()
    (tmp_path / "bad").write_bytes(b"tiny")
    out = io.StringIO()
    assert run_verify(url, "t", None, out, key_file=str(tmp_path / "bad")) == 2
    assert "a sealing key must be 16 to 64 bytes" in out.getvalue()


# -- verify never writes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("writable", [True, False])
def test_verify_leaves_the_sqlite_file_byte_for_byte(sqlite_url: str, tmp_path: Path, writable: bool) -> None:
    """A DELETE-journal SQLite file stays one, byte for byte, and no journal or WAL file appears; a file the
    auditor cannot write is opened immutable."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    before = path.read_bytes()
    if not writable:
        path.chmod(0o444)
    try:
        code, out = _run(sqlite_url)
        assert code == 0, out
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]
    with pytest.raises(StoreError, match="opened read-only"):
        store = SQLStore(sqlite_url, auto_upgrade=False, read_only=True)
        try:
            with store.transaction("t1"):
                pass
        finally:
            store.close()


# -- anchors kept outside the database ----------------------------------------------------------------------


def test_engine_sends_anchors_every_n_entries_and_after_a_close(policy: Policy, make_event: Any) -> None:
    """The sink gets both heads after the first commit, each time the ledger passes a multiple of
    ``anchor_every`` entries, and after a period close."""
    kept: list[LedgerAnchor] = []
    points = PointsEngine(policy, tenant="t", anchor_sink=kept.append, anchor_every=4)
    for n in range(10):
        points.submit(make_event("mediation", subject=f"r{n % 3}"))
    assert [(a.seq, a.reason) for a in kept] == [(1, "every"), (4, "every"), (8, "every")]
    points.close_period("2026-04", now=datetime(2026, 5, 1, tzinfo=UTC))
    assert kept[-1].reason == "close:2026-04" and kept[-1].seq == points.head().seq
    assert verify(points.store, "t", anchors=kept).ok


def test_anchor_file_round_trip_and_bad_lines(tmp_path: Path) -> None:
    """JsonlAnchors appends one line per anchor; read_anchors reads them back and names a bad line."""
    path = tmp_path / "anchors.jsonl"
    sink = JsonlAnchors(path)
    one = LedgerAnchor("t", 3, "a" * 64, 2, "b" * 64, "2026-04-01T00:00:00+00:00", "every")
    sink(one)
    sink(attrs.evolve(one, seq=5))
    assert read_anchors(path) == [one, attrs.evolve(one, seq=5)]
    path.write_text(path.read_text() + '{"tenant": "t"}\n')
    with pytest.raises(ValueError, match=r"anchors.jsonl:3: not an anchor"):
        read_anchors(path)


def test_rewrite_that_only_anchors_show_names_the_first_seq_after_the_last_good_anchor(
    policy: Policy, make_event: Any
) -> None:
    """A chain re-sealed end to end is consistent in itself; the anchors date the rewrite: the first bad
    seq is the first entry after the last anchor that still holds, not the anchor's own seq."""
    kept: list[LedgerAnchor] = []
    store = MemoryStore()
    points = PointsEngine(policy, store, tenant="t", anchor_sink=kept.append, anchor_every=4)
    for n in range(12):
        points.submit(make_event("mediation", subject=f"r{n % 3}"))
    MemoryTamper(store, "t").reseal_from(6, 1)
    assert verify(store, "t").ok
    report = verify(store, "t", anchors=kept)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert report.problems[0].startswith("seq 5: the ledger was rewritten after seq 4: the anchor taken")


def test_run_writes_anchors_that_verify_reads(tmp_path: Path, policy: Policy) -> None:
    """``gridpoints run --anchors`` then ``gridpoints verify --anchors``: the file's anchors hold."""
    from click.testing import CliRunner

    from gridpoints.cli import command

    root = Path(__file__).resolve().parents[1]
    url = f"sqlite:///{tmp_path / 'run.db'}"
    anchors = tmp_path / "anchors.jsonl"
    runner = CliRunner()
    result = runner.invoke(command(), ["run", str(root / "rulesets" / "pudong-sunshine.yaml"),
                                       str(root / "examples" / "pudong-events.jsonl"), "--store", url,
                                       "--anchors", str(anchors), "--anchor-every", "25", "--batch", "10", "--json"])
    assert result.exit_code == 0, result.output
    lines = read_anchors(anchors)
    assert [a.reason for a in lines][-1] == "run" and len(lines) >= 3
    out = io.StringIO()
    assert run_verify(url, "default", None, out, anchors_file=str(anchors)) == 0, out.getvalue()


# -- ledgers from before records were sealed ----------------------------------------------------------------


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_a_v2_ledger_upgrades_and_audits_with_its_old_records_noted(
    backend: str, policy: Policy, make_event: Any, stem: str, sql_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A schema v2 ledger (no seal columns, no records' head, entries-only triggers) upgrades to v3 in place;
    its old records stay unsealed and are noted, their entries accepted by event id, and new events are
    sealed after them."""
    engine = _sql_engine(sql_engines, backend, tmp_path_factory.getbasetemp())
    prefix = f"{stem}{backend[:2]}v_"
    store = SQLStore(engine, table_prefix=prefix)
    old = PointsEngine(policy, _Unsealed(store), tenant="t")
    for n in range(3):
        old.submit(make_event("mediation", subject=f"r{n}"))
    with engine.begin() as conn:  # back to what v2 left: drop what v3 added
        family = engine.dialect.name
        if family == "postgresql":
            for table in ("events", "balances", "counters", "chain_heads"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {prefix}{table}_no_row ON {prefix}{table}")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {prefix}{table}_no_truncate ON {prefix}{table}")
        else:
            for table in ("events", "balances", "counters", "chain_heads"):
                for op in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {prefix}{table}_no_{op}")
        index = f"ux_{prefix}events_seq"
        conn.exec_driver_sql(f"DROP INDEX {index} ON {prefix}events" if family == "mysql" else f"DROP INDEX {index}")
        for column in ("seq", "recorded_at", "actor", "attributes", "deltas", "entry_from", "entry_hashes",
                       "prev_hash", "hash"):
            conn.exec_driver_sql(f"ALTER TABLE {prefix}events DROP COLUMN {column}")
        for column in ("records", "record_hash"):
            conn.exec_driver_sql(f"ALTER TABLE {prefix}chain_heads DROP COLUMN {column}")
        conn.exec_driver_sql(f"UPDATE {prefix}schema_version SET version = 2")
    store.close()
    with pytest.raises(StoreError, match="gridpoints db upgrade"):
        SQLStore(engine, table_prefix=prefix, auto_upgrade=False)
    upgraded = SQLStore(engine, table_prefix=prefix)
    assert upgraded.schema_version() == CURRENT_VERSION
    new = PointsEngine(policy, upgraded, tenant="t")
    new.submit(make_event("mediation", subject="r9"))
    report = verify(upgraded, "t")
    assert (report.ok, report.entries_checked, report.records_checked) == (True, 4, 1), report.problems
    assert any("3 record(s) were written before records were sealed" in note for note in report.notes)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {prefix}events WHERE tenant = 't'"))
    upgraded.close()


class _Unsealed:
    """A store as a v2 gridpoints saw it: the SQL store without record sealing."""

    capabilities = StoreCapabilities(seals_records=False)

    def __init__(self, store: SQLStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# -- the head row's MAC and the engine's key check -------------------------------------------------------------


def test_keyed_ledger_catches_a_cut_tail_whose_head_was_moved_without_the_key(keyed: Ledger) -> None:
    """The last 2 entries cut with their records, both heads, balances and counters made to match and the
    head's MAC recomputed as far as a writer without the key can (unkeyed): with the key, verify names the
    head, and nothing else is wrong. A writer holding the key could move it unseen (only anchors show that)."""
    _cut_tail(keyed, 4)
    report = verify(keyed.store, "t", key=KEY)
    assert (report.ok, report.bad_head, report.first_bad_seq, report.entries_checked) == (False, True, None, 4)
    assert report.problems == ("chain head: the row's MAC does not match the heads it holds (4 entries, 4 records): "
                               "the row was edited or moved without the key",)
    _cut_tail(keyed, 3, key=KEY)
    assert verify(keyed.store, "t", key=KEY).ok


@pytest.mark.parametrize("ledger", SQL_BACKENDS, indirect=True)
def test_head_row_edited_alone_is_named_as_the_head(ledger: Ledger) -> None:
    """The head row's MAC overwritten (the heads themselves left): verify reports the head, not an entry."""
    _sql(ledger).run(("UPDATE {p}chain_heads SET mac = :mac WHERE tenant = :tenant", {"mac": "0" * 64}))
    report = _report(ledger)
    assert (report.ok, report.bad_head, report.first_bad_seq) == (False, True, None)
    assert report.problems[0].startswith("chain head: the row's MAC does not match the heads it holds (12 entries")
    assert "pass its sealing key" in report.problems[0]


def _key_engine(policy: Policy, store: SQLStore, key: bytes | None) -> PointsEngine:
    return PointsEngine(policy, store, tenant="t", seal_key=key)


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_an_engine_refuses_a_ledger_sealed_under_another_key(
    backend: str, policy: Policy, make_event: Any, stem: str, sql_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Another key, no key on a keyed ledger, or a key on an unkeyed ledger with entries: the engine refuses at
    start with a SealKeyMismatch naming the mismatch (en and zh), and nothing is written; the right key, an
    empty tenant and another tenant start."""
    engine = _sql_engine(sql_engines, backend, tmp_path_factory.getbasetemp())
    store = SQLStore(engine, table_prefix=f"{stem}{backend[:2]}k_")
    _key_engine(policy, store, KEY).submit(make_event("mediation", subject="r1"))
    head = store.sealed_head("t")
    for key, reason in ((b"w" * 32, "other_key"), (None, "keyed_ledger")):
        with pytest.raises(SealKeyMismatch) as caught:
            _key_engine(policy, store, key)
        assert (caught.value.reason, caught.value.tenant, caught.value.seq) == (reason, "t", 1)
    assert "是用密钥封存的，本引擎却没有 seal_key" in caught.value.message("zh")
    assert "is sealed with a key, and this engine has no seal_key" in str(caught.value)
    assert store.sealed_head("t") == head
    assert _key_engine(policy, store, KEY).balance("r1") == 10
    PointsEngine(policy, store, tenant="other", seal_key=b"w" * 32).submit(make_event("mediation", subject="r2"))
    with pytest.raises(SealKeyMismatch) as caught:
        PointsEngine(policy, store, tenant="other", seal_key=KEY)
    assert caught.value.reason == "other_key" and "另一把密钥" in caught.value.message("zh")
    PointsEngine(policy, store, tenant="plain").submit(make_event("mediation", subject="r3"))
    with pytest.raises(SealKeyMismatch) as caught:
        PointsEngine(policy, store, tenant="plain", seal_key=KEY)
    assert caught.value.reason == "unkeyed_ledger" and "was sealed without a key" in caught.value.message("en")
    store.close()


def test_swapping_in_a_store_sealed_under_another_key_is_refused(policy: Policy, make_event: Any,
                                                                 tmp_path: Path) -> None:
    """``engine.store = other`` checks the key too, and a refused store leaves the engine on its old one."""
    keyed_store = SQLStore(f"sqlite:///{tmp_path / 'k.db'}")
    PointsEngine(policy, keyed_store, tenant="t", seal_key=KEY).submit(make_event("mediation", subject="r1"))
    plain_store = SQLStore(f"sqlite:///{tmp_path / 'p.db'}")
    engine = PointsEngine(policy, plain_store, tenant="t")
    with pytest.raises(SealKeyMismatch, match="sealed with a key"):
        engine.store = keyed_store
    assert engine.store is plain_store
    engine.submit(make_event("mediation", subject="r1"))
    assert verify(plain_store, "t").ok and plain_store.head("t").seq == 1
    keyed_store.close()
    plain_store.close()


def test_run_with_the_wrong_key_file_refuses_in_both_languages(tmp_path: Path) -> None:
    """`gridpoints run --key-file` on a ledger sealed with another key exits non-zero with the mismatch in
    English and Chinese, and the ledger is unchanged."""
    from click.testing import CliRunner

    from gridpoints.cli import command

    root = Path(__file__).resolve().parents[1]
    url = f"sqlite:///{tmp_path / 'run.db'}"
    right, wrong = tmp_path / "right.key", tmp_path / "wrong.key"
    right.write_bytes(b"r" * 32)
    wrong.write_bytes(b"w" * 32)
    args = ["run", str(root / "rulesets" / "pudong-sunshine.yaml"), str(root / "examples" / "pudong-events.jsonl"),
            "--store", url]
    first = CliRunner().invoke(command(), [*args, "--key-file", str(right)])
    assert first.exit_code == 0, first.output
    store = SQLStore(url)
    head = store.sealed_head("default")
    result = CliRunner().invoke(command(), [*args, "--key-file", str(wrong)])
    assert result.exit_code == 1, result.output
    assert "sealed with another key" in result.output and "另一把密钥" in result.output, result.output
    assert store.sealed_head("default") == head
    store.close()


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_a_v4_ledger_upgrades_to_sealed_heads(
    backend: str, policy: Policy, make_event: Any, stem: str, sql_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A schema v4 ledger (no head MAC) is refused by auto_upgrade=False, upgrades to v5 with `gridpoints db
    upgrade`; until its next write the head has no MAC (a keyed verify names the head, an unkeyed one notes
    it), an engine with another key is still refused (by the last entry's hash), and the right key's next
    write seals the head."""
    from click.testing import CliRunner

    from gridpoints.cli import command

    engine = _sql_engine(sql_engines, backend, tmp_path_factory.getbasetemp())
    prefix = f"{stem}{backend[:2]}h_"
    store = SQLStore(engine, table_prefix=prefix)
    points = PointsEngine(policy, store, tenant="t", seal_key=KEY)
    for n in range(3):
        points.submit(make_event("mediation", subject=f"r{n}"))
    store.close()
    with engine.begin() as conn:  # back to what v4 left: drop what v5 added
        conn.exec_driver_sql(f"ALTER TABLE {prefix}chain_heads DROP COLUMN mac")
        conn.exec_driver_sql(f"UPDATE {prefix}schema_version SET version = 4")
    with pytest.raises(StoreError, match="version 4"):
        SQLStore(engine, table_prefix=prefix, auto_upgrade=False)
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(command(), ["db", "upgrade", url, "--prefix", prefix])
    assert result.exit_code == 0 and f"schema version {CURRENT_VERSION}" in result.output, result.output
    assert CURRENT_VERSION == 5
    upgraded = SQLStore(engine, table_prefix=prefix, auto_upgrade=False)
    assert upgraded.sealed_head("t").mac is None
    keyed_report = verify(upgraded, "t", key=KEY)
    assert (keyed_report.ok, keyed_report.bad_head) == (False, True)
    assert "carries no MAC" in keyed_report.problems[0]
    assert any("carries no MAC" in note for note in verify(upgraded, "t").notes)
    with pytest.raises(SealKeyMismatch) as caught:
        PointsEngine(policy, upgraded, tenant="t", seal_key=b"w" * 32)
    assert caught.value.reason == "other_key"
    with pytest.raises(SealKeyMismatch, match="sealed with a key"):
        PointsEngine(policy, upgraded, tenant="t")
    PointsEngine(policy, upgraded, tenant="t", seal_key=KEY).submit(make_event("mediation", subject="r9"))
    assert upgraded.sealed_head("t").holds("t", KEY)
    assert verify(upgraded, "t", key=KEY).ok
    upgraded.close()
