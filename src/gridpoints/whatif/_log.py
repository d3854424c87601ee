"""Event logs: the one reader and the one batching rule of every replay (``run``, ``explain``, ``simulate``,
``compare``, :class:`~gridpoints.whatif.Replay`).

A log is JSON Lines, one object a line, in time order; blank lines and ``#`` comments are skipped
(:func:`read_jsonl`). A line is an event, or a *redemption line* — an object whose only key is ``redeem``
(events never have that key)::

    {"redeem": {"request": "r-0001", "subject": "pu-g01-h0001-1", "item": "daily-goods",
                "at": "2026-04-03T10:15:00+08:00"}}

``request`` is the idempotency key (:meth:`~gridpoints.Engine.redeem`'s ``request_id``), ``at`` an ISO time
with offset (:func:`parse_redemption`).

Staff actions are lines of the same shape: a *correction line* (冲正, :meth:`~gridpoints.Engine.correct`) and
an *adjustment line* (人工调整, :meth:`~gridpoints.Engine.adjust`; ``request`` is its ``request_id`` and
``points`` a non-zero integer)::

    {"correct": {"event": "e-0042", "reason": "重复上报", "actor": "staff-1", "at": "2026-05-03T09:00:00+08:00"}}
    {"adjust": {"request": "a-0001", "subject": "pu-g01-h0001-1", "points": 5, "reason": "补录",
                "actor": "staff-1", "at": "2026-05-03T09:05:00+08:00"}}

They are taken like redemption lines (queued events first, then the engine is asked); a refusal is an error
of the log (:func:`parse_staff_action`, :func:`apply_staff_action`).

The batching rule (:class:`Batcher`): events go to :meth:`~gridpoints.Engine.submit_many` in batches of up to
``size``, in log order; a batch is cut before an event that settles (verifies, appeals) or repairs an event
of the same batch, since the engine decides a settlement against what is recorded, so the batch holding
what it settles is committed first. A redemption line is never batched: the queued events are submitted
first (so the balance is current), then the engine is asked (:func:`redeem`). A refusal (insufficient
balance, out of stock, limit reached, not eligible, unavailable) is an outcome; an item the catalog does not
have (``unknown_item``: the log, not the resident, is wrong) and a malformed line are errors.

:func:`submit_log` is the rule applied to an engine as it stands (``gridpoints run`` and ``explain``: no
period is closed); :class:`~gridpoints.whatif.Replay` applies the same rule and also closes the periods the
log passes. Errors are :class:`ReplayError` naming ``file:line``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from gridpoints.engine._engine import Engine
from gridpoints.errors import CorrectionRefused, EventError, GridpointsError, IdempotencyConflict, RedemptionRefused
from gridpoints.model import Decision, Event
from gridpoints.model._registry import Membership, MemoryRegistry
from gridpoints.policy._compile import Policy

DEFAULT_BATCH = 1000
#: The key that makes a log line a redemption request, and the fields it must carry (see the module docstring).
REDEEM_KEY = "redeem"
REDEEM_FIELDS = ("request", "subject", "item", "at")

#: The keys that make a log line a correction or an adjustment, and the fields each must carry.
CORRECT_KEY = "correct"
ADJUST_KEY = "adjust"
STAFF_FIELDS: Mapping[str, tuple[str, ...]] = {
    CORRECT_KEY: ("event", "reason", "actor", "at"),
    ADJUST_KEY: ("request", "subject", "points", "reason", "actor", "at"),
}

EventLike = Event | Mapping[str, Any]
#: What a :class:`Batcher` hands each batch to: the events and the log line of each (None when unknown).
Submit = Callable[[list[EventLike], list[int | None]], None]


class ReplayError(GridpointsError, ValueError):
    """An event of the log was refused; the message names where (``file:line`` when known) and why."""


def located(source: str, line: int | None, exc: Exception) -> ReplayError:
    """``exc`` as a :class:`ReplayError` naming ``source:line`` (or ``source`` alone)."""
    where = f"{source}:{line}" if line is not None else source
    return ReplayError(f"{where}: {exc}")


def read_jsonl(path: str | Path, *, on_bytes: Callable[[int], None] | None = None
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each line of a JSON Lines file, read as it goes (constant memory).

    Blank lines, ``#`` comments and a leading UTF-8 byte order mark are skipped; a line that is not a JSON
    object raises :class:`ReplayError` naming ``file:line``. ``on_bytes`` is told how many bytes each line took.
    """
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if on_bytes is not None:
                on_bytes(len(raw))
            stripped = raw.strip()
            if number == 1:
                stripped = stripped.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
            if not stripped or stripped.startswith(b"#"):
                continue
            try:
                data = json.loads(stripped)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ReplayError(f"{path}:{number}: not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ReplayError(f"{path}:{number}: expected a JSON object, got {type(data).__name__}")
            yield number, data


@attrs.frozen(slots=True)
class RedemptionLine:
    """A redemption line of a log (see the module docstring)."""

    request: str
    subject: str
    item: str
    at: datetime


def is_redemption(line: EventLike) -> bool:
    """Whether a log line is a redemption line rather than an event."""
    return not isinstance(line, Event) and REDEEM_KEY in line


def _body(data: Mapping[str, Any], key: str, fields: Sequence[str], what: str) -> Mapping[str, Any]:
    """The object under ``key`` of a one-key line, with every field of ``fields`` present and no other."""
    if len(data) != 1:
        extra = ", ".join(sorted(str(k) for k in data if k != key))
        raise ValueError(f"{what} line: expected only the key {key!r}, got also {extra}")
    body = data[key]
    if not isinstance(body, Mapping):
        raise ValueError(f"{what} line: {key}: expected an object with {', '.join(fields)}, "
                         f"got {type(body).__name__}")
    unknown = sorted(str(k) for k in body if k not in fields)
    if unknown:
        raise ValueError(f"{what} line: {key}: unknown field(s) {', '.join(unknown)}; expected {', '.join(fields)}")
    return body


def _moment(body: Mapping[str, Any], key: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(body["at"])
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"{what} line: {key}.at: expected an ISO time with offset, got {body['at']!r}")
    return moment


def parse_redemption(data: Mapping[str, Any]) -> RedemptionLine:
    """The request a redemption line carries; :class:`ValueError` saying what is wrong with a malformed one."""
    body = _body(data, REDEEM_KEY, REDEEM_FIELDS, "redemption")
    for name in REDEEM_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"redemption line: redeem.{name}: expected a non-empty string, got {value!r}")
    return RedemptionLine(body["request"], body["subject"], body["item"], _moment(body, REDEEM_KEY, "redemption"))


