"""Fairness properties: each a ``check_xxx(policy, events)`` that returns None or raises FairnessViolation.

Every check replays ``events`` (event mappings or :class:`~gridpoints.model.Event` objects, in order) in
fresh :class:`~gridpoints.Engine` s over memory stores and compares what the ledger says with an
independent recomputation, so a check catches a defect in the engine as well as a ruleset that does not
mean what its authors meant. A property the ruleset has nothing for (no caps, no floor …) passes.

Standard properties (:data:`PROPERTIES`): ``caps``, ``shares``, ``attribute_blind``, ``equal_treatment``,
``determinism``, ``idempotency``, ``conservation``, ``floor``, ``positive_events``, ``campaigns``, ``streaks``,
``honours``, ``team_challenges``, ``targeting``, ``appeals_and_repairs``, ``notices``.
Host-declared intents, which need parameters: :func:`check_event_type_bounds` and
:func:`check_concentration`.

Awards are the ledger entries with reason ``award`` (and ``verified``: an award released by a
verification, counted against the limits of the event it verifies); their scope ids and window come from
the originating event, as the engine's do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs

from gridpoints.calendar import window_end, window_id, window_start
from gridpoints.engine._coerce import coerce_event
from gridpoints.engine._engine import Engine
from gridpoints.errors import GridpointsError
from gridpoints.model import Decision, Entry, Event, Membership, MemoryRegistry, Reason, spendable
from gridpoints.policy._compile import CompiledRule, PointsInputError, Policy
from gridpoints.ruleset import ItemSpec
from gridpoints.ruleset._conditions import referenced_fields
from gridpoints.storage import MemoryStore
from gridpoints.testing._messages import Lang, render
from gridpoints.testing.strategies import attribute_literals

__all__ = [
    "PROPERTIES",
    "Bound",
    "Concentration",
    "EventLike",
    "FairnessViolation",
    "PropertyCheck",
    "check_appeals_and_repairs",
    "check_attribute_blind",
    "check_campaigns",
    "check_caps",
    "check_concentration",
    "check_conservation",
    "check_determinism",
    "check_durable_base_points",
    "check_equal_treatment",
    "check_event_type_bounds",
    "check_floor",
    "check_honours",
    "check_idempotency",
    "check_notices",
    "check_positive_events",
    "check_shares",
    "check_streaks",
    "check_targeting",
    "check_team_challenges",
    "event_json",
    "events_jsonl",
]

EventLike = Mapping[str, Any] | Event
PropertyCheck = Callable[[Policy, Sequence[EventLike]], None]


class FairnessViolation(GridpointsError, AssertionError):
    """A fairness property does not hold for an event stream.

    ``property`` names it, ``events`` is the counter-example (the stream, as given), ``detail`` says
    what was wrong in English (with the counter-example once the kit attached it), :meth:`text` says it in
    Chinese or English. ``code`` and ``params`` are the message's catalogue code and values (None and empty
    for a host's own check, whose ``detail`` is shown as given). An ``AssertionError``, so test runners
    report it as a failed assertion.
    """

    def __init__(self, property: str, detail: str, events: Sequence[EventLike], *, code: str | None = None,
                 params: Mapping[str, Any] | None = None, ref: str | None = None,
                 also: Sequence[str] = ()) -> None:
        self.property = property
        self.events = list(events)
        self.code = code
        self.params = dict(params or {})
        #: The ruleset the counter-example is for, once attached (the text then ends with it as JSON Lines).
        self.ref = ref
        #: Other properties that failed too (named at the end of the text).
        self.also = tuple(also)
        self._core = detail
        self.detail = self.text("en")
        super().__init__(f"{property}: {self.detail}")

    @classmethod
    def of(cls, property: str, code: str, events: Sequence[EventLike], **params: Any) -> FairnessViolation:
        """The violation of ``property`` worded by catalogue ``code`` with ``params``."""
        return cls(property, render(code, "en", params), events, code=code, params=params)

    def text(self, lang: Lang = "en") -> str:
        """What was wrong in ``lang``, then (when attached) the counter-example and the other failures."""
        said = render(self.code, lang, self.params) if self.code is not None else self._core
        if self.ref is not None:
            said += (f"\n{render('counterexample', lang, {'ref': self.ref, 'count': len(self.events)})}\n"
                     f"{events_jsonl(self.events)}")
        if self.also:
            said += render("also_failing", lang, {"names": self.also})
        return said

    def evolve(self, *, events: Sequence[EventLike] | None = None, ref: str | None = None,
               also: Sequence[str] | None = None) -> FairnessViolation:
        """The same finding with other events, the counter-example attached for ``ref``, or more failures."""
        return FairnessViolation(self.property, self._core, self.events if events is None else events,
                                 code=self.code, params=self.params, ref=self.ref if ref is None else ref,
                                 also=self.also if also is None else also)


# -- JSON Lines ---------------------------------------------------------------------------------------


def event_json(event: EventLike) -> dict[str, Any]:
    """An event as a JSON-ready mapping (ISO 8601 time, absent optional fields left out)."""
    if isinstance(event, Event):
        data: dict[str, Any] = {"id": event.id, "type": event.type, "subject": event.subject, "grid": event.grid,
                                "household": event.household, "community": event.community, "actor": event.actor,
                                "occurred_at": event.occurred_at, "attributes": dict(event.attributes)}
    else:
        data = dict(event)
    moment = data.get("occurred_at")
    if isinstance(moment, datetime):
        data["occurred_at"] = moment.isoformat()
    if "attributes" in data and data["attributes"] is not None:
        data["attributes"] = dict(data["attributes"])
    return {key: value for key, value in data.items() if value is not None}


def events_jsonl(events: Iterable[EventLike]) -> str:
    """Events as JSON Lines, one per line: the input of ``gridpoints run RULESET events.jsonl``."""
    return "".join(json.dumps(event_json(e), ensure_ascii=False, sort_keys=False) + "\n" for e in events)


# -- replay helpers -----------------------------------------------------------------------------------


def _engine(policy: Policy) -> Engine:
    return Engine(policy, store=MemoryStore())


def _submit_all(policy: Policy, events: Sequence[EventLike]) -> tuple[Engine, list[Decision]]:
    engine = _engine(policy)
    return engine, [engine.submit(event) for event in events]


def _entries(engine: Engine) -> list[Entry]:
    return list(engine.store.entries(engine.tenant))


def _checked(policy: Policy, events: Sequence[EventLike]) -> dict[str, Event]:
    return {event.id: event for event in (coerce_event(policy, raw) for raw in events)}


def _scope_id(policy: Policy, scope: str, event: Event) -> str:
    if scope == "subject":
        return event.subject
    if scope == "household":
        return event.household if event.household is not None else f"subject:{event.subject}"
    if scope == "grid":
        return event.grid
    return event.community or policy.spec.community or policy.id


def _window(policy: Policy, kind: str, event: Event) -> str:
    return window_id(kind, event.occurred_at.astimezone(policy.zone).date())


def _awards(policy: Policy, engine: Engine, events: Mapping[str, Event]) -> Iterable[tuple[Entry, Event, str]]:
    """Award entries in ledger order with the event whose facts scope them and the rule's category."""
    for entry in _entries(engine):
        rule = policy.rules_by_id.get(entry.rule)
        if entry.reason not in Reason.AWARDED or rule is None:
            continue
        origin = events.get(entry.event_id)
        if origin is not None and entry.reason == "verified":
            origin = events.get(str(origin.attributes.get("event")))
        if origin is not None:
            yield entry, origin, rule.category


