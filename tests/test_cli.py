"""The gridpoints command line: lint, schema, run, explain, and their exit codes (0 ok, 1 findings, 2 usage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import gridpoints
from gridpoints.cli import command, main
from gridpoints.ruleset import json_schema_text

ROOT = Path(__file__).resolve().parents[1]
RULESETS = ROOT / "rulesets"
EXAMPLES = ROOT / "examples"
PAIRS = [
    ("pudong-sunshine.yaml", "pudong-events.jsonl"),
    ("chaoyang-harmony.yaml", "chaoyang-events.jsonl"),
    ("tianhe-vitality.yaml", "tianhe-events.jsonl"),
]
PUDONG = str(RULESETS / "pudong-sunshine.yaml")


@pytest.fixture(autouse=True)
def _own_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in an empty directory, so the default SQLite store starts empty."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def invoke(*args: str) -> Result:
    return CliRunner().invoke(command(), list(args))


def event(id: str, type: str = "mediation", subject: str = "s1", **attributes: Any) -> str:
    return json.dumps({"id": id, "type": type, "subject": subject, "grid": "g1",
                       "occurred_at": "2026-04-01T10:00:00+08:00", "attributes": attributes})


def write(tmp_path: Path, name: str, *lines: str) -> str:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


# -- lint ------------------------------------------------------------------------------------------------


def test_lint_clean_rulesets_exit_0() -> None:
    """Linting all shipped rulesets finds nothing and exits 0 (the summary in Chinese, or English on request)."""
    result = invoke("lint", *(str(RULESETS / name) for name, _ in PAIRS))
    assert result.exit_code == 0, result.output
    assert "共 3 个文件：0 个错误，0 个警告" in result.output
    english = invoke("lint", "--lang", "en", *(str(RULESETS / name) for name, _ in PAIRS))
    assert "3 file(s): 0 error(s), 0 warning(s)" in english.output


def test_lint_error_exits_1_with_location(tmp_path: Path) -> None:
    """A ruleset with a bad value is reported at file:line:col and the command exits 1."""
    path = write(tmp_path, "bad.yaml", "ruleset: bad", "version: 1", "name: bad", "rules:",
                 "  - id: r1", "    on: patrol", "    points: ten")
    result = invoke("lint", "--lang", "en", path)
    assert result.exit_code == 1
    assert f"{path}:7:" in result.output
    assert "error[invalid]" in result.output
    assert "rules[0].points" in result.output


def test_lint_speaks_chinese_by_default(tmp_path: Path) -> None:
    """Without --lang, staff read each diagnostic in Chinese: severity, message and did-you-mean, at the same
    file:line:col with the same stable code."""
    path = write(tmp_path, "bad.yaml", "ruleset: bad", "version: 1", "name: bad", "rules:",
                 "  - id: r1", "    on: patrol", "    pionts: 5")
    lines = invoke("lint", path).output.splitlines()
    assert any(line.startswith(f"错误[invalid] rules[0].pionts @ {path}:7:5：未知的键 'pionts'；可用的键：")
               and line.endswith("（建议：'points'）") for line in lines), lines
    assert lines[-1] == "共 1 个文件：2 个错误，0 个警告"


def test_lint_warning_alone_exits_0_but_fails_with_strict(tmp_path: Path) -> None:
    """A warning (a table nothing limits) is printed; exit 0, or 1 under --strict."""
    path = write(tmp_path, "warn.yaml", "ruleset: warn", "version: 1", "name: warn", "rules:",
                 "  - id: sorting", "    on: garbage_sorting", "    points: {by: quality, table: {A: 5}}")
    relaxed = invoke("lint", path)
    assert relaxed.exit_code == 0, relaxed.output
    assert "警告[table-open]" in relaxed.output
    assert invoke("lint", "--strict", path).exit_code == 1


def test_lint_lines_are_never_wrapped(tmp_path: Path) -> None:
    """Each diagnostic is one line even on a narrow terminal, so tools can parse file:line:col from it."""
    path = write(tmp_path, "bad.yaml", "ruleset: bad", "version: 1", "name: bad", "rules:",
                 "  - id: r1", "    on: patrol", "    pionts: 5")
    result = CliRunner().invoke(command(), ["lint", "--lang", "en", path], env={"COLUMNS": "40"})
    assert result.exit_code == 1
    assert any(line.startswith("error[invalid] rules[0].pionts") and line.endswith("(did you mean 'points'?)")
               for line in result.output.splitlines())


def test_lint_usage_errors_exit_2(tmp_path: Path) -> None:
    """No ruleset given, or a path that does not exist, is a usage error (exit 2)."""
    assert invoke("lint").exit_code == 2
    assert invoke("lint", str(tmp_path / "missing.yaml")).exit_code == 2


# -- schema ----------------------------------------------------------------------------------------------


def test_schema_prints_the_json_schema() -> None:
    """`gridpoints schema` prints exactly the library's schema text."""
    result = invoke("schema")
    assert result.exit_code == 0
    assert result.output == json_schema_text()


