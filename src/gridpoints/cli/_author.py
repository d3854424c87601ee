"""Policy authors' commands: ``synth``, ``simulate``, ``compare`` and ``demo`` (need the ``cli`` extra).

They are registered into the ``gridpoints`` group by :mod:`gridpoints.cli`. Exit codes follow it: 0 ok;
1 a refused event, an unreadable file, a report that cannot be written; 2 usage errors.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import click
from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import gridpoints
from gridpoints.cli._commands import heading, load_policy, output_console
from gridpoints.errors import MissingExtra, RulesetError, StoreError
from gridpoints.whatif._district import (
    MEMORY_URL,
    ROSTER_SUFFIX,
    CommunityLog,
    District,
    DistrictComparison,
    community_logs,
    compare_district,
    dask_client,
    read_manifest,
    simulate_district,
)
from gridpoints.whatif._simulate import (
    DEFAULT_BATCH,
    REDEEM_KEY,
    Comparison,
    Replay,
    ReplayError,
    SimulationSummary,
    read_jsonl,
    read_roster,
)
from gridpoints.whatif._synth import PRESETS, Community, add_months

_RULESET = click.Path(exists=True, dir_okay=False, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_KEEP_LEDGER_HELP = ("Keep every ledger entry in memory and sum the figures up at the end, instead of replaying "
                     "live (only the state later events read is kept; the figures are the same).")


def default_ruleset(name: str) -> Path:
    """``rulesets/<name>.yaml`` in the working directory, else beside the source tree (an editable install)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "rulesets" / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    raise click.UsageError(f"no rulesets/{name}.yaml here; pass --ruleset PATH")


def _report_writer(name: str) -> Callable[..., Any]:
    """``gridpoints.whatif._report.<name>``, or exit 1 saying why it is not there."""
    try:
        report = importlib.import_module("gridpoints.whatif._report")
    except ImportError as exc:
        raise click.ClickException(f"--report needs the gridpoints.whatif._report module, which is not importable here "
                                   f"({exc})") from None
    writer = getattr(report, name, None)
    if not callable(writer):
        raise click.ClickException(f"--report needs gridpoints.whatif._report.{name}, which this version does not have")
    return writer  # type: ignore[no-any-return]  # a module attribute checked callable above


def _write_report(writer: Callable[..., Any], path: Path, data: Any, policy: gridpoints.Policy, lang: str) -> None:
    try:
        writer(path, data, lang=lang, category_names=policy.spec.category_names())
    except MissingExtra as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot write the report: {exc}") from None


# -- synth ----------------------------------------------------------------------------------------------


@click.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="A seed programme's community and ruleset.")
@click.option("--households", type=click.IntRange(min=1), help="A custom community of this many households.")
@click.option("--grids", type=click.IntRange(min=1),
              help="Grids of a custom community (default: one per 200 households).")
@click.option("--months", default=12, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--ruleset", "ruleset_path", type=_RULESET,
              help="Ruleset whose event types to produce (default: the preset's rulesets/<name>.yaml).")
@click.option("--start", default="2026-01-01", show_default=True, help="First day (YYYY-MM-DD).")
@click.option("--roster", "roster_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the community's memberships here (JSON Lines).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write events here, not stdout.")
@click.option("--redemptions/--no-redemptions", default=True, show_default=True,
              help="With a catalog, also write points-mall redemption requests ({\"redeem\": …} lines, which "
                   "run, explain, simulate and compare replay in order).")