# -- standard properties ------------------------------------------------------------------------------


def check_caps(policy: Policy, events: Sequence[EventLike]) -> None:
    """Every ``cap`` and ``budget`` holds: the awards it selects total at most its limit per scope id and
    window, recomputed from the ledger."""
    bounded = [limit for limit in policy.limits if limit.kind in ("cap", "budget")]
    if not bounded:
        return
    checked = _checked(policy, events)
    engine, _ = _submit_all(policy, events)
    totals: dict[tuple[str, str, str], int] = {}
    for entry, origin, category in _awards(policy, engine, checked):
        for limit in bounded:
            if not limit.selects(entry.rule, category):
                continue
            key = (limit.id, _scope_id(policy, limit.scope, origin), _window(policy, limit.window, origin))
            totals[key] = totals.get(key, 0) + entry.amount
            if totals[key] > limit.limit:
                raise FairnessViolation.of(
                    "caps", "caps.exceeded", events, kind=limit.kind, id=limit.id, scope=limit.scope,
                    scope_id=key[1], window=limit.window, period=key[2], total=totals[key], limit=limit.limit,
                    event=entry.event_id)


def _above_share(member: int, pool: int, max_share: Fraction, min_total: int) -> bool:
    return pool >= min_total and member > max_share * pool


def check_shares(policy: Policy, events: Sequence[EventLike]) -> None:
    """Every ``share`` does what it says at each award it selects, recomputed from the decisions: the member's
    and the pool's totals before the award are what the share read, a member at or below the share (or in a
    pool still below ``min_total``) is never cut by it, and a member above the share gets nothing."""
    shares = [limit for limit in policy.limits if limit.kind == "share"]
    if not shares:
        return
    checked = _checked(policy, events)
    _, decisions = _submit_all(policy, events)
    for limit in shares:
        assert limit.pool is not None and limit.max_share is not None
        members: dict[tuple[str, str], int] = {}
        pools: dict[tuple[str, str], int] = {}
        for decision in decisions:
            origin = checked.get(decision.event_id)
            for rule in decision.trace.rules:
                step = next((s for s in rule.steps if s.limit_id == limit.id), None)
                if step is None or origin is None:
                    continue
                if rule.base_code == "settle.verified":
                    origin = checked.get(str(origin.attributes.get("event")), origin)
                member = (_scope_id(policy, limit.scope, origin), step.window)
                pool = (_scope_id(policy, limit.pool, origin), step.window)
                held, total = members.get(member, 0), pools.get(pool, 0)
                where = {"id": limit.id, "scope": limit.scope, "member": member[0], "pool": limit.pool,
                         "pool_id": pool[0], "window": limit.window, "period": step.window,
                         "event": decision.event_id, "held": held, "total": total,
                         "share": float(limit.max_share)}
                if (step.before, step.pool) != (held, total):
                    raise FairnessViolation.of("shares", "shares.misread", events, before=step.before,
                                               pool_before=step.pool, **where)
                below = total < limit.min_total or held <= limit.max_share * total
                if below and step.granted != step.requested:
                    raise FairnessViolation.of("shares", "shares.cut_below", events, requested=step.requested,
                                               granted=step.granted, **where)
                # What the ledger received, not what the steps say: a limit that does not limit shows here.
                received = max(rule.granted, 0)
                if not below and received != 0:
                    raise FairnessViolation.of("shares", "shares.paid_above", events, received=received, **where)
                members[member] = held + received
                pools[pool] = total + received


def _check_share(policy: Policy, engine: Engine, checked: Mapping[str, Event], events: Sequence[EventLike],
                 name: str, label: str, member_scope: str, pool_scope: str, window: str, max_share: Fraction,
                 min_total: int, selects: Callable[[str, str], bool]) -> None:
    members: dict[tuple[str, str], int] = {}
    pools: dict[tuple[str, str], int] = {}
    for entry, origin, category in _awards(policy, engine, checked):
        if not selects(entry.rule, category):
            continue
        period = _window(policy, window, origin)
        member = (_scope_id(policy, member_scope, origin), period)
        pool = (_scope_id(policy, pool_scope, origin), period)
        held, total = members.get(member, 0), pools.get(pool, 0)
        if _above_share(held, total, max_share, min_total):
            raise FairnessViolation.of(
                name, "concentration.exceeded", events, label=label, member_scope=member_scope, member=member[0],
                held=held, pool_scope=pool_scope, pool=pool[0], total=total, window=window, period=period,
                share=float(max_share), min_total=min_total, amount=entry.amount, event=entry.event_id)
        members[member] = held + entry.amount
        pools[pool] = total + entry.amount


def _renaming(events: Sequence[Event]) -> dict[str, dict[str, str]]:
    """A bijection per kind onto fresh names, in reverse order (``s1, s2`` → ``s~2, s~1``)."""
    kinds: dict[str, set[str]] = {"subject": set(), "household": set(), "grid": set()}
    for event in events:
        kinds["subject"].add(event.subject)
        kinds["grid"].add(event.grid)
        if event.household is not None:
            kinds["household"].add(event.household)
    mapping: dict[str, dict[str, str]] = {}
    for kind, names in kinds.items():
        ordered = sorted(names)
        mapping[kind] = {name: f"{kind[0]}~{len(ordered) - i}" for i, name in enumerate(ordered)}
    return mapping


