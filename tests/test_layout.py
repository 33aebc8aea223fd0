"""fastmlp._layout: where each layer lives in the flat parameter vector and in a sample's activations."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp._layout import (
    ALIAS_BYTES,
    ALIGNMENT,
    aligned_rows,
    build_layout,
    from_lecture_order,
    n_params,
    n_stored,
    n_units,
    row_width,
    theta_views,
    to_lecture_order,
)
from fastmlp.kernels import LEAD, ROW_BLOCK, SIZE, THETA, UNIT

from kernel_args import gap_mask


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("sizes", [(5, 3), (784, 100, 10), (5, 7, 6, 5, 3), (1, 1, 1), (3, 1024, 512, 2),
                                   (5, 16, 32)])
def test_layout_tiles_parameters_and_units(sizes, itemsize):
    layout, row_blocks = build_layout(sizes, itemsize)
    assert layout[:, SIZE].tolist() == list(sizes)
    assert n_params(layout) == sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes, sizes[1:]))
    assert n_units(layout) == sum(sizes)
    # each layer's parameters start where the previous layer's end; its units likewise. Rows of a stored
    # transpose are its units rounded up to whole lines, so that no vector of a row crosses a line, and two
    # lines longer where that would be a multiple of 1 KB (256 float32 or 128 float64 units), so that the same
    # column of every row does not fall in a few L1 sets
    for l, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        per_line = ALIGNMENT // itemsize
        lines = -(-n_out // per_line)
        stepped = lines * ALIGNMENT % ALIAS_BYTES == 0
        assert layout[l, LEAD] == (lines + 2 * stepped) * per_line
        assert layout[l + 1, THETA] - layout[l, THETA] == layout[l, LEAD] * (n_in + 1)
        assert layout[l + 1, UNIT] - layout[l, UNIT] == n_in
    assert n_stored(layout) == layout[-1, THETA] >= n_params(layout)
    assert (n_stored(layout) > n_params(layout)) == (sizes != (5, 16, 32))  # whole lines, none of 1 KB
    # the row blocks cover every row of every stored transpose (inputs and the biases) once, in order
    rows = [(l, k0 + r) for l, k0, n in row_blocks for r in range(n)]
    assert rows == [(l, k) for l, n_in in enumerate(sizes[:-1]) for k in range(n_in + 1)]
    assert all(1 <= n <= ROW_BLOCK and k0 % ROW_BLOCK == 0 for _, k0, n in row_blocks)
    # the work buffers' rows: at least n_units wide, each starting on a cache line, and never a multiple of
    # 1 KB apart; ``aliased`` widens the last layer to 1,016 units in all, whose whole lines would be
    # 1,024 units (4 KB of float32, 8 KB of float64)
    aliased, _ = build_layout(sizes[:-1] + (sizes[-1] + 1016 - sum(sizes),), itemsize)
    for buffer_layout, dtype in itertools.product((layout, aliased), (np.float32, np.float64)):
        rows = aligned_rows(3, buffer_layout, dtype)
        assert rows.shape == (3, row_width(buffer_layout, rows.itemsize)) and rows.dtype == dtype
        per_line = ALIGNMENT // rows.itemsize
        lines = -(-n_units(buffer_layout) // per_line)
        stepped = lines * ALIGNMENT % ALIAS_BYTES == 0
        assert rows.shape[1] == (lines + 2 * stepped) * per_line
        assert rows.strides[0] % ALIAS_BYTES != 0
        assert all(rows[i].ctypes.data % ALIGNMENT == 0 for i in range(3))


def test_theta_views_are_views_in_order():
    layout, _ = build_layout((3, 8, 16), 8)  # rows of one and two whole lines: back to back
    assert n_stored(layout) == n_params(layout)
    params = np.arange(n_params(layout), dtype=np.float64)
    views = theta_views(params, layout)
    assert [view.shape for view in views] == [(8, 4), (16, 9)]
    assert all(view.base is params for view in views)
    # stored transposed: (n_in + 1, n_out) blocks, biases in the last row
    np.testing.assert_array_equal(np.concatenate([view.T.ravel() for view in views]), params)
    lecture = to_lecture_order(params, layout)
    np.testing.assert_array_equal(lecture, np.concatenate([view.ravel() for view in views]))
    np.testing.assert_array_equal(from_lecture_order(lecture, layout), params)
    # rows with a gap after them (512 float64 units, 4 KB; 2 units, a line): the views skip the gaps, which come
    # back as 0
    layout, _ = build_layout((3, 512, 2), 8)
    lead = layout[0, LEAD]
    params = np.arange(n_stored(layout), dtype=np.float64)
    views = theta_views(params, layout)
    assert [view.shape for view in views] == [(512, 4), (2, 513)]
    np.testing.assert_array_equal(views[0], params[: 4 * lead].reshape(4, lead)[:, :512].T)
    lecture = to_lecture_order(params, layout)
    assert lecture.size == n_params(layout)
    stored = from_lecture_order(lecture, layout)
    gaps = gap_mask(layout, stored.size)
    assert gaps.sum() == 4 * (lead - 512) + 513 * (layout[1, LEAD] - 2) and (stored[gaps] == 0).all()
    np.testing.assert_array_equal(stored[~gaps], params[~gaps])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_pickled_with_rows_back_to_back_unpickles_to_the_same_network(dtype):
    """A model pickled before the layout had LEAD (rows of every stored transpose back to back, a (n, 3) layout)
    comes back in today's layout: the same thetas, optimizer state and predictions, and it trains on."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    net = MLP((6, 1024, 512, 3), dtype=dtype, random_state=0)
    net.fit(X, y, epochs=1, batch_size=8, momentum=0.9, n_threads=1)
    state = pickle.loads(pickle.dumps(net)).__dict__  # a copy: its own random generator
    old = net._layout[:, :LEAD].copy()
    old[1:, THETA] = np.cumsum(old[1:, SIZE] * (old[:-1, SIZE] + 1))
    as_old = [np.concatenate([theta.T.ravel() for theta in theta_views(state[key], net._layout)])
              for key in ("params", "_first", "_second")]
    state.update(_layout=old, params=as_old[0], _first=as_old[1], _second=as_old[2])
    assert state["params"].size == n_params(net._layout) < n_stored(net._layout)
    back = MLP.__new__(MLP)
    back.__setstate__(state)
    np.testing.assert_array_equal(back._layout, net._layout)
    for mine, theirs in zip(back.thetas(), net.thetas()):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(back._first, net._first)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    back.partial_fit(X, y, batch_size=8, momentum=0.9, n_threads=1)
    net.partial_fit(X, y, batch_size=8, momentum=0.9, n_threads=1)
    np.testing.assert_array_equal(back.params, net.params)