@attrs.frozen(slots=True)
class StaffAction:
    """A correction or adjustment line of a log (see the module docstring): ``kind`` is :data:`CORRECT_KEY`
    (``target`` the corrected event's id) or :data:`ADJUST_KEY` (``target`` the request id)."""

    kind: str
    target: str
    reason: str
    actor: str
    at: datetime
    subject: str | None = None
    points: int = 0


def is_event(line: EventLike) -> bool:
    """Whether a log line is an event (not a redemption, correction or adjustment line)."""
    return not is_redemption(line) and staff_kind(line) is None


def staff_kind(line: EventLike) -> str | None:
    """:data:`CORRECT_KEY` or :data:`ADJUST_KEY` when a log line is a correction or adjustment line, else None."""
    if isinstance(line, Event):
        return None
    for kind in STAFF_FIELDS:
        if kind in line:
            return kind
    return None


def parse_staff_action(data: Mapping[str, Any]) -> StaffAction:
    """The correction or adjustment a staff line carries; :class:`ValueError` saying what is wrong otherwise."""
    kind = staff_kind(data)
    if kind is None:
        raise ValueError(f"not a staff line: expected the key {CORRECT_KEY!r} or {ADJUST_KEY!r}")
    what = "correction" if kind == CORRECT_KEY else "adjustment"
    fields = STAFF_FIELDS[kind]
    body = _body(data, kind, fields, what)
    for name in fields:
        value = body.get(name)
        if name == "points":
            if type(value) is not int or value == 0:
                raise ValueError(f"{what} line: {kind}.points: expected a non-zero integer, got {value!r}")
        elif not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} line: {kind}.{name}: expected a non-empty string, got {value!r}")
    at = _moment(body, kind, what)
    if kind == CORRECT_KEY:
        return StaffAction(kind, body["event"], body["reason"], body["actor"], at)
    return StaffAction(kind, body["request"], body["reason"], body["actor"], at, body["subject"], body["points"])


