"""Targeted eligibility (精准服务) and entitlements: registry and own-figure conditions, cost-0 items."""

from __future__ import annotations

from datetime import datetime

import pytest

import gridpoints
from gridpoints.errors import RedemptionRefused, RulesetError
from gridpoints.ruleset import lint

T = datetime.fromisoformat
SINCE = T("2026-01-01T00:00:00+08:00")
AT = T("2026-04-20T10:00:00+08:00")

RULESET = """
ruleset: targeted
version: 1
name: 精准服务
rules:
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
catalog:
  - id: home-care
    name: 上门护理
    cost: 20
    eligibility: {grids: [g-a], tags: [elderly], age_bands: ["65+"], earned: {window: month, max: 40}}
  - id: welfare
    name: 困难补助
    cost: 10
    eligibility: {max_balance: 60}
  - id: school
    name: 子女入学推荐
    cost: 0
    eligibility: {earned: {window: month, min: 30}}
    limit: {per_subject: 1, window: year}
  - id: clinic
    name: 医疗预约
    cost: 0
    stock: 1
    eligibility: {roles: [resident]}
"""


@pytest.fixture
def engine() -> gridpoints.Engine:
    engine = gridpoints.Engine(gridpoints.load_ruleset(RULESET))
    engine.register("old-a", grid="g-a", household="h1", since=SINCE, tags=["elderly"], age_band="65+")
    engine.register("old-b", grid="g-b", household="h2", since=SINCE, tags=["elderly"], age_band="65+")
    engine.register("young-a", grid="g-a", household="h3", since=SINCE, age_band="18-64")
    return engine


def patrol(engine: gridpoints.Engine, event_id: str, subject: str, hours: int, day: int = 2) -> None:
    engine.submit({"id": event_id, "type": "patrol", "subject": subject, "grid": "g-b" if subject == "old-b" else "g-a",
                   "occurred_at": f"2026-04-{day:02d}T09:00:00+08:00", "attributes": {"hours": hours}})


def refusal(engine: gridpoints.Engine, subject: str, item: str, request: str) -> RedemptionRefused:
    with pytest.raises(RedemptionRefused) as caught:
        engine.redeem(subject, item, request, at=AT)
    return caught.value


def test_registry_conditions_select_the_elderly_of_one_grid(engine: gridpoints.Engine) -> None:
    """grids, tags and age bands are read from the registry: only grid A's elderly may book home care."""
    for subject in ("old-a", "old-b", "young-a"):
        patrol(engine, f"p-{subject}", subject, 3)
    assert engine.redeem("old-a", "home-care", "r1", at=AT).points == -20
    assert refusal(engine, "old-b", "home-care", "r2").condition == "grids"
    young = refusal(engine, "young-a", "home-care", "r3")
    assert (young.reason, young.condition) == ("not_eligible", "tags")


def test_earned_this_window_bounds_a_low_point_service(engine: gridpoints.Engine) -> None:
    """An ``earned.max`` counts only this window's earned points: last month's do not disqualify."""
    engine.submit({"id": "march", "type": "patrol", "subject": "old-a", "grid": "g-a",
                   "occurred_at": "2026-03-10T09:00:00+08:00", "attributes": {"hours": 9}})
    patrol(engine, "p1", "old-a", 4)
    assert engine.redeem("old-a", "home-care", "r1", at=AT).points == -20
    patrol(engine, "p2", "old-a", 1, day=3)
    refused = refusal(engine, "old-a", "home-care", "r2")
    assert refused.condition == "earned" and "50 points earned in 2026-04" in str(refused)


def test_max_balance_is_checked_under_the_lock(engine: gridpoints.Engine) -> None:
    """A balance above ``max_balance`` is refused and nothing is written."""
    patrol(engine, "p1", "young-a", 7)
    before = len(engine.history("young-a"))
    refused = refusal(engine, "young-a", "welfare", "w1")
    assert refused.condition == "max_balance" and len(engine.history("young-a")) == before
    patrol(engine, "p2", "old-a", 5)
    assert engine.redeem("old-a", "welfare", "w2", at=AT).points == -10


def test_an_entitlement_moves_no_points_and_keeps_its_limit(engine: gridpoints.Engine) -> None:
    """A cost-0 item is claimed without an entry, once per subject per year, idempotently."""
    patrol(engine, "p1", "young-a", 3)
    claimed = engine.redeem("young-a", "school", "s1", at=AT)
    assert claimed.points == 0 and claimed.entries == ()
    assert claimed.trace.rules[0].status == "entitled"
    assert "领取权益" in claimed.explain("zh") and "entitlement" in claimed.explain("en")
    assert engine.redeem("young-a", "school", "s1", at=AT).duplicate
    assert refusal(engine, "young-a", "school", "s2").reason == "limit_reached"
    assert refusal(engine, "old-a", "school", "s3").condition == "earned"
    assert engine.balance("young-a") == 30


def test_an_entitlements_stock_goes_to_one(engine: gridpoints.Engine) -> None:
    """An entitlement with stock hands out its units once; a zero balance is enough to claim it."""
    assert engine.redeem("old-b", "clinic", "c1", at=AT).points == 0
    assert refusal(engine, "old-a", "clinic", "c2").reason == "out_of_stock"


@pytest.mark.parametrize(("item", "message"), [
    ("{id: free, cost: 0}", "needs a 'stock' or a per-subject 'limit'"),
    ("{id: free, cost: 0, stock: 5, hold: 2d}", "holds no points"),
    ("{id: cheap, cost: 50, eligibility: {max_balance: 20}}", "nobody could redeem it"),
    ("{id: x, cost: 5, eligibility: {earned: {window: month}}}", "give 'min', 'max' or both"),
    ("{id: x, cost: 5, eligibility: {min_balance: 30, max_balance: 20}}", "must not exceed max_balance"),
])
def test_impossible_targeted_items_are_refused_at_load(item: str, message: str) -> None:
    """Unbounded or unredeemable targeted items are load errors that name the item's line."""
    text = f"ruleset: t\nversion: 1\nname: t\nrules:\n  - {{id: p, on: patrol, points: 5}}\ncatalog:\n  - {item}\n"
    with pytest.raises(RulesetError) as caught:
        gridpoints.load_ruleset(text)
    assert message in str(caught.value) and ":7:" in str(caught.value)


def test_lint_warns_of_an_entitlement_open_to_everyone() -> None:
    """An entitlement with no eligibility is a warning: targeted services are usually meant."""
    text = ("ruleset: t\nversion: 1\nname: t\nrules:\n  - {id: p, on: patrol, points: 5}\ncatalog:\n"
            "  - {id: free, cost: 0, stock: 3}\n")
    codes = [d.code for d in lint(text)]
    assert codes == ["open-entitlement"]
    assert lint(RULESET) == []


def test_the_fairness_kit_catches_eligibility_that_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine defect that skips the registry and earned-window conditions breaks ``targeting``."""
    from gridpoints.engine.lifecycle import _mall
    from gridpoints.testing import FairnessViolation, check_targeting

    policy = gridpoints.load_ruleset(RULESET)
    events = [{"id": f"p{n}", "type": "patrol", "subject": f"s{n}", "grid": "g-a",
               "occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {"hours": 3}} for n in range(4)]
    check_targeting(policy, events)
    monkeypatch.setattr(_mall, "_check_eligibility", lambda *args: None)
    with pytest.raises(FairnessViolation, match="targeting"):
        check_targeting(policy, events)
