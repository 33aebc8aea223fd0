"""kernels.activations: the vectorisable exp, sigmoid and softmax against exact values, at every magnitude."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastmlp._compile import kernel
from fastmlp.kernels import SOFTMAX
from fastmlp.kernels.activations import (
    exp_nonpositive_float32,
    exp_nonpositive_float64,
    output_columns,
    sigmoid,
    sigmoid_inplace,
)


@kernel
def _exp_all(x, out):
    if out.itemsize == 4:
        for k in range(x.size):
            out[k] = exp_nonpositive_float32(x[k])
    else:
        for k in range(x.size):
            out[k] = exp_nonpositive_float64(x[k])


def test_exp_nonpositive_is_within_two_ulp():
    # A million points compiled; as Python (the coverage run) a tenth of them keeps the run short.
    # float64 against 80-bit long doubles: at most 1.24 ulp measured.
    points = 100_001 if numba.config.DISABLE_JIT else 1_000_001
    for dtype, low in ((np.float32, 87.0), (np.float64, 708.0)):
        x = -np.linspace(0.0, low, points, dtype=dtype)
        out = np.empty_like(x)
        _exp_all(x, out)
        exact = np.exp(x.astype(np.longdouble if dtype == np.float64 else np.float64))
        ulp = np.spacing(exact.astype(dtype)).astype(exact.dtype)
        assert (np.abs(out - exact) <= 2 * ulp).all(), dtype
        assert out[0] == 1.0


def test_exp_nonpositive_is_zero_below_the_normal_range():
    for dtype, below in ((np.float32, [-87.5, -100.0]), (np.float64, [-708.5, -745.0])):
        x = np.array(below + [-1e4, -np.inf], dtype)
        out = np.ones_like(x)
        _exp_all(x, out)
        assert (out == 0).all(), dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_the_exact_value_and_saturates(dtype):
    z = np.concatenate([np.linspace(-120, 120, 20_001), [-1e4, 1e4, 0.0, -0.0]]).astype(dtype)
    exact = 1.0 / (1.0 + np.exp(-z.astype(np.longdouble)))
    out = np.empty_like(z)
    sigmoid(z, out)
    inplace = z.copy()
    sigmoid_inplace(inplace)
    np.testing.assert_array_equal(out, inplace)
    eps = np.finfo(dtype).eps
    # relative to the value, except where the value underflows: float32's exp is flushed to zero
    # below -87 (sigmoid < 1.7e-38), float64's sigmoid(-1e4) is 0
    tiny = 1e-37 if dtype == np.float32 else np.finfo(np.float64).tiny
    assert (np.abs(out - exact) <= 4 * eps * exact + tiny).all()
    assert out[-4] == 0 and out[-3] == 1 and out[-2] == 0.5


def test_float32_softmax_matches_float64():
    """100 samples of 10 outputs, one column each (output_columns' layout), at scales 1, 10 and 100."""
    rng = np.random.default_rng(0)
    m, n = 100, 10
    samples = (rng.normal(size=(m, n)) * rng.choice([1, 10, 100], size=(m, 1))).astype(np.float32)
    z = np.ascontiguousarray(samples.T).ravel()
    out, top, total = np.empty_like(z), np.empty(m, np.float32), np.empty(m, np.float32)
    output_columns(z, m, n, SOFTMAX, top, total, out)
    # z - max z rounded to float32 as the kernel has it (that rounding, up to 2e-6 of exp at
    # z - max = -42, is float32's, not the exp's)
    e = np.exp((samples - samples.max(axis=1, keepdims=True)).astype(np.float64))
    # each exp within 2 ulp, then the sum's and the division's rounding: 16 ulp = 1.9e-6
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(out.reshape(n, m).T, e / e.sum(axis=1, keepdims=True), rtol=16 * eps, atol=1e-30)
    np.testing.assert_array_equal(top, samples.max(axis=1))
    np.testing.assert_allclose(total, e.sum(axis=1), rtol=16 * eps)
