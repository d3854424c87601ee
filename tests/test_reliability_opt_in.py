"""The long reliability runs are opt-in (tests/_selection.py): a plain ``pytest`` leaves them out and says so;
``-m reliability``, a path under tests/reliability or ``GRIDPOINTS_RELIABILITY=1`` selects them. Each case
collects a small project laid out as this one (tests/, tests/reliability/, the marker), whose conftest
installs the same hooks, in a fresh pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ORDINARY = "tests/test_ordinary.py::test_ordinary"
RELIABLE = "tests/reliability/test_race.py::test_race"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "tests" / "reliability").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\nmarkers =\n    reliability: long runs\n",
                                     encoding="utf-8")
    (root / "tests" / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
        "from _selection import pytest_collection_modifyitems, pytest_terminal_summary\n", encoding="utf-8")
    (root / "tests" / "test_ordinary.py").write_text("def test_ordinary():\n    pass\n", encoding="utf-8")
    (root / "tests" / "reliability" / "test_race.py").write_text(
        "import pytest\n\npytestmark = pytest.mark.reliability\n\n\ndef test_race():\n    pass\n", encoding="utf-8")
    return root


def _collect(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The node ids a ``pytest --collect-only`` of ``args`` in ``project`` selects, and its output."""
    environment = {k: v for k, v in os.environ.items() if k not in ("GRIDPOINTS_RELIABILITY", "PYTEST_ADDOPTS")}
    # The small project needs no installed plugins (hypothesis, the fairness kit's): not loading them keeps
    # each run to about a second.
    environment.update({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 5), done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if "::" in line}, done.stdout


def test_a_plain_run_leaves_the_reliability_tests_out_and_says_so(project: Path) -> None:
    ids, output = _collect(project)
    assert ids == {ORDINARY}
    assert "1 deselected" in output
    assert "1 reliability test(s) left out of this run; run them with: pytest -m reliability" in output


@pytest.mark.parametrize(("args", "env", "selected"), [
    (("-m", "reliability"), {}, {RELIABLE}),
    (("-m", "not reliability"), {}, {ORDINARY}),
    (("tests/reliability",), {}, {RELIABLE}),
    (("tests/reliability/test_race.py", "tests/test_ordinary.py"), {}, {ORDINARY, RELIABLE}),
    ((), {"GRIDPOINTS_RELIABILITY": "1"}, {ORDINARY, RELIABLE}),
    (("tests",), {}, {ORDINARY}),
    (("tests/test_ordinary.py",), {}, {ORDINARY}),
], ids=["marker", "not-marker", "directory", "file", "environment", "tests-directory", "ordinary-file"])
def test_what_a_run_selects(project: Path, args: tuple[str, ...], env: dict[str, str], selected: set[str]) -> None:
    ids, output = _collect(project, *args, env=env)
    assert ids == selected
    # The summary names what was left out, and only then.
    assert ("left out" in output) == (args in ((), ("tests",)) and not env)
