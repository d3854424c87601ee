"""Helpers of the service tests: ``gridpoints serve`` under uvicorn in a subprocess on 127.0.0.1.

``gridpoints serve`` runs as a host would run it (a keys file of digests, JSON logs on stderr), on a port
the OS picks (read back from uvicorn's log line). PostgreSQL is at ``GRIDPOINTS_TEST_POSTGRES_URL``
(default 127.0.0.1:5432, db ``test``); an unreachable server skips its tests with the URL in the reason,
except under ``CI=true``, where it fails them. Each run's tables have their own prefix, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError

from gridpoints import Engine, load_ruleset
from gridpoints.server import hash_token, open_store
from gridpoints.storage.sql import make_engine

HERE = Path(__file__).resolve().parent
RULESET = HERE / "ruleset.yaml"
POSTGRES_URL = os.environ.get("GRIDPOINTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TENANT, OTHER = "t1", "t2"
#: The clear tokens the tests present; the service is given only their digests.
TOKENS = {"platform": "tok-platform", "staff": "tok-staff", "auditor": "tok-auditor", "resident": "tok-resident",
          "other-tenant": "tok-other"}
RESIDENT = "r-1"
#: The registered staff member who corrects and adjusts (the engine checks the actor's role and household).
STAFF_MEMBER = "w-1"
MEMBERS = [{"subject": STAFF_MEMBER, "grid": "g01", "household": "hw-1", "roles": ["staff", "grid_worker"],
            "since": "2026-01-01T00:00:00+08:00"}]
KEYS = [
    {"name": "platform", "sha256": hash_token(TOKENS["platform"]), "tenant": TENANT, "roles": ["platform"]},
    {"name": "staff", "sha256": hash_token(TOKENS["staff"]), "tenant": TENANT, "roles": ["staff"]},
    {"name": "auditor", "sha256": hash_token(TOKENS["auditor"]), "tenant": TENANT, "roles": ["auditor"]},
    {"name": "resident", "sha256": hash_token(TOKENS["resident"]), "tenant": TENANT, "roles": ["resident"],
     "subject": RESIDENT},
    {"name": "other-tenant", "sha256": hash_token(TOKENS["other-tenant"]), "tenant": OTHER,
     "roles": ["platform", "staff", "auditor"]},
]
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class Service:
    """A running ``gridpoints serve``: its base URL, its log file, and a client per role."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path, backend: str, store: str,
                 table_prefix: str | None) -> None:
        self.process = process
        self.store = store
        self.table_prefix = table_prefix
        self.base = base
        self.log = log
        self.backend = backend
        self.http = httpx.Client(base_url=base, timeout=60)

    def call(self, method: str, path: str, role: str | None = "platform", **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        if role is not None:
            headers["Authorization"] = f"Bearer {TOKENS[role]}"
        return self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]

    def log_lines(self) -> list[dict[str, object]]:
        """The service log's complete JSON lines: a last line the server is still writing (no newline yet) is
        left for the next read."""
        text = self.log.read_text(encoding="utf-8")
        lines = []
        for raw in text[:text.rfind("\n") + 1].splitlines():
            raw = raw.strip()
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines


def start_service(tmp: Path, store: str, *, table_prefix: str | None = None, workers: int = 1,
                  extra_env: dict[str, str] | None = None, backend: str = "sqlite", notify: bool = True) -> Service:
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(KEYS), encoding="utf-8")
    registry = tmp / "registry.json"
    registry.write_text(json.dumps(MEMBERS), encoding="utf-8")
    log = tmp / f"serve-{uuid.uuid4().hex[:6]}.log"
    command = [sys.executable, "-c", "from gridpoints.cli import main; main()", "serve", str(RULESET),
               "--store", store, "--tenant", TENANT, "--tenant", OTHER, "--keys", str(keys),
               "--registry", str(registry), "--port", "0", "--workers", str(workers), "--grace", "30"]
    if table_prefix is not None:
        command += ["--table-prefix", table_prefix]
    if notify:
        command.append("--notify")
    env = {**os.environ, **(extra_env or {})}
    env.pop("GRIDPOINTS_API_KEYS", None)
    handle = log.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    handle.close()
    deadline = time.monotonic() + 60
    port = None
    while time.monotonic() < deadline and port is None:
        if process.poll() is not None:
            raise RuntimeError(f"gridpoints serve exited with {process.returncode}:\n{log.read_text()}")
        found = _RUNNING.search(log.read_text(encoding="utf-8", errors="replace"))
        port = int(found.group(1)) if found else None
        time.sleep(0.05)
    if port is None:
        process.kill()
        raise RuntimeError(f"gridpoints serve did not start in 60 s:\n{log.read_text()}")
    service = Service(process, f"http://127.0.0.1:{port}", log, backend, store, table_prefix)
    while time.monotonic() < deadline:
        try:
            if service.http.get("/readyz").status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_service(service)
    raise RuntimeError(f"gridpoints serve never became ready:\n{log.read_text()}")


def stop_service(service: Service, timeout: float = 60) -> int:
    """SIGTERM, as systemd stops it; returns the exit code."""
    service.http.close()
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    return service.process.returncode


def engine_beside(service: Service) -> Engine:
    """An engine in this process on the service's store and tenant (with its registry), to compare with."""
    engine = Engine(load_ruleset(RULESET), store=open_store(service.store, service.table_prefix), tenant=TENANT)
    for member in MEMBERS:
        engine.register(str(member["subject"]), grid=str(member["grid"]), household=str(member["household"]),
                        roles=list(member["roles"]), since=datetime.fromisoformat(str(member["since"])))
    return engine


def postgres_or_skip() -> str:
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        message = f"database at {POSTGRES_URL} is unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return POSTGRES_URL


def drop_tables(url: str, prefix: str) -> None:
    engine = make_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine, only=lambda name, _meta: name.startswith(prefix))
        metadata.drop_all(engine)
        with engine.begin() as conn:
            for name in conn.exec_driver_sql("SELECT proname FROM pg_proc").scalars().all():
                if name.startswith(prefix):
                    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}() CASCADE")
    finally:
        engine.dispose()
