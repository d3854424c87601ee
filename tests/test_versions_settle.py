"""An engine that holds several ruleset versions: every open item (a pending verification, an appeal, a repair,
a held redemption) settles by the version that opened it, or as the upgrade was told (keep, expire, carry,
refuse), on memory, SQLite and PostgreSQL, and the ledger still audits."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import DBAPIError

import gridpoints
from gridpoints.audit import verify
from gridpoints.cli import command
from gridpoints.errors import SettlementError, UpgradeRefused, VersionMissing
from gridpoints.storage.sql._store import SQLStore, make_engine

ROOT = Path(__file__).resolve().parent.parent
TIANHE = (ROOT / "rulesets" / "tianhe-vitality.yaml").read_text(encoding="utf-8")
SINCE = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
NOW = datetime.fromisoformat("2026-04-15T12:00:00+08:00")
V1, V2 = "tianhe-vitality@1", "tianhe-vitality@2"
#: v1 with a held mall item (Tianhe's own catalog only allocates parking).
KIT = """  - id: safety-kit
    name: 家庭安全包
    cost: 20
    hold: 3d
"""
V1_TEXT = TIANHE.replace("catalog:\n", "catalog:\n" + KIT, 1)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _v2_text() -> str:
    """v2 as the issue has it: no verify, a shorter appeal window by other verifiers, another repair (4 hours of
    patrol), and the held item gone."""
    text = _edit(TIANHE, "version: 1", "version: 2")
    text = _edit(text, "    verify: {by: [grid_worker], within: 7d}\n", "")
    text = _edit(text, "    appeal: {within: 15d, by: [grid_worker]}\n", "    appeal: {within: 3d, by: [staff]}\n")
    text = text.replace("    repair: community-service\n", "    repair: patrol-service\n")
    return _edit(text, """  - id: community-service
    name: 社区服务修复
    task: [community_service]
    per: hours
    quantity: 2
""", """  - id: patrol-service
    name: 巡逻服务修复
    task: [safety_patrol]
    per: hours
    quantity: 4
