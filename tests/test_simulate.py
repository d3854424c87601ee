"""Replay and compare: hand-checked figures on tiny logs, the JSON contract, the commands' exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gridpoints
from gridpoints.cli import _author as _cli_author
from gridpoints.cli._author import compare as compare_command
from gridpoints.cli._author import demo
from gridpoints.cli._author import simulate as simulate_command
from gridpoints.model._registry import Membership
from gridpoints.whatif._simulate import (
    Comparison,
    Replay,
    ReplayError,
    SimulationSummary,
    average_ranks,
    compare,
    memberships,
    percentile,
    simulate,
    spearman,
)
from gridpoints.whatif._synth import PRESETS, Community

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
ruleset: tiny
version: 1
name: 小社区
timezone: Asia/Shanghai
categories: {reward: 奖励分, deduction: 扣分}
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: noise, on: noise_violation, points: -10, category: deduction}
limits:
  - {id: daily-cap, kind: cap, scope: subject, window: day, categories: [reward], limit: LIMIT}
"""

ROSTER = [
    {"subject": s, "grid": g, "household": f"h-{s}", "roles": ["resident"], "since": "2025-01-01T00:00:00+08:00"}
    for s, g in (("a", "g1"), ("b", "g1"), ("c", "g1"), ("d", "g1"), ("e", "g2"), ("f", "g2"))
]

SUMMARY_KEYS = {"ruleset", "period", "totals", "by_category", "by_rule", "limits", "participation",
                "earned_by_subject", "grid_of", "heat", "concentration", "leaderboard", "repairs", "redemptions",
                "liability", "honours", "corrections", "late"}


def _policy(limit: int = 30) -> gridpoints.Policy:
    return gridpoints.load_ruleset(TINY.replace("LIMIT", str(limit)))


def _event(n: int, kind: str, subject: str, when: str) -> dict[str, Any]:
    grid = "g2" if subject in "ef" else "g1"
    return {"id": f"e{n}", "type": kind, "subject": subject, "grid": grid, "household": f"h-{subject}",
            "occurred_at": f"2026-{when}+08:00"}


#: January: a and b mediate (b also makes noise), c only makes noise, e mediates; February: a mediates.
LOG = [
    _event(1, "mediation", "a", "01-05T09:00:00"), _event(2, "mediation", "b", "01-06T09:00:00"),
    _event(3, "noise_violation", "b", "01-06T23:00:00"), _event(4, "noise_violation", "c", "01-07T23:00:00"),
    _event(5, "mediation", "e", "01-10T10:00:00"), _event(6, "mediation", "a", "02-02T10:00:00"),
]


def _tiny(limit: int = 30, log: Sequence[dict[str, Any]] = LOG) -> SimulationSummary:
    return simulate(_policy(limit), log, roster=memberships(ROSTER), batch=2)


def test_participation_is_residents_with_an_earning_event_over_registered_residents() -> None:
    """g1 January: a and b earned (c was only deducted) of 4 residents = 0.5; g2 February: nobody = 0."""
    summary = _tiny()
    assert summary.participation == {"g1": {"2026-01": 0.5, "2026-02": 0.25}, "g2": {"2026-01": 0.5, "2026-02": 0.0}}
    assert summary.totals["participation_mean"] == pytest.approx((0.5 + 0.25 + 0.5 + 0.0) / 4)


def test_totals_by_rule_and_category_add_up() -> None:
    """Four mediations issue 40, two noise violations deduct 20; per rule and per category agree."""
    summary = _tiny()
    assert summary.totals["points_issued"] == 40 and summary.totals["points_deducted"] == 20
    assert summary.totals["points_net"] == 20 and summary.totals["events"] == 6
    assert summary.by_rule["mediation"] == {"category": "reward", "matched": 4, "issued": 40, "deducted": 0,
                                            "restored": 0, "reversed": 0}
    assert summary.by_category["deduction"]["deducted"] == 20
    assert summary.period == {"start": "2026-01-05", "end": "2026-02-02"}
    assert summary.totals["periods_closed"] == 2