def synth(preset: str | None, households: int | None, grids: int | None, months: int, seed: int,
          ruleset_path: Path | None, start: str, roster_path: Path | None, output: Path | None,
          redemptions: bool) -> None:
    """Write a synthetic community's events as JSON Lines, in time order (deterministic in --seed)."""
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {start!r}", param_hint="--start") from None
    if households is not None:
        habits = PRESETS[preset] if preset is not None else None
        community = Community(households, grids, seed=seed, name=preset or "custom",
                              mix=habits.mix if habits else None, elderly=habits.elderly if habits else (0.1, 0.35),
                              preset=habits)
    elif preset is not None:
        if grids is not None:
            raise click.UsageError("--grids needs --households (a preset has its own grids)")
        community = Community.from_preset(preset, seed)
    else:
        raise click.UsageError("give --preset NAME or --households N")
    if ruleset_path is None:
        if preset is None:
            raise click.UsageError("a custom community needs --ruleset PATH")
        ruleset_path = default_ruleset(PRESETS[preset].ruleset)
    policy = load_policy(ruleset_path)
    if roster_path is not None:
        _write_lines(roster_path, community.roster())
    requests: list[int] = [0]
    lines = community.events(policy, first, months, redemptions=redemptions)
    count = _write_lines(output, _counting_redemptions(lines, requests))
    click.echo(f"{community.name}: {community.households} households, {community.residents} residents in "
               f"{len(community.grid_ids)} grids; {count - requests[0]} events and {requests[0]} redemption "
               f"request(s) over {months} month(s) for {policy.ref}", err=True)


def _counting_redemptions(rows: Iterator[dict[str, Any]], requests: list[int]) -> Iterator[dict[str, Any]]:
    """Pass ``rows`` through, adding the redemption lines among them to ``requests[0]``."""
    for row in rows:
        if REDEEM_KEY in row:
            requests[0] += 1
        yield row


def _write_lines(path: Path | None, rows: Any) -> int:
    count = 0
    handle = sys.stdout if path is None else path.open("w", encoding="utf-8")
    try:
        write, encode = handle.write, _JSON.encode
        for row in rows:
            write(encode(row))
            write("\n")
            count += 1
    except OSError as exc:
        raise click.ClickException(f"{path or 'stdout'}: cannot write: {exc}") from None
    finally:
        if path is not None:
            handle.close()
        else:
            handle.flush()
    return count


# -- simulate -------------------------------------------------------------------------------------------


def _communities(paths: Sequence[Path], manifest: Path | None, rosters: Sequence[Path]) -> list[CommunityLog]:
    """The communities named on the command line: events files and directories, or a manifest; ``--roster``
    (one for all, or one per file) replaces the rosters found beside the files."""
    if manifest is not None and paths:
        raise click.UsageError("give events files and directories, or --manifest, not both")
    if manifest is None and not paths:
        raise click.UsageError("give events files or directories (or --manifest FILE)")
    try:
        logs = read_manifest(manifest) if manifest is not None else community_logs(paths)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    if rosters:
        paired = _rosters([log.events for log in logs], rosters)
        logs = [attrs.evolve(log, roster=roster) for log, roster in zip(logs, paired, strict=True)]
    return logs


def _rosters(files: Sequence[Path], given: Sequence[Path]) -> list[Path | None]:
    if len(given) == 1:
        return [given[0]] * len(files)
    if given:
        if len(given) != len(files):
            raise click.UsageError(f"give one --roster, or one per events file ({len(files)}), not {len(given)}")
        return list(given)
    siblings = [f.with_name(f.name.removesuffix(".jsonl") + ROSTER_SUFFIX) for f in files]
    return [s if s.is_file() else None for s in siblings]


def run_file(ruleset: Path, events: Path, roster: Path | None, store_url: str, tenant: str, batch: int,
             progress: Callable[[int], None] | None = None, keep_ledger: bool = False,
             entries_out: Path | None = None) -> dict[str, Any]:
    """Replay one events file and return the summary's dict (a process pool's unit of work).

    ``memory:`` replays live (a live-state store) unless ``keep_ledger``; any other store URL is the ledger.
    ``entries_out``: write the committed entries there as JSON Lines."""
    policy = gridpoints.load_ruleset(ruleset)
    members = read_roster(roster) if roster is not None else None
    in_process = store_url.split(":", 1)[0].lower() == MEMORY_URL.rstrip(":")
    store = None if in_process else gridpoints.open_store(store_url)
    try:
        replay = Replay(policy, store, members, tenant=tenant, batch=batch, source=str(events), freeze_gc=True,
                        keep_ledger=keep_ledger, entries_out=entries_out)
        try:
            for line, event in read_jsonl(events, on_bytes=progress):
                replay.feed(event, line)
            return replay.finish().to_dict()
        finally:
            replay.close()
    finally:
        if store is not None:
            store.close()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=False)


