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
from datetime import date, datetime, timedelta, tzinfo
from typing import Final

WINDOW_KINDS: Final = ("day", "week", "month", "quarter", "year")

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
