"""Turning what a host submits (an Event or a plain mapping) into a checked Event, or a typed error."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from gridpoints.calendar import EARLIEST_YEAR, LATEST_YEAR
from gridpoints.errors import EventError, UnknownEventType
from gridpoints.model import INT64_MAX, INT64_MIN, Event
from gridpoints.policy._compile import AttributeCheck, Policy

EVENT_FIELDS: Final = ("id", "type", "subject", "grid", "occurred_at", "attributes", "household",
                       "community", "actor")
_REQUIRED: Final = ("id", "type", "subject", "grid", "occurred_at")
_ID_FIELDS: Final = ("id", "subject", "grid", "household", "community", "actor")
MAX_ID_LENGTH: Final = 128
#: Event ids the engine makes itself (period close, expiry, redemption) start with this; hosts' may not.
RESERVED_ID_PREFIX: Final = "gp:"
_FIELD_SET: Final = frozenset(EVENT_FIELDS)
#: Fields whose values a pseudonymiser replaces: an error about them never shows the raw value.
_PERSONAL: Final = frozenset({"subject", "actor", "household"})
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


@attrs.frozen(slots=True)
class EventLimits:
    """Bounds on one submitted event, checked before anything is planned (an :class:`Engine` option). An
    event past one is refused with an :class:`~gridpoints.errors.EventError` naming the field; nothing is
    written. The defaults fit any real event many times over and keep one event's ledger record small.

    Independent of these, every event's text must be Unicode that encodes (no lone surrogates), integers
    fit signed 64-bit, numbers are finite, and the time's year lies from 1900 to 8999 in its own offset.
    """

    #: Characters in the event id and in each id field (subject, grid, household, community, actor); at
    #: most 128, the stores' id columns.
    max_id: int = MAX_ID_LENGTH
    #: Characters in one attribute's text value.
    max_string: int = 4096
    #: Attributes on one event.
    max_attributes: int = 64
    #: Characters of all the attributes' names and text values together (the ids are bounded by max_id, a
    #: name by 128 characters, a number by 64 bits).
    max_event: int = 64 * 1024

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.max_id <= MAX_ID_LENGTH:
            raise ValueError(f"max_id must be 1 to {MAX_ID_LENGTH}, got {self.max_id}")
        for name in ("max_string", "max_attributes", "max_event"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


DEFAULT_EVENT_LIMITS: Final = EventLimits()


def _encodable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (every store's text): no lone surrogate."""
    return text.isascii() or _SURROGATE.search(text) is None


def _valid_id(value: Any) -> bool:
    return (type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()
            and value[0] != " " and value[-1] != " " and value == value.strip())


def _check_id(value: Any, field: str, event_id: str | None, index: int | None, optional: bool,
              limits: EventLimits = DEFAULT_EVENT_LIMITS, redact: bool = False) -> None:
    if (value is None and optional) or (_valid_id(value) and len(value) <= limits.max_id):
        return
    # With a pseudonymiser on, a subject's (actor's, household's) raw id never reaches an error message.
    shown = "(value withheld: the field is pseudonymised)" if redact and field in _PERSONAL else None
    if not isinstance(value, str):
        raise EventError(f"expected a string, got {type(value).__name__} {shown or _show(value)}", field=field,
                         event_id=event_id, index=index)
    if (not value or len(value) > limits.max_id or not value.isprintable() or value != value.strip()
            or not _encodable(value)):
        raise EventError(
            f"expected 1–{limits.max_id} printable characters without surrounding spaces, got "
            f"{shown or _show(value)}", field=field, event_id=event_id, index=index,
        )


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"an integer of {value.bit_length()} bits"  # repr of 10**5000 fails past 4,300 digits
    try:
        text = repr(value)
    except ValueError:  # a container holding an integer past repr's 4,300 digits
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def check_moment(value: Any, field: str, event_id: str | None = None, index: int | None = None) -> datetime:
    """``value`` (an aware datetime or its ISO 8601 text) as a datetime the engine can compute with, else an
    :class:`EventError` naming ``field``: an offset is required, and the year must lie from 1900 to 8999."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise EventError(f"expected an ISO 8601 time with offset, got {_show(value)}", field=field,
                             event_id=event_id, index=index) from None
    if not isinstance(value, datetime):
        raise EventError(f"expected an ISO 8601 time with offset, got {_show(value)}", field=field,
                         event_id=event_id, index=index)
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventError(f"time {value.isoformat()!r} has no UTC offset; the engine never guesses a zone",
                         field=field, event_id=event_id, index=index)
    if not EARLIEST_YEAR <= value.year < LATEST_YEAR:
        raise EventError(f"time {value.isoformat()!r} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR - 1}",
                         field=field, event_id=event_id, index=index)
    return value


def _moment(value: Any, event_id: str | None, index: int | None) -> datetime:
    return check_moment(value, "occurred_at", event_id, index)


def _check_attribute(check: AttributeCheck, value: Any, event_id: str, index: int | None) -> None:
    field = f"attributes.{check.name}"
    kind = check.type
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("number", "integer"):
        if not is_number or (kind == "integer" and not isinstance(value, int)):
            raise EventError(f"expected {'an integer' if kind == 'integer' else 'a number'}, got {_show(value)}",
                             field=field, event_id=event_id, index=index)
    elif kind == "string" and not isinstance(value, str):
        raise EventError(f"expected a string, got {_show(value)}", field=field, event_id=event_id, index=index)
    elif kind == "boolean" and not isinstance(value, bool):
        raise EventError(f"expected true or false, got {_show(value)}", field=field, event_id=event_id, index=index)
    elif kind == "scalar" and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise EventError(f"expected a string or an integer, got {_show(value)}", field=field, event_id=event_id,
                         index=index)
    if check.enum is not None and value not in check.enum:
        allowed = ", ".join(sorted(map(str, check.enum)))
        raise EventError(f"expected one of {allowed}, got {_show(value)}", field=field, event_id=event_id, index=index)
    if check.min is not None and is_number and value < check.min:
        raise EventError(f"expected a number >= {check.min:g}, got {_show(value)}", field=field, event_id=event_id,
                         index=index)
    if check.max is not None and is_number and value > check.max:
        raise EventError(f"expected a number <= {check.max:g}, got {_show(value)}", field=field, event_id=event_id,
                         index=index)


def _check_scalar(name: str, value: Any, event_id: str, index: int | None, limits: EventLimits) -> int:
    """Check one attribute's value; its characters toward ``max_event`` (0 for a number)."""
    field = f"attributes.{name}"
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(f"expected a finite number, got {_show(value)}", field=field, event_id=event_id, index=index)
    if isinstance(value, str):
        if len(value) > limits.max_string:
            raise EventError(f"text of {len(value)} characters, more than max_string = {limits.max_string}",
                             field=field, event_id=event_id, index=index)
        if not _encodable(value):
            raise EventError("text that is not valid Unicode (a lone surrogate)", field=field, event_id=event_id,
                             index=index)
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise EventError(f"integer outside the signed 64-bit range, got {_show(value)}", field=field,
                         event_id=event_id, index=index)
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise EventError(f"expected a string, number, boolean or null, got {type(value).__name__}",
                         field=field, event_id=event_id, index=index)
    return 0


