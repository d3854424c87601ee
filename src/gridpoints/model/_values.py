"""Value types that cross module boundaries: events, ledger entries, counters, decisions and traces.

All are frozen and slotted. Ledger entries are hashed over a canonical JSON form whose field order is
fixed here, so a stored entry can be re-verified by any adapter or auditor without gridpoints' help.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import attrs

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


# Account names, one string object per subject and kind: entries, balances and counters in a long replay
# share them instead of each holding a copy. Bounded: past the limit the cache starts again.
_ACCOUNTS: dict[tuple[str, str], str] = {}
_ACCOUNTS_MAX = 500_000


def _account(subject: str, kind: str) -> str:
    name = _ACCOUNTS.get((subject, kind))
    if name is None:
        if len(_ACCOUNTS) >= _ACCOUNTS_MAX:
            _ACCOUNTS.clear()
        name = _ACCOUNTS[subject, kind] = f"subject:{subject}:{kind}"
    return name


def spendable(subject: str) -> str:
    """The account holding a subject's spendable points."""
    return _account(subject, "spendable")


def pending(subject: str) -> str:
    """The account holding a subject's awards that wait for verification."""
    return _account(subject, "pending")


def held(subject: str) -> str:
    """The account holding points reserved for a redemption not yet fulfilled."""
    return _account(subject, "held")


_EMPTY: Mapping[str, Any] = MappingProxyType({})
# One encoder each, reused: json.dumps builds a new encoder per call, which was a visible cost per event.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_FINGERPRINT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
_RECORD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What the encoders above apply to each string (ensure_ascii=False): quotes and escapes, nothing else.
_encode_string = json.encoder.encode_basestring


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    if not mapping:
        return _EMPTY
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping))


def _json(value: Any) -> str:
    """One JSON value as the record encoder writes it; strings, ints and null without the encoder's overhead."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    return _RECORD.encode(value)


def _json_args(args: Mapping[str, Any]) -> str:
    if not args:
        return "{}"
    if not all(type(k) is str for k in args):
        return _RECORD.encode(dict(args))
    return "{" + ",".join(f"{_encode_string(k)}:{_json(v)}" for k, v in args.items()) + "}"


def _json_step(s: LimitStep) -> str:
    enc = _encode_string
    return (f"[{enc(s.limit_id)},{enc(s.kind)},{enc(s.scope)},{enc(s.scope_id)},{enc(s.window)},"
            f"{_json(s.before)},{_json(s.limit)},{_json(s.requested)},{_json(s.granted)},{enc(s.mode)},"
            f"{enc(s.code)},{_json(s.pool)},{_json(s.param)}]")


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

    def fingerprint(self) -> str:
        """BLAKE2b of the canonical content: a JSON list in fixed field order, attributes sorted by name."""
        # The instant in UTC and whole floats as integers: 10:00+08:00 and 02:00Z, or 2 and 2.0 hours, are
        # the same event, so a host resubmitting it in another form gets the original decision.
        attributes = sorted((k, int(v) if type(v) is float and v.is_integer() else v)
                            for k, v in self.attributes.items())
        fields = [self.type, self.subject, self.grid, self.household, self.community, self.actor,
                  self.occurred_at.astimezone(UTC).isoformat()]
        if all(type(f) is str or f is None for f in fields):
            # The same text as the encoder's, spelled out (the list of fields is most of an event).
            head = ",".join("null" if f is None else _encode_string(f) for f in fields)
            data = f"[{head},{_FINGERPRINT.encode(attributes) if attributes else '[]'}]"
        else:
            data = _FINGERPRINT.encode([*fields, attributes])
        return hashlib.blake2b(data.encode(), digest_size=32).hexdigest()


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


#: Field order of the canonical form that an entry's hash covers.
ENTRY_HASHED_FIELDS = (
    "seq", "tenant", "event_id", "subject", "debit", "credit", "amount",
    "ruleset", "rule", "reason", "occurred_at", "reverses", "prev_hash",
)


@attrs.frozen(slots=True)
class Entry:
    """One immutable ledger posting: ``amount`` (> 0) moves from ``debit`` to ``credit``.

    A balance is what an account received minus what it gave, so all accounts together sum to zero.
    ``hash`` covers every other field (see :data:`ENTRY_HASHED_FIELDS`) and the previous entry's hash.
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
        return entry_canonical_bytes(
            self.seq, self.tenant, self.event_id, self.subject, self.debit, self.credit, self.amount,
            self.ruleset, self.rule, self.reason, self.occurred_at, self.reverses, self.prev_hash,
        )

    def expected_hash(self) -> str:
        return hashlib.blake2b(self.canonical_bytes(), digest_size=32).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def entry_canonical_bytes(
    seq: int, tenant: str, event_id: str, subject: str, debit: str, credit: str, amount: int,
    ruleset: str, rule: str, reason: str, occurred_at: str, reverses: int | None, prev_hash: str,
) -> bytes:
    """The bytes an entry's hash covers: a compact JSON array of the fields in :data:`ENTRY_HASHED_FIELDS`
    order (UTF-8, no ASCII escaping), then the previous hash.

    Written out with the JSON module's own string encoder, which is what ``json`` does for each string, at
    half the cost of encoding the tuple; anything but plain ints and strings takes the general encoder, so
    the bytes are the same either way (tested against it).
    """
    if (type(seq) is int and type(amount) is int and (reverses is None or type(reverses) is int)
            and type(tenant) is str and type(event_id) is str and type(subject) is str and type(debit) is str
            and type(credit) is str and type(ruleset) is str and type(rule) is str and type(reason) is str
            and type(occurred_at) is str and type(prev_hash) is str):
        enc = _encode_string
        return (f"[{seq},{enc(tenant)},{enc(event_id)},{enc(subject)},{enc(debit)},{enc(credit)},{amount},"
                f"{enc(ruleset)},{enc(rule)},{enc(reason)},{enc(occurred_at)},"
                f"{'null' if reverses is None else reverses},{enc(prev_hash)}]").encode()
    return _CANONICAL.encode((seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason,
                              occurred_at, reverses, prev_hash)).encode()


