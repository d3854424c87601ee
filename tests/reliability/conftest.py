"""Fixtures for the reliability tests: database URLs, scaled counts, and the figures each test reports.

The servers are those of tests/storage (its conftest is loaded for its URLs and its reachability check):
an unreachable server skips its tests, except in CI (``CI=true``), where it fails them.

Counts are sized so the whole directory runs in a couple of minutes. ``GRIDPOINTS_RELIABILITY_SCALE=1``
runs the issue's full counts (10,000 idempotent replays, 1,000 killed commits …); any other number scales
the full counts by it. Every test records (test, backend, operations, violations, seconds, details): they
are printed at the end of the run and appended, one JSON object a line, to the file named by
``GRIDPOINTS_RELIABILITY_RESULTS`` (default ``gridpoints-reliability.jsonl`` in the temp directory);
``python tests/reliability/_results.py FILE`` renders them as the table in docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _reliability import SCALE_ENV, Record
from sqlalchemy import Engine

RESULTS_ENV = "GRIDPOINTS_RELIABILITY_RESULTS"
SERVERS = ("postgresql", "mysql")
_figures: list[dict[str, Any]] = []


def storage_conftest() -> ModuleType:
    """tests/storage/conftest.py, loaded once under a name of its own."""
    name = "gridpoints_tests_storage_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "storage" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or Path(tempfile.gettempdir()) / "gridpoints-reliability.jsonl")


@pytest.fixture(scope="session")
def stem() -> str:
    """The table-name stem of every schema this session creates (dropped at the end)."""
    return f"gpr{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="session")
def servers(stem: str) -> Iterator[dict[str, Engine]]:
    """Engines on the database servers checked so far, by backend; their schemas are dropped at the end."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        storage_conftest()._drop_schemas(engine, stem)
        engine.dispose()


@pytest.fixture(scope="session")
def make_database(servers: dict[str, Engine], stem: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[str, str]]:
    """``make_database(backend)`` → (URL, table prefix) of a fresh schema: ``memory:``, a new SQLite file,
    or a new prefix on the PostgreSQL or MariaDB server (checked on first use: skip, or fail in CI)."""

    def make(backend: str) -> tuple[str, str]:
        prefix = f"{stem}{uuid.uuid4().hex[:6]}_"
        if backend == "memory":
            return "memory:", prefix
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'reliability.db'}", prefix
        conftest = storage_conftest()
        url = conftest.POSTGRES_URL if backend == "postgresql" else conftest.MYSQL_URL
        if backend not in servers:
            servers[backend] = conftest._server(url)
        return url, prefix

    return make


@pytest.fixture
def database(request: pytest.FixtureRequest, make_database: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
    """A fresh schema on the backend the test is parametrised with (``backend``)."""
    return make_database(request.getfixturevalue("backend"))


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Record]:
    """``record(label=…, operations=…, violations=…, [seconds=…,] **details)``: print and keep the test's
    figures under ``label`` (timed from the fixture's start unless ``seconds`` is given)."""
    began = time.monotonic()

    def keep(*, label: str, operations: int, violations: int, seconds: float | None = None,
             **details: Any) -> None:
        name = label
        backend = request.node.callspec.params.get("backend", "-") if hasattr(request.node, "callspec") else "-"
        took = time.monotonic() - began if seconds is None else seconds
        row = {"test": name, "backend": backend, "operations": operations, "violations": violations,
               "seconds": round(took, 2), "scale": os.environ.get(SCALE_ENV) or "default",
               "details": details}
        print(f"[reliability] {json.dumps(row, ensure_ascii=False)}")
        _figures.append(row)
        with results_path().open("a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")

    yield keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _figures:
        return
    terminalreporter.section("reliability figures")
    for row in _figures:
        terminalreporter.write_line(
            f"{row['test']:<18} {row['backend']:<11} operations {row['operations']:>7}  "
            f"violations {row['violations']:>3}  {row['seconds']:>7.2f} s  {row['details']}"
        )
    terminalreporter.write_line(f"(appended to {results_path()})")
