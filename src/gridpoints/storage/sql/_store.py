"""The SQL store: SQLite (the embedded default), PostgreSQL and MySQL/MariaDB on SQLAlchemy Core.

One code path serves all three. The statements a transaction runs are SQL text written once per backend
and table prefix and handed to the driver as they are (see *statements* below): PostgreSQL reads and
writes a batch's rows with one array-bound statement per operation, SQLite and MySQL/MariaDB with the
driver's ``executemany``.

Opening
    ``SQLStore("sqlite:///points.db")``, ``SQLStore("postgresql://user@host/db")`` (psycopg 3),
    ``SQLStore("mysql://root@host/db")`` (PyMySQL; ``mariadb://`` is the same), an :class:`~sqlalchemy.Engine`
    of the host's, or an open :class:`~sqlalchemy.Connection` (see *Embedding*). Tables are named
    ``{table_prefix}entries`` etc. The schema is created or upgraded on open unless ``auto_upgrade=False``;
    a schema newer than this code raises :class:`~gridpoints.errors.IntegrityError`.

Transactions and retries — the contract with the engine
    ``with store.transaction(tenant, counters=..., accounts=...) as tx:`` opens one database transaction
    and locks the tenant's chain-head row (``SELECT … FOR UPDATE``, creating the row for a new tenant). On
    SQLite the engine this module builds issues ``BEGIN IMMEDIATE`` instead, taking the database's single
    write lock. Every writer of a tenant takes that lock first and holds it to the end, so writers of one
    tenant run one after another, and the counters and balances they read cannot change underneath them:
    the named counters and accounts need no row locks of their own, and none are taken (an earlier version
    locked each in sorted key order as well, which cost two statements and a row write per key and
    protected nothing the head lock does not). At READ COMMITTED — PostgreSQL's default, and what
    :func:`make_engine` sets on MySQL/MariaDB — each read after the lock sees every earlier writer's commit.
    Appends are written as they are made, so the transaction's reads see them; the block's clean exit
    commits, an exception rolls back everything and propagates unchanged.

    The store never retries on its own: the work happens in the caller's block, which only the caller can
    redo. A deadlock, serialization conflict, lock wait timeout or "database is locked" — and an event id
    inserted concurrently by another writer — raises :class:`~gridpoints.errors.SerializationFailure`
    from the driver error, and the caller re-runs the whole block from the start, reading everything
    afresh; :class:`~gridpoints.Engine` does that a bounded number of times with jittered backoff.
    An unreachable or lost database raises :class:`~gridpoints.errors.StoreUnavailable`; every other driver
    error :class:`~gridpoints.errors.StoreError`. All are raised ``from`` the driver error.

Embedding
    With a host's Connection, gridpoints writes inside the host's transaction under a SAVEPOINT, so its
    failure rolls back only its own part, and never commits: the host does. Reads see what the host's
    transaction sees. Such a store is as thread-safe as the Connection (it is not). On MySQL/MariaDB a
    deadlock rolls back the host's whole transaction, so there the host must retry its own unit of work,
    and DDL commits implicitly, so create the schema beforehand with :func:`upgrade`. On SQLite the host's
    engine should come from :func:`make_engine`, whose explicit BEGIN makes savepoints nest properly.

Privacy
    The store keeps what it is given. Pseudonymise subject ids before they reach the ledger with
    :class:`gridpoints.privacy.Pseudonymiser` (see docs/privacy.md).
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from gridpoints.errors import (
    IntegrityError,
    MissingExtra,
    SerializationFailure,
    StoreError,
    StoreUnavailable,
    StoreUrlError,
)

try:
    import sqlalchemy as sa
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise MissingExtra("sql", "the SQL store (gridpoints.storage.sql._store)") from exc

from sqlalchemy import Connection, Dialect, Engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gridpoints.model import GENESIS_HASH, Anchor, CounterKey, Entry, EventRecord, Notice, RecordSeal, SealedHead
from gridpoints.storage._protocol import StoreCapabilities
from gridpoints.storage.sql import _migrations as _sql_migrations
from gridpoints.storage.sql._errors import map_error
from gridpoints.storage.sql._schema import (
    Family,
    Tables,
    build_tables,
    check_prefix,
    dialect_family,
    mysql_collation,
)

__all__ = ["DEFAULT_PREFIX", "SQLStore", "from_url", "make_engine", "normalise_url", "upgrade"]

DEFAULT_PREFIX = "gridpoints_"

_SCHEMES = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
_EXTRAS: dict[Family, str] = {"sqlite": "sql", "postgresql": "postgres", "mysql": "mysql"}
#: The schemes a SQL store URL may start with (a driver may follow: postgresql+psycopg://).
SQL_SCHEMES: Final = ("mariadb", "mysql", "postgresql", "sqlite")
# Execution option naming the BEGIN flavour the SQLite begin hook emits on a connection.
_SQLITE_BEGIN = "gridpoints_sqlite_begin"
# Keys per statement when a key list is turned into IN (...) or a json_each list; bounded by drivers' limits.
_CHUNK = 500
_PAGE = 1000

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Pick gridpoints' drivers for bare schemes: ``postgresql://`` → psycopg 3, ``mysql://`` and
    ``mariadb://`` → PyMySQL; other URLs pass through unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StoreUrlError(f"expected a database URL like 'sqlite:///points.db', got {url[:60]!r}",
                            schemes=SQL_SCHEMES)
    return f"{_SCHEMES.get(scheme.lower(), scheme)}://{rest}"


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine configured the way the SQL store needs it.

    SQLite gets the pysqlite recipe for real transactions (the driver's own BEGIN handling is switched off
    and an explicit one emitted: ``BEGIN IMMEDIATE`` for writes so writers queue at the start instead of
    failing at commit, a plain deferred BEGIN for reads) and WAL journaling so readers never wait for the
    writer. MySQL/MariaDB run at READ COMMITTED, which avoids InnoDB's gap locks on the keys gridpoints
    locks explicitly anyway. ``kwargs`` go to :func:`sqlalchemy.create_engine` and win over these defaults.

    ``read_only``: an engine that cannot write. SQLite opens the file with ``mode=ro`` (``immutable=1`` when
    the file is not writable, so SQLite does not even look for its journal), keeps its journal mode, and a
    missing file raises :class:`~gridpoints.errors.StoreError` naming it instead of creating it; PostgreSQL
    and MySQL/MariaDB sessions start read-only.
    """
    try:
        normalised = make_url(normalise_url(url))
    except sa.exc.ArgumentError as exc:
        raise StoreUrlError(f"not a database URL: {exc}", schemes=SQL_SCHEMES) from None
    family = dialect_family(normalised.get_backend_name())
    if read_only:
        return _read_only_engine(normalised, family, kwargs)
    options: dict[str, Any] = {}
    if family != "sqlite":
        options["pool_pre_ping"] = True
    if family == "mysql":
        options["isolation_level"] = "READ COMMITTED"
        if "charset" not in normalised.query:
            normalised = normalised.update_query_dict({"charset": "utf8mb4"})
    options.update(kwargs)
    try:
        engine = sa.create_engine(normalised, **options)
    except sa.exc.NoSuchModuleError as exc:  # an unknown driver: postgresql+nodriver://
        raise StoreUrlError(f"no database driver {normalised.drivername!r}", schemes=SQL_SCHEMES) from exc
    except ImportError as exc:
        raise MissingExtra(_EXTRAS[family], f"a {family} store") from exc
    except sa.exc.ArgumentError as exc:
        raise StoreUrlError(f"the database URL cannot be used: {exc}", schemes=SQL_SCHEMES) from None
    if family == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _read_only_engine(url: sa.URL, family: Family, kwargs: dict[str, Any]) -> Engine:
    if family == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreError(f"a read-only audit needs a SQLite file path, got {database or 'an in-memory database'!r}")
        path = Path(database)
        if not path.is_file():
            raise StoreError(f"{path}: no such SQLite file; create or upgrade a ledger there with "
                             f"'gridpoints db upgrade sqlite:///{database}'")
        flags = "mode=ro" if os.access(path, os.W_OK) else "mode=ro&immutable=1"
        target = f"{path.resolve().as_uri()}?{flags}"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(target, uri=True, check_same_thread=False)

        engine = sa.create_engine("sqlite://", creator=connect, **kwargs)
        event.listen(engine, "connect", _sqlite_connect_read_only)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True}
    if family == "postgresql":
        options["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    else:
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"init_command": "SET SESSION TRANSACTION READ ONLY"}
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
    options.update(kwargs)
    try:
        return sa.create_engine(url, **options)
    except ImportError as exc:
        raise MissingExtra(_EXTRAS[family], f"a {family} store") from exc


