"""Synthetic communities: sizes, determinism, streaming memory, time order and validity under the seed rulesets."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

import gridpoints
from gridpoints.cli._author import synth
from gridpoints.whatif._simulate import memberships, simulate
from gridpoints.whatif._synth import PRESETS, Community, add_months

ROOT = Path(__file__).resolve().parents[1]
RULESETS = {name: gridpoints.load_ruleset(ROOT / "rulesets" / f"{p.ruleset}.yaml") for name, p in PRESETS.items()}
START = date(2026, 3, 1)


def _small(preset: str = "pudong", seed: int = 1, households: int = 160) -> Community:
    habits = PRESETS[preset]
    return Community(households, 2, seed=seed, name=preset, mix=habits.mix, elderly=habits.elderly, preset=habits)


def _stream(community: Community, preset: str, months: int = 1, *, redemptions: bool = False
            ) -> list[dict[str, object]]:
    return list(community.events(RULESETS[preset], START, months, redemptions=redemptions))


def _at(line: dict[str, object]) -> datetime:
    """The time of an event or of a redemption line."""
    request = line.get("redeem")
    return datetime.fromisoformat(str(request["at"] if isinstance(request, dict) else line["occurred_at"]))


@pytest.mark.parametrize(("preset", "households", "grids", "low", "high"), [
    ("pudong", 5000, 25, 100, 300), ("tianhe", 12000, 60, 100, 300), ("chaoyang", 8000, 20, 240, 560),
])
def test_presets_have_the_seed_sizes(preset: str, households: int, grids: int, low: int, high: int) -> None:
    """Presets have the seed's households and grids, grid sizes in range, 1–4 residents per household."""
    community = Community.from_preset(preset, seed=3)
    assert community.households == households
    assert len(community.grid_ids) == grids == len(community.workers)
    assert sum(community.grid_sizes) == households
    assert low <= min(community.grid_sizes) and max(community.grid_sizes) <= high
    per_household = Counter(community.resident_household)
    assert set(per_household.values()) <= {1, 2, 3, 4}
    assert len(per_household) == households


def test_roster_lists_workers_then_residents_with_ages() -> None:
    """The roster has one grid worker per grid, residents with their household, ages and an elderly share."""
    community = _small(households=400)
    rows = list(community.roster())
    workers = [r for r in rows if r["roles"] == ["grid_worker"]]
    residents = [r for r in rows if r["roles"] == ["resident"]]
    assert [w["grid"] for w in workers] == community.grid_ids
    assert all(w["household"] is None for w in workers)
    assert len(residents) == community.residents
    assert all(str(r["household"]).startswith(f"{r['grid']}-h") for r in residents)
    elderly = sum(1 for r in residents if int(str(r["age"])) >= 65) / len(residents)
    assert PRESETS["pudong"].elderly[0] - 0.1 < elderly < PRESETS["pudong"].elderly[1] + 0.1
    assert all(datetime.fromisoformat(str(r["since"])).utcoffset() is not None for r in rows)


def test_same_seed_gives_the_same_stream() -> None:
    """Two communities built with the same seed produce identical event streams."""
    assert _stream(_small(seed=7), "pudong", redemptions=True) == _stream(_small(seed=7), "pudong", redemptions=True)


def test_different_seeds_give_different_streams() -> None:
    """Another seed changes the stream."""
    assert _stream(_small(seed=7), "pudong", redemptions=True) != _stream(_small(seed=8), "pudong", redemptions=True)


def test_events_are_in_time_order_with_china_offset() -> None:
    """Events come in non-decreasing time, all at +08:00, with unique ids and follow-ups after what they settle."""
    events = _stream(_small("tianhe"), "tianhe", months=2)
    times = [datetime.fromisoformat(str(e["occurred_at"])) for e in events]
    assert times == sorted(times)
    assert all(str(e["occurred_at"]).endswith("+08:00") for e in events)
    assert len({e["id"] for e in events}) == len(events)
    seen: dict[object, datetime] = {}
    for event, moment in zip(events, times, strict=True):
        attributes = event["attributes"]
        assert isinstance(attributes, dict)
        target = attributes.get("event") or attributes.get("repair")
        if event["type"] in ("verify", "reject", "appeal", "community_service"):
            assert seen[target] < moment
        seen[event["id"]] = moment


def test_redemption_lines_come_in_time_order_among_the_events() -> None:
    """With a catalog the stream carries redemption lines for cheap items, in time order with the events,
    with unique request ids; the events are the same as without them."""
    lines = _stream(_small(), "pudong", redemptions=True)
    requests = [line["redeem"] for line in lines if "redeem" in line]
    times = [_at(line) for line in lines]
    assert times == sorted(times)
    assert len(requests) > 10
    assert all(set(r) == {"request", "subject", "item", "at"} for r in requests)  # type: ignore[arg-type]
    assert {r["item"] for r in requests} == {"daily-goods", "haircut"}  # type: ignore[index]
    assert len({r["request"] for r in requests}) == len(requests)  # type: ignore[index]
    assert all(str(r["at"]).endswith("+08:00") for r in requests)  # type: ignore[index]
    assert [line for line in lines if "redeem" not in line] == _stream(_small(), "pudong")


