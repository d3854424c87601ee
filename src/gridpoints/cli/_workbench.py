"""``gridpoints workbench``: the policy authors' web page (needs the ``workbench`` extra)."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from gridpoints.cli._commands import load_policy
from gridpoints.errors import MissingExtra
from gridpoints.whatif import PRESETS


@click.command()
@click.argument("ruleset", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on (this machine only by "
              "default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(min=0, max=65535))
@click.option("--save-to", "save_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Where Save writes the draft (default: NAME.draft.yaml beside the current version).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)),
              help="The synthetic community offered first (default: the one whose ruleset RULESET is, else "
                   "pudong); without RULESET, its ruleset is the current version.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def workbench(ruleset: Path | None, host: str, port: int, save_to: Path | None, preset: str | None,
              open_browser: bool) -> None:
    """Edit RULESET in a local web page with live lint, replay a synthetic community or an uploaded log under
    the draft and the current version, and read the report and each resident's change; Save writes the
    draft as YAML (never over RULESET). Without RULESET, --preset's ruleset is the current version. Stop with
    Ctrl-C."""
    if ruleset is not None:
        load_policy(ruleset)
    try:
        from gridpoints.workbench import serve
    except ModuleNotFoundError as exc:
        raise click.ClickException(str(MissingExtra("workbench", "gridpoints workbench"))) from exc
    url = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}/"
    click.echo(f"gridpoints workbench: {url} (English: {url}?lang=en); Ctrl-C stops it", err=True)
    if open_browser:
        webbrowser.open(url)
    serve(ruleset, host=host, port=port, save_to=save_to, preset=preset)


__all__ = ["workbench"]
