"""Hostile inputs that once broke gridpoints, each with a fragment of the typed error it must now give.

The regression tests (tests/test_hostile_input.py) run every entry; the fuzz harnesses start from them.
"""

from __future__ import annotations

from typing import Final

#: A ruleset that loads; the other entries break it one way each.
BASE: Final = """\
ruleset: t
version: 1
name: T
rules:
  - id: r
    on: e
    points: 5
"""


def alias_bomb(levels: int, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases to the one before: width**levels nodes expanded."""
    lines = ['a0: &a0 ["x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n" + BASE


def _rule(extra: str) -> str:
    return BASE.replace("    points: 5\n", extra)


#: name → (ruleset text or path, a fragment of the one expected RulesetError message)
RULESETS: Final[dict[str, tuple[str, str]]] = {
    "alias-bomb-9x9": (alias_bomb(9), "max_nodes"),
    "alias-bomb-6x9-valid-size": (alias_bomb(6), "unknown key 'a0'"),
    "self-alias": ("rules: &a [*a]\n", "refers to a node that contains it"),
    "deep-flow-nesting": ("[" * 10_000 + "]" * 10_000 + "\n", "nest"),
    "deep-block-nesting": ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + f"{'  ' * 200}v: 1\n", "max_depth"),
    "complex-key": ("? [a]\n: 1\n", "mapping key must be text or a number"),
    "unknown-tag": ("!foo x\n", "unsupported YAML tag"),
    "python-tag": ("!!python/name:os.system\n", "unsupported YAML tag"),
    "python-object-tag": ("!!python/object/apply:os.system [echo]\n", "unsupported YAML tag"),
    "set-tag": (BASE + "x: !!set {a, b}\n", "unsupported YAML tag"),
    "huge-duration": (_rule("    points: 5\n    verify: {by: [w], within: 9999999999d}\n"), "duration"),
    "zone-directory": ("timezone: America\n" + BASE, "unknown IANA time zone"),
    "zone-5000-chars": (f"timezone: {'a' * 5000}\n" + BASE, "at most 64 characters"),
    "name-5000-chars": ("a" * 5000, "expected a mapping"),
    "int-100000-digits": ("version: " + "9" * 100_000 + "\n", "max_scalar"),
    "int-5000-digits": ("version: " + "9" * 5000 + "\n", "cannot read"),
    "bad-timestamp": (BASE + "catalog:\n  - {id: i, cost: 1, available_from: 2026-13-01}\n", "cannot read"),
    "naive-available-from": (BASE + "catalog:\n  - {id: i, cost: 1, available_from: 2026-01-01 00:00:00}\n",
                             "UTC offset"),
    "year-9999-available-until": (BASE + "catalog:\n  - {id: i, cost: 1, available_until: 9999-12-31T23:59:59Z}\n",
                                  "years 1900 to 8999"),
    "negative-restore": (_rule("    points: -5\n    repair: rp\n")
                         + "repairs:\n  - {id: rp, task: [t], within: 7d, restore: -5}\n",
                         "greater than or equal to 0"),
    "nan-min-max": (BASE + "events:\n  e:\n    attributes:\n      x: {type: number, min: .nan, max: .nan}\n",
                    "finite number"),
    "inf-max-units": (_rule("    points: {per: h, each: 1, max_units: .inf}\n"), "finite number"),
    "min-above-max": (BASE + "events:\n  e:\n    attributes:\n      x: {type: number, min: 9, max: 1}\n",
                      "min must not be above max"),
    "gt-nan": (_rule("    points: 5\n    when: {x: {gt: .nan}}\n"), "finite number"),
    "eq-inf": (_rule("    points: 5\n    when: {x: .inf}\n"), "finite number"),
    "in-nan": (_rule("    points: 5\n    when: {x: {in: [1, .nan]}}\n"), "finite numbers"),
    "empty-category": (BASE + "categories: {'': x}\n", "at least 1 character"),
    "nul-category": (BASE + 'categories: {"a\\0b": x}\n', "should match pattern"),
    "points-minus-10-30": (BASE.replace("points: 5", "points: -" + str(10**30)), "greater than or equal to"),
    "each-2-64": (_rule("    points: {per: h, each: 18446744073709551616}\n"), "less than or equal to"),
    "limit-fraction": (BASE + "limits:\n  - {id: c, window: day, limit: 50.5}\n", "expected an integer"),
    "limit-float-huge": (BASE + "limits:\n  - {id: c, window: day, limit: 1.0e+300}\n", "less than or equal to"),
    "tier-months-2-62": (BASE + f"tier_months: {2**62}\n", "less than or equal to 1200"),
    "rotation-2-62": (BASE + "challenges:\n  - {id: c, top: 1, bonus: 1, rotation: {max_wins: 1, in_periods: "
                      f"{2**62}}}}}\n", "less than or equal to 1000"),
    "directory-path": ("/tmp", "not a file"),
    "merge-key": ("a: &a {x: 1}\nb:\n  <<: *a\n", "merge keys"),
    "undefined-alias": ("a: *nowhere\n", "alias"),
    "duplicate-anchor": ("a: &x 1\nb: &x 2\n" + BASE, "duplicate anchor"),
    "two-documents": (BASE + "---\n" + BASE, "another document"),
    "nul-byte": ("ruleset: t\x00\n", "not valid YAML"),
    "lone-surrogate": ("ruleset: t\ud800\n" + BASE, "not valid YAML"),
    "bom-then-text": ("\ufeff" + BASE + "x: 1\n", "unknown key 'x'"),
}

#: The events every ruleset-independent intake check must refuse with an EventError: name → (event fields
#: that replace a good event's, the field the error must name).
EVENTS: Final[dict[str, tuple[dict[str, object], str]]] = {
    "year-9999": ({"occurred_at": "9999-12-31T23:59:59+00:00"}, "occurred_at"),
    "year-1-plus-8": ({"occurred_at": "0001-01-01T00:00:00+08:00"}, "occurred_at"),
    "naive-time": ({"occurred_at": "2026-05-01T10:00:00"}, "occurred_at"),
    "units-2e18": ({"attributes": {"hours": 2 * 10**18}}, "points"),
    "attribute-10-5000": ({"attributes": {"note": 10**5000}}, "attributes.note"),
    "attribute-2-64": ({"attributes": {"note": 2**64}}, "attributes.note"),
    "lone-surrogate-attribute": ({"attributes": {"note": "x\ud800"}}, "attributes.note"),
    "lone-surrogate-subject": ({"subject": "x\ud800"}, "subject"),
    "lone-surrogate-id": ({"id": "e-\udfff"}, "id"),
    "lone-surrogate-attribute-name": ({"attributes": {"n\ud800": "x"}}, "attributes"),
    "10-mb-attribute": ({"attributes": {"note": "x" * 10_000_000}}, "attributes.note"),
    "100k-attributes": ({"attributes": {f"k{i}": i for i in range(100_000)}}, "attributes"),
    "long-id": ({"id": "e" * 200}, "id"),
    "nan-attribute": ({"attributes": {"hours": float("nan")}}, "attributes.hours"),
    "inf-attribute": ({"attributes": {"hours": float("inf")}}, "attributes.hours"),
}
