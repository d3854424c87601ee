"""The hand-written serialisations on the hot path produce exactly what the generic encoders would.

An entry's hash covers its canonical bytes, and an auditor or another adapter may rebuild those bytes with
any JSON library: the fast spelling must never drift from ``json``'s compact, non-ASCII-escaping form.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from gridpoints.model import Decision, Entry, Event, LimitStep, RuleTrace, Trace, entry_canonical_bytes
from gridpoints.model._codec import entry_canonical_bytes_of_text, entry_json_line

_text = st.text(st.characters(codec="utf-8"), max_size=40)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(seq=_ints, amount=_ints, reverses=st.none() | _ints, strings=st.lists(_text, min_size=10, max_size=10))
def test_entry_canonical_bytes_equal_the_json_encoding(seq: int, amount: int, reverses: int | None,
                                                       strings: list[str]) -> None:
    tenant, event_id, subject, debit, credit, ruleset, rule, reason, occurred_at, prev_hash = strings
    values = (seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason, occurred_at, reverses,
              prev_hash)
    expected = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    assert entry_canonical_bytes(*values) == expected


def test_entry_canonical_bytes_of_other_types_take_the_general_encoder() -> None:
    # A bool is an int to Python but `true` to JSON; the fast path must not print it as 1.
    values = (True, "t", "e", "s", "d", "c", 2.5, "r", "rule", "award", "2026-01-01T00:00:00+00:00", None, "0")
    assert entry_canonical_bytes(*values) == json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def test_trace_steps_serialise_every_limit_step_field_in_order() -> None:
    step = LimitStep("cap", "cap", "subject", "r1", "2026-01-01", 40, 50, 20, 10, "truncate", "cap.truncated",
                     pool=7, param="1/2")
    trace = Trace("e1", "reward", "r1", "2026-01-01T08:00:00+08:00", "demo@1",
                  (RuleTrace("rule", "Rule", "reward", 20, "fixed", {}, (step,), 10),))
    # A field added to LimitStep without being added to the serialisation would fail here.
    assert trace.to_dict()["rules"][0]["steps"] == [list(step)]
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace


_scalar = st.none() | st.booleans() | _ints | st.floats(allow_nan=False) | _text
_steps = st.builds(LimitStep, _text, _text, _text, _text, _text, _ints, _ints, _ints, _ints, _text, _text,
                   st.none() | _ints, st.none() | _text)
_rules = st.builds(RuleTrace, _text, _text, _text, _ints, _text, st.dictionaries(_text, _scalar, max_size=4),
                   st.lists(_steps, max_size=3).map(tuple), _ints, _text, st.none() | _text)
_traces = st.builds(Trace, _text, _text, _text, _text, _text, st.lists(_rules, max_size=3).map(tuple),
                    st.none() | _text, st.none() | _text, st.none() | _text)


@given(points=_ints, trace=_traces)
def test_record_json_equals_the_json_encoding_of_the_trace(points: int, trace: Trace) -> None:
    decision = Decision(trace.event_id, trace.subject, points, (), trace)
    expected = json.dumps({"points": points, "trace": trace.to_dict()}, separators=(",", ":"), ensure_ascii=False)
    assert decision.to_record_json() == expected
    assert Trace.from_dict(json.loads(decision.to_record_json())["trace"]) == trace


def _reference_fingerprint(event: Event) -> str:
    """The fingerprint as first defined: one encoder call over the whole list."""
    attributes = sorted((k, int(v) if type(v) is float and v.is_integer() else v) for k, v in event.attributes.items())
    data = json.dumps([event.type, event.subject, event.grid, event.household, event.community, event.actor,
                       event.occurred_at.astimezone(UTC).isoformat(), attributes],
                      separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(data.encode(), digest_size=32).hexdigest()


_zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5))])
_moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_zones)


@given(strings=st.lists(_text, min_size=4, max_size=4), optional=st.lists(st.none() | _text, min_size=3, max_size=3),
       moment=_moments, attributes=st.dictionaries(_text, _scalar, max_size=4))
def test_event_fingerprint_is_unchanged(strings: list[str], optional: list[str | None], moment: datetime,
                                        attributes: dict[str, object]) -> None:
    event = Event(strings[0], strings[1], strings[2], strings[3], moment, attributes, *optional)
    # Stored fingerprints outlive releases: a resubmitted event must hash as it did when first recorded.
    assert event.fingerprint() == _reference_fingerprint(event)


@given(seq=_ints, amount=_ints, reverses=st.none() | _ints, strings=st.lists(_text, min_size=10, max_size=10))
def test_kernel_canonical_bytes_equal_the_json_encoding(seq: int, amount: int, reverses: int | None,
                                                        strings: list[str]) -> None:
    """The kernel's variant (text fields known to be strings) spells the same bytes as json."""
    tenant, event_id, subject, debit, credit, ruleset, rule, reason, occurred_at, prev_hash = strings
    values = (seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason, occurred_at, reverses,
              prev_hash)
    expected = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    assert entry_canonical_bytes_of_text(*values) == expected
    assert entry_canonical_bytes_of_text(*(True if i == 6 else v for i, v in enumerate(values))) == json.dumps(
        [True if i == 6 else v for i, v in enumerate(values)], separators=(",", ":"), ensure_ascii=False).encode()


def test_record_json_keeps_equal_arguments_of_other_types_apart() -> None:
    """1, True and 1.0 are equal keys to Python; the record text of each still says what it was."""
    for value in (1, True, 1.0, 1, True):
        rule = RuleTrace("r", "R", "reward", 5, "base.fixed", {"a": value}, (), 5)
        decision = Decision("e", "s", 5, (), Trace("e", "t", "s", "2026-01-01T08:00:00+08:00", "x@1", (rule,)))
        assert decision.to_record_json() == json.dumps({"points": 5, "trace": decision.trace.to_dict()},
                                                       separators=(",", ":"), ensure_ascii=False)


@given(seq=_ints, amount=_ints, reverses=st.none() | _ints, strings=st.lists(_text, min_size=11, max_size=11))
def test_entry_json_line_equals_the_json_encoding(seq: int, amount: int, reverses: int | None,
                                                  strings: list[str]) -> None:
    """A streamed entry line is json's object of the entry's fields, whatever the text holds."""
    tenant, event_id, subject, debit, credit, ruleset, rule, reason, occurred_at, prev_hash, digest = strings
    entry = Entry(seq, tenant, event_id, subject, debit, credit, amount, ruleset, rule, reason, occurred_at,
                  reverses, prev_hash, digest)
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    assert entry_json_line(entry) == json.dumps(entry._asdict(), **compact) + "\n"
    odd = entry._replace(amount=True)
    assert entry_json_line(odd) == json.dumps(odd._asdict(), **compact) + "\n"