def make_entry(
    *, seq: int, tenant: str, event_id: str, subject: str, debit: str, credit: str, amount: int,
    ruleset: str, rule: str, reason: str, occurred_at: str, reverses: int | None, prev_hash: str,
) -> Entry:
    """Build an entry and seal it with its hash."""
    digest = hashlib.blake2b(
        entry_canonical_bytes(seq, tenant, event_id, subject, debit, credit, amount,
                              ruleset, rule, reason, occurred_at, reverses, prev_hash),
        digest_size=32,
    ).hexdigest()
    return Entry(seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason,
                 occurred_at, reverses, prev_hash, digest)


class EventRecord:
    """What the store keeps per event id: its fingerprint and the decision, to answer a resubmission.

    An adapter that persists records reads :attr:`decision` (JSON text) and rebuilds a record from the
    stored text with ``EventRecord(event_id, fingerprint, text)``. The engine builds records from the
    decision object, and the text is produced only when an adapter asks for it: an in-memory store keeps
    the object and never pays for serialising it.
    """

    __slots__ = ("_event", "_fingerprint", "_json", "_original", "event_id")

    def __init__(self, event_id: str, fingerprint: str | None, decision: str | None = None, *,
                 original: Decision | None = None, event: Event | None = None) -> None:
        if (decision is None) == (original is None):
            raise TypeError("give exactly one of the decision's JSON text or the original Decision")
        if fingerprint is None and event is None:
            raise TypeError("give the fingerprint, or the event to compute it from")
        self.event_id = event_id
        self._fingerprint = fingerprint
        self._event = event
        self._json = decision
        self._original = original

    @property
    def fingerprint(self) -> str:
        """The event's content hash (computed on first use when the record was built from the event)."""
        if self._fingerprint is None:
            assert self._event is not None
            self._fingerprint = self._event.fingerprint()
        return self._fingerprint

    @property
    def decision(self) -> str:
        """The decision as JSON text (points and trace)."""
        if self._json is None:
            assert self._original is not None
            self._json = self._original.to_record_json()
        return self._json

    def original(self) -> Decision:
        """The recorded decision, marked as a duplicate and without entries (they were written before)."""
        kept = self._original
        if kept is not None:
            return Decision(kept.event_id, kept.subject, kept.points, (), kept.trace, duplicate=True)
        data = json.loads(self.decision)
        trace = Trace.from_dict(data["trace"])
        return Decision(self.event_id, trace.subject, data["points"], (), trace, duplicate=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventRecord):
            return NotImplemented
        return (self.event_id, self.fingerprint, self.decision) == (other.event_id, other.fingerprint,
                                                                    other.decision)

    def __hash__(self) -> int:
        return hash((self.event_id, self.fingerprint))

    def __repr__(self) -> str:
        return f"EventRecord(event_id={self.event_id!r}, fingerprint={self.fingerprint[:12]!r}…)"