def _sqlite_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def from_url(url: str) -> SQLStore:
    """Entry-point factory for the ``gridpoints.stores`` group: a store on ``url``, schema upgraded."""
    return SQLStore(url)


def upgrade(bind: str | Engine | Connection, *, table_prefix: str = DEFAULT_PREFIX) -> int:
    """Create or upgrade the gridpoints schema behind ``bind`` and return its version (a deployment step)."""
    store = SQLStore(bind, table_prefix=table_prefix)
    try:
        return store.schema_version()
    finally:
        store.close()


@contextmanager
def _guard(doing: str) -> Iterator[None]:
    """Map driver errors raised inside the block to gridpoints errors, ``from`` the driver error."""
    try:
        yield
    except DBAPIError as exc:
        raise map_error(exc, doing) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"{doing} failed: {exc}") from exc


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _entry(row: Any) -> Entry:
    return Entry(
        int(row.seq), row.tenant, row.event_id, row.subject, row.debit, row.credit, int(row.amount),
        row.ruleset, row.rule, row.reason, row.occurred_at,
        None if row.reverses is None else int(row.reverses), row.prev_hash, row.hash,
    )


class _SQLTransaction:
    """A write transaction on one tenant; every method runs on the transaction's connection."""

    __slots__ = ("_conn", "_family", "_head", "_mac", "_records", "_sql", "_tables", "_tenant")

    def __init__(self, conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                 tables: Tables) -> None:
        self._tables = tables
        self._conn = conn
        self._sql = sql
        self._family = family
        self._tenant = tenant
        self._head = Anchor(0, GENESIS_HASH)
        self._records = Anchor(0, GENESIS_HASH)
        self._mac: str | None = None

    def _lock(self) -> None:
        """Lock the tenant's chain-head row (creating it first for a new tenant) and read the head."""
        conn, sql, tenant = self._conn, self._sql, self._tenant
        genesis = (tenant, 0, GENESIS_HASH)
        if self._family == "sqlite":
            # A host's engine may leave pysqlite beginning lazily, at the first write: make that the first
            # statement, so the write lock is held before anything is read.
            conn.exec_driver_sql(sql["insert_head"], genesis)
        row = conn.exec_driver_sql(sql["lock_head"], (tenant,)).one_or_none()
        if row is None:
            conn.exec_driver_sql(sql["insert_head"], genesis)
            row = conn.exec_driver_sql(sql["lock_head"], (tenant,)).one()
        self._head = Anchor(int(row[0]), row[1])
        self._records = Anchor(int(row[2]), row[3])

    def find_events(self, event_ids: Sequence[str]) -> Mapping[str, EventRecord]:
        with _guard("reading event records"):
            return _find_events(self._conn, self._sql, self._family, self._tenant, event_ids)

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        with _guard("reading counters"):
            return _read_counters(self._conn, self._sql, self._family, self._tenant, keys)

    def read_balances(self, accounts: Iterable[str]) -> dict[str, int]:
        with _guard("reading balances"):
            return _read_balances(self._conn, self._sql, self._family, self._tenant, accounts)

    def head(self) -> Anchor:
        return self._head

    def record_head(self) -> Anchor:
        return self._records

    def seal_head(self, mac: str) -> None:
        """Stage the MAC written with the head row when :meth:`append` moves it (a head moved without one is
        written with none, and an audit says so)."""
        self._mac = mac

    def append_notices(self, notices: Sequence[Notice]) -> None:
        """Number the notices after the tenant's last; safe because this transaction holds the head lock."""
        if not notices:
            return
        n = self._tables.notices
        last = self._conn.scalar(select(sa.func.max(n.c.cursor)).where(n.c.tenant == self._tenant)) or 0
        self._conn.execute(n.insert(), [{"tenant": self._tenant, "cursor": int(last) + i, "notice": notice.to_json()}
                                        for i, notice in enumerate(notices, start=1)])

    def append(
        self, entries: Sequence[Entry], counter_deltas: Mapping[CounterKey, int], events: Sequence[EventRecord]
    ) -> None:
        head = self._check_chain(entries)
        records = self._check_records(events)
        conn, sql, tenant, family = self._conn, self._sql, self._tenant, self._family
        if entries or records != self._records:
            with _guard("moving the chain head"):
                # The head moves first, guarded by the seq this transaction read, so a writer that slipped
                # in (possible only on a host's SQLite engine in the driver's legacy mode) means a re-run.
                moved = conn.exec_driver_sql(sql["move_head"], (head.seq, head.hash, records.seq, records.hash,
                                                                self._mac, tenant, self._head.seq,
                                                                self._records.seq))
                if moved.rowcount != 1:
                    raise SerializationFailure(f"tenant {tenant!r}: the chain head moved during the transaction")
        if entries:
            with _guard("appending ledger entries"):
                try:
                    _insert_entries(conn, sql, family, entries)
                except sa.exc.IntegrityError as exc:
                    raise IntegrityError(
                        f"tenant {tenant!r}: entries {entries[0].seq}..{entries[-1].seq} are already stored, "
                        f"but the chain head said {self._head}; the head row is out of step with the ledger"
                    ) from exc
                totals: dict[str, int] = {}
                for e in entries:
                    totals[e.credit] = totals.get(e.credit, 0) + e.amount
                    totals[e.debit] = totals.get(e.debit, 0) - e.amount
                moves = sorted((account, delta) for account, delta in totals.items() if delta)
                if moves:
                    _add_balances(conn, sql, family, tenant, moves)
        deltas = sorted((k, d) for k, d in counter_deltas.items() if d)
        if deltas:
            with _guard("adding to counters"):
                _add_counters(conn, sql, family, tenant, deltas)
        if events:
            with _guard("recording event ids"):
                try:
                    _insert_events(conn, sql, family, tenant, events)
                except sa.exc.IntegrityError as exc:
                    # Another writer recorded one of these ids first; re-running finds its record.
                    raise SerializationFailure(
                        f"tenant {tenant!r}: an event id among {[r.event_id for r in events][:5]} "
                        "was recorded concurrently"
                    ) from exc
        self._head = head
        self._records = records

    def _check_records(self, events: Sequence[EventRecord]) -> Anchor:
        """The records' head after the sealed records among ``events``, which must continue its chain."""
        head = self._records
        for record in events:
            seal = record.seal
            if seal is None:
                continue
            if seal.seq != head.seq + 1 or seal.prev_hash != head.hash:
                raise IntegrityError(
                    f"the record of event {record.event_id!r} (record {seal.seq}) does not continue the "
                    f"records' chain at {head.seq} (expected record {head.seq + 1} linked to {head.hash[:12]}…)"
                )
            head = Anchor(seal.seq, seal.hash)
        return head

    def _check_chain(self, entries: Sequence[Entry]) -> Anchor:
        head = self._head
        for entry in entries:
            if entry.tenant != self._tenant:
                raise IntegrityError(
                    f"entry {entry.seq} belongs to tenant {entry.tenant!r}, not {self._tenant!r}"
                )
            if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
                raise IntegrityError(
                    f"entry {entry.seq} does not continue the chain at {head.seq} "
                    f"(expected seq {head.seq + 1} linked to {head.hash[:12]}…)"
                )
            head = Anchor(entry.seq, entry.hash)
        return head


