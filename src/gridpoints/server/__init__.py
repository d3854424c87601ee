"""The HTTP service (extra ``server``): gridpoints for host platforms that are not Python.

:func:`create_app` builds an ASGI app (FastAPI) over one engine per tenant; ``gridpoints serve RULESET
--store URL`` runs it under uvicorn. API keys (:class:`KeyRing`, :class:`ApiKey`) are kept as SHA-256
digests and bound to a tenant and :class:`Role`\\ s. See docs/service.md.
"""

from __future__ import annotations

from gridpoints.errors import MissingExtra

try:
    from gridpoints.server._app import (
        OPERATIONS,
        Principal,
        app_from_environment,
        create_app,
        decision_json,
        open_store,
        read_registry,
    )
    from gridpoints.server._keys import KEYS_ENV, ApiKey, KeyRing, Role, hash_token, new_token
    from gridpoints.server._ops import JsonFormatter, Metrics
    from gridpoints.server._problems import PROBLEMS, Problem, ProblemKind, problem_of
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in ("fastapi", "starlette", "uvicorn", "prometheus_client"):
        raise
    raise MissingExtra("server", "the HTTP service") from exc

__all__ = [
    "KEYS_ENV",
    "OPERATIONS",
    "PROBLEMS",
    "ApiKey",
    "JsonFormatter",
    "KeyRing",
    "Metrics",
    "Principal",
    "Problem",
    "ProblemKind",
    "Role",
    "app_from_environment",
    "create_app",
    "decision_json",
    "hash_token",
    "new_token",
    "open_store",
    "problem_of",
    "read_registry",
]
