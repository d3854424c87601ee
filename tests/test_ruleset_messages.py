"""Every ruleset diagnostic has a stable code, its parameters, and a Chinese and an English text: the catalogue
covers every code the source can emit, each code is driven by a malformed ruleset, and no Chinese text keeps an
English sentence (only names, keys and values quoted from the ruleset, and the DSL's own words)."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import gridpoints
from gridpoints.errors import Issue, RulesetError
from gridpoints.ruleset import LoadLimits, RulesetSpec, lint
from gridpoints.ruleset._conditions import COMBINATORS, EVENT_FIELDS, OPERATORS
from gridpoints.ruleset._messages import MESSAGES, PYDANTIC, YAML_PROBLEMS, pydantic_zh, render, yaml_problem
from gridpoints.ruleset._models import DEFAULT_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
RULESET_SOURCE = ROOT / "src" / "gridpoints" / "ruleset"
FUZZ = ROOT / "fuzz"

BASE = "ruleset: t\nversion: 1\nname: T\nrules:\n  - id: r\n    on: e\n    points: 5\n"


def rule(extra: str) -> str:
    """BASE whose one rule is ``{id: r, on: e, …extra}`` (flow-style keys)."""
    return f"ruleset: t\nversion: 1\nname: T\nrules:\n  - {{id: r, on: e, {extra}}}\n"


def plus(extra: str, rules: str = "  - {id: r, on: e, points: 5}\n") -> str:
    """A ruleset with ``rules`` and the top-level sections in ``extra``."""
    return f"ruleset: t\nversion: 1\nname: T\nrules:\n{rules}{extra}"


WHEN = "2026-05-01T00:00:00+08:00"
LATER = "2026-06-01T00:00:00+08:00"

#: message code → (ruleset text, limits); each yields at least one issue with that code.
CASES: dict[str, tuple[str, LoadLimits | None]] = {
    "limit.bytes": (BASE, LoadLimits(max_bytes=20)),
    "yaml.surrogate": (BASE + "x: \ud800\n", None),
    "yaml.syntax": ("a: b: c\n", None),
    "yaml.alias_undefined": (BASE + "x: *nope\n", None),
    "yaml.alias_recursive": ("rules: &a [*a]\n", None),
    "yaml.anchor_duplicate": ("a: &x 1\nb: &x 2\n", None),
    "limit.nodes_alias": ("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a, *a, *a]\n", LoadLimits(max_nodes=40)),
    "limit.depth_alias": ("a: &a [[1]]\nb: [[[*a]]]\n", LoadLimits(max_depth=5)),
    "limit.nodes": (BASE, LoadLimits(max_nodes=5)),
    "limit.scalar": (BASE, LoadLimits(max_scalar=3)),
    "limit.depth": (BASE, LoadLimits(max_depth=2)),
    "limit.items": (plus("", "  - {id: a, on: e, points: 1}\n  - {id: b, on: e, points: 2}\n"),
                    LoadLimits(max_items=1)),
    "yaml.tag": ("x: !!python/name:os.system a\n", None),
    "yaml.merge_key": ("a: &a {x: 1}\nb: {<<: *a}\n", None),
    "yaml.complex_key": ("? [a]\n: 1\n", None),
    "yaml.duplicate_key": ("a: 1\na: 2\n", None),
    "yaml.scalar_unreadable": ("x: 2026-13-01\n", None),
    "spec.not_mapping": ("- a\n", None),
    "key.unknown": (rule("pionts: 5"), None),
    "key.missing": ("ruleset: t\nversion: 1\nrules:\n  - {id: r, on: e, points: 5}\n", None),
    "limit.kind": (plus("limits:\n  - {id: c, kind: cpa, window: month, limit: 5}\n"), None),
    "value.literal": (plus("limits:\n  - {id: c, window: mnth, limit: 5}\n"), None),
    "value.invalid": ("ruleset: t\nversion: x\nname: T\nrules:\n  - {id: r, on: e, points: 5}\n", None),
    "attribute.min_above_max": (plus("events:\n  e: {attributes: {h: {type: number, min: 5, max: 1}}}\n"), None),
    "points.range_order": (rule("points: {range: [5, 1], from: h}"), None),
    "duration.form": (rule("points: 5, verify: {by: [grid_worker], within: 3x}"), None),
    "datetime.no_offset": (rule("points: 5, valid_from: 2026-05-01T00:00:00"), None),
    "datetime.year_range": (rule("points: 5, valid_from: 9999-05-01T00:00:00+08:00"), None),
    "validity.order": (rule(f"points: 5, valid_from: {LATER}, valid_until: {WHEN}"), None),
    "challenge.grid_scope": (plus("challenges:\n  - {id: c, name: C, top: 1, bonus: 5, team: grid, scope: grid}\n"),
                             None),
    "earned.no_bound": (plus("catalog:\n  - {id: i, name: I, cost: 5, eligibility: {earned: {window: month}}}\n"),
                        None),
    "earned.order": (plus("catalog:\n  - {id: i, name: I, cost: 5, eligibility: {earned: {min: 5, max: 1}}}\n"),
                     None),
    "balance.order": (plus("catalog:\n  - {id: i, name: I, cost: 5, eligibility: {min_balance: 5, max_balance: 1}}\n"),
                      None),
    "item.both_from": (plus(f"catalog:\n  - {{id: i, name: I, cost: 5, valid_from: {WHEN}, available_from: {WHEN}}}\n"),
                       None),
    "item.both_until": (plus(f"catalog:\n  - {{id: i, name: I, cost: 5, valid_until: {WHEN}, "
                             f"available_until: {WHEN}}}\n"), None),
    "campaign.no_raise": (plus(f"campaigns:\n  - {{id: c, name: C, multiplier: 1, valid_from: {WHEN}, "
                               f"valid_until: {LATER}}}\n"), None),
    "honour.one_source": (plus("honours:\n  - {id: h, name: H}\n"), None),
    "honour.one_source_not": (plus("honours:\n  - {id: h, name: H, challenge: c, streak: s}\n"), None),
    "timezone.unknown": (plus("timezone: Mars/Olympus\n"), None),
    "cond.date_datetime": (rule("points: 5, when: {event.date: {gte: 2026-06-01T00:00:00+08:00}}"), None),
    "cond.date_form": (rule("points: 5, when: {event.date: {gte: soon}}"), None),
    "cond.exists_bool": (rule("points: 5, when: {h: {exists: 1}}"), None),
    "cond.needs_list": (rule("points: 5, when: {h: {in: 1}}"), None),
    "cond.list_finite": (rule("points: 5, when: {h: {in: [.nan]}}"), None),
    "cond.list_scalars": (rule("points: 5, when: {h: {in: [[1]]}}"), None),
    "cond.needs_scalar": (rule("points: 5, when: {h: {eq: [1]}}"), None),
    "cond.finite": (rule("points: 5, when: {h: {gt: .inf}}"), None),
    "cond.needs_number": (rule("points: 5, when: {h: {gt: many}}"), None),
    "cond.not_mapping": (rule("points: 5, when: {not: 5}"), None),
    "cond.empty": (rule("points: 5, when: {}"), None),
    "cond.key_not_name": (rule("points: 5, when: {not: {1: 2}}"), None),
    "cond.combinator_list": (rule("points: 5, when: {all: []}"), None),
    "cond.unknown_event_field": (rule("points: 5, when: {event.grd: g1}"), None),
    "cond.empty_operators": (rule("points: 5, when: {h: {}}"), None),
    "cond.unknown_operator": (rule("points: 5, when: {h: {gtx: 1}}"), None),
    "cond.list_needs_operator": (rule("points: 5, when: {h: [1, 2]}"), None),
    "id.duplicate": (plus("", "  - {id: r, on: e, points: 5}\n  - {id: r, on: e, points: 6}\n"), None),
    "category.unknown_declared": (rule("points: 5, category: rewrad"), None),
    "category.unknown": (plus("limits:\n  - {id: c, categories: [rewrad], window: month, limit: 5}\n"), None),
    "category.unknown_declare": (plus("challenges:\n  - {id: c, name: C, top: 1, bonus: 5, category: bnus}\n"),
                                 None),
    "rule.on_reserved": (plus("", "  - {id: r, on: e, points: 5}\n  - {id: v, on: verify, points: 1}\n"), None),
    "rule.verify_deduction": (rule("points: -5, verify: {by: [grid_worker], within: 3d}"), None),
    "rule.appeal_award": (rule("points: 5, appeal: {within: 3d}"), None),
    "repair.unknown": (rule("points: -5, repair: fix"), None),
    "rule.repair_award": (plus("repairs:\n  - {id: fix, task: [sweep], within: 7d}\n",
                               "  - {id: r, on: e, points: 5, repair: fix}\n"), None),
    "rule.scheduled_form": (plus("", "  - {id: r, on: e, points: 5}\n  - {id: p, on: period.month, points: 1, "
                                     "when: {h: 1}}\n"), None),
    "rule.credit_needs_verify": (rule("points: 5, credit_worker: {points: 1, within: 1d}"), None),
    "repair.task_taken": (plus("repairs:\n  - {id: fix, task: [e], within: 7d}\n",
                               "  - {id: r, on: e, points: 5}\n  - {id: d, on: litter, points: -5, repair: fix}\n"),
                          None),
    "tier.unknown": (plus("tiers:\n  - {id: gold, name: G}\ncatalog:\n  - {id: i, name: I, cost: 5, "
                          "eligibility: {tiers: [glod]}}\n"), None),
    "rule.unknown": (plus("limits:\n  - {id: c, rules: [q], window: month, limit: 5}\n"), None),
    "limit.continues_taken": (plus("limits:\n  - {id: a, window: month, limit: 5}\n"
                                   "  - {id: b, window: month, limit: 9, continues: a}\n"), None),
    "streak.unknown_event": (plus("streaks:\n  - {id: s, name: S, on: [x], length: 3, bonus: 5}\n"), None),
    "challenge.unknown": (plus("honours:\n  - {id: h, name: H, challenge: nope}\n"), None),
    "streak.unknown": (plus("honours:\n  - {id: h, name: H, streak: nope}\n"), None),
    "milestone.units_not_per_unit": (plus("honours:\n  - {id: h, name: H, milestone: {rules: [r], metric: units, "
                                          "at: 5}}\n"), None),
    "item.entitlement_unbounded": (plus("catalog:\n  - {id: i, name: I, cost: 0}\n"), None),
    "item.entitlement_holds": (plus("catalog:\n  - {id: i, name: I, cost: 0, stock: 5, hold: 7d}\n"), None),
    "item.ceiling_below_cost": (plus("catalog:\n  - {id: i, name: I, cost: 50, eligibility: {max_balance: 10}}\n"),
                                None),
    "attribute.not_numeric": (plus("events:\n  e: {attributes: {h: {type: string}}}\n",
                                   "  - {id: r, on: e, points: {per: h, each: 5}}\n"), None),
    "attribute.table_number": (plus("events:\n  e: {attributes: {h: {type: number}}}\n",
                                    "  - {id: r, on: e, points: {by: h, table: {'1': 5}, default: 0}}\n"), None),
    "lint.undeclared_event": (plus("events:\n  garbage_sorting: {}\n",
                                   "  - {id: a, on: garbage_sorting, points: 5}\n  - {id: b, on: garbage_sortng, "
                                   "points: 5}\n"), None),
    "lint.unhandled_event": (plus("events:\n  x: {}\n"), None),
    "lint.rule_on_ignored": (plus("events:\n  e: {ignore: true}\n"), None),
    "lint.rule_never_matches": (rule("points: 5, when: {all: [{h: 1}, {h: 2}]}"), None),
    "lint.campaign_selects_nothing": (plus(f"campaigns:\n  - {{id: c, name: C, rules: [r], bonus: 1, "
                                           f"valid_from: {WHEN}, valid_until: {LATER}}}\n",
                                           "  - {id: r, on: e, points: -5}\n"), None),
    "lint.campaign_out_of_force": (plus(f"campaigns:\n  - {{id: c, name: C, bonus: 1, valid_from: {LATER}, "
                                        f"valid_until: 2026-07-01T00:00:00+08:00}}\n",
                                        f"  - {{id: r, on: e, points: 5, valid_until: {WHEN}}}\n"), None),
    "lint.campaign_never_matches": (plus(f"campaigns:\n  - {{id: c, name: C, bonus: 1, valid_from: {WHEN}, "
                                         f"valid_until: {LATER}, when: {{event.hour: {{gt: 30}}}}}}\n"), None),
    "lint.campaign_overlap": (plus(f"campaigns:\n  - {{id: a, name: A, bonus: 1, valid_from: {WHEN}, "
                                   f"valid_until: {LATER}}}\n  - {{id: b, name: B, bonus: 2, valid_from: {WHEN}, "
                                   f"valid_until: {LATER}}}\n"), None),
    "lint.streak_does_nothing": (plus("streaks:\n  - {id: s, name: S, on: [e], length: 3, bonus: 0}\n"), None),
    "lint.milestone_never_earned": (plus("honours:\n  - {id: h, name: H, milestone: {rules: [r], metric: events, "
                                         "at: 5}}\n", "  - {id: r, on: e, points: -5}\n"), None),
    "lint.honour_title_differs": (plus("challenges:\n  - {id: c, name: C, top: 1, bonus: 5, title: 达人}\n"
                                       "honours:\n  - {id: h, name: 能手, challenge: c}\n"), None),
    "lint.team_bonus_each": (plus("challenges:\n  - {id: c, name: C, top: 1, bonus: 5, team: household}\n"), None),
    "lint.table_open": (rule("points: {by: kind, table: {a: 1, b: 2}}"), None),
    "lint.table_gap": (rule("points: {by: kind, table: {a: 1}}, when: {kind: {in: [a, b]}}"), None),
    "lint.limit_selects_nothing": (plus("limits:\n  - {id: c, window: month, limit: 5}\n",
                                        "  - {id: r, on: e, points: -5}\n"), None),
    "lint.cap_never_binds": (plus("limits:\n  - {id: d, window: day, limit: 5}\n"
                                  "  - {id: m, window: month, limit: 500}\n"), None),
    "lint.open_entitlement": (plus("catalog:\n  - {id: i, name: I, cost: 0, stock: 5}\n"), None),
    "lint.unverified_repair": (plus("repairs:\n  - {id: fix, task: [sweep], within: 7d}\n",
                                    "  - {id: r, on: e, points: -5, repair: fix}\n"), None),
    "lint.notice_never_sent": (plus("notices:\n  kinds: [repair_due]\n"), None),
}

#: Codes no ruleset text reaches, each with why and parameters to render it with.
NOT_FROM_TEXT: dict[str, tuple[str, dict[str, Any]]] = {
    "file.unreadable": ("a file that exists but cannot be read: driven below with /proc/self/mem",
                        {"error": "[Errno 5] Input/output error", "errno": "EIO"}),
    "duration.range": ("YAML gives a duration as text; only a Python caller passes a timedelta out of range",
                       {"max_days": 9999, "value": "10000 days, 0:00:00"}),
    "yaml.tag_collection": ("a guard: PyYAML's safe constructors give no list or mapping for a scalar",
                            {"tag": "tag:yaml.org,2002:set"}),
    "yaml.too_deep": ("a guard behind max_depth: the parser stops first, at its own nesting limit (yaml.deep)",
                      {"max_depth": 64}),
    "key.unknown_bare": ("a guard: every model that forbids extra keys names the keys it takes", {"key": "x"}),
}

#: Codes driven through paths (tests below), not text.
FROM_PATHS = {"file.missing", "file.not_a_file", "file.not_utf8", "limit.bytes_size", "file.unreadable"}


def _vocabulary() -> set[str]:
    """The words Chinese text may keep: the DSL's keys and literal values, the condition language, the limits,
    acronyms and formats."""
    words: set[str] = set(OPERATORS) | set(COMBINATORS) | set(EVENT_FIELDS)
    words |= {field.name for field in LoadLimits.__attrs_attrs__}
    seen: set[Any] = set()

    def walk(tp: Any) -> None:
        if tp in seen:
            return
        seen.add(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, info in tp.model_fields.items():
                words.update({name, info.alias or name})
                walk(info.annotation)
            return
        if typing.get_origin(tp) is typing.Literal:
            words.update(str(arg) for arg in typing.get_args(tp))
        for arg in typing.get_args(tp):
            walk(arg)

    walk(RulesetSpec)
    words |= {"YAML", "UTC", "IANA", "Unicode", "UTF", "YYYY", "MM", "DD", "true", "false", "lo", "hi", "period",
              "period.*", "TAG", "grid_worker", *DEFAULT_CATEGORIES}
    return words


VOCABULARY = _vocabulary()


def _quoted(params: dict[str, Any]) -> list[str]:
    """Every text a parameter may show as: its str and repr, and its items' (longest first)."""
    shown: set[str] = set()
    for value in params.values():
        for item in [value, *(value if isinstance(value, list | tuple) else [])]:
            shown.update({str(item), repr(item)})
    return sorted((s for s in shown if s), key=len, reverse=True)


