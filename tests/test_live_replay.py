"""Live-state replay: the same figures as a full replay on every shipped preset, a verifiable entry stream,
bounded memory, and idempotency of ids whose records were pruned."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import gridpoints
from gridpoints.errors import IdempotencyConflict
from gridpoints.model import GENESIS_HASH, CounterKey, Entry
from gridpoints.storage._live import JsonlSink, LiveStore
from gridpoints.testing.storage_suite import chain
from gridpoints.whatif._simulate import Replay, ReplayError, compare, memberships, retention, simulate
from gridpoints.whatif._synth import PRESETS, Community

ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 1, 1)
POLICIES = {name: gridpoints.load_ruleset(ROOT / "rulesets" / f"{p.ruleset}.yaml") for name, p in PRESETS.items()}


def _community(preset: str, households: int = 120) -> Community:
    habits = PRESETS[preset]
    return Community(households, 2, seed=3, name=preset, mix=habits.mix, elderly=habits.elderly, preset=habits)


def _log(preset: str, months: int = 2, households: int = 120) -> tuple[list[dict[str, Any]], list[Any]]:
    community = _community(preset, households)
    return list(community.events(POLICIES[preset], START, months)), memberships(community.roster())


def _draft(preset: str) -> gridpoints.Policy:
    """The preset's ruleset with its first numeric limit halved (something for compare to show)."""
    text = (ROOT / "rulesets" / f"{PRESETS[preset].ruleset}.yaml").read_text(encoding="utf-8")
    halved = re.sub(r"(?m)^    limit: (\d+)$", lambda m: f"    limit: {int(m.group(1)) // 2}", text, count=1)
    assert halved != text
    return gridpoints.load_ruleset(halved)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_simulate_live_equals_a_full_replay(preset: str) -> None:
    """Two months of each preset: the live replay's summary is the full replay's, with and without a roster."""
    events, roster = _log(preset)
    policy = POLICIES[preset]
    live = simulate(policy, events, roster=roster, batch=200).to_dict()
    assert live == simulate(policy, events, roster=roster, batch=200, keep_ledger=True).to_dict()
    assert live["totals"]["periods_closed"] >= 2 and live["totals"]["points_issued"] > 0
    assert simulate(policy, events).to_dict() == simulate(policy, events, keep_ledger=True).to_dict()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_compare_live_equals_a_full_replay(preset: str) -> None:
    """Two months of each preset under its ruleset and a draft: the live comparison is the full one's."""
    events, roster = _log(preset)
    old, new = POLICIES[preset], _draft(preset)
    live = compare(old, new, events, roster=roster, batch=200).to_dict()
    assert live == compare(old, new, events, roster=roster, batch=200, keep_ledger=True).to_dict()
    assert live["old"] != live["new"]


def test_the_entry_stream_reverifies_as_a_hash_chain(tmp_path: Path) -> None:
    """Every JSON line is an entry whose hash re-verifies and links to the previous one; the last is the head."""
    events, roster = _log("tianhe")
    out = tmp_path / "entries.jsonl"
    replay = Replay(POLICIES["tianhe"], roster=roster, entries_out=out)
    replay.feed_all(events)
    summary = replay.finish()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    previous = GENESIS_HASH
    for seq, line in enumerate(lines, start=1):
        entry = Entry(**line)
        assert entry.seq == seq and entry.prev_hash == previous
        assert entry.expected_hash() == line["hash"]
        previous = line["hash"]
    head = replay.engine.head()
    assert (head.seq, head.hash) == (len(lines), previous)
    issued = sum(v["issued"] for v in summary.by_rule.values())
    assert issued == sum(line["amount"] for line in lines if line["reason"] in ("award", "verified", "bonus", "credit")
                         and line["credit"] == f"subject:{line['subject']}:spendable")


def test_keep_ledger_streams_the_same_lines(tmp_path: Path) -> None:
    """With keep_ledger the entries file is written from the ledger at the end, line for line the same."""
    events, roster = _log("pudong", months=1)
    live, full = tmp_path / "live.jsonl", tmp_path / "full.jsonl"
    simulate(POLICIES["pudong"], events, roster=roster, entries_out=live)
    simulate(POLICIES["pudong"], events, roster=roster, entries_out=full, keep_ledger=True)
    assert live.read_bytes() == full.read_bytes() != b""


def test_a_long_replay_keeps_a_fraction_of_what_it_wrote() -> None:
    """Six months of Tianhe: the store keeps under a quarter of the entries written and few records in full."""
    events, roster = _log("tianhe", months=6, households=150)
    store = LiveStore(recent_records=256)
    replay = Replay(POLICIES["tianhe"], store, roster)
    replay.feed_all(events)
    kept = store.retained(replay.engine.tenant)
    assert kept.written > 10_000
    assert kept.entries < kept.written / 4
    assert kept.records < kept.thin / 10
    summary = replay.finish().to_dict()
    assert summary == simulate(POLICIES["tianhe"], events, roster=roster, keep_ledger=True).to_dict()


def _pruned_replay() -> tuple[Replay, list[dict[str, Any]]]:
    """Three months of Tianhe replayed live: January's records are long gone when April's events arrive."""
    events, roster = _log("tianhe", months=3)
    replay = Replay(POLICIES["tianhe"], LiveStore(recent_records=64), roster, batch=100)
    replay.feed_all(events)
    replay.flush()
    return replay, events


