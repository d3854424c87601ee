"""The subject registry: who lives where, since when, and which roles they hold.

The host is the system of record for its residents (their identities are personal data the host already
keeps), so gridpoints does not copy the roster into its ledger store. An engine asks a :class:`Registry`
about subjects; :class:`MemoryRegistry` is the in-process one, and a host can implement the two read
methods over its own user table. Membership is dated so that a decision about a past event uses the
membership at that event's time, and replay reproduces it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs


def _roles(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError(f"roles and tags must be collections of names, got the string {value!r}")
    return frozenset(value)


@attrs.frozen(slots=True)
class Membership:
    """A subject's place and roles over a period: from ``since`` (inclusive) to ``until`` (exclusive);
    ``building`` (楼栋) groups households for building challenges. ``tags`` (e.g. ``elderly``) and
    ``age_band`` (a label the host derives, e.g. ``65+``; gridpoints keeps no birth date) are what targeted
    items' eligibility reads (精准服务)."""

    subject: str
    grid: str
    household: str | None = None
    roles: frozenset[str] = attrs.field(default=frozenset({"resident"}), converter=_roles)
    since: datetime | None = None
    until: datetime | None = None
    building: str | None = None
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_roles)
    age_band: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must carry a UTC offset, got {moment.isoformat()!r}")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(f"until ({self.until.isoformat()}) must be after since ({self.since.isoformat()})")

    def active(self, at: datetime) -> bool:
        if self.since is not None and at < self.since:
            return False
        return self.until is None or at < self.until

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the membership covers any moment in ``[start, end)``."""
        if self.since is not None and self.since >= end:
            return False
        return self.until is None or self.until > start


@runtime_checkable
class Registry(Protocol):
    """Read access to the roster."""

    def membership(self, subject: str, at: datetime) -> Membership | None:
        """The subject's membership at ``at``, or None if not registered then."""
        ...

    def memberships(self) -> Iterator[Membership]:
        """Every membership record, for period close and analytics."""
        ...


class MemoryRegistry:
    """An in-process :class:`Registry`. Thread-safe."""

    def __init__(self, memberships: Iterable[Membership] = ()) -> None:
        self._lock = threading.Lock()
        self._by_subject: dict[str, list[Membership]] = {}
        for record in memberships:
            self.add(record)

    def add(self, record: Membership) -> None:
        with self._lock:
            history = self._by_subject.setdefault(record.subject, [])
            for other in history:
                if other.overlaps(record.since or _EARLIEST, record.until or _LATEST):
                    raise ValueError(f"subject {record.subject!r} already has a membership overlapping "
                                     f"{record.since} – {record.until}")
            history.append(record)

    def membership(self, subject: str, at: datetime) -> Membership | None:
        for record in self._by_subject.get(subject, ()):
            if record.active(at):
                return record
        return None

    def memberships(self) -> Iterator[Membership]:
        with self._lock:
            snapshot = [m for history in self._by_subject.values() for m in history]
        return iter(snapshot)


_EARLIEST = datetime.fromisoformat("0001-01-02T00:00:00+00:00")
_LATEST = datetime.fromisoformat("9999-12-30T00:00:00+00:00")
