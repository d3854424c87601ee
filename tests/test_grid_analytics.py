"""Grid analytics: heat per household, anomaly triggers and the proactive-visit list, on hand-computed cases."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gridpoints import Engine, MemoryStore, Policy, load_ruleset
from gridpoints.analytics._concentration import Anomaly, anomalies, grid_heat, proactive_service, rule_categories
from gridpoints.model import DEDUCTIONS, ISSUANCE, REDEMPTIONS, Entry, held, make_entry, pending, spendable
from gridpoints.model._registry import Membership, MemoryRegistry

CATEGORIES = {"patrol": "reward", "garbage-sorting": "reward", "noise": "deduction", "residence-base": "base"}
_seq = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def award(subject: str, amount: int, when: str, rule: str = "patrol", *, reason: str = "award",
          event_id: str | None = None) -> Entry:
    """An award entry: issuance → the subject's spendable account."""
    return _entry(subject, ISSUANCE, spendable(subject), amount, rule, reason, when, event_id)


def deduction(subject: str, amount: int, when: str, rule: str = "noise") -> Entry:
    return _entry(subject, spendable(subject), DEDUCTIONS, amount, rule, "deduction", when)


def _entry(subject: str, debit: str, credit: str, amount: int, rule: str, reason: str, when: str,
           event_id: str | None = None) -> Entry:
    seq = next(_seq)
    return make_entry(seq=seq, tenant="t", event_id=event_id or f"e{seq}", subject=subject, debit=debit,
                      credit=credit, amount=amount, ruleset="r@1", rule=rule, reason=reason,
                      occurred_at=at(when).isoformat(), reverses=None, prev_hash="0" * 64)


MEMBERS = [
    Membership("s1", "g1", "h1"), Membership("s2", "g1", "h1"), Membership("s3", "g1", "h2"),
    Membership("s4", "g2", "h3"),
]


# -- grid_heat -------------------------------------------------------------------------------------------------


def test_heat_is_points_per_household_by_category() -> None:
    """Awards and deductions are summed by category and divided by the grid's households, signed."""
    entries = [
        award("s1", 20, "2026-04-02T10:00:00+08:00"),
        award("s3", 10, "2026-04-03T10:00:00+08:00", "garbage-sorting"),
        deduction("s2", 10, "2026-04-04T10:00:00+08:00"),
        award("s4", 30, "2026-04-05T10:00:00+08:00"),
    ]
    heat = grid_heat(entries, MEMBERS, categories=CATEGORIES)
    assert heat == {"g1": {"2026-04": {"deduction": -5.0, "reward": 15.0}}, "g2": {"2026-04": {"reward": 30.0}}}


def test_spending_and_pending_awards_are_not_heat() -> None:
    """Redemptions, holds and awards still waiting for verification leave the heat map unchanged."""
    entries = [
        award("s4", 30, "2026-04-05T10:00:00+08:00"),
        _entry("s4", spendable("s4"), held("s4"), 20, "item:goods", "held", "2026-04-06T10:00:00+08:00"),
        _entry("s4", held("s4"), REDEMPTIONS, 20, "item:goods", "redeemed", "2026-04-07T10:00:00+08:00"),
        _entry("s4", ISSUANCE, pending("s4"), 15, "hazard-report", "pending", "2026-04-08T10:00:00+08:00"),
    ]
    assert grid_heat(entries, MEMBERS, categories=CATEGORIES) == {"g1": {"2026-04": {}},
                                                                  "g2": {"2026-04": {"reward": 30.0}}}


def test_verified_award_and_repair_count_in_their_rule_category() -> None:
    """A verified report adds to its category; points given back by a repair reduce the deduction."""
    entries = [
        _entry("s4", pending("s4"), spendable("s4"), 15, "hazard-report", "verified", "2026-04-08T10:00:00+08:00"),
        deduction("s4", 10, "2026-04-09T10:00:00+08:00"),
        _entry("s4", DEDUCTIONS, spendable("s4"), 4, "noise", "repair-restored", "2026-04-10T10:00:00+08:00"),
    ]
    heat = grid_heat(entries, MEMBERS, categories={**CATEGORIES, "hazard-report": "reward"})
    assert heat["g2"] == {"2026-04": {"deduction": -6.0, "reward": 15.0}}


