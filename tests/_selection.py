"""Which tests a run selects: the long reliability runs (``tests/reliability``, marked ``reliability``) are
opt-in. A plain ``pytest`` leaves them out and says so in its summary; they run when the marker expression
names them (``pytest -m reliability``), when a path under tests/reliability is given, or with
``GRIDPOINTS_RELIABILITY=1``. CI (``.ci/run``) runs them as a step of their own, which fails when it
collects none. tests/conftest.py installs these hooks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

RELIABILITY = "reliability"
#: Set to 1 (or true / yes) to run the reliability tests along with everything else.
RELIABILITY_ENV = "GRIDPOINTS_RELIABILITY"
_LEFT_OUT = pytest.StashKey[int]()


def _reliability_wanted(config: pytest.Config) -> bool:
    """Whether this run asked for the reliability tests (see the module docstring)."""
    if RELIABILITY in (config.option.markexpr or ""):
        return True
    if os.environ.get(RELIABILITY_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    directory = config.rootpath / "tests" / RELIABILITY
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if path == directory or directory in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _reliability_wanted(config):
        return
    kept = [item for item in items if item.get_closest_marker(RELIABILITY) is None]
    if len(kept) == len(items):
        return
    left_out = [item for item in items if item.get_closest_marker(RELIABILITY) is not None]
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept
    config.stash[_LEFT_OUT] = len(left_out)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} reliability test(s) left out of this run; run them with: pytest -m {RELIABILITY}",
            yellow=True)