def test_earned_concentration_and_leaderboard() -> None:
    """Earned points per resident include those who earned nothing; a leads February's leaderboard alone."""
    summary = _tiny()
    assert summary.earned_by_subject == {"a": 20, "b": 10, "c": 0, "d": 0, "e": 10, "f": 0}
    assert summary.grid_of["e"] == "g2"
    assert summary.leaderboard == [{"subject": "a", "grid": "g1", "earned": 10}]
    # Gini of [0, 0, 0, 10, 10, 20]: Σ_i Σ_j |xi − xj| / (2 n² μ) = 280 / (2 · 36 · 40/6) = 7/12.
    assert summary.concentration["gini"] == pytest.approx(7 / 12)
    assert summary.concentration["lorenz"][0] == [0.0, 0.0] and summary.concentration["lorenz"][-1] == [1.0, 1.0]


def test_liability_is_the_sum_of_positive_balances() -> None:
    """Balances a 20, b 0, c −10, e 10: 30 points owed, 10 owed back by residents below zero."""
    liability = _tiny().liability
    assert liability["points"] == 30 and liability["holders"] == 2 and liability["negative_points"] == 10


def test_a_cap_that_bites_is_counted_with_the_points_it_cut() -> None:
    """Three mediations on one day under a 25-point cap: applied 3 times, bit once, 5 points cut."""
    log = [_event(n, "mediation", "d", f"01-0{n}T0{n}:00:00") for n in (1, 2, 3)]
    log = [{**e, "occurred_at": f"2026-01-03T0{i + 1}:00:00+08:00"} for i, e in enumerate(log)]
    summary = _tiny(limit=25, log=log)
    assert summary.limits == {"daily-cap": {"applied": 3, "bit": 1, "points_cut": 5}}
    assert summary.earned_by_subject["d"] == 25


def test_heat_is_points_per_household_by_grid_and_month() -> None:
    """g1 January nets 20 − 20 over 4 households: 5 reward and −5 deduction per household."""
    heat = _tiny().heat
    assert heat["g1"]["2026-01"] == {"deduction": -5.0, "reward": 5.0}
    assert heat["g2"]["2026-02"] == {}


def test_to_dict_has_the_report_contract() -> None:
    """to_dict() has exactly the keys the report reads, JSON-serialisable, limits with applied and bit."""
    data = _tiny().to_dict()
    assert set(data) == SUMMARY_KEYS
    assert set(data["period"]) == {"start", "end"}
    assert {"applied", "bit"} <= set(data["limits"]["daily-cap"])
    assert {"gini", "top10", "top1", "lorenz"} <= set(data["concentration"])
    assert set(data["by_category"]["reward"]) >= {"issued", "deducted"}
    assert json.loads(json.dumps(data)) == data


def test_without_a_roster_subjects_are_registered_as_they_appear() -> None:
    """Inferred population: only those in the log count, so g1 January is 2 of 3 residents seen."""
    summary = simulate(_policy(), LOG)
    assert summary.participation["g1"]["2026-01"] == pytest.approx(2 / 3)
    assert set(summary.earned_by_subject) == {"a", "b", "c", "e"}


def test_a_refused_event_names_its_line() -> None:
    """An unknown event type stops the replay with a ReplayError naming source:line."""
    policy = _policy()
    replay = Replay(policy, source="log.jsonl")
    replay.feed(_event(1, "mediation", "a", "01-05T09:00:00"), 1)
    replay.feed({**_event(2, "dance", "a", "01-05T10:00:00")}, 2)
    with pytest.raises(ReplayError, match=r"log\.jsonl:2: .*dance"):
        replay.finish()


MALL = TINY.replace("LIMIT", "30") + """\
catalog:
  - {id: tea, name: 茶叶, cost: 10}
  - {id: mug, name: 水杯, cost: 5, limit: {per_subject: 1, window: month}}
"""


def _redeem(request: str, subject: str, item: str, when: str) -> dict[str, Any]:
    return {"redeem": {"request": request, "subject": subject, "item": item, "at": f"2026-{when}+08:00"}}


def _mall(log: Sequence[dict[str, Any]], batch: int = 1000) -> SimulationSummary:
    return simulate(gridpoints.load_ruleset(MALL), log, roster=memberships(ROSTER), batch=batch)


