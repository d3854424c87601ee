"""The hand-written serialisations on the hot path produce exactly what the generic encoders would.

An entry's hash covers its canonical bytes, and an auditor or another adapter may rebuild those bytes with
any JSON library: the fast spelling must never drift from ``json``'s compact, non-ASCII-escaping form.
"""

from __future__ import annotations

import json

import attrs
from hypothesis import given
from hypothesis import strategies as st

from gridpoints.model import LimitStep, RuleTrace, Trace, entry_canonical_bytes

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
    assert trace.to_dict()["rules"][0]["steps"] == [list(attrs.astuple(step))]
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace
