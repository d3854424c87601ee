"""Many communities at once (a street, a district, a city): one replay per community, figures merged exactly.

A district's what-if replay is one live-state replay per community (each its own tenant, registry and
ledger, as :class:`~gridpoints.whatif.Replay` does it for one log) and a merge of what they found. The
replays are independent, so they run as tasks on a ``dask.distributed`` cluster
(:func:`dask_client`: a :class:`~distributed.LocalCluster` on this machine, or an existing scheduler by
address), or one after another in this process when no client is given.

The merge is exact, not an average of per-community figures: each task returns its summary together with
every resident's earned points and final balance (:class:`CommunityResult`), and :func:`merge_communities` recomputes
the figures that are not sums — the Gini coefficient, top shares and Lorenz curve of earned points, the
median and 90th percentile of balances, participation's mean over grids and months — over the union of
residents. Sums (points by category and rule, limits, repairs, redemptions, outstanding points) are
added. Residents and grids keep their community's name in front (``east/g01``, ``east/g01-h001-1``): two
communities' ids may coincide, and a district's figures count them as different people. The merged
leaderboard is the top 10 of the last month among the communities whose log reaches that month.

Every task reads its events file and roster by path, so the cluster's workers must see the same paths (a
shared filesystem; a :class:`~distributed.LocalCluster` does). The ruleset travels as its YAML text.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from gridpoints.errors import MissingExtra
from gridpoints.policy import Policy, load_ruleset
from gridpoints.storage import open_store
from gridpoints.whatif._simulate import (
    DEFAULT_BATCH,
    Comparison,
    Replay,
    ReplayError,
    SimulationSummary,
    balance_spread,
    concentration_figures,
    read_jsonl,
    read_roster,
    valuation,
)

if TYPE_CHECKING:
    from distributed import Client

#: The store URL of an in-process replay (live, unless ``keep_ledger``).
MEMORY_URL = "memory:"
#: Between a community's name and a resident's or grid's id in merged figures.
SEPARATOR = "/"
#: A file beside ``NAME.jsonl`` holding that community's memberships.
ROSTER_SUFFIX = ".roster.jsonl"


@attrs.frozen(slots=True)
class CommunityLog:
    """One community's events file, its roster (None: inferred from the events) and its name in merged
    figures (unique within a district)."""

    name: str
    events: Path
    roster: Path | None = None


@attrs.frozen(slots=True)
class CommunityResult:
    """What one community's replay returns to the merge: its summary and each resident's final spendable
    balance (the summary keeps only their median, 90th percentile and largest)."""

    name: str
    summary: SimulationSummary
    balances: Mapping[str, int]


@attrs.frozen(slots=True)
class District:
    """A district's replay: the merged summary and each community's result, in the order given."""

    summary: SimulationSummary
    communities: tuple[CommunityResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"merged": summary, "communities": [{"name", "summary"}]}`` (``gridpoints simulate --json``)."""
        return {"merged": self.summary.to_dict(),
                "communities": [{"name": c.name, "summary": c.summary.to_dict()} for c in self.communities]}


@attrs.frozen(slots=True)
class DistrictComparison:
    """The same logs under two rulesets: the comparison of the merged summaries (per-resident deltas over
    every community) and each community's pair of results (old, new)."""

    comparison: Comparison
    communities: tuple[tuple[CommunityResult, CommunityResult], ...]

    def to_dict(self) -> dict[str, Any]:
        """The merged comparison's document plus ``communities`` [{name, old, new}] (their summaries)."""
        document = self.comparison.to_dict()
        document["communities"] = [{"name": old.name, "old": old.summary.to_dict(), "new": new.summary.to_dict()}
                                   for old, new in self.communities]
        return document


# -- finding the logs -----------------------------------------------------------------------------------


def community_logs(paths: Sequence[str | Path]) -> list[CommunityLog]:
    """The communities in ``paths``: events files, and directories of them (``*.jsonl`` in name order, rosters
    excluded); each named by its file's stem, with ``NAME.roster.jsonl`` beside it as its roster if present.
    Raises :class:`ReplayError` when two communities get the same name or nothing is found."""
    files: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            files.extend(p for p in sorted(given.glob("*.jsonl")) if not p.name.endswith(ROSTER_SUFFIX))
        else:
            files.append(given)
    logs = []
    for path in files:
        roster = path.with_name(path.name.removesuffix(".jsonl") + ROSTER_SUFFIX)
        logs.append(CommunityLog(path.stem, path, roster if roster.is_file() else None))
    return _checked(logs, ", ".join(map(str, paths)))


