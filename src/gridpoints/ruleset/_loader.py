"""YAML loading that remembers where every value came from, and error messages that point there."""

from __future__ import annotations

import difflib
import errno
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml
import yaml.composer
import yaml.constructor
import yaml.resolver
from pydantic import BaseModel, ValidationError

from gridpoints.errors import Issue, RulesetError
from gridpoints.ruleset._messages import MESSAGES, make_issue, pydantic_en, pydantic_zh, yaml_problem
from gridpoints.ruleset._models import RulesetSpec

PathKey = tuple[str | int, ...]


@attrs.frozen(slots=True)
class LoadLimits:
    """Bounds on what loading a ruleset may cost. Each default fits the largest real ruleset many times over
    (the bundled ones are under 5 KB, 40 rules and 700 YAML nodes); a document past one is refused with a
    :class:`~gridpoints.errors.RulesetError` naming the limit and the line where it was passed.

    ``max_nodes`` counts YAML nodes as expanded: every use of an alias (``*name``) adds the whole size of
    the node it names, counted while composing, so an alias bomb is refused after reading its few hundred
    bytes instead of after building its billions of nodes. ``max_depth`` also counts aliases as expanded.
    """

    #: Size of the ruleset text in bytes (UTF-8).
    max_bytes: int = 4 * 1024 * 1024
    #: YAML nodes (scalars, lists, mappings), aliases counted as the size of what they expand to.
    max_nodes: int = 300_000
    #: Nesting of lists and mappings.
    max_depth: int = 64
    #: Entries in each top-level list (rules, limits, repairs, catalog, challenges, tiers).
    max_items: int = 20_000
    #: Characters in one scalar (a 100,000-digit integer, a 10 MB description).
    max_scalar: int = 64 * 1024


DEFAULT_LIMITS = LoadLimits()
_SECTIONS = ("rules", "limits", "repairs", "catalog", "challenges", "tiers")


class _Refused(Exception):
    """A limit passed or a YAML construct the DSL refuses, found while composing or constructing."""

    def __init__(self, code: str, mark: Any, **params: Any) -> None:
        self.code = code
        self.params = params
        self.mark = mark
        super().__init__(code)


class _BoundedComposer(yaml.composer.Composer):  # type: ignore[misc]  # PyYAML ships no type hints
    """PyYAML's composer with the :class:`LoadLimits` checked as each node is composed: the depth before
    descending (deep nesting never reaches Python's recursion limit), the expanded node count after every
    node and alias use, and no alias to a node that contains it (``rules: &a [*a]``)."""

    def start_bounds(self, limits: LoadLimits) -> None:
        self.limits = limits
        self.depth = 0
        self.deepest = 0
        self.count = 0
        #: id of each anchored node → (expanded size, height); absent while the node is being composed.
        self.sizes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        limits: LoadLimits = self.limits
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            node = self.anchors.get(event.anchor)
            if node is None:
                raise _Refused("yaml.alias_undefined", event.start_mark, alias=event.anchor)
            known = self.sizes.get(id(node))
            if known is None:
                raise _Refused("yaml.alias_recursive", event.start_mark, alias=event.anchor)
            size, height = known
            self.count += size
            if self.count > limits.max_nodes:
                raise _Refused("limit.nodes_alias", event.start_mark, max_nodes=limits.max_nodes,
                               alias=event.anchor, size=size)
            if self.depth + height > limits.max_depth:
                raise _Refused("limit.depth_alias", event.start_mark, max_depth=limits.max_depth,
                               alias=event.anchor)
            self.deepest = max(self.deepest, self.depth + height)
            return node
        event = self.peek_event()
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise _Refused("yaml.anchor_duplicate", event.start_mark, anchor=anchor)
        self.count += 1
        if self.count > limits.max_nodes:
            raise _Refused("limit.nodes", event.start_mark, max_nodes=limits.max_nodes)
        self.descend_resolver(parent, index)
        if isinstance(event, yaml.ScalarEvent):
            if len(event.value) > limits.max_scalar:
                raise _Refused("limit.scalar", event.start_mark, max_scalar=limits.max_scalar)
            node, size, height = self.compose_scalar_node(anchor), 1, 0
        else:
            self.depth += 1
            if self.depth > limits.max_depth:
                raise _Refused("limit.depth", event.start_mark, max_depth=limits.max_depth)
            before, outer = self.count, self.deepest
            self.deepest = self.depth
            if isinstance(event, yaml.SequenceStartEvent):
                node = self.compose_sequence_node(anchor)
            else:
                node = self.compose_mapping_node(anchor)
            height = self.deepest - self.depth + 1
            self.deepest = max(outer, self.deepest)
            self.depth -= 1
            size = self.count - before + 1
        self.ascend_resolver()
        if anchor is not None:
            self.sizes[id(node)] = (size, height)
        return node


def _yaml12_booleans(loader: type[Any]) -> None:
    """YAML 1.2 booleans: only true/false. In YAML 1.1 the DSL's ``on:`` key reads as True."""
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