def test_a_redemption_right_after_the_award_that_funds_it_succeeds() -> None:
    """A redemption line is asked after the queued events: a's 10 points from 09:00 pay for tea at 09:01."""
    summary = _mall([_event(1, "mediation", "a", "01-05T09:00:00"), _redeem("r1", "a", "tea", "01-05T09:01:00")])
    assert summary.redemptions["count"] == 1 and summary.redemptions["points"] == 10
    assert summary.redemptions["requests"] == 1 and summary.redemptions["refused"] == {}
    assert summary.redemptions["by_item"] == {"tea": {"redeemed": 1}}
    assert summary.totals["events"] == 1 and summary.liability["points"] == 0


def test_a_redemption_before_the_award_is_refused_for_the_balance() -> None:
    """Log order is honoured: tea asked for before the mediation that would pay for it is refused."""
    summary = _mall([_redeem("r1", "a", "tea", "01-05T08:59:00"), _event(1, "mediation", "a", "01-05T09:00:00")])
    assert summary.redemptions["count"] == 0
    assert summary.redemptions["refused"] == {"insufficient_balance": 1}
    assert summary.liability["points"] == 10


def test_refused_redemptions_are_tallied_by_reason() -> None:
    """A refusal is an outcome, not an error: a second mug in a month hits the limit, b cannot pay."""
    summary = _mall([
        _event(1, "mediation", "a", "01-05T09:00:00"), _redeem("r1", "a", "mug", "01-05T10:00:00"),
        _redeem("r2", "a", "mug", "01-06T10:00:00"), _redeem("r3", "b", "tea", "01-06T11:00:00"),
        _redeem("r4", "a", "mug", "02-01T10:00:00"),
    ], batch=1)
    assert summary.redemptions["count"] == 2 and summary.redemptions["requests"] == 4
    assert summary.redemptions["refused"] == {"insufficient_balance": 1, "limit_reached": 1}
    assert summary.to_dict()["redemptions"]["refused"] == {"insufficient_balance": 1, "limit_reached": 1}


@pytest.mark.parametrize(("line", "message"), [
    ({"redeem": {"request": "r1", "subject": "a", "item": "tea"}}, "redeem.at"),
    ({"redeem": {"request": "r1", "subject": "a", "item": "tea", "at": "2026-01-05T10:00:00"}}, "offset"),
    ({"redeem": {"request": "r1", "subject": "a", "item": "tea", "at": "soon"}}, "redeem.at"),
    ({"redeem": {"request": "r1", "subject": "a", "item": "cake", "at": "2026-01-05T10:00:00+08:00"}},
     "unknown_item.*cake"),
    ({"redeem": {"request": "", "subject": "a", "item": "tea", "at": "2026-01-05T10:00:00+08:00"}}, "redeem.request"),
    ({"redeem": {"request": "r1", "subject": "a", "item": "tea", "at": "2026-01-05T10:00:00+08:00", "qty": 2}},
     "qty"),
    ({"redeem": "tea", "id": "e9"}, "only the key"),
    ({"redeem": ["tea"]}, "expected an object"),
])
def test_a_malformed_redemption_line_names_its_line(line: dict[str, Any], message: str) -> None:
    """A missing field, a time without offset, an unknown item or a stray key stop the replay at file:line."""
    replay = Replay(gridpoints.load_ruleset(MALL), roster=memberships(ROSTER), source="log.jsonl")
    replay.feed(_event(1, "mediation", "a", "01-05T09:00:00"), 1)
    with pytest.raises(ReplayError, match=rf"log\.jsonl:2: .*{message}"):
        replay.feed(line, 2)


def test_a_redemption_in_a_new_month_comes_after_the_close() -> None:
    """A period that ends before a redemption closes first, with the queued events submitted before it."""
    replay = Replay(gridpoints.load_ruleset(MALL), roster=memberships(ROSTER))
    replay.feed(_event(1, "mediation", "a", "01-05T09:00:00"))
    replay.feed(_redeem("r1", "a", "mug", "01-31T23:59:00"))
    assert replay._closed == []
    replay.feed(_redeem("r2", "a", "mug", "02-01T00:00:00"))
    assert replay._closed == ["2026-01"]
    summary = replay.finish()
    assert summary.redemptions["count"] == 2 and summary.totals["periods_closed"] == 2