def untranslated(text: str, params: dict[str, Any]) -> list[str]:
    """ASCII words in a Chinese text that are neither quoted from the ruleset (a parameter, a quoted span)
    nor the DSL's own words: what an English sentence left behind would show as."""
    rest = text
    for shown in _quoted(params):
        rest = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(shown)}(?![A-Za-z0-9_])", " ", rest)
    rest = re.sub(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}", " ", rest)
    return [word for word in re.findall(r"[A-Za-z][A-Za-z_]*(?:\.[A-Za-z_*]+)*", rest)
            if word not in VOCABULARY and not re.fullmatch(r"[A-Za-z]", word)]


def _issues(text: str | Path, limits: LoadLimits | None) -> list[Issue]:
    return [d.issue for d in lint(text, limits=limits or LoadLimits())]


def _assert_translated(issue: Issue) -> None:
    assert issue.code in MESSAGES, issue
    assert issue.zh is not None and issue.zh != issue.message, issue
    assert issue.text("en") == issue.message == render(issue.code, "en", issue.params)
    left = untranslated(issue.zh, dict(issue.params))
    assert not left, f"{issue.code}: English left in {issue.zh!r}: {left}"
    assert re.search(r"[\u4e00-\u9fff]", issue.zh), issue.zh


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_code_is_reported_and_reads_in_chinese(code: str) -> None:
    """A ruleset broken one way reports that code, with parameters, an English and a Chinese text."""
    text, limits = CASES[code]
    found = _issues(text, limits)
    mine = [issue for issue in found if issue.code == code]
    assert mine, f"{code} not reported; got {[(i.code, i.message) for i in found]}"
    for issue in found:
        _assert_translated(issue)