# -- statements -------------------------------------------------------------------------------------------
#
# Every statement a transaction runs is SQL text written once per backend and table prefix and handed to the
# driver as it is (``exec_driver_sql``): building and binding a compiled SQLAlchemy statement cost about as
# much per row as SQLite spends storing the row. PostgreSQL gets one statement per operation whatever the
# batch size: keys travel as arrays (bound in binary, so no quoting), and the statement text never changes,
# so the server prepares it once. SQLite and MySQL/MariaDB write a batch's rows with the driver's
# executemany (SQLite runs it in process, PyMySQL folds an INSERT into multi-row statements) and read keys
# in IN lists of `_CHUNK`. Keyed reads probe the primary key once per key — an IN list on one key column, a
# LATERAL subquery on PostgreSQL, a forced join order over json_each for SQLite's four-column counter keys:
# a read of 1,000 keys costs 1,000 index probes however large the table, where `= ANY(array)` on a prepared
# statement's generic plan, a hash join planned on stale statistics, or SQLite's row-value IN could each
# read every row of the tenant — a cost per event that grew with the ledger.

# How the statements are spelt. MySQL from 8.0.20 names the row being inserted by an alias in an upsert
# (VALUES() is deprecated there); MariaDB and older MySQL only know VALUES(). SQLAlchemy chooses the same way.
_Flavour = Literal["sqlite", "postgresql", "mysql", "mysql-alias"]

