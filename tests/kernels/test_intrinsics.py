"""kernels.intrinsics compiled, against the Python stand-ins (intrinsics.python) that the coverage run uses
in their place: both must do the same."""

from __future__ import annotations

import numba
import numpy as np

from fastmlp._compile import kernel
from fastmlp.kernels.intrinsics import (
    argmax_lanes,
    atomic_add,
    atomic_load,
    atomic_store,
    flat,
    pow2,
    prefetch,
    touch,
    vector_lanes,
)
from fastmlp.kernels.intrinsics import python as python_intrinsics

from markers import needs_jit

pytestmark = needs_jit


@kernel
def _powers(exponents, out):
    """out[k] = 2 ** exponents[k] in out's float type (out zeroed: pow2 reads only the type of its second
    argument)."""
    for k in range(exponents.size):
        out[k] = pow2(exponents[k], out[k])


@kernel
def _atomics(state, out):
    out[0] = atomic_add(state, 3, 5)
    out[1] = atomic_load(state, 3)
    atomic_store(state, 2, 7)
    prefetch(state, 0)
    touch(state, 1)


@kernel
def _argmax(y, at, stride, n, best, b_at):
    argmax_lanes(y, at, stride, n, best, b_at)


def test_argmax_lanes_is_numpys_argmax_down_each_column():
    """One vector of columns of a matrix n x stride (from column ``at``) with ties, a NaN and a column whose largest
    value is in row 0: the index of the first largest of each (a NaN never wins), the same from the stand-in;
    nothing but one vector of ``best`` is written."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        lanes = vector_lanes(np.dtype(dtype).itemsize)
        for n in (1, 2, 7):
            stride, at = lanes + 3, 2
            y = rng.integers(0, 4, (n, stride)).astype(dtype)  # few values: many ties
            y[0, at] = 9
            y[n - 1, at + 1] = np.nan
            flat_y = np.concatenate([y.ravel(), np.zeros(lanes, dtype)])
            columns = y[:, at : at + lanes]
            expected = np.where(np.isnan(columns), -np.inf, columns).argmax(axis=0)
            for run in (_argmax, python_intrinsics.argmax_lanes):
                best = np.full(lanes + 4, -1, dtype)
                run(flat_y, at, stride, n, best, 2)
                np.testing.assert_array_equal(best[2 : 2 + lanes], expected)
                assert (best[:2] == -1).all() and (best[2 + lanes :] == -1).all()


def test_pow2_is_exact_for_every_normal_exponent():
    """For both float types and exponents narrower, as wide as and wider than the float's bits."""
    for dtype, low, high in ((np.float32, -126, 127), (np.float64, -1022, 1023)):
        for integer in (np.int16, np.int32, np.int64):
            exponents = np.arange(low, high + 1).astype(integer)
            out = np.zeros(exponents.size, dtype)
            _powers(exponents, out)
            expected = np.ldexp(dtype(1.0), exponents.astype(np.int32))
            np.testing.assert_array_equal(out, expected)
        stand_ins = [python_intrinsics.pow2(n, dtype(0.0)) for n in exponents]
        assert {type(x) for x in stand_ins} == {dtype}
        np.testing.assert_array_equal(stand_ins, expected)


def test_atomics_do_what_their_stand_ins_do():
    compiled, python = np.arange(16, dtype=np.int64), np.arange(16, dtype=np.int64)
    out = np.zeros(2, np.int64)
    _atomics(compiled, out)
    old = python_intrinsics.atomic_add(python, 3, 5)
    assert out.tolist() == [old, python_intrinsics.atomic_load(python, 3)] == [3, 8]
    python_intrinsics.atomic_store(python, 2, 7)
    python_intrinsics.prefetch(python, 0)
    python_intrinsics.touch(python, 1)
    np.testing.assert_array_equal(compiled, python)  # prefetch and touch change nothing


@kernel
def _flat_write(array, value):
    """Every element of ``array`` through its flat view: its last index written, the view's size returned."""
    view = flat(array)
    view[view.size - 1] = value
    return view.size, view.ndim


@numba.njit  # with Numba's runtime (reference counts), as a parallel kernel is compiled
def _flat_counted(array):
    total = 0.0
    for _ in range(3):
        view = flat(array)
        total += view[view.size - 1]
    return total


def test_flat_is_a_view_of_every_element_in_order():
    for shape in ((6,), (2, 3), (2, 3, 4)):
        compiled = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        python = compiled.copy()
        size, ndim = _flat_write(compiled, np.float32(-1.0))
        python_intrinsics.flat(python)[-1] = -1.0
        assert (size, ndim) == (python.size, 1)
        np.testing.assert_array_equal(compiled, python)
        assert compiled.reshape(-1)[-1] == -1.0


def test_flat_keeps_the_array_alive_under_reference_counting():
    """A view taken and dropped three times in a function with Numba's runtime: its reference is its own,
    so the array's count comes back to where it was, and its memory stays valid (a borrowed reference
    released as if owned would free it under the caller)."""
    import sys

    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    before = sys.getrefcount(array)
    assert _flat_counted(array) == 33.0
    assert sys.getrefcount(array) == before
    fresh = numba.njit(lambda n: _flat_counted(np.arange(n, dtype=np.float64).reshape(2, n // 2)))
    assert fresh(10) == 27.0  # an array made inside: freed once, at the end, not at the first view's end
