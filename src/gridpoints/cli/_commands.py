"""The click commands behind :mod:`gridpoints.cli` (needs the ``cli`` extra: click and rich)."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

import gridpoints
from gridpoints.audit import read_key
from gridpoints.engine.lifecycle import choices, upgrade_plans
from gridpoints.errors import RulesetError, SealKeyMismatch, StoreError, VersionMissing
from gridpoints.model import Decision
from gridpoints.model._registry import MemoryRegistry
from gridpoints.policy import diff as policy_diff
from gridpoints.ruleset import json_schema_text
from gridpoints.storage import JsonlAnchors
from gridpoints.whatif._log import (
    DEFAULT_BATCH,
    LogResult,
    ReplayError,
    is_event,
    is_redemption,
    located,
    parse_redemption,
    parse_staff_action,
    read_jsonl,
    staff_kind,
    submit_log,
)
from gridpoints.whatif._simulate import read_roster

#: The store ``run`` uses unless ``--store`` says otherwise.
DEFAULT_STORE = "sqlite:///gridpoints.db"
#: A roster beside an events file: EVENTS.roster.jsonl (as ``synth --roster`` is usually given).
ROSTER_SUFFIX = ".roster.jsonl"
#: Limit kinds whose trace steps end in within / truncated / rejected.
_COUNTED_LIMIT_KINDS = ("cap", "budget")
_OUTCOMES = ("within", "truncated", "rejected")


#: Width a table may take when the output is not a terminal (a pipe, a file): wide enough that no table
#: wraps; tables are as wide as their cells, never padded to it.
PIPED_WIDTH = 1000
#: Width of a heading rule when the output is not a terminal.
PIPED_RULE_WIDTH = 100


def output_console() -> Console:
    """The console the commands print their tables on: the terminal's width, or, piped, wide enough that
    tables never wrap (a file or ``less -S`` shows each row on one line)."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=PIPED_WIDTH)
    return console


def heading(console: Console, title: str) -> None:
    """A rule with ``title``, as wide as the terminal, or :data:`PIPED_RULE_WIDTH` when piped."""
    console.print(Rule(title), width=None if console.is_terminal else PIPED_RULE_WIDTH)


