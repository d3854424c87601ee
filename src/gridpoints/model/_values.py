"""Value types that cross module boundaries: events, ledger entries, counters, decisions and traces.

All are frozen and slotted. Ledger entries are hashed over a canonical JSON form whose field order is
fixed here, so a stored entry can be re-verified by any adapter or auditor without gridpoints' help.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import attrs

from gridpoints.model._codec import (
    entry_canonical_bytes,
    fingerprint_text,
    head_canonical_bytes,
    record_canonical_bytes,
    record_json,
    seal,
)
from gridpoints.model._explain import render

Scope = Literal["subject", "household", "grid", "community"]
WindowKind = Literal["day", "week", "month", "quarter", "year"]

GENESIS_HASH = "0" * 64

#: The community-side account every award is issued from.
ISSUANCE = "community:issuance"
#: The community-side account deductions flow back into.
DEDUCTIONS = "community:deductions"
#: Where redeemed points go (the points mall's sink).
REDEMPTIONS = "community:redemptions"
#: Where expired points go.
EXPIRED = "community:expired"
#: The account staff adjustments (人工调整) are credited from and debited to.
ADJUSTMENTS = "community:adjustments"


# Account names, one string object per subject and kind: entries, balances and counters in a long replay
# share them instead of each holding a copy. Bounded: past the limit the cache starts again.
_ACCOUNTS: dict[str, dict[str, str]] = {"spendable": {}, "pending": {}, "held": {}}
_ACCOUNTS_MAX = 500_000
_SPENDABLE = _ACCOUNTS["spendable"]


def _account(subject: str, kind: str) -> str:
    names = _ACCOUNTS[kind]
    name = names.get(subject)
    if name is None:
        if len(names) >= _ACCOUNTS_MAX:
            names.clear()
        name = names[subject] = f"subject:{subject}:{kind}"
    return name


def spendable(subject: str) -> str:
    """The account holding a subject's spendable points."""
    name = _SPENDABLE.get(subject)
    return name if name is not None else _account(subject, "spendable")


def pending(subject: str) -> str:
    """The account holding a subject's awards that wait for verification."""
    return _account(subject, "pending")


def held(subject: str) -> str:
    """The account holding points reserved for a redemption not yet fulfilled."""
    return _account(subject, "held")


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _freeze(mapping: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Mapping[str, Any]:
    """A read-only mapping of a mapping or of ``(name, value)`` items (a compact trace keeps items)."""
    if not mapping:
        return _EMPTY
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping))


@attrs.frozen(slots=True)
class Event:
    """Something a resident did (or that happened to them), reported by the host.

    ``occurred_at`` must be timezone-aware: the engine never guesses a zone. ``grid`` is the subject's
    grid at the time of the event (membership changes over time; the event records it).
    """

    id: str
    type: str
    subject: str
    grid: str
    occurred_at: datetime
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)
    household: str | None = None
    community: str | None = None
    actor: str | None = None

    def canonical(self) -> dict[str, Any]:
        """The content that identifies the event for idempotency (the id itself excluded)."""
        return {
            "type": self.type,
            "subject": self.subject,
            "grid": self.grid,
            "household": self.household,
            "community": self.community,
            "actor": self.actor,
            "occurred_at": self.occurred_at.isoformat(),
            "attributes": dict(self.attributes),
        }

    def fingerprint(self, utc: str | None = None) -> str:
        """BLAKE2b of the canonical content: a JSON list in fixed field order, attributes sorted by name.
        ``utc``: the event time's UTC ISO text, when the caller already formatted it."""
        # The instant in UTC and whole floats as integers: 10:00+08:00 and 02:00Z, or 2 and 2.0 hours, are
        # the same event, so a host resubmitting it in another form gets the original decision.
        attributes = sorted((k, int(v) if type(v) is float and v.is_integer() else v)
                            for k, v in self.attributes.items()) if self.attributes else []
        fields = [self.type, self.subject, self.grid, self.household, self.community, self.actor,
                  utc if utc is not None else self.occurred_at.astimezone(UTC).isoformat()]
        return hashlib.blake2b(fingerprint_text(fields, attributes).encode(), digest_size=32).hexdigest()


