"""The fairness kit (gridpoints.testing): streams the engine accepts, properties that catch unfair rulesets
and engine defects, shrunk counter-examples that replay, the check command's report and the pytest plugin."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import gridpoints
from gridpoints import Engine, MemoryStore
from gridpoints.storage import _memory as memory
from gridpoints.testing import (
    PROPERTIES,
    Bound,
    Concentration,
    FairnessViolation,
    assert_fair,
    check_caps,
    check_concentration,
    check_conservation,
    check_determinism,
    check_equal_treatment,
    check_event_type_bounds,
    check_floor,
    check_idempotency,
    check_positive_events,
    check_ruleset,
    check_shares,
    event_streams,
    run_check,
)

pytest_plugins = ["pytester"]

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
SEED_RULESETS = sorted(RULESETS.glob("*.yaml"))

HEADER = """\
version: 1
name: 测试
timezone: Asia/Shanghai
community: c1
"""

#: The cap meant to bound patrol per subject and day lists only rule `patrol`; `patrol-extra` bypasses it.
CAP_BYPASS = "ruleset: cap-bypass\n" + HEADER + """\
categories: {reward: 奖励分, volunteer: 志愿分, deduction: 扣分}
events:
  patrol: {attributes: {hours: {type: number, min: 0, max: 8, required: true}}}
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10, max_units: 4}}
  - {id: patrol-extra, on: patrol, points: 5, category: volunteer}
limits:
  - {id: patrol-day, kind: cap, scope: subject, window: day, rules: [patrol], limit: 40}
"""
CAP_HONEST = CAP_BYPASS.replace("rules: [patrol], limit: 40", "rules: [patrol, patrol-extra], limit: 40")

#: A 10% share that only applies once a grid issued a million points: it never binds.
SHARE_NEVER_BINDS = "ruleset: share-never-binds\n" + HEADER + """\
rules:
  - {id: mediation, on: mediation, points: 10}
limits:
  - {id: grid-share, kind: share, scope: grid, window: month, max_share: 0.1, min_total: 1000000}
"""
SHARE_BINDS = SHARE_NEVER_BINDS.replace("min_total: 1000000", "min_total: 100")

#: Household h1 earns a bonus nobody else can.
FAVOURS_HOUSEHOLD = "ruleset: favours-household\n" + HEADER + """\
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: h1-bonus, on: mediation, when: {event.household: {in: [h1]}}, points: 5}
"""
FAVOURS_SUBJECT = FAVOURS_HOUSEHOLD.replace("event.household: {in: [h1]}", "event.subject: s1")

#: Small limits of every kind, and a floor, so that a handful of events reach them.
TIGHT = "ruleset: tight\n" + HEADER + """\
floor: 0
events:
  patrol: {attributes: {hours: {type: number, min: 0, max: 8, required: true}}}
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10, max_units: 4}}
  - {id: noise, on: noise, points: -25}
limits:
  - {id: subject-day, kind: cap, scope: subject, window: day, limit: 50}
  - {id: grid-share, kind: share, scope: grid, window: month, max_share: 0.5, min_total: 60}
  - {id: budget, kind: budget, window: month, limit: 150, on_exhausted: truncate}
"""

EXAMPLES = 30


def _patrols(count: int, *, subjects: tuple[str, ...] = ("s1",), hours: float = 4) -> list[dict[str, Any]]:
    start = datetime.fromisoformat("2026-04-01T09:00:00+08:00")
    return [{"id": f"p{i}", "type": "patrol", "subject": subjects[i % len(subjects)], "grid": "g1",
             "household": f"h-{subjects[i % len(subjects)]}", "occurred_at": start + timedelta(minutes=i),
             "attributes": {"hours": hours}} for i in range(count)]


def _noise(event_id: str, subject: str = "s1") -> dict[str, Any]:
    return {"id": event_id, "type": "noise", "subject": subject, "grid": "g1", "household": f"h-{subject}",
            "occurred_at": "2026-04-01T20:00:00+08:00"}


def _violation(ruleset: str, properties: list[str], **options: Any) -> FairnessViolation:
    with pytest.raises(FairnessViolation) as caught:
        assert_fair(ruleset, max_examples=200, seed=1, properties=properties, **options)
    return caught.value


def _jsonl(message: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in message.splitlines() if line.startswith("{")]


# -- strategies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEED_RULESETS, ids=lambda p: p.stem)
def test_generated_streams_are_accepted_with_fixed_membership(path: Path) -> None:
    """Every generated stream is accepted whole by the engine, with unique ids and each subject always in
    the same household and grid."""
    policy = gridpoints.load_ruleset(path)

    @settings(max_examples=40, deadline=None, database=None)
    @given(event_streams(policy))
    def accepted(events: list[dict[str, Any]]) -> None:
        assert len({e["id"] for e in events}) == len(events)
        homes: dict[str, tuple[Any, Any]] = {}
        for event in events:
            home = (event.get("household"), event["grid"])
            assert homes.setdefault(event["subject"], home) == home
            assert not policy.event_types[event["type"]].settles
        Engine(policy, store=MemoryStore()).submit_many(events)

    accepted()


def test_streams_cluster_at_boundaries_and_cover_condition_thresholds() -> None:
    """Times crowd around local midnights and week/month ends, and attributes reach both sides of a rule's
    numeric threshold (`hours >= 1`)."""
    policy = gridpoints.load_ruleset("ruleset: threshold\n" + HEADER + """\