def read_manifest(path: str | Path) -> list[CommunityLog]:
    """Communities listed in a manifest: JSON Lines, one object per community with ``events`` (a path),
    optional ``roster`` and optional ``name`` (default: the events file's stem); relative paths are taken
    from the manifest's folder. Raises :class:`ReplayError` naming ``manifest:line`` for a bad line."""
    manifest = Path(path)
    logs = []
    for line, row in read_jsonl(manifest):
        unknown = sorted(set(row) - {"name", "events", "roster"})
        if unknown:
            raise ReplayError(f"{manifest}:{line}: unknown key(s) {', '.join(unknown)}; expected name, events, roster")
        events, roster, name = row.get("events"), row.get("roster"), row.get("name")
        if not isinstance(events, str) or not events:
            raise ReplayError(f"{manifest}:{line}: events: expected a path, got {events!r}")
        for key, value in (("roster", roster), ("name", name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ReplayError(f"{manifest}:{line}: {key}: expected a non-empty string, got {value!r}")
        events_path = manifest.parent / events
        if not events_path.is_file():
            raise ReplayError(f"{manifest}:{line}: events: no such file {events_path}")
        roster_path = manifest.parent / roster if roster is not None else None
        if roster_path is not None and not roster_path.is_file():
            raise ReplayError(f"{manifest}:{line}: roster: no such file {roster_path}")
        logs.append(CommunityLog(name if name is not None else events_path.stem, events_path, roster_path))
    return _checked(logs, str(manifest))


def _checked(logs: list[CommunityLog], where: str) -> list[CommunityLog]:
    if not logs:
        raise ReplayError(f"{where}: no events files (*.jsonl) found")
    seen: dict[str, Path] = {}
    for log in logs:
        if SEPARATOR in log.name:
            raise ReplayError(f"{where}: community name {log.name!r} contains {SEPARATOR!r}")
        if log.name in seen:
            raise ReplayError(f"{where}: two communities are named {log.name!r} ({seen[log.name]} and {log.events}); "
                              f"name them apart in a manifest")
        seen[log.name] = log.events
    return logs


# -- one community (a task) -----------------------------------------------------------------------------


def _open(store_url: str, name: str) -> Any:
    """None for an in-process replay; the store at ``store_url`` otherwise (``{name}`` in it becomes the
    community's name, so that each community gets its own embedded database)."""
    if store_url.split(":", 1)[0].lower() == MEMORY_URL.rstrip(":"):
        return None
    return open_store(store_url.replace("{name}", name))


def _replays(policies: Sequence[Policy], log: CommunityLog, *, store_url: str, batch: int, keep_ledger: bool,
             entries_out: str | None = None) -> list[CommunityResult]:
    members = read_roster(log.roster) if log.roster is not None else None
    stores = [_open(store_url, log.name) for _ in policies] if len(policies) == 1 else [None] * len(policies)
    out = entries_out.replace("{name}", log.name) if entries_out is not None else None
    replays = [Replay(policy, store, members, tenant=log.name, batch=batch, source=str(log.events),
                      freeze_gc=True, keep_ledger=keep_ledger, entries_out=out)
               for policy, store in zip(policies, stores, strict=True)]
    try:
        for line, event in read_jsonl(log.events):
            for replay in replays:
                replay.feed(event, line)
        results = []
        for replay in replays:
            summary = replay.finish()
            balances = replay.engine.balances(sorted(summary.grid_of))
            results.append(CommunityResult(log.name, summary, balances))
        return results
    finally:
        for replay in replays:
            replay.close()
        for store in stores:
            if store is not None:
                store.close()


def simulate_community(ruleset: str, log: CommunityLog, *, store_url: str = MEMORY_URL, batch: int = DEFAULT_BATCH,
                       keep_ledger: bool = False, entries_out: str | None = None) -> CommunityResult:
    """Replay one community's log under ``ruleset`` (YAML text): live in memory by default, into the store
    at ``store_url`` otherwise (tenant: the community's name), its entries streamed to ``entries_out`` if
    given (``{name}`` in these two becomes the community's name). A district's unit of work."""
    return _replays([load_ruleset(ruleset)], log, store_url=store_url, batch=batch, keep_ledger=keep_ledger,
                    entries_out=entries_out)[0]


def compare_community(old: str, new: str, log: CommunityLog, *, batch: int = DEFAULT_BATCH,
                      keep_ledger: bool = False) -> tuple[CommunityResult, CommunityResult]:
    """Replay one community's log under ``old`` and ``new`` (YAML texts) in one pass; both results."""
    before, after = _replays([load_ruleset(old), load_ruleset(new)], log, store_url=MEMORY_URL, batch=batch,
                             keep_ledger=keep_ledger)
    return before, after


# -- merging --------------------------------------------------------------------------------------------


def _named(name: str, key: str) -> str:
    return f"{name}{SEPARATOR}{key}"


def merge_communities(policy: Policy, results: Sequence[CommunityResult]) -> SimulationSummary:
    """One summary of several communities' replays under ``policy``, computed over the union of their
    residents (see the module docstring); residents and grids are named ``community/id``."""
    if not results:
        raise ValueError("nothing to merge: no community results")
    totals: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_rule: dict[str, dict[str, Any]] = {}
    limits: dict[str, Counter[str]] = defaultdict(Counter)
    participation: dict[str, dict[str, float]] = {}
    earned: dict[str, int] = {}
    grid_of: dict[str, str] = {}
    heat: dict[str, Any] = {}
    repairs: Counter[str] = Counter()
    redemptions: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    by_item: dict[str, Counter[str]] = defaultdict(Counter)
    liability: Counter[str] = Counter()
    balances: list[int] = []
    corrections: list[dict[str, Any]] = []
    late: dict[str, Counter[str]] = defaultdict(Counter)
    starts, ends, closed = [], [], 0
    for result in results:
        name, summary = result.name, result.summary
        if summary.period["start"]:
            starts.append(summary.period["start"])
            ends.append(summary.period["end"])
        for key, value in summary.totals.items():
            if isinstance(value, int):
                totals[key] += value
        closed = max(closed, int(summary.totals.get("periods_closed", 0)))
        for category, counts in summary.by_category.items():
            by_category[category].update(counts)
        for rule, counts in summary.by_rule.items():
            merged = by_rule.setdefault(rule, {"category": counts["category"]})
            for key, value in counts.items():
                if key != "category":
                    merged[key] = merged.get(key, 0) + value
        for limit, counts in summary.limits.items():
            limits[limit].update(counts)
        for grid, by_month in summary.participation.items():
            participation[_named(name, grid)] = dict(by_month)
        earned.update({_named(name, s): points for s, points in summary.earned_by_subject.items()})
        grid_of.update({_named(name, s): _named(name, g) for s, g in summary.grid_of.items()})
        heat.update({_named(name, grid): value for grid, value in summary.heat.items()})
        repairs.update(summary.repairs)
        for key, value in summary.redemptions.items():
            if isinstance(value, int):
                redemptions[key] += value
        refused.update(summary.redemptions.get("refused", {}))
        for item, counts in summary.redemptions.get("by_item", {}).items():
            by_item[item].update(counts)
        liability.update({k: v for k, v in summary.liability.items()
                          if k in ("points", "holders", "negative_points", "pending_points", "held_points")})
        balances.extend(result.balances[s] for s in summary.grid_of)
        corrections.extend({**row, "subject": _named(name, row["subject"])}
                           for row in summary.corrections.get("rows", ()))
        for window, counts in summary.late.get("by_window", {}).items():
            late[window].update(counts)

    rates = [rate for by_month in participation.values() for rate in by_month.values()]
    merged_totals: dict[str, int | float] = {}
    for key, value in results[0].summary.totals.items():
        merged_totals[key] = totals[key] if isinstance(value, int) else 0.0
    merged_totals["participation_mean"] = sum(rates) / len(rates) if rates else 0.0
    merged_totals["periods_closed"] = closed
    owed = liability["points"]
    merged_liability: dict[str, Any] = {key: liability[key] for key in (
        "points", "holders", "negative_points", "pending_points", "held_points")}
    merged_liability.update(balance_spread(balances))
    merged_liability.update(valuation(policy, owed))
    last_month = max(ends)[:7] if ends else ""
    board = [{**row, "subject": _named(r.name, row["subject"]), "grid": _named(r.name, row["grid"])}
             for r in results if r.summary.period["end"][:7] == last_month for row in r.summary.leaderboard]
    board.sort(key=lambda row: (-row["earned"], row["subject"]))
    return SimulationSummary(
        ruleset=policy.ref,
        period={"start": min(starts) if starts else "", "end": max(ends) if ends else ""},
        totals=merged_totals,
        by_category={c: dict(counts) for c, counts in sorted(by_category.items())},
        by_rule=dict(sorted(by_rule.items())),
        limits={lid: dict(counts) for lid, counts in sorted(limits.items())},
        participation=dict(sorted(participation.items())),
        earned_by_subject=dict(sorted(earned.items())),
        grid_of=dict(sorted(grid_of.items())),
        heat=dict(sorted(heat.items())),
        concentration=concentration_figures(earned.values()),
        leaderboard=board[:10],
        repairs=dict(repairs),
        redemptions={**{k: redemptions[k] for k in ("count", "points", "held", "applied", "returned", "allocated",
                                                     "requests")},
                     "refused": dict(sorted(refused.items())),
                     "by_item": {item: dict(sorted(c.items())) for item, c in sorted(by_item.items())}},
        liability=merged_liability,
        corrections={"count": len(corrections), "points": sum(row["points"] for row in corrections),
                     "after_close": sum(1 for row in corrections if row["after_close"]), "rows": corrections},
        late={"events": sum(c["events"] for c in late.values()), "points": sum(c["points"] for c in late.values()),
              "by_window": {window: dict(late[window]) for window in sorted(late)}},
    )


# -- running on Dask --------------------------------------------------------------------------------------


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int | None = None, processes: bool = True
                ) -> Iterator[Client]:
    """A ``dask.distributed`` client: of the scheduler at ``scheduler`` (``tcp://host:8786``), or of a fresh
    :class:`~distributed.LocalCluster` of ``workers`` single-threaded workers (default: one per core) in
    their own processes (``processes=False``: threads of this one, which the interpreter's lock makes take
    turns — for tests), without the workers' profiler. The cluster is closed on leaving. Needs the ``dask``
    extra. A script that starts a local cluster of processes needs the ``if __name__ == "__main__":`` guard
    (the workers start by importing the main module)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ModuleNotFoundError as exc:
        raise MissingExtra("dask", "replaying communities on Dask") from exc
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    count = workers if workers is not None else (os.cpu_count() or 1)
    # The scheduler's HTTP server (it runs even without the dashboard) on a free port, not the fixed 8787 that
    # would clash between users of one machine; worker processes reach the scheduler on a free port of the
    # loopback interface only (threads, in process).
    # Without the workers' statistical profiler, which samples the task's stack every few milliseconds: a
    # replay's CPU on a worker was a quarter more than in one process with it, the same without it.
    where = {"host": "127.0.0.1"} if processes else {}
    with dask.config.set({"distributed.worker.profile.enabled": False}), LocalCluster(
            n_workers=count, threads_per_worker=1, processes=processes, dashboard_address=":0", silence_logs=40,
            **where) as cluster, Client(cluster) as client:
        yield client


def _map(function: Callable[..., Any], logs: Sequence[CommunityLog], args: tuple[Any, ...],
         options: Mapping[str, Any], client: Client | None, on_done: Callable[[CommunityLog], None] | None
         ) -> list[Any]:
    """``function(*args, log, **options)`` for each log: as tasks of ``client`` (results in the order of
    ``logs``; the first task to fail raises its error here), or one after another without one."""
    if client is None:
        found = []
        for log in logs:
            found.append(function(*args, log, **options))
            if on_done is not None:
                on_done(log)
        return found
    from distributed import as_completed

    futures = [client.submit(function, *args, log, **options, pure=False) for log in logs]
    which = {future.key: log for future, log in zip(futures, logs, strict=True)}
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()
            if on_done is not None:
                on_done(which[future.key])
        return list(client.gather(futures))
    finally:
        for future in futures:
            future.cancel()


def simulate_district(ruleset: str, logs: Sequence[CommunityLog], *, client: Client | None = None,
                      store_url: str = MEMORY_URL, batch: int = DEFAULT_BATCH, keep_ledger: bool = False,
                      entries_out: str | None = None, on_done: Callable[[CommunityLog], None] | None = None
                      ) -> District:
    """Replay every community's log under ``ruleset`` (YAML text), one task each on ``client`` (in this
    process, one after another, without one), and merge. ``on_done`` hears of each community as it
    finishes; ``store_url`` and ``entries_out`` as :func:`simulate_community`'s. Raises the first failing
    community's error (:class:`ReplayError` naming its file and line)."""
    policy = load_ruleset(ruleset)
    options = {"store_url": store_url, "batch": batch, "keep_ledger": keep_ledger, "entries_out": entries_out}
    results = _map(simulate_community, logs, (ruleset,), options, client, on_done)
    return District(merge_communities(policy, results), tuple(results))


def compare_district(old: str, new: str, logs: Sequence[CommunityLog], *, client: Client | None = None,
                     batch: int = DEFAULT_BATCH, keep_ledger: bool = False,
                     on_done: Callable[[CommunityLog], None] | None = None) -> DistrictComparison:
    """Replay every community's log under ``old`` and ``new`` (YAML texts), one task per community, and
    compare the merged summaries: per-resident deltas, rank agreement and concentration over the district."""
    before, after = load_ruleset(old), load_ruleset(new)
    pairs = _map(compare_community, logs, (old, new), {"batch": batch, "keep_ledger": keep_ledger}, client,
                 on_done)
    comparison = Comparison.of(merge_communities(before, [p[0] for p in pairs]),
                                merge_communities(after, [p[1] for p in pairs]))
    return DistrictComparison(comparison, tuple((p[0], p[1]) for p in pairs))


__all__ = ["MEMORY_URL", "ROSTER_SUFFIX", "SEPARATOR", "CommunityLog", "CommunityResult", "District",
           "DistrictComparison", "community_logs", "compare_community", "compare_district", "dask_client",
           "merge_communities", "read_manifest", "simulate_community", "simulate_district"]
