"""Databases for the storage tests: a temporary SQLite file, and PostgreSQL and MariaDB on localhost.

Every table a test session creates starts with one random stem and is dropped when the session ends, so
runs never collide. An unreachable server skips its tests with the URL in the reason — except in CI
(``CI=true``), where it fails them: there a missing database is a broken build, not an option.
Override the URLs with ``GRIDPOINTS_TEST_POSTGRES_URL`` and ``GRIDPOINTS_TEST_MYSQL_URL``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports it: the suite lives in the package, where pytest would not rewrite its asserts.
pytest.register_assert_rewrite("gridpoints.testing.storage_suite")

from sqlalchemy import Engine, MetaData  # noqa: E402 - after the rewrite registration on purpose
from sqlalchemy.exc import DBAPIError  # noqa: E402

from gridpoints.storage.sql._store import make_engine  # noqa: E402

POSTGRES_URL = os.environ.get("GRIDPOINTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("GRIDPOINTS_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgresql", "mysql")

_serial = itertools.count(1)


@pytest.fixture(scope="session")
def stem() -> str:
    """The table-name stem shared by every schema this session creates."""
    return f"gpt{uuid.uuid4().hex[:8]}_"


@pytest.fixture
def prefix(stem: str) -> str:
    """A table prefix no other test uses: a schema of the test's own."""
    return f"{stem}t{next(_serial)}_"


def _server(url: str) -> Engine:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        engine.dispose()
        message = f"database at {url} is unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return engine


def _drop_schemas(engine: Engine, stem: str) -> None:
    metadata = MetaData()
    metadata.reflect(engine, only=lambda name, _meta: name.startswith(stem))
    metadata.drop_all(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            functions = conn.exec_driver_sql("SELECT proname FROM pg_proc").scalars().all()
            for name in functions:
                if name.startswith(stem):
                    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}() CASCADE")


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "gridpoints.db"
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine(stem: str) -> Iterator[Engine]:
    engine = _server(POSTGRES_URL)
    yield engine
    _drop_schemas(engine, stem)
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_engine(stem: str) -> Iterator[Engine]:
    engine = _server(MYSQL_URL)
    yield engine
    _drop_schemas(engine, stem)
    engine.dispose()


@pytest.fixture(scope="session")
def server_urls() -> dict[str, str]:
    """The URLs of the database servers, by backend."""
    return {"postgresql": POSTGRES_URL, "mysql": MYSQL_URL}


@pytest.fixture(params=BACKENDS)
def sql_engine(request: pytest.FixtureRequest) -> Engine:
    """Each SQL backend in turn."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine
