"""What changes between two versions of a ruleset, and what an upgrade in the middle of a window does.

:func:`diff` compares two compiled policies item by item (rules, limits, repairs, catalog items, challenges:
added, removed, changed, with the fields that changed) and says, for every limit of either version, what
switching versions mid-window does to its counters:

- ``carried``: the new version reads the same counters with the same meaning (same counter identity —
  the limit's id, or the id it ``continues`` — kind, scope, member, pool and window);
- ``re-based``: the counters carry, but are measured against a new limit, factors or share: what was counted
  under the old version counts against the new value;
- ``reset``: the new version starts from zero mid-window (a new or renamed limit without ``continues``, or
  the same identity with another kind, scope or window) — a monthly cap can then be dodged by an upgrade;
- ``dropped``: the limit is gone; its counters are no longer read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
from pydantic import BaseModel

from gridpoints.policy._compile import CompiledLimit, Policy

Change = Literal["added", "removed", "changed"]
CounterEffect = Literal["carried", "re-based", "reset", "dropped"]


@attrs.frozen(slots=True)
class ItemChange:
    """One rule, limit, repair, item or challenge that differs: its section, id, how, and the fields."""

    section: str
    id: str
    change: Change
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.change:<8} {self.section} {self.id}{what}"


@attrs.frozen(slots=True)
class CounterChange:
    """What an upgrade mid-window does to one limit's counters (see the module docstring)."""

    limit: str
    effect: CounterEffect
    why: str

    def __str__(self) -> str:
        return f"{self.effect:<8} limit {self.limit}: {self.why}"


@attrs.frozen(slots=True)
class PolicyDiff:
    """:func:`diff`'s answer. ``changes`` in section order; ``counters`` for every limit of either version."""

    old: str
    new: str
    changes: tuple[ItemChange, ...]
    counters: tuple[CounterChange, ...]

    @property
    def resets(self) -> tuple[CounterChange, ...]:
        """The limits an upgrade mid-window would restart from zero."""
        return tuple(c for c in self.counters if c.effect == "reset")

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new,
                "changes": [attrs.asdict(c) for c in self.changes],
                "counters": [attrs.asdict(c) for c in self.counters]}

    def lines(self) -> list[str]:
        found = [f"{self.old} → {self.new}"]
        found += [f"  {c}" for c in self.changes] or ["  no rule, limit, repair, item or challenge changed"]
        found.append("counters, if upgraded mid-window:")
        found += [f"  {c}" for c in self.counters] or ["  no limits"]
        return found


_SECTIONS = ("rules", "limits", "repairs", "catalog", "challenges")


def _by_id(items: Iterable[BaseModel]) -> dict[str, BaseModel]:
    return {str(getattr(item, "id")): item for item in items}  # noqa: B009  (every section's items have an id)


def _fields(old: BaseModel, new: BaseModel) -> tuple[str, ...]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))


def _section_changes(section: str, old: Sequence[BaseModel], new: Sequence[BaseModel]) -> list[ItemChange]:
    before, after = _by_id(old), _by_id(new)
    found = [ItemChange(section, item_id, "removed") for item_id in before if item_id not in after]
    for item_id, item in after.items():
        if item_id not in before:
            found.append(ItemChange(section, item_id, "added"))
            continue
        fields = _fields(before[item_id], item)
        if fields:
            found.append(ItemChange(section, item_id, "changed", fields))
    return found


def _shape(limit: CompiledLimit) -> tuple[Any, ...]:
    return (limit.kind, limit.scope, limit.pool, limit.window)


def _measure(limit: CompiledLimit) -> tuple[Any, ...]:
    return (limit.limit, limit.mode, limit.factors, limit.max_share, limit.min_total, limit.rules, limit.categories)


def counter_changes(old: Policy, new: Policy) -> list[CounterChange]:
    """For every limit of either version, what switching mid-window does to its counters."""
    by_counter = {limit.counter: limit for limit in old.limits}
    read: set[str] = set()
    found: list[CounterChange] = []
    for limit in new.limits:
        before = by_counter.get(limit.counter)
        via = f" (continues {limit.counter!r})" if limit.counter != limit.id else ""
        if before is None:
            renamed = next((o.id for o in old.limits if o.id not in {n.id for n in new.limits}
                            and _shape(o) == _shape(limit)), None)
            hint = (f"; it looks like {renamed!r} renamed: add `continues: {renamed}` to carry its counts"
                    if renamed is not None else "")
            found.append(CounterChange(limit.id, "reset", f"new in {new.ref}: counts from 0 mid-window{hint}"))
            continue
        read.add(before.counter)
        if _shape(before) != _shape(limit):
            found.append(CounterChange(limit.id, "reset", f"{via.strip()} kind, scope or window changed "
                                       f"({'/'.join(map(str, _shape(before)))} → {'/'.join(map(str, _shape(limit)))}):"
                                       " the new version's counters start from 0".strip()))
        elif _measure(before) != _measure(limit):
            found.append(CounterChange(limit.id, "re-based", f"counts so far carry{via} and are measured against "
                                       f"the new {_measured(before, limit)}"))
        else:
            found.append(CounterChange(limit.id, "carried", f"same counters, same meaning{via}"))
    for limit in old.limits:
        if limit.counter not in read:
            found.append(CounterChange(limit.id, "dropped", f"not in {new.ref}: its counters are no longer read"))
    return found


def _measured(before: CompiledLimit, after: CompiledLimit) -> str:
    parts = []
    for name in ("limit", "mode", "factors", "max_share", "min_total", "rules", "categories"):
        old_value, new_value = getattr(before, name), getattr(after, name)
        if old_value != new_value:
            parts.append(f"{name} {_text(old_value)} → {_text(new_value)}")
    return ", ".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(value)) + "]"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def diff(old: Policy, new: Policy) -> PolicyDiff:
    """Rules, limits, repairs, catalog items and challenges added, removed and changed from ``old`` to
    ``new``, and each limit's counters on an upgrade mid-window."""
    changes: list[ItemChange] = []
    sections: Mapping[str, tuple[Sequence[BaseModel], Sequence[BaseModel]]] = {
        name: (getattr(old.spec, name), getattr(new.spec, name)) for name in _SECTIONS}
    for name, (before, after) in sections.items():
        changes += _section_changes(name, before, after)
    return PolicyDiff(old.ref, new.ref, tuple(changes), tuple(counter_changes(old, new)))
