"""Versioned migrations of the SQL store's schema.

:data:`MIGRATIONS` lists ``(version, step)`` in order; the schema's version lives in the one-row
``{prefix}schema_version`` table. :func:`upgrade` applies every step above the stored version under a
database-wide lock, so two processes starting together do not both create tables. Each step is safe to
re-run: MySQL and MariaDB commit after every DDL statement, so a step interrupted there is left half done
and must be able to finish on the next attempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Table, inspect, select, update

from gridpoints.errors import IntegrityError, StoreError
from gridpoints.storage.sql._schema import Tables, dialect_family

Migration = Callable[[Connection, Tables], None]

_APPEND_ONLY = "gridpoints ledger entries are append-only"


def _create_tables(conn: Connection, tables: Tables) -> None:
    """v1: entries, balances, counters, events, chain heads."""
    wanted = [tables.entries, tables.balances, tables.counters, tables.events, tables.heads]
    tables.metadata.create_all(conn, tables=wanted, checkfirst=True)


def _append_only_triggers(conn: Connection, tables: Tables) -> None:
    """v2: reject UPDATE and DELETE of ledger entries inside the database, whoever connects."""
    entries = tables.entries.name
    family = dialect_family(conn.dialect.name)
    if family == "postgresql":
        function = f"{tables.prefix}entries_append_only"
        conn.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}' USING ERRCODE = 'restrict_violation'; END $$"
        )
        for name, timing in (("row", "UPDATE OR DELETE ON {t} FOR EACH ROW"),
                             ("truncate", "TRUNCATE ON {t} FOR EACH STATEMENT")):
            trigger = f"{tables.prefix}entries_no_{name}"
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {entries}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {trigger} BEFORE {timing.format(t=entries)} EXECUTE FUNCTION {function}()"
            )
        return
    for op in ("UPDATE", "DELETE"):
        trigger = f"{tables.prefix}entries_no_{op.lower()}"
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        if family == "mysql":
            body = f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_APPEND_ONLY}'"
        else:
            body = f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        conn.exec_driver_sql(f"CREATE TRIGGER {trigger} BEFORE {op} ON {entries} FOR EACH ROW {body}")


_SEALED_EVENT_COLUMNS = ("seq", "recorded_at", "actor", "attributes", "deltas", "entry_from", "entry_hashes",
                         "prev_hash", "hash")
_HEAD_COLUMNS = ("records", "record_hash")


def _seal_records(conn: Connection, tables: Tables) -> None:
    """v3: event records sealed into the chain, and every ledger table protected inside the database.

    Adds the record's seal columns and the records' chain head (existing records stay unsealed, and an audit
    says so); makes event records append-only like entries (no UPDATE or DELETE); forbids DELETE on
    balances, counters and chain heads, which gridpoints only ever inserts and adds to; and on PostgreSQL
    forbids TRUNCATE of every one of them. MySQL and MariaDB have no TRUNCATE trigger: there an audit
    catches a truncated table by the chain heads' lengths (see :mod:`gridpoints.audit`).
    """
    _add_columns(conn, tables.events, _SEALED_EVENT_COLUMNS)
    _add_columns(conn, tables.heads, _HEAD_COLUMNS)
    indexes = {index["name"] for index in inspect(conn).get_indexes(tables.events.name)}
    for index in tables.events.indexes:
        if index.name not in indexes:
            index.create(conn)
    _protect(conn, tables, tables.events, ("UPDATE", "DELETE"))
    for table in (tables.balances, tables.counters, tables.heads):
        _protect(conn, tables, table, ("DELETE",))


def _add_columns(conn: Connection, table: Table, names: tuple[str, ...]) -> None:
    """Add the table's columns ``names`` that the database does not have yet (safe to re-run)."""
    have = {column["name"] for column in inspect(conn).get_columns(table.name)}
    for name in names:
        if name in have:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        default = "" if column.server_default is None else f" DEFAULT '{column.server_default.arg}'"  # type: ignore[attr-defined]
        null = " NULL" if column.nullable else " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {_quote(conn, name)} {kind}{default}{null}")


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _protect(conn: Connection, tables: Tables, table: Table, ops: tuple[str, ...]) -> None:
    """Triggers rejecting ``ops`` on ``table`` (and TRUNCATE on PostgreSQL), named after the table."""
    family = dialect_family(conn.dialect.name)
    stem = table.name
    message = f"gridpoints ledger table {stem} is append-only"
    if family == "postgresql":
        function = f"{stem}_append_only"
        conn.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; END $$"
        )
        for name, timing in (("row", f"{' OR '.join(ops)} ON {stem} FOR EACH ROW"),
                             ("truncate", f"TRUNCATE ON {stem} FOR EACH STATEMENT")):
            trigger = f"{stem}_no_{name}"
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {stem}")
            conn.exec_driver_sql(f"CREATE TRIGGER {trigger} BEFORE {timing} EXECUTE FUNCTION {function}()")
        return
    for op in ops:
        trigger = f"{stem}_no_{op.lower()}"
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        if family == "mysql":
            body = f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
        else:
            body = f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        conn.exec_driver_sql(f"CREATE TRIGGER {trigger} BEFORE {op} ON {stem} FOR EACH ROW {body}")


