"""Every hand-written serialisation on the hot path, in one place, each pinned to ``json``'s output by the
property tests in tests/test_canonical_forms.py.

The generic encoders are the definition; the spelled-out forms below produce the same text at a fraction of
the cost, and fall back to the generic encoder for any value they do not handle themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: One encoder each, reused: json.dumps builds a new encoder per call, which was a visible cost per event.
CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
FINGERPRINT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
RECORD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: What the encoders above apply to each string (ensure_ascii=False): quotes and escapes, nothing else.
encode_string = json.encoder.encode_basestring


def entry_canonical_bytes(
    seq: int, tenant: str, event_id: str, subject: str, debit: str, credit: str, amount: int,
    ruleset: str, rule: str, reason: str, occurred_at: str, reverses: int | None, prev_hash: str,
) -> bytes:
    """The bytes an entry's hash covers: a compact JSON array of the entry's fields in
    :data:`~gridpoints.model.ENTRY_HASHED_FIELDS` order (UTF-8, no ASCII escaping), the previous hash last.

    Written out with the JSON module's own string encoder, which is what ``json`` does for each string, at
    half the cost of encoding the tuple; anything but plain ints and strings takes the general encoder, so
    the bytes are the same either way (tested against it).
    """
    if (type(seq) is int and type(amount) is int and (reverses is None or type(reverses) is int)
            and type(tenant) is str and type(event_id) is str and type(subject) is str and type(debit) is str
            and type(credit) is str and type(ruleset) is str and type(rule) is str and type(reason) is str
            and type(occurred_at) is str and type(prev_hash) is str):
        enc = encode_string
        return (f"[{seq},{enc(tenant)},{enc(event_id)},{enc(subject)},{enc(debit)},{enc(credit)},{amount},"
                f"{enc(ruleset)},{enc(rule)},{enc(reason)},{enc(occurred_at)},"
                f"{'null' if reverses is None else reverses},{enc(prev_hash)}]").encode()
    return CANONICAL.encode((seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason,
                             occurred_at, reverses, prev_hash)).encode()


def entry_canonical_bytes_of_text(
    seq: int, tenant: str, event_id: str, subject: str, debit: str, credit: str, amount: int,
    ruleset: str, rule: str, reason: str, occurred_at: str, reverses: int | None, prev_hash: str,
) -> bytes:
    """:func:`entry_canonical_bytes` for a caller that guarantees every text field is a ``str`` (the engine's
    kernel: ids are checked at intake, names come from the validated policy); the numbers are still checked,
    since a bool or a float would print differently from ``json``."""
    if type(amount) is int and type(seq) is int and (reverses is None or type(reverses) is int):
        enc = encode_string
        return (f"[{seq},{enc(tenant)},{enc(event_id)},{enc(subject)},{enc(debit)},{enc(credit)},{amount},"
                f"{enc(ruleset)},{enc(rule)},{enc(reason)},{enc(occurred_at)},"
                f"{'null' if reverses is None else reverses},{enc(prev_hash)}]").encode()
    return entry_canonical_bytes(seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason,
                                 occurred_at, reverses, prev_hash)


_ENTRY_FIELDS = ("seq", "tenant", "event_id", "subject", "debit", "credit", "amount", "ruleset", "rule", "reason",
                 "occurred_at", "reverses", "prev_hash", "hash")


def entry_json_line(entry: Sequence[Any]) -> str:
    """An entry (its 14 fields in order) as one JSON object per line, keyed by field name: what
    ``json.dumps(entry._asdict(), separators=(",", ":"), ensure_ascii=False)`` writes, plus a newline."""
    (seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason, occurred_at, reverses,
     prev_hash, digest) = entry
    if not (type(seq) is int and type(amount) is int and (reverses is None or type(reverses) is int)
            and type(tenant) is str and type(event_id) is str and type(subject) is str and type(debit) is str
            and type(credit) is str and type(ruleset) is str and type(rule) is str and type(reason) is str
            and type(occurred_at) is str and type(prev_hash) is str and type(digest) is str):
        return CANONICAL.encode(dict(zip(_ENTRY_FIELDS, entry, strict=True))) + "\n"
    enc = encode_string
    return (f'{{"seq":{seq},"tenant":{enc(tenant)},"event_id":{enc(event_id)},"subject":{enc(subject)},'
            f'"debit":{enc(debit)},"credit":{enc(credit)},"amount":{amount},"ruleset":{enc(ruleset)},'
            f'"rule":{enc(rule)},"reason":{enc(reason)},"occurred_at":{enc(occurred_at)},'
            f'"reverses":{"null" if reverses is None else reverses},"prev_hash":{enc(prev_hash)},'
            f'"hash":{enc(digest)}}}\n')


def seal(canonical: bytes, key: bytes = b"") -> str:
    """An entry's or a record's hash: BLAKE2b-256 of its canonical bytes, as hex; with a ``key`` (up to 64
    bytes), BLAKE2b's keyed mode, so that only a holder of the key can seal (an empty key is the unkeyed
    hash)."""
    return hashlib.blake2b(canonical, digest_size=32, key=key).hexdigest()


def head_canonical_bytes(tenant: str, seq: int, digest: str, records: int, record_hash: str) -> bytes:
    """The bytes a chain-head row's MAC covers: a compact JSON array tagged ``"head"`` (so no entry or record
    canonical form can collide with it) of the tenant, the entries' length and last hash and the records'
    length and last hash."""
    return CANONICAL.encode(("head", tenant, seq, digest, records, record_hash)).encode()


def record_canonical_bytes(
    seq: int, tenant: str, event_id: str, fingerprint: str, decision: str, actor: str | None, attributes: str,
    recorded_at: str, deltas: str, entry_from: int, entry_hashes: str, prev_hash: str,
) -> bytes:
    """The bytes an event record's seal covers: a compact JSON array of the record's fields in
    :data:`~gridpoints.model.RECORD_HASHED_FIELDS` order, the previous record's hash last. ``decision``,
    ``attributes`` and ``deltas`` are JSON texts and are hashed as strings, as stored; ``entry_hashes`` is
    the hashes of the record's own entries (from ``entry_from``), concatenated, which binds the record to
    them."""
    return CANONICAL.encode((seq, tenant, event_id, fingerprint, decision, actor, attributes, recorded_at, deltas,
                             entry_from, entry_hashes, prev_hash)).encode()


def attributes_json(attributes: Iterable[tuple[str, Any]]) -> str:
    """An event's attributes as a record keeps them: a JSON object sorted by name (values ``json`` cannot
    write are written as their text, as the fingerprint does)."""
    items = sorted(attributes)
    return FINGERPRINT.encode(dict(items)) if items else "{}"


def deltas_json(deltas: Iterable[tuple[Sequence[str], int]]) -> str:
    """A record's counter increments: ``[[scope, scope_id, metric, window, delta], …]`` sorted by key."""
    rows = sorted((tuple(key), delta) for key, delta in deltas if delta)
    return CANONICAL.encode([[*key, delta] for key, delta in rows]) if rows else "[]"