events:
  safety_publicity: {attributes: {hours: {type: number, min: 0, max: 12, required: true}}}
rules:
  - {id: publicity, on: safety_publicity, when: {hours: {gte: 1}}, points: {per: hours, each: 10, max_units: 2}}
""")
    moments: list[datetime] = []
    hours: list[float] = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(event_streams(policy, start=datetime(2026, 3, 27).date(), days=6))
    def collect(events: list[dict[str, Any]]) -> None:
        for event in events:
            at = event["occurred_at"]
            moments.append((datetime.fromisoformat(at) if isinstance(at, str) else at).astimezone(policy.zone))
            if event["type"] == "safety_publicity":
                hours.append(event["attributes"]["hours"])

    collect()
    near = [m for m in moments if min(m.hour * 60 + m.minute, 24 * 60 - (m.hour * 60 + m.minute)) <= 60]
    assert len(near) >= len(moments) // 4
    assert any(m.date().isoformat() == "2026-03-31" and m.hour == 23 for m in moments)  # month and quarter end
    assert any(m.date().isoformat() == "2026-03-29" and m.hour == 23 for m in moments)  # Sunday night
    assert any(h < 1 for h in hours) and any(h >= 1 for h in hours)


def test_stream_options_are_checked() -> None:
    """A ruleset with nothing a stream can carry, or an empty day range, is refused up front."""
    only_scheduled = gridpoints.load_ruleset("ruleset: sched\n" + HEADER
                                             + "rules:\n  - {id: base, on: period.month, points: 10}\n")
    with pytest.raises(ValueError, match="handles no event type"):
        event_streams(only_scheduled)
    with pytest.raises(ValueError, match="days"):
        event_streams(gridpoints.load_ruleset(SHARE_BINDS), days=0)


# -- the seed rulesets are fair -------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEED_RULESETS, ids=lambda p: p.stem)
def test_seed_rulesets_pass_every_property(path: Path) -> None:
    """The shipped rulesets hold every standard property."""
    assert_fair(path, max_examples=EXAMPLES, seed=7)


def test_tight_limits_hold_every_property() -> None:
    """A ruleset whose cap, share, budget and floor all bind within a few events holds every property."""
    assert_fair(TIGHT, max_examples=40, seed=3, streams={"subjects": 3, "days": 3})


def test_assert_fair_takes_text_path_or_policy(tmp_path: Path) -> None:
    """assert_fair accepts YAML text, a file path and a compiled Policy alike."""
    file = tmp_path / "r.yaml"
    file.write_text(SHARE_BINDS, encoding="utf-8")
    for ruleset in (SHARE_BINDS, file, str(file), gridpoints.load_ruleset(SHARE_BINDS)):
        assert_fair(ruleset, max_examples=5, seed=0, properties=["shares", "conservation"])


def test_unknown_property_names_are_refused() -> None:
    """Naming a property that does not exist is a ValueError listing the known ones."""
    with pytest.raises(ValueError, match="caps"):
        assert_fair(SHARE_BINDS, max_examples=1, properties=["fairness"])


def test_properties_share_each_drawn_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every property sees the same ``max_examples`` streams, and none sees what another property did to
    its events."""
    seen: dict[str, list[str]] = {"first": [], "second": []}

    def recorder(name: str) -> Any:
        def check(policy: gridpoints.Policy, events: list[dict[str, Any]]) -> None:
            seen[name].append(json.dumps(events, default=str, sort_keys=True))
            events.clear()
        return check

    monkeypatch.setitem(PROPERTIES, "first", recorder("first"))
    monkeypatch.setitem(PROPERTIES, "second", recorder("second"))
    assert_fair(TIGHT, max_examples=20, seed=5, properties=["first", "second"])
    assert len(seen["first"]) == 20 and seen["first"] == seen["second"]
    assert any(stream != "[]" for stream in seen["second"])