def test_no_redemption_lines_without_a_catalog() -> None:
    """A ruleset without a catalog gives events only."""
    policy = RULESETS["pudong"]
    bare = attrs.evolve(policy, spec=policy.spec.model_copy(update={"catalog": []}))
    assert not any("redeem" in line for line in _small().events(bare, START, 1))


def test_a_synthetic_month_replays_with_redemptions() -> None:
    """A month of a preset with a catalog replays with redeemed items and refusals tallied by reason."""
    community = _small(households=300)
    summary = simulate(RULESETS["pudong"], community.events(RULESETS["pudong"], START, 1),
                       roster=memberships(community.roster()))
    redemptions = summary.redemptions
    assert redemptions["requests"] > 0 and redemptions["count"] > 0
    assert redemptions["count"] + sum(redemptions["refused"].values()) == redemptions["requests"]
    assert set(redemptions["refused"]) <= {"insufficient_balance", "limit_reached"}


def test_settlements_are_made_by_the_subjects_grid_worker() -> None:
    """verify / reject / appeal events name the grid worker of the subject's grid as actor."""
    community = _small("chaoyang")
    events = _stream(community, "chaoyang")
    settling = [e for e in events if e["type"] in ("verify", "reject", "appeal")]
    assert {e["type"] for e in settling} >= {"verify", "reject"}
    assert all(e["actor"] == f"{e['grid']}-w" for e in settling)
    assert all("actor" not in e for e in events if e["type"] not in ("verify", "reject", "appeal"))


def test_no_ignored_or_unhandled_types_are_emitted() -> None:
    """Ignored types (app_open) never appear; every type is one the ruleset handles."""
    policy = RULESETS["pudong"]
    types = {e["type"] for e in _stream(_small(), "pudong")}
    assert "app_open" not in types
    assert types <= {n for n, t in policy.event_types.items() if (t.rules or t.settles or t.repairs) and not t.ignore}
    assert {"patrol", "garbage_sorting", "hazard_report", "verify"} <= types


def test_attributes_stay_in_the_declared_domains() -> None:
    """Attribute values come from declared enums and bounds (garbage quality A–D, patrol hours 0–24)."""
    events = _stream(_small(), "pudong")
    qualities = {e["attributes"]["quality"] for e in events if e["type"] == "garbage_sorting"}  # type: ignore[index]
    hours = [e["attributes"]["hours"] for e in events if e["type"] == "patrol"]  # type: ignore[index]
    assert qualities == {"A", "B", "C", "D"}
    assert hours and all(0 <= h <= 24 for h in hours)  # type: ignore[operator]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_event_is_accepted_by_the_engine(preset: str) -> None:
    """Two months of each seed programme replay through submit_many without a refused event."""
    community = _small(preset, households=220)
    summary = simulate(RULESETS[preset], community.events(RULESETS[preset], START, 2),
                       roster=memberships(community.roster()), batch=250)
    assert summary.totals["events"] > 1000
    assert summary.totals["pending_verified"] > 0


def test_repairs_and_appeals_follow_deductions_under_tianhe() -> None:
    """Under tianhe-vitality some deductions are repaired (tasks complete) and some appealed; all are accepted."""
    community = _small("tianhe", households=200)
    policy = RULESETS["tianhe"]
    events = list(community.events(policy, START, 2))
    assert any(e.get("type") == "community_service" for e in events)
    summary = simulate(policy, events, roster=memberships(community.roster()))
    assert summary.repairs["opened"] > 0 and summary.repairs["completed"] > 0


def test_weekends_and_seasons_shape_activity() -> None:
    """February (Spring Festival) is quieter per day than May; elders act mostly in the morning."""
    community = _small(households=300)
    policy = RULESETS["pudong"]
    feb = sum(1 for _ in community.events(policy, date(2026, 2, 1), 1)) / 28
    may = sum(1 for _ in community.events(policy, date(2026, 5, 1), 1)) / 31
    assert feb < 0.85 * may
    old = {s for s, age in zip(community.subjects, community.ages, strict=True) if age >= 65}
    hours = [datetime.fromisoformat(str(e["occurred_at"])).hour
             for e in community.events(policy, START, 1, redemptions=False)
             if e["subject"] in old and e["type"] == "patrol"]
    assert sum(1 for h in hours if 6 <= h < 11) > len(hours) / 2


