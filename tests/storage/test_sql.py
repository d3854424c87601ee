"""What the SQL store promises beyond the protocol: schema, triggers, embedding, errors, lookup, privacy."""

from __future__ import annotations

import sqlite3
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from pathlib import Path

import psycopg.errors
import pymysql.cursors
import pymysql.err
import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, delete, inspect, select, text, update
from sqlalchemy.dialects.mysql import pymysql as mysql_pymysql
from sqlalchemy.exc import DBAPIError, OperationalError

import gridpoints.storage
from gridpoints.errors import IntegrityError, MissingExtra, SerializationFailure, StoreError, StoreUnavailable
from gridpoints.model import GENESIS_HASH, Anchor, CounterKey, EventRecord, spendable
from gridpoints.privacy import Pseudonymiser
from gridpoints.storage import open_store
from gridpoints.storage.sql import _store as sql_module
from gridpoints.storage.sql._errors import classify
from gridpoints.storage.sql._migrations import CURRENT_VERSION, MIGRATIONS
from gridpoints.storage.sql._schema import build_tables
from gridpoints.storage.sql._store import SQLStore, make_engine, normalise_url
from gridpoints.testing.storage_suite import chain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(sql_engine: Engine, prefix: str) -> Iterator[SQLStore]:
    store = SQLStore(sql_engine, table_prefix=prefix)
    yield store
    store.close()


def _write(store: SQLStore, tenant: str = "t", count: int = 1, **kwargs: object) -> None:
    with store.transaction(tenant, accounts=[spendable("alice")]) as txn:
        txn.append(chain(txn.head(), tenant, count, **kwargs), {}, [])  # type: ignore[arg-type]


def _tables(engine: Engine, prefix: str) -> set[str]:
    return {name for name in inspect(engine).get_table_names() if name.startswith(prefix)}


# -- append-only ledger ----------------------------------------------------------------------------


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_database_rejects_changing_entries(store: SQLStore, sql_engine: Engine, prefix: str, statement: str) -> None:
    """A trigger makes the database itself refuse UPDATE and DELETE on ledger entries, whoever connects."""
    _write(store)
    entries = build_tables(prefix).entries
    change = update(entries).values(amount=999) if statement == "update" else delete(entries)
    with pytest.raises(DBAPIError, match="append-only"), sql_engine.begin() as conn:
        conn.execute(change)
    assert [e.amount for e in store.entries("t")] == [5]


def test_postgresql_rejects_truncating_entries(postgresql_engine: Engine, prefix: str) -> None:
    """On PostgreSQL TRUNCATE of the entries table is refused as well."""
    store = SQLStore(postgresql_engine, table_prefix=prefix)
    _write(store)
    with pytest.raises(DBAPIError, match="append-only"), postgresql_engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {prefix}entries")
    assert store.head("t").seq == 1


# -- embedding in a host's transaction -------------------------------------------------------------


def _host_notes(engine: Engine, prefix: str) -> Table:
    notes = Table(f"{prefix}host_notes", MetaData(),
                  Column("id", Integer, primary_key=True), Column("note", String(50)))
    notes.create(engine)
    return notes


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_host_transaction_decides(sql_engine: Engine, prefix: str, outcome: str) -> None:
    """Writes through a host's Connection commit with the host's transaction and vanish with its rollback."""
    SQLStore(sql_engine, table_prefix=prefix).close()
    with sql_engine.connect() as conn:
        conn.begin()
        embedded = SQLStore(conn, table_prefix=prefix)
        _write(embedded, count=2)
        assert embedded.head("t").seq == 2  # the host's transaction sees gridpoints' writes at once
        conn.commit() if outcome == "commit" else conn.rollback()
    fresh = SQLStore(sql_engine, table_prefix=prefix)
    assert fresh.head("t").seq == (2 if outcome == "commit" else 0)
    assert len(list(fresh.entries("t"))) == (2 if outcome == "commit" else 0)


