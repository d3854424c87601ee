"""Turning what a host submits (an Event or a plain mapping) into a checked Event, or a typed error."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from gridpoints.errors import EventError, UnknownEventType
from gridpoints.model import Event
from gridpoints.policy._compile import AttributeCheck, Policy

EVENT_FIELDS: Final = ("id", "type", "subject", "grid", "occurred_at", "attributes", "household",
                       "community", "actor")
_REQUIRED: Final = ("id", "type", "subject", "grid", "occurred_at")
_ID_FIELDS: Final = ("id", "subject", "grid", "household", "community", "actor")
MAX_ID_LENGTH: Final = 128
#: Event ids the engine makes itself (period close, expiry, redemption) start with this; hosts' may not.
RESERVED_ID_PREFIX: Final = "gp:"
_FIELD_SET: Final = frozenset(EVENT_FIELDS)


def _valid_id(value: Any) -> bool:
    return (type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()
            and value[0] != " " and value[-1] != " " and value == value.strip())


def _check_id(value: Any, field: str, event_id: str | None, index: int | None, optional: bool) -> None:
    if (value is None and optional) or _valid_id(value):
        return
    if not isinstance(value, str):
        raise EventError(f"expected a string, got {type(value).__name__} {value!r}", field=field,
                         event_id=event_id, index=index)
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or value != value.strip():
        raise EventError(
            f"expected 1–{MAX_ID_LENGTH} printable characters without surrounding spaces, got {value[:40]!r}",
            field=field, event_id=event_id, index=index,
        )


def _moment(value: Any, event_id: str | None, index: int | None) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise EventError(f"expected an ISO 8601 time with offset, got {value!r}", field="occurred_at",
                             event_id=event_id, index=index) from None
    if not isinstance(value, datetime):
        raise EventError(f"expected an ISO 8601 time with offset, got {value!r}", field="occurred_at",
                         event_id=event_id, index=index)
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventError(f"time {value.isoformat()!r} has no UTC offset; the engine never guesses a zone",
                         field="occurred_at", event_id=event_id, index=index)
    return value


def _check_attribute(check: AttributeCheck, value: Any, event_id: str, index: int | None) -> None:
    field = f"attributes.{check.name}"
    kind = check.type
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("number", "integer"):
        if not is_number or (kind == "integer" and not isinstance(value, int)):
            raise EventError(f"expected {'an integer' if kind == 'integer' else 'a number'}, got {value!r}",
                             field=field, event_id=event_id, index=index)
    elif kind == "string" and not isinstance(value, str):
        raise EventError(f"expected a string, got {value!r}", field=field, event_id=event_id, index=index)
    elif kind == "boolean" and not isinstance(value, bool):
        raise EventError(f"expected true or false, got {value!r}", field=field, event_id=event_id, index=index)
    elif kind == "scalar" and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise EventError(f"expected a string or an integer, got {value!r}", field=field, event_id=event_id,
                         index=index)
    if check.enum is not None and value not in check.enum:
        allowed = ", ".join(sorted(map(str, check.enum)))
        raise EventError(f"expected one of {allowed}, got {value!r}", field=field, event_id=event_id, index=index)
    if check.min is not None and is_number and value < check.min:
        raise EventError(f"expected a number >= {check.min:g}, got {value!r}", field=field, event_id=event_id,
                         index=index)
    if check.max is not None and is_number and value > check.max:
        raise EventError(f"expected a number <= {check.max:g}, got {value!r}", field=field, event_id=event_id,
                         index=index)


def _check_scalar(name: str, value: Any, event_id: str, index: int | None) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(f"expected a finite number, got {value!r}", field=f"attributes.{name}",
                         event_id=event_id, index=index)
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise EventError(f"expected a string, number, boolean or null, got {type(value).__name__}",
                         field=f"attributes.{name}", event_id=event_id, index=index)


#: Id strings already found well-formed (subjects, grids and households recur on every event); bounded.
_GOOD_IDS: set[str] = set()
_GOOD_IDS_MAX: Final = 200_000
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _known_good(value: Any) -> bool:
    if value in _GOOD_IDS:
        return True
    if not _valid_id(value):
        return False
    if len(_GOOD_IDS) >= _GOOD_IDS_MAX:
        _GOOD_IDS.clear()
    _GOOD_IDS.add(value)
    return True


def _fast(policy: Policy, raw: dict[str, Any]) -> Event | None:
    """The common case in one pass: a plain dict that passes every check. None means "look closer": the
    full check then either finds nothing wrong (and builds the same event) or raises the precise error."""
    if not raw.keys() <= _FIELD_SET:
        return None
    get = raw.get
    event_id, event_type, subject, grid = get("id"), get("type"), get("subject"), get("grid")
    household, community, actor = get("household"), get("community"), get("actor")
    good = _GOOD_IDS
    if not (type(event_id) is str and type(subject) is str and type(grid) is str and type(event_type) is str
            and _valid_id(event_id) and (subject in good or _known_good(subject))
            and (grid in good or _known_good(grid))
            and (household is None or household in good or _known_good(household))
            and (community is None or community in good or _known_good(community))
            and (actor is None or actor in good or _known_good(actor))):
        return None
    if event_id.startswith(RESERVED_ID_PREFIX) or (household is not None and household.startswith("subject:")):
        return None
    spec = policy.event_types.get(event_type)
    if spec is None or not (spec.ignore or spec.rules or spec.settles or spec.repairs):
        return None
    moment = get("occurred_at")
    if type(moment) is str:
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return None
    elif not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    attributes = get("attributes")
    if attributes is None:
        attributes = {}
    elif type(attributes) is not dict:
        return None
    for name, value in attributes.items():
        if type(name) is not str or type(value) not in _SCALARS or (type(value) is float and not math.isfinite(value)):
            return None
    for name, check in spec.attributes.items():
        value = attributes.get(name)
        if value is None:
            if check.required:
                return None
            continue
        _check_attribute(check, value, event_id, None)
    return Event(event_id, event_type, subject, grid, moment, attributes, household, community, actor)


def coerce_event(policy: Policy, raw: Event | Mapping[str, Any], index: int | None = None) -> Event:
    """Check ``raw`` against the policy and return it as an :class:`Event`; raise :class:`EventError` if not."""
    if type(raw) is dict:
        try:
            fast = _fast(policy, raw)
        except EventError:
            fast = None  # the full check below raises it again, with the event's index
        if fast is not None:
            return fast
    if isinstance(raw, Event):
        fields: dict[str, Any] = {name: getattr(raw, name) for name in EVENT_FIELDS}
    elif isinstance(raw, Mapping):
        fields = dict(raw)
        unknown = [] if _FIELD_SET.issuperset(fields) else [k for k in fields if k not in _FIELD_SET]
        if unknown:
            name = str(unknown[0])
            close = difflib.get_close_matches(name, EVENT_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EventError(f"unknown field{hint}", field=name,
                             event_id=fields.get("id") if isinstance(fields.get("id"), str) else None, index=index)
    else:
        raise EventError(f"expected an Event or a mapping, got {type(raw).__name__}", field="<event>", index=index)

    event_id = fields.get("id")
    for name in _REQUIRED:
        if fields.get(name) is None:
            raise EventError("missing", field=name, event_id=event_id if isinstance(event_id, str) else None,
                             index=index)
    for name in _ID_FIELDS:
        value = fields.get(name)
        if (value is None and name not in _REQUIRED) or _valid_id(value):
            continue
        _check_id(value, name, event_id if isinstance(event_id, str) else None, index, optional=name not in _REQUIRED)
    assert isinstance(event_id, str)
    if event_id.startswith(RESERVED_ID_PREFIX):
        raise EventError(f"ids starting with {RESERVED_ID_PREFIX!r} are reserved for events the engine makes "
                         "(period close, expiry, redemptions)", field="id", event_id=event_id, index=index)
    household = fields.get("household")
    if isinstance(household, str) and household.startswith("subject:"):
        raise EventError("household ids starting with 'subject:' are reserved: a subject without a household "
                         "counts as the household 'subject:<id>'", field="household", event_id=event_id, index=index)
    event_type = fields["type"]
    if not isinstance(event_type, str):
        raise EventError(f"expected a string, got {event_type!r}", field="type", event_id=event_id, index=index)
    spec = policy.event_types.get(event_type)
    if spec is None or not (spec.ignore or spec.rules or spec.settles or spec.repairs):
        # A type the ruleset declares but neither handles nor ignores is as unknown as an undeclared one.
        handled = [n for n, t in policy.event_types.items() if t.ignore or t.rules or t.settles or t.repairs]
        raise UnknownEventType(event_type, event_id=event_id, known=handled, index=index)
    moment = _moment(fields["occurred_at"], event_id, index)
    attributes = fields.get("attributes")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, Mapping):
        raise EventError(f"expected a mapping, got {type(attributes).__name__}", field="attributes",
                         event_id=event_id, index=index)
    for name, value in attributes.items() if attributes else ():
        if not isinstance(name, str):
            raise EventError(f"attribute names are strings, got {name!r}", field="attributes",
                             event_id=event_id, index=index)
        _check_scalar(name, value, event_id, index)
    for name, check in spec.attributes.items():
        value = attributes.get(name)
        if value is None:
            if check.required:
                raise EventError("missing required attribute", field=f"attributes.{name}", event_id=event_id,
                                 index=index)
            continue
        _check_attribute(check, value, event_id, index)
    if isinstance(raw, Event) and raw.occurred_at is moment:
        return raw
    return Event(id=event_id, type=event_type, subject=fields["subject"], grid=fields["grid"],
                 occurred_at=moment, attributes=attributes, household=fields.get("household"),
                 community=fields.get("community"), actor=fields.get("actor"))
