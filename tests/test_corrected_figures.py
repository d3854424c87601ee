"""Corrections (冲正), staff adjustments and late events in the figures: a corrected award is not earned in
the window of the event it corrected, whenever the correction was made; adjustments count as earned only where
the ruleset says so; late events are counted by the closed window they fell in. A live replay, a full replay
and analytics over the full ledger give the same figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gridpoints
from gridpoints.analytics import (
    concentration_for,
    earned_by_subject,
    earned_reasons,
    grid_heat,
    proactive_service,
    rule_categories,
)
from gridpoints.cli._author import simulate as simulate_command
from gridpoints.cli._commands import run as run_command
from gridpoints.storage import MemoryStore
from gridpoints.whatif import ReplayError, memberships, simulate

RULESET = """\
ruleset: tiny
version: 1
name: 小社区
timezone: Asia/Shanghai
categories: {reward: 奖励分, deduction: 扣分}
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: noise, on: noise_violation, points: -10, category: deduction}
"""
ROSTER = memberships(
    [{"subject": s, "grid": g, "household": f"h-{s}", "roles": ["resident"], "since": "2025-01-01T00:00:00+08:00"}
     for s, g in (("a", "g1"), ("b", "g1"), ("c", "g1"), ("d", "g1"), ("e", "g2"), ("f", "g2"))]
    + [{"subject": "s1", "grid": "g1", "household": "h-s1", "roles": ["staff"],
        "since": "2025-01-01T00:00:00+08:00"}])
RESIDENTS = [m for m in ROSTER if "resident" in m.roles]


def _event(event_id: str, etype: str, subject: str, at: str) -> dict[str, Any]:
    grid = "g2" if subject in ("e", "f") else "g1"
    return {"id": event_id, "type": etype, "subject": subject, "grid": grid, "household": f"h-{subject}",
            "occurred_at": at, "attributes": {}}


def _correct(event_id: str, at: str, reason: str = "重复上报") -> dict[str, Any]:
    return {"correct": {"event": event_id, "reason": reason, "actor": "s1", "at": at}}


#: April's events; b's May event closes April; then April's awards and deduction are corrected (a closed
#: period), d's April event arrives late, and a May award is corrected in May; c gets a staff adjustment.
LOG: list[dict[str, Any]] = [
    _event("a-1", "mediation", "a", "2026-04-05T10:00:00+08:00"),
    _event("a-2", "mediation", "a", "2026-04-06T10:00:00+08:00"),
    _event("b-1", "mediation", "b", "2026-04-05T11:00:00+08:00"),
    _event("e-1", "noise_violation", "e", "2026-04-07T10:00:00+08:00"),
    _event("c-1", "mediation", "c", "2026-04-20T10:00:00+08:00"),
    _event("b-2", "mediation", "b", "2026-05-02T10:00:00+08:00"),
    _correct("a-1", "2026-05-03T09:00:00+08:00"),
    _correct("e-1", "2026-05-04T09:00:00+08:00", "认错人"),
    _event("d-1", "mediation", "d", "2026-04-28T10:00:00+08:00"),
    _event("f-1", "mediation", "f", "2026-05-10T10:00:00+08:00"),
    _correct("f-1", "2026-05-12T09:00:00+08:00"),
    {"adjust": {"request": "adj-1", "subject": "c", "points": 5, "reason": "补录", "actor": "s1",
                "at": "2026-05-15T09:00:00+08:00"}},
]


#: The same kinds of line, every correction within the month of what it corrects: a live replay still holds
#: the entries it reverses (it drops a month's entries at the month's close).
LIVE_LOG: list[dict[str, Any]] = [
    _event("a-1", "mediation", "a", "2026-04-05T10:00:00+08:00"),
    _event("a-2", "mediation", "a", "2026-04-06T10:00:00+08:00"),
    _event("e-1", "noise_violation", "e", "2026-04-07T10:00:00+08:00"),
    _correct("a-1", "2026-04-08T09:00:00+08:00"),
    _correct("e-1", "2026-04-09T09:00:00+08:00"),
    _event("b-2", "mediation", "b", "2026-05-02T10:00:00+08:00"),
    _event("d-1", "mediation", "d", "2026-04-28T10:00:00+08:00"),
    _event("f-1", "mediation", "f", "2026-05-10T10:00:00+08:00"),
    _correct("f-1", "2026-05-12T09:00:00+08:00"),
    {"adjust": {"request": "adj-1", "subject": "c", "points": 5, "reason": "补录", "actor": "s1",
                "at": "2026-05-15T09:00:00+08:00"}},
]


def _policy(extra: str = "") -> gridpoints.Policy:
    return gridpoints.load_ruleset(RULESET + extra)


def _full(policy: gridpoints.Policy, log: list[dict[str, Any]]) -> tuple[Any, list[gridpoints.Entry]]:
    """A full replay's summary and its ledger's entries."""
    store = MemoryStore()
    summary = simulate(policy, log, roster=ROSTER, store=store)
    return summary, list(store.entries("default"))


def test_corrected_awards_leave_the_earned_figures_of_their_own_window() -> None:
    """a's corrected April award and f's corrected May award are not earned; e's corrected deduction leaves
    the heat map; the adjustment is not earned by default; issued and deducted are net of corrections."""
    summary = simulate(_policy(), LOG, roster=ROSTER, keep_ledger=True)
    assert summary.earned_by_subject == {"a": 10, "b": 20, "c": 10, "d": 10, "e": 0, "f": 0}
    assert summary.by_rule["mediation"]["issued"] == 50 and summary.by_rule["noise"]["deducted"] == 0
    assert summary.heat["g1"]["2026-04"] == {"reward": 10.0}  # a, b, c, d: 10 each, 4 households
    assert summary.heat["g2"]["2026-04"] == {"deduction": 0.0} and summary.heat["g2"]["2026-05"] == {"reward": 0.0}
    assert summary.concentration["total"] == 50
    assert [row["subject"] for row in summary.leaderboard] == ["b"]  # f's May award was corrected in May
    totals = summary.totals
    assert (totals["corrections"], totals["points_corrected"], totals["adjustments"], totals["points_adjusted"]) == (
        3, 10, 1, 5)
    assert totals["points_net"] == 55 == sum(summary.liability[k] for k in ("points",))


def test_the_summary_lists_each_correction_with_its_windows() -> None:
    """Corrections of a closed April recorded in May say so; the May one does not."""
    rows = simulate(_policy(), LOG, roster=ROSTER, keep_ledger=True).corrections["rows"]
    assert [(r["event"], r["subject"], r["window"], r["corrected_in"], r["points"], r["reason"], r["actor"],
             r["after_close"]) for r in rows] == [
        ("a-1", "a", "2026-04", "2026-05", 10, "重复上报", "s1", True),
        ("e-1", "e", "2026-04", "2026-05", -10, "认错人", "s1", True),
        ("f-1", "f", "2026-05", "2026-05", 10, "重复上报", "s1", False)]


def test_late_events_are_counted_by_the_closed_window_they_fell_in() -> None:
    """d's April event, recorded after April was closed, is one late event of 10 points in 2026-04."""
    summary = simulate(_policy(), LOG, roster=ROSTER, keep_ledger=True)
    assert summary.late == {"events": 1, "points": 10, "by_window": {"2026-04": {"events": 1, "points": 10}}}
    assert summary.totals["late_events"] == 1


