"""Concentration of earned points (积分垄断): Gini, top shares and Lorenz curves on hand-computed cases,
hypothesis properties against the O(n²) definition, and the ledger readers over a real engine run."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gridpoints
from gridpoints import Engine, Entry, MemoryStore
from gridpoints.analytics._concentration import (
    Concentration,
    concentration,
    concentration_by_grid,
    concentration_for,
    earned_by_subject,
    gini,
    lorenz,
    top_share,
)
from gridpoints.model import ISSUANCE, Reason, make_entry, pending, spendable

F = Fraction
points_lists = st.lists(st.integers(min_value=0, max_value=1000), max_size=30)


def gini_by_definition(values: list[int]) -> Fraction:
    """G = Σ_i Σ_j |x_i − x_j| / (2 n² μ), literally: the O(n²) reference."""
    n, total = len(values), sum(values)
    if total == 0:
        return F(0)
    # 2 n² μ = 2 n · total
    return F(sum(abs(a - b) for a in values for b in values), 2 * n * total)


# -- gini ------------------------------------------------------------------------------------------------------


def test_gini_one_holder_of_four() -> None:
    """[0, 0, 0, 10]: one resident holds everything among four, Gini 3/4 = (n − 1)/n."""
    # |x_i − x_j| is 10 for the 3·2 ordered pairs (0, 10) and (10, 0): Σ = 60; 2 n² μ = 2·16·2.5 = 80.
    assert gini([0, 0, 0, 10]) == F(3, 4)


def test_gini_equal_holdings() -> None:
    """[1, 1, 1, 1]: everyone holds the same, Gini 0."""
    assert gini([1, 1, 1, 1]) == 0


def test_gini_one_to_four() -> None:
    """[1, 2, 3, 4]: Gini 1/4."""
    # Unordered differences: 1,2,3 (from 1), 1,2 (from 2), 1 (from 3) = 10; ordered Σ = 20.
    # 2 n² μ = 2·16·2.5 = 80; 20/80 = 1/4.
    assert gini([1, 2, 3, 4]) == F(1, 4)


def test_gini_one_holder_of_two() -> None:
    """[0, 10]: Gini 1/2, the maximum (n − 1)/n for two holders."""
    # Ordered Σ = 10 + 10 = 20; 2 n² μ = 2·4·5 = 40.
    assert gini([0, 10]) == F(1, 2)


def test_gini_is_exact_not_float() -> None:
    """[1, 2]: Gini is the Fraction 1/6, not a rounded float."""
    # Ordered Σ = 2; 2 n² μ = 2·4·1.5 = 12.
    result = gini([1, 2])
    assert isinstance(result, Fraction)
    assert result == F(1, 6)


@pytest.mark.parametrize("values", [[], [0], [0, 0, 0]], ids=["empty", "one-zero", "all-zero"])
def test_gini_of_nothing_is_zero(values: list[int]) -> None:
    """Empty and all-zero holdings have Gini 0 rather than dividing by zero."""
    assert gini(values) == 0


def test_gini_accepts_any_iterable() -> None:
    """A generator is read once, like a list."""
    assert gini(x for x in (0, 10)) == F(1, 2)


def test_negative_points_name_the_first_negative() -> None:
    """A negative value raises ValueError naming the first negative's position and value."""
    with pytest.raises(ValueError, match=r"values\[2\] is -5: .*earned points"):
        gini([3, 0, -5, -7])


@pytest.mark.parametrize("bad", [1.5, True, "3"], ids=["float", "bool", "text"])
def test_non_integer_points_are_refused(bad: object) -> None:
    """Floats, booleans and text are not points: TypeError naming the position."""
    with pytest.raises(TypeError, match=r"values\[1\]"):
        gini([1, bad])  # type: ignore[list-item]


# -- top_share -------------------------------------------------------------------------------------------------


def test_top10_of_ten_holders_is_the_largest_share() -> None:
    """Of ten holders the top 10 % is one, the largest: 10 of 1 + … + 10 = 55."""
    assert top_share(range(1, 11), "0.1") == F(10, 55)