class RulesetLoader(_BoundedComposer, yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's ``SafeLoader`` with YAML 1.2 booleans and the :class:`LoadLimits` enforced while composing.
    No tag beyond YAML's standard scalars, lists and mappings constructs anything."""

    def __init__(self, stream: str, limits: LoadLimits = DEFAULT_LIMITS) -> None:
        super().__init__(stream)
        self.start_bounds(limits)


_yaml12_booleans(RulesetLoader)

_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):  # the same loader over libyaml's parser: faster to compose
    import yaml.cyaml

    _Parts: Any = (yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver)

    class _CRulesetLoader(_BoundedComposer, *_Parts):  # type: ignore[misc]
        """:class:`RulesetLoader`'s composer and limits over libyaml's event parser."""

        def __init__(self, stream: str, limits: LoadLimits = DEFAULT_LIMITS) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            self.start_bounds(limits)

    _yaml12_booleans(_CRulesetLoader)
    _FastLoader = _CRulesetLoader


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

    def issue(self, path: PathKey, code: str, suggestion: str | None = None, **params: Any) -> Issue:
        """The problem ``code`` (a message of :mod:`gridpoints.ruleset._messages`) at ``path``."""
        where = self.locate(path)
        return make_issue(format_path(path), code, params, source=self.name, line=where[0] if where else None,
                          column=where[1] if where else None, suggestion=suggestion)


def format_path(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _refuse(code: str, name: str | None, mark: Any = None, at: str = "", **params: Any) -> RulesetError:
    return RulesetError([make_issue(at, code, params, source=name, line=mark.line + 1 if mark is not None else None,
                                    column=mark.column + 1 if mark is not None else None)])


def _unreadable(exc: OSError | ValueError, name: str) -> RulesetError:
    if isinstance(exc, UnicodeDecodeError):
        return _refuse("file.not_utf8", name, error=str(exc), position=exc.start)
    number = getattr(exc, "errno", None)
    return _refuse("file.unreadable", name, error=str(exc),
                   errno=errno.errorcode.get(number, str(number)) if isinstance(number, int) else type(exc).__name__)


def _names_entry(text: str) -> bool:
    """Whether one-line ``text`` names something on disk (a name no file system accepts names nothing)."""
    if not text.strip():
        return False
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False


def _read_file(path: Path, limits: LoadLimits) -> str:
    try:
        is_file, exists = path.is_file(), path.exists()
        size = path.stat().st_size if is_file else 0
    except (OSError, ValueError) as exc:
        raise _unreadable(exc, str(path)[:200]) from exc
    if not is_file:
        raise _refuse("file.not_a_file" if exists else "file.missing", str(path)[:200], file=str(path))
    if size > limits.max_bytes:
        raise _refuse("limit.bytes_size", str(path), size=size, max_bytes=limits.max_bytes)
    try:
        with path.open("rb") as handle:  # a file may grow, or (under /proc) say it has no size: read a bound
            data = handle.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise _refuse("limit.bytes", str(path), max_bytes=limits.max_bytes)
        return data.decode("utf-8-sig")
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise _unreadable(exc, str(path)) from exc


def read_source(path_or_text: str | Path, limits: LoadLimits = DEFAULT_LIMITS) -> Source:
    """Parse YAML from a path or from text (text is anything containing a newline or not naming a file).
    A leading UTF-8 byte order mark is ignored. Raises :class:`RulesetError` for anything it cannot read."""
    name: str | None
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and _names_entry(path_or_text)):
        name = str(path_or_text)
        text = _read_file(Path(path_or_text), limits)
    elif "\n" not in path_or_text and path_or_text.strip().endswith((".yaml", ".yml", ".json")):
        raise _refuse("file.missing", path_or_text[:200], file=path_or_text[:200])
    else:
        text, name = str(path_or_text).removeprefix("\ufeff"), None
    if len(text) > limits.max_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise _refuse("limit.bytes", name, max_bytes=limits.max_bytes)
    loader = None
    try:
        loader = (_FastLoader or RulesetLoader)(text, limits)
        node = loader.get_single_node()
    except UnicodeEncodeError as exc:  # libyaml's parser takes UTF-8: a lone surrogate cannot be encoded
        raise _refuse("yaml.surrogate", name, position=exc.start) from None
    except _Refused as exc:
        raise _refuse(exc.code, name, exc.mark, **exc.params) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _refuse("yaml.syntax", name, mark, problem=problem, problem_zh=yaml_problem(problem)) from exc
    except RecursionError:  # not reached within max_depth; a last guard so that no RecursionError escapes
        raise _refuse("yaml.too_deep", name, max_depth=limits.max_depth) from None
    finally:
        dispose = getattr(loader, "dispose", None) if loader is not None else None
        if dispose is not None:
            dispose()
    marks: dict[PathKey, tuple[int, int]] = {}
    # A fresh constructor per load: it caches constructed nodes, which must not outlive this document.
    scalars = RulesetLoader("")
    try:
        data = _construct(node, (), marks, name, scalars, {}) if node is not None else None
    except _Refused as exc:
        raise _refuse(exc.code, name, exc.mark, **exc.params) from None
    if isinstance(data, dict):
        for section in _SECTIONS:
            items = data.get(section)
            if isinstance(items, list) and len(items) > limits.max_items:
                where = marks.get((section,))
                raise RulesetError([make_issue(section, "limit.items", {"count": len(items),
                                                                        "max_items": limits.max_items},
                                               source=name, line=where[0] if where else None,
                                               column=where[1] if where else None)])
    return Source(text=text, name=name, data=data, marks=marks)


