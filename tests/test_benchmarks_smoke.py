"""Smoke test of the throughput benchmark: a tiny run completes and its balances check passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def test_throughput_quick_run_agrees_with_the_bare_loop() -> None:
    """`throughput.py --quick --events 2000` exits 0 and reports that the balances agree (no timing checks)."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--events", "2000"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "balances agree" in done.stdout, done.stdout