class CounterKey(NamedTuple):
    """A window counter's key within a tenant: what is counted, for whom, in which calendar window.

    A named tuple rather than an attrs class: keys are hashed and sorted on every submission (locks are
    taken in sorted key order), and tuple comparison is what makes that cheap.
    """

    scope: str
    scope_id: str
    metric: str
    window: str

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_id}/{self.metric}@{self.window}"


@attrs.frozen(slots=True)
class Anchor:
    """The head of a tenant's hash chain: the last sequence number and its hash (``0`` / genesis if empty)."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.hash}@{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        digest, _, seq = text.partition("@")
        if not seq.isdigit() or len(digest) != 64:
            raise ValueError(f"anchor must look like HASH@SEQ, got {text!r}")
        return cls(int(seq), digest)


@attrs.frozen(slots=True)
class LedgerAnchor:
    """Both chain heads of a tenant at one moment, for the host to keep outside the database (an anchor sink):
    the entries' head (``seq``, ``hash``) and the records' head (``records``, ``record_hash``), ``at`` (UTC
    ISO text) and why it was taken (``reason``: ``"close:2026-04"``, ``"every"``). With a sealing key the
    hashes are keyed, so only the key's holder could have produced them. One JSON object per line in a
    JSON Lines file (:meth:`to_json`, :meth:`from_json`)."""

    tenant: str
    seq: int
    hash: str
    records: int
    record_hash: str
    at: str
    reason: str

    @property
    def entries(self) -> Anchor:
        return Anchor(self.seq, self.hash)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LedgerAnchor:
        """Read one anchor line; raises ``ValueError`` naming what is wrong."""
        try:
            data = json.loads(text)
            fields = {f.name for f in attrs.fields(cls)}
            if not isinstance(data, dict) or set(data) != fields:
                raise ValueError(f"expected an object with {sorted(fields)}")
            if not all(type(data[k]) is int and data[k] >= 0 for k in ("seq", "records")):
                raise ValueError("seq and records must be non-negative integers")
            if not all(type(data[k]) is str for k in fields - {"seq", "records"}):
                raise ValueError("tenant, hash, record_hash, at and reason must be strings")
            if len(data["hash"]) != 64 or len(data["record_hash"]) != 64:
                raise ValueError("hash and record_hash must be 64 hex digits")
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        return cls(**data)


@attrs.frozen(slots=True)
class SealedHead:
    """A tenant's chain-head row as a store that seals it keeps it: the entries' head, the records' head and
    the row's MAC over both (BLAKE2b keyed with the tenant's sealing key, if it has one; ``None`` for a row
    not written since heads were sealed, schema v5). With a key, only its holder can write a head that
    :meth:`holds`: a head moved back to a cut ledger's end by someone without the key shows."""

    head: Anchor
    records: Anchor
    mac: str | None

    @staticmethod
    def expected_mac(tenant: str, head: Anchor, records: Anchor, key: bytes = b"") -> str:
        """The MAC a head row with these heads calls for, keyed with ``key`` (unkeyed when empty)."""
        return seal(head_canonical_bytes(tenant, head.seq, head.hash, records.seq, records.hash), key)

    def holds(self, tenant: str, key: bytes = b"") -> bool:
        """Whether the row's MAC is the one its heads call for under ``key`` (False without a MAC)."""
        return self.mac is not None and self.mac == self.expected_mac(tenant, self.head, self.records, key)


#: Field order of the canonical form that an entry's hash covers.
ENTRY_HASHED_FIELDS = (
    "seq", "tenant", "event_id", "subject", "debit", "credit", "amount",
    "ruleset", "rule", "reason", "occurred_at", "reverses", "prev_hash",
)