def test_rules_without_a_category_are_keyed_by_reason() -> None:
    """An entry whose rule is not in ``categories`` (a challenge bonus) is keyed by its reason."""
    entries = [award("s4", 50, "2026-04-30T23:00:00+08:00", "challenge:top10", reason="bonus")]
    assert grid_heat(entries, MEMBERS, categories=CATEGORIES)["g2"] == {"2026-04": {"bonus": 50.0}}


def test_windows_are_local_and_quiet_windows_are_empty() -> None:
    """Windows follow the zone (17:00 UTC on 30 April is 1 May in Shanghai); a quiet grid gets an empty cell."""
    entries = [award("s4", 30, "2026-04-05T10:00:00+08:00"), award("s1", 20, "2026-04-30T17:00:00+00:00")]
    heat = grid_heat(entries, MEMBERS, categories=CATEGORIES)
    assert heat == {"g1": {"2026-04": {}, "2026-05": {"reward": 10.0}},
                    "g2": {"2026-04": {"reward": 30.0}, "2026-05": {}}}
    utc = grid_heat(entries, MEMBERS, categories=CATEGORIES, zone="UTC")
    assert utc["g1"] == {"2026-04": {"reward": 10.0}}


def test_explicit_windows_and_week_kind() -> None:
    """``windows`` fixes the columns and ``window_kind`` the calendar; other windows' entries drop out."""
    entries = [award("s4", 30, "2026-04-01T10:00:00+08:00"), award("s4", 10, "2026-04-08T10:00:00+08:00")]
    heat = grid_heat(entries, MEMBERS, window_kind="week", windows=["2026-W15", "2026-W16"])
    assert heat["g2"] == {"2026-W15": {"award": 10.0}, "2026-W16": {}}
    with pytest.raises(ValueError, match="fortnight"):
        grid_heat(entries, MEMBERS, window_kind="fortnight")


def test_membership_changes_move_entries_and_households() -> None:
    """An entry counts for the grid the subject lived in at its time; a mover's household counts in both grids."""
    moved = at("2026-04-15T00:00:00+08:00")
    members = [Membership("s1", "g1", "h1", until=moved), Membership("s1", "g2", "h1", since=moved),
               Membership("s3", "g1", "h2"), Membership("s4", "g2", "h3")]
    entries = [award("s1", 20, "2026-04-10T10:00:00+08:00"), award("s1", 40, "2026-04-20T10:00:00+08:00"),
               award("s9", 99, "2026-04-20T10:00:00+08:00")]
    heat = grid_heat(entries, members, categories=CATEGORIES)
    assert heat == {"g1": {"2026-04": {"reward": 10.0}}, "g2": {"2026-04": {"reward": 20.0}}}


def test_a_membership_without_household_is_its_own() -> None:
    """Subjects registered without a household each count as one household."""
    members = [Membership("s1", "g1"), Membership("s2", "g1"), Membership("s3", "g1", "h1")]
    heat = grid_heat([award("s1", 30, "2026-04-02T10:00:00+08:00")], members, categories=CATEGORIES)
    assert heat == {"g1": {"2026-04": {"reward": 10.0}}}


def test_heat_from_a_real_engine(policy: Policy) -> None:
    """Entries written by the engine give the hand-computed heat: (20) / 2 and (−10) / 2 households."""
    registry = MemoryRegistry([Membership("s1", "g1", "h1"), Membership("s2", "g1", "h2")])
    engine = Engine(policy, store=MemoryStore(), registry=registry)
    engine.submit({"id": "p1", "type": "patrol", "subject": "s1", "grid": "g1",
                   "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": {"hours": 2}})
    engine.submit({"id": "n1", "type": "noise_violation", "subject": "s2", "grid": "g1",
                   "occurred_at": "2026-04-02T10:00:00+08:00"})
    heat = grid_heat(engine.store.entries(engine.tenant), registry.memberships(),
                     categories=rule_categories(policy))
    assert heat == {"g1": {"2026-04": {"deduction": -5.0, "reward": 10.0}}}