def fingerprint_text(fields: Sequence[str | None], attributes: list[tuple[str, Any]]) -> str:
    """The JSON text an event's fingerprint hashes: ``[type, subject, grid, household, community, actor,
    occurred_at (UTC), [[name, value], …]]`` with the attributes sorted by name."""
    if all(type(f) is str or f is None for f in fields):
        head = ",".join("null" if f is None else encode_string(f) for f in fields)
        return f"[{head},{FINGERPRINT.encode(attributes) if attributes else '[]'}]"
    return FINGERPRINT.encode([*fields, attributes])


def json_value(value: Any) -> str:
    """One JSON value as the record encoder writes it; strings, ints and null without the encoder's overhead."""
    kind = type(value)
    if kind is str:
        return encode_string(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    return RECORD.encode(value)


def json_args(args: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A mapping (or its items) as a JSON object, in its own key order."""
    items = list(args.items()) if isinstance(args, Mapping) else list(args)
    if not items:
        return "{}"
    if not all(type(k) is str for k, _ in items):
        return RECORD.encode(dict(items))
    return "{" + ",".join(f"{encode_string(k)}:{json_value(v)}" for k, v in items) + "}"


def json_step(step: Sequence[Any]) -> str:
    """A limit step's 13 fields as a JSON array, in field order."""
    enc = encode_string
    (limit_id, kind, scope, scope_id, window, before, limit, requested, granted, mode, code, pool, param) = step
    if type(limit_id) is str and type(kind) is str and type(scope) is str and type(scope_id) is str \
            and type(window) is str and type(mode) is str and type(code) is str:
        if (type(before) is int and type(limit) is int and type(requested) is int and type(granted) is int
                and pool is None and param is None):
            # The usual step, a cap's or a budget's: four integers and no pool or parameter.
            return (f"[{enc(limit_id)},{enc(kind)},{enc(scope)},{enc(scope_id)},{enc(window)},{before},{limit},"
                    f"{requested},{granted},{enc(mode)},{enc(code)},null,null]")
        return (f"[{enc(limit_id)},{enc(kind)},{enc(scope)},{enc(scope_id)},{enc(window)},"
                f"{json_value(before)},{json_value(limit)},{json_value(requested)},{json_value(granted)},"
                f"{enc(mode)},{enc(code)},{json_value(pool)},{json_value(param)}]")
    return RECORD.encode(list(step))


def record_json(points: int, event_id: str, event_type: str, subject: str, occurred_local: str, ruleset: str,
                grid: str | None, household: str | None, community: str | None,
                rules: Iterable[Sequence[Any]]) -> str:
    """``{"points": …, "trace": {…}}``: the decision record persisting stores keep, from a decision's compact
    rules ``(rule_id, rule_name, category, base, base_code, base_args, steps, granted, status,
    category_name)``. The text is the same as ``json``'s of ``{"points", "trace": Trace.to_dict()}``."""
    value = json_value
    parts = []
    for rule_id, rule_name, category, base, code, args, steps, granted, status, category_name in rules:
        if not (type(rule_id) is str and type(rule_name) is str and type(category) is str and type(code) is str
                and type(status) is str):
            parts.append(RECORD.encode({
                "rule_id": rule_id, "rule_name": rule_name, "category": category, "base": base,
                "base_code": code, "base_args": dict(args), "granted": granted, "status": status,
                "category_name": category_name, "steps": [list(s) for s in steps]}))
            continue
        parts.append(f'{_rule_head(rule_id, rule_name, category, base, code, args, granted, status, category_name)}'
                     f'{",".join(json_step(step) for step in steps)}]}}')
    return (f'{{"points":{value(points)},"trace":{{"event_id":{value(event_id)},'
            f'"event_type":{value(event_type)},"subject":{value(subject)},'
            f'"occurred_local":{value(occurred_local)},"ruleset":{value(ruleset)},'
            f'"grid":{value(grid)},"household":{value(household)},"community":{value(community)},'
            f'"rules":[{",".join(parts)}]}}}}')


#: A rule's JSON up to its steps, by its fields: most events of a rule repeat them exactly (bounded).
_RULE_HEADS: dict[tuple[Any, ...], str] = {}
_RULE_HEADS_MAX = 50_000


def _rule_head(rule_id: str, rule_name: str, category: str, base: Any, code: str, args: Any, granted: Any,
               status: str, category_name: Any) -> str:
    items = tuple(args.items()) if isinstance(args, Mapping) else tuple(args)
    # Only arguments whose values print as they compare are looked up (1 == True == 1.0, but not in JSON).
    key = ((rule_id, rule_name, category, base, code, items, granted, status, category_name, type(base),
            type(granted), type(category_name))
           if type(base) is int and type(granted) is int and all(type(v) in _PLAIN for _, v in items) else None)
    found = _RULE_HEADS.get(key) if key is not None else None
    if found is None:
        enc = encode_string
        found = (f'{{"rule_id":{enc(rule_id)},"rule_name":{enc(rule_name)},"category":{enc(category)},'
                 f'"base":{json_value(base)},"base_code":{enc(code)},"base_args":{json_args(args)},'
                 f'"granted":{json_value(granted)},"status":{enc(status)},'
                 f'"category_name":{json_value(category_name)},"steps":[')
        if key is not None:
            if len(_RULE_HEADS) >= _RULE_HEADS_MAX:
                _RULE_HEADS.clear()
            _RULE_HEADS[key] = found
    return found


#: Value types whose equal values print the same (1 and True are equal keys, so the types are in the key).
_PLAIN = frozenset({str, int, type(None)})