def _check_attribute_name(name: Any, event_id: str, index: int | None) -> None:
    if not isinstance(name, str):
        raise EventError(f"attribute names are strings, got {_show(name)}", field="attributes", event_id=event_id,
                         index=index)
    if not _valid_name(name):
        raise EventError(f"attribute names are 1–{MAX_ID_LENGTH} printable characters, got {_show(name)}",
                         field="attributes", event_id=event_id, index=index)


#: Id strings already found well-formed (subjects, grids and households recur on every event); bounded.
_GOOD_IDS: set[str] = set()
#: Attribute names already found well-formed (a ruleset's few names recur on every event); bounded.
_GOOD_NAMES: set[str] = set()
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


def _valid_name(name: Any) -> bool:
    return type(name) is str and 0 < len(name) <= MAX_ID_LENGTH and name.isprintable()


def _known_name(name: Any) -> bool:
    if not _valid_name(name):
        return False
    if len(_GOOD_NAMES) >= _GOOD_IDS_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)
    return True


def _fast(policy: Policy, raw: dict[str, Any], limits: EventLimits) -> Event | None:
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
            and (household is None or (type(household) is str and (household in good or _known_good(household))))
            and (community is None or (type(community) is str and (community in good or _known_good(community))))
            and (actor is None or (type(actor) is str and (actor in good or _known_good(actor))))):
        return None
    if event_id.startswith(RESERVED_ID_PREFIX) or (household is not None and household.startswith("subject:")):
        return None
    max_id = limits.max_id
    if max_id < MAX_ID_LENGTH and any(v is not None and len(v) > max_id
                                      for v in (event_id, subject, grid, household, community, actor)):
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
    if moment.tzinfo is None or moment.utcoffset() is None or not EARLIEST_YEAR <= moment.year < LATEST_YEAR:
        return None
    attributes = get("attributes")
    if attributes is None:
        attributes = {}
    elif type(attributes) is not dict or len(attributes) > limits.max_attributes:
        return None
    size = 0
    max_string = limits.max_string
    names = _GOOD_NAMES
    for name, value in attributes.items():
        kind = type(value)
        if kind is str:
            if len(value) > max_string or not (value.isascii() or _SURROGATE.search(value) is None):
                return None
            size += len(value)
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return None
        elif kind is float:
            if not math.isfinite(value):
                return None
        elif kind is not bool and value is not None:
            return None
        if not (name in names or _known_name(name)):
            return None
        size += len(name)
    if size > limits.max_event:
        return None
    for name, check in spec.attributes.items():
        value = attributes.get(name)
        if value is None:
            if check.required:
                return None
            continue
        _check_attribute(check, value, event_id, None)
    return Event(event_id, event_type, subject, grid, moment, attributes, household, community, actor)


def coerce_event(policy: Policy, raw: Event | Mapping[str, Any], index: int | None = None,
                 limits: EventLimits = DEFAULT_EVENT_LIMITS, *, redact: bool = False) -> Event:
    """Check ``raw`` against the policy and ``limits`` and return it as an :class:`Event`; raise
    :class:`EventError` if not. ``redact``: a pseudonymiser is on, so no error shows a subject's raw id."""
    if type(raw) is dict:
        try:
            fast = _fast(policy, raw, limits)
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
        if (value is None and name not in _REQUIRED) or (
                isinstance(value, str) and _valid_id(value) and len(value) <= limits.max_id):
            continue
        _check_id(value, name, event_id if isinstance(event_id, str) and _valid_id(event_id) else None, index,
                  optional=name not in _REQUIRED, limits=limits, redact=redact)
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
        raise EventError(f"expected a string, got {_show(event_type)}", field="type", event_id=event_id, index=index)
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
    if len(attributes) > limits.max_attributes:
        raise EventError(f"{len(attributes)} attributes, more than max_attributes = {limits.max_attributes}",
                         field="attributes", event_id=event_id, index=index)
    size = 0
    for name, value in attributes.items() if attributes else ():
        _check_attribute_name(name, event_id, index)
        size += len(name) + _check_scalar(name, value, event_id, index, limits)
    if size > limits.max_event:
        raise EventError(f"attributes of {size} characters in all, more than max_event = {limits.max_event}",
                         field="attributes", event_id=event_id, index=index)
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
