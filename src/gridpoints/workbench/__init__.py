"""The policy authors' workbench: a local web page to edit a ruleset with live lint, replay a synthetic
community or an uploaded log under the draft and the current version, and read the report and the change
per resident (``gridpoints workbench``). Needs the ``workbench`` extra (FastAPI, uvicorn, plotly).

The page is served by a small ASGI app (:func:`create_app`) on this machine only; it fetches nothing from
elsewhere, so it works offline. Chinese by default, English with ``?lang=en``.
"""

from __future__ import annotations

from pathlib import Path

from gridpoints.workbench._app import DEFAULT_HOUSEHOLDS, create_app
from gridpoints.workbench._jobs import residents
from gridpoints.workbench._page import TEXT

__all__ = ["DEFAULT_HOUSEHOLDS", "TEXT", "create_app", "residents", "serve"]


def serve(ruleset: Path | None = None, *, host: str = "127.0.0.1", port: int = 8765, save_to: Path | None = None,
          preset: str | None = None) -> None:
    """Serve the workbench with uvicorn until interrupted (see :func:`create_app` for the arguments)."""
    import uvicorn

    uvicorn.run(create_app(ruleset, save_to=save_to, preset=preset), host=host, port=port, log_level="warning")