def _day_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=False)


def _days_done(rows: Iterator[dict[str, Any]], advance: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    """Pass ``rows`` (synthesised lines, in time order) through, calling ``advance(1)`` each time a day is
    finished (the first line of a later day arrives) and for the last day at the end."""
    current: str | None = None
    for row in rows:
        redeem = row.get(REDEEM_KEY)
        moment = redeem.get("at") if isinstance(redeem, Mapping) else row.get("occurred_at")
        day = moment[:10] if isinstance(moment, str) else current
        if day != current:
            if current is not None:
                advance(1)
            current = day
        yield row
    if current is not None:
        advance(1)


def _run_with_bar(ruleset: Path, events: Path, roster: Path | None, store_url: str, tenant: str,
                  batch: int, keep_ledger: bool = False, entries_out: Path | None = None) -> dict[str, Any]:
    with _progress() as bar:
        task = bar.add_task(f"replaying {events.name}", total=events.stat().st_size)
        pending = [0]

        def advance(size: int) -> None:
            pending[0] += size
            if pending[0] >= 1 << 18:
                bar.advance(task, pending[0])
                pending[0] = 0

        result = run_file(ruleset, events, roster, store_url, tenant, batch, advance, keep_ledger, entries_out)
        bar.advance(task, pending[0])
    return result


def _per_community(path: Path | None) -> str | None:
    """``NAME-{name}.SUFFIX`` beside ``path``: one file per community (``{name}`` is the community's)."""
    return None if path is None else str(path.with_name(f"{path.stem}-{{name}}{path.suffix}"))


def _store_per_community(store_url: str) -> str:
    if not store_url.startswith("sqlite:///"):
        return store_url
    # One embedded database per community, beside the one named, so parallel workers do not contend.
    return f"sqlite:///{_per_community(Path(store_url.removeprefix('sqlite:///')))}"


_SCHEDULER_HELP = ("With several communities: the address of a running dask.distributed scheduler "
                   "(tcp://HOST:8786) whose workers see the same files. Default: a local cluster of --workers "
                   "processes on this machine.")
_WORKERS_HELP = "With several communities: worker processes of the local Dask cluster (default: one per core)."


def _on_dask(scheduler: str | None, workers: int | None, count: int, job: Callable[..., Any]) -> Any:
    """Run ``job(client, on_done)`` on a Dask client with a progress bar over ``count`` communities; a
    refused event or unreadable file exits 1, a missing extra says which one."""
    size = min(workers or os.cpu_count() or 1, count)
    try:
        with dask_client(scheduler, workers=size) as client, _progress() as bar:
            where = scheduler or f"{size} local worker process(es)"
            task = bar.add_task(f"replaying {count} communities on {where}", total=count)
            return job(client, lambda _log: bar.advance(task))
    except MissingExtra as exc:
        raise click.ClickException(str(exc)) from None
    except (ReplayError, gridpoints.EventError, RulesetError) as exc:
        raise click.ClickException(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the Dask scheduler or read a log: {exc}") from None


def _communities_table(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> Table:
    return _table("Communities", ("community", "events", "residents", "points issued", "Gini"), [
        (name, s["totals"]["events"], s["totals"]["residents"], s["totals"]["points_issued"],
         s["concentration"]["gini"]) for name, s in rows])


@click.command()
@click.argument("ruleset", type=_RULESET)
@click.argument("events", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--manifest", type=_FILE,
              help="The communities as JSON Lines: {\"events\": PATH, \"roster\": PATH, \"name\": NAME} per line "
                   "(paths relative to the manifest), instead of EVENTS.")
@click.option("--roster", "rosters", multiple=True, type=_FILE,
              help="Memberships (JSON Lines); one for all events files or one per file. Default: "
                   "EVENTS.roster.jsonl beside each file, else inferred from the events.")
@click.option("--store", "store_url", default=MEMORY_URL, show_default=True,
              help="Store URL: memory: (in process, replayed live unless --keep-ledger), sqlite:///FILE, "
                   "postgresql://… (the store keeps the whole ledger; several communities: one SQLite file each, "
                   "or one tenant each).")
@click.option("--keep-ledger", is_flag=True, help=_KEEP_LEDGER_HELP)
@click.option("--entries-out", "entries_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every ledger entry here as JSON Lines, one object per line, hash-chained (one file "
                   "per community: NAME-<community>.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report here (of the merged figures, for several communities).")
@click.option("--scheduler", help=_SCHEDULER_HELP)
@click.option("--workers", type=click.IntRange(min=1), help=_WORKERS_HELP)
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
def simulate(ruleset: Path, events: tuple[Path, ...], manifest: Path | None, rosters: tuple[Path, ...],
             store_url: str, keep_ledger: bool, entries_out: Path | None, as_json: bool, report_path: Path | None,
             scheduler: str | None, workers: int | None, batch: int, lang: str) -> None:
    """Replay EVENTS (JSON Lines files, or directories of them) under RULESET and show what a community
    worker and an auditor look at: points by category and rule, limits that bit, participation per grid
    and month, concentration, the leaderboard, repairs, redemptions and outstanding points.

    By default the replay is live: it keeps balances, open windows' counters and open items, not the
    ledger's history, so a year of a large community fits in memory; --keep-ledger keeps every entry.

    Several communities (files, a directory, or --manifest) are replayed one task each on Dask (a local
    cluster, or --scheduler) and their figures merged over all residents: the Gini coefficient and top
    shares of the district, not an average of the communities'."""
    policy = load_policy(ruleset, lang)
    writer = _report_writer("write_report") if report_path is not None else None
    logs = _communities(events, manifest, rosters)
    if len(logs) == 1 and manifest is None:
        log = logs[0]
        try:
            result = _run_with_bar(ruleset, log.events, log.roster, store_url, "default", batch, keep_ledger,
                                   entries_out)
        except (ReplayError, gridpoints.EventError) as exc:
            raise click.ClickException(str(exc)) from None
        except StoreError as exc:
            raise click.ClickException(f"store: {exc}") from None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--store") from None
        if writer is not None and report_path is not None:
            _write_report(writer, report_path, result, policy, lang)
            click.echo(f"report: {report_path}", err=True)
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False, indent=2))
            return
        console = output_console()
        heading(console, f"{result['ruleset']} · {log.events}")
        print_summary(console, result, policy)
        return
    text = ruleset.read_text(encoding="utf-8")
    district: District = _on_dask(scheduler, workers, len(logs), lambda client, done: simulate_district(
        text, logs, client=client, store_url=_store_per_community(store_url), batch=batch, keep_ledger=keep_ledger,
        entries_out=_per_community(entries_out), on_done=done))
    merged = district.summary.to_dict()
    if writer is not None and report_path is not None:
        _write_report(writer, report_path, merged, policy, lang)
        click.echo(f"report: {report_path}", err=True)
    if as_json:
        document = district.to_dict()
        for row, log in zip(document["communities"], logs, strict=True):
            row["events"] = str(log.events)
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    console = output_console()
    heading(console, f"{merged['ruleset']} · {len(logs)} communities")
    console.print(_communities_table([(c.name, c.summary.to_dict()) for c in district.communities]))
    print_summary(console, merged, policy)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_from: int = 1) -> Table:
    # At least as wide as its title, so a narrow table's title stays on one line.
    table = Table(title=title, title_justify="left", min_width=cell_len(title))
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i >= numeric_from else "left")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_summary(console: Console, data: Mapping[str, Any], policy: gridpoints.Policy) -> None:
    """The worker's and auditor's view of a summary dict, as rich tables."""
    period = data["period"]
    console.print(f"period {period['start']} – {period['end']}", markup=False)
    console.print(_table("Totals", ("", "value"), list(data["totals"].items())))
    names = policy.spec.category_names()
    console.print(_table("Points by category", ("category", "issued", "deducted", "restored", "reversed"), [
        (f"{c} {names.get(c, '')}".strip(), v["issued"], v["deducted"], v["restored"], v["reversed"])
        for c, v in data["by_category"].items()]))
    console.print(_table("Points by rule", ("rule", "category", "matched", "issued", "deducted"), [
        (r, v["category"], v["matched"], v["issued"], v["deducted"]) for r, v in data["by_rule"].items()],
        numeric_from=2))
    console.print(_table("Limits", ("limit", "applied", "awards cut", "cut %", "points cut"), [
        (lid, v["applied"], v["bit"], f"{100 * v['bit'] / v['applied']:.1f}" if v["applied"] else "-", v["points_cut"])
        for lid, v in data["limits"].items()]))
    console.print(participation_table(data["participation"]))
    conc = data["concentration"]
    console.print(_table("Concentration of earned points (residents)", ("", "value"), [
        ("residents", conc["n"]), ("points earned", conc["total"]), ("Gini", conc["gini"]),
        ("top 10 % share", conc["top10"]), ("top 1 % share", conc["top1"])]))
    console.print(_table("Leaderboard (last month)", ("#", "subject", "grid", "earned"), [
        (i + 1, r["subject"], r["grid"], r["earned"]) for i, r in enumerate(data["leaderboard"])], numeric_from=3))
    corrections = data.get("corrections", {}).get("rows", [])
    if corrections:
        console.print(_table("Corrections", ("event", "subject", "period", "corrected in", "points reversed",
                                             "reason", "by", "period closed then"), [
            (r["event"], r["subject"], r["window"], r["corrected_in"], r["points"], r["reason"], r["actor"],
             "yes" if r["after_close"] else "no") for r in corrections], numeric_from=4))
    late = data.get("late", {}).get("by_window", {})
    if late:
        console.print(_table("Late events (recorded after their period closed)", ("period", "events", "points"),
                             [(window, v["events"], v["points"]) for window, v in late.items()]))
    for key, title in (("repairs", "Repairs"), ("redemptions", "Redemptions"), ("liability", "Outstanding points")):
        rows = [(k, v) for k, v in data[key].items() if not isinstance(v, Mapping)]
        # Refused redemptions by reason (repairs' "refused" is a plain count, shown above).
        refused = data[key].get("refused")
        if isinstance(refused, Mapping):
            rows += [(f"refused: {reason}", n) for reason, n in refused.items()]
        console.print(_table(title, ("", "value"), rows))