def test_top_share_rounds_the_holder_count_up() -> None:
    """The top 1 % of 150 equal holders is ceil(1.5) = 2 of them: 2/150."""
    assert top_share([1] * 150, "0.01") == F(2, 150)


def test_top_share_counts_at_least_one_holder() -> None:
    """The top 1 % of four holders is still one holder: 10 of [0, 0, 0, 10] is everything."""
    # ceil(0.01·4) = ceil(0.04) = 1.
    assert top_share([0, 0, 0, 10], "0.01") == 1


def test_float_fraction_is_read_as_its_decimal_text() -> None:
    """0.1 means exactly 1/10: one holder of ten, where binary 0.1 (a hair above 1/10) would round up to two."""
    values = list(range(1, 11))
    assert F(0.1) * 10 > 1  # why the text matters: ceil would give 2 holders, 19/55
    assert top_share(values, 0.1) == top_share(values, F(1, 10)) == top_share(values, "1/10") == F(10, 55)


def test_top_share_of_everyone_is_one() -> None:
    """fraction 1 takes every holder, so the whole total."""
    assert top_share([3, 1, 4], 1) == 1


@pytest.mark.parametrize("fraction", [0, "0", -0.1, 1.5, "abc", "1/0"])
def test_top_share_fraction_outside_zero_one_is_refused(fraction: object) -> None:
    """A fraction outside (0, 1] or unreadable as a number raises ValueError."""
    with pytest.raises(ValueError, match="fraction"):
        top_share([1, 2], fraction)  # type: ignore[arg-type]


def test_top_share_of_nothing_is_zero() -> None:
    """No holders, or no points, give a share of 0."""
    assert top_share([], "0.1") == 0
    assert top_share([0, 0], "0.1") == 0


# -- lorenz ----------------------------------------------------------------------------------------------------


def test_lorenz_one_to_four() -> None:
    """[1, 2, 3, 4] (total 10): cumulative 1, 3, 6, 10 at each quarter of the holders."""
    assert lorenz([4, 2, 1, 3]) == [(F(0), F(0)), (F(1, 4), F(1, 10)), (F(1, 2), F(3, 10)),
                                    (F(3, 4), F(6, 10)), (F(1), F(1))]


def test_lorenz_of_nothing() -> None:
    """Empty input gives the two end points; all-zero input the line of equality."""
    assert lorenz([]) == [(F(0), F(0)), (F(1), F(1))]
    assert lorenz([0, 0]) == [(F(0), F(0)), (F(1, 2), F(1, 2)), (F(1), F(1))]


# -- concentration ---------------------------------------------------------------------------------------------


def test_concentration_bundles_every_metric() -> None:
    """[0, 0, 0, 10]: n 4, total 10, Gini 3/4, both top shares 1, the Lorenz curve as a tuple."""
    assert concentration([0, 10, 0, 0]) == Concentration(
        n=4, total=10, gini=F(3, 4), top1=F(1), top10=F(1),
        lorenz=((F(0), F(0)), (F(1, 4), F(0)), (F(1, 2), F(0)), (F(3, 4), F(0)), (F(1), F(1))),
    )


def test_concentration_of_nobody() -> None:
    """No holders: zeros and the two end points of the Lorenz curve."""
    assert concentration([]) == Concentration(0, 0, F(0), F(0), F(0), ((F(0), F(0)), (F(1), F(1))))


# -- properties ------------------------------------------------------------------------------------------------


@given(points_lists)
def test_gini_equals_the_quadratic_definition(values: list[int]) -> None:
    """The O(n log n) Gini equals the O(n²) double sum and lies in [0, (n − 1)/n]."""
    result = gini(values)
    assert result == gini_by_definition(values)
    assert 0 <= result <= (F(len(values) - 1, len(values)) if values else 0)


@given(points_lists, st.data())
def test_gini_ignores_order(values: list[int], data: st.DataObject) -> None:
    """Permuting the holders leaves every metric unchanged."""
    shuffled = data.draw(st.permutations(values))
    assert concentration(shuffled) == concentration(values)