def apply_staff_action(engine: Engine, action: StaffAction) -> Decision:
    """Ask ``engine`` for the correction or adjustment; a refusal (unknown event, a role or household the
    ruleset does not allow, a cap) or an id reused with different content is a :class:`ValueError`: the log,
    not the resident, is wrong."""
    try:
        if action.kind == CORRECT_KEY:
            return engine.correct(action.target, reason=action.reason, actor=action.actor, at=action.at)
        assert action.subject is not None  # parse_staff_action gives an adjustment its subject
        return engine.adjust(action.subject, action.points, reason=action.reason, actor=action.actor,
                             at=action.at, request_id=action.target)
    except (CorrectionRefused, EventError, IdempotencyConflict) as exc:
        raise ValueError(f"{action.kind} {action.target!r}: {exc}") from None


def redeem(engine: Engine, request: RedemptionLine) -> tuple[Decision | None, str | None]:
    """Ask ``engine`` for a redemption: ``(decision, None)``, or ``(None, reason)`` when it is refused.

    :class:`ValueError` for an item the catalog does not have and for a request id reused with different
    content (the log is wrong, not the resident)."""
    try:
        return engine.redeem(request.subject, request.item, request.request, at=request.at), None
    except RedemptionRefused as exc:
        if exc.reason == "unknown_item":
            raise ValueError(f"redemption {request.request!r}: redeem.item: {exc}") from None
        return None, exc.reason
    except IdempotencyConflict as exc:
        raise ValueError(f"redemption {request.request!r}: {exc}") from None


def implied_members(subject: Any, grid: Any, household: Any, actor: Any, known: set[str]) -> list[Membership]:
    """The memberships a log without a roster implies by one event: its subject, if not in ``known``, as a
    resident of the event's grid and household; its actor, if not in ``known``, as that grid's worker.
    ``known`` is updated."""
    found: list[Membership] = []
    if not isinstance(grid, str):
        return found
    if isinstance(subject, str) and subject not in known:
        found.append(Membership(subject, grid, household if isinstance(household, str) else None, ("resident",)))
        known.add(subject)
    if isinstance(actor, str) and actor not in known:
        found.append(Membership(actor, grid, None, ("grid_worker",)))
        known.add(actor)
    return found


def settling_types(policy: Policy) -> frozenset[str]:
    """The event types that settle (verify, appeal) or repair an earlier event."""
    return frozenset(name for name, t in policy.event_types.items() if t.settles or t.repairs)