def test_schema_output_then_check(tmp_path: Path) -> None:
    """--output writes the schema; --check on that file exits 0, on a stale or missing file exits 1."""
    target = tmp_path / "out" / "ruleset.schema.json"
    assert invoke("schema", "--output", str(target)).exit_code == 0
    assert invoke("schema", "--check", str(target)).exit_code == 0
    target.write_text("{}\n", encoding="utf-8")
    stale = invoke("schema", "--check", str(target))
    assert stale.exit_code == 1
    assert "not the current schema" in stale.output
    assert invoke("schema", "--check", str(tmp_path / "absent.json")).exit_code == 1


# -- run -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ruleset", "events"), PAIRS, ids=[p[0].removesuffix(".yaml") for p in PAIRS])
def test_run_example_prints_balances(ruleset: str, events: str) -> None:
    """Running each shipped example exits 0 and lists every subject in the balances table."""
    result = invoke("run", str(RULESETS / ruleset), str(EXAMPLES / events))
    assert result.exit_code == 0, result.output
    assert "Balances" in result.output and "Summary" in result.output and "Caps" in result.output
    subjects = {json.loads(line)["subject"] for line in (EXAMPLES / events).read_text("utf-8").splitlines()}
    missing = [s for s in subjects if s not in result.output]
    assert missing == []


@pytest.mark.parametrize(("ruleset", "events"), PAIRS, ids=[p[0].removesuffix(".yaml") for p in PAIRS])
def test_run_json_matches_the_library(ruleset: str, events: str) -> None:
    """--json balances equal an engine's own, are sorted by balance then subject, and issued − deducted
    equals their sum."""
    result = invoke("run", "--json", str(RULESETS / ruleset), str(EXAMPLES / events))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESETS / ruleset))
    lines = [json.loads(line) for line in (EXAMPLES / events).read_text("utf-8").splitlines()]
    for worker, grid in sorted({(e["actor"], e["grid"]) for e in lines if "actor" in e}):
        engine.register(worker, grid=grid, roles=["grid_worker"])
    for line in lines:  # one by one: a verification settles an event submitted before it
        engine.submit(line)
    balances = {row["subject"]: row["balance"] for row in report["balances"]}
    assert balances == engine.balances(sorted(balances))
    assert [(r["subject"], r["balance"]) for r in report["balances"]] == sorted(
        balances.items(), key=lambda item: (-item[1], item[0]))
    assert report["points_issued"] - report["points_deducted"] == sum(balances.values())