_ENTRY_COLUMNS = ("tenant", "seq", "event_id", "subject", "debit", "credit", "amount", "ruleset", "rule", "reason",
                 "occurred_at", "reverses", "prev_hash", "hash")
_BIGINT_COLUMNS = frozenset({"seq", "amount", "reverses", "entry_from"})
_EVENT_COLUMNS = ("tenant", "event_id", "fingerprint", "decision", "seq", "recorded_at", "actor", "attributes",
                  "deltas", "entry_from", "entry_hashes", "prev_hash", "hash")
_NO_SEAL = (None,) * 9
_COUNTER_KEY = ("scope", "scope_id", "metric", "window")
_entry_row = operator.attrgetter(*_ENTRY_COLUMNS)


def _flavour(family: Family, dialect: Dialect) -> _Flavour:
    if family != "mysql":
        return family
    version = dialect.server_version_info or ()
    return "mysql" if getattr(dialect, "is_mariadb", False) or version < (8, 0, 20) else "mysql-alias"


@functools.cache
def _statements(prefix: str, flavour: _Flavour) -> dict[str, str]:
    """The store's statements for a table prefix (a checked identifier, safe to splice) and a flavour.

    A read whose keys go into an IN list (SQLite's and MySQL's ``events`` and ``balances``, MySQL's
    ``counters``) has a ``{marks}`` slot for the list's placeholders: see :func:`_marks`.
    """
    p = check_prefix(prefix)
    q = "`" if flavour.startswith("mysql") else '"'
    mark = "?" if flavour == "sqlite" else "%s"

    def names(*columns: str) -> str:
        return ", ".join(f"{q}{column}{q}" for column in columns)

    def insert(table: str, *columns: str) -> str:
        return f"INSERT INTO {p}{table} ({names(*columns)}) VALUES ({', '.join([mark] * len(columns))})"

    head = {
        "lock_head": f"SELECT {names('seq', 'hash', 'records', 'record_hash')} FROM {p}chain_heads "
                     f"WHERE {q}tenant{q} = {mark}" + ("" if flavour == "sqlite" else " FOR UPDATE"),
        "move_head": f"UPDATE {p}chain_heads SET {q}seq{q} = {mark}, {q}hash{q} = {mark}, "
                     f"{q}records{q} = {mark}, {q}record_hash{q} = {mark}, {q}mac{q} = {mark} "
                     f"WHERE {q}tenant{q} = {mark} AND {q}seq{q} = {mark} AND {q}records{q} = {mark}",
    }
    insert_head = insert("chain_heads", "tenant", "seq", "hash")
    if flavour == "postgresql":
        return {**head, "insert_head": f"{insert_head} ON CONFLICT DO NOTHING", **_pg_bulk(p)}

    def add_to(table: str, keys: tuple[str, ...], column: str) -> str:
        """An upsert adding the row's ``column`` to the stored value."""
        sql, c = insert(table, "tenant", *keys, column), f"{q}{column}{q}"
        if flavour == "sqlite":
            return (f"{sql} ON CONFLICT ({names('tenant', *keys)}) "
                    f"DO UPDATE SET {c} = {p}{table}.{c} + excluded.{c}")
        if flavour == "mysql":
            return f"{sql} ON DUPLICATE KEY UPDATE {c} = {p}{table}.{c} + VALUES({c})"
        return f"{sql} AS new ON DUPLICATE KEY UPDATE {c} = {p}{table}.{c} + new.{c}"

    statements = {
        **head,
        # A self-assignment on MySQL rather than INSERT IGNORE, which would also hide truncation and other
        # errors.
        "insert_head": f"{insert_head} ON CONFLICT DO NOTHING" if flavour == "sqlite"
                       else f"{insert_head} ON DUPLICATE KEY UPDATE {q}seq{q} = {q}seq{q}",
        "events": f"SELECT {names('event_id', 'fingerprint', 'decision')} FROM {p}events "
                  f"WHERE {q}tenant{q} = {mark} AND {q}event_id{q} IN ({{marks}})",
        "balances": f"SELECT {names('account', 'balance')} FROM {p}balances "
                    f"WHERE {q}tenant{q} = {mark} AND {q}account{q} IN ({{marks}})",
        "counters": f"SELECT {names(*_COUNTER_KEY, 'value')} FROM {p}counters "
                    f"WHERE {q}tenant{q} = {mark} AND ({names(*_COUNTER_KEY)}) IN ({{marks}})",
        "insert_entries": insert("entries", *_ENTRY_COLUMNS),
        "add_balances": add_to("balances", ("account",), "balance"),
        "add_counters": add_to("counters", _COUNTER_KEY, "value"),
        "insert_events": insert("events", *_EVENT_COLUMNS),
    }
    if flavour == "sqlite":
        # CROSS JOIN keeps json_each outermost, so each key is one primary-key probe.
        statements["counters"] = (
            f'SELECT c.scope, c.scope_id, c.metric, c."window", c.value FROM json_each(?) AS k '
            f"CROSS JOIN {p}counters AS c ON c.tenant = ? AND c.scope = json_extract(k.value, '$[0]') "
            f"AND c.scope_id = json_extract(k.value, '$[1]') AND c.metric = json_extract(k.value, '$[2]') "
            f"AND c.\"window\" = json_extract(k.value, '$[3]')"
        )
    return statements