""")


OLD, NEW = gridpoints.load_ruleset(V1_TEXT), gridpoints.load_ruleset(_v2_text())


def _storage_conftest() -> ModuleType:
    name = "gridpoints_tests_storage_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "storage" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], gridpoints.Store]]:
    """Opens the backend's store (again, as a restarted process would) on one database."""
    if request.param == "memory":
        store = gridpoints.MemoryStore()
        yield lambda: store
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'versions.db'}"
        opened: list[SQLStore] = []

        def sqlite() -> SQLStore:
            opened.append(SQLStore(url))
            return opened[-1]

        yield sqlite
        for store in opened:
            store.close()
        return
    conftest = _storage_conftest()
    engine = make_engine(conftest.POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable: {exc.orig}")
        pytest.skip(f"PostgreSQL at {conftest.POSTGRES_URL} is unreachable: {exc.orig}")
    stem = f"gpv{uuid.uuid4().hex[:8]}_"
    yield lambda: SQLStore(engine, table_prefix=stem)
    conftest._drop_schemas(engine, stem)
    engine.dispose()


def _register(engine: gridpoints.Engine) -> None:
    for subject, household in (("r1", "h1"), ("r2", "h2"), ("r3", "h3")):
        engine.register(subject, grid="g1", household=household, since=SINCE)
    engine.register("w1", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    engine.register("s1", grid="g1", household="h8", roles=["staff"], since=SINCE)


def _event(event_id: str, kind: str, subject: str, at: str, actor: str | None = None, **attributes: object
           ) -> dict[str, object]:
    found: dict[str, object] = {"id": event_id, "type": kind, "subject": subject, "grid": "g1",
                                "occurred_at": f"2026-04-{at}+08:00", "attributes": attributes}
    if actor is not None:
        found["actor"] = actor
    return found


def _mid_month(store: gridpoints.Store) -> gridpoints.Engine:
    """v1 in mid-April: two reports pending verification, a deduction with its repair under way, one whose
    appeal window is open, and a held redemption."""
    engine = gridpoints.Engine(OLD, store)
    _register(engine)
    engine.submit_many([
        _event("report-1", "hazard_report", "r1", "14T10:00:00", hazard="fire_exit"),
        _event("report-2", "hazard_report", "r2", "14T11:00:00", hazard="e_bike_charging"),
        _event("throw-1", "high_altitude_throwing", "r1", "14T10:30:00", severity="minor"),
        _event("throw-2", "high_altitude_throwing", "r2", "10T09:00:00", severity="minor"),
        _event("pub-1", "safety_publicity", "r3", "13T09:00:00", hours=2),
        _event("pub-2", "safety_publicity", "r3", "13T15:00:00", hours=2),
    ])
    engine.redeem("r3", "safety-kit", "kit-1", at=datetime.fromisoformat("2026-04-14T12:00:00+08:00"))
    return engine


def _rulesets(engine: gridpoints.Engine, event_id: str) -> set[str]:
    return {e.ruleset for e in engine.store.entries("default") if e.event_id == event_id}


def test_tianhe_v1_to_v2_mid_month_every_open_item_settles_by_v1(make_store: Callable[[], gridpoints.Store]) -> None:
    """v2 drops verify, shortens the appeal window, changes the repair and removes the held item; after the
    upgrade every v1 item settles by v1's rules, stamped tianhe-vitality@1, new events go by v2, v1 is dropped
    once nothing of it is open, and the ledger audits."""
    store = make_store()
    engine = _mid_month(store)
    upgraded = engine.upgrade(NEW, now=NOW)
    assert upgraded.versions == (V2, V1)
    stranded = {(i.kind, i.event_id) for i in engine.stranded(NEW, now=NOW)}
    assert stranded == {("pending", "report-1"), ("pending", "report-2"), ("repair", "throw-1"),
                        ("repair", "throw-2"), ("hold", "gp:redeem:kit-1")}
    kept = upgraded.explain(f"gp:upgrade:{V2}:report-1", "en")
    assert f"cannot be settled by {V2}; {V1} settles it by its own rules" in kept
    assert "仍按 tianhe-vitality@1 的规则结清" in upgraded.explain(f"gp:upgrade:{V2}:report-1")
    # New events go by v2: a report is awarded at once (no verify).
    assert upgraded.submit(_event("report-3", "hazard_report", "r3", "15T13:00:00", hazard="other")).points == 20
    assert _rulesets(upgraded, "report-3") == {V2}
    # v1's verification, by v1's verifier role and within v1's 7 days.
    verified = upgraded.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1"))
    assert verified.points == 20 and verified.trace.ruleset == V1 and _rulesets(upgraded, "verify-1") == {V1}
    # v1's repair: 2 hours of community service (v2's would need 4 hours of patrol).
    task = upgraded.submit(_event("service-1", "community_service", "r1", "16T11:00:00", "w1", repair="throw-1",
                                  hours=2))
    assert task.points == 30 and _rulesets(upgraded, "service-1") == {V1}
    # v1's appeal: 15 days by a grid worker (v2's 3 days by staff would have closed on the 13th).
    appeal = upgraded.submit(_event("appeal-2", "appeal", "r2", "20T10:00:00", "w1", event="throw-2",
                                    outcome="upheld"))
    assert appeal.points == 30 and _rulesets(upgraded, "appeal-2") == {V1}
    # v1's held item, fulfilled although v2's catalog has no such item.
    fulfilled = upgraded.fulfil("kit-1", at=datetime.fromisoformat("2026-04-16T09:00:00+08:00"))
    assert fulfilled.trace.ruleset == V1 and _rulesets(upgraded, "gp:fulfil:kit-1") == {V1}
    assert upgraded.versions == (V2, V1)  # report-2 is still pending under v1
    # At the close, report-2 expires at v1's deadline (7 days), and v1 has nothing open any more.
    report = upgraded.close_period("2026-04", now=datetime.fromisoformat("2026-05-01T01:00:00+08:00"))
    (expired,) = report.pending_expired
    assert expired.event_id == "gp:expire:report-2" and expired.trace.ruleset == V1
    assert expired.trace.occurred_local.startswith("2026-04-21T11:00:00")
    assert upgraded.versions == (V2,)
    assert upgraded.balance("r1") == -30 + 20 + 30 and upgraded.balance("r2") == -30 + 30
    audit = verify(store)
    assert audit.ok, audit.problems


def test_a_restarted_process_needs_the_older_version(make_store: Callable[[], gridpoints.Store]) -> None:
    """An engine of v2 alone on a store with v1's open items refuses to settle them with VersionMissing naming
    tianhe-vitality@1 (a close too, before writing anything); given previous=[v1] it settles them by v1."""
    store = make_store()
    _mid_month(store).upgrade(NEW, now=NOW)
    alone = gridpoints.Engine(NEW, make_store())
    _register(alone)
    with pytest.raises(VersionMissing) as missing:
        alone.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1"))
    assert missing.value.ruleset == V1 and missing.value.event_id == "report-1" and "previous=" in str(missing.value)
    before = alone.head()
    with pytest.raises(VersionMissing):
        alone.close_period("2026-04", now=datetime.fromisoformat("2026-05-01T01:00:00+08:00"))
    assert alone.head() == before
    again = gridpoints.Engine(NEW, make_store(), previous=[OLD])
    _register(again)
    assert {i.ruleset for i in again.open_items(now=NOW)} == {V1}
    verified = again.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1"))
    assert verified.points == 20 and verified.trace.ruleset == V1


def test_upgrade_expire_settles_every_open_item_now() -> None:
    """stranded='expire': the pending points go back, the appeal window closes, the repair ends and the hold is
    cancelled, each recorded and explained in zh and en, stamped v1; the new engine then holds only v2."""
    engine = _mid_month(gridpoints.MemoryStore())
    r3 = engine.balance("r3")
    upgraded = engine.upgrade(NEW, now=NOW, stranded="expire")
    assert upgraded.versions == (V2,)
    assert upgraded.balance("r3") == r3 + 20  # the hold's points returned
    assert upgraded.open_items(now=NOW) == []
    en = upgraded.explain(f"gp:upgrade:{V2}:report-1", "en")
    assert "pending verification under tianhe-vitality@1 is ended: 20 held points returned" in en
    assert "待核实的奖励终止" in upgraded.explain(f"gp:upgrade:{V2}:report-1")
    closed = upgraded.explain(f"gp:upgrade:{V2}:throw-2", "en")
    assert "appeal window of event throw-2 under tianhe-vitality@1" in closed
    assert "申诉期" in upgraded.explain(f"gp:upgrade:{V2}:throw-2")
    assert "repair community-service of event throw-1" in upgraded.explain(f"gp:upgrade:{V2}:throw-1", "en")
    assert _rulesets(upgraded, f"gp:upgrade:{V2}:report-1") == {V1}
    with pytest.raises(SettlementError):
        upgraded.submit(_event("appeal-2", "appeal", "r2", "20T10:00:00", "s1", event="throw-2", outcome="upheld"))
    assert verify(upgraded.store).ok


def test_carry_settles_by_the_new_version_and_refuses_what_it_cannot() -> None:
    """stranded={'pending': 'carry'} into a v2 that verifies within 1 day: the report then follows v2's window;
    carrying into a v2 without verify is refused with how to proceed, and nothing is written."""
    engine = _mid_month(gridpoints.MemoryStore())
    quick = gridpoints.load_ruleset(_edit(_edit(V1_TEXT, "version: 1", "version: 2"),
                                          "verify: {by: [grid_worker], within: 7d}",
                                          "verify: {by: [grid_worker], within: 1d}"))
    with pytest.raises(UpgradeRefused) as refused:
        engine.upgrade(NEW, now=NOW, stranded={"pending": "carry"})
    assert {i.event_id for i in refused.value.items} == {"report-1", "report-2"}
    assert "'keep'" in refused.value.how and "'expire'" in refused.value.how
    assert engine.store.find_event("default", f"gp:upgrade:{V2}:report-1") is None
    carried = engine.upgrade(quick, now=NOW, stranded={"pending": "carry"})
    assert "carried from tianhe-vitality@1" in carried.explain(f"gp:upgrade:{V2}:report-1", "en")
    with pytest.raises(SettlementError, match="window"):
        carried.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1"))
    kept = _mid_month(gridpoints.MemoryStore()).upgrade(quick, now=NOW)
    assert kept.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1")).points == 20


def test_held_redemptions_are_checked_for_stranding() -> None:
    """A held redemption of an item the new version drops is stranded; one it keeps is not."""
    engine = _mid_month(gridpoints.MemoryStore())
    assert ("hold", "gp:redeem:kit-1") in {(i.kind, i.event_id) for i in engine.stranded(NEW, now=NOW)}
    same = gridpoints.load_ruleset(_edit(V1_TEXT, "version: 1", "version: 2"))
    assert engine.stranded(same, now=NOW) == []
    with pytest.raises(UpgradeRefused, match="safety-kit"):
        engine.upgrade(NEW, now=NOW, stranded={"hold": "refuse"})


def test_upgrade_choices_are_checked() -> None:
    """An unknown kind or choice, an older version, or previous holding a newer one is a clear error."""
    engine = _mid_month(gridpoints.MemoryStore())
    with pytest.raises(ValueError, match="unknown kind"):
        engine.upgrade(NEW, now=NOW, stranded={"pendng": "keep"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="unknown choice"):
        engine.upgrade(NEW, now=NOW, stranded="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="newer version"):
        engine.upgrade(OLD, now=NOW)
    with pytest.raises(ValueError, match="older versions"):
        gridpoints.Engine(OLD, previous=[NEW])


def test_diff_with_a_store_says_what_an_upgrade_does_to_open_items(tmp_path: Path) -> None:
    """gridpoints diff OLD NEW --store URL --now T lists each open item the new version strands and what the
    upgrade does with it (kept by v1 by default)."""
    url = f"sqlite:///{tmp_path / 'diff.db'}"
    store = SQLStore(url)
    _mid_month(store)
    store.close()
    old, new = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    old.write_text(V1_TEXT, encoding="utf-8")
    new.write_text(_v2_text(), encoding="utf-8")
    result = CliRunner().invoke(command(), ["diff", str(old), str(new), "--store", url,
                                            "--now", NOW.isoformat()])
    assert "open items at 2026-04-15T12:00:00+08:00" in result.output, result.output
    assert "pending report-1" in result.output and "→ keep" in result.output
    assert "hold gp:redeem:kit-1" in result.output
    refuse = CliRunner().invoke(command(), ["diff", str(old), str(new), "--store", url, "--now", NOW.isoformat(),
                                            "--stranded", "repair=expire"])
    assert "repair throw-1" in refuse.output and "→ expire" in refuse.output


def test_worker_view_shows_old_versions_verifications_with_their_window() -> None:
    """After an upgrade that drops verify, the grid worker still sees v1's pending reports, due by v1's window."""
    upgraded = _mid_month(gridpoints.MemoryStore()).upgrade(NEW, now=NOW)
    view = upgraded.worker_view("g1", now=NOW)
    assert {(v.event_id, v.deadline[:19]) for v in view.verifications} == {
        ("report-1", "2026-04-21T10:00:00"), ("report-2", "2026-04-21T11:00:00")}
    assert {r.event_id for r in view.repairs_due} == {"throw-1", "throw-2"}


def test_the_service_is_given_older_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gridpoints serve --previous OLD: each tenant's engine holds OLD and settles its open items by it."""
    pytest.importorskip("fastapi", reason="the service needs the server extra")
    from gridpoints.server import app_from_environment

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    store = SQLStore(url)
    _mid_month(store)
    store.close()
    old, new = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    old.write_text(V1_TEXT, encoding="utf-8")
    new.write_text(_v2_text(), encoding="utf-8")
    monkeypatch.setenv("GRIDPOINTS_SERVE", json.dumps({"ruleset": str(new), "store": url, "tenants": ["default"],
                                                       "previous": [str(old)]}))
    app = app_from_environment()
    engine = app.state.gridpoints.engines["default"]
    assert engine.versions == (V2, V1)
    assert {i.ruleset for i in engine.open_items(now=NOW)} == {V1}
    engine.store.close()
    refused = CliRunner().invoke(command(), ["serve", str(new), "--store", url, "--previous", str(new)])
    assert refused.exit_code == 2 and "not an older version" in refused.output


def test_three_versions_each_settle_their_own_items() -> None:
    """v1 → v2 → v3: a report opened under each of v1 and v2 is verified by its own version after v3 (which drops
    verify) is live, and a version is dropped as soon as its last item settles."""
    v2 = gridpoints.load_ruleset(_edit(V1_TEXT, "version: 1", "version: 2"))
    v3 = gridpoints.load_ruleset(_edit(_v2_text(), "version: 2", "version: 3"))
    engine = gridpoints.Engine(OLD, gridpoints.MemoryStore())
    _register(engine)
    engine.submit(_event("report-1", "hazard_report", "r1", "14T10:00:00", hazard="fire_exit"))
    engine = engine.upgrade(v2, now=NOW)
    engine.submit(_event("report-2", "hazard_report", "r2", "15T13:00:00", hazard="other"))
    engine = engine.upgrade(v3, now=datetime.fromisoformat("2026-04-15T14:00:00+08:00"))
    assert engine.versions == ("tianhe-vitality@3", V2, V1)
    first = engine.submit(_event("verify-1", "verify", "r1", "16T10:00:00", "w1", event="report-1"))
    second = engine.submit(_event("verify-2", "verify", "r2", "16T11:00:00", "w1", event="report-2"))
    assert (first.trace.ruleset, second.trace.ruleset) == (V1, V2)
    assert engine.prune(NOW) == (V2, V1) and engine.versions == ("tianhe-vitality@3",)


def test_an_appeal_window_open_across_a_close_keeps_its_version() -> None:
    """A v1 deduction that opened no repair (cooldown) may be appealed for 15 days: after the April close the
    engine still holds v1, the appeal in May is decided by v1, and May's close drops v1."""
    engine = gridpoints.Engine(OLD, gridpoints.MemoryStore())
    _register(engine)
    engine.submit(_event("throw-a", "high_altitude_throwing", "r1", "01T10:00:00", severity="minor"))
    engine.submit(_event("service-a", "community_service", "r1", "02T10:00:00", "w1", repair="throw-a", hours=2))
    second = engine.submit(_event("throw-b", "high_altitude_throwing", "r1", "28T10:00:00", severity="minor"))
    assert second.trace.rules[0].steps[-1].code == "repair.cooldown"
    engine = engine.upgrade(NEW, now=datetime.fromisoformat("2026-04-29T00:00:00+08:00"))
    engine.close_period("2026-04", now=datetime.fromisoformat("2026-05-01T01:00:00+08:00"))
    assert engine.versions == (V2, V1)
    appeal = engine.submit({**_event("appeal-b", "appeal", "r1", "28T10:00:00", "w1", event="throw-b",
                                     outcome="upheld"), "occurred_at": "2026-05-10T10:00:00+08:00"})
    assert appeal.points == 30 and appeal.trace.ruleset == V1
    engine.close_period("2026-05", now=datetime.fromisoformat("2026-06-01T01:00:00+08:00"))
    assert engine.versions == (V2,)