@attrs.frozen(slots=True)
class LimitStep:
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
    #: The factor a diminishing limit applied, or a share's maximum, as exact text.
    param: str | None = None


@attrs.frozen(slots=True)
class RuleTrace:
    """How one matched rule became (or did not become) points."""

    rule_id: str
    rule_name: str
    category: str
    base: int
    base_code: str
    base_args: Mapping[str, Any] = attrs.field(converter=_freeze)
    steps: tuple[LimitStep, ...]
    granted: int
    #: awarded | pending | verified | rejected | expired | reversed | dismissed | …
    status: str = "awarded"
    #: The category's display name from the ruleset (e.g. 奖励分), for explanations.
    category_name: str | None = None


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
        # Written out by hand: this runs once per submitted event, and attrs.asdict's generic walk was the
        # largest single cost on the submit path.
        return {
            "event_id": self.event_id, "event_type": self.event_type, "subject": self.subject,
            "occurred_local": self.occurred_local, "ruleset": self.ruleset,
            "grid": self.grid, "household": self.household, "community": self.community,
            "rules": [
                {"rule_id": r.rule_id, "rule_name": r.rule_name, "category": r.category, "base": r.base,
                 "base_code": r.base_code, "base_args": dict(r.base_args), "granted": r.granted,
                 "status": r.status, "category_name": r.category_name,
                 "steps": [[s.limit_id, s.kind, s.scope, s.scope_id, s.window, s.before, s.limit, s.requested,
                            s.granted, s.mode, s.code, s.pool, s.param] for s in r.steps]}
                for r in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        rules = tuple(
            RuleTrace(
                rule_id=r["rule_id"], rule_name=r["rule_name"], category=r["category"], base=r["base"],
                base_code=r["base_code"], base_args=r["base_args"],
                steps=tuple(LimitStep(*s) for s in r["steps"]), granted=r["granted"],
                status=r.get("status", "awarded"), category_name=r.get("category_name"),
            )
            for r in data["rules"]
        )
        return cls(data["event_id"], data["event_type"], data["subject"], data["occurred_local"],
                   data["ruleset"], rules, data.get("grid"), data.get("household"), data.get("community"))


@attrs.frozen(slots=True)
class Decision:
    """The outcome of one submitted event.

    ``points`` is the net change of the subject's spendable balance; ``entries`` the ledger entries this
    call wrote (empty when ``duplicate`` — the event id was seen before with the same content, and this is
    the original decision).
    """

    event_id: str
    subject: str
    points: int
    entries: tuple[Entry, ...]
    trace: Trace
    duplicate: bool = False

    def explain(self, lang: Literal["zh", "en"] = "zh") -> str:
        """Human-readable explanation: rules matched, base points, each limit's before / limit / after."""
        from gridpoints.model._explain import render

        return render(self, lang)

    def to_record_json(self) -> str:
        """``{"points": …, "trace": trace.to_dict()}`` as compact JSON, written out field by field: this runs
        once per event a persisting store records, and the generic encoder was most of that cost. The text
        is the same as ``json``'s (tested)."""
        t, enc = self.trace, _encode_string
        rules = ",".join(
            f'{{"rule_id":{enc(r.rule_id)},"rule_name":{enc(r.rule_name)},"category":{enc(r.category)},'
            f'"base":{_json(r.base)},"base_code":{enc(r.base_code)},"base_args":{_json_args(r.base_args)},'
            f'"granted":{_json(r.granted)},"status":{enc(r.status)},"category_name":{_json(r.category_name)},'
            f'"steps":[{",".join(_json_step(step) for step in r.steps)}]}}'
            for r in t.rules
        )
        return (f'{{"points":{_json(self.points)},"trace":{{"event_id":{enc(t.event_id)},'
                f'"event_type":{enc(t.event_type)},"subject":{enc(t.subject)},'
                f'"occurred_local":{enc(t.occurred_local)},"ruleset":{enc(t.ruleset)},"grid":{_json(t.grid)},'
                f'"household":{_json(t.household)},"community":{_json(t.community)},"rules":[{rules}]}}}}')

    @classmethod
    def from_record(cls, record: EventRecord) -> Decision:
        return record.original()