def _pg_bulk(p: str) -> dict[str, str]:
    """PostgreSQL's array-bound reads and writes."""
    columns = ", ".join(f'"{name}"' for name in _ENTRY_COLUMNS)
    arrays = ", ".join(f"%({name})b::{'bigint' if name in _BIGINT_COLUMNS else 'text'}[]"
                       for name in _ENTRY_COLUMNS if name != "tenant")
    return {
        "events": f"SELECT e.event_id, e.fingerprint, e.decision FROM unnest(%(ids)b::text[]) AS k(id) "
                  f"CROSS JOIN LATERAL (SELECT event_id, fingerprint, decision FROM {p}events "
                  f"WHERE tenant = %(tenant)s AND event_id = k.id LIMIT 1) AS e",
        "counters": f'SELECT k.scope, k.scope_id, k.metric, k.win, c.value '
                    f"FROM unnest(%(scopes)b::text[], %(scope_ids)b::text[], %(metrics)b::text[], "
                    f"%(windows)b::text[]) AS k(scope, scope_id, metric, win) "
                    f"CROSS JOIN LATERAL (SELECT value FROM {p}counters WHERE tenant = %(tenant)s "
                    f'AND scope = k.scope AND scope_id = k.scope_id AND metric = k.metric AND "window" = k.win '
                    f"LIMIT 1) AS c",
        "balances": f"SELECT k.account, b.balance FROM unnest(%(accounts)b::text[]) AS k(account) "
                    f"CROSS JOIN LATERAL (SELECT balance FROM {p}balances "
                    f"WHERE tenant = %(tenant)s AND account = k.account LIMIT 1) AS b",
        "insert_entries": f"INSERT INTO {p}entries ({columns}) SELECT %(tenant)s, * FROM unnest({arrays})",
        "add_balances": f"INSERT INTO {p}balances (tenant, account, balance) "
                        f"SELECT %(tenant)s, * FROM unnest(%(accounts)b::text[], %(deltas)b::bigint[]) "
                        f"ON CONFLICT (tenant, account) DO UPDATE SET balance = {p}balances.balance + "
                        f"EXCLUDED.balance",
        "add_counters": f'INSERT INTO {p}counters (tenant, scope, scope_id, metric, "window", value) '
                        f"SELECT %(tenant)s, * FROM unnest(%(scopes)b::text[], %(scope_ids)b::text[], "
                        f"%(metrics)b::text[], %(windows)b::text[], %(deltas)b::bigint[]) "
                        f'ON CONFLICT (tenant, scope, scope_id, metric, "window") '
                        f"DO UPDATE SET value = {p}counters.value + EXCLUDED.value",
        "insert_events": f"INSERT INTO {p}events ({', '.join(_EVENT_COLUMNS)}) SELECT %(tenant)s, * FROM unnest("
                         + ", ".join(f"%({name})b::{'bigint' if name in _BIGINT_COLUMNS else 'text'}[]"
                                     for name in _EVENT_COLUMNS[1:]) + ")",
    }


def _marks(family: Family, count: int, width: int = 1) -> str:
    """Placeholders for an IN list of ``count`` keys of ``width`` columns each."""
    mark = "?" if family == "sqlite" else "%s"
    key = mark if width == 1 else f"({', '.join([mark] * width)})"
    return ", ".join([key] * count)


def _key_arrays(keys: Iterable[CounterKey]) -> dict[str, list[str]]:
    scopes, scope_ids, metrics, windows = (list(column) for column in zip(*keys, strict=True))
    return {"scopes": scopes, "scope_ids": scope_ids, "metrics": metrics, "windows": windows}


