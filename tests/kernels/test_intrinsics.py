"""kernels.intrinsics compiled, against the Python stand-ins (intrinsics.python) that the coverage run uses
in their place: both must do the same."""

from __future__ import annotations

import numpy as np

from fastmlp._compile import kernel
from fastmlp.kernels.intrinsics import (
    atomic_add,
    atomic_load,
    atomic_store,
    pow2,
    prefetch,
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
    np.testing.assert_array_equal(compiled, python)
