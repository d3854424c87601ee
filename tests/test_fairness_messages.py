"""The fairness kit speaks Chinese and English: every property's meaning and every violation has both, the
English is the text the kit always printed, and a Chinese rendering leaves no English behind but the values
it quotes; ``gridpoints check --lang`` and the service's check follow."""

from __future__ import annotations

import ast
import io
import re
import string
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_fairness_kit import CAP_BYPASS, FAVOURS_HOUSEHOLD, TIGHT, _noise, _patrols

import gridpoints
from gridpoints import MemoryStore
from gridpoints.cli import command
from gridpoints.storage import _memory as memory
from gridpoints.testing import (
    PROPERTIES,
    Concentration,
    FairnessViolation,
    check_attribute_blind,
    check_caps,
    check_concentration,
    check_conservation,
    check_determinism,
    check_equal_treatment,
    check_event_type_bounds,
    check_floor,
    check_idempotency,
    check_positive_events,
    check_shares,
    run_check,
)
from gridpoints.testing import _messages as catalogue
from gridpoints.testing.fairness import PropertyResult, result_line, run_property

pytest_plugins = ["pytester"]

SOURCES = Path(gridpoints.__file__).parent / "testing"
REPORT_CODES = {"counterexample", "also_failing", "check.header", "check.pass", "check.fail", "check.summary",
                "check.invalid", "plugin.fails"}
#: ASCII a Chinese text may keep: the replay command, file and library names, Python literals in values.
ALLOWED = {"gridpoints", "run", "RULESET", "events", "jsonl", "durable_rules", "legitimate", "JSON", "None",
           "True", "False"}
ATTRIBUTE_BLIND = """
ruleset: favour
version: 1
name: favour
events:
  mediation:
    attributes:
      party_member: {type: boolean}
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: favour, on: mediation, when: {party_member: true}, points: 30}
"""


def _english_left(text: str, values: Mapping[str, Any]) -> list[str]:
    """ASCII words of ``text`` once the quoted values, JSON Lines and the allowed names are taken out."""
    lines = [line for line in text.splitlines() if not line.startswith("{")]
    rest = "\n".join(lines)
    shown: list[str] = []
    for value in values.values():
        items = list(value) if isinstance(value, list | tuple) else [value]
        shown += [repr(value), str(value), *(repr(v) for v in items), *(str(v) for v in items)]
    for piece in sorted(shown, key=len, reverse=True):
        rest = rest.replace(piece, " ")
    return [w for w in re.findall(r"[A-Za-z_][A-Za-z_]+", rest) if w not in ALLOWED]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# -- the catalogue -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(catalogue.MESSAGES))
def test_every_message_has_both_languages_with_the_same_parameters(code: str) -> None:
    """Each code's Chinese reads the parameters its English does and no English word of its own."""
    entry = catalogue.MESSAGES[code]
    assert set(entry) == {"en", "zh"}
    assert _placeholders(entry["en"]) == _placeholders(entry["zh"]), code
    bare = re.sub(r"\{[^}]*\}", " ", entry["zh"])
    assert [w for w in re.findall(r"[A-Za-z_]{2,}", bare) if w not in ALLOWED] == [], code


def test_every_property_has_a_meaning_in_both_languages() -> None:
    """The standard properties and the host-declared ones each have a one-line meaning in zh and en."""
    names = [*PROPERTIES, "event_type_bounds", "concentration", "durable_base_points"]
    assert sorted(catalogue.PROPERTY_MEANINGS) == sorted(names)
    for name in names:
        meaning = catalogue.PROPERTY_MEANINGS[name]
        assert re.search(r"[\u4e00-\u9fff]", meaning["zh"]) and meaning["en"].isascii()
        assert [w for w in re.findall(r"[A-Za-z_]{2,}", meaning["zh"]) if w not in ALLOWED] == [], name


def _codes_in(path: Path) -> Iterator[str]:
    """The message codes a module raises or returns: ``FairnessViolation.of(property, CODE, …)`` (both arms of
    a conditional) and the ``targeting.*`` reasons ``_ineligible`` returns."""
    def arms(node: ast.expr) -> Iterator[ast.expr]:
        if isinstance(node, ast.IfExp):
            yield from arms(node.body)
            yield from arms(node.orelse)
        else:
            yield node

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "of"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "FairnessViolation"):
            for arm in arms(node.args[1]):
                if isinstance(arm, ast.Constant) and isinstance(arm.value, str):
                    yield arm.value
                elif not (isinstance(arm, ast.Subscript) and ast.unparse(arm) == "why[0]"):
                    raise AssertionError(f"{path.name}:{node.lineno}: a code that is not a literal")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("targeting."):
            yield node.value


