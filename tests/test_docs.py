"""The documentation stays true: the generated DSL reference is current and the quickstart's code runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from gridpoints.ruleset import RulesetSpec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_dsl_reference", DOCS / "gen_dsl_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_dsl_reference_is_current() -> None:
    """docs/dsl-reference.md equals what docs/gen_dsl_reference.py renders from the models now."""
    assert (DOCS / "dsl-reference.md").read_text(encoding="utf-8") == _generator().render()


def test_dsl_reference_covers_every_top_level_key() -> None:
    """Every key of a ruleset file has a row in the reference."""
    text = (DOCS / "dsl-reference.md").read_text(encoding="utf-8")
    missing = [info.alias or name for name, info in RulesetSpec.model_fields.items()
               if f"| `{info.alias or name}` |" not in text]
    assert missing == []


def test_quickstart_code_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The quickstart's Python blocks run in order from the repository root, and the explanation it shows
    is the one the code prints."""
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    for block in _blocks(text, "python"):
        exec(compile(block, "quickstart.md", "exec"), namespace)  # the docs' own examples, nothing else
    shown = next(block for block in _blocks(text, "text") if block.startswith("Event evt-0001"))
    assert shown in capsys.readouterr().out
