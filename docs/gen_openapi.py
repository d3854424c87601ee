"""Write docs/openapi.json: the HTTP service's OpenAPI document (``python docs/gen_openapi.py``).

tests/server/test_openapi.py checks that the shipped file equals what the app describes now.
"""

from __future__ import annotations

import json
from pathlib import Path

import gridpoints
from gridpoints.server import KeyRing, create_app

OUT = Path(__file__).resolve().parent / "openapi.json"


def render() -> str:
    """The document as shipped: the app over any engine (operations do not depend on the ruleset)."""
    policy = gridpoints.load_ruleset(Path(__file__).resolve().parents[1] / "rulesets" / "pudong-sunshine.yaml")
    app = create_app(gridpoints.Engine(policy), keys=KeyRing(()))
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
