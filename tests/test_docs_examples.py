"""The worked examples in docs/ run as written: every ```python block of a page marked runnable executes in order.

A page opts in with the line ``<!-- runnable: the python blocks on this page are executed by tests/test_docs.py -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
MARK = "<!-- runnable"
PAGES = sorted(p for p in DOCS.rglob("*.md") if MARK in p.read_text(encoding="utf-8"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_worked_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page's python blocks run in one namespace, top to bottom, from the repository root, without error."""
    monkeypatch.chdir(DOCS.parent)
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    assert blocks, f"{page.name} has no python blocks"
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page.name}[block {number}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.name} block {number} failed: {exc!r}\n{block}") from exc


def test_mechanism_pages_are_runnable() -> None:
    """The pages with worked examples of limits and lifecycles are among those executed."""
    assert {"cap.md", "diminishing.md", "share.md", "budget.md", "household-pools.md", "floor.md"} <= {
        p.name for p in PAGES}
