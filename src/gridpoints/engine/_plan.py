"""What an event will do, worked out before any lock is taken: the kernel's plan types and actions.

A :class:`Plan` is an event with its local and UTC time text and its :class:`Award` s. Each award names an
action — a ``StrEnum`` member, the key of the decider's handler table — and carries a typed payload for
that action (or none). The kernel's own action is :attr:`Action.AWARD`; each lifecycle mechanism defines
its actions in its own module and registers their handlers (see :mod:`gridpoints.engine.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from gridpoints.model import CounterKey, Event, spendable
from gridpoints.policy import CompiledLimit, CompiledRule

LimitKeys = tuple[tuple[CompiledLimit, tuple[CounterKey, ...]], ...]


class Action(StrEnum):
    """The kernel's actions: points of a rule through the limits (a deduction through the floor), and the
    note that the registry's scopes replaced an event's."""

    AWARD = "award"
    #: Flags an event whose window was already closed (posts nothing).
    LATE = "late"
    #: No movement: the trace notes that the registry's grid or household replaced the event's.
    SCOPE = "scope"


def settled_marker(event_id: str) -> CounterKey:
    """Set once an event's award or deduction is settled (verified, rejected, expired, repaired, reversed)."""
    return CounterKey("event", event_id, "settled", "-")


def closed_marker(kind: str, window: str) -> CounterKey:
    """Set once a period close of ``window`` (of ``kind``: month, week …) has run."""
    return CounterKey("period", kind, "closed", window)


def corrected_after_close(correction_id: str, window: str) -> CounterKey:
    """Set when the correction ``correction_id`` was made after ``window`` had been closed: the corrected event
    keeps counting in that window's rankings (a closed period's results are not rewritten)."""
    return CounterKey("event", correction_id, "after-close", window)


def appealed_marker(event_id: str) -> CounterKey:
    """Set once an appeal against an event was decided, either way."""
    return CounterKey("event", event_id, "appealed", "-")


def carried_marker(event_id: str, ruleset: str) -> CounterKey:
    """Set once an upgrade carried an open item into version ``ruleset`` (which then settles it)."""
    return CounterKey("event", event_id, "carried", ruleset)


def lodged_marker(event_id: str) -> CounterKey:
    """Set once the resident lodged an appeal against an event (its window is then measured at lodging)."""
    return CounterKey("event", event_id, "appeal-lodged", "-")


class Award(NamedTuple):
    """One movement an event causes, for one rule (or item, challenge …), decided by its action's handler."""

    rule_id: str
    rule_name: str
    category: str
    base: int
    code: str
    args: Mapping[str, Any]
    limits: LimitKeys = ()
    action: StrEnum = Action.AWARD
    #: (sequence number, amount) of the entries a release or reversal undoes.
    reverses: tuple[tuple[int, int], ...] = ()
    #: Counters that must read 0 before, and are set to 1 after (settled at most once).
    guards: tuple[CounterKey, ...] = ()
    #: Further counters the action reads or writes (repair progress, stock, per-subject item limits …).
    counters: tuple[CounterKey, ...] = ()
    #: Whose accounts move, when not the event's subject (a worker's performance credit).
    subject: str | None = None
    #: The action's typed facts (a repair's spec, an item and its counters …); None for a plain award.
    payload: Any = None

    @classmethod
    def of(cls, rule: CompiledRule, base: int, code: str, args: Mapping[str, Any], **kw: Any) -> Award:
        return cls(rule.id, rule.name, rule.category, base, code, args, **kw)


class Plan(NamedTuple):
    """Everything about an event that does not depend on store state."""

    event: Event
    #: Set for engine-made events whose identity is narrower than their content (a redemption's request).
    custom_fingerprint: str | None
    occurred_local: str
    occurred_utc: str
    awards: tuple[Award, ...]
    #: The plan is of an event a caller submitted (``submit``/``submit_many``), not one a mechanism made: the
    #: closed-period rule applies to it (flagged late, or refused under ``closed_periods: reject``), checked
    #: inside the commit's transaction after the idempotency lookup.
    submitted: bool = False
    #: A submitted event's position in its ``submit_many`` batch, for the errors that name it; None for a
    #: single submit and for engine-made events.
    batch_index: int | None = None
    #: The ``ruleset@version`` that decides the plan when it is not the committing engine's own (an open item
    #: settled by the older version that governs it); its entries and decision are stamped with it.
    ruleset: str | None = None

    @property
    def fingerprint(self) -> str:
        return self.custom_fingerprint or self.event.fingerprint(self.occurred_utc)

    def counter_keys(self) -> Iterable[CounterKey]:
        for award in self.awards:
            for _, keys in award.limits:
                yield from keys
            yield from award.guards
            yield from award.counters

    def accounts(self) -> Iterable[str]:
        yield spendable(self.event.subject)
        for award in self.awards:
            if award.subject is not None:
                yield spendable(award.subject)
