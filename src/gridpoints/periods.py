"""Calendar windows in a ruleset's time zone.

A window id is a short string that sorts chronologically within its kind: ``2026-04-01`` (day),
``2026-W14`` (ISO week, ISO year), ``2026-04`` (month), ``2026-Q2`` (quarter), ``2026`` (year). Every
limit counts within such windows, computed from the event's own time converted to the ruleset's zone,
never from a wall clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Final

WINDOW_KINDS: Final = ("day", "week", "month", "quarter", "year")

#: The most windows of the first kind that can overlap one window of the second (used by lint).
MAX_SUBWINDOWS: Final[dict[tuple[str, str], int]] = {
    ("day", "week"): 7, ("day", "month"): 31, ("day", "quarter"): 92, ("day", "year"): 366,
    ("week", "month"): 6, ("week", "quarter"): 14, ("week", "year"): 54,
    ("month", "quarter"): 3, ("month", "year"): 12, ("quarter", "year"): 4,
}


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
