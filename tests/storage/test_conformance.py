"""The shipped store conformance suite, run against every store gridpoints ships and every SQL backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy

from gridpoints.storage import MemoryStore, Store
from gridpoints.storage._live import LiveStore
from gridpoints.storage.sql._store import SQLStore
from gridpoints.testing.storage_suite import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()


class TestLiveStore(StoreConformance):
    """The replay store: until its first prune it keeps everything, so the whole suite applies."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = LiveStore()
        yield store
        store.close()


class _OnEngine(StoreConformance):
    backend = ""

    @pytest.fixture
    def store(self, request: pytest.FixtureRequest, stem: str) -> Iterator[Store]:
        store = SQLStore(request.getfixturevalue(f"{self.backend}_engine"), table_prefix=f"{stem}cf_")
        yield store
        store.close()


class _OnHostConnection(StoreConformance):
    """The store writing under savepoints inside a host's transaction, rolled back after each test."""

    backend = ""
    concurrent = False

    @pytest.fixture
    def store(self, request: pytest.FixtureRequest, stem: str) -> Iterator[Store]:
        engine = request.getfixturevalue(f"{self.backend}_engine")
        SQLStore(engine, table_prefix=f"{stem}cf_").close()  # schema first: DDL would end a MySQL transaction
        with engine.connect() as conn:
            conn.begin()
            store = SQLStore(conn, table_prefix=f"{stem}cf_")
            yield store
            store.close()
            conn.rollback()


class TestSQLiteStore(_OnEngine):
    backend = "sqlite"


class TestPostgreSQLStore(_OnEngine):
    backend = "postgresql"


class TestMariaDBStore(_OnEngine):
    backend = "mysql"


class TestSQLiteStoreOnPlainEngine(StoreConformance):
    """A host's own SQLite engine, without make_engine's explicit BEGIN: pysqlite begins at the first write."""

    @pytest.fixture
    def store(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
        path = tmp_path_factory.mktemp("plain") / "host.db"
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        store = SQLStore(engine, table_prefix="host_")
        yield store
        store.close()
        engine.dispose()


class TestSQLiteStoreInHostTransaction(_OnHostConnection):
    backend = "sqlite"


class TestPostgreSQLStoreInHostTransaction(_OnHostConnection):
    backend = "postgresql"


class TestMariaDBStoreInHostTransaction(_OnHostConnection):
    backend = "mysql"