def test_a_settlement_waits_for_the_next_batch() -> None:
    """A verify right after its report in one batch is submitted in a later batch (the engine requires it)."""
    policy = gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml")
    roster = [Membership("a", "g1", "h1", ("resident",)), Membership("w", "g1", None, ("grid_worker",))]
    report = {"id": "r1", "type": "hazard_report", "subject": "a", "grid": "g1", "household": "h1",
              "occurred_at": "2026-01-05T09:00:00+08:00", "attributes": {"severity": 2}}
    verify = {"id": "v1", "type": "verify", "subject": "a", "grid": "g1", "actor": "w",
              "occurred_at": "2026-01-05T12:00:00+08:00", "attributes": {"event": "r1"}}
    summary = simulate(policy, [report, verify], roster=roster)
    assert summary.totals["pending_verified"] == 1 and summary.by_rule["hazard-report"]["issued"] == 15


def test_percentile_interpolates_between_closest_ranks() -> None:
    """p10 of 1..11 is 2; the median of [1, 2, 3, 4] is 2.5; no values give 0."""
    assert percentile(list(range(1, 12)), 0.1) == 2.0
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([], 0.9) == 0.0


def test_spearman_uses_average_ranks_for_ties() -> None:
    """Ranks of [1, 2, 2, 3] are 1, 2.5, 2.5, 4; against [1, 3, 2, 4] ρ = 4.5 / √(4.5 · 5)."""
    assert average_ranks([1, 2, 2, 3]) == [1, 2.5, 2.5, 4]
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_compare_a_lowered_cap_gives_known_deltas() -> None:
    """Cap 30 → 20: d's four same-day mediations (40 asked) lose 10 more; nobody else changes."""
    log = [*LOG, *[{**_event(10 + n, "mediation", "d", "01-20T08:00:00"), "occurred_at":
                    f"2026-01-20T0{n}:00:00+08:00"} for n in range(1, 5)]]
    comparison = compare(_policy(30), _policy(20), log, roster=memberships(ROSTER), batch=3)
    data = comparison.to_dict()
    distribution = data["deltas"]["distribution"]
    assert distribution["min"] == -10 and distribution["max"] == 0 and distribution["lost"] == 1
    assert distribution["unchanged"] == 5 and distribution["total"] == -10
    assert data["deltas"]["losers"] == [{"subject": "d", "grid": "g1", "old": 30, "new": 20, "delta": -10}]
    assert data["deltas"]["gainers"] == []
    assert data["categories"]["reward"] == {"old_issued": 70, "new_issued": 60, "old_deducted": 0,
                                            "new_deducted": 0}
    assert data["limits"]["daily-cap"]["old_bit"] == 1 and data["limits"]["daily-cap"]["new_bit"] == 2
    assert data["liability"] == {"old": 60, "new": 50, "delta": -10}
    assert data["rank"]["top10_overlap"] == 6
    assert data["rank"]["spearman"] == pytest.approx(spearman([20, 10, 0, 30, 10, 0], [20, 10, 0, 20, 10, 0]))
    assert set(data) >= {"old", "new", "deltas", "rank"} and isinstance(comparison, Comparison)


# -- the commands -----------------------------------------------------------------------------------------