@given(points_lists, st.integers(min_value=1, max_value=1000))
def test_concentration_ignores_scale(values: list[int], k: int) -> None:
    """Multiplying every holding by a positive integer changes the total only."""
    scaled = concentration([k * x for x in values])
    assert attrs_without_total(scaled) == attrs_without_total(concentration(values))


def attrs_without_total(c: Concentration) -> tuple[object, ...]:
    return (c.n, c.gini, c.top1, c.top10, c.lorenz)


@given(points_lists)
def test_gini_is_one_minus_twice_the_area_under_lorenz(values: list[int]) -> None:
    """Gini is exactly 1 − 2 × the trapezoid area under the Lorenz curve, which never rises above the diagonal."""
    curve = lorenz(values)
    area = sum(((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(curve)),
               start=F(0))
    assert gini(values) == 1 - 2 * area
    assert all(y <= x for x, y in curve)


@given(points_lists.filter(lambda v: sum(v) > 0), st.fractions(min_value=0, max_value=1).filter(bool))
def test_top_holders_hold_at_least_their_headcount_share(values: list[int], fraction: Fraction) -> None:
    """The top ceil(f·n) holders hold at least ceil(f·n)/n of the points (≥ f), and never more than all."""
    count = math.ceil(fraction * len(values))
    assert F(count, len(values)) <= top_share(values, fraction) <= 1


# -- from the ledger -------------------------------------------------------------------------------------------

RULESET = """\
ruleset: concentration-test
version: 1
name: T
timezone: Asia/Shanghai
rules:
  - {id: mediation, on: mediation, points: 10}
  - {id: patrol, on: patrol, points: {per: hours, each: 10}}
  - {id: noise, on: noise_violation, points: -10}
"""
GRID_OF = {"a": "g1", "b": "g1", "c": "g2", "d": "g2"}
POPULATION = ["a", "b", "c", "d"]
APRIL = ("month", "2026-04")


@pytest.fixture(scope="module")
def ledger() -> list[Entry]:
    """A small real engine run: a and b earn in April (Shanghai), c only in May, d never."""
    engine = Engine(gridpoints.load_ruleset(RULESET), MemoryStore())
    events = [
        ("a", "g1", "mediation", "2026-03-31T23:30:00+08:00", {}),  # March in Shanghai and in UTC
        ("a", "g1", "mediation", "2026-04-01T00:30:00+08:00", {}),  # April in Shanghai, March in UTC
        ("b", "g1", "patrol", "2026-04-10T09:00:00+08:00", {"hours": 3}),  # 30
        ("b", "g1", "noise_violation", "2026-04-11T09:00:00+08:00", {}),  # −10, not subtracted
        ("c", "g2", "mediation", "2026-05-01T00:00:00+08:00", {}),  # May in Shanghai, April in UTC
    ]
    for i, (subject, grid, kind, when, attributes) in enumerate(events):
        engine.submit({"id": f"e{i}", "type": kind, "subject": subject, "grid": grid, "occurred_at": when,
                       "attributes": attributes})
    return list(engine.store.entries(engine.tenant))


def test_earned_counts_awards_and_ignores_deductions(ledger: list[Entry]) -> None:
    """All time: a 10 + 10, b 30 (its −10 deduction is not subtracted), c 10; d earned nothing."""
    assert earned_by_subject(ledger) == {"a": 20, "b": 30, "c": 10}


def test_earned_in_a_window_uses_the_local_calendar(ledger: list[Entry]) -> None:
    """April in Shanghai holds a's 1 April 00:30 award; in UTC it falls on 31 March and c's 1 May 00:00 on 30 April."""
    assert earned_by_subject(ledger, window=APRIL) == {"a": 10, "b": 30}
    assert earned_by_subject(ledger, window=APRIL, zone="UTC") == {"b": 30, "c": 10}
    assert earned_by_subject(ledger, window=("day", "2026-04-01")) == {"a": 10}


def test_population_adds_residents_who_earned_nothing(ledger: list[Entry]) -> None:
    """Listed residents appear with 0; without the list they do not appear at all."""
    assert earned_by_subject(ledger, window=APRIL, population=POPULATION) == {"a": 10, "b": 30, "c": 0, "d": 0}


def test_grid_of_limits_the_scope(ledger: list[Entry]) -> None:
    """Subjects grid_of does not place are left out, earners and population alike."""
    assert earned_by_subject(ledger, grid_of={"b": "g1", "c": "g2"}, population=["d"]) == {"b": 30, "c": 10}


def test_community_gini_includes_those_who_earned_nothing(ledger: list[Entry]) -> None:
    """April: [10, 30] alone has Gini 1/4; with c and d at 0 it is 5/8."""
    # [10, 30]: ordered Σ|Δ| = 40; 2 n² μ = 2·4·20 = 160 → 1/4.
    assert concentration_for(ledger, APRIL).gini == F(1, 4)
    # [0, 0, 10, 30]: unordered Δ: 0, 10, 30, 10, 30, 20 = 100; ordered 200; 2 n² μ = 2·16·10 = 320 → 5/8.
    community = concentration_for(ledger, APRIL, population=POPULATION)
    assert (community.n, community.total, community.gini) == (4, 40, F(5, 8))
    # top 10 % of 4 = ceil(0.4) = 1 holder: b's 30 of 40.
    assert community.top10 == F(3, 4)


def test_concentration_by_grid(ledger: list[Entry]) -> None:
    """April: g1 is [10, 30] (Gini 1/4, top 3/4); g2 is [0, 0] (nothing handed out, Gini 0)."""
    by_grid = concentration_by_grid(ledger, GRID_OF, APRIL, population=POPULATION)
    assert list(by_grid) == ["g1", "g2"]
    assert (by_grid["g1"].n, by_grid["g1"].gini, by_grid["g1"].top10) == (2, F(1, 4), F(3, 4))
    assert by_grid["g2"] == concentration([0, 0])


def test_grids_without_counted_subjects_are_absent(ledger: list[Entry]) -> None:
    """Without a population, April has no one counted in g2, so g2 is absent."""
    assert list(concentration_by_grid(ledger, GRID_OF, APRIL)) == ["g1"]


def test_reasons_choose_what_counts_as_earned() -> None:
    """Pending awards never count; verified reports count by default, not when only direct awards are asked for."""
    def entry(seq: int, credit: str, amount: int, reason: str) -> Entry:
        return make_entry(seq=seq, tenant="t", event_id=f"e{seq}", subject="s", debit=ISSUANCE, credit=credit,
                          amount=amount, ruleset="r@1", rule="hazard", reason=reason,
                          occurred_at="2026-04-02T02:00:00+00:00", reverses=None, prev_hash="0" * 64)

    entries = [entry(1, spendable("s"), 5, "award"), entry(2, pending("s"), 15, "pending"),
               entry(3, spendable("s"), 15, "verified")]
    assert earned_by_subject(entries, reasons={"award"}) == {"s": 5}
    assert earned_by_subject(entries) == earned_by_subject(entries, reasons=Reason.EARNED) == {"s": 20}


@pytest.mark.parametrize("window", [("fortnight", "2026-04"), ("month", "2026-4x")], ids=["kind", "id"])
def test_bad_window_is_refused(ledger: list[Entry], window: tuple[str, str]) -> None:
    """An unknown window kind or a malformed window id raises ValueError."""
    with pytest.raises(ValueError, match="window"):
        earned_by_subject(ledger, window=window)


def test_analytics_module_exports() -> None:
    """gridpoints.analytics exports a sorted __all__, the grid heat map and anomaly functions included."""
    import gridpoints.analytics as analytics

    assert analytics.__all__ == sorted(analytics.__all__)
    assert {"anomalies", "grid_heat", "proactive_service", "rule_categories"} <= set(analytics.__all__)
    assert all(hasattr(analytics, name) for name in analytics.__all__)