def test_adjustments_are_earned_where_the_ruleset_says_so() -> None:
    """``corrections: {adjustments_earned: true}``: c's +5 counts as earned, in the figures and the ranking."""
    policy = _policy("corrections: {adjustments_earned: true}\n")
    assert "adjusted" in earned_reasons(policy) and "adjusted" not in earned_reasons(_policy())
    summary = simulate(policy, LOG, roster=ROSTER, keep_ledger=True)
    assert summary.earned_by_subject["c"] == 15


def _agrees(summary: Any, entries: list[gridpoints.Entry], policy: gridpoints.Policy) -> None:
    """The analytics over ``entries`` give ``summary``'s earned points, concentration and heat."""
    assert any(e.reverses is not None for e in entries)
    population = [m.subject for m in RESIDENTS]
    grid_of = {m.subject: m.grid for m in RESIDENTS}
    reasons = earned_reasons(policy)
    assert earned_by_subject(entries, grid_of=grid_of, population=population, reasons=reasons) == \
        summary.earned_by_subject
    found = concentration_for(entries, population=population, reasons=reasons)
    assert (found.total, float(found.gini)) == (summary.concentration["total"], summary.concentration["gini"])
    assert grid_heat(entries, RESIDENTS, categories=rule_categories(policy), windows=["2026-04", "2026-05"]) == \
        summary.heat