def test_every_violation_the_kit_raises_has_a_catalogued_code() -> None:
    """No violation is built from bare text, every code raised is catalogued and every code is raised."""
    raised: set[str] = set()
    for path in (SOURCES / "properties.py", SOURCES / "fairness.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "FairnessViolation"]
        assert bare == [] or (path.name == "properties.py" and len(bare) == 1), (path.name, bare)  # evolve()
        raised |= set(_codes_in(path))
    assert raised <= set(catalogue.MESSAGES)
    assert set(catalogue.MESSAGES) - raised == REPORT_CODES


# -- every driveable violation, for real ----------------------------------------------------------------------


@pytest.fixture
def tight() -> gridpoints.Policy:
    """The tight ruleset, compiled."""
    return gridpoints.load_ruleset(TIGHT)


def _no_limits(monkeypatch: pytest.MonkeyPatch, granted: Callable[[int], int]) -> None:
    from gridpoints.policy import _limits as limits

    real = limits.apply
    monkeypatch.setattr(limits, "apply", lambda limit, keys, amount, counters: (
        granted(amount), real(limit, keys, amount, counters)[1]))


def _stamped(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridpoints.engine import _kernel as engine

    calls = iter(range(10**6))
    real = engine.entry_canonical_bytes_of_text
    monkeypatch.setattr(engine, "entry_canonical_bytes_of_text", lambda *f: real(*f) + str(next(calls)).encode())


def _skewed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = MemoryStore.balances
    monkeypatch.setattr(MemoryStore, "balances", lambda self, tenant, accounts: {
        a: v + 1 for a, v in real(self, tenant, accounts).items()})


def _mediation(party_member: bool) -> dict[str, Any]:
    return {"id": "m1", "type": "mediation", "subject": "s1", "grid": "g1",
            "occurred_at": "2026-04-01T09:00:00+08:00", "attributes": {"party_member": party_member}}


def _favoured() -> list[dict[str, Any]]:
    return [{**_patrols(1)[0], "id": "e1", "type": "mediation", "household": "h1", "attributes": {}}]


def _defect(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """The engine defect a case needs (none for the unfair rulesets)."""
    from gridpoints.policy import _limits as limits

    if case in ("caps", "shares"):
        _no_limits(monkeypatch, lambda amount: amount)
    elif case == "positive_events":
        _no_limits(monkeypatch, lambda amount: -5)
    elif case == "floor":
        monkeypatch.setattr(limits, "floor_allowance", lambda deduction, balance, floor: deduction)
    elif case == "determinism":
        _stamped(monkeypatch)
    elif case == "idempotency":
        monkeypatch.setattr(memory._MemoryTransaction, "find_events", lambda self, ids: {})
    elif case == "conservation":
        _skewed(monkeypatch)


def _refuses(policy: gridpoints.Policy, events: Any) -> None:
    raise ValueError("ledger unavailable")


def _broken(monkeypatch: pytest.MonkeyPatch, tight: gridpoints.Policy, case: str) -> FairnessViolation:
    """The violation each case provokes, by an unfair ruleset or an engine defect."""
    _defect(monkeypatch, case)
    if case == "engine.raised":
        result = run_property(tight, "caps", _refuses, max_examples=2, seed=1)
        assert result.violation is not None
        return result.violation
    runs: dict[str, Callable[[], None]] = {
        "caps": lambda: check_caps(tight, _patrols(2)),
        "shares": lambda: check_shares(tight, _patrols(3)),
        "floor": lambda: check_floor(tight, [_noise("n1")]),
        "positive_events": lambda: check_positive_events(gridpoints.load_ruleset(CAP_BYPASS), _patrols(1)),
        "determinism": lambda: check_determinism(tight, _patrols(1)),
        "idempotency": lambda: check_idempotency(tight, _patrols(2)),
        "conservation": lambda: check_conservation(tight, _patrols(1)),
        "equal_treatment": lambda: check_equal_treatment(gridpoints.load_ruleset(FAVOURS_HOUSEHOLD), _favoured()),
        "attribute_blind": lambda: check_attribute_blind(gridpoints.load_ruleset(ATTRIBUTE_BLIND),
                                                         [_mediation(True)]),
        "event_type_bounds": lambda: check_event_type_bounds(gridpoints.load_ruleset(CAP_BYPASS), _patrols(2),
                                                             {"patrol": ("subject", "day", 40)}),
        "concentration": lambda: check_concentration(tight, _patrols(2), Concentration(max_share=0.5, min_total=10)),
    }
    with pytest.raises(FairnessViolation) as caught:
        runs[case]()
    return caught.value


DRIVEN = ["caps", "shares", "floor", "positive_events", "determinism", "idempotency", "conservation",
          "equal_treatment", "attribute_blind", "event_type_bounds", "concentration", "engine.raised"]


@pytest.mark.parametrize("case", DRIVEN)
def test_a_violation_reads_in_chinese_and_keeps_its_english(case: str, tight: gridpoints.Policy,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A real violation's English is its catalogue English (what ``detail`` and ``str()`` say); its Chinese is
    Chinese with no English beyond the values it quotes."""
    violation = _broken(monkeypatch, tight, case)
    assert violation.code is not None and violation.code in catalogue.MESSAGES
    assert violation.detail == violation.text("en")
    english = catalogue.render(violation.code, "en", violation.params)
    assert str(violation).startswith(f"{violation.property}: {english}")
    zh = violation.text("zh")
    assert re.search(r"[\u4e00-\u9fff]", zh) and zh != violation.text("en")
    assert _english_left(zh, {**violation.params, "ref": violation.ref}) == [], zh


def test_the_report_line_says_the_failure_and_the_replay_hint_in_chinese(tight: gridpoints.Policy,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing property's report line with the counter-example attached: zh gives 未通过, the meaning, the
    detail and the replay hint in Chinese, the events as JSON Lines; en reads as before."""
    found = _broken(monkeypatch, tight, "caps").evolve(ref="tight@1", also=["shares"])
    result = PropertyResult("caps", 5, found)
    zh, en = result_line(result, "zh"), result_line(result, "en")
    assert zh.startswith("未通过 caps（每个上限和预算在各自范围和周期内都守住）：上限 'subject-day'")
    assert "tight@1 的反例（2 个事件，已缩减" in zh and "（同样未通过：shares）" in zh
    assert en.startswith("FAIL caps (every cap and budget holds per scope and window): cap 'subject-day'")
    assert "counter-example for tight@1 (2 event(s), shrunk; save as events.jsonl" in en
    assert en.rstrip("\n").endswith("(also failing: shares)")
    assert _english_left(zh, {**found.params, "ref": "tight@1", "name": "caps", "also": "shares"}) == []
    assert result_line(PropertyResult("caps", 5), "zh") == "通过 caps（每个上限和预算在各自范围和周期内都守住）\n"


# -- gridpoints check ---------------------------------------------------------------------------------------


def test_check_command_reports_in_chinese_by_default_and_english_on_request(tmp_path: Path) -> None:
    """``gridpoints check`` speaks Chinese unless ``--lang en``: header, PASS/FAIL lines, the detail, the
    replay hint and the summary, the counter-example the same JSON Lines in both."""
    path = tmp_path / "favours.yaml"
    path.write_text(FAVOURS_HOUSEHOLD, encoding="utf-8")
    zh = CliRunner().invoke(command(), ["check", str(path), "--examples", "5", "--seed", "1"])
    en = CliRunner().invoke(command(), ["check", str(path), "--examples", "5", "--seed", "1", "--lang", "en"])
    assert zh.exit_code == en.exit_code == 1
    assert zh.output.startswith(f"favours-household@1：{len(PROPERTIES)} 项公平性质，每项 5 个样例\n")
    assert "未通过 equal_treatment（换掉居民、家庭和网格的名字，结果只是跟着换名）：事件 " in zh.output
    assert "的反例（" in zh.output and "用 `gridpoints run RULESET events.jsonl` 重放" in zh.output
    assert "通过 caps（" in zh.output and f"{len(PROPERTIES) - 1} 项通过，1 项未通过" in zh.output
    assert "FAIL equal_treatment (renaming residents" in en.output and "PASS caps (" in en.output
    assert f"{len(PROPERTIES) - 1} passed, 1 failed" in en.output and "项" not in en.output
    assert [line for line in zh.output.splitlines() if line.startswith("{")] == [
        line for line in en.output.splitlines() if line.startswith("{")] != []
    for line in zh.output.splitlines():
        if not line.startswith("{"):
            assert _english_left(line, {"ref": "favours-household@1", "names": list(PROPERTIES),
                                        "subjects": re.findall(r"'[^']*'", line)}) == [], line


def test_run_check_reports_an_invalid_ruleset_in_the_chosen_language(tmp_path: Path) -> None:
    """A ruleset that does not load is reported with Chinese issues and summary, or English ones."""
    path = tmp_path / "bad.yaml"
    path.write_text("ruleset: bad\nversion: 1\nname: x\nrules: []\n", encoding="utf-8")
    zh, en = io.StringIO(), io.StringIO()
    assert run_check(str(path), 1, zh, lang="zh") == run_check(str(path), 1, en, lang="en") == 1
    assert f"{path}：规则集无效（" in zh.getvalue() and f"{path}: invalid ruleset (" in en.getvalue()


def test_plugin_reports_a_failure_in_chinese_with_gridpoints_lang(pytester: pytest.Pytester) -> None:
    """``--gridpoints-lang zh`` words the failing item in Chinese; the counter-example stays JSON Lines."""
    pytester.makefile(".yaml", favours=FAVOURS_HOUSEHOLD)
    result = pytester.runpytest("--gridpoints-ruleset=favours.yaml", "--gridpoints-examples=10",
                                "--gridpoints-seed=1", "--gridpoints-lang=zh", "-k", "equal_treatment",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*favours-household@1 未通过 equal_treatment：事件 'e1' 给 *", "*的反例（*",
                                 '{"id": *'])
