"""The range every number gridpoints stores must fit: signed 64-bit, what every store's columns hold."""

from __future__ import annotations

from typing import Final

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def fits_int64(value: int) -> bool:
    """Whether ``value`` fits a signed 64-bit column (points, balances, counters)."""
    return INT64_MIN <= value <= INT64_MAX