def test_run_examples_hit_caps_and_deduct() -> None:
    """The examples exercise what they are for: every event-driven rule matches, some cap truncates or
    rejects, and there are deductions."""
    for ruleset, events in PAIRS:
        report = json.loads(invoke("run", "--json", str(RULESETS / ruleset), str(EXAMPLES / events)).output)
        policy = gridpoints.load_ruleset(RULESETS / ruleset)
        event_driven = {r.id for r in policy.rules if not r.on.startswith("period.")}
        matched = {rid for rid, c in report["rules"].items() if c["matched"]}
        # A verifying worker's credit is reported as its rule's own line.
        assert event_driven == {rid.removesuffix(":worker-credit") for rid in matched}
        assert any(c["truncated"] or c["rejected"] for c in report["limits"].values()), ruleset
        assert report["deductions"] > 0, ruleset


def test_run_summary_counts_cap_outcomes(tmp_path: Path) -> None:
    """A patrol of 4h on top of a grade-A sorting passes the daily cap of 50: counted once as truncated."""
    events = write(tmp_path, "e.jsonl", event("a", "garbage_sorting", quality="A"),
                   event("b", "patrol", hours=4))
    report = json.loads(invoke("run", "--json", PUDONG, events).output)
    assert report["limits"]["daily-reward-cap"] == {"within": 1, "truncated": 1, "rejected": 0}
    assert report["points_issued"] == 50
    assert report["balances"] == [{"subject": "s1", "balance": 50}]


def test_run_batch_size_does_not_change_outcomes() -> None:
    """--batch 1 and the default batch give the same summary and balances."""
    args = ["run", "--json", "--store", "memory:", PUDONG, str(EXAMPLES / "pudong-events.jsonl")]
    assert json.loads(invoke(*args, "--batch", "1").output) == json.loads(invoke(*args).output)


def test_run_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    """Blank lines and lines starting with # are not events."""
    events = write(tmp_path, "e.jsonl", "# a comment", "", event("a"), "   ", "  # indented comment")
    report = json.loads(invoke("run", "--json", PUDONG, events).output)
    assert report["events"] == 1


def test_run_malformed_line_exits_1_naming_it(tmp_path: Path) -> None:
    """A line that is not JSON is reported as file:line and nothing is run."""
    events = write(tmp_path, "e.jsonl", event("a"), "# fine", '{"id": "b", oops}')
    result = invoke("run", PUDONG, events)
    assert result.exit_code == 1
    assert f"{events}:3: not valid JSON" in result.output


def test_run_non_object_line_exits_1(tmp_path: Path) -> None:
    """A JSON line that is not an object is reported as file:line."""
    events = write(tmp_path, "e.jsonl", "[1, 2]")
    result = invoke("run", PUDONG, events)
    assert result.exit_code == 1
    assert f"{events}:1: expected a JSON object, got list" in result.output


def test_run_event_error_names_the_line(tmp_path: Path) -> None:
    """An event the engine rejects (a misspelt type) is reported at its file line with the suggestion,
    also when it is not in the first batch."""
    events = write(tmp_path, "e.jsonl", event("a"), event("b"), "", event("c", "patrl", hours=1))
    result = invoke("run", "--batch", "2", PUDONG, events)
    assert result.exit_code == 1
    assert f"{events}:4:" in result.output
    assert "'patrl'" in result.output and "'patrol'" in result.output


def test_run_idempotency_conflict_exits_1(tmp_path: Path) -> None:
    """The same id with different content is an error naming both lines."""
    events = write(tmp_path, "e.jsonl", event("a"), event("a", subject="s2"))
    result = invoke("run", PUDONG, events)
    assert result.exit_code == 1
    assert f"{events}:1, 2:" in result.output
    assert "different content" in result.output


def test_run_resubmitted_event_is_a_duplicate(tmp_path: Path) -> None:
    """The same id with the same content is reported as a duplicate and awards nothing more."""
    events = write(tmp_path, "e.jsonl", event("a"), event("a"))
    report = json.loads(invoke("run", "--json", PUDONG, events).output)
    assert (report["events"], report["duplicates"], report["points_issued"]) == (2, 1, 10)


def test_run_invalid_ruleset_exits_1_with_issues(tmp_path: Path) -> None:
    """A ruleset that fails to load prints each issue with its place and exits 1."""
    ruleset = write(tmp_path, "bad.yaml", "ruleset: bad", "version: 1", "name: bad", "rules:",
                    "  - id: r1", "    on: patrol", "    pionts: 5")
    result = invoke("run", ruleset, write(tmp_path, "e.jsonl", event("a")))
    assert result.exit_code == 1
    assert f"{ruleset}:7:5" in result.output
    assert "'points'" in result.output


def test_run_usage_errors_exit_2(tmp_path: Path) -> None:
    """A zero batch, an unknown store scheme or a missing events file is a usage error."""
    events = write(tmp_path, "e.jsonl", event("a"))
    assert invoke("run", "--batch", "0", PUDONG, events).exit_code == 2
    unknown = invoke("run", "--store", "nosuch://x", PUDONG, events)
    assert unknown.exit_code == 2
    assert "nosuch" in unknown.output
    assert invoke("run", PUDONG, str(tmp_path / "absent.jsonl")).exit_code == 2


def test_run_on_a_sqlite_store_twice(tmp_path: Path) -> None:
    """Against a file store a second run finds every event already recorded and balances unchanged."""
    pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'points.db'}"
    args = ["run", "--json", "--store", url, PUDONG, str(EXAMPLES / "pudong-events.jsonl")]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    second = json.loads(invoke(*args).output)
    assert second["duplicates"] == second["events"]
    assert second["points_issued"] == 0
    assert second["balances"] == json.loads(first.output)["balances"]


# -- explain ---------------------------------------------------------------------------------------------


