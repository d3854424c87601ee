"""``gridpoints serve``: the HTTP service under uvicorn (needs the ``server`` extra)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from gridpoints.cli._commands import load_policy
from gridpoints.errors import MissingExtra, StoreError

#: Seconds uvicorn waits, after a stop signal, for requests in flight (a batch being committed) to finish.
DEFAULT_GRACE = 30


@click.command()
@click.argument("ruleset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", "store_url", required=True, help="Store URL: sqlite:///FILE, postgresql://…, mysql://…")
@click.option("--tenant", "tenants", multiple=True, default=("default",), show_default=True,
              help="A tenant to serve (repeat for several; each key is bound to one).")
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file of API keys (digests); default: the GRIDPOINTS_API_KEYS variable.")
@click.option("--registry", "registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file of memberships (subject, grid, household, roles) for the engines' registries.")
@click.option("--previous", "previous", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An older version of RULESET that may still govern open items (repeat for several): the "
                   "service settles each by it (see docs/versions.md).")
@click.option("--table-prefix", default=None, help="Table name prefix of a SQL store (default gridpoints_).")
@click.option("--notify", is_flag=True, help="Write notices to the store's outbox (the notices endpoints).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--grace", default=DEFAULT_GRACE, show_default=True, type=click.IntRange(min=0),
              help="Seconds to let in-flight requests finish after SIGTERM/SIGINT.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(ruleset: Path, store_url: str, tenants: tuple[str, ...], keys_file: Path | None,
          registry_file: Path | None, previous: tuple[Path, ...], table_prefix: str | None, notify: bool, host: str,
          port: int, workers: int, grace: int, log_level: str) -> None:
    """Serve RULESET over HTTP on the store at --store (see docs/service.md).

    Logs are JSON lines on stderr. Keys are never given on the command line: only their SHA-256 digests,
    in --keys FILE or GRIDPOINTS_API_KEYS.
    """
    try:
        import uvicorn

        from gridpoints.server import KeyRing, open_store, read_registry
    except (ModuleNotFoundError, MissingExtra) as exc:
        raise click.ClickException("gridpoints serve needs the server extra: pip install 'gridpoints[server]'") from exc
    current = load_policy(ruleset)
    for older in previous:
        policy = load_policy(older)
        if policy.id != current.id or policy.version >= current.version:
            raise click.BadParameter(f"{older}: {policy.ref} is not an older version of {current.ref}",
                                     param_hint="--previous")
    try:
        keys = KeyRing.from_file(keys_file) if keys_file is not None else KeyRing.from_environment()
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"keys: {exc}") from None
    try:
        if registry_file is not None:
            read_registry(str(registry_file))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"registry: {exc}") from None
    if not keys.keys:
        click.echo("gridpoints serve: no API keys configured; every request will be refused", err=True)
    try:
        open_store(store_url, table_prefix).close()  # creates or upgrades the schema once, before the workers start
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    os.environ["GRIDPOINTS_SERVE"] = json.dumps({
        "ruleset": str(ruleset.resolve()), "store": store_url, "table_prefix": table_prefix,
        "tenants": list(dict.fromkeys(tenants)),
        "keys_file": str(keys_file.resolve()) if keys_file is not None else None,
        "registry_file": str(registry_file.resolve()) if registry_file is not None else None, "notify": notify,
        "previous": [str(path.resolve()) for path in previous]})
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gridpoints-metrics-")
    log_config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "gridpoints.server.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {name: {"handlers": ["stderr"], "level": log_level.upper(), "propagate": False}
                    for name in ("gridpoints.server", "uvicorn", "uvicorn.error")},
    }
    uvicorn.run("gridpoints.server:app_from_environment", factory=True, host=host, port=port, workers=workers,
                timeout_graceful_shutdown=grace, access_log=False, log_config=log_config, log_level=log_level)
