"""Calendar windows in the ruleset's zone: day, ISO week, month, quarter and year boundaries, events given
in other offsets, and a UTC ruleset for contrast."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from _support import ruleset

import gridpoints
from gridpoints import Engine, MemoryStore
from gridpoints.calendar import previous_windows, window_id, window_start

KINDS = ("day", "week", "month", "quarter", "year")
#: One rule per window kind, each capped at 10 per window, so the second award in a window gets 0.
WINDOWED = ruleset(
    "".join(f"  - {{id: {k}, on: {k}, points: 10}}\n" for k in KINDS),
    "".join(f"  - {{id: cap-{k}, window: {k}, rules: [{k}], limit: 10}}\n" for k in KINDS),
)


def engine(zone: str = "Asia/Shanghai") -> Engine:
    return Engine(gridpoints.load_ruleset(WINDOWED.replace("name: T\n", f"name: T\ntimezone: {zone}\n")),
                  MemoryStore())


class Submitter:
    """Submits one event of a window kind and reports (window id, points granted)."""

    def __init__(self, zone: str = "Asia/Shanghai") -> None:
        self.engine = engine(zone)
        self.serial = 0

    def __call__(self, kind: str, at: str) -> tuple[str, int]:
        self.serial += 1
        decision = self.engine.submit({"id": f"e{self.serial}", "type": kind, "subject": "s1", "grid": "g1",
                                       "occurred_at": at})
        (step,) = decision.trace.rules[0].steps
        return step.window, decision.points


def test_day_boundary_in_shanghai() -> None:
    """23:59:59 and 00:00:00 local are different days: the daily cap resets at local midnight."""
    submit = Submitter()
    assert submit("day", "2026-04-01T23:59:59+08:00") == ("2026-04-01", 10)
    assert submit("day", "2026-04-01T00:00:00+08:00") == ("2026-04-01", 0)
    assert submit("day", "2026-04-02T00:00:00+08:00") == ("2026-04-02", 10)


def test_utc_times_are_converted_to_shanghai_days() -> None:
    """15:59:59Z is still the Shanghai day; 16:00:00Z is the next Shanghai day."""
    submit = Submitter()
    assert submit("day", "2026-04-01T15:59:59+00:00") == ("2026-04-01", 10)
    assert submit("day", "2026-04-01T16:00:00Z") == ("2026-04-02", 10)


def test_negative_offsets_are_converted() -> None:
    """11:00 at −05:00 on April 1 is 00:00 on April 2 in Shanghai."""
    submit = Submitter()
    assert submit("day", "2026-04-01T10:59:59-05:00") == ("2026-04-01", 10)
    assert submit("day", "2026-04-01T11:00:00-05:00") == ("2026-04-02", 10)
    assert submit("day", "2026-04-01T16:00:00+00:00") == ("2026-04-02", 0)


def test_iso_week_boundary_sunday_to_monday() -> None:
    """Sunday 23:59:59 and Monday 00:00:00 local fall in consecutive ISO weeks."""
    assert date(2026, 4, 5).isoweekday() == 7
    submit = Submitter()
    assert submit("week", "2026-04-05T23:59:59+08:00") == ("2026-W14", 10)
    assert submit("week", "2026-03-30T00:00:00+08:00") == ("2026-W14", 0)
    assert submit("week", "2026-04-06T00:00:00+08:00") == ("2026-W15", 10)


def test_iso_year_differs_from_calendar_year_at_new_year() -> None:
    """2026-12-31 and 2027-01-01 are both in ISO week 2026-W53, so they share a weekly cap."""
    assert date(2026, 12, 31).isocalendar()[:2] == (2026, 53)
    assert date(2027, 1, 1).isocalendar()[:2] == (2026, 53)
    assert date(2027, 1, 4).isocalendar()[:2] == (2027, 1)
    submit = Submitter()
    assert submit("week", "2026-12-31T12:00:00+08:00") == ("2026-W53", 10)
    assert submit("week", "2027-01-01T12:00:00+08:00") == ("2026-W53", 0)
    assert submit("week", "2027-01-04T00:00:00+08:00") == ("2027-W01", 10)


def test_iso_year_ahead_of_calendar_year() -> None:
    """Monday 2024-12-30 belongs to ISO week 2025-W01."""
    assert date(2024, 12, 30).isocalendar()[:2] == (2025, 1)
    submit = Submitter()
    assert submit("week", "2024-12-30T08:00:00+08:00") == ("2025-W01", 10)
    assert submit("week", "2025-01-05T23:00:00+08:00") == ("2025-W01", 0)


def test_shanghai_new_year_from_utc() -> None:
    """16:00Z on December 31 is New Year in Shanghai: day, month, quarter and year windows all turn over."""
    submit = Submitter()
    at = "2026-12-31T16:00:00+00:00"
    assert submit("day", at) == ("2027-01-01", 10)
    assert submit("month", at) == ("2027-01", 10)
    assert submit("quarter", at) == ("2027-Q1", 10)
    assert submit("year", at) == ("2027", 10)
    assert submit("year", "2026-12-31T15:59:59+00:00") == ("2026", 10)


@pytest.mark.parametrize(
    ("last", "first", "windows"),
    [
        ("2026-02-28T23:59:59+08:00", "2026-03-01T00:00:00+08:00", ("2026-02", "2026-03")),
        ("2028-02-29T23:59:59+08:00", "2028-03-01T00:00:00+08:00", ("2028-02", "2028-03")),
        ("2026-04-30T23:59:59+08:00", "2026-05-01T00:00:00+08:00", ("2026-04", "2026-05")),
        ("2026-12-31T23:59:59+08:00", "2027-01-01T00:00:00+08:00", ("2026-12", "2027-01")),
    ],
)
def test_month_ends(last: str, first: str, windows: tuple[str, str]) -> None:
    """The last second of a month and the first of the next are different month windows (leap years too)."""
    submit = Submitter()
    assert submit("month", last) == (windows[0], 10)
    assert submit("month", first) == (windows[1], 10)
    assert submit("month", first) == (windows[1], 0)


def test_utc_evening_is_next_month_in_shanghai() -> None:
    """2026-03-31T16:30Z is 00:30 on April 1 in Shanghai: month 2026-04, quarter 2026-Q2."""
    submit = Submitter()
    assert submit("month", "2026-03-31T16:30:00Z") == ("2026-04", 10)
    assert submit("quarter", "2026-03-31T16:30:00Z") == ("2026-Q2", 10)
    assert submit("day", "2026-03-31T16:30:00Z") == ("2026-04-01", 10)
    trace = submit.engine.decision("e1")
    assert trace is not None and trace.trace.occurred_local == "2026-04-01T00:30:00+08:00"


def test_quarter_boundary() -> None:
    """June 30 and July 1 local are in Q2 and Q3."""
    submit = Submitter()
    assert submit("quarter", "2026-06-30T23:59:59+08:00") == ("2026-Q2", 10)
    assert submit("quarter", "2026-07-01T00:00:00+08:00") == ("2026-Q3", 10)


def test_utc_ruleset_counts_in_utc() -> None:
    """The same two events are different days in Shanghai but one day in a UTC ruleset."""
    times = ("2026-04-01T15:00:00Z", "2026-04-01T17:00:00Z")
    shanghai, utc = Submitter(), Submitter("UTC")
    assert [shanghai("day", t) for t in times] == [("2026-04-01", 10), ("2026-04-02", 10)]
    assert [utc("day", t) for t in times] == [("2026-04-01", 10), ("2026-04-01", 0)]
    assert utc("month", "2026-03-31T16:30:00Z") == ("2026-03", 10)
    local = utc.engine.decision("e3")
    assert local is not None and local.trace.occurred_local == "2026-03-31T16:30:00+00:00"


def test_dst_zone_uses_local_calendar_date() -> None:
    """In a zone with daylight saving the day window follows the local wall date across the change."""
    submit = Submitter("America/New_York")
    # 2026-03-08 02:00 EST becomes 03:00 EDT; 04:59Z is 23:59 EST on March 7, 05:00Z is 00:00 EST March 8.
    assert submit("day", "2026-03-08T04:59:59Z") == ("2026-03-07", 10)
    assert submit("day", "2026-03-08T05:00:00Z") == ("2026-03-08", 10)
    assert submit("day", "2026-03-09T03:59:59Z") == ("2026-03-08", 0)
    assert submit("day", "2026-03-09T04:00:00Z") == ("2026-03-09", 10)


@pytest.mark.parametrize("kind", KINDS)
def test_window_ids_sort_and_invert(kind: str) -> None:
    """Window ids of consecutive days never go backwards, and window_start inverts window_id."""
    day = date(2024, 12, 1)
    ids = []
    for _ in range(800):
        wid = window_id(kind, day)
        start = window_start(kind, wid)
        assert start <= day and window_id(kind, start) == wid
        assert window_id(kind, start - timedelta(days=1)) != wid
        ids.append(wid)
        day += timedelta(days=1)
    assert ids == sorted(ids)


def test_previous_windows() -> None:
    """previous_windows lists the windows before one, most recent first, across year ends."""
    assert previous_windows("month", "2027-02", 3) == ("2027-01", "2026-12", "2026-11")
    assert previous_windows("week", "2027-W01", 2) == ("2026-W53", "2026-W52")
    assert previous_windows("quarter", "2027-Q1", 1) == ("2026-Q4",)


def test_unknown_window_kind() -> None:
    """An unknown window kind is a ValueError naming the allowed kinds."""
    with pytest.raises(ValueError, match="fortnight"):
        window_id("fortnight", date(2026, 1, 1))
    with pytest.raises(ValueError):
        window_start("month", "2026-13")


def test_local_date_matches_aware_datetime_conversion() -> None:
    """Windows come from the event instant converted to the zone, whatever offset it was given in."""
    instants = ["2026-04-01T16:00:00+00:00", "2026-04-02T00:00:00+08:00", "2026-04-01T11:00:00-05:00",
                "2026-04-02T01:30:00+09:30"]
    assert len({datetime.fromisoformat(i) for i in instants}) == 1
    submit = Submitter()
    assert [submit("day", i) for i in instants] == [("2026-04-02", 10)] + [("2026-04-02", 0)] * 3
