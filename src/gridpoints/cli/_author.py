"""Policy authors' commands: ``synth``, ``simulate``, ``compare`` and ``demo`` (need the ``cli`` extra).

They are registered into the ``gridpoints`` group by :mod:`gridpoints.cli`. Exit codes follow it: 0 ok;
1 a refused event, an unreadable file, a report that cannot be written; 2 usage errors.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

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
from gridpoints.errors import MissingExtra, StoreError
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
ROSTER_SUFFIX = ".roster.jsonl"
#: The store URL of an in-process replay (live, unless --keep-ledger).
MEMORY_URL = "memory:"
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
        writer(path, data, lang=lang, category_names=dict(policy.spec.categories))
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
                   "simulate replays; run and explain take events only).")
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


def _event_files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.glob("*.jsonl")) if not p.name.endswith(ROSTER_SUFFIX))
        else:
            found.append(path)
    if not found:
        raise click.UsageError("no events: the directories given hold no *.jsonl files")
    return found


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


def _per_file(path: Path | None, events: Path, many: bool) -> Path | None:
    """``path`` for one events file; ``NAME-<events>.SUFFIX`` beside it for each of several."""
    if path is None or not many:
        return path
    return path.with_name(f"{path.stem}-{events.stem}{path.suffix}")


def _store_for(store_url: str, events: Path, many: bool) -> str:
    if not many or not store_url.startswith("sqlite:///"):
        return store_url
    # One embedded database per community, beside the one named, so parallel processes do not contend.
    base = Path(store_url.removeprefix("sqlite:///"))
    return f"sqlite:///{base.with_name(f'{base.stem}-{events.stem}{base.suffix}')}"


@click.command()
@click.argument("ruleset", type=_RULESET)
@click.argument("events", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--roster", "rosters", multiple=True, type=_FILE,
              help="Memberships (JSON Lines); one for all events files or one per file. Default: "
                   "EVENTS.roster.jsonl beside each file, else inferred from the events.")
@click.option("--store", "store_url", default=MEMORY_URL, show_default=True,
              help="Store URL: memory: (in process, replayed live unless --keep-ledger), sqlite:///FILE, "
                   "postgresql://… (the store keeps the whole ledger).")
@click.option("--keep-ledger", is_flag=True, help=_KEEP_LEDGER_HELP)
@click.option("--entries-out", "entries_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every ledger entry here as JSON Lines, one object per line, hash-chained (one file "
                   "per events file: NAME-<events>.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report here (one per file: NAME-<events>.html).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Replay several events files (communities) in parallel processes.")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
def simulate(ruleset: Path, events: tuple[Path, ...], rosters: tuple[Path, ...], store_url: str, keep_ledger: bool,
             entries_out: Path | None, as_json: bool, report_path: Path | None, workers: int, batch: int,
             lang: str) -> None:
    """Replay EVENTS (JSON Lines files, or directories of them) under RULESET and show what a community
    worker and an auditor look at: points by category and rule, limits that bit, participation per grid
    and month, concentration, the leaderboard, repairs, redemptions and outstanding points.

    By default the replay is live: it keeps balances, open windows' counters and open items, not the
    ledger's history, so a year of a large community fits in memory; --keep-ledger keeps every entry."""
    policy = load_policy(ruleset)
    writer = _report_writer("write_report") if report_path is not None else None
    files = _event_files(events)
    paired = _rosters(files, rosters)
    many = len(files) > 1
    jobs = [(ruleset, f, r, _store_for(store_url, f, many), f.stem if many else "default", batch, keep_ledger,
             _per_file(entries_out, f, many)) for f, r in zip(files, paired, strict=True)]
    results: list[dict[str, Any]] = []
    try:
        if workers > 1 and many:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool, _progress() as bar:
                task = bar.add_task(f"replaying {len(jobs)} communities", total=len(jobs))
                futures = [pool.submit(run_file, *job[:6], keep_ledger=job[6], entries_out=job[7]) for job in jobs]
                for future in futures:
                    results.append(future.result())
                    bar.advance(task)
        else:
            results = [_run_with_bar(*job) for job in jobs]
    except (ReplayError, gridpoints.EventError) as exc:
        raise click.ClickException(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    if writer is not None and report_path is not None:
        for path, result in zip(files, results, strict=True):
            target = report_path if not many else report_path.with_name(f"{report_path.stem}-{path.stem}.html")
            _write_report(writer, target, result, policy, lang)
            click.echo(f"report: {target}", err=True)
    if as_json:
        document: Any = results[0] if not many else {
            "runs": [{"events": str(p), "summary": r} for p, r in zip(files, results, strict=True)]}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    console = output_console()
    for path, result in zip(files, results, strict=True):
        heading(console, f"{result['ruleset']} · {path}")
        print_summary(console, result, policy)


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
    names = policy.spec.categories
    console.print(_table("Points by category", ("category", "issued", "deducted", "restored", "reversed"), [
        (f"{c} {names.get(c, '')}".strip(), v["issued"], v["deducted"], v["restored"], v["reversed"])
        for c, v in data["by_category"].items()]))
    console.print(_table("Points by rule", ("rule", "category", "matched", "issued", "deducted"), [
        (r, v["category"], v["matched"], v["issued"], v["deducted"]) for r, v in data["by_rule"].items()],
        numeric_from=2))
    console.print(_table("Limits", ("limit", "applied", "bit", "bit %", "points cut"), [
        (lid, v["applied"], v["bit"], f"{100 * v['bit'] / v['applied']:.1f}" if v["applied"] else "-", v["points_cut"])
        for lid, v in data["limits"].items()]))
    console.print(participation_table(data["participation"]))
    conc = data["concentration"]
    console.print(_table("Concentration of earned points (residents)", ("", "value"), [
        ("residents", conc["n"]), ("points earned", conc["total"]), ("Gini", conc["gini"]),
        ("top 10 % share", conc["top10"]), ("top 1 % share", conc["top1"])]))
    console.print(_table("Leaderboard (last month)", ("#", "subject", "grid", "earned"), [
        (i + 1, r["subject"], r["grid"], r["earned"]) for i, r in enumerate(data["leaderboard"])], numeric_from=3))
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
@click.argument("events", type=_FILE)
@click.option("--roster", "roster", type=_FILE, help="Memberships (default: EVENTS.roster.jsonl if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of tables.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained before/after HTML report here.")
@click.option("--keep-ledger", is_flag=True, help=_KEEP_LEDGER_HELP)
@click.option("--entries-out", "entries_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each side's ledger entries as JSON Lines, one object per line, hash-chained: "
                   "NAME-old.SUFFIX and NAME-new.SUFFIX beside FILE.")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
def compare(old: Path, new: Path, events: Path, roster: Path | None, as_json: bool, report_path: Path | None,
            keep_ledger: bool, entries_out: Path | None, batch: int, lang: str) -> None:
    """Replay EVENTS under OLD and NEW in one pass and show who gains and loses, how rankings move, and how
    totals, limits, concentration and outstanding points change (live by default, as simulate)."""
    before, after = load_policy(old), load_policy(new)
    writer = _report_writer("write_compare_report") if report_path is not None else None
    roster = roster if roster is not None else _rosters([events], [])[0]
    members = read_roster(roster) if roster is not None else None
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
    comparison = Comparison.of(*summaries)
    data = comparison.to_dict()
    if writer is not None and report_path is not None:
        _write_report(writer, report_path, data, after, lang)
        click.echo(f"report: {report_path}", err=True)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_comparison(output_console(), data)


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
    console.print(_table("Limit hit rates (bit ÷ applied)", ("limit", "old", "new"), [
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
                         category_names=dict(policy.spec.categories))
            console.print(f"report: {out / 'report.html'}", markup=False)
        except MissingExtra as exc:
            console.print(f"no HTML report: {exc}", markup=False)
    console.print(f"ledger: {database} ({time.perf_counter() - started:.1f} s)", markup=False)


__all__ = ["compare", "default_ruleset", "demo", "print_comparison", "print_summary", "run_file", "simulate",
           "synth"]