def test_an_old_duplicate_is_still_a_duplicate() -> None:
    """An early event resubmitted after its record was pruned is a duplicate: no entry, the head unchanged."""
    replay, events = _pruned_replay()
    first = next(e for e in events if e["type"] == "safety_publicity")
    record = replay.engine.store.find_event(replay.engine.tenant, first["id"])
    assert record is not None and record.original().subject == "(pruned)"
    head = replay.engine.head()
    replay.feed(dict(first))
    replay.flush()
    assert replay.engine.head() == head
    assert replay._tally.duplicates == 1


def test_an_old_id_with_other_content_is_still_a_conflict() -> None:
    """An early id resubmitted with different content after its record was pruned raises IdempotencyConflict."""
    replay, events = _pruned_replay()
    first = next(e for e in events if e["type"] == "safety_publicity")
    changed = {**first, "attributes": {**first["attributes"], "hours": 3}}
    with pytest.raises(IdempotencyConflict):
        replay.engine.submit(changed)
    replay.feed(changed)
    with pytest.raises(ReplayError, match="already recorded with different content"):
        replay.flush()


def test_an_event_older_than_what_was_kept_is_refused() -> None:
    """A new event dated before the retention's earliest time fails loudly instead of reading pruned state."""
    replay, events = _pruned_replay()
    late = {**events[0], "id": "late-1"}
    with pytest.raises(ReplayError, match="keep_ledger"):
        replay.feed(late)


def test_retention_covers_settlement_windows_and_rotation() -> None:
    """Tianhe at a month close: entries from the close, deductions past the 30-day repair, counters 3 months."""
    policy = POLICIES["tianhe"]
    now = datetime(2026, 4, 1, tzinfo=policy.zone)
    kept = retention(policy, now)
    assert kept is not None
    assert kept.entries == now and kept.earliest == datetime(2026, 3, 1, tzinfo=policy.zone)
    assert kept.deductions == kept.earliest - timedelta(days=30)
    assert kept.counters == datetime(2026, 2, 1, tzinfo=policy.zone)
    pudong = retention(POLICIES["pudong"], now)
    assert pudong is not None and pudong.entries == datetime(2025, 3, 1, tzinfo=policy.zone)


def test_prune_drops_ended_windows_and_keeps_open_items(tmp_path: Path) -> None:
    """A prune drops entries before the cutoff and ended windows' counters, keeps open items and streams all."""
    sink = JsonlSink(tmp_path / "e.jsonl")
    store = LiveStore([sink])
    tenant = "t"
    old, day = CounterKey("subject", "alice", "points", "2024-05-01"), CounterKey("subject", "alice", "points", "-")
    with store.transaction(tenant, counters=[old, day]) as txn:
        txn.append(chain(txn.head(), tenant, 3, reason="award"), {old: 5, day: 5}, [])
    with store.transaction(tenant) as txn:
        txn.append(chain(txn.head(), tenant, 1, event_id="ev-open", reason="pending"), {}, [])
    store.prune(datetime.fromisoformat("2024-06-01T00:00:00+08:00"))
    assert [e.reason for e in store.entries(tenant)] == ["pending"]
    assert store.counters(tenant, [old, day]) == {old: 0, day: 5}
    assert store.head(tenant).seq == 4 and store.retained(tenant).written == 4
    sink.close()
    assert len((tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()) == 4


def test_the_commands_replay_live_or_keep_the_ledger_alike(tmp_path: Path) -> None:
    """simulate and compare print the same JSON with --keep-ledger; --entries-out writes the entry streams."""
    from click.testing import CliRunner

    from gridpoints.cli._author import compare as compare_command
    from gridpoints.cli._author import simulate as simulate_command

    events, _ = _log("tianhe", months=2, households=80)
    community = _community("tianhe", 80)
    log, roster = tmp_path / "log.jsonl", tmp_path / "log.roster.jsonl"
    log.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    roster.write_text("".join(json.dumps(r) + "\n" for r in community.roster()), encoding="utf-8")
    ruleset = str(ROOT / "rulesets" / "tianhe-vitality.yaml")
    runner = CliRunner()
    out = tmp_path / "entries.jsonl"
    live = runner.invoke(simulate_command, [ruleset, str(log), "--json", "--entries-out", str(out)])
    full = runner.invoke(simulate_command, [ruleset, str(log), "--json", "--keep-ledger"])
    assert live.exit_code == full.exit_code == 0, live.output
    assert json.loads(live.stdout) == json.loads(full.stdout)
    assert out.read_text(encoding="utf-8").count("\n") > 1000
    pair = runner.invoke(compare_command, [ruleset, ruleset, str(log), "--json", "--entries-out", str(out)])
    kept = runner.invoke(compare_command, [ruleset, ruleset, str(log), "--json", "--keep-ledger"])
    assert pair.exit_code == kept.exit_code == 0, pair.output
    assert json.loads(pair.stdout) == json.loads(kept.stdout)
    sides = [tmp_path / "entries-old.jsonl", tmp_path / "entries-new.jsonl"]
    assert sides[0].read_bytes() == sides[1].read_bytes() == out.read_bytes()
