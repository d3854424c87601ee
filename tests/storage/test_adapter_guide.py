"""The adapter in docs/storage-adapters.md passes the store conformance suite, reopening and close included.

The page's python blocks run here, top to bottom, from the repository root, in this module's namespace: the
page's own ``TestJsonFileStore`` (a :class:`~gridpoints.testing.storage_suite.StoreConformance` subclass) is
then collected and run like any test class of this module.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gridpoints.storage import Store

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "storage-adapters.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)

_here = os.getcwd()
os.chdir(ROOT)  # the page's example opens rulesets/… as a reader in the repository would
try:
    for _number, _block in enumerate(BLOCKS, 1):
        exec(compile(_block, f"{PAGE.name}[block {_number}]", "exec"), globals())  # the page's own code
finally:
    os.chdir(_here)


def test_the_page_defines_the_adapter_and_its_suite(tmp_path: Path) -> None:
    """The guide holds a complete adapter and a conformance test class with the reopen fixture."""
    store_class = globals()["JsonFileStore"]
    suite = globals()["TestJsonFileStore"]
    assert isinstance(store_class, type) and issubclass(suite, globals()["StoreConformance"])
    assert "reopen" in vars(suite) and "store" in vars(suite)
    assert isinstance(store_class(tmp_path / "ledger.json"), Store)
