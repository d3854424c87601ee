"""Upgrading an engine to a new ruleset version: the open items the new version could not settle.

An open item is an award pending verification, a deduction that may still be appealed, or a repair under
way. Each was opened under the engine's current version; the new version must still know how to settle it
(a rule with ``verify``, a rule with ``appeal``, the repair's id), or the item is stranded — its points stuck
in pending, an appeal right lost, a repair that can never complete. :func:`stranded` lists them;
``Engine.upgrade`` refuses an upgrade while any is listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from gridpoints.engine._kernel import Context
from gridpoints.engine._plan import appealed_marker, settled_marker
from gridpoints.model import CounterKey
from gridpoints.policy import Policy


@attrs.frozen(slots=True)
class StrandedItem:
    """An open item the new version cannot settle: its kind, the event that opened it, the rule (or repair)
    it needs, and why."""

    kind: Literal["pending", "appeal", "repair"]
    event_id: str
    needs: str
    why: str

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}: {self.why}"


def stranded(context: Context, new: Policy, now: datetime) -> list[StrandedItem]:
    """The open items at ``now`` that ``new`` could not settle (see the module docstring)."""
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")
    index = context.index
    found: list[StrandedItem] = []
    pending = index.read(lambda index: dict(index.pending))
    deductions = index.read(lambda index: dict(index.deductions))
    markers: dict[str, CounterKey] = {t: settled_marker(t) for t in (*pending, *deductions)}
    appeals = {t: appealed_marker(t) for t in deductions}
    counters = context.counters([*markers.values(), *appeals.values()])
    for target, moved in sorted(pending.items()):
        if counters[markers[target]]:
            continue
        for rule_id in sorted({rule for _, _, rule in moved}):
            rule = new.rules_by_id.get(rule_id)
            if rule is None or rule.spec.verify is None:
                found.append(StrandedItem("pending", target, rule_id, (
                    f"an award of rule {rule_id!r} waits for verification; {new.ref} "
                    f"{'has no such rule' if rule is None else 'does not verify it'}")))
    for target in sorted(deductions):
        original = context.original(target)
        if original is None:
            continue
        occurred = datetime.fromisoformat(original.occurred_local)
        settled = counters[markers[target]]
        for trace in original.rules:
            old = context.policy.rules_by_id.get(trace.rule_id)
            rule = new.rules_by_id.get(trace.rule_id)
            if old is None or trace.granted >= 0:
                continue
            appeal = old.spec.appeal
            if (appeal is not None and not counters[appeals[target]] and not settled
                    and now <= occurred + appeal.within and (rule is None or rule.spec.appeal is None)):
                found.append(StrandedItem("appeal", target, trace.rule_id, (
                    f"the deduction of rule {trace.rule_id!r} may be appealed until "
                    f"{(occurred + appeal.within).isoformat()}; {new.ref} "
                    f"{'has no such rule' if rule is None else 'takes no appeal against it'}")))
            for step in trace.steps:
                if step.kind != "repair" or step.code != "repair.opened" or settled:
                    continue
                repair = next((r for r in context.policy.spec.repairs if r.id == step.limit_id), None)
                if repair is None or now > occurred + repair.within:
                    continue
                if all(r.id != step.limit_id for r in new.spec.repairs):
                    found.append(StrandedItem("repair", target, step.limit_id, (
                        f"repair {step.limit_id!r} of the deduction is under way until "
                        f"{(occurred + repair.within).isoformat()}; {new.ref} has no such repair")))
    return found
