"""Many communities on Dask: one live replay per community on a LocalCluster, figures merged over all residents.

The reference for every merged figure is computed here from each community's own full-ledger replay
(``simulate(..., store=MemoryStore())``, not the district code): sums add up, and the Gini coefficient, top
shares and balance percentiles are those of the union of residents, which differ from the communities' mean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gridpoints
from gridpoints.analytics import concentration
from gridpoints.cli._author import compare as compare_command
from gridpoints.cli._author import simulate as simulate_command
from gridpoints.model import spendable
from gridpoints.storage import MemoryStore
from gridpoints.whatif import PRESETS, Community, SimulationSummary, compare, percentile, read_roster, simulate
from gridpoints.whatif._district import (
    CommunityLog,
    community_logs,
    compare_district,
    dask_client,
    read_manifest,
    simulate_district,
)

distributed = pytest.importorskip("distributed", reason="the dask extra (dask.distributed) is not installed")

ROOT = Path(__file__).resolve().parents[1]
RULESET = ROOT / "rulesets" / "pudong-sunshine.yaml"
#: (name, households, grids, seed): small enough for a quick test, different enough to differ in Gini.
COMMUNITIES = (("east", 40, 1, 1), ("west", 60, 2, 2), ("north", 30, 1, 3))


def _write(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three small Pudong-like communities' April logs, each with its roster beside it."""
    folder = tmp_path_factory.mktemp("district")
    policy = gridpoints.load_ruleset(RULESET)
    habits = PRESETS["pudong"]
    for name, households, grids, seed in COMMUNITIES:
        community = Community(households, grids, seed=seed, name="pudong", mix=habits.mix, elderly=habits.elderly,
                              preset=habits)
        _write(folder / f"{name}.jsonl", community.events(policy, date(2026, 4, 1), 1))
        _write(folder / f"{name}.roster.jsonl", community.roster())
    return folder


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A LocalCluster of two single-threaded workers (threads of this process, so the test stays quick)."""
    with dask_client(workers=2, processes=False) as found:
        yield found


def _reference(logs: Path) -> dict[str, tuple[SimulationSummary, dict[str, int]]]:
    """Each community replayed on its own, keeping the full ledger: its summary and residents' balances."""
    policy = gridpoints.load_ruleset(RULESET)
    found = {}
    for name, *_ in COMMUNITIES:
        store = MemoryStore()
        events = [json.loads(line) for line in (logs / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        summary = simulate(policy, events, roster=read_roster(logs / f"{name}.roster.jsonl"), store=store)
        accounts = store.balances("default", [spendable(s) for s in summary.grid_of])
        found[name] = summary, {s: accounts[spendable(s)] for s in summary.grid_of}
    return found


def test_merged_figures_equal_those_of_the_union_of_residents(logs: Path, client: Any) -> None:
    """On a LocalCluster the merged figures equal a sequential run's, and are computed over every resident."""
    text = RULESET.read_text(encoding="utf-8")
    found = community_logs([logs])
    assert [log.name for log in found] == ["east", "north", "west"]
    on_dask = simulate_district(text, found, client=client)
    in_process = simulate_district(text, found)
    assert on_dask.summary == in_process.summary
    assert on_dask.communities == in_process.communities

    reference = _reference(logs)
    merged = on_dask.summary
    earned = {f"{name}/{s}": p for name, (summary, _) in reference.items()
              for s, p in summary.earned_by_subject.items()}
    assert merged.earned_by_subject == earned
    union = concentration(earned.values())
    assert merged.concentration["gini"] == float(union.gini)
    assert merged.concentration["top10"] == float(union.top10)
    assert merged.concentration["top1"] == float(union.top1)
    assert merged.concentration["n"] == sum(len(s.grid_of) for s, _ in reference.values())
    ginis = [summary.concentration["gini"] for summary, _ in reference.values()]
    assert merged.concentration["gini"] != pytest.approx(sum(ginis) / len(ginis), abs=1e-6)  # not an average

    for key in ("events", "residents", "points_issued", "points_deducted", "pending_verified"):
        assert merged.totals[key] == sum(s.totals[key] for s, _ in reference.values()), key
    assert merged.by_category == {c: {k: sum(s.by_category.get(c, {}).get(k, 0) for s, _ in reference.values())
                                      for k in ("issued", "deducted", "restored", "reversed")}
                                  for c in merged.by_category}
    balances = [b for _, owned in reference.values() for b in owned.values()]
    assert merged.liability["balance_median"] == percentile(balances, 0.5)
    assert merged.liability["balance_p90"] == percentile(balances, 0.9)
    assert merged.liability["points"] == sum(s.liability["points"] for s, _ in reference.values())
    rates = [r for s, _ in reference.values() for by_month in s.participation.values() for r in by_month.values()]
    assert merged.totals["participation_mean"] == pytest.approx(sum(rates) / len(rates))
    assert set(merged.participation) == {f"{n}/{g}" for n, (s, _) in reference.items() for g in s.participation}
    boards = sorted((row["earned"], f"{name}/{row['subject']}") for name, (s, _) in reference.items()
                    for row in s.leaderboard)
    assert [(row["earned"], row["subject"]) for row in merged.leaderboard] == sorted(
        boards, key=lambda item: (-item[0], item[1]))[:10]


def test_district_comparison_is_the_comparison_over_every_resident(logs: Path, client: Any, tmp_path: Path) -> None:
    """compare on Dask: per-resident deltas of every community, summed as one community's compare would."""
    draft = tmp_path / "draft.yaml"
    draft.write_text(RULESET.read_text(encoding="utf-8").replace("limit: 50", "limit: 30"), encoding="utf-8")
    assert draft.read_text(encoding="utf-8") != RULESET.read_text(encoding="utf-8")
    found = community_logs([logs])
    result = compare_district(RULESET.read_text(encoding="utf-8"), draft.read_text(encoding="utf-8"), found,
                              client=client)
    old, new = gridpoints.load_ruleset(RULESET), gridpoints.load_ruleset(draft)
    total = 0
    for log in found:
        events = [data for _, data in gridpoints.whatif.read_jsonl(log.events)]
        assert log.roster is not None
        total += compare(old, new, events, roster=read_roster(log.roster)).deltas["distribution"]["total"]
    distribution = result.comparison.deltas["distribution"]
    assert distribution["total"] == total != 0
    assert distribution["residents"] == sum(len(pair[0].summary.grid_of) for pair in result.communities)


def test_cli_simulate_and_compare_on_a_running_scheduler(logs: Path, client: Any, tmp_path: Path) -> None:
    """`simulate DIR --scheduler ADDRESS --json` prints the merged figures and each community's; a manifest
    names communities; compare over the manifest reports the district's deltas."""
    address = client.scheduler.address
    result = CliRunner().invoke(simulate_command, [str(RULESET), str(logs), "--scheduler", address, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [c["name"] for c in document["communities"]] == ["east", "north", "west"]
    assert document["merged"]["totals"]["events"] == sum(c["summary"]["totals"]["events"]
                                                         for c in document["communities"])
    manifest = tmp_path / "district.jsonl"
    manifest.write_text("".join(json.dumps({"name": f"c{i}", "events": str(logs / f"{name}.jsonl"),
                                            "roster": str(logs / f"{name}.roster.jsonl")}) + "\n"
                                for i, (name, *_) in enumerate(COMMUNITIES[:2])), encoding="utf-8")
    assert [log.name for log in read_manifest(manifest)] == ["c0", "c1"]
    compared = CliRunner().invoke(compare_command, [str(RULESET), str(RULESET), "--manifest", str(manifest),
                                                    "--scheduler", address, "--json"])
    assert compared.exit_code == 0, compared.output
    data = json.loads(compared.stdout)
    assert data["deltas"]["distribution"]["unchanged"] == data["deltas"]["distribution"]["residents"] > 0
    assert all(s.startswith(("c0/", "c1/")) for s in data["new"]["earned_by_subject"])


def test_a_refused_event_names_its_community_file_and_line(logs: Path, client: Any, tmp_path: Path) -> None:
    """A bad line in one community's log fails the district with that file and line."""
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("east", "west"):
        (folder / f"{name}.jsonl").write_text((logs / f"{name}.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    with (folder / "west.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "x", "type": "no_such_type", "subject": "s", "grid": "g1",
                                 "occurred_at": "2026-04-30T10:00:00+08:00"}) + "\n")
    lines = len((folder / "west.jsonl").read_text(encoding="utf-8").splitlines())
    result = CliRunner().invoke(simulate_command, [str(RULESET), str(folder), "--scheduler",
                                                   client.scheduler.address])
    assert result.exit_code == 1
    assert f"west.jsonl:{lines}" in result.output and "no_such_type" in result.output


def test_bad_manifests_and_names_are_refused(tmp_path: Path) -> None:
    """A manifest line without events, a missing file, or two communities of one name: errors naming the line."""
    events = tmp_path / "a.jsonl"
    events.write_text("", encoding="utf-8")
    cases = {'{"roster": "a.jsonl"}\n': "district.jsonl:1: events", '{"events": "missing.jsonl"}\n': "no such file",
             '{"events": "a.jsonl"}\n{"events": "a.jsonl"}\n': "two communities are named 'a'",
             '{"events": "a.jsonl", "extra": 1}\n': "unknown key(s) extra"}
    for text, message in cases.items():
        manifest = tmp_path / "district.jsonl"
        manifest.write_text(text, encoding="utf-8")
        with pytest.raises(gridpoints.whatif.ReplayError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_manifest(manifest)
    assert community_logs([events]) == [CommunityLog("a", events, None)]