def test_failure_rolls_back_only_gridpoints_part(sql_engine: Engine, prefix: str) -> None:
    """An exception in a gridpoints transaction undoes its savepoint; the host's own writes still commit."""
    SQLStore(sql_engine, table_prefix=prefix).close()
    notes = _host_notes(sql_engine, prefix)
    with sql_engine.connect() as conn:
        conn.begin()
        conn.execute(notes.insert().values(id=1, note="before"))
        embedded = SQLStore(conn, table_prefix=prefix)
        with pytest.raises(ZeroDivisionError), embedded.transaction("t") as txn:
            txn.append(chain(txn.head(), "t", 1), {}, [EventRecord("ev-1", "f" * 64, "{}")])
            _ = 1 / 0
        conn.execute(notes.insert().values(id=2, note="after"))
        conn.commit()
    with sql_engine.connect() as conn:
        assert conn.execute(select(notes.c.note).order_by(notes.c.id)).scalars().all() == ["before", "after"]
    fresh = SQLStore(sql_engine, table_prefix=prefix)
    assert fresh.head("t") == Anchor(0, GENESIS_HASH)
    assert fresh.find_event("t", "ev-1") is None


def test_embedded_store_never_commits(sql_engine: Engine, prefix: str) -> None:
    """Closing an embedded store leaves the host's transaction open and uncommitted."""
    SQLStore(sql_engine, table_prefix=prefix).close()
    with sql_engine.connect() as conn:
        conn.begin()
        embedded = SQLStore(conn, table_prefix=prefix)
        _write(embedded)
        embedded.close()
        assert conn.in_transaction()
        conn.rollback()
    assert SQLStore(sql_engine, table_prefix=prefix).head("t").seq == 0


# -- privacy ---------------------------------------------------------------------------------------


def test_pseudonymised_subject_leaves_no_trace(sql_engine: Engine, prefix: str) -> None:
    """With subject ids pseudonymised before the ledger, no column of any table holds the raw id."""
    raw = "resident-310115199001011234"
    pseudo = Pseudonymiser(b"k" * 32).subject(raw)
    store = SQLStore(sql_engine, table_prefix=prefix)
    key = CounterKey("subject", pseudo, "points:reward", "2024-05-01")
    with store.transaction("t", counters=[key], accounts=[spendable(pseudo)]) as txn:
        txn.append(chain(txn.head(), "t", 2, subject=pseudo), {key: 10},
                   [EventRecord("ev-1", "f" * 64, f'{{"trace":{{"subject":"{pseudo}"}}}}')])
    cells: list[str] = []
    metadata = MetaData()
    metadata.reflect(sql_engine, only=lambda name, _meta: name.startswith(prefix))
    with sql_engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                cells.extend(str(value) for value in row)
    assert len(metadata.sorted_tables) == 8
    assert not [cell for cell in cells if raw in cell]
    # Two entries (subject and credit account each), one balance, one counter, one event record.
    assert sum(pseudo in cell for cell in cells) == 2 * 2 + 1 + 1 + 1
    assert list(store.entries("t", subject=pseudo)) != []


def test_pseudonymiser_is_keyed_and_one_way() -> None:
    """Pseudonyms are stable per key, differ across keys, kinds and tenants, and hide key and raw id."""
    one, two = Pseudonymiser(b"a" * 32), Pseudonymiser(b"b" * 32)
    assert one.subject("alice") == one.subject("alice")
    assert one.subject("alice") != two.subject("alice")
    assert one.subject("alice") != one.household("alice")
    assert one.subject("alice").startswith("p:") and len(one.subject("alice")) == 66
    assert "aaaa" not in repr(one)
    master = b"m" * 32
    assert Pseudonymiser.for_tenant(master, "t1").subject("x") != Pseudonymiser.for_tenant(master, "t2").subject("x")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymiser(b"short")


# -- schema versions -------------------------------------------------------------------------------


