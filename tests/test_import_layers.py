"""The import-layer contract of DESIGN.md (``[tool.importlinter]`` in pyproject.toml) holds, and catches the
imports it is there to catch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def _lint(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_layers_kept() -> None:
    """No module imports a layer above its own."""
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize("import_block", [
    "def _late():\n    from gridpoints.engine import Engine\n    return Engine\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gridpoints.whatif import simulate\n",
], ids=["function-level", "type-checking"])
def test_upward_import_is_caught(tmp_path: Path, import_block: str) -> None:
    """A function-level or TYPE_CHECKING import from the ground layer up into the engine or the tools breaks
    the contract (checked on a copy of the package with one such import added)."""
    copy = tmp_path / "gridpoints"
    shutil.copytree(ROOT / "src" / "gridpoints", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "model" / "_values.py").open("a", encoding="utf-8") as handle:
        handle.write("\n\n" + import_block)
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "gridpoints.model._values ->" in result.stdout