#: Up to this many grids, participation is shown grid by grid (months as columns).
GRID_TABLE_MAX = 30


def participation_table(participation: Mapping[str, Mapping[str, float]]) -> Table:
    """Grid by grid (months as columns) for up to :data:`GRID_TABLE_MAX` grids; otherwise months as rows
    with the mean over grids and the lowest and highest grid."""
    months = sorted({m for by_month in participation.values() for m in by_month})
    if len(participation) <= GRID_TABLE_MAX and len(months) <= 12:
        return _table("Participation per grid", ("grid", *months), [
            (grid, *(f"{by_month[m]:.1%}" if m in by_month else "-" for m in months))
            for grid, by_month in sorted(participation.items())])
    rows = []
    for month in months:
        rates = sorted((by_month[month], grid) for grid, by_month in participation.items() if month in by_month)
        mean = sum(r for r, _ in rates) / len(rates)
        rows.append((month, len(rates), f"{mean:.1%}", f"{rates[0][1]} {rates[0][0]:.1%}",
                     f"{rates[-1][1]} {rates[-1][0]:.1%}"))
    return _table("Participation by month", ("month", "grids", "mean", "lowest grid", "highest grid"), rows)


# -- compare --------------------------------------------------------------------------------------------


@click.command()
@click.argument("old", type=_RULESET)
@click.argument("new", type=_RULESET)
@click.argument("events", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--manifest", type=_FILE, help="The communities as JSON Lines (as simulate's), instead of EVENTS.")
@click.option("--roster", "roster", type=_FILE, help="Memberships (default: EVENTS.roster.jsonl if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of tables.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained before/after HTML report here.")
@click.option("--keep-ledger", is_flag=True, help=_KEEP_LEDGER_HELP)
@click.option("--entries-out", "entries_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each side's ledger entries as JSON Lines, one object per line, hash-chained: "
                   "NAME-old.SUFFIX and NAME-new.SUFFIX beside FILE (one events file only).")
@click.option("--scheduler", help=_SCHEDULER_HELP)
@click.option("--workers", type=click.IntRange(min=1), help=_WORKERS_HELP)
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
def compare(old: Path, new: Path, events: tuple[Path, ...], manifest: Path | None, roster: Path | None,
            as_json: bool, report_path: Path | None, keep_ledger: bool, entries_out: Path | None,
            scheduler: str | None, workers: int | None, batch: int, lang: str) -> None:
    """Replay EVENTS under OLD and NEW in one pass and show who gains and loses, how rankings move, and how
    totals, limits, concentration and outstanding points change (live by default, as simulate). Several
    communities run one task each on Dask, as simulate's, and are compared over all their residents."""
    before, after = load_policy(old, lang), load_policy(new, lang)
    writer = _report_writer("write_compare_report") if report_path is not None else None
    logs = _communities(events, manifest, (roster,) if roster is not None else ())
    if len(logs) > 1 or manifest is not None:
        if entries_out is not None:
            raise click.UsageError("--entries-out takes one events file")
        texts = old.read_text(encoding="utf-8"), new.read_text(encoding="utf-8")
        district: DistrictComparison = _on_dask(scheduler, workers, len(logs), lambda client, done: compare_district(
            *texts, logs, client=client, batch=batch, keep_ledger=keep_ledger, on_done=done))
        data = district.to_dict()
    else:
        data = _compare_one(before, after, logs[0], keep_ledger, entries_out, batch)
    if writer is not None and report_path is not None:
        _write_report(writer, report_path, data, after, lang)
        click.echo(f"report: {report_path}", err=True)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_comparison(output_console(), data)


def _compare_one(before: gridpoints.Policy, after: gridpoints.Policy, log: CommunityLog, keep_ledger: bool,
                 entries_out: Path | None, batch: int) -> dict[str, Any]:
    members = read_roster(log.roster) if log.roster is not None else None
    events = log.events
    outs = ([entries_out.with_name(f"{entries_out.stem}-{side}{entries_out.suffix}") for side in ("old", "new")]
            if entries_out is not None else [None, None])
    replays = [Replay(p, None, members, batch=batch, source=str(events), freeze_gc=True, keep_ledger=keep_ledger,
                      entries_out=out) for p, out in zip((before, after), outs, strict=True)]
    try:
        with _progress() as bar:
            task = bar.add_task(f"replaying {events.name} ×2", total=events.stat().st_size)
            for line, event in read_jsonl(events, on_bytes=lambda size: bar.advance(task, size)):
                for replay in replays:
                    replay.feed(event, line)
            summaries: list[SimulationSummary] = [replay.finish() for replay in replays]
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for replay in replays:
            replay.close()
    return Comparison.of(*summaries).to_dict()


def print_comparison(console: Console, data: Mapping[str, Any]) -> None:
    """A comparison dict as rich tables."""
    heading(console, f"{data['old']['ruleset']} → {data['new']['ruleset']}")
    dist = data["deltas"]["distribution"]
    console.print(_table("Change in points earned per resident (new − old)", ("", "value"), list(dist.items())))
    for key, title in (("gainers", "Gain most"), ("losers", "Lose most")):
        console.print(_table(title, ("subject", "grid", "old", "new", "delta"), [
            (r["subject"], r["grid"], r["old"], r["new"], r["delta"]) for r in data["deltas"][key]], numeric_from=2))
    rank = data["rank"]
    spearman = rank["spearman"]
    console.print(_table("Ranking", ("", "value"), [
        ("top-10 overlap", f"{rank['top10_overlap']} of 10"),
        ("Spearman rank correlation", "undefined" if spearman is None else f"{spearman:.4f}")]))
    console.print(_table("Points by category", ("category", "old issued", "new issued", "old deducted",
                                                "new deducted"), [
        (c, v["old_issued"], v["new_issued"], v["old_deducted"], v["new_deducted"])
        for c, v in data["categories"].items()]))
    console.print(_table("Limit hit rates (awards cut ÷ applied)", ("limit", "old", "new"), [
        (lid, f"{v['old_bit']}/{v['old_applied']} ({v['old_rate']:.1%})",
         f"{v['new_bit']}/{v['new_applied']} ({v['new_rate']:.1%})") for lid, v in data["limits"].items()]))
    conc = data["concentration"]
    console.print(_table("Concentration", ("", "old", "new"), [
        (k, conc["old"][k], conc["new"][k]) for k in ("gini", "top10", "top1")]))
    liability = data["liability"]
    console.print(_table("Outstanding points", ("old", "new", "change"),
                         [(liability["old"], liability["new"], liability["delta"])], numeric_from=0))


# -- demo -----------------------------------------------------------------------------------------------


@click.command()
@click.option("--out", "out", default="gridpoints-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Directory for the events, ledger and report.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
def demo(out: Path, lang: str) -> None:
    """One month of the Pudong 阳光社区 programme, end to end: synthesise it (seed 1), replay it through
    rulesets/pudong-sunshine.yaml into an embedded SQLite ledger (fresh each run), print what a community
    worker sees and write OUT/report.html."""
    started = time.perf_counter()
    ruleset = default_ruleset("pudong-sunshine")
    policy = load_policy(ruleset)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "gridpoints.db"
    for stale in (database, out / "gridpoints.db-journal", out / "gridpoints.db-wal", out / "gridpoints.db-shm"):
        stale.unlink(missing_ok=True)
    community = Community.from_preset("pudong", seed=1)
    events_path, roster_path = out / "events.jsonl", out / f"events{ROSTER_SUFFIX}"
    _write_lines(roster_path, community.roster())
    requests: list[int] = [0]
    console = output_console()
    console.print(f"阳光社区 (Pudong): {community.households:,} households, {community.residents:,} residents in "
                  f"{len(community.grid_ids)} grids; synthesising April 2026 → {events_path}", markup=False)
    start = date(2026, 4, 1)
    with _day_progress() as bar:
        days = bar.add_task("synthesising", total=(add_months(start, 1) - start).days)
        lines = _days_done(community.events(policy, start, 1), lambda n: bar.advance(days, n))
        count = _write_lines(events_path, _counting_redemptions(lines, requests))
    console.print(f"{count - requests[0]:,} events and {requests[0]:,} redemption requests", markup=False)
    try:
        data = _run_with_bar(ruleset, events_path, roster_path, f"sqlite:///{database}", "default", DEFAULT_BATCH)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    print_summary(console, data, policy)
    try:
        write_report = importlib.import_module("gridpoints.whatif._report").write_report
    except (ImportError, AttributeError):
        console.print("gridpoints.whatif._report is not available here: no HTML report written", markup=False)
    else:
        try:
            write_report(out / "report.html", data, lang="en" if lang == "en" else "zh",
                         category_names=policy.spec.category_names())
            console.print(f"report: {out / 'report.html'}", markup=False)
        except MissingExtra as exc:
            console.print(f"no HTML report: {exc}", markup=False)
    console.print(f"ledger: {database} ({time.perf_counter() - started:.1f} s)", markup=False)


__all__ = ["compare", "default_ruleset", "demo", "print_comparison", "print_summary", "run_file", "simulate",
           "synth"]