def test_a_failing_property_among_others_is_shrunk_as_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unseeded, a property that fails among passing ones still gets hypothesis' shrunk counter-example:
    three events for "no stream of three or more", and the passing property is not blamed."""

    def short_streams(policy: gridpoints.Policy, events: list[dict[str, Any]]) -> None:
        if len(events) >= 3:
            raise FairnessViolation("short_streams", "three or more events", events)

    monkeypatch.setitem(PROPERTIES, "short_streams", short_streams)
    with pytest.raises(FairnessViolation) as caught:
        assert_fair(TIGHT, max_examples=50, properties=["conservation", "short_streams"])
    assert caught.value.property == "short_streams" and len(caught.value.events) == 3
    assert "also failing" not in str(caught.value)


def test_a_failure_the_shared_run_found_is_reported_even_if_it_does_not_recur(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A property that failed once while sharing streams but passes when run again on its own (a flaky
    check) is still reported, with the stream it failed on."""
    failed: list[list[dict[str, Any]]] = []

    def fails_once(policy: gridpoints.Policy, events: list[dict[str, Any]]) -> None:
        if len(events) >= 2 and not failed:
            failed.append([dict(event) for event in events])
            raise FairnessViolation("fails_once", "the first stream of two or more events", events)

    monkeypatch.setitem(PROPERTIES, "fails_once", fails_once)
    with pytest.raises(FairnessViolation) as caught:
        assert_fair(TIGHT, max_examples=20, seed=2, properties=["conservation", "fails_once"])
    assert caught.value.property == "fails_once"
    assert [e["id"] for e in caught.value.events] == [e["id"] for e in failed[0]]


# -- the kit finds unfair rulesets --------------------------------------------------------------------


def test_cap_bypass_by_a_second_rule_breaks_the_intended_event_type_bound() -> None:
    """A cap that forgets a second rule on the same event type holds, but the intended per-type bound
    does not; the shrunk counter-example is one subject's patrols on one day."""
    assert_fair(CAP_BYPASS, max_examples=EXAMPLES, seed=1, properties=["caps"])
    violation = _violation(CAP_BYPASS, [], event_type_bounds={"patrol": ("subject", "day", 40)})
    assert violation.property == "event_type_bounds"
    assert {(e["type"], e["subject"]) for e in violation.events} == {("patrol", violation.events[0]["subject"])}
    assert len(violation.events) <= 9  # 9 patrols of 0 hours earn 45 through patrol-extra alone
    assert_fair(CAP_HONEST, max_examples=EXAMPLES, seed=1, event_type_bounds={"patrol": Bound("subject", "day", 40)})


def test_share_that_never_binds_breaks_the_concentration_bound() -> None:
    """A share with an unreachable min_total lets one subject take a whole grid's points; the
    concentration bound reports it, and a share that binds passes the same bound."""
    violation = _violation(SHARE_NEVER_BINDS, [], max_member_share=0.1)
    assert violation.property == "concentration"
    assert "held" in violation.detail and "still got" in violation.detail
    assert_fair(SHARE_BINDS, max_examples=EXAMPLES, seed=1,
                concentration=Concentration(max_share=0.1, min_total=100))


@pytest.mark.parametrize("ruleset", [FAVOURS_HOUSEHOLD, FAVOURS_SUBJECT], ids=["household", "subject"])
def test_rule_reading_who_the_resident_is_breaks_equal_treatment(ruleset: str) -> None:
    """A rule conditioned on event.household or event.subject treats renamed residents differently."""
    violation = _violation(ruleset, ["equal_treatment"])
    assert violation.property == "equal_treatment"
    assert len(violation.events) == 1


def test_counterexample_is_json_lines_that_replay_to_the_same_violation(tmp_path: Path) -> None:
    """The message's counter-example parses as JSON Lines, replays in an Engine and in `gridpoints run`, and
    still violates the property."""
    violation = _violation(FAVOURS_HOUSEHOLD, ["equal_treatment"])
    events = _jsonl(str(violation))
    assert events and all(isinstance(e["occurred_at"], str) for e in events)
    policy = gridpoints.load_ruleset(FAVOURS_HOUSEHOLD)
    assert [d.event_id for d in Engine(policy).submit_many(events)] == [e["id"] for e in events]
    with pytest.raises(FairnessViolation):
        check_equal_treatment(policy, events)

    from click.testing import CliRunner

    from gridpoints.cli import command

    (tmp_path / "r.yaml").write_text(FAVOURS_HOUSEHOLD, encoding="utf-8")
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    result = CliRunner().invoke(command(), ["run", str(tmp_path / "r.yaml"), str(tmp_path / "events.jsonl"),
                                            "--store", "memory:"])
    assert result.exit_code == 0, result.output