# -- anomalies -------------------------------------------------------------------------------------------------

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]


def rates(**by_grid: list[float]) -> dict[str, dict[str, float]]:
    return {grid: dict(zip(MONTHS[-len(values):], values, strict=True)) for grid, values in by_grid.items()}


def test_history_anomaly_hand_computed() -> None:
    """History 1, 2, 3 (mean 2, σ √(2/3)) then 6: z = 4/0.8165 = 4.899 > 2 and 6 > 1.5·2, so flagged."""
    [found] = anomalies(rates(g1=[1, 2, 3, 6]), rules=("history",))
    assert found == Anomaly("g1", "2026-04", "deduction", 6.0, 2.0, "history", found.score)
    assert found.score == pytest.approx(4.8990, abs=1e-4)


def test_history_thresholds_are_parameters() -> None:
    """The same rise is not flagged with k = 5, nor is a rise to 3.5 (z = 1.84) with the default k."""
    assert anomalies(rates(g1=[1, 2, 3, 6]), rules=("history",), k=5) == []
    assert anomalies(rates(g1=[1, 2, 3, 3.5]), rules=("history",)) == []


def test_small_rise_over_a_steady_history_is_not_flagged() -> None:
    """History 10, 10.1, 9.9 then 11: z = 12.2 but 11 is not above 1.5 × 10, so no trigger."""
    assert anomalies(rates(g1=[10, 10.1, 9.9, 11]), rules=("history",)) == []
    assert anomalies(rates(g1=[10, 10.1, 9.9, 11]), rules=("history",), factor=1.0) != []


def test_flat_history_flags_any_material_rise_with_infinite_score() -> None:
    """With no spread in the history (0, 0, 0) the relative test alone decides; the score is infinite."""
    [found] = anomalies(rates(g1=[0, 0, 0, 2]), rules=("history",))
    assert (found.window, found.baseline, found.score) == ("2026-04", 0.0, math.inf)
    assert anomalies(rates(g1=[0, 0, 0, 2]), rules=("history",), min_value=2) == []


def test_history_needs_a_minimum_and_looks_back_a_limited_way() -> None:
    """Two earlier windows are too few by default; with history=3 an old spike is forgotten."""
    assert anomalies(rates(g1=[1, 3, 9]), rules=("history",)) == []
    assert anomalies(rates(g1=[1, 3, 9]), rules=("history",), min_history=2) != []
    months = {f"2026-{m:02d}": v for m, v in zip(range(1, 6), [50.0, 1, 2, 3, 6], strict=True)}
    with_spike = anomalies({"g1": months}, rules=("history",), history=4)
    assert with_spike == []
    [found] = anomalies({"g1": months}, rules=("history",), history=3)
    assert (found.window, found.baseline) == ("2026-05", 2.0)


def test_peer_anomaly_hand_computed() -> None:
    """Peers 1, 2, 3, 2: median 2, MAD 0.5; 10 gives robust z = 0.6745·8/0.5 = 10.792, flagged; 3 is not."""
    found = anomalies({"a": {"2026-04": 1}, "b": {"2026-04": 2}, "c": {"2026-04": 3}, "d": {"2026-04": 2},
                       "e": {"2026-04": 10}}, rules=("peers",))
    assert [(a.grid, a.value, a.baseline, a.reason) for a in found] == [("e", 10.0, 2.0, "peers")]
    assert found[0].score == pytest.approx(10.792)


def test_peers_need_a_minimum_and_thresholds_are_parameters() -> None:
    """Fewer than min_peers other grids give no peer verdict; a higher peer_z lets the same value pass."""
    data = {"a": {"2026-04": 1.0}, "b": {"2026-04": 2.0}, "e": {"2026-04": 10.0}}
    assert anomalies(data, rules=("peers",)) == []
    assert [a.grid for a in anomalies(data, rules=("peers",), min_peers=2)] == ["e"]
    assert anomalies(data, rules=("peers",), min_peers=2, peer_z=20) == []


