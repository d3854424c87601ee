"""Helpers the core tests share: the test ruleset text, ruleset builders and ledger checks.

Kept out of conftest.py so test modules can import them by name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import gridpoints
from gridpoints import Engine, Entry

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: A compact policy exercising every points form, an ignored type, a deduction and two subject caps.
RULESET = """\
ruleset: test-community
version: 3
name: 测试社区积分细则
timezone: Asia/Shanghai
community: c1
events:
  patrol:
    attributes:
      hours: {type: number, min: 0, max: 24, required: true}
  garbage_sorting:
    attributes:
      quality: {type: string, enum: [A, B, C, D], required: true}
  hazard_report:
    attributes:
      severity: {type: integer, min: 0, max: 100, required: true}
  app_open:
    ignore: true
rules:
  - id: patrol
    name: 邻里守望巡逻
    on: patrol
    points: {per: hours, each: 10, max_units: 4}
  - id: garbage-sorting
    name: 垃圾分类
    on: garbage_sorting
    when: {quality: {in: [A, B, C]}}
    points: {by: quality, table: {A: 20, B: 10, C: 5}}
  - id: hazard-report
    name: 隐患上报
    on: hazard_report
    points: {range: [15, 20], from: severity}
  - id: mediation
    name: 邻里调解
    on: mediation
    points: 10
  - id: noise
    name: 噪音扰民
    on: noise_violation
    points: -10
limits:
  - {id: daily-reward, kind: cap, scope: subject, window: day, categories: [reward], limit: 50}
  - {id: weekly-patrol, kind: cap, scope: subject, window: week, rules: [patrol], limit: 200}
"""

TEMPLATE_HEAD = "ruleset: t\nversion: 1\nname: T\n"


def ruleset(rules: str, limits: str = "", extra: str = "", head: str = TEMPLATE_HEAD) -> str:
    """Ruleset text from YAML fragments (each already indented as a top-level block's body)."""
    text = head + extra + "rules:\n" + rules
    if limits:
        text += "limits:\n" + limits
    return text



# -- ledger checks shared by the engine, property and thread tests -----------------------------------------


def all_entries(engine: Engine) -> list[Entry]:
    return list(engine.store.entries(engine.tenant))


def account_sums(entries: Iterable[Entry]) -> dict[str, int]:
    """Each account's balance recomputed from entries: received minus given."""
    sums: dict[str, int] = defaultdict(int)
    for entry in entries:
        sums[entry.credit] += entry.amount
        sums[entry.debit] -= entry.amount
    return dict(sums)


def assert_chain(entries: list[Entry]) -> None:
    """Sequence numbers run 1..n, each entry links to the previous hash and its own hash verifies."""
    prev = "0" * 64
    for number, entry in enumerate(entries, start=1):
        assert entry.seq == number
        assert entry.prev_hash == prev
        assert entry.expected_hash() == entry.hash
        assert entry.amount > 0
        prev = entry.hash


def assert_balanced(engine: Engine) -> None:
    """Every account's stored balance equals the sum of its entries, and all accounts sum to zero."""
    entries = all_entries(engine)
    sums = account_sums(entries)
    assert sum(sums.values()) == 0
    stored = engine.store.balances(engine.tenant, list(sums))
    assert stored == sums


def snapshot(engine: Engine, subjects: Iterable[str] = ()) -> tuple[Any, ...]:
    """What a rejected write must leave unchanged: head, every entry, every account's and subject's balance."""
    entries = all_entries(engine)
    accounts = sorted(account_sums(entries))
    return (engine.head(), tuple(entries), engine.store.balances(engine.tenant, accounts),
            engine.balances(list(subjects)))


def local_window(kind: str, occurred_utc: str, zone: ZoneInfo = SHANGHAI) -> str:
    from gridpoints.calendar import window_id

    return window_id(kind, datetime.fromisoformat(occurred_utc).astimezone(zone).date())


def granted_by_rule(decision: gridpoints.Decision) -> Mapping[str, int]:
    return {rule.rule_id: rule.granted for rule in decision.trace.rules}