def test_paths_that_cannot_be_read_report_in_both_languages(tmp_path: Path) -> None:
    """A missing file, a folder, a file that is not UTF-8, one too big, one that cannot be read: each its code."""
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: \xff\xfe\n")
    big = tmp_path / "big.yaml"
    big.write_text(BASE, encoding="utf-8")
    cases = {"file.missing": (str(tmp_path / "missing.yaml"), None), "file.not_a_file": (tmp_path, None),
             "file.not_utf8": (latin, None), "limit.bytes_size": (big, LoadLimits(max_bytes=20)),
             "file.unreadable": (Path("/proc/self/mem"), None)}
    assert set(cases) == FROM_PATHS
    for code, (where, limits) in cases.items():
        (issue,) = _issues(where, limits)
        assert issue.code == code, (code, issue)
        _assert_translated(issue)


def test_the_cases_drive_every_code_of_the_catalogue() -> None:
    """The table above, the paths and the stated exceptions cover the whole catalogue."""
    assert set(MESSAGES) == set(CASES) | FROM_PATHS | set(NOT_FROM_TEXT)
    for code, (_reason, params) in NOT_FROM_TEXT.items():
        zh = render(code, "zh", params)
        assert not untranslated(zh, params) and re.search(r"[\u4e00-\u9fff]", zh), zh