def test_heat_input_reads_the_metric_as_a_magnitude() -> None:
    """From a heat map the deduction cells (negative) are read by size; missing cells count as zero."""
    heat = {g: {m: ({"deduction": -v, "reward": 40.0} if v else {"reward": 40.0}) for m, v in by_month.items()}
            for g, by_month in rates(g1=[1, 2, 3, 6], g2=[0, 1, 1, 1], g3=[1, 1, 1, 1], g4=[2, 1, 2, 1]).items()}
    found = anomalies(heat, windows={"2026-04"})
    assert [(a.grid, a.window, a.reason) for a in found] == [("g1", "2026-04", "history"), ("g1", "2026-04", "peers")]
    assert found[1].baseline == 1.0 and found[1].score == math.inf
    assert anomalies(heat, metric="reward") == []


def test_windows_filter_and_validation() -> None:
    """``windows`` limits which windows are judged; nonsense parameters are refused."""
    data = {"g1": {f"2026-{m:02d}": v for m, v in zip(range(1, 6), [0.0, 0, 0, 2, 5], strict=True)}}
    assert [a.window for a in anomalies(data, rules=("history",))] == ["2026-04", "2026-05"]
    assert [a.window for a in anomalies(data, rules=("history",), windows={"2026-05"})] == ["2026-05"]
    with pytest.raises(ValueError, match="factor"):
        anomalies(data, factor=0.5)
    with pytest.raises(ValueError, match="min_history"):
        anomalies(data, min_history=7)
    with pytest.raises(ValueError, match="unknown anomaly rules"):
        anomalies(data, rules=("neighbours",))


def test_anomaly_is_frozen_and_serialisable() -> None:
    """An anomaly cannot be changed after the fact and turns into a plain dict."""
    found = Anomaly("g1", "2026-04", "deduction", 6.0, 2.0, "history", 4.9)
    with pytest.raises(AttributeError):
        found.value = 1.0  # type: ignore[misc]
    assert found.to_dict()["reason"] == "history"


# -- proactive_service -----------------------------------------------------------------------------------------

APRIL = "2026-04-10T10:00:00+08:00"


def residents() -> list[tuple[Membership, Mapping[str, Any]]]:
    return [
        (Membership("s1", "g1", "h1"), {"age": 70}),
        (Membership("s2", "g1", "h2"), {"age": 80}),
        (Membership("s3", "g1", "h3"), {"age": 40}),
        (Membership("s4", "g2", "h4"), {"age": 66}),
        (Membership("s5", "g2", "h5", roles={"grid_worker"}), {"age": 90}),
        (Membership("s6", "g2", "h6", until=at("2026-04-01T00:00:00+08:00")), {"age": 70}),
        (Membership("s7", "g0", "h7"), {"age": 72}),
        (Membership("s8", "g1", "h8"), {}),
    ]


def ledger() -> list[Entry]:
    return [
        award("s2", 10, APRIL, event_id="act-s2"),
        award("s3", 10, "2026-04-11T10:00:00+08:00", event_id="act-s3"),
        award("s4", 10, "2026-04-01T00:00:00+08:00", "residence-base", event_id="gp:period:residence-base:2026-04:s4"),
        award("s4", 50, "2026-04-30T23:59:59+08:00", "challenge:top10", reason="bonus",
              event_id="gp:challenge:top10:2026-04:s4"),
        award("s7", 10, "2026-03-31T23:00:00+08:00", event_id="march-s7"),
    ]


def test_older_residents_without_activity_are_listed_by_grid() -> None:
    """65+ residents with no own award in April: base points, bonuses and March activity do not count."""
    assert proactive_service(residents(), ledger(), window="2026-04") == ["s7", "s1", "s4"]


def test_max_positive_events_allows_a_little_activity() -> None:
    """With max_positive_events=1, a resident with one award in the window is listed too."""
    assert proactive_service(residents(), ledger(), window="2026-04", max_positive_events=1) == ["s7", "s1", "s2",
                                                                                                 "s4"]