def read_log(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A log's lines, all read and checked before anything is submitted (a malformed line, or a malformed
    redemption line, fails the command naming ``file:line`` and nothing is written): the reader every
    replay uses (:func:`gridpoints.whatif.read_jsonl`)."""
    try:
        lines = list(read_jsonl(path))
        for number, data in lines:
            try:
                if is_redemption(data):
                    parse_redemption(data)
                elif staff_kind(data) is not None:
                    parse_staff_action(data)
            except ValueError as exc:
                raise located(str(path), number, exc) from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read events: {exc}") from None
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    return lines


def load_policy(path: Path, lang: str = "zh") -> gridpoints.Policy:
    """The compiled ruleset at ``path``; on errors print each located issue in ``lang`` (Chinese unless a
    command's ``--lang en`` asks otherwise) and fail the command (exit 1)."""
    try:
        return gridpoints.load_ruleset(path)
    except RulesetError as exc:
        for issue in exc.issues:
            click.echo(issue.describe(lang), err=True)
        count = len(exc.issues)
        raise click.ClickException(f"{path}：规则集无效（{count} 处问题）" if lang == "zh"
                                   else f"{path}: invalid ruleset ({count} problem(s))") from None


def _registry(events_file: Path, roster: Path | None) -> tuple[MemoryRegistry, bool]:
    """The memberships of ``--roster``, else of ``EVENTS.roster.jsonl`` beside the events, and False; else an
    empty registry and True: the replay infers them from the events."""
    if roster is None:
        sibling = events_file.with_name(events_file.name.removesuffix(".jsonl") + ROSTER_SUFFIX)
        roster = sibling if sibling.is_file() else None
    if roster is None:
        return MemoryRegistry(), True
    try:
        return MemoryRegistry(read_roster(roster)), False
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None


def _open_engine(policy: gridpoints.Policy, store_url: str, tenant: str, *, registry: MemoryRegistry | None = None,
                 anchors: str | None = None, anchor_every: int = 1000, key_file: str | None = None
                 ) -> gridpoints.Engine:
    key = None
    if key_file is not None:
        try:
            key = read_key(key_file)
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc), param_hint="--key-file") from None
    try:
        store = gridpoints.open_store(store_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    sink = JsonlAnchors(anchors) if anchors is not None else None
    try:
        return gridpoints.Engine(policy, store=store, tenant=tenant, registry=registry, seal_key=key,
                                 anchor_sink=sink, anchor_every=anchor_every)
    except SealKeyMismatch as exc:
        store.close()
        raise click.ClickException(f"--key-file: {exc.message('en')}\n{exc.message('zh')}") from None


@attrs.define
class Summary:
    """What a run did, counted from the decisions' traces (duplicates add nothing: they wrote nothing)."""

    events: int = 0
    duplicates: int = 0
    awards: int = 0
    deductions: int = 0
    points_issued: int = 0
    points_deducted: int = 0
    rules: dict[str, Counter[str]] = attrs.field(factory=dict)
    limits: dict[str, Counter[str]] = attrs.field(factory=dict)
    #: Redemption lines replayed; those accepted (redeemed, held, or applied for an allocation) and the points
    #: they took from spendable balances; the refused ones by reason.
    requests: int = 0
    accepted: int = 0
    points_spent: int = 0
    refused: dict[str, int] = attrs.field(factory=dict)

    @classmethod
    def of(cls, decisions: Sequence[Decision], result: LogResult | None = None) -> Summary:
        summary = cls(events=len(decisions))
        if result is not None:
            summary.requests, summary.accepted = result.requests, len(result.redeemed)
            summary.points_spent = -sum(d.points for d in result.redeemed if not d.duplicate)
            summary.refused = dict(result.refused)
        for decision in decisions:
            if decision.duplicate:
                summary.duplicates += 1
                continue
            for rule in decision.trace.rules:
                counts = summary.rules.setdefault(rule.rule_id, Counter())
                counts["matched"] += 1
                counts["points"] += rule.granted
                if rule.granted > 0:
                    summary.awards += 1
                    summary.points_issued += rule.granted
                elif rule.granted < 0:
                    summary.deductions += 1
                    summary.points_deducted -= rule.granted
                for step in rule.steps:
                    kind, _, outcome = step.code.rpartition(".")
                    if kind in _COUNTED_LIMIT_KINDS and outcome in _OUTCOMES:
                        summary.limits.setdefault(step.limit_id, Counter())[outcome] += 1
        return summary

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events, "duplicates": self.duplicates, "awards": self.awards,
            "deductions": self.deductions, "points_issued": self.points_issued,
            "points_deducted": self.points_deducted,
            "rules": {rid: {"matched": c["matched"], "points": c["points"]} for rid, c in sorted(self.rules.items())},
            "limits": {lid: {outcome: c[outcome] for outcome in _OUTCOMES} for lid, c in sorted(self.limits.items())},
            "redemptions": {"requests": self.requests, "accepted": self.accepted, "points_spent": self.points_spent,
                            "refused": dict(sorted(self.refused.items()))},
        }


def _balances_table(ranked: Sequence[tuple[str, int]]) -> Table:
    table = Table(title="Balances")
    table.add_column("#", justify="right")
    table.add_column("subject")
    table.add_column("balance", justify="right")
    for rank, (subject, balance) in enumerate(ranked, start=1):
        table.add_row(str(rank), subject, str(balance))
    return table


def _summary_tables(summary: Summary, policy: gridpoints.Policy) -> list[Table]:
    totals = Table(title="Summary")
    totals.add_column("")
    totals.add_column("count", justify="right")
    for label, value in (("events", summary.events), ("duplicates (already recorded)", summary.duplicates),
                         ("awards", summary.awards), ("deductions", summary.deductions),
                         ("points issued", summary.points_issued), ("points deducted", summary.points_deducted)):
        totals.add_row(label, f"{value:,}")
    if summary.requests:
        totals.add_row("redemption requests", f"{summary.requests:,}")
        totals.add_row("redemptions accepted", f"{summary.accepted:,}")
        totals.add_row("points spent on them", f"{summary.points_spent:,}")
        for reason, count in sorted(summary.refused.items()):
            totals.add_row(f"refused: {reason}", f"{count:,}")
    rules = Table(title="Rules")
    rules.add_column("rule")
    rules.add_column("name")
    rules.add_column("matched", justify="right")
    rules.add_column("points", justify="right")
    for rule in policy.rules:
        counts = summary.rules.get(rule.id, Counter())
        rules.add_row(rule.id, rule.name, str(counts["matched"]), str(counts["points"]))
    tables = [totals, rules]
    if policy.limits:
        caps = Table(title="Caps")
        caps.add_column("limit")
        for outcome in _OUTCOMES:
            caps.add_column(outcome, justify="right")
        for limit in policy.limits:
            if limit.kind in _COUNTED_LIMIT_KINDS:
                counts = summary.limits.get(limit.id, Counter())
                caps.add_row(limit.id, *(str(counts[outcome]) for outcome in _OUTCOMES))
        tables.append(caps)
    return tables