def _emitted_codes() -> set[str]:
    """Message codes in the ruleset layer's source: the constant code argument of every call that makes a
    problem (an f-string there is a message without a code, and fails)."""
    makers = {"issue": 1, "_refuse": 0, "_Refused": 0, "ConditionError": 1, "_invalid": 0, "make_issue": 1, "_warn": 3}
    codes: set[str] = set()
    for path in sorted(RULESET_SOURCE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            index = makers.get(name)
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            assert not isinstance(arg, ast.JoinedStr), f"{path.name}:{node.lineno}: a message without a code"
            constants = [n.value for n in ast.walk(arg) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            codes.update(constants)
    return codes


def test_every_code_the_source_emits_has_both_languages() -> None:
    """Scanning the source finds every message code; each has a non-empty zh and en text, and the catalogue
    holds no code the source never emits."""
    emitted = _emitted_codes()
    assert len(emitted) > 80
    for code in emitted:
        assert code in MESSAGES, f"{code} has no entry in the catalogue"
        assert MESSAGES[code].get("zh") and MESSAGES[code].get("en"), code
    assert set(MESSAGES) - emitted == set(), "catalogue entries nothing emits"


def test_pydantic_error_types_read_in_chinese() -> None:
    """Every pydantic error type the catalogue words has a Chinese text without English, from its context;
    the models' custom types (points_form, limit_kind) have both languages."""
    ctx = {"gt": 0, "ge": 1, "lt": 5, "le": 9, "multiple_of": 2, "min_length": 1, "max_length": 64,
           "pattern": r"^[a-z][a-z0-9_]*$", "expected": "'a' or 'b'", "tag": "x", "expected_tags": "a, b",
           "discriminator": "kind"}
    for kind in PYDANTIC:
        zh = pydantic_zh(kind, ctx)
        assert re.search(r"[\u4e00-\u9fff]", zh) and not untranslated(zh, ctx), (kind, zh)
    models = (RULESET_SOURCE / "_models.py").read_text(encoding="utf-8")
    for custom in re.findall(r'custom_error_type="([a-z_]+)"', models):
        assert PYDANTIC[custom].get("en") and PYDANTIC[custom].get("zh"), custom


@pytest.mark.parametrize(("text", "kind"), [
    (BASE.replace("version: 1", "version: x"), "int_type"),
    (BASE.replace("version: 1", "version: 1.5"), "int_type"),
    (BASE.replace("version: 1", "version: -1"), "greater_than_equal"),
    (BASE.replace("name: T", "name: 5"), "string_type"),
    ("ruleset: t\nversion: 1\nname: T\nrules: 5\n", "list_type"),
    ("ruleset: t\nversion: 1\nname: T\nrules: []\n", "too_short"),
    ("ruleset: t\nversion: 1\nname: T\nrules: [5]\n", "model_type"),
    (BASE + "events: 5\n", "dict_type"),
    (BASE + "events: {e: {ignore: 5}}\n", "bool_parsing"),
    (BASE.replace("id: r", "id: 'a b'"), "string_pattern_mismatch"),
    (BASE.replace("id: r", "id: ''"), "string_too_short"),
    (BASE.replace("id: r", "id: " + "a" * 65), "string_too_long"),
    (rule("points: {per: h, each: 5, max_units: .nan}"), "finite_number"),
    (rule("points: x"), "points_form"),
    (rule("points: 5, verify: 5"), "model_type"),
    (rule("points: {per: h, each: 5, max_units: 0}"), "greater_than"),
    (rule("points: 9999999999999999999"), "less_than_equal"),
    (rule("points: 5, valid_from: nope"), "datetime_from_date_parsing"),
])
def test_pydantic_errors_keep_their_place_and_read_in_chinese(text: str, kind: str) -> None:
    """A value of the wrong type or out of bounds reads in Chinese at its YAML line, its type in the params."""
    found = _issues(text, None)
    mine = [i for i in found if i.code == "value.invalid" and i.params["type"] == kind]
    assert mine, [(i.code, dict(i.params)) for i in found]
    assert mine[0].line is not None and mine[0].line >= 2
    for issue in found:
        _assert_translated(issue)


@pytest.mark.parametrize("text", [
    "a: b: c\n", "a:\n\t- b\n", "x: [1, 2\n", "x: {a: 1\n", "- a\nb: c\n", "x: 'abc\n", "a: 1\n---\nb: 2\n",
    "a:\n  b: 1\n c: 2\n", "x: \"\\q\"\n", "a: [b, c]]\n", "x: *\n", "x: !<a b\n",
])
def test_yaml_syntax_errors_read_in_chinese(text: str) -> None:
    """The YAML parser's common problems each have their own Chinese (not the catch-all), at the line."""
    (issue,) = _issues(text, None)
    assert issue.code == "yaml.syntax", issue
    assert issue.params["problem_zh"] != yaml_problem("something no parser says"), issue.params["problem"]
    _assert_translated(issue)


def test_the_parsers_own_nesting_limit_reads_in_chinese() -> None:
    """Past a raised max_depth, libyaml's own nesting limit is a YAML error with its own Chinese."""
    (issue,) = _issues("[" * 3000 + "]" * 3000 + "\n", LoadLimits(max_depth=10**6))
    assert issue.code in ("yaml.syntax", "yaml.too_deep"), issue
    assert "嵌套太深" in (issue.zh or "")
    _assert_translated(issue)


def test_every_yaml_problem_pattern_compiles_and_reads_in_chinese() -> None:
    """The YAML problem table: valid patterns, Chinese texts without English."""
    for pattern, zh in YAML_PROBLEMS:
        re.compile(pattern)
        assert re.search(r"[\u4e00-\u9fff]", zh) and not untranslated(zh, {}), zh


def test_the_fuzz_corpus_reads_in_chinese() -> None:
    """Every hostile ruleset of the fuzz corpus gives a coded, Chinese diagnostic without English."""
    import sys

    sys.path.insert(0, str(FUZZ))
    try:
        import corpus
    finally:
        sys.path.remove(str(FUZZ))
    for name, (text, _fragment) in corpus.RULESETS.items():
        for issue in _issues(text, None):
            assert issue.code is not None, (name, issue)
            _assert_translated(issue)


def test_did_you_mean_stays_a_did_you_mean() -> None:
    """A misspelt key's suggestion reads 建议 in Chinese, 'did you mean' in English; str() stays English."""
    (issue,) = [i for i in _issues(rule("pionts: 5"), None) if i.code == "key.unknown"]
    assert issue.describe("zh").endswith("（建议：'points'）")
    assert str(issue).endswith("(did you mean 'points'?)") and str(issue) == issue.describe("en")
    assert issue.params["key"] == "pionts" and "points" in issue.params["options"]


def test_ruleset_error_describes_itself_in_either_language() -> None:
    """RulesetError's str() is the developer's English; describe("zh") the staff's Chinese, each issue a line."""
    with pytest.raises(RulesetError) as caught:
        gridpoints.load_ruleset(rule("points: 5, category: rewrad"))
    error = caught.value
    assert str(error).startswith("invalid ruleset (1 problem(s)):\nrules[0].category @ <text>:5:")
    assert "unknown category 'rewrad'; declared: base, reward" in str(error)
    zh = error.describe("zh")
    assert zh.startswith("规则集无效（1 处问题）：\nrules[0].category @ <文本>:5:")
    assert "未知的类别 'rewrad'；已声明的类别：base、reward" in zh and zh.endswith("（建议：'reward'）")


def test_diagnostic_describes_with_chinese_severity() -> None:
    """A lint diagnostic in Chinese: 错误/警告, the stable lint code, the place, the message."""
    (warning,) = lint(plus("events:\n  x: {}\n"))
    assert warning.describe("zh") == ("警告[unhandled-event] events.x @ <文本>:7:3：没有规则处理 'x'：这类事件会被"
                                      "拒收；请添加规则，或设置 'ignore: true'")
    assert str(warning) == warning.describe("en")