@pytest.fixture
def log_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A tiny ruleset, its events and its roster as files."""
    ruleset = tmp_path / "tiny.yaml"
    ruleset.write_text(TINY.replace("LIMIT", "30"), encoding="utf-8")
    events = tmp_path / "jan.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in LOG), encoding="utf-8")
    roster = tmp_path / "jan.roster.jsonl"
    roster.write_text("".join(json.dumps(r) + "\n" for r in ROSTER), encoding="utf-8")
    return ruleset, events, roster


def test_simulate_json_prints_the_summary(log_files: tuple[Path, Path, Path]) -> None:
    """`simulate --json` exits 0 with the summary document (roster found beside the events)."""
    ruleset, events, _ = log_files
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == SUMMARY_KEYS
    assert data["participation"]["g1"]["2026-01"] == 0.5


def test_simulate_tables_and_sqlite_store_agree(log_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The SQLite store gives the same summary as memory; the table view names the limits and leaderboard."""
    ruleset, events, _ = log_files
    runner = CliRunner()
    memory = runner.invoke(simulate_command, [str(ruleset), str(events), "--json"])
    sqlite = runner.invoke(simulate_command, [str(ruleset), str(events), "--json", "--store",
                                              f"sqlite:///{tmp_path / 'ledger.db'}"])
    assert sqlite.exit_code == 0, sqlite.output
    assert json.loads(sqlite.stdout) == json.loads(memory.stdout)
    tables = runner.invoke(simulate_command, [str(ruleset), str(events)])
    assert tables.exit_code == 0 and "daily-cap" in tables.stdout and "Leaderboard" in tables.stdout


def test_simulate_refused_event_exits_1_naming_the_line(log_files: tuple[Path, Path, Path]) -> None:
    """A bad event exits 1 with file:line; a missing events file is a usage error (2)."""
    ruleset, events, _ = log_files
    with events.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**LOG[0], "id": "bad", "type": "dance"}) + "\n")
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events)])
    assert result.exit_code == 1 and f"{events}:7" in result.output
    assert CliRunner().invoke(simulate_command, [str(ruleset), "nowhere.jsonl"]).exit_code == 2


def test_simulate_json_counts_redemption_lines(log_files: tuple[Path, Path, Path]) -> None:
    """`simulate` replays redemption lines of a file (refusals by reason in JSON and tables); an item the catalog
    lacks exits 1 with file:line."""
    ruleset, events, _ = log_files
    ruleset.write_text(MALL, encoding="utf-8")
    with events.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(_redeem("r1", "a", "tea", "02-02T10:05:00")) + "\n")
        handle.write(json.dumps(_redeem("r2", "c", "tea", "02-02T10:06:00")) + "\n")
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events), "--json"])
    assert result.exit_code == 0, result.output
    redemptions = json.loads(result.stdout)["redemptions"]
    assert redemptions["count"] == 1 and redemptions["refused"] == {"insufficient_balance": 1}
    tables = CliRunner().invoke(simulate_command, [str(ruleset), str(events)])
    assert tables.exit_code == 0 and "refused: insufficient_balance" in tables.stdout
    with events.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(_redeem("r3", "a", "cake", "02-02T10:07:00")) + "\n")
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events)])
    assert result.exit_code == 1 and f"{events}:9" in result.output and "cake" in result.output


