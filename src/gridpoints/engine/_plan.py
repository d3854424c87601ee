"""What an event will do, worked out before any lock is taken: the engine's plan types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from gridpoints.model import CounterKey, Event
from gridpoints.policy._compile import CompiledLimit, CompiledRule

LimitKeys = tuple[tuple[CompiledLimit, tuple[CounterKey, ...]], ...]


def settled_marker(event_id: str) -> CounterKey:
    """Set once an event's award or deduction is settled (verified, rejected, expired, repaired, reversed)."""
    return CounterKey("event", event_id, "settled", "-")


def appealed_marker(event_id: str) -> CounterKey:
    """Set once an appeal against an event was decided, either way."""
    return CounterKey("event", event_id, "appealed", "-")


@attrs.frozen(slots=True)
class Award:
    """One movement an event causes, for one rule (or item, challenge …).

    ``action`` picks how the decider turns it into entries: ``award`` (points through the limits),
    ``pending``, ``verify``, ``release`` (pending back to issuance), ``reverse`` (an upheld appeal),
    ``dismiss``, ``credit`` (a grid worker's performance points), ``repair-task``, ``repair-expire``,
    ``redeem``, ``hold``, ``fulfil``, ``unhold``, ``expire-points``, ``bonus``.
    """

    rule_id: str
    rule_name: str
    category: str
    base: int
    code: str
    args: Mapping[str, Any]
    limits: LimitKeys = ()
    action: str = "award"
    #: (sequence number, amount) of the entries a release or reversal undoes.
    reverses: tuple[tuple[int, int], ...] = ()
    #: Counters that must read 0 before, and are set to 1 after (settled at most once).
    guards: tuple[CounterKey, ...] = ()
    #: Further counters the action reads or writes (repair progress, stock, per-subject item limits …).
    counters: tuple[CounterKey, ...] = ()
    #: Whose accounts move, when not the event's subject (a worker's performance credit).
    subject: str | None = None
    #: Action-specific facts (the repair or item spec, amounts computed before the transaction).
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def of(cls, rule: CompiledRule, base: int, code: str, args: Mapping[str, Any], **kw: Any) -> Award:
        return cls(rule.id, rule.name, rule.category, base, code, args, **kw)


@attrs.frozen(slots=True)
class Plan:
    """Everything about an event that does not depend on store state."""

    event: Event
    #: Set for engine-made events whose identity is narrower than their content (a redemption's request).
    custom_fingerprint: str | None
    occurred_local: str
    occurred_utc: str
    awards: tuple[Award, ...]

    @property
    def fingerprint(self) -> str:
        return self.custom_fingerprint or self.event.fingerprint()

    def counter_keys(self) -> Iterable[CounterKey]:
        for award in self.awards:
            for _, keys in award.limits:
                yield from keys
            yield from award.guards
            yield from award.counters

    def accounts(self) -> Iterable[str]:
        from gridpoints.model import spendable

        yield spendable(self.event.subject)
        for award in self.awards:
            if award.subject is not None:
                yield spendable(award.subject)