def _renamed(event: Event, mapping: Mapping[str, Mapping[str, str]]) -> Event:
    subjects = mapping["subject"]
    return attrs.evolve(
        event, subject=subjects[event.subject], grid=mapping["grid"][event.grid],
        household=mapping["household"][event.household] if event.household is not None else None,
        actor=subjects.get(event.actor, f"actor~{event.actor}") if event.actor is not None else None,
    )


def check_equal_treatment(policy: Policy, events: Sequence[EventLike]) -> None:
    """Renaming subjects, households and grids by a bijection (membership kept) renames the outcome:
    each event gets the same points and each subject ends with the renamed subject's balance. A rule
    that reads ``event.subject``, ``event.household`` or ``event.grid`` fails it."""
    checked = [coerce_event(policy, raw) for raw in events]
    mapping = _renaming(checked)
    original, decisions = _submit_all(policy, checked)
    renamed, renamed_decisions = _submit_all(policy, [_renamed(e, mapping) for e in checked])
    for before, after in zip(decisions, renamed_decisions, strict=True):
        if before.points != after.points:
            raise FairnessViolation.of(
                "equal_treatment", "equal_treatment.points", events, event=before.event_id, subject=before.subject,
                points=before.points, renamed_points=after.points, renamed=after.subject)
    subjects = sorted(mapping["subject"])
    balances = original.balances(subjects)
    renamed_balances = renamed.balances([mapping["subject"][s] for s in subjects])
    for subject in subjects:
        alias = mapping["subject"][subject]
        if balances[subject] != renamed_balances[alias]:
            raise FairnessViolation.of("equal_treatment", "equal_treatment.balance", events, subject=subject,
                                       balance=balances[subject], renamed=alias,
                                       renamed_balance=renamed_balances[alias])


def check_determinism(policy: Policy, events: Sequence[EventLike]) -> None:
    """Two fresh engines given the same events one by one, and a third given them as one batch, write
    identical ledgers (hashes included) and identical decisions."""
    first, first_decisions = _submit_all(policy, events)
    second, second_decisions = _submit_all(policy, events)
    batch = _engine(policy)
    batch_decisions = batch.submit_many(events) if events else []
    reference = _entries(first)
    for label, engine, decisions in (("a second engine", second, second_decisions),
                                     ("a batch (submit_many)", batch, batch_decisions)):
        entries = _entries(engine)
        if entries != reference:
            at = next((i for i, (a, b) in enumerate(zip(reference, entries, strict=False)) if a != b),
                      min(len(reference), len(entries)))
            raise FairnessViolation.of("determinism", "determinism.ledger", events, label=label, at=at + 1,
                                       count=len(entries), reference=len(reference))
        for mine, theirs in zip(first_decisions, decisions, strict=True):
            if (mine.points, mine.trace) != (theirs.points, theirs.trace):
                raise FairnessViolation.of("determinism", "determinism.decision", events, label=label,
                                           event=mine.event_id, theirs=theirs.points, mine=mine.points)


def _resubmit(engine: Engine, events: Sequence[EventLike], originals: Sequence[Decision], batch: bool,
              all_events: Sequence[EventLike]) -> None:
    head = engine.head()
    again = engine.submit_many(events) if batch else [engine.submit(e) for e in events]
    for first, repeat in zip(originals, again, strict=True):
        if not repeat.duplicate or repeat.entries or repeat.points != first.points:
            raise FairnessViolation.of(
                "idempotency", "idempotency.resubmit", all_events, event=first.event_id, points=repeat.points,
                first=first.points, duplicate=repeat.duplicate, entries=len(repeat.entries))
    if engine.head() != head:
        raise FairnessViolation.of("idempotency", "idempotency.head", all_events)


def check_idempotency(policy: Policy, events: Sequence[EventLike]) -> None:
    """Resubmitting a prefix — half-way through (one by one) and at the end (as a batch) — writes
    nothing, returns duplicates with the original points, and leaves later decisions as they were."""
    reference, _ = _submit_all(policy, events)
    engine = _engine(policy)
    half = len(events) // 2
    decisions = [engine.submit(e) for e in events[:half]]
    _resubmit(engine, events[:half], decisions, False, events)
    decisions += [engine.submit(e) for e in events[half:]]
    if events:
        _resubmit(engine, events, decisions, True, events)
    if _entries(engine) != _entries(reference):
        raise FairnessViolation.of("idempotency", "idempotency.ledger", events)


def check_conservation(policy: Policy, events: Sequence[EventLike]) -> None:
    """The ledger balances: all accounts sum to zero, each account's stored balance is what its entries
    say, and each subject's balance is the sum of its own entries."""
    engine, _ = _submit_all(policy, events)
    entries = _entries(engine)
    expected: dict[str, int] = {}
    for entry in entries:
        expected[entry.debit] = expected.get(entry.debit, 0) - entry.amount
        expected[entry.credit] = expected.get(entry.credit, 0) + entry.amount
    stored = engine.store.balances(engine.tenant, sorted(expected))
    if sum(stored.values()) != 0:
        raise FairnessViolation.of("conservation", "conservation.sum", events, total=sum(stored.values()))
    for account, amount in sorted(expected.items()):
        if stored[account] != amount:
            raise FairnessViolation.of("conservation", "conservation.account", events, account=account,
                                       stored=stored[account], expected=amount)
    subjects = sorted({e.subject for e in entries})
    for subject, balance in engine.balances(subjects).items():
        own = sum(e.amount if e.credit == spendable(subject) else -e.amount
                  for e in engine.history(subject) if spendable(subject) in (e.credit, e.debit))
        if balance != own:
            raise FairnessViolation.of("conservation", "conservation.subject", events, subject=subject,
                                       balance=balance, own=own)


def check_floor(policy: Policy, events: Sequence[EventLike]) -> None:
    """With a ``floor``, no deduction takes a spendable balance below it (a balance already below stays
    where it is); checked entry by entry after each event."""
    floor = policy.spec.floor
    if floor is None:
        return
    engine = _engine(policy)
    running: dict[str, int] = {}
    for raw in events:
        decision = engine.submit(raw)
        for entry in decision.entries:
            before = running.get(entry.debit, 0)
            running[entry.debit] = before - entry.amount
            running[entry.credit] = running.get(entry.credit, 0) + entry.amount
            if entry.reason == "deduction" and running[entry.debit] < min(floor, before):
                raise FairnessViolation.of("floor", "floor.below", events, event=entry.event_id,
                                           subject=entry.subject, before=before, after=running[entry.debit],
                                           floor=floor)


