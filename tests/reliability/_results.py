"""Render reliability figures (the JSON lines the tests append) as the Markdown table of docs/reliability.md.

    python tests/reliability/_results.py /tmp/gridpoints-reliability.jsonl

Rows keep the file's order; a test recorded more than once per backend and scale keeps its last run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def table(path: Path) -> str:
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["test"], row["backend"], row["scale"]] = row
    out = ["| test | backend | scale | operations | violations | time (s) | details |",
           "|---|---|---|---:|---:|---:|---|"]
    for row in rows.values():
        details = ", ".join(f"{k}={v}" for k, v in row["details"].items())
        out.append(f"| {row['test']} | {row['backend']} | {row['scale']} | {row['operations']:,} | "
                   f"{row['violations']} | {row['seconds']} | {details} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
