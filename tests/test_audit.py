"""The ledger audit: an untouched ledger verifies; edits, deletions, reordering and truncation are caught at
the right sequence number, on the memory store and on every SQL backend tampered with as its owner would."""

from __future__ import annotations

import importlib.util
import io
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import attrs
import pytest
from sqlalchemy import Engine, text

from gridpoints import Engine as PointsEngine
from gridpoints import MemoryStore, Policy, Store
from gridpoints.audit import AuditReport, run_verify, verify
from gridpoints.model import Anchor, Entry
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


class SQLTamper:
    """Raw SQL as the owner: PostgreSQL's triggers are disabled, SQLite's and MariaDB's dropped."""

    def __init__(self, engine: Engine, store: SQLStore, prefix: str, tenant: str) -> None:
        self.engine, self.store, self.prefix, self.tenant = engine, store, prefix, tenant
        self.family = engine.dialect.name

    def _run(self, *statements: tuple[str, dict[str, Any]]) -> None:
        entries = f"{self.prefix}entries"
        with self.engine.begin() as conn:
            if self.family == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {entries} DISABLE TRIGGER ALL")
            else:
                for op in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.prefix}entries_no_{op}")
            for sql, params in statements:
                conn.execute(text(sql.format(p=self.prefix)), {"tenant": self.tenant, **params})
            if self.family == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {entries} ENABLE TRIGGER ALL")

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
    """An untouched ledger verifies, against its current head and an earlier anchor alike."""
    head = ledger.engine.head()
    earlier = list(ledger.store.entries(ledger.engine.tenant))[4]
    for anchor in (None, head, Anchor(earlier.seq, earlier.hash)):
        report = _report(ledger, anchor)
        assert report == AuditReport(True, 12, None, (), head)


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
    """A tail cut off with head and balances covered up passes the internal checks, not the recorded anchor."""
    anchor = ledger.engine.head()
    ledger.tamper.truncate_after(7, cover_up=True)
    assert _report(ledger).ok
    report = _report(ledger, anchor)
    assert (report.ok, report.first_bad_seq, report.entries_checked) == (False, 8, 7)
    assert "beyond the ledger's end" in report.problems[0]


def test_resealed_history_is_caught_by_the_anchor_hash(ledger: Ledger) -> None:
    """A rewritten and re-hashed chain is consistent in itself but no longer has the anchor's hash."""
    anchor_entry = list(ledger.store.entries(ledger.engine.tenant))[8]
    ledger.tamper.reseal_from(3, 1)
    assert _report(ledger).ok
    report = _report(ledger, Anchor(anchor_entry.seq, anchor_entry.hash))
    assert (report.ok, report.first_bad_seq) == (False, 9)
    assert "differs from the recorded anchor" in report.problems[0]


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
    assert out == f"tenant 't1': ok: 6 entries verified, head {head}\n"


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
     ("empty", None, "schema is at version 0")],
)
def test_run_verify_exits_2_when_it_cannot_audit(
    sqlite_url: str, tmp_path: Path, target: str, anchor: str | None, expected: str
) -> None:
    """A malformed anchor or a database without a gridpoints schema exits 2, and the audit creates nothing."""
    url = sqlite_url if target == "ledger" else f"sqlite:///{tmp_path / 'empty.db'}"
    code, out = _run(url, anchor=anchor)
    assert code == 2
    assert expected in out
    if target == "empty":
        with sqlite3.connect(tmp_path / "empty.db") as conn:
            assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_run_verify_redacts_the_password() -> None:
    """An unreachable server's URL is printed without its password."""
    code, out = _run("postgresql://auditor:s3cret@127.0.0.1:1/none")
    assert code == 2
    assert "s3cret" not in out