def check_positive_events(policy: Policy, events: Sequence[EventLike]) -> None:
    """An event whose every matched rule has positive base points never lowers its subject's spendable
    balance: limits may cut an award to 0, never below."""
    engine = _engine(policy)
    for raw in events:
        event = coerce_event(policy, raw)
        before = engine.balance(event.subject)
        decision = engine.submit(raw)
        rules = decision.trace.rules
        if not rules or any(rule.base <= 0 for rule in rules):
            continue
        after = engine.balance(event.subject)
        lowered = [rule.rule_id for rule in rules if rule.granted < 0]
        if after < before or decision.points < 0 or lowered:
            raise FairnessViolation.of(
                "positive_events", "positive_events.lowered_rules" if lowered else "positive_events.lowered", events,
                event=event.id, subject=event.subject, before=before, after=after, rules=lowered)


def _campaign_expected(policy: Policy, rule_id: str, category: str, plain: int, event: Event
                       ) -> tuple[str | None, int]:
    """The campaign a positive award should get, worked out from the spec: (campaign id, points)."""
    best: str | None = None
    most = plain
    fields = policy.condition_fields(event.subject, event.grid, event.household, event.community, event.actor,
                                     event.occurred_at)
    for compiled in policy.campaigns:
        spec = compiled.spec
        if spec.rules is not None and rule_id not in spec.rules:
            continue
        if spec.categories is not None and category not in spec.categories:
            continue
        if not spec.valid_from <= event.occurred_at < spec.valid_until:
            continue
        if compiled.predicate is not None and not compiled.predicate(event.attributes, fields):
            continue
        raised = int(Decimal(str(spec.multiplier)) * plain) + spec.bonus
        if raised > most:
            best, most = spec.id, raised
    return best, most


def check_campaigns(policy: Policy, events: Sequence[EventLike]) -> None:
    """Dated rules match only while in force, and every award of a rule on an event gets exactly the campaign
    the ruleset says — the one in force (window, rules or categories, ``when``) giving the most points, the
    first listed on a tie — with base × multiplier + bonus; none outside every campaign."""
    if not policy.campaigns and not any(r.valid_from or r.valid_until for r in policy.rules):
        return
    engine = _engine(policy)
    for raw in events:
        event = coerce_event(policy, raw)
        decision = engine.submit(raw)
        for row in decision.trace.rules:
            rule = policy.rules_by_id.get(row.rule_id)
            if rule is None or rule.on != event.type:
                continue
            spec = rule.spec
            if (spec.valid_from is not None and event.occurred_at < spec.valid_from) or (
                    spec.valid_until is not None and event.occurred_at >= spec.valid_until):
                raise FairnessViolation.of("campaigns", "campaigns.validity", events, rule=rule.id, event=event.id,
                                           at=event.occurred_at.isoformat())
            args = dict(row.base_args)
            plain = args.get("plain", row.base)
            wanted, points = _campaign_expected(policy, rule.id, rule.category, plain, event) if plain > 0 \
                else (None, plain)
            if args.get("campaign") != wanted or row.base != points:
                raise FairnessViolation.of(
                    "campaigns", "campaigns.wrong", events, event=event.id, rule=rule.id,
                    campaign=args.get("campaign"), points=row.base, wanted=wanted, expected=points)
def _roster(policy: Policy, events: Mapping[str, Event]) -> list[Membership]:
    """Every subject of the stream, registered in its last event's grid; every other subject (by the order
    they appear) holds all the tags and the first age band the catalog's eligibility names, so targeted items
    have both eligible and ineligible claimants."""
    tags = sorted({t for item in policy.spec.catalog if item.eligibility for t in item.eligibility.tags or ()})
    bands = sorted({b for item in policy.spec.catalog if item.eligibility for b in item.eligibility.age_bands or ()})
    places: dict[str, Event] = {}
    for event in events.values():
        places[event.subject] = event
    return [Membership(subject, event.grid, event.household, ("resident",), tags=tags if n % 2 else (),
                       age_band=bands[0] if bands and n % 2 else None)
            for n, (subject, event) in enumerate(places.items())]


def check_targeting(policy: Policy, events: Sequence[EventLike]) -> None:
    """Targeted items (精准服务) and entitlements: after the stream, every subject claims every item one more
    time than its per-subject limit allows; each granted claim must meet the item's eligibility as
    recomputed from the registry and the ledger (grid, tags, age band, balance bounds, earned this window),
    no subject exceeds its limit nor the item its stock, and an entitlement (cost 0) moves no points."""
    catalog = [item for item in policy.spec.catalog if item.hold is None and item.allocate is None
               and (item.eligibility is None or item.eligibility.tiers is None)]
    if not catalog:
        return
    checked = _checked(policy, events)
    engine = Engine(policy, store=MemoryStore(), registry=MemoryRegistry(_roster(policy, checked)))
    for event in events:
        engine.submit(event)
    moments = [event.occurred_at for event in checked.values()]
    at = max(moments) if moments else datetime.fromisoformat("2026-01-01T00:00:00+08:00")
    members = {m.subject: m for m in engine.registry.memberships()}
    for item in catalog:
        tries = (item.limit.per_subject if item.limit else 1) + 1
        taken = 0
        for subject, member in sorted(members.items()):
            won = 0
            for attempt in range(tries):
                balance = engine.balance(subject)
                window_earned = _earned_in_window(policy, engine, subject, item, at)
                try:
                    decision = engine.redeem(subject, item.id, f"fair:{item.id}:{subject}:{attempt}", at=at)
                except GridpointsError:
                    continue
                won += 1
                taken += 1
                why = _ineligible(item, member, balance, window_earned)
                if why is not None:
                    raise FairnessViolation.of("targeting", why[0], events, subject=subject, item=item.id,
                                               **why[1])
                if item.cost == 0 and decision.entries:
                    raise FairnessViolation.of("targeting", "targeting.entitlement", events, item=item.id,
                                               subject=subject)
            if item.limit is not None and won > item.limit.per_subject:
                raise FairnessViolation.of("targeting", "targeting.over_limit", events, subject=subject,
                                           item=item.id, won=won, limit=item.limit.per_subject)
        if item.stock is not None and taken > item.stock:
            raise FairnessViolation.of("targeting", "targeting.stock", events, taken=taken, item=item.id,
                                       stock=item.stock)


