"""Driver errors → gridpoints errors, decided by SQLSTATE, MySQL error number or SQLite result code.

Only three outcomes matter to a caller: try the whole unit of work again (:class:`SerializationFailure`),
the database is out of reach (:class:`StoreUnavailable`), or something else broke (:class:`StoreError`).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from gridpoints.errors import SerializationFailure, StoreError, StoreUnavailable

# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available (lock_timeout expired, the
# counterpart of MySQL's lock wait timeout).
_PG_RETRY = frozenset({"40001", "40P01", "55P03"})
# PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now (class 08 is handled as a class).
_PG_GONE = frozenset({"57P01", "57P02", "57P03"})
# MySQL/MariaDB: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
_MYSQL_RETRY = frozenset({1213, 1205})
# MySQL/MariaDB client: can't connect (socket, TCP), server gone away, lost connection, lost at handshake.
_MYSQL_GONE = frozenset({2002, 2003, 2006, 2013, 2055})
# SQLite primary result codes: SQLITE_BUSY ("database is locked"), SQLITE_LOCKED.
_SQLITE_RETRY = frozenset({5, 6})


def classify(exc: DBAPIError) -> type[StoreError]:
    """The gridpoints error class a driver error stands for."""
    if exc.connection_invalidated:
        return StoreUnavailable
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_RETRY:
            return SerializationFailure
        if sqlstate.startswith("08") or sqlstate in _PG_GONE:
            return StoreUnavailable
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        # Extended codes carry the primary code in their low byte.
        return SerializationFailure if sqlite_code & 0xFF in _SQLITE_RETRY else StoreError
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        if args[0] in _MYSQL_RETRY:
            return SerializationFailure
        if args[0] in _MYSQL_GONE:
            return StoreUnavailable
    return StoreError


def map_error(exc: DBAPIError, doing: str) -> StoreError:
    """A gridpoints error for ``exc``, saying what the store was doing; raise it ``from exc``."""
    kind = classify(exc)
    return kind(f"{doing} failed: {type(exc.orig).__name__}: {exc.orig}")