def _construct(
    node: yaml.Node, path: PathKey, marks: dict[PathKey, tuple[int, int]], name: str | None, scalars: Any,
    memo: dict[int, Any],
) -> Any:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if not isinstance(node, yaml.ScalarNode):
        # An aliased node is built once and shared: an alias costs what its text costs (its values are
        # located at the alias), and the composer already bounded the expanded size.
        seen = memo.get(id(node))
        if seen is not None:
            return seen
        memo[id(node)] = value = _construct_collection(node, path, marks, name, scalars, memo)
        return value
    return _scalar(node, scalars)


_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _construct_collection(
    node: yaml.Node, path: PathKey, marks: dict[PathKey, tuple[int, int]], name: str | None, scalars: Any,
    memo: dict[int, Any],
) -> Any:
    if node.tag not in _COLLECTION_TAGS:  # !!set, !!omap, !!python/object/apply:… on a list or mapping
        raise _Refused("yaml.tag", node.start_mark, tag=node.tag)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _refuse("yaml.merge_key", name, key_node.start_mark, format_path(path))
            if not isinstance(key_node, yaml.ScalarNode):
                raise _refuse("yaml.complex_key", name, key_node.start_mark, format_path(path))
            key = _scalar(key_node, scalars)
            if key in result:
                raise _refuse("yaml.duplicate_key", name, key_node.start_mark, format_path((*path, key)), key=key)
            child = (*path, key)
            result[key] = _construct(value_node, child, marks, name, scalars, memo)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    return [_construct(item, (*path, i), marks, name, scalars, memo) for i, item in enumerate(node.value)]


_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(node: yaml.Node, scalars: Any) -> Any:
    """A scalar node's value; an unknown tag (``!foo``, ``!!python/name:…``) or a value Python cannot hold
    (a 5,000-digit integer, the 13th month) is refused at its line."""
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value  # what SafeConstructor returns for text, without its per-node bookkeeping
    try:
        value = scalars.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise _Refused("yaml.tag", node.start_mark, tag=node.tag) from exc
    except (ValueError, OverflowError, LookupError, AttributeError) as exc:
        # PyYAML's constructors assume the resolver matched the text: an explicit tag on text that does not
        # fit it (`!!bool abc`, `!!int ""`, `!!timestamp abc`) fails with whatever the constructor trips on.
        raise _Refused("yaml.scalar_unreadable", node.start_mark, value=node.value[:40],
                       kind=node.tag.rsplit(":", 1)[-1],
                       error=str(exc) if isinstance(exc, ValueError | OverflowError) else "not of that form") from exc
    if isinstance(value, list | dict | set):  # a tag such as !!set or !!omap on a scalar
        raise _Refused("yaml.tag_collection", node.start_mark, tag=node.tag)
    return value


def parse_spec(source: Source) -> RulesetSpec:
    """Validate the parsed YAML against the DSL models; every problem becomes a located issue."""
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__ if source.data is not None else "nothing"
        raise RulesetError([source.issue((), "spec.not_mapping", kind=kind)])
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
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        options = _field_names(loc[:-1])
        close = difflib.get_close_matches(str(key), options, n=1)
        if options:
            return source.issue(path, "key.unknown", close[0] if close else None, key=key, options=sorted(options))
        return source.issue(path, "key.unknown_bare", close[0] if close else None, key=key)
    if kind == "limit_kind":
        kinds = ["cap", "diminishing", "share", "budget"]
        node: Any = source.data
        for part in path:
            node = node[part]
        if isinstance(node, dict) and "kind" in node:
            path = (*path, "kind")
            close = difflib.get_close_matches(str(node["kind"]), kinds, n=1)
            return source.issue(path, "limit.kind", close[0] if close else None, got=node["kind"])
    if kind == "missing":
        missing = dropped[-1] if dropped else (loc[-1] if loc else "?")
        return source.issue(path, "key.missing", key=missing)
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",") if o.strip()]
        close = difflib.get_close_matches(str(got), options, n=1)
        return source.issue(path, "value.literal", close[0] if close else None, expected=expected,
                            options=[repr(o) for o in options], got=got)
    if kind in MESSAGES:  # a check of the models' own (PydanticCustomError), with its code and parameters
        return source.issue(path, kind, **ctx)
    message = pydantic_en(kind)
    if message is None:
        message = error["msg"].removeprefix("Value error, ")
        message = f"{message[0].lower()}{message[1:]}" if message else kind
    extra = {k: v for k, v in ctx.items() if k not in ("msg", "got", "type", "expected_zh")}
    return source.issue(path, "value.invalid", msg=message, expected_zh=pydantic_zh(kind, ctx), got=_show(got),
                        type=kind, **extra)


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
