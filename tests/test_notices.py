"""The notices outbox: typed notices written in the same transaction as the entries, reminders, cursors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import gridpoints
from gridpoints.errors import EventError
from gridpoints.model import NoticeKind
from gridpoints.storage import LiveStore

T = datetime.fromisoformat
SINCE = T("2026-01-01T00:00:00+08:00")

RULESET = """
ruleset: notices
version: 1
name: 通知
rules:
  - {id: patrol, name: 巡逻, on: patrol, points: {per: hours, each: 10}}
  - {id: report, name: 隐患上报, on: hazard_report, points: 15, verify: {by: [grid_worker], within: 3d}}
  - {id: noise, name: 噪音扰民, on: noise_violation, points: -10, repair: service}
repairs:
  - {id: service, name: 社区服务, task: [community_service], per: hours, quantity: 2, within: 10d}
catalog:
  - {id: goods, name: 生活用品, cost: 20, hold: 2d}
challenges:
  - {id: top, name: 积分挑战赛, window: month, top: 1, bonus: 50, title: 积分达人}
"""


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET), notify=True)
    engine.register("li", grid="g1", household="h1", since=SINCE)
    engine.register("zhao", grid="g1", household="h9", roles=["grid_worker"], since=SINCE)
    return engine


def submit(engine: gridpoints.Engine, event_id: str, kind: str, at: str, **fields: object) -> gridpoints.Decision:
    return engine.submit({"id": event_id, "type": kind, "subject": "li", "grid": "g1", "occurred_at": at, **fields})


def test_each_decision_tells_what_it_did(engine: gridpoints.Engine) -> None:
    """Awarded, deducted, repair opened and expired, honour earned: in commit order, with zh and en text."""
    submit(engine, "p1", "patrol", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    submit(engine, "n1", "noise_violation", "2026-04-03T22:00:00+08:00")
    engine.redeem("li", "goods", "o1", at=T("2026-04-04T10:00:00+08:00"))
    engine.close_period("2026-04", now=T("2026-05-01T00:10:00+08:00"))
    told = [(n.cursor, n.kind, n.subject, n.points, n.event_id) for n in engine.notices()]
    assert told[:3] == [
        (1, NoticeKind.POINTS_AWARDED, "li", 30, "p1"),
        (2, NoticeKind.POINTS_DEDUCTED, "li", -10, "n1"),
        (3, NoticeKind.REPAIR_OPENED, "li", -10, "n1"),
    ]
    # The close: the challenge's bonus and honour, the repair's expiry; the hold's return tells nothing new.
    assert sorted((kind, event_id) for _, kind, _, _, event_id in told[3:]) == [
        (NoticeKind.HONOUR_EARNED, "gp:challenge:top:2026-04:li"),
        (NoticeKind.POINTS_AWARDED, "gp:challenge:top:2026-04:li"),
        (NoticeKind.REPAIR_EXPIRED, "gp:repair-expired:n1"),
    ]
    honour = next(n for n in engine.notices() if n.kind == NoticeKind.HONOUR_EARNED)
    assert honour.text("zh") == "您获得荣誉：积分达人。" and honour.text("en") == "You earned the honour 积分达人."
    assert engine.notices()[0].text("zh") == "您获得 30 积分（巡逻）。"
    assert "2026-04-13" in engine.notices()[2].text("en")


def test_a_refused_event_tells_nothing(engine: gridpoints.Engine) -> None:
    """Notices are written in the entries' transaction: a rejected batch leaves none."""
    with pytest.raises(EventError):
        engine.submit_many([
            {"id": "p1", "type": "patrol", "subject": "li", "grid": "g1",
             "occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {"hours": 3}},
            {"id": "bad", "type": "patrol", "subject": "li", "grid": "g1",
             "occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {}},
        ])
    assert engine.notices() == []
    submit(engine, "p1", "patrol", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    submit(engine, "p1", "patrol", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    assert [n.cursor for n in engine.notices()] == [1]


def test_acknowledged_notices_are_not_read_again(engine: gridpoints.Engine) -> None:
    """notices() reads after the acknowledged cursor; acknowledging is idempotent."""
    for n in range(3):
        submit(engine, f"p{n}", "patrol", f"2026-04-0{n + 1}T09:00:00+08:00", attributes={"hours": 1})
    first = engine.notices(limit=2)
    assert engine.acknowledge(first[-1].cursor) == 2
    assert engine.acknowledge(first[-1].cursor) == 2
    assert [n.event_id for n in engine.notices()] == ["p2"]
    assert [n.cursor for n in engine.notices(after=0)] == [1, 2, 3]


def test_reminders_are_told_once_each(engine: gridpoints.Engine) -> None:
    """Verification due (to the grid's verifier), repair due and hold expiring, once however often remind runs."""
    submit(engine, "r1", "hazard_report", "2026-04-01T09:00:00+08:00")
    submit(engine, "n1", "noise_violation", "2026-04-01T22:00:00+08:00")
    submit(engine, "p1", "patrol", "2026-04-01T08:00:00+08:00", attributes={"hours": 5})
    engine.redeem("li", "goods", "o1", at=T("2026-04-02T10:00:00+08:00"))
    start = engine.notices()[-1].cursor
    now = T("2026-04-03T12:00:00+08:00")
    assert len(engine.remind(now, within=timedelta(days=1))) == 2
    told = {(n.kind, n.subject, n.event_id) for n in engine.notices(after=start)}
    assert told == {(NoticeKind.VERIFICATION_DUE, "zhao", "r1"), (NoticeKind.HOLD_EXPIRING, "li", "gp:redeem:o1")}
    assert engine.remind(now, within=timedelta(days=1)) == []
    engine.remind(T("2026-04-10T09:00:00+08:00"), within=timedelta(days=2))
    due = engine.notices()[-1]
    assert (due.kind, due.detail("days"), due.detail("remaining")) == (NoticeKind.REPAIR_DUE, 2, "2")
    assert due.text("zh") == "service 还有 2 天截止（2026-04-11T22:00:00+08:00）。"


def test_an_engine_without_an_outbox_refuses_notify() -> None:
    """notify=True needs a store that declares a notices outbox; an engine without notify has no notices."""
    policy = gridpoints.load_ruleset(RULESET)

    class Bare(gridpoints.MemoryStore):
        capabilities = gridpoints.StoreCapabilities(needs_fingerprints=False, persists_records=False)

    with pytest.raises(ValueError, match="keeps_notices"):
        gridpoints.Engine(policy, Bare(), notify=True)
    with pytest.raises(ValueError, match="notify=True"):
        gridpoints.Engine(policy).notices()
    live = gridpoints.Engine(policy, LiveStore(), notify=True)
    live.submit({"id": "p1", "type": "patrol", "subject": "li", "grid": "g1",
                 "occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {"hours": 1}})
    assert [n.kind for n in live.notices()] == [NoticeKind.POINTS_AWARDED]


def test_the_ruleset_chooses_the_kinds_and_the_reminder_horizon() -> None:
    """notices.kinds filters what is written; remind_within is remind's default; lint flags a kind never sent."""
    text = RULESET + "notices: {kinds: [points_deducted, repair_due, honour_earned], remind_within: 2d}\n"
    engine = gridpoints.Engine(gridpoints.load_ruleset(text), notify=True)
    submit(engine, "p1", "patrol", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    submit(engine, "n1", "noise_violation", "2026-04-03T22:00:00+08:00")
    assert [n.kind for n in engine.notices()] == [NoticeKind.POINTS_DEDUCTED]
    assert engine.remind(T("2026-04-10T23:00:00+08:00")) == []
    assert len(engine.remind(T("2026-04-11T23:00:00+08:00"))) == 1
    assert engine.notices()[-1].kind == NoticeKind.REPAIR_DUE
    bare = "ruleset: t\nversion: 1\nname: t\nrules:\n  - {id: p, on: patrol, points: 5}\n"
    found = gridpoints.lint(bare + "notices: {kinds: [points_awarded, hold_expiring]}\n")
    codes = [(d.code, d.issue.line) for d in found]
    assert codes == [("notice-never-sent", 6)]


def test_the_fairness_kit_catches_notices_that_do_not_match_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine defect that tells an award twice breaks the ``notices`` property."""
    from gridpoints.engine._kernel import Decider
    from gridpoints.testing import FairnessViolation, check_notices

    policy = gridpoints.load_ruleset(RULESET)
    events = [{"id": f"p{n}", "type": "patrol", "subject": "li", "grid": "g1",
               "occurred_at": f"2026-04-0{n + 1}T09:00:00+08:00", "attributes": {"hours": 1}} for n in range(3)]
    check_notices(policy, events)
    real = Decider._points_notices

    def twice(self: Decider, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Decider, "_points_notices", twice)
    with pytest.raises(FairnessViolation, match="told of"):
        check_notices(policy, events)


def test_an_honour_tells_of_itself_once() -> None:
    """With an honours section, a challenge's honour is told by the honours mechanism, not twice."""
    text = RULESET + "honours:\n  - {id: star, name: 积分之星, challenge: top}\n"
    engine = gridpoints.Engine(gridpoints.load_ruleset(text), notify=True)
    engine.register("li", grid="g1", household="h1", since=SINCE)
    submit(engine, "p1", "patrol", "2026-04-02T09:00:00+08:00", attributes={"hours": 3})
    engine.close_period("2026-04", now=T("2026-05-01T00:10:00+08:00"))
    honours = [n for n in engine.notices() if n.kind == NoticeKind.HONOUR_EARNED]
    assert [(n.subject, n.detail("title"), n.detail("honour")) for n in honours] == [("li", "积分之星", "star")]