def test_newer_schema_is_refused(sql_engine: Engine, prefix: str) -> None:
    """A schema written by a newer gridpoints raises IntegrityError on open and on upgrade."""
    store = SQLStore(sql_engine, table_prefix=prefix)
    version = build_tables(prefix).schema_version
    with sql_engine.begin() as conn:
        conn.execute(update(version).values(version=CURRENT_VERSION + 1))
    with pytest.raises(IntegrityError, match=f"version {CURRENT_VERSION + 1}"):
        SQLStore(sql_engine, table_prefix=prefix)
    with pytest.raises(IntegrityError):
        store.upgrade()


def test_upgrade_is_idempotent(store: SQLStore, sql_engine: Engine, prefix: str) -> None:
    """Upgrading a current schema again changes nothing and keeps the data."""
    _write(store, count=3)
    before = _tables(sql_engine, prefix)
    assert store.upgrade() == CURRENT_VERSION
    assert sql_module.upgrade(sql_engine, table_prefix=prefix) == CURRENT_VERSION
    assert _tables(sql_engine, prefix) == before
    assert len(before) == 8
    assert store.schema_version() == CURRENT_VERSION
    assert store.head("t").seq == 3


def test_upgrade_from_first_version(sql_engine: Engine, prefix: str) -> None:
    """A v1 schema is refused with auto_upgrade=False, then upgraded on open, gaining the triggers."""
    tables = build_tables(prefix)
    with sql_engine.begin() as conn:
        tables.schema_version.create(conn)
        MIGRATIONS[0][1](conn, tables)
        conn.execute(tables.schema_version.insert().values(id=1, version=1))
        conn.execute(tables.entries.insert(), [e.to_dict() for e in chain(Anchor(0, GENESIS_HASH), "t", 1)])
        conn.execute(update(tables.entries).values(reason="editable at v1"))
    with pytest.raises(StoreError, match="version 1"):
        SQLStore(sql_engine, table_prefix=prefix, auto_upgrade=False)
    store = SQLStore(sql_engine, table_prefix=prefix)
    assert store.schema_version() == CURRENT_VERSION
    with pytest.raises(DBAPIError, match="append-only"), sql_engine.begin() as conn:
        conn.execute(update(tables.entries).values(reason="editable at v2"))


def test_a_v2_ledger_upgrades_to_the_notices_outbox(sql_engine: Engine, prefix: str) -> None:
    """A ledger written at v2 gains the outbox on open, keeps its entries, and an engine writes notices to it."""
    import gridpoints

    tables = build_tables(prefix)
    with sql_engine.begin() as conn:
        tables.schema_version.create(conn)
        for _, step in MIGRATIONS[:2]:
            step(conn, tables)
        conn.execute(tables.schema_version.insert().values(id=1, version=2))
    policy = gridpoints.load_ruleset("ruleset: t\nversion: 1\nname: t\nrules:\n  - {id: p, on: patrol, points: 5}\n")
    event = {"type": "patrol", "subject": "li", "grid": "g1", "occurred_at": "2026-04-01T09:00:00+08:00"}
    with pytest.raises(StoreError, match="version 2"):
        SQLStore(sql_engine, table_prefix=prefix, auto_upgrade=False)
    store = SQLStore(sql_engine, table_prefix=prefix)
    assert store.schema_version() == CURRENT_VERSION == 5
    engine = gridpoints.Engine(policy, store, notify=True)
    engine.submit({**event, "id": "e1"})
    (notice,) = engine.notices()
    assert (notice.cursor, notice.kind, notice.points) == (1, "points_awarded", 5)
    store.close()


def test_fresh_database_with_auto_upgrade_off_is_refused(sql_engine: Engine, prefix: str) -> None:
    """auto_upgrade=False on an empty database raises instead of creating tables."""
    with pytest.raises(StoreError, match="version 0"):
        SQLStore(sql_engine, table_prefix=prefix, auto_upgrade=False)
    assert _tables(sql_engine, prefix) == set()


def test_table_prefix_must_be_an_identifier(sqlite_engine: Engine) -> None:
    """A prefix that is not a plain identifier is refused before any SQL is built from it."""
    with pytest.raises(ValueError, match="table_prefix"):
        SQLStore(sqlite_engine, table_prefix="x; DROP TABLE y; --")


# -- errors at the boundary ------------------------------------------------------------------------


