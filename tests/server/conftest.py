"""The service under uvicorn in a subprocess on 127.0.0.1, on SQLite and on PostgreSQL (see _service.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from _service import Service, drop_tables, postgres_or_skip, start_service, stop_service


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``gridpoints serve`` on each backend, shared by a module's tests (each uses its own ids)."""
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "sqlite":
        running = start_service(tmp, f"sqlite:///{tmp / 'service.db'}")
        yield running
        stop_service(running)
        return
    url = postgres_or_skip()
    prefix = f"gps{uuid.uuid4().hex[:8]}_"
    running = start_service(tmp, url, table_prefix=prefix, backend="postgresql")
    try:
        yield running
    finally:
        stop_service(running)
        drop_tables(url, prefix)