def test_fairness_violation_is_an_assertion_error_with_its_facts() -> None:
    """A violation is an AssertionError and a GridpointsError carrying the property and the events."""
    events = _patrols(1)
    with pytest.raises(FairnessViolation) as caught:
        check_event_type_bounds(gridpoints.load_ruleset(CAP_BYPASS), events, {"patrol": ("subject", "day", 40)})
    assert isinstance(caught.value, AssertionError) and isinstance(caught.value, gridpoints.GridpointsError)
    assert caught.value.property == "event_type_bounds" and caught.value.events == events
    assert str(caught.value).startswith("event_type_bounds: ")


# -- each property catches an engine defect ---------------------------------------------------------


@pytest.fixture
def tight() -> gridpoints.Policy:
    """The tight ruleset, compiled."""
    return gridpoints.load_ruleset(TIGHT)


@pytest.fixture
def no_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine defect: every limit grants the whole request."""
    from gridpoints.policy import _limits as limits

    real = limits.apply
    monkeypatch.setattr(limits, "apply", lambda limit, keys, amount, counters: (
        amount, real(limit, keys, amount, counters)[1]))


def test_fair_engine_passes_the_hand_streams(tight: gridpoints.Policy) -> None:
    """Without a defect, the hand-made streams the defect tests use hold every property."""
    events = [*_patrols(6, subjects=("s1", "s2")), _noise("n1"), _noise("n2", "s2")]
    for check in PROPERTIES.values():
        check(tight, events)


@pytest.mark.usefixtures("no_limits")
def test_caps_catch_a_limit_that_does_not_limit(tight: gridpoints.Policy) -> None:
    """Two 40-point patrols in a day under a 50-point cap, granted whole, break caps."""
    with pytest.raises(FairnessViolation, match="subject-day"):
        check_caps(tight, _patrols(2))


@pytest.mark.usefixtures("no_limits")
def test_shares_catch_a_share_that_does_not_truncate(tight: gridpoints.Policy) -> None:
    """One subject holding a whole grid's 80 points under a 50% share and getting a third patrol's 40 breaks
    shares."""
    with pytest.raises(FairnessViolation, match="grid-share"):
        check_shares(tight, _patrols(3))


def test_floor_catches_a_deduction_through_the_floor(tight: gridpoints.Policy, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """A deduction taken whole despite floor 0 breaks floor."""
    from gridpoints.policy import _limits as limits

    monkeypatch.setattr(limits, "floor_allowance", lambda deduction, balance, floor: deduction)
    with pytest.raises(FairnessViolation, match="below the floor 0"):
        check_floor(tight, [_noise("n1")])


def test_positive_events_catch_an_award_that_takes_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit that turns an award negative (no floor to stop it) breaks positive_events."""
    from gridpoints.policy import _limits as limits

    real = limits.apply
    monkeypatch.setattr(limits, "apply", lambda limit, keys, amount, counters: (
        -5, real(limit, keys, amount, counters)[1]))
    with pytest.raises(FairnessViolation, match="all base points positive"):
        check_positive_events(gridpoints.load_ruleset(CAP_BYPASS), _patrols(1))