def _notices_outbox(conn: Connection, tables: Tables) -> None:
    """v4: the notices outbox and each tenant's acknowledged cursor."""
    tables.metadata.create_all(conn, tables=[tables.notices, tables.notice_acks], checkfirst=True)


def _seal_heads(conn: Connection, tables: Tables) -> None:
    """v5: the chain-head row's MAC over both heads. Existing rows get theirs at their tenant's next write
    (the key is the host's, never the database's); until then an audit says the head is unsealed."""
    _add_columns(conn, tables.heads, ("mac",))


MIGRATIONS: tuple[tuple[int, Migration], ...] = (
    (1, _create_tables),
    (2, _append_only_triggers),
    (3, _seal_records),
    (4, _notices_outbox),
    (5, _seal_heads),
)

#: The schema version this code reads and writes.
CURRENT_VERSION = MIGRATIONS[-1][0]


def stored_version(conn: Connection, tables: Tables) -> int:
    """The schema version recorded in the database; 0 when gridpoints was never installed there."""
    if not inspect(conn).has_table(tables.schema_version.name):
        return 0
    version = conn.scalar(select(tables.schema_version.c.version).where(tables.schema_version.c.id == 1))
    return int(version) if version is not None else 0


def check_not_newer(version: int, tables: Tables) -> None:
    """Refuse a schema written by a newer gridpoints: this code would misread or corrupt it."""
    if version > CURRENT_VERSION:
        raise IntegrityError(
            f"the {tables.prefix}* schema is at version {version} but this gridpoints understands up to "
            f"{CURRENT_VERSION}; upgrade gridpoints"
        )


def upgrade(conn: Connection, tables: Tables) -> int:
    """Apply pending migrations on ``conn`` (inside its transaction) and return the resulting version."""
    with _upgrade_lock(conn, tables.prefix):
        tables.schema_version.create(conn, checkfirst=True)
        version = stored_version(conn, tables)
        check_not_newer(version, tables)
        for target, step in MIGRATIONS:
            if target <= version:
                continue
            step(conn, tables)
            if version == 0:
                conn.execute(tables.schema_version.insert().values(id=1, version=target))
            else:
                conn.execute(
                    update(tables.schema_version).where(tables.schema_version.c.id == 1).values(version=target)
                )
            version = target
        return version


@contextmanager
def _upgrade_lock(conn: Connection, prefix: str) -> Iterator[None]:
    # SQLite needs nothing: the upgrade's first write takes the database's single write lock.
    family = dialect_family(conn.dialect.name)
    name = f"gridpoints:{prefix}:upgrade"
    if family == "postgresql":
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key})
        yield
    elif family == "mysql":
        # GET_LOCK is held by the session, not the transaction, because DDL there commits implicitly.
        got = conn.exec_driver_sql("SELECT GET_LOCK(%(name)s, 60)", {"name": name}).scalar()
        if got != 1:
            raise StoreError(f"could not take the schema upgrade lock {name!r} within 60 s")
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT RELEASE_LOCK(%(name)s)", {"name": name})
    else:
        yield