def test_a_pending_report_counts_once_as_activity() -> None:
    """A report awaiting or after verification is one activity (pending counts, verified does not)."""
    entries = [_entry("s1", ISSUANCE, pending("s1"), 15, "hazard-report", "pending", APRIL, "r1"),
               _entry("s1", pending("s1"), spendable("s1"), 15, "hazard-report", "verified", APRIL, "v1")]
    assert "s1" not in proactive_service(residents(), entries, window="2026-04")
    assert "s1" in proactive_service(residents(), entries, window="2026-04", max_positive_events=1)


def test_predicate_and_mapping_input() -> None:
    """A host predicate picks whom to consider; a plain subject → attributes mapping skips memberships."""
    young = proactive_service(residents(), ledger(), window="2026-04", predicate=lambda a: a.get("age", 0) < 50)
    assert young == ["s8"]
    plain = proactive_service({"s1": {"age": 70}, "s5": {"age": 90}, "s2": {"age": 80}}, ledger(), window="2026-04")
    assert plain == ["s1", "s5"]


CLOSING = """
ruleset: visits
version: 1
name: visits
rules:
  - {id: residence-base, on: period.month, points: 10, category: base}
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
challenges:
  - {id: top, window: month, top: 1, bonus: 50}
"""


def test_engine_made_points_are_not_activity() -> None:
    """After a real period close, neither base points nor the challenge bonus count as a resident's activity."""
    since = at("2026-01-01T00:00:00+08:00")
    engine = Engine(load_ruleset(CLOSING))
    for subject, household in (("old-idle", "h1"), ("old-active", "h2"), ("winner", "h3")):
        engine.register(subject, grid="g1", household=household, since=since)
    engine.submit({"id": "p1", "type": "patrol", "subject": "old-active", "grid": "g1",
                   "occurred_at": APRIL, "attributes": {"hours": 1}})
    engine.submit({"id": "p2", "type": "patrol", "subject": "winner", "grid": "g1",
                   "occurred_at": APRIL, "attributes": {"hours": 3}})
    engine.close_period("2026-04", now=at("2026-05-01T00:00:00+08:00"))
    entries = list(engine.store.entries(engine.tenant))
    assert {e.reason for e in entries if e.subject == "old-idle"} == {"award"}
    attributes = {"old-idle": {"age": 75}, "old-active": {"age": 70}, "winner": {"age": 30}}
    listed = proactive_service([(m, attributes[m.subject]) for m in engine.registry.memberships()], entries,
                               window="2026-04", predicate=lambda a: True)
    assert listed == ["old-idle"]
    assert any(e.subject == "winner" and e.reason == "bonus" for e in entries)
    one_each = proactive_service([(m, attributes[m.subject]) for m in engine.registry.memberships()], entries,
                                 window="2026-04", predicate=lambda a: True, max_positive_events=1)
    assert one_each == ["old-active", "old-idle", "winner"]


def test_window_kinds_and_bad_windows() -> None:
    """Any window id works (an ISO week here); a malformed one raises ValueError."""
    assert proactive_service(residents(), ledger(), window="2026-W15") == ["s7", "s1", "s4"]
    assert "s2" not in proactive_service(residents(), ledger(), window="2026-W15")
    with pytest.raises(ValueError, match="window id"):
        proactive_service(residents(), ledger(), window="April")


# -- the documentation's worked examples -------------------------------------------------------------------------


def test_grid_analytics_doc_examples_print_what_the_doc_shows(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/grid-analytics.md's Python blocks run in order and each prints the text block that follows it."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "grid-analytics.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.DOTALL)
    namespace: dict[str, object] = {}
    checked = 0
    for (language, code), following in zip(blocks, [*blocks[1:], ("", "")], strict=True):
        if language != "python":
            continue
        exec(compile(code, "grid-analytics.md", "exec"), namespace)  # the docs' own examples, nothing else
        printed = capsys.readouterr().out
        if following[0] == "text" and printed:
            assert printed == following[1]
            checked += 1
    assert checked == 3
