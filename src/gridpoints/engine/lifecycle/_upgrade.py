"""Ruleset versions over open items: which are open, which a new version could not settle, and what an
upgrade does with each.

An open item is an award pending verification, a deduction that may still be appealed (or whose lodged
appeal awaits a decision), a repair under way, or a held redemption (a hold awaiting fulfilment, an
application awaiting allocation). Each is governed by the version that opened it — unless an upgrade
carried it into a newer one — and is settled by that version's rules (see
:class:`gridpoints.engine._kernel.Versions`).

A new version *strands* an item it could not settle by its own rules: no rule of the same id that verifies
(or takes appeals), no repair of the same id, no catalog item of the same id that holds (or allocates).
:func:`upgrade_plans` says, per kind, what an upgrade does with every open item:

- ``keep`` (the default): the version that opened it settles it, by its own windows, verifiers, repair and
  item; the engine keeps holding that version while it has open items. A stranded item kept gets a record
  saying so.
- ``expire``: settled now — a pending award's points go back to issuance, the appeal window closes (a
  lodged appeal is still decided: it is kept), a repair ends with the deduction standing, a hold is
  cancelled and its points and stock returned.
- ``carry``: the new version settles it, by its rule, repair or item of the same id (a ``carried`` marker
  records it). An item the new version strands cannot be carried.
- ``refuse``: the upgrade is refused if any item of the kind is stranded (others are kept).

Each expiry, carry and stranded keep is an engine-made event ``gp:upgrade:<new ref>:<event id>`` dated at
the upgrade, explained in zh and en, written in one transaction, each by the version that governed the item.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args

import attrs

from gridpoints.engine._kernel import Context, Decider, Handler, Mechanism
from gridpoints.engine._plan import Award, Plan, appealed_marker, carried_marker, lodged_marker, settled_marker
from gridpoints.engine.lifecycle._mall import REDEMPTION_PREFIX, hold_settlement
from gridpoints.engine.lifecycle._repair import RepairAction
from gridpoints.engine.lifecycle._settle import SettleAction
from gridpoints.model import Event, LimitStep, Trace
from gridpoints.policy import Policy

Kind = Literal["pending", "appeal", "repair", "hold"]
Choice = Literal["keep", "expire", "carry", "refuse"]
KINDS: tuple[Kind, ...] = get_args(Kind)
CHOICES: tuple[Choice, ...] = get_args(Choice)


class UpgradeAction(StrEnum):
    """Actions of an upgrade over open items (expiries reuse the settling mechanisms' own)."""

    #: A stranded item stays with the version that opened it: nothing moves.
    KEEP = "upgrade-keep"
    #: The item is carried into the new version: its marker is set.
    CARRY = "upgrade-carry"
    #: An appeal window closed by the upgrade (the guard sets its marker): nothing moves.
    CLOSE = "upgrade-close"


@attrs.frozen(slots=True)
class OpenItem:
    """One open item: its kind, the event that opened it, its subject, the version that governs it, the
    rule, repair or item that settles it, and until when it is open (local ISO time; None for a lodged
    appeal, which staff decide whenever)."""

    kind: Kind
    event_id: str
    subject: str
    ruleset: str
    needs: str
    until: str | None
    #: Whether the upgrade was opened by an application for an allocated item (kind ``hold``).
    applied: bool = False

    def __str__(self) -> str:
        until = f" until {self.until}" if self.until else ""
        return f"{self.kind} {self.event_id} ({self.needs}, {self.ruleset}{until})"


@attrs.frozen(slots=True)
class StrandedItem:
    """An open item a new version could not settle: its kind, the event that opened it, the rule (or
    repair, or item) it needs, why, and — when asked through an upgrade's choices — what the upgrade does
    with it (``keep``, ``expire``, ``carry``, ``refuse``) and the version that governs it."""

    kind: Kind
    event_id: str
    needs: str
    why: str
    choice: Choice | None = None
    ruleset: str = ""

    def __str__(self) -> str:
        then = f" → {self.choice}" if self.choice is not None else ""
        return f"{self.kind} {self.event_id}: {self.why}{then}"


def _check(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset; the engine never guesses a zone")


def open_items(context: Context, now: datetime) -> list[OpenItem]:
    """Every open item at ``now``, each with the version that governs it (raises
    :class:`~gridpoints.errors.VersionMissing` when the engine does not hold one)."""
    _check(now)
    index = context.index
    pending, deductions, holds, applications = index.read(lambda index: (
        dict(index.pending), dict(index.deductions), {k: v[0] for k, v in index.holds.items() if v},
        dict(index.applications)))
    targets = {*pending, *deductions, *holds, *applications}
    markers = {t: settled_marker(t) for t in targets}
    appeals = {t: appealed_marker(t) for t in deductions}
    lodged = {t: lodged_marker(t) for t in deductions}
    counters = context.counters([*markers.values(), *appeals.values(), *lodged.values()])
    # Settled holds and applications never open again (a settled marker is never unset).
    for table in (index.holds, index.applications):
        index.forget(table, [t for t in table if t in markers and counters[markers[t]]])
    found: list[OpenItem] = []
    for target in sorted(targets):
        if counters[markers[target]]:
            continue
        original = context.original(target)
        if original is None:
            continue
        governing = context.governing(target, original)
        policy, ref = governing.policy, governing.policy.ref
        occurred = datetime.fromisoformat(original.occurred_local)
        if target in pending:
            for rule_id in sorted({rule for _, _, rule in pending[target]}):
                rule = policy.rules_by_id.get(rule_id)
                until = (occurred + rule.spec.verify.within).isoformat() if rule and rule.spec.verify else None
                found.append(OpenItem("pending", target, original.subject, ref, rule_id, until))
        if target in deductions:
            found += _deduction_items(governing, target, original, occurred, now, bool(counters[appeals[target]]),
                                      bool(counters[lodged[target]]))
        entry = holds.get(target) or applications.get(target)
        if entry is not None and original.rules:
            item_id = str(original.rules[0].base_args.get("item"))
            item = policy.item(item_id)
            until = (occurred + item.hold).isoformat() if item is not None and item.hold is not None else None
            found.append(OpenItem("hold", target, original.subject, ref, item_id, until, target in applications))
    return found


def _deduction_items(governing: Context, target: str, original: Trace, occurred: datetime, now: datetime,
                     appealed: bool, lodged: bool) -> list[OpenItem]:
    policy, ref = governing.policy, governing.policy.ref
    found: list[OpenItem] = []
    for trace in original.rules:
        rule = policy.rules_by_id.get(trace.rule_id)
        if rule is None or trace.granted >= 0:
            continue
        appeal = rule.spec.appeal
        if appeal is not None and not appealed and (lodged or now <= occurred + appeal.within):
            found.append(OpenItem("appeal", target, original.subject, ref, trace.rule_id,
                                  None if lodged else (occurred + appeal.within).isoformat()))
        for step in trace.steps:
            if step.kind == "repair" and step.code == "repair.opened":
                repair = next((r for r in policy.spec.repairs if r.id == step.limit_id), None)
                until = (occurred + repair.within).isoformat() if repair is not None else step.param
                found.append(OpenItem("repair", target, original.subject, ref, step.limit_id, until))
    return found


def _why(item: OpenItem, new: Policy) -> str | None:
    """Why ``new`` could not settle ``item`` by its own rules, or None if it could."""
    if item.kind == "hold":
        found = new.item(item.needs)
        if found is not None and (found.allocate is not None if item.applied else found.hold is not None):
            return None
        what = "allocates" if item.applied else "holds"
        return (f"a redemption of item {item.needs!r} is held (opened under {item.ruleset}); {new.ref} "
                f"{'has no such item' if found is None else f'no longer {what} it'}")
    if item.kind == "repair":
        if any(r.id == item.needs for r in new.spec.repairs):
            return None
        return (f"repair {item.needs!r} of the deduction is under way until {item.until}; {new.ref} has no such "
                "repair")
    rule = new.rules_by_id.get(item.needs)
    if item.kind == "pending":
        if rule is not None and rule.spec.verify is not None:
            return None
        return (f"an award of rule {item.needs!r} waits for verification; {new.ref} "
                f"{'has no such rule' if rule is None else 'does not verify it'}")
    if rule is not None and rule.spec.appeal is not None:
        return None
    window = f"may be appealed until {item.until}" if item.until else "has a lodged appeal awaiting a decision"
    return (f"the deduction of rule {item.needs!r} {window}; {new.ref} "
            f"{'has no such rule' if rule is None else 'takes no appeal against it'}")


Choices = Choice | Mapping[str, Choice]


def choices(stranded: Choices) -> dict[Kind, Choice]:
    """Each kind's choice from one choice for all or a mapping per kind (unnamed kinds: ``keep``)."""
    if isinstance(stranded, str):
        given: Mapping[str, str] = dict.fromkeys(KINDS, stranded)
    elif isinstance(stranded, Mapping):
        given = stranded
    else:
        raise TypeError(f"stranded must be one of {', '.join(CHOICES)} or a mapping of kinds to them, "
                        f"got {type(stranded).__name__}")
    unknown = sorted(set(given) - set(KINDS))
    if unknown:
        raise ValueError(f"stranded names unknown kind(s) {', '.join(unknown)}; the kinds are {', '.join(KINDS)}")
    wrong = {k: v for k, v in given.items() if v not in CHOICES}
    if wrong:
        raise ValueError(f"stranded: unknown choice(s) {wrong}; choose one of {', '.join(CHOICES)}")
    picked: dict[Kind, Choice] = dict.fromkeys(KINDS, "keep")
    picked.update({kind: given[kind] for kind in KINDS if kind in given})  # type: ignore[misc]
    return picked


def stranded(context: Context, new: Policy, now: datetime, chosen: Mapping[Kind, Choice] | None = None
             ) -> list[StrandedItem]:
    """The open items at ``now`` that ``new`` could not settle, each with what the upgrade would do with it
    under ``chosen`` (None: no choice given)."""
    found: list[StrandedItem] = []
    for item in open_items(context, now):
        why = _why(item, new)
        if why is not None:
            found.append(StrandedItem(item.kind, item.event_id, item.needs, why,
                                      chosen[item.kind] if chosen is not None else None, item.ruleset))
    return found


def upgrade_plans(context: Context, new: Policy, now: datetime, chosen: Mapping[Kind, Choice]
                  ) -> tuple[list[Plan], list[StrandedItem]]:
    """The plans an upgrade to ``new`` writes at ``now`` under ``chosen``, and the stranded items it must
    refuse (``refuse`` chosen, or ``carry`` of an item ``new`` cannot settle); see the module docstring."""
    plans: list[Plan] = []
    refused: list[StrandedItem] = []
    by_event: dict[str, list[tuple[OpenItem, str | None]]] = {}
    for item in open_items(context, now):
        choice = chosen[item.kind]
        why = _why(item, new)
        if (choice == "keep" and why is None) or (choice == "refuse" and why is None):
            continue
        if choice == "refuse" or (choice == "carry" and why is not None):
            refused.append(StrandedItem(item.kind, item.event_id, item.needs,
                                        (why or "") + ("; it cannot be carried" if choice == "carry" else ""),
                                        choice, item.ruleset))
            continue
        by_event.setdefault(item.event_id, []).append((item, why))
    for target, items in by_event.items():
        original = context.original(target)
        assert original is not None, "an open item always has its record"
        governing = context.governing(target, original)
        event = Event(f"gp:upgrade:{new.ref}:{target}", "upgrade", original.subject, original.grid or "-", now,
                      {"event": target, "to": new.ref}, original.household, original.community)
        awards: list[Award] = []
        guarded: set[object] = set()
        for item, why in items:
            choice = chosen[item.kind]
            if item.kind == "hold" and choice == "expire":
                plans.append(_cancel_hold(governing, item, original, new, now))
                continue
            award = _award(governing, item, choice, why is not None, new)
            # Two rules of one event share its once-only guard: the record's first award carries it.
            awards.append(award._replace(guards=tuple(g for g in award.guards if g not in guarded)))
            guarded.update(award.guards)
        if awards:
            plans.append(governing.plan(event, awards))
    return plans, refused


def _award(context: Context, item: OpenItem, choice: Choice, stranded_: bool, new: Policy) -> Award:
    """One open item's award in the upgrade's record of it."""
    target = item.event_id
    args = {"event": target, "kind": item.kind, "old": item.ruleset, "new": new.ref, "needs": item.needs,
            "until": item.until or "-"}
    name = f"{item.kind} {item.needs}"
    if choice == "carry":
        return Award(f"upgrade:{item.kind}", name, "upgrade", 0, "upgrade.carried", args, action=UpgradeAction.CARRY,
                     counters=(carried_marker(target, new.ref),))
    if choice == "keep":
        assert stranded_
        return Award(f"upgrade:{item.kind}", name, "upgrade", 0, "upgrade.kept", args, action=UpgradeAction.KEEP)
    if item.kind == "pending":
        rule = context.policy.rules_by_id[item.needs]
        moved = tuple((s, a) for s, a, r in context.index.read(lambda index: list(index.pending.get(target, ())))
                      if r == rule.id)
        return Award.of(rule, sum(a for _, a in moved), "upgrade.pending_expired", args, action=SettleAction.RELEASE,
                        reverses=moved, guards=(settled_marker(target),))
    if item.kind == "appeal":
        if item.until is None:
            # A lodged appeal is still decided, by the version that governs it.
            return Award(f"upgrade:{item.kind}", name, "upgrade", 0, "upgrade.kept", args, action=UpgradeAction.KEEP)
        return Award(f"upgrade:{item.kind}", name, "upgrade", 0, "upgrade.appeal_closed", args,
                     action=UpgradeAction.CLOSE, guards=(appealed_marker(target),))
    repair = context.policy.repair(item.needs)
    return Award(f"upgrade:{item.kind}", repair.name or repair.id, "repair", 0, "upgrade.repair_expired",
                 {**args, "repair": repair.id}, action=RepairAction.EXPIRE,
                 guards=(settled_marker(target),), payload=repair)


def _cancel_hold(context: Context, item: OpenItem, original: Trace, new: Policy, now: datetime) -> Plan:
    """A held redemption the upgrade expires: cancelled now, points and stock returned, by its version."""
    spec = context.policy.item(item.needs)
    assert spec is not None
    request = item.event_id.removeprefix(REDEMPTION_PREFIX)
    placed = datetime.fromisoformat(original.occurred_local)
    return hold_settlement(context, original.subject, spec, request, placed, "cancel", now,
                           event_id=f"gp:upgrade:{new.ref}:{item.event_id}", reason="cancel")


def _keep(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "version_kept"


def _carry(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    (marker,) = award.counters
    decider.add(marker, 1)
    return "carried"


def _close(decider: Decider, plan: Plan, award: Award, amount: int, steps: list[LimitStep]) -> str:
    return "appeal_closed"


MECHANISM = Mechanism(
    "upgrade",
    handlers=(
        Handler(UpgradeAction.KEEP, _keep),
        Handler(UpgradeAction.CARRY, _carry),
        Handler(UpgradeAction.CLOSE, _close),
    ),
)
