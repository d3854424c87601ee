"""A short bounded run of each fuzz target (fuzz/harness.py): the ruleset loader and the event intake raise
only gridpoints' typed errors. About 8 s each; a longer run and its figures are in docs/reliability.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("GRIDPOINTS_FUZZ_SECONDS", "8"))


@pytest.mark.parametrize("target", ["ruleset", "events"])
def test_fuzz_target_finds_no_untyped_exception(target: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "harness.py"), target, "--seconds", str(SECONDS),
         "--crashes", str(tmp_path / "crashes")],
        capture_output=True, text=True, timeout=SECONDS + 120, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    summary = re.search(rf"fuzz {target} \((\w+)\): (\d+) inputs in [\d.]+ s, (\d+) untyped exceptions", run.stdout)
    assert summary is not None, run.stdout[-2000:] + run.stderr[-4000:]
    assert summary.group(3) == "0" and run.returncode == 0, run.stderr[-4000:]
    assert int(summary.group(2)) > 0
    assert not (tmp_path / "crashes").exists()
