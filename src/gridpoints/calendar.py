"""Calendar windows in a ruleset's time zone.

A window id is a short string that sorts chronologically within its kind: ``2026-04-01`` (day),
``2026-W14`` (ISO week, ISO year), ``2026-04`` (month), ``2026-Q2`` (quarter), ``2026`` (year). Every
limit counts within such windows, computed from the event's own time converted to the ruleset's zone,
never from a wall clock.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

WINDOW_KINDS: Final = ("day", "week", "month", "quarter", "year")

#: The years an event's time (and a ruleset's date) may carry in its own offset: from EARLIEST_YEAR to before
#: LATEST_YEAR. Far enough from datetime's ends (years 1 and 9999) that a window's start and end, a deadline
#: of up to :data:`MAX_DURATION`, a look-back of :data:`MAX_MONTHS` and any zone's offset stay representable.
EARLIEST_YEAR: Final = 1900
LATEST_YEAR: Final = 9000
#: The longest duration a ruleset may give (``within``, ``cooldown``, ``hold``): 9,999 days, about 27 years.
MAX_DURATION: Final = timedelta(days=9999)
#: The longest look-back in months (``tier_months``, ``expire_after``) and in periods (``rotation``).
MAX_MONTHS: Final = 1200
MAX_PERIODS: Final = 1000

#: The most windows of the first kind that can overlap one window of the second (used by lint).
MAX_SUBWINDOWS: Final[dict[tuple[str, str], int]] = {
    ("day", "week"): 7, ("day", "month"): 31, ("day", "quarter"): 92, ("day", "year"): 366,
    ("week", "month"): 6, ("week", "quarter"): 14, ("week", "year"): 54,
    ("month", "quarter"): 3, ("month", "year"): 12, ("quarter", "year"): 4,
}


@functools.lru_cache(maxsize=4096)
def window_id(kind: str, day: date) -> str:
    """The id of the ``kind`` window that contains the local calendar date ``day``."""
    if kind == "day":
        return day.isoformat()
    if kind == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    if kind == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if kind == "year":
        return str(day.year)
    raise ValueError(f"unknown window kind {kind!r}; expected one of {', '.join(WINDOW_KINDS)}")


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar date of an aware ``moment`` in ``zone``."""
    return moment.astimezone(zone).date()


def window_start(kind: str, window: str) -> date:
    """The first local date of a window id (inverse of :func:`window_id`)."""
    try:
        if kind == "day":
            return date.fromisoformat(window)
        if kind == "week":
            year, week = window.split("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        if kind == "month":
            year, month = window.split("-")
            return date(int(year), int(month), 1)
        if kind == "quarter":
            year, quarter = window.split("-Q")
            return date(int(year), 3 * (int(quarter) - 1) + 1, 1)
        if kind == "year":
            return date(int(window), 1, 1)
    except ValueError as exc:
        raise ValueError(f"{window!r} is not a {kind} window id") from exc
    raise ValueError(f"unknown window kind {kind!r}; expected one of {', '.join(WINDOW_KINDS)}")


def previous_windows(kind: str, window: str, count: int) -> tuple[str, ...]:
    """The ``count`` windows of ``kind`` before ``window``, most recent first."""
    found: list[str] = []
    current = window_start(kind, window)
    for _ in range(count):
        current = window_start(kind, window_id(kind, current - timedelta(days=1)))
        found.append(window_id(kind, current))
    return tuple(found)


def window_end(kind: str, window: str) -> date:
    """The first local date after a window (its exclusive end)."""
    start = window_start(kind, window)
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    total = start.month - 1 + months
    return date(start.year + total // 12, total % 12 + 1, 1)


def window_kind(window: str) -> str:
    """The kind of a window id: ``2026-04-01`` day, ``2026-W14`` week, ``2026-04`` month, ``2026-Q2``
    quarter, ``2026`` year."""
    patterns = (("day", r"\d{4}-\d{2}-\d{2}"), ("week", r"\d{4}-W\d{2}"), ("month", r"\d{4}-\d{2}"),
                ("quarter", r"\d{4}-Q[1-4]"), ("year", r"\d{4}"))
    for kind, pattern in patterns:
        if re.fullmatch(pattern, window):
            window_start(kind, window)
            return kind
    raise ValueError(f"{window!r} is not a window id (e.g. 2026-04-01, 2026-W14, 2026-04, 2026-Q2, 2026)")


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock time ``months`` calendar months earlier (the day clamped to the month's length)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


class LocalTimes:
    """An event time's local text, UTC text and local date in one zone, formatted once per hour of text.

    Every decision states its event's time twice (the trace's local time, the entries' UTC time) and
    windows by its local date. Most events arrive as ``YYYY-MM-DDTHH:MM:SS±HH:MM`` text; within one hour
    of such text, with whole-hour offsets on both sides, only minutes and seconds differ, so the hour's
    formatting is kept and reused (bounded; any other input is formatted in full). The result is always
    exactly ``(local.isoformat(), local.astimezone(UTC).isoformat(), local.date())``.
    """

    __slots__ = ("_hours", "_zone")

    #: Hours kept before the cache starts again.
    MAX_HOURS: Final = 100_000

    def __init__(self, zone: tzinfo) -> None:
        self._zone = zone
        self._hours: dict[str, tuple[str, str, str, date] | None] = {}

    def of(self, moment: datetime, text: object = None) -> tuple[str, str, date]:
        """``(local ISO text, UTC ISO text, local date)`` of ``moment``; ``text`` is the form it came in."""
        if type(text) is str and len(text) == 25 and text[19] in "+-" and text[22] == ":" and text[13] == ":":
            key = text[:13] + text[19:]
            if key in self._hours:
                hour = self._hours[key]
            else:
                hour = self._hour(moment)
                if len(self._hours) >= self.MAX_HOURS:
                    self._hours.clear()
                self._hours[key] = hour
            if hour is not None:
                local_head, local_tail, utc_head, day = hour
                middle = text[13:19]
                return local_head + middle + local_tail, utc_head + middle + "+00:00", day
        local = moment.astimezone(self._zone)
        return local.isoformat(), local.astimezone(UTC).isoformat(), local.date()

    def _hour(self, moment: datetime) -> tuple[str, str, str, date] | None:
        """The hour's local head and tail and UTC head, or None when minutes and seconds would not carry
        over unchanged (a fractional-hour offset, or the zone's offset changing within the hour)."""
        if moment.microsecond or moment.utcoffset() is None:
            return None
        start = moment.replace(minute=0, second=0)
        given = start.utcoffset()
        first = start.astimezone(self._zone)
        last = (start + timedelta(minutes=59, seconds=59)).astimezone(self._zone)
        offset = first.utcoffset()
        if (given is None or offset is None or offset != last.utcoffset()
                or given.total_seconds() % 3600 or offset.total_seconds() % 3600):
            return None
        local = first.isoformat()
        utc = first.astimezone(UTC).isoformat()
        return local[:13], local[19:], utc[:13], first.date()
