"""The sharing grain: one constant, kernels.GRAIN, at whose multiples work is cut between threads."""

from __future__ import annotations

import itertools

import numpy as np

from fastmlp._layout import build_layout
from fastmlp.kernels import GRAIN, UNIT_BLOCK
from fastmlp.kernels.team import share


def test_shares_and_unit_blocks_are_cut_at_the_grain():
    """A team's shares (kernels.team.share) and gradients' unit blocks (_layout) start at multiples of GRAIN."""
    for n in (1, GRAIN - 1, GRAIN, 3 * GRAIN + 1, 50):
        for n_members in (1, 2, 3):
            cuts = [share(n, member, n_members, GRAIN) for member in range(n_members)]
            assert cuts[0][0] == 0 and cuts[-1][1] == n
            for (_, stop), (first, _) in itertools.pairwise(cuts):
                assert stop in (first, n)
                assert first % GRAIN == 0 or first == n
    assert UNIT_BLOCK % GRAIN == 0
    sizes = [7, 2 * UNIT_BLOCK + 2, 3]
    _, unit_blocks = build_layout(sizes)
    for l in range(2):
        blocks = unit_blocks[unit_blocks[:, 0] == l]
        assert (blocks[:, 1] == np.arange(0, sizes[l + 1], UNIT_BLOCK)).all()
        assert (blocks[:, 2] == np.minimum(UNIT_BLOCK, sizes[l + 1] - blocks[:, 1])).all()
