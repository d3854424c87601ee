"""Fairness that holds: scopes come from the registry, workers' credit is limited like any award, base points
do not win challenges, a share limit stops only the member above the share, and the smaller lint and
explanation faults. Each test reproduces one finding as a community's policy author would meet it."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import gridpoints
from gridpoints import Engine, EventError
from gridpoints.ruleset import lint

ROOT = Path(__file__).resolve().parent.parent
SINCE = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
_ids = itertools.count()


def submit(engine: Engine, kind: str, subject: str, at: str, grid: str = "g1", **fields: Any) -> gridpoints.Decision:
    event = {"id": f"fh{next(_ids)}", "type": kind, "subject": subject, "grid": grid, "occurred_at": at, **fields}
    return engine.submit(event)


HOUSEHOLD_CAP = """
ruleset: household-cap
version: 1
name: household cap
events:
  garbage_sorting:
    attributes:
      quality: {type: string, enum: [A, B, C], required: true}
rules:
  - {id: garbage, on: garbage_sorting, points: {by: quality, table: {A: 20, B: 10, C: 5}}}
limits:
  - {id: household-day, kind: cap, scope: household, window: day, limit: 30}
  - {id: grid-day, kind: cap, scope: grid, window: day, limit: 1000}
"""


def family_engine(**options: Any) -> Engine:
    engine = Engine(gridpoints.load_ruleset(HOUSEHOLD_CAP), **options)
    for member in ("mum", "dad", "son"):
        engine.register(member, grid="g1", household="h1", since=SINCE)
    return engine


# -- 1. the registry is the truth for scopes -------------------------------------------------------------------


def test_household_cap_binds_when_events_omit_the_household() -> None:
    """Mum, dad and son in h1, 30 per household per day: three events without ``household`` earn 30, not 60."""
    engine = family_engine()
    points = [submit(engine, "garbage_sorting", who, "2026-04-01T10:00:00+08:00",
                     attributes={"quality": "A"}).points for who in ("mum", "dad", "son")]
    assert points == [20, 10, 0]
    decision = engine.decision("fh2") or pytest.fail("recorded")
    assert decision.trace.household == "h1"


def test_an_event_contradicting_the_registry_is_refused() -> None:
    """A registered subject's event naming another grid or household is an EventError; nothing is written."""
    engine = family_engine()
    head = engine.head()
    with pytest.raises(EventError, match="registered in grid 'g1'") as grid_error:
        submit(engine, "garbage_sorting", "mum", "2026-04-01T10:00:00+08:00", grid="g7",
               attributes={"quality": "A"})
    assert grid_error.value.field == "grid"
    with pytest.raises(EventError, match="household 'h1'") as household_error:
        submit(engine, "garbage_sorting", "mum", "2026-04-01T10:00:00+08:00", household="hZ",
               attributes={"quality": "A"})
    assert household_error.value.field == "household"
    assert engine.head() == head


def test_with_scopes_registry_the_registry_wins_and_the_trace_says_so() -> None:
    engine = family_engine(scopes="registry")
    decision = submit(engine, "garbage_sorting", "mum", "2026-04-01T10:00:00+08:00", grid="g7", household="hZ",
                      attributes={"quality": "A"})
    assert decision.points == 20
    trace = decision.trace
    assert (trace.grid, trace.household) == ("g1", "h1")
    note = trace.rules[0]
    assert note.status == "registry" and dict(note.base_args) == {"grid": "g7 → g1", "household": "hZ → h1"}
    assert "g7 → g1" in decision.explain("en") and "登记" in decision.explain("zh")
    # The counters are the registry's: the next event of the household sees the 20 already counted.
    assert submit(engine, "garbage_sorting", "dad", "2026-04-01T11:00:00+08:00",
                  attributes={"quality": "A"}).points == 10


def test_an_unregistered_subject_keeps_what_the_event_says() -> None:
    engine = family_engine()
    decision = submit(engine, "garbage_sorting", "visitor", "2026-04-01T10:00:00+08:00", grid="g7",
                      household="hX", attributes={"quality": "A"})
    assert decision.points == 20 and (decision.trace.grid, decision.trace.household) == ("g7", "hX")