def test_explain_in_english_names_the_rule_and_cap() -> None:
    """--lang en explains one example event: its rule id, the cap it went through and the net change."""
    result = invoke("explain", PUDONG, str(EXAMPLES / "pudong-events.jsonl"), "--event", "pd-0002", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "Event pd-0002 (patrol)" in result.output
    assert "rule patrol" in result.output
    assert "daily-reward-cap" in result.output
    assert "Net change: +40 points" in result.output


def test_explain_replays_earlier_events(tmp_path: Path) -> None:
    """The explained event sees the counters earlier events left: the cap shows 20 already used."""
    events = write(tmp_path, "e.jsonl", event("a", "garbage_sorting", quality="A"), event("b", "patrol", hours=4),
                   event("c", "mediation"))
    result = invoke("explain", PUDONG, events, "--event", "b", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "20 of 50 used, 40 requested → 30 (truncated to fit)" in result.output
    assert "Event c" not in result.output


def test_explain_defaults_to_chinese() -> None:
    """Without --lang the explanation is in Chinese."""
    result = invoke("explain", PUDONG, str(EXAMPLES / "pudong-events.jsonl"), "--event", "pd-0002")
    assert result.exit_code == 0
    assert "规则 patrol" in result.output and "净变化" in result.output


def test_explain_unknown_event_exits_1() -> None:
    """An id that is not in the file is an error (exit 1) naming the id."""
    result = invoke("explain", PUDONG, str(EXAMPLES / "pudong-events.jsonl"), "--event", "pd-9999")
    assert result.exit_code == 1
    assert "'pd-9999'" in result.output


def test_explain_usage_errors_exit_2() -> None:
    """A missing --event or an unsupported language is a usage error."""
    events = str(EXAMPLES / "pudong-events.jsonl")
    assert invoke("explain", PUDONG, events).exit_code == 2
    assert invoke("explain", PUDONG, events, "--event", "pd-0002", "--lang", "fr").exit_code == 2


# -- entry point -----------------------------------------------------------------------------------------


def test_main_runs_the_group(capsys: pytest.CaptureFixture[str]) -> None:
    """main() runs the command line and exits with its status."""
    with pytest.raises(SystemExit) as exit_info:
        main(["schema"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == json_schema_text()


def test_main_without_the_cli_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without click installed, main() prints the pip install line for the [cli] extra and exits 2."""
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "gridpoints.cli._commands", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["lint", PUDONG])
    assert exit_info.value.code == 2
    assert "pip install 'gridpoints[cli]'" in capsys.readouterr().err


def test_check_passes_a_fair_ruleset() -> None:
    """gridpoints check prints 通过 (in Chinese by default) per property and exits 0 for a shipped ruleset."""
    result = invoke("check", str(RULESETS / "fair-play.yaml"), "--examples", "10", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "通过 caps（" in result.output and "通过 equal_treatment（" in result.output


def test_check_fails_an_unfair_ruleset_with_a_counter_example(tmp_path: Path) -> None:
    """A rule that favours one resident fails equal treatment: exit 1 and a replayable JSON Lines example."""
    unfair = tmp_path / "unfair.yaml"
    unfair.write_text("ruleset: unfair\nversion: 1\nname: unfair\nrules:\n"
                      "  - {id: a, on: patrol, points: 10}\n"
                      "  - {id: favour, on: patrol, when: {event.subject: s1}, points: 5}\n", encoding="utf-8")
    result = invoke("check", str(unfair), "--examples", "15", "--seed", "1", "--lang", "en")
    assert result.exit_code == 1, result.output
    assert "FAIL equal_treatment" in result.output
    example = [line for line in result.output.splitlines() if line.startswith('{"id"')]
    assert example and all(json.loads(line)["type"] == "patrol" for line in example)


def test_verify_reports_a_clean_ledger_then_an_edit(tmp_path: Path) -> None:
    """verify exits 0 on an untouched SQLite ledger and 1, naming the first bad seq, after an amount is edited."""
    import sqlite3

    db = tmp_path / "ledger.db"
    store = f"sqlite:///{db}"
    assert invoke("run", "--store", store, PUDONG, str(EXAMPLES / "pudong-events.jsonl")).exit_code == 0
    clean = invoke("verify", store)
    assert clean.exit_code == 0 and "ok:" in clean.output
    with sqlite3.connect(db) as conn:
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {trigger}")  # a malicious administrator gets round append-only
        conn.execute("UPDATE gridpoints_entries SET amount = amount + 5 WHERE seq = 3")
    tampered = invoke("verify", store)
    assert tampered.exit_code == 1 and "first bad seq 3" in tampered.output


def test_verify_usage_problems_exit_2(tmp_path: Path) -> None:
    """A malformed anchor is refused with exit 2."""
    result = invoke("verify", f"sqlite:///{tmp_path / 'x.db'}", "--anchor", "nonsense")
    assert result.exit_code == 2 and "anchor" in result.output


def test_the_command_lists_every_tool() -> None:
    """The installed `gridpoints` group carries the core, audit, fairness, policy-author and service commands."""
    from gridpoints.cli import command

    assert set(command().commands) == {"lint", "schema", "run", "explain", "check", "diff", "verify", "db", "synth",
                                       "simulate", "compare", "demo", "serve", "workbench"}


def test_db_upgrade_creates_prefixed_tables_and_is_repeatable(tmp_path: Path) -> None:
    """db upgrade makes the schema under a host's prefix, reports its version, and changes nothing on a rerun."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'host.db'}"
    first = invoke("db", "upgrade", url, "--prefix", "host_gp_")
    again = invoke("db", "upgrade", url, "--prefix", "host_gp_")
    assert first.exit_code == again.exit_code == 0 and first.output == again.output
    assert "schema version" in first.output
    with sqlite3.connect(tmp_path / "host.db") as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"host_gp_entries", "host_gp_events", "host_gp_counters"} <= tables
    assert all(name.startswith("host_gp_") for name in tables)
    assert invoke("db", "upgrade", "nosuch://x").exit_code == 1