def test_entry_of_another_tenant_is_refused(store: SQLStore) -> None:
    """Appending an entry sealed for another tenant raises IntegrityError."""
    with pytest.raises(IntegrityError, match="belongs to tenant 'other'"), store.transaction("t") as txn:
        txn.append(chain(txn.head(), "other", 1), {}, [])


def test_duplicate_event_id_asks_for_a_rerun(store: SQLStore) -> None:
    """An event id already in the table surfaces as SerializationFailure from the driver's error."""
    with pytest.raises(SerializationFailure) as raised, store.transaction("t") as txn:
        txn.append([], {}, [EventRecord("ev-1", "a" * 64, "{}")])
        txn.append([], {}, [EventRecord("ev-1", "a" * 64, "{}")])
    assert isinstance(raised.value.__cause__, DBAPIError)
    assert store.find_event("t", "ev-1") is None


def test_locked_sqlite_asks_for_a_rerun(tmp_path: Path) -> None:
    """A SQLite database locked by another writer past the busy timeout raises SerializationFailure."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    store = SQLStore(make_engine(url, connect_args={"timeout": 0.05}))
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SerializationFailure) as raised, store.transaction("t"):
            pass
        assert isinstance(raised.value.__cause__, OperationalError)
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_lock_wait_timeout_asks_for_a_rerun(
    request: pytest.FixtureRequest, server_urls: dict[str, str], prefix: str, backend: str
) -> None:
    """A writer that waits too long for the chain head's row lock gets SerializationFailure."""
    holder = request.getfixturevalue(f"{backend}_engine")
    SQLStore(holder, table_prefix=prefix).close()
    _write(SQLStore(holder, table_prefix=prefix))
    if backend == "postgresql":
        impatient = make_engine(server_urls[backend], connect_args={"options": "-c lock_timeout=200"})
    else:
        impatient = make_engine(server_urls[backend], connect_args={"init_command": "SET innodb_lock_wait_timeout = 1"})
    store = SQLStore(impatient, table_prefix=prefix)
    try:
        with (
            SQLStore(holder, table_prefix=prefix).transaction("t"),
            pytest.raises(SerializationFailure) as raised,
            store.transaction("t"),
        ):
            pass
        assert isinstance(raised.value.__cause__, DBAPIError)
    finally:
        impatient.dispose()


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test"])
def test_unreachable_server_is_store_unavailable(url: str) -> None:
    """Opening a store on a closed port raises StoreUnavailable (a ConnectionError) from the driver error."""
    with pytest.raises(StoreUnavailable) as raised:
        SQLStore(url)
    assert isinstance(raised.value, ConnectionError)
    assert isinstance(raised.value.__cause__, DBAPIError)


def _dbapi_error(orig: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig)


def _sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (psycopg.errors.SerializationFailure("could not serialize"), SerializationFailure),
        (psycopg.errors.DeadlockDetected("deadlock detected"), SerializationFailure),
        (psycopg.errors.LockNotAvailable("lock timeout"), SerializationFailure),
        (psycopg.errors.AdminShutdown("terminating connection"), StoreUnavailable),
        (psycopg.errors.ConnectionFailure("connection failure"), StoreUnavailable),
        (psycopg.errors.UndefinedTable("no such table"), StoreError),
        (pymysql.err.OperationalError(1213, "Deadlock found"), SerializationFailure),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), SerializationFailure),
        (pymysql.err.OperationalError(2013, "Lost connection"), StoreUnavailable),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), StoreError),
        (_sqlite_error("database is locked", 5), SerializationFailure),
        (_sqlite_error("database table is locked", 262), SerializationFailure),
        (_sqlite_error("disk I/O error", 10), StoreError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_driver_errors_are_classified(orig: BaseException, expected: type[StoreError]) -> None:
    """SQLSTATEs, MySQL error numbers and SQLite result codes map to retry, unavailable or plain StoreError."""
    assert classify(_dbapi_error(orig)) is expected


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a PostgreSQL store without psycopg raises MissingExtra naming the 'postgres' extra."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtra, match=r"pip install 'gridpoints\[postgres\]'") as raised:
        make_engine("postgresql://postgres@127.0.0.1/test")
    assert isinstance(raised.value, ImportError)


# -- finding the store -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://u@h/db", "mysql+pymysql://u@h/db"),
        ("mariadb://u@h/db", "mysql+pymysql://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///points.db", "sqlite:///points.db"),
    ],
)
def test_bare_schemes_get_gridpoints_drivers(url: str, expected: str) -> None:
    """Bare postgresql/mysql/mariadb URLs are pointed at psycopg 3 and PyMySQL; explicit drivers stay."""
    assert normalise_url(url) == expected