def _earned_in_window(policy: Policy, engine: Engine, subject: str, item: ItemSpec, at: datetime) -> int:
    bound = item.eligibility.earned if item.eligibility is not None else None
    if bound is None:
        return 0
    window = window_id(bound.window, at.astimezone(policy.zone).date())
    account = spendable(subject)
    total = 0
    for entry in engine.history(subject):
        moment = datetime.fromisoformat(entry.occurred_at)
        if (entry.credit == account and entry.reason in Reason.EARNED and moment < at
                and window_id(bound.window, moment.astimezone(policy.zone).date()) == window):
            total += entry.amount
    return total


def _ineligible(item: ItemSpec, member: Membership, balance: int, earned: int
                ) -> tuple[str, dict[str, Any]] | None:
    """Why ``member`` may not have ``item``: a ``targeting.*`` message code and its parameters, or None."""
    rules = item.eligibility
    if rules is None:
        return None
    if rules.grids is not None and member.grid not in rules.grids:
        return "targeting.grid", {"grid": member.grid, "allowed": rules.grids}
    if rules.tags is not None and not member.tags & set(rules.tags):
        return "targeting.tags", {"allowed": rules.tags}
    if rules.age_bands is not None and member.age_band not in rules.age_bands:
        return "targeting.age_band", {"band": member.age_band, "allowed": rules.age_bands}
    if rules.roles is not None and not member.roles & set(rules.roles):
        return "targeting.roles", {"allowed": rules.roles}
    if rules.min_balance is not None and balance < rules.min_balance:
        return "targeting.min_balance", {"balance": balance, "bound": rules.min_balance}
    if rules.max_balance is not None and balance > rules.max_balance:
        return "targeting.max_balance", {"balance": balance, "bound": rules.max_balance}
    bound = rules.earned
    if bound is not None and ((bound.min is not None and earned < bound.min)
                              or (bound.max is not None and earned > bound.max)):
        return "targeting.earned", {"earned": earned, "window": bound.window, "min": bound.min, "max": bound.max}
    return None


def check_appeals_and_repairs(policy: Policy, events: Sequence[EventLike]) -> None:
    """Residents' appeals and repair evidence: after the stream, each appealable deduction of one subject
    in two is appealed by staff one second after its window closed (refused, nothing written), the other's
    is lodged by the resident at the last second of the window and decided by staff after it (accepted: the
    window is measured at lodging); every open repair whose spec has ``verify`` is sent a self-reported
    task covering all it needs (refused, nothing written)."""
    checked = _checked(policy, events)
    roster = [Membership(m.subject, m.grid, m.household, ("resident",)) for m in _roster(policy, checked)]
    staff = Membership("gp-fair-staff", "-", None, ("grid_worker", *_appeal_roles(policy)))
    engine = Engine(policy, store=MemoryStore(), registry=MemoryRegistry([*roster, staff]))
    for event in events:
        engine.submit(event)
    for n, (entry, rule) in enumerate(_appealable(policy, engine)):
        assert rule.spec.appeal is not None
        occurred = datetime.fromisoformat(entry.occurred_at)
        closes = occurred + rule.spec.appeal.within
        base = {"type": "appeal", "subject": entry.subject, "grid": checked[entry.event_id].grid}
        before = len(_entries(engine))
        if n % 2:
            try:
                engine.submit({**base, "id": f"fair-late:{entry.event_id}", "actor": staff.subject,
                               "occurred_at": (closes + timedelta(seconds=1)).isoformat(),
                               "attributes": {"event": entry.event_id, "outcome": "upheld"}})
            except GridpointsError:
                pass
            else:
                raise FairnessViolation.of("appeals_and_repairs", "appeals.late_accepted", events,
                                           event=entry.event_id)
            if len(_entries(engine)) != before:
                raise FairnessViolation.of("appeals_and_repairs", "appeals.refused_wrote", events)
            continue
        try:
            engine.submit({**base, "id": f"fair-lodge:{entry.event_id}", "occurred_at": closes.isoformat(),
                           "attributes": {"event": entry.event_id, "outcome": "lodged"}})
            decided = engine.submit({**base, "id": f"fair-decide:{entry.event_id}", "actor": staff.subject,
                                     "occurred_at": (closes + timedelta(days=2)).isoformat(),
                                     "attributes": {"event": entry.event_id, "outcome": "upheld"}})
        except GridpointsError as exc:
            raise FairnessViolation.of("appeals_and_repairs", "appeals.lodged_refused", events,
                                       event=entry.event_id, error=str(exc)) from None
        if decided.points != entry.amount:
            raise FairnessViolation.of("appeals_and_repairs", "appeals.gave_back", events, event=entry.event_id,
                                       points=decided.points, amount=entry.amount)
    for member in roster:
        for status in engine.repairs(member.subject):
            spec = policy.repair(status.repair)
            if spec.verify is None or status.status not in ("open", "in_progress"):
                continue
            before_balance, before = engine.balance(member.subject), len(_entries(engine))
            task = {"type": spec.task[0], "subject": member.subject, "grid": member.grid,
                    "occurred_at": status.deadline,
                    "attributes": {"repair": status.event_id, **({spec.per: float(status.remaining)}
                                                                if spec.per is not None else {})}}
            # Unattested, and attested by the violator themself (what a host app filling in its user does).
            for tag, actor in (("none", None), ("self", member.subject)):
                try:
                    engine.submit({**task, "id": f"fair-self-{tag}:{status.event_id}", "actor": actor})
                except GridpointsError:
                    continue
                raise FairnessViolation.of("appeals_and_repairs", "repairs.self_reported", events, tag=tag,
                                           event=status.event_id)
            if engine.balance(member.subject) != before_balance or len(_entries(engine)) != before:
                raise FairnessViolation.of("appeals_and_repairs", "repairs.refused_wrote", events)


def _appeal_roles(policy: Policy) -> tuple[str, ...]:
    return tuple(sorted({r for rule in policy.spec.rules if rule.appeal is not None for r in rule.appeal.by or ()}))


def _appealable(policy: Policy, engine: Engine) -> list[tuple[Entry, CompiledRule]]:
    """Each stream deduction (first entry per event) whose rule allows an appeal, in ledger order."""
    found: dict[str, tuple[Entry, CompiledRule]] = {}
    for entry in _entries(engine):
        rule = policy.rules_by_id.get(entry.rule)
        if entry.reason == Reason.DEDUCTION and rule is not None and rule.spec.appeal is not None:
            found.setdefault(entry.event_id, (entry, rule))
    return list(found.values())


