"""YAML loading that remembers where every value came from, and error messages that point there."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml
from pydantic import BaseModel, ValidationError

from gridpoints.errors import Issue, RulesetError
from gridpoints.ruleset._models import RulesetSpec

PathKey = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader with YAML 1.2 booleans: only true/false. In YAML 1.1 the DSL's ``on:`` key reads as True."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@attrs.frozen(slots=True)
class Source:
    """Ruleset text with the file it came from (if any) and the position of every key and item."""

    text: str
    name: str | None
    data: Any
    marks: Mapping[PathKey, tuple[int, int]]

    def locate(self, path: PathKey) -> tuple[int, int] | None:
        """Line and column (1-based) of the value at ``path``, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return None

    def issue(self, path: PathKey, message: str, suggestion: str | None = None) -> Issue:
        where = self.locate(path)
        return Issue(
            path=format_path(path), message=message, source=self.name,
            line=where[0] if where else None, column=where[1] if where else None, suggestion=suggestion,
        )


def format_path(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_source(path_or_text: str | Path) -> Source:
    """Parse YAML from a path or from text (text is anything containing a newline or not naming a file)."""
    name: str | None
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesetError([Issue(path="", message=f"cannot read ruleset: {exc}", source=str(path))]) from exc
        name = str(path)
    elif "\n" not in path_or_text and path_or_text.strip().endswith((".yaml", ".yml", ".json")):
        raise RulesetError([Issue(path="", message=f"no such ruleset file: {path_or_text}", source=path_or_text)])
    else:
        text, name = str(path_or_text), None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        issue = Issue(path="", message=f"not valid YAML: {problem}", source=name,
                      line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None)
        raise RulesetError([issue]) from exc
    marks: dict[PathKey, tuple[int, int]] = {}
    # A fresh constructor per load: it caches constructed nodes, which must not outlive this document.
    scalars = _Loader("")
    data = _construct(node, (), marks, name, scalars) if node is not None else None
    return Source(text=text, name=name, data=data, marks=marks)


def _construct(
    node: yaml.Node, path: PathKey, marks: dict[PathKey, tuple[int, int]], name: str | None, scalars: Any
) -> Any:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise RulesetError([Issue(format_path(path), "YAML merge keys (<<) are not supported", name,
                                          key_node.start_mark.line + 1, key_node.start_mark.column + 1)])
            key = scalars.construct_object(key_node, deep=True)
            if key in result:
                raise RulesetError([Issue(format_path((*path, key)), f"duplicate key {key!r}", name,
                                          key_node.start_mark.line + 1, key_node.start_mark.column + 1)])
            child = (*path, key)
            result[key] = _construct(value_node, child, marks, name, scalars)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), marks, name, scalars) for i, item in enumerate(node.value)]
    return scalars.construct_object(node, deep=True)


def parse_spec(source: Source) -> RulesetSpec:
    """Validate the parsed YAML against the DSL models; every problem becomes a located issue."""
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__ if source.data is not None else "nothing"
        raise RulesetError([source.issue((), f"expected a mapping with 'ruleset', 'version', 'rules', got {kind}")])
    try:
        return RulesetSpec.model_validate(source.data)
    except ValidationError as exc:
        issues = [_translate(source, error) for error in exc.errors(include_url=False)]
        raise RulesetError(_dedupe(issues)) from None


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for issue in issues:
        key = (issue.path, issue.message)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return sorted(unique, key=lambda i: (i.line or 0, i.column or 0))


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> tuple[PathKey, list[Any]]:
    """Walk pydantic's location through the data, dropping union tags and validator names."""
    path: list[str | int] = []
    node = data
    dropped: list[Any] = []
    for part in loc:
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            path.append(part)
            node = node[part]
        else:
            dropped.append(part)
    return tuple(path), dropped


def _translate(source: Source, error: Mapping[str, Any]) -> Issue:
    loc = tuple(error["loc"])
    path, dropped = _clean_loc(source.data, loc)
    kind = error["type"]
    got = error.get("input")
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        options = _field_names(loc[:-1])
        close = difflib.get_close_matches(str(key), options, n=1)
        expected = f"; expected one of: {', '.join(sorted(options))}" if options else ""
        return source.issue(path, f"unknown key {key!r}{expected}", close[0] if close else None)
    if kind == "limit_kind":
        kinds = ["cap", "diminishing", "share", "budget"]
        node: Any = source.data
        for part in path:
            node = node[part]
        if isinstance(node, dict) and "kind" in node:
            path = (*path, "kind")
            close = difflib.get_close_matches(str(node["kind"]), kinds, n=1)
            return source.issue(path, f"expected kind: cap, diminishing, share or budget, got {node['kind']!r}",
                                close[0] if close else None)
    if kind == "missing":
        missing = dropped[-1] if dropped else (loc[-1] if loc else "?")
        return source.issue(path, f"missing required key {missing!r}")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",") if o.strip()]
        close = difflib.get_close_matches(str(got), options, n=1)
        return source.issue(path, f"expected {expected}, got {got!r}", close[0] if close else None)
    message = _EXPECTED.get(kind)
    if message is None:
        message = error["msg"].removeprefix("Value error, ")
        if kind != "value_error":
            message = f"{message[0].lower()}{message[1:]}" if message else kind
    return source.issue(path, f"{message}, got {_show(got)}" if kind != "value_error" else message)


_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "tuple_type": "expected a list",
    "points_form": "expected an integer or a mapping with 'per', 'by' or 'range'",
    "limit_kind": "expected kind: cap, diminishing, share or budget",
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_names(loc: tuple[Any, ...]) -> list[str]:
    """Keys the model at ``loc`` accepts (aliases where set), for did-you-mean on unknown keys."""
    candidates: list[Any] = [RulesetSpec]
    for part in loc:
        nxt: list[Any] = []
        for tp in candidates:
            nxt.extend(_step(tp, part))
        candidates = nxt or candidates
    names: set[str] = set()
    for tp in candidates:
        for model in _models_in(tp):
            for fname, info in model.model_fields.items():
                names.add(info.alias or fname)
    return sorted(names)


def _step(tp: Any, part: Any) -> list[Any]:
    out: list[Any] = []
    for model in _models_in(tp):
        for fname, info in model.model_fields.items():
            if part in (fname, info.alias):
                out.append(info.annotation)
    for inner in _unwrap(tp):
        origin = typing.get_origin(inner)
        args = typing.get_args(inner)
        if origin is list and isinstance(part, int):
            out.append(args[0])
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            out.append(args[1])
    return out


def _unwrap(tp: Any) -> Iterator[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _unwrap(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            yield from _unwrap(arg)
    else:
        yield tp


def _models_in(tp: Any) -> Iterator[type[BaseModel]]:
    for inner in _unwrap(tp):
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield inner
