"""Stand-in for kernels.microkernel.gemm (same contract, plain loops) while the microkernels are written."""

import numba
import numpy as np

from .._compile import kernel

STORE, ADD = 0, 1


@kernel
def gemm(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode):
    a = A.reshape(-1)
    b = B.reshape(-1)
    c = C.reshape(-1)
    for r in range(n_rows):
        for j in range(n_cols):
            s = c.dtype.type(0.0)
            for t in range(T):
                s += a[a_off + r * a_rs + t * a_ts] * b[b_off + t * b_ts + j]
            o = c_off + r * c_rs + j
            c[o] = alpha * s if mode == STORE else c[o] + alpha * s


def _view(array, offset, shape, steps):
    flat = array.reshape(-1)
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, [s * flat.itemsize for s in steps])


def python_gemm(A, a_off, a_rs, a_ts, B, b_off, b_ts, C, c_off, c_rs, n_rows, n_cols, T, alpha, mode):
    """gemm for NUMBA_DISABLE_JIT=1: NumPy over rows and columns, the same sum over t in order."""
    if n_rows <= 0 or n_cols <= 0:
        return
    a = _view(A, a_off, (n_rows, T), (a_rs, a_ts))
    b = _view(B, b_off, (T, n_cols), (b_ts, 1))
    c = _view(C, c_off, (n_rows, n_cols), (c_rs, 1))
    s = np.zeros((n_rows, n_cols), C.dtype)
    for t in range(T):
        s += a[:, t, None] * b[t]
    c[...] = alpha * s if mode == STORE else c + alpha * s


if numba.config.DISABLE_JIT:
    gemm = python_gemm
