"""The blocking grain: one constant, kernels.GRAIN, and the unrolled tiles really are GRAIN x GRAIN.

The tiles (forward._dense_4x4, backward._gradient_4x4 and _gradient_1x4) are written out for a grain of
4; these tests fail if GRAIN changes without them: a tile would then cover only part of its block.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fastmlp._layout import build_layout
from fastmlp.kernels import GRAIN
from fastmlp.kernels.backward import _gradient_1x4, _gradient_4x4
from fastmlp.kernels.forward import _dense_4x4
from fastmlp.kernels.team import share

N_IN = 5


@pytest.fixture
def block():
    """GRAIN + 1 samples of N_IN inputs and GRAIN + 1 rows of weights (bias last): one more of each than a
    tile takes."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(GRAIN + 1, N_IN)), rng.normal(size=(GRAIN + 1, N_IN + 1))


def test_dense_tile_is_grain_by_grain(block):
    X, theta = block
    acts = np.full((GRAIN + 1, N_IN + GRAIN + 1), np.nan)
    acts[:, :N_IN] = X
    _dense_4x4(theta.ravel(), 0, N_IN + 1, N_IN, acts, 0, GRAIN, 0, N_IN, 0)
    z = acts[:, N_IN:]
    expected = X[:GRAIN] @ theta[:GRAIN, :-1].T + theta[:GRAIN, -1]
    np.testing.assert_allclose(z[:GRAIN, :GRAIN], expected, rtol=1e-12)
    assert np.isnan(z[GRAIN]).all() and np.isnan(z[:, GRAIN]).all()  # nothing beyond the tile


def test_gradient_tiles_are_grain_by_grain(block):
    X, deltas = block  # deltas[i, r]: sample i's delta of row r
    stride = N_IN + 1
    out = np.zeros((GRAIN + 1) * stride)
    _gradient_4x4(X, deltas, 0, GRAIN, 0, 0, 1.0, out, 0, stride, N_IN)
    inputs = np.hstack([X, np.ones((GRAIN + 1, 1))])
    expected = deltas[:GRAIN, :GRAIN].T @ inputs[:GRAIN]  # rows r < GRAIN, samples i < GRAIN
    rows = out.reshape(GRAIN + 1, stride)
    np.testing.assert_allclose(rows[:GRAIN], expected, rtol=1e-12)
    assert (rows[GRAIN] == 0).all()
    one_row = np.zeros(stride)
    _gradient_1x4(X, deltas, 0, GRAIN, 0, 0, 1.0, one_row, N_IN)
    np.testing.assert_allclose(one_row, expected[0], rtol=1e-12)


def test_shares_and_row_blocks_are_cut_at_the_grain():
    """A team's shares (kernels.team.share) and gradients' row blocks (_layout) start at multiples of GRAIN."""
    for n in (1, GRAIN - 1, GRAIN, 3 * GRAIN + 1, 50):
        for n_members in (1, 2, 3):
            cuts = [share(n, member, n_members, GRAIN) for member in range(n_members)]
            assert cuts[0][0] == 0 and cuts[-1][1] == n
            for (_, stop), (first, _) in itertools.pairwise(cuts):
                assert stop in (first, n)
                assert first % GRAIN == 0 or first == n
    sizes = [7, 2 * GRAIN + 2, 3]
    _, row_blocks = build_layout(sizes)
    for l in range(2):
        blocks = row_blocks[row_blocks[:, 0] == l]
        assert (blocks[:, 1] == np.arange(0, sizes[l + 1], GRAIN)).all()
        assert (blocks[:, 2] == np.minimum(GRAIN, sizes[l + 1] - blocks[:, 1])).all()