class Entry(NamedTuple):
    """One immutable ledger posting: ``amount`` (> 0) moves from ``debit`` to ``credit``.

    A balance is what an account received minus what it gave, so all accounts together sum to zero.
    ``hash`` covers every other field (see :data:`ENTRY_HASHED_FIELDS`) and the previous entry's hash.
    A named tuple: entries are made by the hundred thousand, and a tuple is the cheapest immutable record
    (a store may keep them as plain tuples and rebuild with ``Entry._make``).
    """

    seq: int
    tenant: str
    event_id: str
    subject: str
    debit: str
    credit: str
    amount: int
    ruleset: str
    rule: str
    reason: str
    occurred_at: str
    reverses: int | None
    prev_hash: str
    hash: str

    def canonical_bytes(self) -> bytes:
        return entry_canonical_bytes(*self[:13])

    def expected_hash(self, key: bytes = b"") -> str:
        """The hash the entry's contents call for (keyed with the tenant's sealing ``key``, if it has one)."""
        return seal(self.canonical_bytes(), key)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def make_entry(
    *, seq: int, tenant: str, event_id: str, subject: str, debit: str, credit: str, amount: int,
    ruleset: str, rule: str, reason: str, occurred_at: str, reverses: int | None, prev_hash: str,
) -> Entry:
    """Build an entry and seal it with its hash."""
    digest = seal(entry_canonical_bytes(seq, tenant, event_id, subject, debit, credit, amount,
                                        ruleset, rule, reason, occurred_at, reverses, prev_hash))
    return Entry(seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason,
                 occurred_at, reverses, prev_hash, digest)


class LimitStep(NamedTuple):
    """One limit applied to one award: counter value before, the limit, requested and granted points."""

    limit_id: str
    kind: str
    scope: str
    scope_id: str
    window: str
    before: int
    limit: int
    requested: int
    granted: int
    mode: str
    code: str
    #: A share's pool total before the award.
    pool: int | None = None
    #: The factor a diminishing limit applied, a share's maximum, or a repair's deadline, as exact text.
    param: str | None = None


def _steps(steps: Sequence[Any]) -> tuple[LimitStep, ...]:
    return tuple(s if type(s) is LimitStep else LimitStep._make(s) for s in steps)


@attrs.frozen(slots=True)
class RuleTrace:
    """How one matched rule became (or did not become) points."""

    rule_id: str
    rule_name: str
    category: str
    base: int
    base_code: str
    base_args: Mapping[str, Any] = attrs.field(converter=_freeze)
    steps: tuple[LimitStep, ...] = attrs.field(converter=_steps)
    granted: int
    #: awarded | pending | verified | rejected | expired | reversed | dismissed | …
    status: str = "awarded"
    #: The category's display name from the ruleset (e.g. 奖励分), for explanations.
    category_name: str | None = None

    def compact(self) -> RuleData:
        return (self.rule_id, self.rule_name, self.category, self.base, self.base_code, tuple(self.base_args.items()),
                tuple(map(tuple, self.steps)), self.granted, self.status, self.category_name)


#: A rule's trace as a plain tuple in :class:`RuleTrace` field order, its arguments as ``(name, value)`` items
#: and its steps as plain tuples: what the engine produces per event and stores keep (nothing in it is tracked
#: by the garbage collector); a :class:`RuleTrace` is made from it only when asked for.
RuleData = tuple[str, str, str, int, str, tuple[tuple[str, Any], ...], tuple[tuple[Any, ...], ...], int, str,
                 str | None]
#: The rest of a decision's trace: event type, local time, ruleset, grid, household, community.
TraceHead = tuple[str, str, str, str | None, str | None, str | None]


