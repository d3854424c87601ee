"""The workbench's runs: a draft and the current ruleset replayed over one log in a worker thread, with
progress that the page polls.

A run is: events (a synthetic community of a preset, written under the current ruleset, or an uploaded
file), then one pass of two live replays (current and draft, as ``gridpoints compare`` does) with progress
by bytes read, then the comparison. Runs go one at a time (a replay is CPU-bound; a second would only slow
the first), in the order asked.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Literal

import attrs

from gridpoints.errors import GridpointsError
from gridpoints.policy import Policy
from gridpoints.whatif import PRESETS, Community, Comparison, Replay, memberships, read_jsonl

Phase = Literal["queued", "synth", "replay", "done", "failed"]
#: The first day of a synthetic community's log.
START = date(2026, 4, 1)


@attrs.frozen(slots=True)
class Synthetic:
    """A preset's habits on a community of ``households`` over ``months`` from :data:`START`."""

    preset: str
    households: int
    months: int
    seed: int = 1


@attrs.frozen(slots=True)
class Uploaded:
    """An events file the page uploaded (JSON Lines), kept at ``path`` under the name the user gave."""

    path: Path
    name: str
    lines: int


Source = Synthetic | Uploaded


@attrs.define
class Run:
    """One run's state. ``progress`` is the fraction of the current phase done (0..1)."""

    id: str
    source: Source
    phase: Phase = "queued"
    progress: float = 0.0
    error: str | None = None
    events: int = 0
    comparison: dict[str, Any] | None = None
    #: The draft's category names (the reports label categories with them).
    categories: dict[str, str] = attrs.field(factory=dict)

    def status(self) -> dict[str, Any]:
        """What the page polls: phase, progress, error and, when done, the headline figures."""
        found: dict[str, Any] = {"id": self.id, "phase": self.phase, "progress": round(self.progress, 4),
                                 "error": self.error, "events": self.events}
        if self.comparison is not None:
            dist = self.comparison["deltas"]["distribution"]
            found["headline"] = {
                "residents": dist["residents"], "gained": dist["gained"], "lost": dist["lost"],
                "unchanged": dist["unchanged"], "total": dist["total"],
                "gini_old": self.comparison["concentration"]["old"]["gini"],
                "gini_new": self.comparison["concentration"]["new"]["gini"],
                "issued_old": self.comparison["old"]["totals"]["points_issued"],
                "issued_new": self.comparison["new"]["totals"]["points_issued"],
            }
        return found


class Runs:
    """The runs of one workbench, kept in memory, executed one at a time in a worker thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridpoints-workbench")

    def start(self, current: Policy, draft: Policy, source: Source) -> Run:
        run = Run(uuid.uuid4().hex[:12], source, categories=draft.spec.category_names())
        with self._lock:
            self._runs[run.id] = run
        self._pool.submit(self._execute, run, current, draft)
        return run

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _execute(self, run: Run, current: Policy, draft: Policy) -> None:
        try:
            events, roster = self._events(run, current)
            run.phase, run.progress = "replay", 0.0
            total = max(1, events.stat().st_size)
            read = [0]

            def advance(size: int) -> None:
                read[0] += size
                run.progress = read[0] / total

            replays = [Replay(policy, None, roster, source=getattr(run.source, "name", events.name))
                       for policy in (current, draft)]
            try:
                for line, event in read_jsonl(events, on_bytes=advance):
                    for replay in replays:
                        replay.feed(event, line)
                old, new = (replay.finish() for replay in replays)
            finally:
                for replay in replays:
                    replay.close()
            run.comparison = Comparison.of(old, new).to_dict()
            run.phase, run.progress = "done", 1.0
        except (GridpointsError, ValueError, OSError) as exc:
            run.error, run.phase = str(exc), "failed"

    def _events(self, run: Run, current: Policy) -> tuple[Path, Any]:
        source = run.source
        if isinstance(source, Uploaded):
            run.events = source.lines
            return source.path, None
        run.phase = "synth"
        habits = PRESETS[source.preset]
        community = Community(source.households, max(1, round(source.households / 200)), seed=source.seed,
                              name=habits.name, mix=habits.mix, elderly=habits.elderly, preset=habits)
        path = self.folder / f"run-{run.id}.jsonl"
        days = max(1, (_add_months(START, source.months) - START).days)
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        with path.open("w", encoding="utf-8") as handle:
            for row in community.events(current, START, source.months):
                handle.write(encode(row))
                handle.write("\n")
                run.events += 1
                moment = _moment(row)
                if moment is not None:
                    run.progress = min(1.0, (moment - START).days / days)
        return path, memberships(community.roster())


def _moment(row: Mapping[str, Any]) -> date | None:
    text = row.get("occurred_at") or (row.get("redeem") or {}).get("at")
    return date.fromisoformat(text[:10]) if isinstance(text, str) else None


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def residents(comparison: Mapping[str, Any], *, order: str = "delta", offset: int = 0, limit: int = 50,
              grid: str | None = None) -> dict[str, Any]:
    """Every resident's points earned before and after (the per-resident diff), sorted by ``order``
    (``delta``: largest loss first; ``-delta``: largest gain first; ``subject``), a page at a time."""
    old, new = comparison["old"], comparison["new"]
    before, after = old["earned_by_subject"], new["earned_by_subject"]
    grid_of = {**old["grid_of"], **new["grid_of"]}
    rows = [{"subject": s, "grid": grid_of.get(s, ""), "old": before.get(s, 0), "new": after.get(s, 0),
             "delta": after.get(s, 0) - before.get(s, 0)} for s in sorted(set(before) | set(after))]
    if grid:
        rows = [row for row in rows if row["grid"] == grid]
    if order == "delta":
        rows.sort(key=lambda row: (row["delta"], row["subject"]))
    elif order == "-delta":
        rows.sort(key=lambda row: (-row["delta"], row["subject"]))
    elif order != "subject":
        raise ValueError(f"order must be delta, -delta or subject, got {order!r}")
    return {"total": len(rows), "offset": offset, "rows": rows[offset:offset + limit],
            "changed": sum(1 for row in rows if row["delta"] != 0)}