def test_an_unknown_scopes_option_is_refused() -> None:
    with pytest.raises(ValueError, match="scopes"):
        family_engine(scopes="event")


def test_duties_use_the_registry_household_of_the_beneficiary() -> None:
    """A worker may not verify a report of their own household even when the report named no household."""
    text = """
ruleset: duties
version: 1
name: duties
rules:
  - {id: report, on: hazard_report, points: 15, verify: {by: [grid_worker], within: 7d}}
"""
    engine = Engine(gridpoints.load_ruleset(text))
    engine.register("wife", grid="g1", household="h9", since=SINCE)
    engine.register("worker", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    report = submit(engine, "hazard_report", "wife", "2026-04-01T10:00:00+08:00")
    with pytest.raises(gridpoints.errors.SegregationError, match="household"):
        submit(engine, "verify", "wife", "2026-04-01T12:00:00+08:00", actor="worker",
               attributes={"event": report.event_id})


# -- 2. a grid worker's credit is limited like any award -------------------------------------------------------

WORKER_CAP = """
ruleset: worker-cap
version: 1
name: worker cap
rules:
  - id: report
    on: hazard_report
    points: 15
    verify: {by: [grid_worker], within: 7d}
    credit_worker: {points: 5, within: 2d}
limits:
  - {id: worker-daily, kind: cap, scope: subject, window: day, categories: [performance], limit: 10}
"""


def test_a_cap_on_the_performance_category_binds_the_workers_credit() -> None:
    """4 verifications in a day earn the worker 10 against a cap of 10 (not 20); lint sees the cap binds."""
    engine = Engine(gridpoints.load_ruleset(WORKER_CAP))
    engine.register("w", grid="g1", household="hw", roles=["grid_worker"], since=SINCE)
    for index in range(4):
        engine.register(f"r{index}", grid="g1", household=f"h{index}", since=SINCE)
        report = submit(engine, "hazard_report", f"r{index}", "2026-04-01T09:00:00+08:00")
        verified = submit(engine, "verify", f"r{index}", "2026-04-01T12:00:00+08:00", actor="w",
                          attributes={"event": report.event_id})
        assert verified.points == 15
    assert engine.balance("w") == 10
    credit = verified.trace.rules[1]
    assert credit.rule_id == "report:worker-credit" and credit.granted == 0
    assert [step.limit_id for step in credit.steps] == ["worker-daily"]
    assert not [d for d in lint(WORKER_CAP) if d.code == "cap-never-binds"]


def test_chaoyang_pays_the_worker_only_for_reports_that_earn_points() -> None:
    """Chaoyang: 8 reports of one household in a week → the resident earns 45 (the household cap), and the
    worker is credited for the 3 reports that earned points, not for all 8."""
    engine = Engine(gridpoints.load_ruleset(ROOT / "rulesets" / "chaoyang-harmony.yaml"))
    engine.register("res", grid="g1", household="h1", since=SINCE)
    engine.register("w", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    # One ISO week: Monday 2026-04-06 to Sunday 2026-04-12; two reports a day on four days.
    for day in (6, 7, 8, 9):
        for hour in (9, 10):
            report = submit(engine, "problem_report", "res", f"2026-04-{day:02d}T{hour:02d}:00:00+08:00",
                            attributes={"issue": "plumbing"})
            submit(engine, "verify", "res", f"2026-04-{day:02d}T{hour + 2:02d}:00:00+08:00", actor="w",
                   attributes={"event": report.event_id, "resolved": True})
    assert engine.balances(["res", "w"]) == {"res": 45, "w": 15}


# -- 3. what counts for rankings is explicit ---------------------------------------------------------------------


def test_pudong_base_points_alone_do_not_win_the_monthly_challenge() -> None:
    """A resident with only the 10 base points and a noise deduction is not ranked; one who took part wins."""
    engine = Engine(gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml"))
    engine.register("idle", grid="g1", household="h1", since=SINCE)
    engine.register("active", grid="g1", household="h2", since=SINCE)
    submit(engine, "noise_violation", "idle", "2026-04-03T22:00:00+08:00")
    submit(engine, "mediation", "active", "2026-04-03T10:00:00+08:00")
    report = engine.close_period("2026-04", now=datetime.fromisoformat("2026-05-01T00:10:00+08:00"))
    assert [s.subject for s in report.challenges["monthly-top10"]] == ["active"]
    assert [s.subject for s in engine.leaderboard("2026-04")] == ["active"]
    assert engine.leaderboard("2026-04")[0].earned == 10  # the mediation; the base 10 does not count


def test_counts_for_ranking_on_a_category_or_rule_brings_points_in() -> None:
    text = """
ruleset: ranked-base
version: 1
name: ranked base
categories:
  base: {name: 基础分, counts_for_ranking: true}
  reward: 奖励分
  bonus: 挑战赛加分
rules:
  - {id: base, on: period.month, points: 10, category: base}
  - {id: chat, on: chat, points: 1, counts_for_ranking: false}
challenges:
  - {id: top, window: month, top: 1, bonus: 5}
"""
    engine = Engine(gridpoints.load_ruleset(text))
    engine.register("a", grid="g1", since=SINCE)
    engine.register("b", grid="g1", since=SINCE)
    for index in range(5):
        submit(engine, "chat", "b", f"2026-04-0{index + 1}T10:00:00+08:00")
    report = engine.close_period("2026-04", now=datetime.fromisoformat("2026-05-01T00:10:00+08:00"))
    standings = report.challenges["top"]
    assert [(s.subject, s.earned) for s in standings] == [("a", 10)]
    assert engine.policy.category_name("base") == "基础分"


# -- 4. a share limit stops only the member above the share -----------------------------------------------------

SHARE = """
ruleset: share-pool
version: 1
name: share pool
rules:
  - {id: sorting, on: garbage_sorting, points: 20}
limits:
  - {id: grid-share, kind: share, scope: grid, member: subject, window: month, max_share: 0.5, min_total: 100}
"""


def test_a_share_never_freezes_a_pool_and_never_cuts_the_smaller_earner() -> None:
    """Two residents, max_share 0.5, min_total 100: the big earner asks for 40 a day, the small one for 20.
    The small earner, never above half, gets all 480 it earned; the grid keeps growing all month."""
    engine = Engine(gridpoints.load_ruleset(SHARE))
    small = 0
    for day in range(1, 25):
        at = f"2026-04-{day:02d}T10:00:00+08:00"
        for _ in range(2):
            submit(engine, "garbage_sorting", "big", at)
        decision = submit(engine, "garbage_sorting", "small", at)
        small += decision.points
        step = decision.trace.rules[0].steps[0]
        assert step.granted == 20 or step.before > step.pool / 2
    assert small == 480
    big = engine.balance("big")
    assert big + small > 150 * 5 and big <= 960
    assert big - small <= 40  # the big earner is stopped whenever it is above half


def test_explanation_of_a_member_above_the_share() -> None:
    engine = Engine(gridpoints.load_ruleset(SHARE))
    decisions = [submit(engine, "garbage_sorting", "big", f"2026-04-01T1{index}:00:00+08:00") for index in range(6)]
    assert [d.points for d in decisions] == [20] * 5 + [0]
    decision = decisions[-1]
    assert "above the share" in decision.explain("en") and "已超过份额" in decision.explain("zh")


# -- 5. lint and explanations -------------------------------------------------------------------------------------


def test_a_misspelt_on_is_a_warning_with_a_did_you_mean() -> None:
    text = """
ruleset: typo
version: 1
name: typo
events:
  garbage_sorting:
    attributes:
      quality: {type: string, enum: [A, B], required: true}
rules:
  - {id: sorting, on: garbage_sorting, points: {by: quality, table: {A: 20, B: 10}}}
  - {id: sorting-bonus, on: garbage_sortng, points: 5}
"""
    found = [d for d in lint(text) if d.code == "undeclared-event"]
    assert len(found) == 1
    assert "garbage_sortng" in str(found[0]) and "did you mean 'garbage_sorting'" in str(found[0])
    assert found[0].issue.line == 11 and found[0].issue.suggestion == "garbage_sorting"


def test_shipped_rulesets_have_no_undeclared_event() -> None:
    for path in sorted((ROOT / "rulesets").glob("*.yaml")):
        assert not [d for d in lint(path) if d.code == "undeclared-event"], path.name


def test_explain_marks_a_resubmission_only_when_it_is_one() -> None:
    engine = Engine(gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml"))
    event = {"id": "p1", "type": "patrol", "subject": "s1", "grid": "g1",
             "occurred_at": "2026-04-01T19:00:00+08:00", "attributes": {"hours": 2}}
    engine.submit(event)
    assert "重复提交" not in engine.explain("p1") and "resubmitted" not in engine.explain("p1", "en")
    again = engine.submit(event)
    assert again.duplicate and "重复提交" in again.explain("zh")


def test_chinese_explanations_name_attributes_by_their_descriptions() -> None:
    engine = Engine(gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml"))
    engine.submit({"id": "p1", "type": "patrol", "subject": "s1", "grid": "g1",
                   "occurred_at": "2026-04-01T19:00:00+08:00", "attributes": {"hours": 2}})
    engine.submit({"id": "p2", "type": "garbage_sorting", "subject": "s1", "grid": "g1",
                   "occurred_at": "2026-04-01T19:00:00+08:00", "attributes": {"quality": "A"}})
    patrol, sorting = engine.explain("p1"), engine.explain("p2")
    assert "2 小时 × 10" in patrol and "hours" not in patrol
    assert "质量等级 = A" in sorting and "quality" not in sorting
    assert "hours" in engine.explain("p1", "en")


def test_relative_links_in_the_docs_resolve() -> None:
    import re

    broken = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken


# -- 6. a kit that finds real favouritism ----------------------------------------------------------------------

FAVOURITISM = {
    "a named subject": ("equal_treatment", """
  - {id: favour, on: mediation, when: {event.subject: {in: [zhang-san-0412]}}, points: 30}
"""),
    "a grid the generator never drew": ("equal_treatment", """
  - {id: favour, on: mediation, when: {event.grid: g07}, points: 30}
"""),
    "an undeclared attribute": ("attribute_blind", """
  - {id: favour, on: mediation, when: {party_member: true}, points: 30}
"""),
}


@pytest.mark.parametrize("case", sorted(FAVOURITISM))
def test_the_kit_catches_favouritism_with_a_short_counter_example(case: str) -> None:
    from gridpoints.testing import FairnessViolation, assert_fair

    expected, favour = FAVOURITISM[case]
    text = f"""
ruleset: favour
version: 1
name: favour
events:
  mediation:
    attributes:
      party_member: {{type: boolean}}
      hours: {{type: number, min: 0, max: 8}}
  patrol:
    attributes:
      hours: {{type: number, min: 0, max: 8, required: true}}
rules:
  - {{id: mediation, on: mediation, points: 10}}
  - {{id: patrol, on: patrol, points: {{per: hours, each: 10}}}}
{favour}"""
    assert not [d for d in lint(text) if d.severity == "error"]
    with pytest.raises(FairnessViolation) as caught:
        assert_fair(text, max_examples=200, seed=13, properties=["equal_treatment", "attribute_blind"])
    assert caught.value.property == expected
    assert 1 <= len(caught.value.events) <= 3, caught.value.detail


def test_a_declared_legitimate_ground_passes_attribute_blind() -> None:
    from gridpoints.testing import assert_fair

    text = """
ruleset: grounds
version: 1
name: grounds
events:
  service_order:
    legitimate: [status]
    attributes:
      status: {type: string, enum: [completed, cancelled], required: true}
rules:
  - {id: service, on: service_order, when: {status: completed}, points: 10}
"""
    assert_fair(text, properties=["attribute_blind"], max_examples=50, seed=1)