def _find_events(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                 event_ids: Sequence[str]) -> dict[str, EventRecord]:
    wanted = list(dict.fromkeys(event_ids))
    found: dict[str, EventRecord] = {}
    if not wanted:
        return found
    if family == "postgresql":
        pages: Iterable[Any] = [conn.exec_driver_sql(sql["events"], {"tenant": tenant, "ids": wanted})]
    else:
        pages = (conn.exec_driver_sql(sql["events"].format(marks=_marks(family, len(chunk))), (tenant, *chunk))
                 for chunk in _chunks(wanted))
    for rows in pages:
        for event_id, fingerprint, decision in rows:
            found[event_id] = EventRecord(event_id, fingerprint, decision)
    return {i: found[i] for i in wanted if i in found}


def _read_counters(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                   keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
    result = dict.fromkeys(keys, 0)
    if not result:
        return result
    pages: Iterable[Any]
    if family == "postgresql":
        pages = [conn.exec_driver_sql(sql["counters"], {"tenant": tenant, **_key_arrays(result)})]
    elif family == "sqlite":
        pages = (conn.exec_driver_sql(sql["counters"], (json.dumps([list(k) for k in chunk]), tenant))
                 for chunk in _chunks(list(result)))
    else:
        pages = (conn.exec_driver_sql(sql["counters"].format(marks=_marks(family, len(chunk), len(_COUNTER_KEY))),
                                      (tenant, *itertools.chain.from_iterable(chunk)))
                 for chunk in _chunks(list(result)))
    for rows in pages:
        for scope, scope_id, metric, window, value in rows:
            result[CounterKey(scope, scope_id, metric, window)] = int(value)
    return result


def _read_balances(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                   accounts: Iterable[str]) -> dict[str, int]:
    result = dict.fromkeys(accounts, 0)
    if not result:
        return result
    if family == "postgresql":
        pages: Iterable[Any] = [conn.exec_driver_sql(sql["balances"], {"tenant": tenant, "accounts": list(result)})]
    else:
        pages = (conn.exec_driver_sql(sql["balances"].format(marks=_marks(family, len(chunk))), (tenant, *chunk))
                 for chunk in _chunks(list(result)))
    for rows in pages:
        for account, balance in rows:
            result[account] = int(balance)
    return result


def _insert_entries(conn: Connection, sql: Mapping[str, str], family: Family, entries: Sequence[Entry]) -> None:
    if family == "postgresql":
        params: dict[str, Any] = {"tenant": entries[0].tenant}
        for name in _ENTRY_COLUMNS[1:]:
            params[name] = [getattr(e, name) for e in entries]
        conn.exec_driver_sql(sql["insert_entries"], params)
        return
    conn.exec_driver_sql(sql["insert_entries"], list(map(_entry_row, entries)))


def _add_balances(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                  moves: Sequence[tuple[str, int]]) -> None:
    if family == "postgresql":
        conn.exec_driver_sql(sql["add_balances"], {
            "tenant": tenant, "accounts": [a for a, _ in moves], "deltas": [d for _, d in moves]})
        return
    conn.exec_driver_sql(sql["add_balances"], [(tenant, a, d) for a, d in moves])


def _add_counters(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                  deltas: Sequence[tuple[CounterKey, int]]) -> None:
    if family == "postgresql":
        conn.exec_driver_sql(sql["add_counters"], {
            "tenant": tenant, **_key_arrays(k for k, _ in deltas), "deltas": [d for _, d in deltas]})
        return
    conn.exec_driver_sql(sql["add_counters"], [(tenant, *k, d) for k, d in deltas])


def _insert_events(conn: Connection, sql: Mapping[str, str], family: Family, tenant: str,
                   events: Sequence[EventRecord]) -> None:
    rows = [(r.event_id, r.fingerprint, r.decision, *_seal_row(r.seal)) for r in events]
    if family == "postgresql":
        params: dict[str, Any] = {"tenant": tenant}
        for index, name in enumerate(_EVENT_COLUMNS[1:]):
            params[name] = [row[index] for row in rows]
        conn.exec_driver_sql(sql["insert_events"], params)
        return
    conn.exec_driver_sql(sql["insert_events"], [(tenant, *row) for row in rows])


def _seal_row(seal: RecordSeal | None) -> tuple[Any, ...]:
    if seal is None:
        return _NO_SEAL
    return (seal.seq, seal.recorded_at, seal.actor, seal.attributes, seal.deltas, seal.entry_from,
            seal.entry_hashes, seal.prev_hash, seal.hash)


def _record(row: Any) -> EventRecord:
    """A stored record with its seal, if it has one."""
    if row.seq is None:
        return EventRecord(row.event_id, row.fingerprint, row.decision)
    return EventRecord(row.event_id, row.fingerprint, row.decision, RecordSeal(
        int(row.seq), row.recorded_at, row.actor, row.attributes, row.deltas, int(row.entry_from),
        row.entry_hashes, row.prev_hash, row.hash))


class SQLStore:
    """A :class:`~gridpoints.storage.Store` on SQLite, PostgreSQL or MySQL/MariaDB (see the module docs).

    It seals records (:attr:`~gridpoints.storage.StoreCapabilities.seals_records`): each event record is
    kept with its :class:`~gridpoints.model.RecordSeal`, and the chain-head row carries the records' head.

    ``bind`` is a URL, an Engine or an open Connection. ``table_prefix`` namespaces the tables, so one
    database can hold several independent gridpoints schemas. With ``auto_upgrade=False`` a schema older
    than this code raises :class:`~gridpoints.errors.StoreError` instead of being upgraded. With
    ``read_only=True`` (a URL only; what ``gridpoints verify`` uses) the store never writes: SQLite is opened
    ``mode=ro`` (see :func:`make_engine`) and :meth:`transaction` and :meth:`upgrade` refuse.
    """

    #: Records, seals and fingerprints are persisted; the whole history is kept; notices have an outbox table;
    #: the head row carries a MAC.
    capabilities = StoreCapabilities(needs_fingerprints=True, persists_records=True, keeps_history=True,
                                     seals_records=True, keeps_notices=True, seals_head=True)

    def __init__(
        self,
        bind: str | Engine | Connection,
        *,
        table_prefix: str = DEFAULT_PREFIX,
        auto_upgrade: bool = True,
        read_only: bool = False,
    ) -> None:
        check_prefix(table_prefix)
        self._owns_engine = isinstance(bind, str)
        self._engine: Engine | None
        self._conn: Connection | None
        self._read_only = read_only
        if read_only and not isinstance(bind, str):
            raise TypeError("read_only=True needs a URL: the store opens its own read-only connections")
        if isinstance(bind, str):
            self._engine, self._conn = make_engine(bind, read_only=read_only), None
        elif isinstance(bind, Engine):
            self._engine, self._conn = bind, None
        elif isinstance(bind, Connection):
            self._engine, self._conn = None, bind
        else:
            raise TypeError(f"SQLStore needs a URL, an Engine or a Connection, got {type(bind).__name__}")
        dialect = (self._conn or self._require_engine()).dialect
        self._family = dialect_family(dialect.name)
        self._prefix = table_prefix
        with _guard("reading the schema version"), self._begin(write=False) as conn:
            collation = mysql_collation(
                is_mariadb=bool(getattr(conn.dialect, "is_mariadb", False)),
                server_version=conn.dialect.server_version_info,
            )
            self._tables = build_tables(table_prefix, collation=collation)
            self._sql = _statements(table_prefix, _flavour(self._family, conn.dialect))
            version = _sql_migrations.stored_version(conn, self._tables)
        _sql_migrations.check_not_newer(version, self._tables)
        if version < _sql_migrations.CURRENT_VERSION:
            if not auto_upgrade:
                raise StoreError(
                    f"the {table_prefix}* schema is at version {version}, this gridpoints needs "
                    f"{_sql_migrations.CURRENT_VERSION}: run 'gridpoints db upgrade URL' (or SQLStore.upgrade())"
                )
            self.upgrade()

    def __repr__(self) -> str:
        where = "<connection>" if self._engine is None else self._engine.url.render_as_string(hide_password=True)
        return f"SQLStore({where!r}, table_prefix={self._prefix!r})"

    def _require_engine(self) -> Engine:
        assert self._engine is not None
        return self._engine

    @contextmanager
    def _begin(self, *, write: bool) -> Iterator[Connection]:
        """A connection in a transaction: the store's own, or a savepoint in the host's for writes."""
        if self._conn is not None:
            if write:
                with self._conn.begin_nested():
                    yield self._conn
            else:
                yield self._conn
            return
        engine = self._require_engine()
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            where = engine.url.render_as_string(hide_password=True)
            raise StoreUnavailable(f"connecting to {where} failed: {exc.orig}") from exc
        with conn:
            if write and self._family == "sqlite":
                conn.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                yield conn

    def _writable(self, doing: str) -> None:
        if self._read_only:
            raise StoreError(f"{doing}: this store was opened read-only")

    def upgrade(self) -> int:
        """Apply pending schema migrations (idempotent) and return the schema version."""
        self._writable("upgrading the schema")
        with _guard("upgrading the schema"), self._begin(write=True) as conn:
            return _sql_migrations.upgrade(conn, self._tables)

    def schema_version(self) -> int:
        """The schema version stored in the database."""
        with _guard("reading the schema version"), self._begin(write=False) as conn:
            return _sql_migrations.stored_version(conn, self._tables)

    @contextmanager
    def transaction(
        self, tenant: str, *, counters: Iterable[CounterKey] = (), accounts: Iterable[str] = ()
    ) -> Iterator[_SQLTransaction]:
        """See the module docs: the tenant's head row is locked; ``counters`` and ``accounts`` need no locks
        of their own, because every writer of the tenant queues on that row first."""
        self._writable(f"a transaction on tenant {tenant!r}")
        with _guard(f"transaction on tenant {tenant!r}"), self._begin(write=True) as conn:
            txn = _SQLTransaction(conn, self._sql, self._family, tenant, self._tables)
            txn._lock()
            yield txn

    def balances(self, tenant: str, accounts: Iterable[str]) -> dict[str, int]:
        with _guard("reading balances"), self._begin(write=False) as conn:
            return _read_balances(conn, self._sql, self._family, tenant, accounts)

    def counters(self, tenant: str, keys: Iterable[CounterKey]) -> dict[CounterKey, int]:
        with _guard("reading counters"), self._begin(write=False) as conn:
            return _read_counters(conn, self._sql, self._family, tenant, keys)

    def entries(self, tenant: str, *, subject: str | None = None, after_seq: int = 0) -> Iterator[Entry]:
        """Committed entries in sequence order, fetched a page at a time so no connection waits on the caller."""
        e = self._tables.entries
        last = after_seq
        while True:
            query = select(e).where(e.c.tenant == tenant, e.c.seq > last)
            if subject is not None:
                query = query.where(e.c.subject == subject)
            with _guard("reading ledger entries"), self._begin(write=False) as conn:
                page = [_entry(row) for row in conn.execute(query.order_by(e.c.seq).limit(_PAGE))]
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1].seq

    def find_event(self, tenant: str, event_id: str) -> EventRecord | None:
        with _guard("reading an event record"), self._begin(write=False) as conn:
            return _find_events(conn, self._sql, self._family, tenant, [event_id]).get(event_id)

    def head(self, tenant: str) -> Anchor:
        h = self._tables.heads
        with _guard("reading the chain head"), self._begin(write=False) as conn:
            row = conn.execute(select(h.c.seq, h.c.hash).where(h.c.tenant == tenant)).one_or_none()
        return Anchor(0, GENESIS_HASH) if row is None else Anchor(int(row.seq), row.hash)

    def record_head(self, tenant: str) -> Anchor:
        h = self._tables.heads
        with _guard("reading the records' chain head"), self._begin(write=False) as conn:
            row = conn.execute(select(h.c.records, h.c.record_hash).where(h.c.tenant == tenant)).one_or_none()
        return Anchor(0, GENESIS_HASH) if row is None else Anchor(int(row.records), row.record_hash)

    def sealed_head(self, tenant: str) -> SealedHead:
        """Both committed heads and the head row's MAC, in one read."""
        h = self._tables.heads
        with _guard("reading the chain head"), self._begin(write=False) as conn:
            row = conn.execute(select(h.c.seq, h.c.hash, h.c.records, h.c.record_hash, h.c.mac)
                               .where(h.c.tenant == tenant)).one_or_none()
        if row is None:
            return SealedHead(Anchor(0, GENESIS_HASH), Anchor(0, GENESIS_HASH), None)
        return SealedHead(Anchor(int(row.seq), row.hash), Anchor(int(row.records), row.record_hash), row.mac)

    def records(self, tenant: str) -> Iterator[EventRecord]:
        """Every record with its seal: unsealed ones (by event id) first, then sealed ones in seal order,
        fetched a page at a time."""
        e = self._tables.events
        last: str | None = None
        while True:
            query = select(e).where(e.c.tenant == tenant, e.c.seq.is_(None))
            if last is not None:
                query = query.where(e.c.event_id > last)
            with _guard("reading event records"), self._begin(write=False) as conn:
                page = [_record(row) for row in conn.execute(query.order_by(e.c.event_id).limit(_PAGE))]
            yield from page
            if len(page) < _PAGE:
                break
            last = page[-1].event_id
        after = 0
        while True:
            query = select(e).where(e.c.tenant == tenant, e.c.seq > after)
            with _guard("reading event records"), self._begin(write=False) as conn:
                page = [_record(row) for row in conn.execute(query.order_by(e.c.seq).limit(_PAGE))]
            yield from page
            if len(page) < _PAGE:
                return
            seal = page[-1].seal
            assert seal is not None
            after = seal.seq

    def notices(self, tenant: str, *, after: int = 0, limit: int | None = None) -> list[Notice]:
        n = self._tables.notices
        query = select(n.c.cursor, n.c.notice).where(n.c.tenant == tenant, n.c.cursor > after).order_by(n.c.cursor)
        if limit is not None:
            query = query.limit(limit)
        with _guard("reading notices"), self._begin(write=False) as conn:
            return [Notice.from_json(text, int(cursor)) for cursor, text in conn.execute(query)]

    def acknowledge(self, tenant: str, cursor: int) -> int:
        a, n = self._tables.notice_acks, self._tables.notices
        with _guard(f"acknowledging notices of tenant {tenant!r}"), self._begin(write=True) as conn:
            last = int(conn.scalar(select(sa.func.max(n.c.cursor)).where(n.c.tenant == tenant)) or 0)
            wanted = min(cursor, last)
            current = conn.scalar(select(a.c.cursor).where(a.c.tenant == tenant))
            if current is None:
                if wanted <= 0:
                    return 0
                conn.execute(a.insert().values(tenant=tenant, cursor=wanted))
                return wanted
            # The guard on the old value keeps the cursor monotonic whatever runs beside this.
            conn.execute(sa.update(a).where(a.c.tenant == tenant, a.c.cursor < wanted).values(cursor=wanted))
            return int(conn.scalar(select(a.c.cursor).where(a.c.tenant == tenant)) or 0)

    def acknowledged(self, tenant: str) -> int:
        a = self._tables.notice_acks
        with _guard("reading the acknowledged notice cursor"), self._begin(write=False) as conn:
            return int(conn.scalar(select(a.c.cursor).where(a.c.tenant == tenant)) or 0)

    def close(self) -> None:
        """Dispose of the engine if the store created it; a host's Engine or Connection is left open."""
        if self._owns_engine:
            self._require_engine().dispose()