_RULESET = click.Path(exists=True, dir_okay=False, path_type=Path)
_EVENTS = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gridpoints.__version__, prog_name="gridpoints")
def cli() -> None:
    """gridpoints: a rules engine for community grid points management (网格积分制)."""


@cli.command()
@click.argument("rulesets", nargs=-1, required=True, type=_RULESET)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the messages (the codes and places are the same in both).")
def lint(rulesets: tuple[Path, ...], strict: bool, lang: str) -> None:
    """Check RULESETS and print every diagnostic; exit 1 on errors (or on warnings with --strict)."""
    console = Console(highlight=False)
    errors = warnings = 0
    for path in rulesets:
        for diagnostic in gridpoints.lint(path):
            style = "bold red" if diagnostic.severity == "error" else "yellow"
            label, _, rest = diagnostic.describe(lang).partition(" ")
            # One line per diagnostic, never wrapped: editors and CI annotators parse file:line:col from it.
            console.print(Text.assemble((label, style), f" {rest}"), soft_wrap=True)
            if diagnostic.severity == "error":
                errors += 1
            else:
                warnings += 1
    summary = (f"共 {len(rulesets)} 个文件：{errors} 个错误，{warnings} 个警告" if lang == "zh"
               else f"{len(rulesets)} file(s): {errors} error(s), {warnings} warning(s)")
    console.print(summary, markup=False)
    if errors or (strict and warnings):
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the schema here.")
@click.option("--check", "check", type=click.Path(dir_okay=False, path_type=Path),
              help="Exit 1 if this file is not the current schema (for CI).")
def schema(output: Path | None, check: Path | None) -> None:
    """Print the ruleset JSON Schema (or write it with --output, or compare it with --check)."""
    text = json_schema_text()
    if check is not None:
        try:
            current = check.read_text(encoding="utf-8") == text
        except FileNotFoundError:
            current = False
        if not current:
            raise click.ClickException(f"{check} is not the current schema; regenerate it with "
                                       f"gridpoints schema --output {check}")
        click.echo(f"{check} is current")
        return
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        return
    click.echo(text, nl=False)


@cli.command()
@click.argument("ruleset", type=_RULESET)
@click.argument("events_file", metavar="EVENTS.jsonl", type=_EVENTS)
@click.option("--store", "store_url", default=DEFAULT_STORE, show_default=True,
              help="Store URL: memory:, sqlite:///FILE, postgresql://…, mysql://…")
@click.option("--tenant", default="default", show_default=True, help="Tenant the events belong to.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary instead of tables.")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1),
              help="Events per submit_many transaction.")
@click.option("--anchors", metavar="FILE", help="Append the chain's heads to this JSON Lines file (for verify "
                                                "--anchors): every --anchor-every entries and at the end.")
