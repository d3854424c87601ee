"""Smoke test of benchmarks/service.py: a tiny run on PostgreSQL completes and proves its ledger. No timing
is checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _service import postgres_or_skip

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "service.py"


def test_service_benchmark_quick_run_proves_the_ledger() -> None:
    """One round of one-second phases with 2 writers, 2 workers and 2 clients: exits 0 with caps exact and verify ok."""
    url = postgres_or_skip()
    done = subprocess.run([sys.executable, str(SCRIPT), "--url", url, "--seconds", "1", "--clients", "2",
                           "--workers", "2", "--writers", "2", "--rounds", "1"], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "caps exact, no duplicates, retries answered the original decision, verify ok" in done.stdout
    assert "requests/s" in done.stdout and "p99" in done.stdout and "CPU" in done.stdout