def check_notices(policy: Policy, events: Sequence[EventLike]) -> None:
    """The outbox tells the ledger's story: with ``notify=True``, each subject's points awarded and deducted
    notices sum to its spendable entries' net (the mall's own movements aside), cursors run 1, 2, 3 …, and
    a resubmitted stream tells nothing more."""
    engine = Engine(policy, store=MemoryStore(), notify=True)
    for event in events:
        engine.submit(event)
    told = engine.notices(after=0, limit=None)
    if [n.cursor for n in told] != list(range(1, len(told) + 1)):
        raise FairnessViolation.of("notices", "notices.cursors", events, cursors=[n.cursor for n in told])
    kinds = policy.spec.notices.kinds
    if kinds is not None and not {"points_awarded", "points_deducted"} <= set(kinds):
        return
    said: dict[str, int] = {}
    for notice in told:
        if notice.kind in ("points_awarded", "points_deducted"):
            said[notice.subject] = said.get(notice.subject, 0) + notice.points
    moved: dict[str, int] = {}
    for entry in _entries(engine):
        if entry.reason in Reason.REDEMPTION:
            continue
        account = spendable(entry.subject)
        change = entry.amount if entry.credit == account else -entry.amount if entry.debit == account else 0
        if change:
            moved[entry.subject] = moved.get(entry.subject, 0) + change
    for subject in sorted(set(said) | set(moved)):
        if said.get(subject, 0) != moved.get(subject, 0):
            raise FairnessViolation.of("notices", "notices.sum", events, subject=subject,
                                       told=said.get(subject, 0), moved=moved.get(subject, 0))
    for event in events:
        engine.submit(event)
    if len(engine.notices(after=0, limit=None)) != len(told):
        raise FairnessViolation.of("notices", "notices.again", events)


def check_streaks(policy: Policy, events: Sequence[EventLike]) -> None:
    """Every streak pays its bonus exactly when a subject's run of consecutive local days (or ISO weeks) with
    a counted event reaches its length (again at each multiple, with ``repeat``) — recomputed from the
    events in the order decided, a gap starting a new run and an event dated before the last counted
    period not counting."""
    if not policy.spec.streaks:
        return
    engine = _engine(policy)
    runs: dict[tuple[str, str], tuple[int, int]] = {}
    for raw in events:
        event = coerce_event(policy, raw)
        decision = engine.submit(raw)
        paid = {row.rule_id: row.granted for row in decision.trace.rules if row.rule_id.startswith("streak:")}
        day = event.occurred_at.astimezone(policy.zone).date()
        fields = policy.condition_fields(event.subject, event.grid, event.household, event.community, event.actor,
                                         event.occurred_at)
        for streak in policy.spec.streaks:
            predicate = policy.streak_predicates.get(streak.id)
            counted = event.type in streak.on and (predicate is None or predicate(event.attributes, fields))
            expected = 0
            if counted:
                ordinal = day.toordinal() if streak.period == "day" else (day.toordinal() - day.isoweekday() + 1) // 7
                last, run = runs.get((event.subject, streak.id), (0, 0))
                if ordinal > last:
                    run = run + 1 if last and ordinal == last + 1 else 1
                    runs[(event.subject, streak.id)] = (ordinal, run)
                    if run == streak.length or (streak.repeat and run % streak.length == 0):
                        expected = streak.bonus
            got = paid.get(f"streak:{streak.id}")
            if (got is None) == counted or (got or 0) != expected:
                raise FairnessViolation.of("streaks", "streaks.paid" if counted else "streaks.paid_no_row", events,
                                           event=event.id, streak=streak.id, got=got, expected=expected)


def check_honours(policy: Policy, events: Sequence[EventLike]) -> None:
    """A badge or milestone is earned at most once and a title once per win; every milestone on earned
    points or earning events is held exactly when the ledger's earning entries of its rules reach ``at``."""
    if not policy.spec.honours:
        return
    engine, decisions = _submit_all(policy, events)
    earned_rows: dict[tuple[str, str], int] = {}
    for decision in decisions:
        for row in decision.trace.rules:
            if row.rule_id.startswith("honour:") and row.status == "honoured":
                key = (decision.subject, row.rule_id.removeprefix("honour:"))
                earned_rows[key] = earned_rows.get(key, 0) + 1
    points: dict[tuple[str, str], int] = {}
    counted: dict[tuple[str, str], set[str]] = {}
    for entry in _entries(engine):
        if entry.credit == spendable(entry.subject) and entry.reason in Reason.EARNED:
            points[(entry.subject, entry.rule)] = points.get((entry.subject, entry.rule), 0) + entry.amount
            counted.setdefault((entry.subject, entry.rule), set()).add(entry.event_id)
    subjects = {decision.subject for decision in decisions}
    for subject in sorted(subjects):
        held = {h.id: h for h in engine.honours(subject)}
        for honour in policy.spec.honours:
            times = earned_rows.get((subject, honour.id), 0)
            if (honour.id in held) != bool(times) or (honour.id in held and held[honour.id].times != times):
                raise FairnessViolation.of("honours", "honours.times", events, subject=subject, honour=honour.id,
                                           held=held[honour.id].times if honour.id in held else 0, times=times)
            if honour.challenge is None and times > 1:
                raise FairnessViolation.of("honours", "honours.repeated", events, subject=subject,
                                           honour=honour.id, times=times)
            milestone = honour.milestone
            if milestone is None or milestone.metric == "units":
                continue
            total = (sum(points.get((subject, r), 0) for r in milestone.rules) if milestone.metric == "points"
                     else len(set().union(*(counted.get((subject, r), set()) for r in milestone.rules))))
            if (total >= milestone.at) != (honour.id in held):
                raise FairnessViolation.of("honours", "honours.milestone", events, subject=subject,
                                           metric=milestone.metric, rules=milestone.rules, total=total,
                                           at=milestone.at, held=honour.id in held)