def _peak(community: Community, months: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in community.events(RULESETS["tianhe"], START, months))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_however_long_the_period() -> None:
    """Streaming six months peaks at about the memory of two (follow-ups and counters only, never the period)."""
    community = _small("tianhe", households=100)
    short_count, short = _peak(community, 2)
    long_count, long = _peak(community, 6)
    assert long_count > 2.5 * short_count
    assert long < 1.5 * short


def test_custom_community_validates_its_arguments() -> None:
    """Zero households, more grids than households or an unknown persona are refused."""
    with pytest.raises(ValueError, match="households"):
        Community(0)
    with pytest.raises(ValueError, match="grids"):
        Community(10, 11)
    with pytest.raises(ValueError, match="mix"):
        Community(10, mix={"saint": 1.0})
    with pytest.raises(ValueError, match="preset"):
        Community.from_preset("shenzhen")


def test_synth_command_writes_events_and_roster(tmp_path: Path) -> None:
    """`gridpoints synth` writes JSON Lines to stdout and the roster file, the same on every run."""
    runner = CliRunner()
    args = ["--preset", "pudong", "--households", "120", "--grids", "1", "--months", "1", "--seed", "2",
            "--roster", str(tmp_path / "roster.jsonl")]
    first = runner.invoke(synth, args)
    second = runner.invoke(synth, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert lines and {"id", "type", "subject", "grid", "household", "occurred_at", "attributes"} <= set(lines[0])
    roster = (tmp_path / "roster.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(roster[0])["roles"] == ["grid_worker"]


def test_synth_command_writes_redemption_lines_unless_told_not_to() -> None:
    """`gridpoints synth` writes redemption lines for a ruleset with a catalog; --no-redemptions gives the events
    alone, the same events."""
    runner = CliRunner()
    args = ["--preset", "pudong", "--households", "120", "--grids", "1", "--months", "1", "--seed", "2"]
    with_requests = runner.invoke(synth, args)
    events_only = runner.invoke(synth, [*args, "--no-redemptions"])
    assert with_requests.exit_code == 0 and events_only.exit_code == 0
    lines = [json.loads(line) for line in with_requests.stdout.splitlines()]
    requests = sum(1 for line in lines if "redeem" in line)
    assert requests > 0 and f"and {requests} redemption request(s)" in with_requests.stderr
    assert [line for line in lines if "redeem" not in line] == [
        json.loads(line) for line in events_only.stdout.splitlines()]


def test_synth_command_needs_a_community_and_a_ruleset() -> None:
    """Without --preset or --households, or a custom community without --ruleset, synth is a usage error (2)."""
    runner = CliRunner()
    assert runner.invoke(synth, ["--months", "1"]).exit_code == 2
    assert runner.invoke(synth, ["--households", "50", "--months", "1"]).exit_code == 2
    assert runner.invoke(synth, ["--preset", "pudong", "--grids", "3"]).exit_code == 2


def test_first_events_of_a_preset_are_stable() -> None:
    """The tianhe preset's first events with seed 1 are pinned (a change in the generator shows here)."""
    head = list(itertools.islice(Community.from_preset("tianhe", 1).events(RULESETS["tianhe"], START, 1), 3))
    assert [e["id"] for e in head] == [f"tianhe-260301-{n:05d}" for n in range(3)]
    assert all(str(e["occurred_at"]).startswith("2026-03-01T00:") for e in head)


def test_a_period_ends_on_the_same_day_months_later() -> None:
    """add_months keeps the day of the month, clamped: Jan 31 + 1 → Feb 28; a period from Jan 15 ends Feb 15."""
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)
    last = list(_small(households=100).events(RULESETS["pudong"], date(2026, 1, 15), 1))[-1]
    assert _at(last) < datetime.fromisoformat("2026-02-15T00:00:00+08:00")


def test_conditions_on_local_time_are_matched_as_the_engine_matches_them() -> None:
    """A rule with a verification that holds only from 08:00 local: synth schedules verifications for the
    reports it matches — those at 08:00 or later, and no others."""
    text = """
ruleset: timed
version: 1
name: 定时
rules:
  - id: report
    on: hazard_report
    points: 20
    when: {event.hour: {gte: 8}, event.weekday: {in: [1, 2, 3, 4, 5, 6, 7]}}
    verify: {by: [grid_worker], within: 7d}
"""
    policy = gridpoints.load_ruleset(text)
    events = list(_small().events(policy, START, 1))
    reports = {e["id"]: datetime.fromisoformat(str(e["occurred_at"])) for e in events if e["type"] == "hazard_report"}
    settled = {str(e["attributes"]["event"]) for e in events  # type: ignore[index]
               if e["type"] in ("verify", "reject")}
    assert settled, "no report was verified or rejected"
    assert all(reports[target].hour >= 8 for target in settled)
