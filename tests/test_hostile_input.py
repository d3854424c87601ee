"""Hostile input: every input that once escaped as an untyped error, hung, or was accepted and went wrong at
run time is refused with a typed gridpoints error that names the place (the corpus is fuzz/corpus.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import gridpoints
from gridpoints.errors import RulesetError
from gridpoints.model import INT64_MAX, INT64_MIN
from gridpoints.ruleset import LoadLimits, RulesetLoader, json_schema, lint, load_spec
from gridpoints.ruleset import _loader as loader_module

ROOT = Path(__file__).resolve().parents[1]


def _corpus() -> Any:
    spec = importlib.util.spec_from_file_location("gridpoints_fuzz_corpus", ROOT / "fuzz" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus()
LOADERS = [pytest.param(RulesetLoader, id="python")]
if loader_module._FastLoader is not None:
    LOADERS.append(pytest.param(loader_module._FastLoader, id="libyaml"))


@pytest.fixture(params=LOADERS)
def each_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[Any]:
    """Run the test with the pure-Python loader and (where PyYAML has it) the libyaml one."""
    monkeypatch.setattr(loader_module, "_FastLoader", request.param)
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(CORPUS.RULESETS))
def test_hostile_ruleset_is_a_located_ruleset_error(name: str, each_loader: type[Any]) -> None:
    text, fragment = CORPUS.RULESETS[name]
    with pytest.raises(RulesetError) as caught:
        load_spec(text)
    assert fragment in str(caught.value), str(caught.value)
    diagnostics = lint(text)  # never raises
    assert diagnostics and all(d.severity == "error" for d in diagnostics if d.code == "invalid")
    assert any(fragment in str(d) for d in diagnostics)


@pytest.mark.parametrize("name", ["alias-bomb-9x9", "self-alias", "deep-block-nesting", "huge-duration",
                                  "negative-restore", "naive-available-from"])
def test_refusals_name_the_line(name: str, each_loader: type[Any]) -> None:
    text, _ = CORPUS.RULESETS[name]
    with pytest.raises(RulesetError) as caught:
        load_spec(text)
    assert all(issue.line is not None for issue in caught.value.issues)


def test_alias_bomb_is_refused_where_the_expansion_passes_the_limit(each_loader: type[Any]) -> None:
    """Counting alias uses while composing: 9 levels of 9 (~4e8 nodes) is refused at the anchor whose
    expansion first passes max_nodes, and 6 levels (~6e4 nodes) is within the default and goes on to the
    ordinary unknown-key errors."""
    with pytest.raises(RulesetError) as caught:
        load_spec(CORPUS.alias_bomb(9))
    (issue,) = caught.value.issues
    assert "max_nodes = 300000" in issue.message and issue.line == 7
    with pytest.raises(RulesetError, match="max_nodes = 1000"):
        load_spec(CORPUS.alias_bomb(4), limits=LoadLimits(max_nodes=1000))


def test_aliases_count_toward_depth(each_loader: type[Any]) -> None:
    text = "a: &a [[[[1]]]]\nb: [[[[*a]]]]\n"
    with pytest.raises(RulesetError, match="max_depth = 8 with \\*a expanded"):
        load_spec(text, limits=LoadLimits(max_depth=8))


def test_an_aliased_value_is_shared_and_located_at_its_first_use(each_loader: type[Any]) -> None:
    text = CORPUS.BASE + "categories: &c {reward: 奖励分, deduction: 扣分}\n"
    assert load_spec(text).categories == {"reward": "奖励分", "deduction": "扣分"}


@pytest.mark.parametrize(("limit", "text"), [
    ("max_items", CORPUS.BASE + "".join(f"  - {{id: r{i}, on: e, points: 1}}\n" for i in range(5))),
    ("max_scalar", CORPUS.BASE + "description: " + "x" * 50 + "\n"),
    ("max_bytes", CORPUS.BASE + "#" * 5000 + "\n"),
    ("max_nodes", CORPUS.BASE + "categories: {" + ", ".join(f"c{i}: x" for i in range(50)) + "}\n"),
    ("max_depth", CORPUS.BASE + "description: [[[[[[[[x]]]]]]]]\n"),
])
def test_each_limit_is_named(limit: str, text: str, tmp_path: Path, each_loader: type[Any]) -> None:
    small = LoadLimits(max_bytes=4000, max_nodes=60, max_depth=6, max_items=5, max_scalar=40)
    with pytest.raises(RulesetError, match=limit):
        load_spec(text, limits=small)
    assert any(limit in str(d) for d in lint(text, limits=small))
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesetError, match=limit):
        gridpoints.load_ruleset(path, limits=small)


def _count(node: yaml.Node) -> int:
    if isinstance(node, yaml.MappingNode):
        return 1 + sum(_count(k) + _count(v) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(_count(item) for item in node.value)
    return 1


def test_defaults_fit_the_bundled_rulesets_many_times_over() -> None:
    limits = LoadLimits()
    for path in sorted((ROOT / "rulesets").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        nodes = _count(yaml.compose(text, Loader=RulesetLoader))
        assert len(text.encode()) * 100 < limits.max_bytes and nodes * 100 < limits.max_nodes
        gridpoints.load_ruleset(path)


def test_a_utf8_bom_is_accepted_in_a_file_and_in_text(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + CORPUS.BASE.encode())
    assert load_spec(path).ruleset == "t"
    assert load_spec(str(path)).ruleset == "t"
    assert load_spec("\ufeff" + CORPUS.BASE).ruleset == "t"


def test_paths_that_are_not_ruleset_files(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match=f"not a file: {tmp_path}"):
        gridpoints.load_ruleset(str(tmp_path))
    with pytest.raises(RulesetError, match="not a file"):
        gridpoints.load_ruleset(tmp_path)
    with pytest.raises(RulesetError, match="no such ruleset file"):
        gridpoints.load_ruleset(tmp_path / "missing.yaml")
    with pytest.raises(RulesetError, match="expected a mapping"):
        gridpoints.load_ruleset("a" * 5000)  # not a name any file system takes: read as YAML text
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RulesetError, match="cannot read ruleset"):
        gridpoints.load_ruleset(tmp_path / "latin1.yaml")


def test_ten_thousand_rules_load() -> None:
    """Loading is linear in rules (a cost figure is in benchmarks/loading.py; this checks the size loads)."""
    rules = "".join(f"  - {{id: r{i}, on: e{i % 50}, points: {i % 7 + 1}, when: {{x: {{gte: {i % 5}}}}}}}\n"
                    for i in range(10_000))
    policy = gridpoints.load_ruleset("ruleset: big\nversion: 1\nname: Big\nrules:\n" + rules)
    assert len(policy.rules) == 10_000 and len(policy.event_types["e7"].rules) == 200


def _walk(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        if schema.get("type") in ("integer", "number"):
            found.append((path, schema))
        for key, value in schema.items():
            found += _walk(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _walk(value, f"{path}/{index}")
    return found


def test_every_integer_in_the_schema_is_bounded_to_int64() -> None:
    """The bounded aliases of ruleset/_models.py are used everywhere: a plain StrictInt would show here."""
    numbers = _walk(json_schema())
    assert numbers
    for path, schema in numbers:
        if schema["type"] == "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            assert low is not None and low >= INT64_MIN, path
            assert schema.get("maximum") is not None and schema["maximum"] <= INT64_MAX, path
    committed = json.loads((ROOT / "schema" / "ruleset.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema()


# -- the CLI and store URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["bogus://", "", "http://example", "postgresql+nodriver://x", "sqlite", "x" * 500])
def test_every_store_url_error_is_a_gridpoints_error_listing_the_schemes(url: str) -> None:
    with pytest.raises(gridpoints.StoreUrlError) as caught:
        gridpoints.open_store(url)
    assert isinstance(caught.value, gridpoints.GridpointsError) and isinstance(caught.value, ValueError)
    assert "accepted schemes: " in str(caught.value)
    assert {"memory", "sqlite", "postgresql"} <= set(caught.value.schemes)


def test_cli_reads_events_with_a_bom_lints_anything_and_names_what_is_not_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from gridpoints.cli import command

    monkeypatch.chdir(tmp_path)
    ruleset = tmp_path / "r.yaml"
    ruleset.write_text(CORPUS.BASE, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    line = json.dumps({"id": "e1", "type": "e", "subject": "s1", "grid": "g1",
                       "occurred_at": "2026-04-01T10:00:00+08:00"})
    events.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n")
    run = CliRunner().invoke(command(), ["run", str(ruleset), str(events), "--store", "memory:", "--json"])
    assert run.exit_code == 0, run.output
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(CORPUS.alias_bomb(9), encoding="utf-8")
    linted = CliRunner().invoke(command(), ["lint", str(bomb)])
    assert linted.exit_code == 1 and "max_nodes" in linted.output and "Traceback" not in linted.output
    directory = CliRunner().invoke(command(), ["run", str(ruleset), str(tmp_path)])
    assert directory.exit_code == 2 and str(tmp_path) in directory.output and "directory" in directory.output
    store = CliRunner().invoke(command(), ["run", str(ruleset), str(events), "--store", "bogus://"])
    assert store.exit_code == 2 and "accepted schemes" in store.output
