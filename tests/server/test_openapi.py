"""The shipped OpenAPI document is the app's, and it lists the roles of every operation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from gridpoints.server import OPERATIONS, Role

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_openapi", DOCS / "gen_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_openapi_is_current() -> None:
    """docs/openapi.json equals the app's document now (regenerate with python docs/gen_openapi.py)."""
    assert (DOCS / "openapi.json").read_text(encoding="utf-8") == _generator().render()


def test_openapi_lists_roles_and_security_for_every_operation() -> None:
    """Each /v1 operation names its roles (x-gridpoints-roles and its description) and both key schemes."""
    document = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    found = {}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if not path.startswith("/v1/"):
                assert "x-gridpoints-roles" not in operation
                continue
            roles = operation["x-gridpoints-roles"]
            found[operation["operationId"]] = tuple(roles)
            assert f"Roles: {', '.join(roles)}." in operation["description"]
            assert {"bearer": []} in operation["security"] and {"apiKey": []} in operation["security"]
            assert set(roles) <= {r.value for r in Role}
    assert found == {name: tuple(r.value for r in roles) for name, roles in OPERATIONS.items()}
    assert set(document["components"]["securitySchemes"]) == {"bearer", "apiKey"}
