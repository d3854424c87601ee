"""One replay path: ``run``, ``simulate`` and ``compare`` read a log with the same reader and batch it by the
same rule (gridpoints.whatif._log), so any log ``gridpoints synth`` writes — settlements of events in the
same thousand lines, redemption lines — runs through all three; ``run`` into SQLite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import gridpoints
from gridpoints.audit import verify
from gridpoints.cli import command
from gridpoints.whatif import (
    DEFAULT_BATCH,
    PRESETS,
    Batcher,
    ReplayError,
    parse_redemption,
    read_jsonl,
    settling_types,
    submit_log,
)

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(command(), list(args))


def _synth(tmp_path: Path, preset: str) -> tuple[Path, Path, Path]:
    """A small community's log of one month (redemption lines included) and its roster, as synth writes them."""
    ruleset = ROOT / "rulesets" / f"{PRESETS[preset].ruleset}.yaml"
    events, roster = tmp_path / f"{preset}.jsonl", tmp_path / f"{preset}.roster.jsonl"
    result = invoke("synth", "--preset", preset, "--households", "120", "--grids", "2", "--months", "1",
                    "--start", "2026-04-01", "--seed", "3", "--ruleset", str(ruleset), "--output", str(events),
                    "--roster", str(roster))
    assert result.exit_code == 0, result.output
    return ruleset, events, roster


def _settled_in_the_same_batch(policy: gridpoints.Policy, path: Path) -> int:
    """Settlements whose target is among the DEFAULT_BATCH lines before them (a naive batch would hold both)."""
    settling = settling_types(policy)
    seen: dict[str, int] = {}
    count = 0
    for position, (_, data) in enumerate(read_jsonl(path)):
        if data.get("type") in settling:
            target = data["attributes"].get("event") or data["attributes"].get("repair")
            if target in seen and position - seen[target] < DEFAULT_BATCH:
                count += 1
        if isinstance(data.get("id"), str):
            seen[data["id"]] = position
    return count


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_presets_log_runs_through_run_simulate_and_compare(tmp_path: Path, preset: str) -> None:
    ruleset, events, roster = _synth(tmp_path, preset)
    policy = gridpoints.load_ruleset(ruleset)
    lines = [data for _, data in read_jsonl(events)]
    requests = sum(1 for data in lines if "redeem" in data)
    assert requests > 0 and _settled_in_the_same_batch(policy, events) > 0

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ran = invoke("run", "--json", "--store", url, str(ruleset), str(events))
    assert ran.exit_code == 0, ran.output
    run = json.loads(ran.stdout)
    simulated = invoke("simulate", "--json", "--roster", str(roster), str(ruleset), str(events))
    assert simulated.exit_code == 0, simulated.output
    simulation = json.loads(simulated.stdout)
    compared = invoke("compare", "--json", "--roster", str(roster), str(ruleset), str(ruleset), str(events))
    assert compared.exit_code == 0, compared.output
    comparison = json.loads(compared.stdout)

    # The same events and redemption lines, decided the same way: within one month no period closes before
    # the last line, so run (which closes none) and simulate refuse the same requests for the same reasons.
    assert run["events"] == len(lines) - requests == simulation["totals"]["events"]
    assert run["duplicates"] == 0
    assert run["redemptions"]["requests"] == requests == simulation["redemptions"]["requests"]
    assert run["redemptions"]["refused"] == simulation["redemptions"]["refused"]
    assert comparison["new"] == comparison["old"] == simulation
    assert comparison["deltas"]["distribution"]["total"] == 0

    # The ledger run wrote audits clean, and a second run finds every event recorded. (Its refused
    # redemption requests, which recorded nothing, are asked again, now against the final balances.)
    store = gridpoints.open_store(url)
    try:
        assert verify(store).ok
    finally:
        store.close()
    rerun = invoke("run", "--json", "--store", url, str(ruleset), str(events))
    assert rerun.exit_code == 0, rerun.output
    again = json.loads(rerun.stdout)
    assert again["duplicates"] == again["events"] and again["points_issued"] == 0
    before = {row["subject"]: row["balance"] for row in run["balances"]}
    assert all(row["balance"] <= before[row["subject"]] for row in again["balances"])


def _lines(*rows: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(rows, start=1))


def test_the_batching_rule_cuts_before_a_settlement_of_the_batch() -> None:
    """A verification goes into the batch after the one holding its report, whatever the batch size; an
    unrelated event does not cut the batch."""
    policy = gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml")
    settling = sorted(settling_types(policy))
    assert settling
    batches: list[list[int | None]] = []
    batcher = Batcher(policy, lambda events, lines: batches.append(lines), 100)
    report = {"id": "r1", "type": "hazard_report", "subject": "s1", "grid": "g1",
              "occurred_at": "2026-04-01T09:00:00+08:00", "attributes": {}}
    for number, event in _lines(report, {"id": "x", "type": "patrol", "attributes": {}},
                                {"id": "v1", "type": settling[0], "attributes": {"event": "r1"}},
                                {"id": "v2", "type": settling[0], "attributes": {"event": "elsewhere"}}):
        batcher.add(event, number)
    batcher.flush()
    assert batches == [[1, 2], [3, 4]]


def test_run_names_the_line_of_a_bad_redemption_and_writes_nothing(tmp_path: Path) -> None:
    """A malformed redemption line fails run before anything is submitted, naming file:line."""
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"id": "a", "type": "mediation", "subject": "s1", "grid": "g1",
                                  "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": {}}) + "\n"
                      + json.dumps({"redeem": {"request": "q1", "subject": "s1", "item": "x"}}) + "\n",
                      encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = invoke("run", "--store", url, str(ROOT / "rulesets" / "pudong-sunshine.yaml"), str(events))
    assert result.exit_code == 1
    assert f"{events}:2: redemption line: redeem.at" in result.output
    store = gridpoints.open_store(url)
    try:
        assert list(store.entries("default")) == []
    finally:
        store.close()


def test_submit_log_refuses_an_unknown_item_at_its_line() -> None:
    """An item the catalog does not have is the log's error, not a refusal: a ReplayError at the line."""
    policy = gridpoints.load_ruleset(ROOT / "rulesets" / "pudong-sunshine.yaml")
    engine = gridpoints.Engine(policy)
    line = {"redeem": {"request": "q1", "subject": "s1", "item": "no-such-item", "at": "2026-04-01T10:00:00+08:00"}}
    assert parse_redemption(line).item == "no-such-item"
    with pytest.raises(ReplayError, match=r"^log:7: redemption 'q1': redeem.item"):
        submit_log(engine, [(7, line)], source="log")