@attrs.frozen(slots=True)
class Trace:
    """The structured explanation of a decision; rendered by :meth:`Decision.explain`."""

    event_id: str
    event_type: str
    subject: str
    occurred_local: str
    ruleset: str
    rules: tuple[RuleTrace, ...]
    grid: str | None = None
    household: str | None = None
    community: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id, "event_type": self.event_type, "subject": self.subject,
            "occurred_local": self.occurred_local, "ruleset": self.ruleset,
            "grid": self.grid, "household": self.household, "community": self.community,
            "rules": [
                {"rule_id": r.rule_id, "rule_name": r.rule_name, "category": r.category, "base": r.base,
                 "base_code": r.base_code, "base_args": dict(r.base_args), "granted": r.granted,
                 "status": r.status, "category_name": r.category_name,
                 "steps": [list(s) for s in r.steps]}
                for r in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        return cls(data["event_id"], data["event_type"], data["subject"], data["occurred_local"],
                   data["ruleset"], tuple(RuleTrace(*rule) for rule in _rules_of(data)), data.get("grid"),
                   data.get("household"), data.get("community"))

    def head(self) -> TraceHead:
        return (self.event_type, self.occurred_local, self.ruleset, self.grid, self.household, self.community)


def _rules_of(data: Mapping[str, Any]) -> tuple[RuleData, ...]:
    return tuple((r["rule_id"], r["rule_name"], r["category"], r["base"], r["base_code"],
                  tuple(r["base_args"].items()), tuple(map(tuple, r["steps"])), r["granted"],
                  r.get("status", "awarded"), r.get("category_name")) for r in data["rules"])


class Decision:
    """The outcome of one submitted event.

    ``points`` is the net change of the subject's spendable balance; ``entries`` the ledger entries this
    call wrote (empty when ``duplicate`` — the event id was seen before with the same content, and this is
    the original decision). ``trace`` is built on first use from the compact form the engine produces, so
    a batch whose decisions are not explained never pays for it. Immutable.
    """

    __slots__ = ("_head", "_rules", "_trace", "duplicate", "entries", "event_id", "points", "subject")

    event_id: str
    subject: str
    points: int
    entries: tuple[Entry, ...]
    duplicate: bool
    _trace: Trace | None
    _head: TraceHead | None
    _rules: tuple[RuleData, ...] | None

    def __init__(self, event_id: str, subject: str, points: int, entries: tuple[Entry, ...],
                 trace: Trace | None = None, duplicate: bool = False, *, head: TraceHead | None = None,
                 rules: tuple[RuleData, ...] | None = None) -> None:
        if (trace is None) == (head is None or rules is None):
            raise TypeError("give the trace, or its compact head and rules")
        put = object.__setattr__
        put(self, "event_id", event_id)
        put(self, "subject", subject)
        put(self, "points", points)
        put(self, "entries", entries)
        put(self, "duplicate", duplicate)
        put(self, "_trace", trace)
        put(self, "_head", head)
        put(self, "_rules", rules)

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    @property
    def trace(self) -> Trace:
        trace = self._trace
        if trace is None:
            head, rules = self._head, self._rules
            assert head is not None and rules is not None
            trace = Trace(self.event_id, head[0], self.subject, head[1], head[2],
                          tuple(RuleTrace(*rule) for rule in rules), head[3], head[4], head[5])
            object.__setattr__(self, "_trace", trace)
        return trace

    def compact(self) -> tuple[TraceHead, tuple[RuleData, ...]]:
        """The trace as plain tuples: its head and its rules (see :data:`RuleData`)."""
        if self._head is not None and self._rules is not None:
            return self._head, self._rules
        trace = self.trace
        return trace.head(), tuple(rule.compact() for rule in trace.rules)

    def replace(self, **changes: Any) -> Decision:
        """A copy with some fields changed (``event_id``, ``subject``, ``points``, ``entries``, ``trace``,
        ``duplicate``)."""
        fields: dict[str, Any] = {"event_id": self.event_id, "subject": self.subject, "points": self.points,
                                  "entries": self.entries, "duplicate": self.duplicate}
        if "trace" in changes:
            fields.update(changes)
            return Decision(**fields)
        fields.update(changes)
        if self._trace is not None:
            return Decision(**fields, trace=self._trace)
        return Decision(**fields, head=self._head, rules=self._rules)

    def explain(self, lang: Literal["zh", "en"] = "zh", labels: Mapping[str, str] | None = None) -> str:
        """Human-readable explanation: rules matched, base points, each limit's before / limit / after.
        ``labels``: attribute name → the name Chinese text shows (see ``Policy.attribute_labels``)."""
        return render(self, lang, labels)

    def to_record_json(self) -> str:
        """``{"points": …, "trace": trace.to_dict()}`` as compact JSON: the text of a persisted record."""
        head, rules = self.compact()
        return record_json(self.points, self.event_id, head[0], self.subject, head[1], head[2], head[3], head[4],
                           head[5], rules)

    @classmethod
    def from_record(cls, record: EventRecord) -> Decision:
        return record.original()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return ((self.event_id, self.subject, self.points, self.entries, self.duplicate, self.trace)
                == (other.event_id, other.subject, other.points, other.entries, other.duplicate, other.trace))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: equality covers the trace's mappings

    def __repr__(self) -> str:
        return (f"Decision(event_id={self.event_id!r}, subject={self.subject!r}, points={self.points!r}, "
                f"entries={len(self.entries)}, duplicate={self.duplicate!r})")


#: A record as plain values (see :meth:`EventRecord.compact`).
CompactRecord = tuple[Any, ...]


#: Field order of the canonical form that an event record's seal covers.
RECORD_HASHED_FIELDS = (
    "seq", "tenant", "event_id", "fingerprint", "decision", "actor", "attributes", "recorded_at", "deltas",
    "entry_from", "entry_hashes", "prev_hash",
)


@attrs.frozen(slots=True)
class RecordSeal:
    """What seals an event record into its tenant's chain of records, beside the record's decision.

    Records form their own hash chain (``seq`` from 1, each linked to the previous record's ``hash``), and
    each is bound to its own entries: ``entry_from`` is the first entry's seq and ``entry_hashes`` their
    hashes, concatenated (empty for a decision that posted nothing, with ``entry_from`` the seq the next entry
    will take). ``actor`` and ``attributes`` (JSON, sorted by name) are the event's, kept so that separation
    of duties can be re-audited; ``deltas`` the counter increments the decision made (JSON, see
    :func:`~gridpoints.model._codec.deltas_json`); ``recorded_at`` when the engine wrote it (UTC ISO text;
    no decision depends on it). The hash covers :data:`RECORD_HASHED_FIELDS`.
    """

    seq: int
    recorded_at: str
    actor: str | None
    attributes: str
    deltas: str
    entry_from: int
    entry_hashes: str
    prev_hash: str
    hash: str

    def canonical_bytes(self, tenant: str, event_id: str, fingerprint: str, decision: str) -> bytes:
        return record_canonical_bytes(self.seq, tenant, event_id, fingerprint, decision, self.actor,
                                      self.attributes, self.recorded_at, self.deltas, self.entry_from,
                                      self.entry_hashes, self.prev_hash)

    def expected_hash(self, tenant: str, event_id: str, fingerprint: str, decision: str, key: bytes = b"") -> str:
        """The hash the record's contents call for (keyed with the tenant's sealing ``key``, if it has one)."""
        return seal(self.canonical_bytes(tenant, event_id, fingerprint, decision), key)

    def entry_count(self) -> int:
        return len(self.entry_hashes) // 64

    def hashes(self) -> list[str]:
        """The record's entries' hashes, in order."""
        text = self.entry_hashes
        return [text[i:i + 64] for i in range(0, len(text), 64)]

    @classmethod
    def make(cls, *, seq: int, tenant: str, event_id: str, fingerprint: str, decision: str, actor: str | None,
             attributes: str, recorded_at: str, deltas: str, entry_from: int, entry_hashes: str, prev_hash: str,
             key: bytes = b"") -> RecordSeal:
        """Seal a record: its hash over the canonical form, keyed with ``key`` if given."""
        digest = seal(record_canonical_bytes(seq, tenant, event_id, fingerprint, decision, actor, attributes,
                                             recorded_at, deltas, entry_from, entry_hashes, prev_hash), key)
        return cls(seq, recorded_at, actor, attributes, deltas, entry_from, entry_hashes, prev_hash, digest)


class EventRecord:
    """What a store keeps per event id: the event's fingerprint and its decision, to answer a resubmission.

    The codec between the engine and every store:

    - ``EventRecord(event_id, fingerprint, text)``: a record as a persisting store reads it back (the decision
      as the JSON text of :attr:`decision`);
    - :meth:`of`: the engine's record of a decision it just made (the fingerprint may be left for later: it is
      computed from the event only if a store or a resubmission asks for it);
    - :meth:`compact` / :meth:`from_compact`: the record as a tuple of plain values, for stores that keep
      records in memory (no decision object is kept, and a tuple of plain values costs the garbage
      collector nothing).
    """

    __slots__ = ("_decision", "_event", "_fingerprint", "_json", "_utc", "event_id", "seal")

    def __init__(self, event_id: str, fingerprint: str, decision: str, seal: RecordSeal | None = None) -> None:
        self.event_id = event_id
        self._fingerprint: str | None = fingerprint
        self._json: str | None = decision
        self._decision: Decision | None = None
        self._event: Event | None = None
        self._utc: str | None = None
        #: How the record is sealed into the chain (``None``: a store that does not seal records, or a
        #: record written before records were sealed).
        self.seal = seal

    @classmethod
    def of(cls, event: Event, decision: Decision, fingerprint: str | None = None, *,
           utc: str | None = None) -> EventRecord:
        """The record of a decision the engine made for ``event`` (``fingerprint``: when not the event's own,
        or already computed; ``utc``: the event time's UTC ISO text, when already formatted)."""
        record = cls.__new__(cls)
        record.event_id = event.id
        record._fingerprint = fingerprint
        record._json = None
        record._decision = decision
        record._event = event
        record._utc = utc
        record.seal = None
        return record

    def sealed(self, seal: RecordSeal) -> EventRecord:
        """This record with its seal (the engine seals a record once its place in the chain is known)."""
        self.seal = seal
        return self

    @property
    def fingerprint(self) -> str:
        """The event's content hash (computed on first use when the record was made from the event)."""
        if self._fingerprint is None:
            assert self._event is not None
            self._fingerprint = self._event.fingerprint(self._utc)
        return self._fingerprint

    @property
    def decision(self) -> str:
        """The decision as JSON text (points and trace)."""
        if self._json is None:
            assert self._decision is not None
            self._json = self._decision.to_record_json()
        return self._json

    def original(self) -> Decision:
        """The recorded decision, marked as a duplicate and without entries (they were written before)."""
        kept = self._decision
        if kept is not None:
            return kept.replace(entries=(), duplicate=True)
        data = json.loads(self.decision)
        trace = data["trace"]
        head: TraceHead = (trace["event_type"], trace["occurred_local"], trace["ruleset"], trace.get("grid"),
                           trace.get("household"), trace.get("community"))
        return Decision(self.event_id, trace["subject"], data["points"], (), duplicate=True, head=head,
                        rules=_rules_of(trace))

    def compact(self) -> CompactRecord:
        """``(fingerprint or None, event or None, points, subject, head, rules)``, all plain values (rules'
        arguments as item tuples), so that the garbage collector stops tracking what a store keeps. The event
        part is there only while the fingerprint has not been computed: what the fingerprint needs beyond the
        decision (the UTC time text, the attributes' items, the actor). A record read from text stays text:
        ``(fingerprint, text)`` (a store does not interpret what it keeps)."""
        decision = self._decision
        if decision is None:
            return self.fingerprint, self.decision
        head, kept = decision.compact()
        event = self._event
        if self._fingerprint is None and event is not None:
            if (event.type, event.grid, event.household, event.community) == (head[0], head[3], head[4], head[5]):
                utc = self._utc if self._utc is not None else event.occurred_at.astimezone(UTC).isoformat()
                return None, (utc, tuple(event.attributes.items()), event.actor), decision.points, \
                    decision.subject, head, kept
            self.fingerprint  # noqa: B018  (an event unlike its decision: settle the fingerprint now)
        return self.fingerprint, None, decision.points, decision.subject, head, kept

    @classmethod
    def from_compact(cls, event_id: str, data: CompactRecord) -> EventRecord:
        if len(data) == 2:
            return cls(event_id, data[0], data[1])
        fingerprint, event, points, subject, head, rules = data
        record = cls.__new__(cls)
        record.event_id = event_id
        record._fingerprint = fingerprint
        record._json = None
        record._utc = None
        record.seal = None
        record._decision = Decision(event_id, subject, points, (), head=head, rules=rules)
        if event is None:
            record._event = None
        else:
            utc, attributes, actor = event
            record._event = Event(event_id, head[0], subject, str(head[3]), datetime.fromisoformat(utc),
                                  dict(attributes), head[4], head[5], actor)
        return record

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventRecord):
            return NotImplemented
        return (self.event_id, self.fingerprint, self.decision) == (other.event_id, other.fingerprint,
                                                                    other.decision)

    def __hash__(self) -> int:
        return hash((self.event_id, self.fingerprint))

    def __repr__(self) -> str:
        return f"EventRecord(event_id={self.event_id!r}, fingerprint={self.fingerprint[:12]!r}…)"