def test_simulate_report_without_the_report_module_exits_1(log_files: tuple[Path, Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--report exits 1 with a clear message when gridpoints.whatif._report cannot be imported."""
    ruleset, events, _ = log_files
    monkeypatch.setitem(sys.modules, "gridpoints.whatif._report", None)
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events), "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "gridpoints.whatif._report" in result.output


def test_simulate_report_writes_html(log_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """--report writes a self-contained HTML page through gridpoints.whatif._report.write_report."""
    pytest.importorskip("plotly")
    ruleset, events, _ = log_files
    target = tmp_path / "report.html"
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events), "--report", str(target)])
    assert result.exit_code == 0, result.output
    assert "chart-participation" in target.read_text(encoding="utf-8")


def test_simulate_several_communities_on_a_local_cluster(log_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A directory of two communities' logs runs on a local Dask cluster: each community's figures, as one
    at a time, and the merged ones over both (residents and grids named by community)."""
    pytest.importorskip("distributed", reason="the dask extra (dask.distributed) is not installed")
    ruleset, events, roster = log_files
    folder = tmp_path / "logs"
    folder.mkdir()
    for name in ("east", "west"):
        (folder / f"{name}.jsonl").write_text(events.read_text(encoding="utf-8"), encoding="utf-8")
        (folder / f"{name}.roster.jsonl").write_text(roster.read_text(encoding="utf-8"), encoding="utf-8")
    single = CliRunner().invoke(simulate_command, [str(ruleset), str(events), "--json"])
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(folder), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    runs = document["communities"]
    assert [Path(r["events"]).name for r in runs] == ["east.jsonl", "west.jsonl"]
    one = json.loads(single.stdout)
    assert runs[0]["summary"] == runs[1]["summary"] == one
    merged = document["merged"]
    assert merged["participation"]["east/g1"]["2026-01"] == merged["participation"]["west/g1"]["2026-01"] == 0.5
    assert merged["totals"]["points_issued"] == 2 * one["totals"]["points_issued"]
    assert merged["concentration"]["gini"] == pytest.approx(one["concentration"]["gini"])  # twins: same inequality


def test_compare_command_json_and_exit_codes(log_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """`compare --json` exits 0 with old/new/deltas/rank; a ruleset that cannot read the log exits 1."""
    ruleset, events, _ = log_files
    lower = tmp_path / "lower.yaml"
    lower.write_text(TINY.replace("LIMIT", "5"), encoding="utf-8")
    result = CliRunner().invoke(compare_command, [str(ruleset), str(lower), str(events), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"old", "new", "deltas", "rank", "categories", "limits", "concentration", "liability"} <= set(data)
    assert data["deltas"]["distribution"]["total"] == -20
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(TINY.replace("LIMIT", "5").replace("  - {id: noise, on: noise_violation, points: -10, "
                                                         "category: deduction}\n", ""), encoding="utf-8")
    refused = CliRunner().invoke(compare_command, [str(ruleset), str(narrow), str(events)])
    assert refused.exit_code == 1 and "noise_violation" in refused.output


def test_demo_runs_end_to_end_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo` (on a small stand-in for Pudong) writes the events, a fresh SQLite ledger and the worker's view."""
    habits = PRESETS["pudong"]
    small = Community(60, 1, seed=1, name="pudong", mix=habits.mix, elderly=habits.elderly, preset=habits)
    monkeypatch.setattr(_cli_author.Community, "from_preset", classmethod(lambda cls, name, seed=1: small))
    out = tmp_path / "demo"
    for _ in range(2):  # the second run starts from a fresh ledger
        result = CliRunner().invoke(demo, ["--out", str(out)])
        assert result.exit_code == 0, result.output
    assert (out / "gridpoints.db").is_file() and (out / "events.jsonl").is_file()
    assert "Leaderboard" in result.output and "Participation" in result.output
    assert "events" in result.output


def test_piped_tables_do_not_wrap(tmp_path: Path) -> None:
    """Piped (not a terminal), a table wider than 80 columns keeps each row on one line, and a narrow
    table's title stays whole: a year of participation is 13 columns, every month in one header line."""
    ruleset = tmp_path / "tiny.yaml"
    ruleset.write_text(TINY.replace("LIMIT", "30"), encoding="utf-8")
    events = tmp_path / "year.jsonl"
    events.write_text("".join(json.dumps(_event(month, "mediation", "a", f"{month:02d}-05T09:00:00")) + "\n"
                              for month in range(1, 13)), encoding="utf-8")
    result = CliRunner().invoke(simulate_command, [str(ruleset), str(events)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "grid" in line and "2026-01" in line)
    assert all(f"2026-{month:02d}" in header for month in range(1, 13)) and len(header) > 80
    assert "Concentration of earned points (residents)" in lines
    assert max(len(line) for line in lines) <= 300


def test_demo_shows_progress_while_synthesising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo reports the days synthesised (30 of April) on stderr, then the events written."""
    habits = PRESETS["pudong"]
    small = Community(30, 1, seed=1, name="pudong", mix=habits.mix, elderly=habits.elderly, preset=habits)
    monkeypatch.setattr(_cli_author.Community, "from_preset", classmethod(lambda cls, name, seed=1: small))
    result = CliRunner().invoke(demo, ["--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "synthesising" in result.stderr and "30/30" in result.stderr
    assert "redemption requests" in result.stdout


def test_freezing_the_collector_changes_nothing_but_speed() -> None:
    """With freeze_gc the summary is the same, and the collector is unfrozen when the replay finishes."""
    import gc

    frozen = simulate(_policy(), LOG, roster=memberships(ROSTER), batch=2, freeze_gc=True)
    assert gc.get_freeze_count() == 0
    assert frozen == _tiny()
