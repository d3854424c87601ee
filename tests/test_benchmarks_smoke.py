"""Smoke tests of the benchmarks: tiny runs complete, and the throughput run's balance checks pass.

No timing is checked. A benchmark that crashes exits non-zero; a throughput contender whose balances differ
from the bare loop's makes the script exit 1 without printing ``balances agree``. When zen-engine and
durable-rules are installed the throughput run is ``--strict``, so a comparator that is skipped or fails
fails the test too.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_throughput_quick_run_agrees_with_the_bare_loop() -> None:
    """`throughput.py --quick` on 2,000 events, one round: exits 0, balances agree, the tables are printed."""
    comparators = all(importlib.util.find_spec(name) is not None for name in ("zen", "durable"))
    args = ["--quick", "--events", "2000", "--single", "200", "--repeat", "1"]
    done = _run("throughput.py", *args, *(["--strict"] if comparators else []))
    out = done.stdout
    assert "balances agree" in out, out
    assert "DISAGREE" not in out + done.stderr, out + done.stderr
    assert "events/s (CPU)" in out and "events/s (wall)" in out, out
    assert out.count("load average at the") == 2, out
    assert "gridpoints ÷ bare loop" in out, out
    if comparators:
        assert "zen-engine (table + cap expression node)" in out, out
        assert "zen-engine (table; cap in Python)" in out, out
        assert "durable-rules (20 rules; cap in Python)" in out, out


def test_replay_tiny_run_measures_every_phase() -> None:
    """`replay.py` on 60 households over one month: exits 0 and prints a row for synth, simulate and compare."""
    done = _run("replay.py", "--households", "60", "--months", "1")
    rows = [line.split() for line in done.stdout.splitlines()]
    phases = {row[1] for row in rows if len(row) > 2 and row[0] == "1"}
    assert {"synth", "simulate", "compare"} <= phases, done.stdout
    assert "load average" in done.stdout, done.stdout


def test_replay_district_run_checks_the_merge_and_prints_the_speed_up() -> None:
    """`replay.py --communities 2` on tiny communities: one process and a LocalCluster agree; both timed."""
    done = _run("replay.py", "--communities", "2", "--households", "30", "--dask-workers", "2")
    assert "merged figures equal" in done.stdout, done.stdout
    assert "speed-up (wall, one process ÷ dask)" in done.stdout, done.stdout
    assert done.stdout.count("load average") == 2, done.stdout


def test_mechanisms_quick_run() -> None:
    """`mechanisms.py` on a tiny community, one round: exits 0 and prints the table and the long-streak line."""
    out = _run("mechanisms.py", "--residents", "8", "--days", "3", "--rounds", "1").stdout
    assert "+ streak, badge, milestone" in out and "streak over 120 days" in out, out


def test_oracle_quick_run_prints_both_measures() -> None:
    """`oracle.py` on 200 events, one round: exits 0 and prints the engine's and the oracle's rates."""
    if importlib.util.find_spec("durable") is None:
        import pytest

        pytest.skip("durable-rules (the durable extra) is not installed")
    out = _run("oracle.py", "--events", "200", "--repeat", "1").stdout
    assert out.count("durable oracle") == 4 and out.count("engine plan") == 4, out
    assert out.count("load average at the") == 2, out


def test_notices_benchmark_runs_and_counts_the_notices() -> None:
    """`notices.py` on 1,000 events, one round: exits 0 and writes a notice for every event that moved points."""
    out = _run("notices.py", "--events", "1000", "--repeat", "1").stdout
    assert "notify=True / notify=False, CPU:" in out, out
    told = int(out.splitlines()[-2].split()[-1])
    assert 900 < told <= 1000, out


def test_versions_benchmark_runs_both_engines() -> None:
    """`versions.py` on 50 verifications, one round: exits 0, both engines settle by v1, the ratio is printed."""
    out = _run("versions.py", "--residents", "50", "--repeat", "1").stdout
    assert "v2 holding v1 / v1 alone" in out and "load average" in out, out


def test_sealed_benchmark_runs_every_variant_on_sqlite_and_postgresql() -> None:
    """`sealed.py` on 200 events, one round: exits 0 and prints the three variants and their ratios for
    SQLite and for PostgreSQL (or says PostgreSQL was unreachable), with the load average."""
    out = _run("sealed.py", "--events", "200", "--single", "10", "--repeat", "1").stdout
    assert "\nsqlite: 200 events" in out, out
    assert "\npostgresql: 200 events" in out or "postgresql: skipped" in out, out
    tables = out.count("\nsqlite:") + out.count("\npostgresql:")
    assert sum(line.split()[0] in ("unsealed", "sealed", "keyed") for line in out.splitlines() if line) == 3 * tables
    assert out.count("keyed ÷ sealed") == 2 * tables, out
    assert out.count("load average at the") == 2, out