class Batcher:
    """The batching rule (see the module docstring): :meth:`add` queues events and hands each batch to
    ``submit`` when it is full or cut; :meth:`flush` hands over what is queued (before a redemption, a
    period close, the end)."""

    def __init__(self, policy: Policy, submit: Submit, size: int = DEFAULT_BATCH) -> None:
        if size < 1:
            raise ValueError(f"batch must be at least 1, got {size}")
        self.size = size
        self._submit = submit
        self._settling = settling_types(policy)
        self._batch: list[EventLike] = []
        self._lines: list[int | None] = []
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._batch)

    def add(self, event: EventLike, line: int | None = None) -> None:
        """Queue one event; a batch holding what it settles or repairs is submitted first."""
        event_id: Any
        etype: Any
        attributes: Any
        if isinstance(event, Event):
            event_id, etype, attributes = event.id, event.type, event.attributes
        else:
            event_id, etype, attributes = event.get("id"), event.get("type"), event.get("attributes")
        if etype in self._settling and isinstance(attributes, Mapping):
            target = attributes.get("event") or attributes.get("repair")
            if target is not None and target in self._ids:
                self.flush()
        self._batch.append(event)
        self._lines.append(line)
        if isinstance(event_id, str):
            self._ids.add(event_id)
        if len(self._batch) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Submit the queued batch (nothing when empty)."""
        if not self._batch:
            return
        batch, lines = self._batch, self._lines
        self._batch, self._lines, self._ids = [], [], set()
        self._submit(batch, lines)


def submit_batch(engine: Engine, batch: Sequence[EventLike], lines: Sequence[int | None],
                 source: str) -> list[Decision]:
    """``engine.submit_many(batch)``; an event error or an id conflict is a :class:`ReplayError` at the line
    of the event that caused it (every line of the batch carrying a conflicting id)."""
    try:
        return engine.submit_many(batch)
    except EventError as exc:
        raise located(source, lines[exc.index] if exc.index is not None else None, exc) from exc
    except IdempotencyConflict as exc:
        where = [str(line) for event, line in zip(batch, lines, strict=True)
                 if line is not None and _event_id(event) == exc.event_id]
        raise ReplayError(f"{source}:{', '.join(where)}: {exc}" if where else f"{source}: {exc}") from exc


def _event_id(event: EventLike) -> Any:
    return event.id if isinstance(event, Event) else event.get("id")


def _event_fields(event: EventLike) -> tuple[Any, Any, Any, Any]:
    """``(subject, grid, household, actor)`` of an event or event mapping."""
    if isinstance(event, Event):
        return event.subject, event.grid, event.household, event.actor
    return event.get("subject"), event.get("grid"), event.get("household"), event.get("actor")


@attrs.frozen(slots=True)
class LogResult:
    """What :func:`submit_log` did: the events' decisions in log order, and the redemption lines' outcomes
    (``redeemed`` decisions; ``refused`` counts by reason)."""

    decisions: tuple[Decision, ...]
    requests: int
    redeemed: tuple[Decision, ...]
    refused: Mapping[str, int]
    #: The decisions of the log's correction and adjustment lines, in log order.
    staff: tuple[Decision, ...] = ()


def submit_log(engine: Engine, lines: Iterable[tuple[int | None, EventLike]], *, batch: int = DEFAULT_BATCH,
               source: str = "events", until: str | None = None, infer: MemoryRegistry | None = None) -> LogResult:
    """Apply a log to ``engine`` by the batching rule, closing no period (``gridpoints run``, ``explain``).

    ``lines`` are ``(line number, event or redemption line)``, as :func:`read_jsonl` yields them. With
    ``until``, stop after the event of that id. ``infer``: a log without a roster; the memberships each
    event implies (:func:`implied_members`) are added to this registry (the engine's) as the events come.
    Raises :class:`ReplayError` naming the line."""
    known: set[str] = set()
    decisions: list[Decision] = []
    redeemed: list[Decision] = []
    refused: Counter[str] = Counter()
    requests = 0

    def submit(events: list[EventLike], numbers: list[int | None]) -> None:
        decisions.extend(submit_batch(engine, events, numbers, source))

    staff: list[Decision] = []
    batcher = Batcher(engine.policy, submit, batch)
    for number, data in lines:
        if staff_kind(data) is not None:
            assert not isinstance(data, Event)  # a staff line is a mapping
            batcher.flush()
            try:
                staff.append(apply_staff_action(engine, parse_staff_action(data)))
            except ValueError as exc:
                raise located(source, number, exc) from exc
            continue
        if is_redemption(data):
            assert not isinstance(data, Event)  # a redemption line is a mapping
            try:
                request = parse_redemption(data)
            except ValueError as exc:
                raise located(source, number, exc) from exc
            batcher.flush()
            requests += 1
            try:
                decision, reason = redeem(engine, request)
            except ValueError as exc:
                raise located(source, number, exc) from exc
            if decision is not None:
                redeemed.append(decision)
            else:
                refused[str(reason)] += 1
            continue
        if infer is not None:
            fields = _event_fields(data)
            for member in implied_members(*fields, known):
                infer.add(member)
        batcher.add(data, number)
        if until is not None and _event_id(data) == until:
            break
    batcher.flush()
    return LogResult(tuple(decisions), requests, tuple(redeemed), dict(sorted(refused.items())), tuple(staff))