def check_team_challenges(policy: Policy, events: Sequence[EventLike]) -> None:
    """Each team challenge (households, buildings, grids), closed for every window the events touch with
    a registry made from the events' own subject, grid and household, pays exactly the members of the
    teams that rank top by their members' earned points together (ties to the team that reached its total
    first, then the smaller id), and pays them by the split: ``each`` the bonus, ``equal`` shares differing
    by at most one and summing to the bonus, ``proportional`` summing to the bonus, never more to a member
    who earned less. Challenges with rotation are checked for the split only."""
    teams = [c for c in policy.spec.challenges if c.team != "subject"]
    if not teams or not events:
        return
    checked = list(_checked(policy, events).values())
    registry = MemoryRegistry()
    for event in checked:
        if registry.membership(event.subject, event.occurred_at) is None:
            registry.add(Membership(event.subject, event.grid, event.household))
    engine = Engine(policy, store=MemoryStore(), registry=registry)
    for raw in events:
        engine.submit(raw)
    kinds = sorted({c.window for c in teams})
    windows = sorted({(kind, window_id(kind, e.occurred_at.astimezone(policy.zone).date())) for kind in kinds
                      for e in checked})
    reports = []
    for kind, window in windows:
        end = datetime.combine(window_end(kind, window), datetime.min.time(), policy.zone)
        reports.append((kind, window, end, engine.close_period(window, now=end)))
    entries = _entries(engine)
    for kind, window, end, report in reports:
        start = datetime.combine(window_start(kind, window), datetime.min.time(), policy.zone)
        earned: dict[str, tuple[int, str]] = {}
        for entry in entries:
            moment = datetime.fromisoformat(entry.occurred_at)
            if entry.credit == spendable(entry.subject) and entry.reason in Reason.EARNED and start <= moment < end:
                points, last = earned.get(entry.subject, (0, ""))
                earned[entry.subject] = (points + entry.amount, max(last, entry.occurred_at))
        for spec in teams:
            if spec.window != kind:
                continue
            got = report.teams.get(spec.id, ())
            _check_team_payments(spec, window, registry, earned, end, got, entries, events)


def _check_team_payments(spec: Any, window: str, registry: MemoryRegistry, earned: Mapping[str, tuple[int, str]],
                         end: datetime, got: Sequence[Any], entries: Sequence[Entry],
                         events: Sequence[EventLike]) -> None:
    members: dict[str, list[str]] = {}
    for membership in registry.memberships():
        team = (membership.household or f"subject:{membership.subject}") if spec.team == "household" else (
            membership.building if spec.team == "building" else membership.grid)
        if team is not None:
            members.setdefault(team, []).append(membership.subject)
    rows = []
    for team, people in members.items():
        points = sum(earned.get(s, (0, ""))[0] for s in people)
        last = max((earned.get(s, (0, ""))[1] for s in people), default="")
        grid = registry.membership(sorted(people)[0], end - timedelta(microseconds=1))
        if points >= spec.min_earned:
            rows.append((-points, last, team, grid.grid if grid is not None else "-"))
    rows.sort()
    wanted: list[str] = []
    for place in sorted({r[3] for r in rows}) if spec.scope == "grid" else [None]:
        wanted += [r[2] for r in rows if place is None or r[3] == place][:spec.top]
    if spec.rotation is None and sorted(wanted) != sorted(t.team for t in got):
        raise FairnessViolation.of("team_challenges", "team_challenges.winners", events, id=spec.id,
                                   window=window, winners=[t.team for t in got], wanted=wanted)
    for standing in got:
        paid = dict(standing.paid)
        if sorted(paid) != sorted(members.get(standing.team, [])):
            raise FairnessViolation.of("team_challenges", "team_challenges.members", events, id=spec.id,
                                       window=window, paid=sorted(paid), team=standing.team)
        amounts = list(paid.values())
        own = {s: earned.get(s, (0, ""))[0] for s in paid}
        fair = {"each": all(a == spec.bonus for a in amounts),
                "equal": sum(amounts) == spec.bonus and max(amounts) - min(amounts) <= 1,
                "proportional": (sum(amounts) == spec.bonus or not any(own.values())) and all(
                    paid[a] <= paid[b] for a in paid for b in paid if own[a] < own[b])}[spec.split]
        ledger = {s: sum(e.amount for e in entries if e.event_id == f"gp:challenge:{spec.id}:{window}:{s}"
                         and e.credit == spendable(s)) for s in paid}
        if not fair or ledger != paid:
            raise FairnessViolation.of("team_challenges", "team_challenges.split", events, id=spec.id,
                                       window=window, team=standing.team, paid=paid, split=spec.split,
                                       bonus=spec.bonus)


def _alternatives(policy: Policy, event_type: str, name: str, value: Any) -> list[Any]:
    """Other values an attribute could have had: absent, the other values of a declared enum, the other truth
    value, and the literals the type's rules mention for it; ``_ABSENT`` stands for "not given"."""
    etype = policy.event_types[event_type]
    check = etype.attributes.get(name)
    options: list[Any] = []
    if check is None or not check.required:
        options.append(_ABSENT)
    if check is not None and check.enum is not None:
        options.extend(sorted(check.enum, key=str))
    if isinstance(value, bool) or (check is not None and check.type == "boolean"):
        options.extend([True, False])
    options.extend(attribute_literals(etype).get(name, ()))
    unique: list[Any] = []
    for option in options:
        if option is not _ABSENT and (option is value or (type(option) is type(value) and option == value)):
            continue
        if not any(option is u or (type(option) is type(u) and option == u) for u in unique):
            unique.append(option)
    return unique


_ABSENT = object()


def _outcome(rule: CompiledRule, attributes: Mapping[str, Any], context: Mapping[str, Any]) -> int | None:
    """The rule's base points for these attributes, or None when it does not match (or cannot compute)."""
    if rule.predicate is not None and not rule.predicate(attributes, context):
        return None
    try:
        return rule.points(attributes)[0]
    except PointsInputError:
        return None


def check_attribute_blind(policy: Policy, events: Sequence[EventLike]) -> None:
    """A rule's points depend only on legitimate grounds: changing (or dropping) any other attribute of an
    event never changes whether a rule matches or its base points. Legitimate are the rule's points measure
    (``per``, ``by``, ``from``) and the attributes its ``legitimate`` and its event type's ``legitimate``
    lists name; a bonus for ``party_member: true`` the author has not declared fails it."""
    for raw in events:
        event = coerce_event(policy, raw)
        etype = policy.event_types[event.type]
        if etype.ignore or not etype.rules:
            continue
        context = {"subject": event.subject, "grid": event.grid, "household": event.household,
                   "community": event.community, "actor": event.actor}
        for rule in etype.rules:
            grounds = policy.spec.legitimate_grounds(rule.spec)
            read = {name for name in referenced_fields(rule.spec.when or {}) if not name.startswith("event.")}
            suspects = sorted(read - grounds)
            if not suspects:
                continue
            base = _outcome(rule, event.attributes, context)
            for name in suspects:
                for other in _alternatives(policy, event.type, name, event.attributes.get(name, _ABSENT)):
                    changed = {k: v for k, v in event.attributes.items() if k != name}
                    if other is not _ABSENT:
                        changed[name] = other
                    moved = _outcome(rule, changed, context)
                    if moved != base:
                        given = event.attributes.get(name, _ABSENT)
                        raise FairnessViolation.of(
                            "attribute_blind", "attribute_blind.ground", events, rule=rule.id, event=event.id,
                            base=base, moved=moved, name=name,
                            was=None if given is _ABSENT else f"{name} = {given!r}",
                            shown=None if other is _ABSENT else f"{name} = {other!r}")