def test_declared_entry_points_open_stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each gridpoints.stores entry point in pyproject.toml resolves, and open_store uses it for SQLite."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["gridpoints.stores"]
    assert set(declared) == {"sqlite", "postgresql", "mysql", "mariadb"}
    points = [EntryPoint(name, value, "gridpoints.stores") for name, value in declared.items()]
    assert all(point.load() is sql_module.from_url for point in points)
    monkeypatch.setattr(gridpoints.storage, "entry_points", lambda group: points)
    store = open_store(f"sqlite:///{tmp_path / 'declared.db'}")
    assert isinstance(store, SQLStore)
    assert store.schema_version() == CURRENT_VERSION


def test_installed_entry_point_opens_sqlite(tmp_path: Path) -> None:
    """With gridpoints installed, open_store('sqlite:///…') finds the SQL store through package metadata."""
    try:
        distribution("gridpoints")
    except PackageNotFoundError:
        pytest.skip("gridpoints is not installed, so its entry points are not registered (pip install -e .)")
    assert "sqlite" in {ep.name for ep in entry_points(group="gridpoints.stores")}
    store = open_store(f"sqlite:///{tmp_path / 'installed.db'}")
    assert isinstance(store, SQLStore)
    with store.transaction("t") as txn:
        txn.append(chain(txn.head(), "t", 1), {}, [])
    store.close()
    reopened = open_store(f"sqlite:///{tmp_path / 'installed.db'}")
    assert reopened.head("t").seq == 1


def test_sqlite_writers_begin_immediate(tmp_path: Path) -> None:
    """A write transaction on a store-made SQLite engine holds the write lock from its first statement."""
    store = SQLStore(f"sqlite:///{tmp_path / 'immediate.db'}")
    _write(store)  # the head row exists now, so the transaction's first statement is a read
    other = sqlite3.connect(tmp_path / "immediate.db", timeout=0, isolation_level=None)
    try:
        with store.transaction("t"), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the transaction is over
        other.execute("ROLLBACK")
        assert other.execute(text("PRAGMA journal_mode").text).fetchone() == ("wal",)
    finally:
        other.close()
        store.close()


@pytest.mark.parametrize(("mariadb", "version", "spelling"), [
    (False, (8, 0, 36), "AS new ON DUPLICATE KEY UPDATE `value` = {p}counters.`value` + new.`value`"),
    (False, (8, 0, 19), "ON DUPLICATE KEY UPDATE `value` = {p}counters.`value` + VALUES(`value`)"),
    (True, (10, 11, 19), "ON DUPLICATE KEY UPDATE `value` = {p}counters.`value` + VALUES(`value`)"),
])
def test_mysql_bulk_writes_suit_the_server(mariadb: bool, version: tuple[int, ...], spelling: str) -> None:
    """MySQL from 8.0.20 names the inserted row by an alias (VALUES() is deprecated there), MariaDB and older
    MySQL by VALUES(); PyMySQL can fold every bulk write into multi-row statements either way."""
    dialect = mysql_pymysql.dialect()
    dialect.server_version_info, dialect.is_mariadb = version, mariadb
    statements = sql_module._statements("gp_", sql_module._flavour("mysql", dialect))
    assert statements["add_counters"].endswith(spelling.format(p="gp_"))
    for name in ("insert_entries", "insert_events", "add_counters", "add_balances"):
        assert pymysql.cursors.RE_INSERT_VALUES.match(statements[name]), name