@pytest.mark.parametrize("extra", ["", "corrections: {adjustments_earned: true}\n"])
def test_live_replay_full_replay_and_the_ledger_agree(extra: str) -> None:
    """With corrections the live replay can make, its summary equals a full replay's, and both equal the
    analytics computed over the full ledger."""
    policy = _policy(extra)
    live = simulate(policy, LIVE_LOG, roster=ROSTER)
    full, entries = _full(policy, LIVE_LOG)
    assert full.to_dict() == live.to_dict()
    assert live.corrections["count"] == 3 and live.late["events"] == 1
    assert live.earned_by_subject == {"a": 10, "b": 10, "c": 5 if extra else 0, "d": 10, "e": 0, "f": 0}
    _agrees(live, entries, policy)


@pytest.mark.parametrize("extra", ["", "corrections: {adjustments_earned: true}\n"])
def test_corrections_of_a_closed_period_agree_with_the_ledger(extra: str) -> None:
    """Corrections made after April's close: the full replay's figures equal the analytics over its ledger."""
    policy = _policy(extra)
    summary, entries = _full(policy, LOG)
    assert summary.corrections["after_close"] == 2
    _agrees(summary, entries, policy)


def test_earned_by_window_drops_a_correction_only_from_the_corrected_window() -> None:
    """Over the ledger: April loses a's corrected award (corrected in May); May loses f's; b's May award stays."""
    _, entries = _full(_policy(), LOG)
    assert earned_by_subject(entries, window=("month", "2026-04")) == {"a": 10, "b": 10, "c": 10, "d": 10}
    assert earned_by_subject(entries, window=("month", "2026-05")) == {"b": 10, "f": 0}


def test_a_corrected_event_is_no_activity_for_proactive_service() -> None:
    """f's only May event was corrected: f is on May's visit list; b, whose May event stands, is not."""
    _, entries = _full(_policy(), LOG)
    residents = {"b": {"age": 70}, "f": {"age": 70}}
    assert proactive_service(residents, entries, window="2026-05") == ["f"]


def test_a_live_replay_refuses_a_correction_older_than_it_keeps() -> None:
    """A January award corrected in April: the live replay no longer holds its entries and says to keep the
    ledger; a full replay corrects it."""
    log = [_event("a-1", "mediation", "a", "2026-01-05T10:00:00+08:00"),
           _event("b-1", "mediation", "b", "2026-04-05T10:00:00+08:00"),
           _correct("a-1", "2026-04-06T10:00:00+08:00")]
    with pytest.raises(ReplayError, match="keep_ledger"):
        simulate(_policy(), log, roster=ROSTER)
    summary = simulate(_policy(), log, roster=ROSTER, keep_ledger=True)
    assert summary.earned_by_subject["a"] == 0 and summary.corrections["count"] == 1


@pytest.mark.parametrize(("line", "expected"), [
    ({"correct": {"event": "a-1", "reason": "x", "actor": "s1"}}, "correct.at"),
    ({"correct": {"event": "nope", "reason": "x", "actor": "s1", "at": "2026-04-08T09:00:00+08:00"}},
     "unknown_event"),
    ({"correct": {"event": "a-1", "reason": "x", "actor": "a", "at": "2026-04-08T09:00:00+08:00"}},
     "cannot correct their own event"),
    ({"adjust": {"request": "r", "subject": "c", "points": 0, "reason": "x", "actor": "s1",
                 "at": "2026-05-03T09:00:00+08:00"}}, "adjust.points"),
    ({"correct": {"event": "a-1", "reason": "x", "actor": "s1", "at": "2026-04-08T09:00:00+08:00", "by": 1}},
     "unknown field"),
])
def test_a_bad_staff_line_names_its_line(line: dict[str, Any], expected: str) -> None:
    """A malformed or refused correction or adjustment line is a ReplayError at its line."""
    with pytest.raises(ReplayError, match=expected):
        simulate(_policy(), [LOG[0], line], roster=ROSTER, source="log")


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ruleset, events, roster = tmp_path / "tiny.yaml", tmp_path / "log.jsonl", tmp_path / "roster.jsonl"
    ruleset.write_text(RULESET, encoding="utf-8")
    events.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in LOG), encoding="utf-8")
    roster.write_text("".join(json.dumps({"subject": m.subject, "grid": m.grid, "household": m.household,
                                          "roles": list(m.roles), "since": "2025-01-01T00:00:00+08:00"}) + "\n"
                              for m in ROSTER), encoding="utf-8")
    return ruleset, events, roster


