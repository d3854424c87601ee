"""Limits on awards: caps, diminishing returns, shares, budgets, the balance floor, and rotation.

Each limit is a read of window counters and, once the award is final, an add to them. ``apply`` turns a
requested amount into a granted one and a trace step without touching counters; ``record`` adds the
final amount. Every fraction rounds toward zero, so points stay integers and replay is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from gridpoints.calendar import previous_windows
from gridpoints.model import CounterKey, LimitStep
from gridpoints.policy._compile import CompiledLimit


def counter_keys(limit: CompiledLimit, member_id: str, pool_id: str | None, window: str) -> tuple[CounterKey, ...]:
    """The counters a limit reads for one award: the member's (occurrences or points), and a share's pool,
    keyed by the limit's counter identity (its id, or the earlier limit it ``continues``)."""
    member = CounterKey(limit.scope, member_id, limit.counter, window)
    if limit.kind == "share":
        assert limit.pool is not None and pool_id is not None
        return member, CounterKey(limit.pool, pool_id, f"{limit.counter}:pool", window)
    return (member,)


def apply(limit: CompiledLimit, keys: tuple[CounterKey, ...], amount: int, counters: Mapping[CounterKey, int]
          ) -> tuple[int, LimitStep]:
    """The amount left after ``limit`` and the step explaining it. ``amount`` is positive."""
    member = keys[0]
    before = counters.get(member, 0)
    if limit.kind == "diminishing":
        occurrence = before + 1
        factor = limit.factors[min(occurrence, len(limit.factors)) - 1]
        granted = int(Decimal(amount) * factor)
        code = "diminishing.full" if granted == amount else "diminishing.reduced"
        return granted, LimitStep(limit.id, limit.kind, member.scope, member.scope_id, member.window, before,
                                  len(limit.factors), amount, granted, "factor", code, param=str(factor))
    if limit.kind == "share":
        pool = counters.get(keys[1], 0)
        assert limit.max_share is not None
        granted = share_allowance(amount, before, pool, limit.max_share, limit.min_total)
        code = "share.within" if granted == amount else "share.above"
        return granted, LimitStep(limit.id, limit.kind, member.scope, member.scope_id, member.window, before,
                                  limit.min_total, amount, granted, "stop", code, pool=pool,
                                  param=str(limit.max_share))
    room = max(limit.limit - before, 0)
    if amount <= room:
        granted, outcome = amount, "within"
    elif limit.mode == "truncate":
        granted, outcome = room, "truncated"
    else:
        granted, outcome = 0, "rejected"
    return granted, LimitStep(limit.id, limit.kind, member.scope, member.scope_id, member.window, before,
                              limit.limit, amount, granted, limit.mode, _code(limit.kind, outcome))


_CODES: dict[tuple[str, str], str] = {}


def _code(kind: str, outcome: str) -> str:
    """``kind.outcome``, one string object per pair: a replay keeps millions of steps that share it."""
    code = _CODES.get((kind, outcome))
    if code is None:
        code = _CODES[kind, outcome] = f"{kind}.{outcome}"
    return code


def record(limit: CompiledLimit, keys: tuple[CounterKey, ...], granted: int, counters: dict[CounterKey, int],
           deltas: dict[CounterKey, int]) -> None:
    """Count a final award: one occurrence for diminishing, its points for the rest."""
    add = 1 if limit.kind == "diminishing" else granted
    if add == 0:
        return
    for key in keys:
        counters[key] = counters.get(key, 0) + add
        deltas[key] = deltas.get(key, 0) + add


def share_allowance(requested: int, member: int, pool: int, max_share: Fraction, min_total: int) -> int:
    """``requested``, or 0 for a member above the share: once the pool (before the award) reaches
    ``min_total``, a member holding more than ``max_share`` of it gets nothing more until the others catch up.

    A member at or below the share is awarded in full, even when the award takes them above it: a share
    limit stops the member who is above the share, never the rest of the pool (so a pool cannot freeze with
    everyone at the share). A share of 1 never binds.
    """
    if max_share >= 1 or pool < min_total or member <= max_share * pool:
        return requested
    return 0


def floor_allowance(deduction: int, balance: int, floor: int) -> int:
    """How much of a deduction (a positive magnitude) can be taken without the balance going below ``floor``."""
    return max(0, min(deduction, balance - floor))


def rotation_allows(wins: Mapping[str, int], kind: str, window: str, max_wins: int, in_periods: int) -> bool:
    """Whether a subject may win in ``window``: fewer than ``max_wins`` wins in the ``in_periods`` windows that
    end with it (``wins`` maps window ids to win counts, e.g. read from rotation counters)."""
    recent: Iterable[str] = (window, *previous_windows(kind, window, in_periods - 1))
    return sum(wins.get(w, 0) for w in recent) < max_wins
