"""examples/month.py: a month of each seed programme prints the same worker's view every run (pinned)."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
PROGRAMMES = ("pudong", "chaoyang", "tianhe")


def _month() -> ModuleType:
    spec = importlib.util.spec_from_file_location("month_example", ROOT / "examples" / "month.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("programme", PROGRAMMES)
def test_month_output_is_pinned(programme: str) -> None:
    """The printed month equals the golden file (regenerate with GRIDPOINTS_UPDATE_GOLDEN=1 after a deliberate
    change, and read the diff)."""
    out = io.StringIO()
    _month().run(programme, out)
    golden = GOLDEN / f"month-{programme}.txt"
    if os.environ.get("GRIDPOINTS_UPDATE_GOLDEN") == "1":
        golden.write_text(out.getvalue(), encoding="utf-8")
    assert out.getvalue() == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("programme", PROGRAMMES)
def test_month_exercises_the_programme(programme: str) -> None:
    """Each month shows the mechanisms its programme is about, and the ledger stays balanced."""
    out = io.StringIO()
    module = _month()
    module.run(programme, out)
    text = out.getvalue()
    expected = {
        "pudong": ["challenge monthly-top10: pu-", "base awards 72", "daily-goods           ok", "not_eligible",
                   "school-recommendation not_eligible", "medical-appointment   not_eligible"],
        "chaoyang": ["activity-ticket       ok", "home-care             not_eligible", "home-care             ok",
                     "base awards 78"],
        "tianhe": ["completed   done 2/2", "allocation parking-reservation: ti-", "repair_required"],
    }[programme]
    for fragment in expected:
        assert fragment in text, fragment
    assert "refused events -- none" in text