def test_determinism_catches_entries_that_differ_between_engines(tight: gridpoints.Policy,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries sealed with something outside the events (here a process-wide counter) break determinism."""
    from gridpoints.engine import _kernel as engine

    calls = iter(range(10**6))
    real = engine.entry_canonical_bytes_of_text

    def stamped(*fields: Any) -> bytes:
        return real(*fields) + str(next(calls)).encode()

    monkeypatch.setattr(engine, "entry_canonical_bytes_of_text", stamped)
    with pytest.raises(FairnessViolation, match="different ledger"):
        check_determinism(tight, _patrols(1))


def test_idempotency_catches_a_store_that_forgets_events(tight: gridpoints.Policy,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that never finds a recorded event id breaks idempotency."""
    monkeypatch.setattr(memory._MemoryTransaction, "find_events", lambda self, ids: {})
    with pytest.raises(FairnessViolation, match="resubmitting"):
        check_idempotency(tight, _patrols(2))


def test_conservation_catches_a_store_that_misreports_a_balance(tight: gridpoints.Policy,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose balance read is off by one point breaks conservation."""
    real = MemoryStore.balances

    def skewed(self: MemoryStore, tenant: str, accounts: Any) -> dict[str, int]:
        return {account: amount + 1 for account, amount in real(self, tenant, accounts).items()}

    monkeypatch.setattr(MemoryStore, "balances", skewed)
    with pytest.raises(FairnessViolation, match="conservation"):
        check_conservation(tight, _patrols(1))


def test_concentration_checks_at_each_award_once_the_pool_is_large_enough(tight: gridpoints.Policy) -> None:
    """A subject holding all of a pool below min_total is fine; above it, more than max_share is not."""
    bound = Concentration(max_share=0.5, min_total=1000)
    check_concentration(tight, _patrols(6, subjects=("s1", "s2", "s3")), bound)
    with pytest.raises(FairnessViolation, match="concentration"):
        check_concentration(tight, _patrols(2), Concentration(max_share=0.5, min_total=10))
    with pytest.raises(ValueError):
        Concentration(max_share=0)


# -- the check command --------------------------------------------------------------------------------


def test_run_check_prints_a_line_per_property_and_exits_0_when_fair() -> None:
    """run_check prints PASS for each property of a fair ruleset and returns 0."""
    out = io.StringIO()
    assert run_check(str(RULESETS / "pudong-sunshine.yaml"), 5, out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("PASS ")] == list(PROPERTIES)


def test_run_check_reports_failures_with_counterexample_and_exits_1(tmp_path: Path) -> None:
    """run_check prints FAIL with the counter-example for an unfair ruleset and returns 1."""
    path = tmp_path / "favours.yaml"
    path.write_text(FAVOURS_HOUSEHOLD, encoding="utf-8")
    out = io.StringIO()
    assert run_check(str(path), 30, out, seed=1) == 1
    text = out.getvalue()
    assert "FAIL equal_treatment" in text and _jsonl(text)
    assert [r.name for r in check_ruleset(path, 30, seed=1) if r.passed] == [n for n in PROPERTIES
                                                                          if n != "equal_treatment"]


def test_run_check_reports_an_invalid_ruleset_and_exits_1(tmp_path: Path) -> None:
    """A ruleset that does not load is reported with its issues and exit code 1."""
    path = tmp_path / "bad.yaml"
    path.write_text("ruleset: bad\nversion: 1\nname: x\nrules: []\n", encoding="utf-8")
    out = io.StringIO()
    assert run_check(str(path), 5, out) == 1
    assert "invalid ruleset" in out.getvalue()


# -- the pytest plugin -------------------------------------------------------------------------------


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    """pytest finds the plugin through the `pytest11` entry point named gridpoints."""
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("gridpoints") == "gridpoints.testing.pytest_plugin"


@pytest.fixture
def rulesets(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A pytester directory holding the pudong ruleset and an unfair one."""
    pytester.makefile(".yaml", pudong=(RULESETS / "pudong-sunshine.yaml").read_text(encoding="utf-8"),
                      favours=FAVOURS_HOUSEHOLD)
    yield pytester


def test_plugin_collects_one_item_per_property_per_ruleset(rulesets: pytest.Pytester) -> None:
    """--gridpoints-ruleset (repeatable) adds an item per standard property for each ruleset."""
    result = rulesets.runpytest("--gridpoints-ruleset=pudong.yaml", "--gridpoints-ruleset=favours.yaml",
                                "--collect-only", "-q")
    listed = [line for line in result.outlines if "::" in line]
    assert listed == [f"{stem}.yaml::{name}" for stem in ("pudong", "favours") for name in PROPERTIES]


def test_plugin_runs_properties_and_shows_the_counterexample(rulesets: pytest.Pytester) -> None:
    """A fair ruleset's items pass; the unfair one's equal_treatment item fails with its counter-example."""
    result = rulesets.runpytest("--gridpoints-ruleset=pudong.yaml", "--gridpoints-ruleset=favours.yaml",
                                "--gridpoints-examples=15", "--gridpoints-seed=1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2 * len(PROPERTIES) - 1, failed=1)
    result.stdout.fnmatch_lines(["*favours-household@1 fails equal_treatment*", "*counter-example*", '{"id": *',
                                 "FAILED favours.yaml::equal_treatment*"])


def test_plugin_adds_nothing_without_the_option(pytester: pytest.Pytester) -> None:
    """Without --gridpoints-ruleset only the ordinary tests run."""
    pytester.makepyfile("def test_one():\n    assert True\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_plugin_rejects_a_missing_ruleset_file(pytester: pytest.Pytester) -> None:
    """A --gridpoints-ruleset path that does not exist is a usage error."""
    result = pytester.runpytest("--gridpoints-ruleset=nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nowhere.yaml: no such file*"])