def test_the_commands_take_correction_and_adjustment_lines(tmp_path: Path) -> None:
    """``run`` applies the staff lines in log order; ``simulate --keep-ledger`` tables the corrections and the
    late events, and its JSON carries them."""
    ruleset, events, roster = _files(tmp_path)
    runner = CliRunner()
    ran = runner.invoke(run_command, [str(ruleset), str(events), "--roster", str(roster), "--json"])
    assert ran.exit_code == 0, ran.output
    balances = {row["subject"]: row["balance"] for row in json.loads(ran.stdout)["balances"]}
    assert balances == {"a": 10, "b": 20, "c": 15, "d": 10, "e": 0, "f": 0}
    shown = runner.invoke(simulate_command, [str(ruleset), str(events), "--roster", str(roster), "--keep-ledger"])
    assert shown.exit_code == 0, shown.output
    assert "Corrections" in shown.output and "重复上报" in shown.output and "Late events" in shown.output
    data = runner.invoke(simulate_command, [str(ruleset), str(events), "--roster", str(roster), "--keep-ledger",
                                            "--json"])
    summary = json.loads(data.stdout)
    assert summary["corrections"]["count"] == 3 and summary["late"]["by_window"] == {
        "2026-04": {"events": 1, "points": 10}}
    live = runner.invoke(simulate_command, [str(ruleset), str(events), "--roster", str(roster)])
    assert live.exit_code == 1 and "--keep-ledger" in live.output


def test_a_malformed_staff_line_fails_run_before_anything_is_written(tmp_path: Path) -> None:
    """``run`` checks every line first: a correction line without ``at`` names its file and line."""
    ruleset, events, roster = _files(tmp_path)
    events.write_text(events.read_text(encoding="utf-8") + '{"correct": {"event": "a-1", "reason": "x", '
                      '"actor": "s1"}}\n', encoding="utf-8")
    ran = CliRunner().invoke(run_command, [str(ruleset), str(events), "--roster", str(roster)])
    assert ran.exit_code == 1 and f"{events}:{len(LOG) + 1}" in ran.output and "correct.at" in ran.output


def _entry(seq: int, event_id: str, subject: str, debit: str, credit: str, amount: int, reason: str, at: str,
           rule: str = "hazard-report", reverses: int | None = None) -> gridpoints.Entry:
    return gridpoints.Entry(seq, "t", event_id, subject, debit, credit, amount, "tiny@1", rule, reason, at, reverses,
                            "", "")


def test_a_verified_award_corrected_with_its_worker_credit_leaves_every_figure() -> None:
    """The entry shapes of a corrected verified award: its pending and verified entries and the worker's credit
    are each reversed by a linked entry in a later month; earned and heat lose the verified award in April only,
    and the worker, who earns nothing, stays out of earned."""
    april, may = "2026-04-03T02:00:00+00:00", "2026-05-06T02:00:00+00:00"
    pending, spendable = gridpoints.model.pending, gridpoints.model.spendable
    issuance = gridpoints.model.ISSUANCE
    entries = [
        _entry(1, "h-1", "a", issuance, pending("a"), 15, "pending", april),
        _entry(2, "h-1:v", "a", pending("a"), spendable("a"), 15, "verified", april),
        _entry(3, "h-1:v", "w", issuance, spendable("w"), 2, "credit", april, "hazard-report:worker-credit"),
        _entry(4, "b-1", "b", issuance, spendable("b"), 10, "award", april, "mediation"),
        _entry(5, "gp:correct:h-1", "a", pending("a"), issuance, 15, "corrected", may, reverses=1),
        _entry(6, "gp:correct:h-1", "a", spendable("a"), pending("a"), 15, "corrected", may, reverses=2),
        _entry(7, "gp:correct:h-1", "w", spendable("w"), issuance, 2, "corrected", may,
               "hazard-report:worker-credit", reverses=3),
    ]
    assert earned_by_subject(entries, window=("month", "2026-04")) == {"a": 0, "b": 10}
    assert earned_by_subject(entries, window=("month", "2026-05")) == {}
    heat = grid_heat(entries, [*RESIDENTS, gridpoints.Membership("w", "g1", None, ("grid_worker",))],
                     windows=["2026-04", "2026-05"])
    # By reason (no categories given); the worker's membership makes g1 five households.
    assert heat["g1"]["2026-04"] == {"award": 2.0, "credit": 0.0, "verified": 0.0}
    assert heat["g1"]["2026-05"] == {}
