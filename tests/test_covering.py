"""tests/covering.py: the covering sets hold every pair of factor values, and are much smaller than the grid."""

from __future__ import annotations

from math import prod

from hypothesis import given, settings
from hypothesis import strategies as st

from cases import BATCH_SIZES, DEPTHS, DTYPES, LOSS_OUTPUTS, OPTIMIZER_NAMES, TEAM_SIZES
from covering import covering_rows, full_grid, missing_pairs, pairwise_cases


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.integers(1, 6), min_size=0, max_size=7))
def test_every_pair_of_values_is_covered(sizes):
    rows = covering_rows(sizes)
    assert missing_pairs(rows, sizes) == set()
    assert all(len(row) == len(sizes) and all(0 <= v < n for v, n in zip(row, sizes)) for row in rows)
    assert len(set(rows)) == len(rows)  # no case twice
    if len(sizes) == 1:
        assert sorted(rows) == [(v,) for v in range(sizes[0])]  # one factor: every value
    if len(sizes) >= 2:
        largest, second = sorted(sizes)[-2:][::-1]
        assert largest * second <= len(rows) <= prod(sizes)  # no fewer than the largest pair of factors needs
    assert covering_rows(sizes) == rows  # deterministic: the same test ids on every run


def test_the_check_finds_a_missing_pair():
    """missing_pairs can fail: without one row of a covering set some pair is no longer covered."""
    sizes = [2, 5, 3, 3]
    rows = covering_rows(sizes)
    for k in range(len(rows)):
        assert missing_pairs(rows[:k] + rows[k + 1 :], sizes)


def test_the_suites_covering_sets_are_small():
    """The factors of the fit and epoch tests: about 26 cases stand in for 1,350."""
    factors = dict(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES,
                   optimizer=OPTIMIZER_NAMES, team=TEAM_SIZES)
    cases = pairwise_cases(factors)
    assert len(full_grid(factors)) == 1350
    assert 25 <= len(cases) <= 30
    assert set(cases) <= set(full_grid(factors))