_ORACLES: dict[int, tuple[Policy, Any]] = {}


def _durable_oracle(policy: Policy) -> Any:
    """One durable_rules oracle per policy object (its registry is process-global: declare each once)."""
    from gridpoints.backends.durable import DurableOracle

    kept = _ORACLES.get(id(policy))
    if kept is None or kept[0] is not policy:
        if len(_ORACLES) > 64:
            _ORACLES.clear()
        kept = _ORACLES[id(policy)] = (policy, DurableOracle(policy))
    return kept[1]


def check_durable_base_points(policy: Policy, events: Sequence[EventLike]) -> None:
    """The engine's base points equal durable_rules' for every event: the rules that match and each one's
    base points, from :class:`gridpoints.backends.durable.DurableOracle` (an independent compilation of the
    event types, ``when:`` conditions and points forms). Needs the ``durable`` extra."""
    oracle = _durable_oracle(policy)
    engine = _engine(policy)
    for raw in events:
        event = coerce_event(policy, raw)
        decision = engine.submit(raw)
        mine = {rule.rule_id: rule.base for rule in decision.trace.rules if rule.rule_id in policy.rules_by_id}
        theirs = oracle.base_points(event)
        if mine != theirs:
            raise FairnessViolation.of("durable_base_points", "durable_base_points.differ", events,
                                       event=event.id, mine=mine, theirs=theirs)


#: The standard properties by name, in the order they are run and reported.
PROPERTIES: Mapping[str, PropertyCheck] = {
    "caps": check_caps,
    "shares": check_shares,
    "attribute_blind": check_attribute_blind,
    "equal_treatment": check_equal_treatment,
    "determinism": check_determinism,
    "idempotency": check_idempotency,
    "conservation": check_conservation,
    "floor": check_floor,
    "positive_events": check_positive_events,
    "campaigns": check_campaigns,
    "streaks": check_streaks,
    "honours": check_honours,
    "team_challenges": check_team_challenges,
    "targeting": check_targeting,
    "appeals_and_repairs": check_appeals_and_repairs,
    "notices": check_notices,
}


# -- host-declared intents ----------------------------------------------------------------------------

ScopeName = Literal["subject", "household", "grid", "community"]
WindowName = Literal["day", "week", "month", "quarter", "year"]


@attrs.frozen(slots=True)
class Bound:
    """An intended bound: at most ``limit`` points per ``scope`` id and calendar ``window``."""

    scope: ScopeName
    window: WindowName
    limit: int

    @classmethod
    def of(cls, value: Bound | tuple[str, str, int]) -> Bound:
        """A bound from itself or a ``(scope, window, limit)`` tuple; raises ``ValueError`` if malformed."""
        if isinstance(value, Bound):
            return value
        scope, window, limit = value
        if scope not in ("subject", "household", "grid", "community"):
            raise ValueError(f"bound scope must be subject, household, grid or community, got {scope!r}")
        if window not in ("day", "week", "month", "quarter", "year"):
            raise ValueError(f"bound window must be day, week, month, quarter or year, got {window!r}")
        return cls(scope, window, int(limit))  # type: ignore[arg-type]  # checked against the literals above


def check_event_type_bounds(policy: Policy, events: Sequence[EventLike],
                            bounds: Mapping[str, Bound | tuple[str, str, int]]) -> None:
    """Points awarded for each bounded event type, all rules together, stay within the host's intended
    ``(scope, window, limit)``. The engine cannot exceed a cap it has; this catches the cap a ruleset
    *meant* to have — e.g. a second rule on the same event type that the cap's ``rules`` forgot."""
    wanted = {name: Bound.of(bound) for name, bound in bounds.items()}
    if not wanted:
        return
    checked = _checked(policy, events)
    engine, _ = _submit_all(policy, events)
    totals: dict[tuple[str, str, str], int] = {}
    for entry, origin, _category in _awards(policy, engine, checked):
        bound = wanted.get(origin.type)
        if bound is None:
            continue
        key = (origin.type, _scope_id(policy, bound.scope, origin), _window(policy, bound.window, origin))
        totals[key] = totals.get(key, 0) + entry.amount
        if totals[key] > bound.limit:
            raise FairnessViolation.of(
                "event_type_bounds", "event_type_bounds.exceeded", events, type=origin.type, scope=bound.scope,
                scope_id=key[1], total=totals[key], window=bound.window, period=key[2], limit=bound.limit,
                event=entry.event_id, rule=entry.rule)


def _optional_set(values: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


@attrs.frozen(slots=True)
class Concentration:
    """An intended concentration bound (积分垄断): once a ``pool``'s awarded points in a ``window`` reach
    ``min_total``, a ``member`` holding more than ``max_share`` of them is awarded nothing more (checked at
    each award, as a ``share`` limit works)."""

    max_share: float
    pool: Literal["grid", "community"] = "grid"
    member: Literal["subject", "household"] = "subject"
    window: WindowName = "month"
    min_total: int = 100
    #: Count only awards in these categories (all if None).
    categories: frozenset[str] | None = attrs.field(default=None, converter=_optional_set)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.max_share <= 1:
            raise ValueError(f"max_share must be in (0, 1], got {self.max_share!r}")


def check_concentration(policy: Policy, events: Sequence[EventLike], bound: Concentration) -> None:
    """No member already holding more than ``bound.max_share`` of its pool's awarded points (once the pool
    reached ``bound.min_total``) is awarded more — the host's intent, whatever ``share`` limits the ruleset
    has (a share whose ``min_total`` is never reached does not bind, and this reports it)."""
    checked = _checked(policy, events)
    engine, _ = _submit_all(policy, events)
    categories = bound.categories
    _check_share(policy, engine, checked, events, "concentration", "intended bound", bound.member, bound.pool,
                 bound.window, Fraction(str(bound.max_share)), bound.min_total,
                 lambda _rule, category: categories is None or category in categories)

