"""The ``gridpoints`` command: ``lint``, ``schema``, ``run``, ``explain``, ``check``, ``verify``, ``synth``,
``simulate``, ``compare``, ``demo``, ``serve`` and ``workbench``.

The commands live in :mod:`gridpoints.cli._commands` and need the ``cli`` extra (click and rich); this module
stays importable without them so that :func:`main` can say how to install the extra instead of failing
with a bare ``ImportError``.

Exit codes: 0 ok; 1 diagnostics or errors found (a bad ruleset, a bad event, an out-of-date schema);
2 usage errors (click's convention, also used for a missing extra).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gridpoints.errors import MissingExtra

if TYPE_CHECKING:
    import click

__all__ = ["command", "main"]


def command() -> click.Group:
    """The click command group; raises :class:`~gridpoints.errors.MissingExtra` without the ``cli`` extra."""
    try:
        from gridpoints.cli._author import compare, demo, simulate, synth
        from gridpoints.cli._commands import cli
        from gridpoints.cli._serve import serve
        from gridpoints.cli._workbench import workbench
    except ModuleNotFoundError as exc:
        if exc.name not in ("click", "rich") and not (exc.name or "").startswith(("click.", "rich.")):
            raise
        raise MissingExtra("cli", "the gridpoints command") from exc
    # The policy-author tools, the service and the workbench live in their own modules, on the core commands'
    # helpers.
    for author_command in (synth, simulate, compare, demo, serve, workbench):
        cli.add_command(author_command)
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the command line and exit with its status."""
    try:
        group = command()
    except MissingExtra as exc:
        print(f"gridpoints: {exc}", file=sys.stderr)
        sys.exit(2)
    group.main(args=list(argv) if argv is not None else None, prog_name="gridpoints")
