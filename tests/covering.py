"""Covering sets: a few cases that hold every pair of factor values, instead of the full cross product.

A bug that shows only for one value of one factor, or for one combination of two, is caught by a pairwise
set as by the full grid (tests/test_covering.py proves the pairwise property); the full grid runs once, in
tests/test_model_fit.py::test_full_grid (marked slow).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, product
from typing import Any

import pytest


def covering_rows(sizes: Sequence[int]) -> list[tuple[int, ...]]:
    """Rows of value indices (one per factor) in which every pair of values of any two factors occurs.

    Greedy and deterministic: each row starts from the first pair not yet covered and fills the other
    factors, largest first, with the value that covers the most new pairs with the factors already set.
    """
    n = len(sizes)
    if n == 0 or min(sizes) == 0:
        return []
    if n == 1:
        return [(i,) for i in range(sizes[0])]
    uncovered = {(a, i, b, j) for a, b in combinations(range(n), 2) for i in range(sizes[a]) for j in range(sizes[b])}
    fill_order = sorted(range(n), key=lambda f: -sizes[f])
    rows = []
    while uncovered:
        a, i, b, j = min(uncovered)
        row: list[int | None] = [None] * n
        row[a], row[b] = i, j
        for f in fill_order:
            if row[f] is None:
                gains = [(_gain(uncovered, row, f, value), -value) for value in range(sizes[f])]
                row[f] = gains.index(max(gains))
        rows.append(tuple(row))
        uncovered -= pairs(rows[-1])
    return rows


def _gain(uncovered, row, f, value) -> int:
    """How many uncovered pairs factor ``f`` at ``value`` would form with the factors already set in ``row``."""
    return sum(((f, value, g, row[g]) if f < g else (g, row[g], f, value)) in uncovered
               for g in range(len(row)) if row[g] is not None and g != f)


def pairs(row: Sequence[int]) -> set[tuple[int, int, int, int]]:
    """The (factor a, value, factor b, value) pairs, a < b, that one row covers."""
    return {(a, row[a], b, row[b]) for a, b in combinations(range(len(row)), 2)}


def missing_pairs(rows: Sequence[Sequence[int]], sizes: Sequence[int]) -> set[tuple[int, int, int, int]]:
    """The value pairs of ``sizes`` that no row covers (empty for a covering set)."""
    every = {(a, i, b, j) for a, b in combinations(range(len(sizes)), 2)
             for i in range(sizes[a]) for j in range(sizes[b])}
    for row in rows:
        every -= pairs(row)
    return every


def pairwise_cases(factors: dict[str, Sequence[Any]]) -> list[tuple]:
    """Value tuples, in the order of ``factors``, that cover every pair of values of any two factors."""
    values = [list(v) for v in factors.values()]
    return [tuple(values[f][k] for f, k in enumerate(row)) for row in covering_rows([len(v) for v in values])]


def full_grid(factors: dict[str, Sequence[Any]]) -> list[tuple]:
    """Every combination: the cross product the pairwise cases stand in for."""
    return list(product(*factors.values()))


def case_id(value) -> str:
    """A short test id for one factor value: tuples joined by "-", everything else by str."""
    if isinstance(value, tuple):
        return "-".join(map(case_id, value))
    return str(value)


def pairwise(**factors: Sequence[Any]):
    """``pytest.mark.parametrize`` over the pairwise cases of ``factors`` (keyword order = argument order)."""
    cases = pairwise_cases(factors)
    return pytest.mark.parametrize(list(factors), cases, ids=["-".join(map(case_id, case)) for case in cases])
