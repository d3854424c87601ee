"""The shipped store conformance suite, run against every store gridpoints ships and every SQL backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy

from gridpoints.storage import MemoryStore, Store, open_store
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

    @pytest.fixture
    def reopen(self, request: pytest.FixtureRequest, stem: str) -> Callable[[], Store]:
        """Another store on the same database and tables (the engine is the host's, so close leaves it)."""
        engine = request.getfixturevalue(f"{self.backend}_engine")
        return lambda: SQLStore(engine, table_prefix=f"{stem}cf_")


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


class TestSQLiteStoreByURL(StoreConformance):
    """A store opened by URL owns its engine: close() disposes of it, and reopening the file sees the data."""

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'ledger.db'}"

    @pytest.fixture
    def store(self, url: str) -> Iterator[Store]:
        store = open_store(url)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, url: str) -> Callable[[], Store]:
        return lambda: open_store(url)


class TestSQLiteStoreInHostTransaction(_OnHostConnection):
    backend = "sqlite"


class TestPostgreSQLStoreInHostTransaction(_OnHostConnection):
    backend = "postgresql"


class TestMariaDBStoreInHostTransaction(_OnHostConnection):
    backend = "mysql"