@click.option("--anchor-every", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Entries between anchors.")
@click.option("--key-file", metavar="F", help="Seal the ledger with the tenant's key from this file (16-64 bytes).")
@click.option("--roster", "roster", type=_EVENTS,
              help="Memberships (JSON Lines, as synth --roster writes). Default: EVENTS.roster.jsonl beside the "
                   "events if present, else inferred from the events (as simulate does).")
def run(ruleset: Path, events_file: Path, store_url: str, tenant: str, as_json: bool, batch: int,
        anchors: str | None, anchor_every: int, key_file: str | None, roster: Path | None) -> None:
    """Submit the events and redemption lines in EVENTS.jsonl under RULESET (any log ``gridpoints synth``
    writes); print balances and a summary. Batches follow the replay's rule: an event that settles or
    repairs one is submitted after the batch holding it; redemption lines are asked in order. No period
    is closed (``simulate`` closes them)."""
    policy = load_policy(ruleset)
    lines = read_log(events_file)
    events = [data for _, data in lines if is_event(data)]
    registry, infer = _registry(events_file, roster)
    engine = _open_engine(policy, store_url, tenant, registry=registry, anchors=anchors, anchor_every=anchor_every,
                          key_file=key_file)
    try:
        result = submit_log(engine, lines, batch=batch, source=str(events_file), infer=registry if infer else None)
        engine.anchor("run")
        subjects = {d.subject for d in (*result.decisions, *result.redeemed, *result.staff)}
        # Verifiers are credited too (a grid worker's performance points).
        subjects.update(data["actor"] for _, data in lines if isinstance(data.get("actor"), str))
        subjects.update(parse_redemption(data).subject for _, data in lines if is_redemption(data))
        balances = engine.balances(sorted(subjects))
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    finally:
        engine.store.close()
    ranked = sorted(balances.items(), key=lambda item: (-item[1], item[0]))
    decisions = result.decisions
    summary = Summary.of(decisions, result)
    if as_json:
        payload = {"ruleset": policy.ref, "tenant": tenant, **summary.to_json(),
                   "balances": [{"subject": s, "balance": b} for s, b in ranked]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    console = output_console()
    console.print(f"{policy.ref}: {len(events)} event(s) from {events_file}", markup=False)
    console.print(_balances_table(ranked))
    for table in _summary_tables(summary, policy):
        console.print(table)


@cli.command()
@click.argument("ruleset", type=_RULESET)
@click.argument("events_file", metavar="EVENTS.jsonl", type=_EVENTS)
@click.option("--event", "event_id", required=True, help="Id of the event to explain.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def explain(ruleset: Path, events_file: Path, event_id: str, lang: str) -> None:
    """Replay EVENTS.jsonl up to and including --event in a memory store (as ``run`` does) and explain that
    event's decision."""
    policy = load_policy(ruleset, lang)
    lines = read_log(events_file)
    if not any(is_event(data) and data.get("id") == event_id for _, data in lines):
        count = sum(1 for _, data in lines if is_event(data))
        raise click.ClickException(f"{events_file}: no event with id {event_id!r} ({count} event(s) read)")
    registry, infer = _registry(events_file, None)
    engine = gridpoints.Engine(policy, store=gridpoints.MemoryStore(), registry=registry)
    try:
        result = submit_log(engine, lines, source=str(events_file), until=event_id,
                            infer=registry if infer else None)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    decision = next(d for d in reversed(result.decisions) if d.event_id == event_id)
    click.echo(decision.explain("en" if lang == "en" else "zh",
                                policy.attribute_labels(decision.trace.event_type)))


@cli.command()
@click.argument("ruleset", type=_RULESET)
@click.option("--examples", default=100, show_default=True, type=click.IntRange(min=1),
              help="Generated event streams per property.")
@click.option("--seed", type=int, default=None, help="Seed the generator for a reproducible run.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the report.")
def check(ruleset: Path, examples: int, seed: int | None, lang: str) -> None:
    """Prove RULESET fair with generated event streams: caps, shares, equal treatment, determinism,
    idempotency, conservation, the floor; print a replayable counter-example for any failure."""
    try:
        from gridpoints.testing.fairness import run_check
    except ModuleNotFoundError as exc:
        if exc.name != "hypothesis":
            raise
        raise click.ClickException("gridpoints check needs hypothesis: pip install 'gridpoints[test]'") from exc
    out = io.StringIO()
    status = run_check(str(ruleset), examples, out, seed=seed, lang="en" if lang == "en" else "zh")
    click.echo(out.getvalue(), nl=False)
    sys.exit(status)


def _choices(given: Sequence[str]) -> str | dict[str, str]:
    """``--stranded`` values: one choice for every kind, or KIND=CHOICE pairs."""
    if len(given) == 1 and "=" not in given[0]:
        return given[0]
    found: dict[str, str] = {}
    for pair in given:
        kind, sep, choice = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: give one choice for all kinds or KIND=CHOICE pairs",
                                     param_hint="--stranded")
        found[kind] = choice
    return found


@cli.command()
@click.argument("old", type=_RULESET)
@click.argument("new", type=_RULESET)
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON.")
@click.option("--store", "store_url", help="A store whose open items to check (pending verifications, appeals, "
                                           "repairs, held redemptions) as an upgrade at --now would find them.")
@click.option("--tenant", default="default", show_default=True, help="Tenant of --store.")
@click.option("--now", "now_text", metavar="ISO-TIME",
              help="When the upgrade would happen (default: the current time).")
@click.option("--stranded", "stranded", multiple=True, metavar="CHOICE|KIND=CHOICE",
              help="What the upgrade does with items NEW cannot settle: keep (default), expire, carry or refuse; "
                   "per kind (pending, appeal, repair, hold) as KIND=CHOICE, repeatable.")
def diff(old: Path, new: Path, as_json: bool, store_url: str | None, tenant: str, now_text: str | None,
         stranded: tuple[str, ...]) -> None:
    """What changes from ruleset OLD to NEW: rules, limits, repairs, catalog items and challenges added,
    removed or changed, and what an upgrade mid-window does to each limit's counters (carried, re-based,
    reset, dropped). With --store, also what an upgrade would do with each open item NEW cannot settle.
    Exits 1 when an upgrade would reset a limit's counters mid-window or refuse an open item."""
    before, after = load_policy(old), load_policy(new)
    found = policy_diff(before, after)
    payload = found.to_dict()
    lines = found.lines()
    refused = False
    if store_url is not None:
        items, refused_items, now = _open_items(before, after, store_url, tenant, now_text, stranded)
        refused = bool(refused_items)
        payload["open_items"] = {"now": now.isoformat(), "tenant": tenant,
                                 "stranded": [attrs.asdict(item) for item in items],
                                 "refused": [attrs.asdict(item) for item in refused_items]}
        lines.append(f"open items at {now.isoformat()} (tenant {tenant}): {len(items)} that {after.ref} cannot "
                     "settle")
        then = {"keep": "settled by {old}", "expire": "settled now", "carry": "cannot be carried: refused",
                "refuse": "the upgrade is refused"}
        lines += [f"  {item} ({then[str(item.choice)].format(old=item.ruleset)})" for item in items] or ["  none"]
        if refused_items:
            lines.append(f"the upgrade would be refused: {len(refused_items)} item(s); upgrade with "
                         "--stranded keep (the version that opened each item settles it) or expire (settled now)")
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for line in lines:
            click.echo(line)
    sys.exit(1 if found.resets or refused else 0)


def _open_items(before: gridpoints.Policy, after: gridpoints.Policy, store_url: str, tenant: str,
                now_text: str | None, stranded: tuple[str, ...]) -> tuple[list[Any], list[Any], datetime]:
    """The open items ``after`` strands, each with the upgrade's choice, and those it would refuse."""
    try:
        now = datetime.fromisoformat(now_text) if now_text is not None else datetime.now(UTC)
    except ValueError:
        raise click.BadParameter(f"{now_text!r} is not an ISO 8601 time", param_hint="--now") from None
    if now.utcoffset() is None:
        raise click.BadParameter("give the time with its UTC offset", param_hint="--now")
    try:
        chosen: dict[str, Any] = dict(choices(_choices(stranded) if stranded else "keep"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stranded") from None
    engine = _open_engine(before, store_url, tenant)
    try:
        items = engine.stranded(after, now=now, stranded=chosen)
        _, refused = upgrade_plans(engine.context, after, now, choices(chosen))
    except VersionMissing as exc:
        raise click.ClickException(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    finally:
        engine.store.close()
    return items, refused, now


@cli.command()
@click.argument("url")
@click.option("--tenant", default="default", show_default=True, help="Tenant whose ledger to audit.")
@click.option("--anchor", metavar="HASH@SEQ", help="A head recorded earlier (Engine.head()): detects truncation.")
@click.option("--anchors", "anchors_file", metavar="FILE",
              help="A JSON Lines file of anchors an anchor sink kept (gridpoints run --anchors).")
@click.option("--key-file", metavar="F", help="The tenant's sealing key, for a keyed ledger.")
def verify(url: str, tenant: str, anchor: str | None, anchors_file: str | None, key_file: str | None) -> None:
    """Audit the ledger at URL without writing to it: walk the entries' and the records' chains, recompute
    every balance and counter, check each decision against its entries and every anchor; report the first
    bad sequence number and event (exit 1), or a store that cannot be read (2)."""
    from gridpoints.audit import run_verify

    out = io.StringIO()
    status = run_verify(url, tenant, anchor, out, anchors_file=anchors_file, key_file=key_file)
    click.echo(out.getvalue(), nl=False)
    sys.exit(status)


@cli.group()
def db() -> None:
    """Manage a SQL store's schema."""


@db.command("upgrade")
@click.argument("url")
@click.option("--prefix", "table_prefix", default="gridpoints_", show_default=True,
              help="Table name prefix, so the tables can live in a host's own database.")
def db_upgrade(url: str, table_prefix: str) -> None:
    """Create or upgrade the gridpoints tables at URL (sqlite:///…, postgresql://…, mysql://…) and print the
    schema version. Safe to run again; refuses a database whose schema is newer than this gridpoints."""
    try:
        from gridpoints.storage.sql._store import upgrade
    except ModuleNotFoundError as exc:
        raise click.ClickException("the SQL store needs SQLAlchemy: pip install 'gridpoints[sql]'") from exc
    try:
        version = upgrade(url, table_prefix=table_prefix)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(f"cannot upgrade {url}: {exc}") from exc
    click.echo(f"{url}: gridpoints schema version {version} (tables {table_prefix}*)")
