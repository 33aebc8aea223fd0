"""Hidden activations and their derivatives, sigmoid, softmax and the three per-sample losses with their
gradients, computed stably from z."""

import numpy as np

from .._compile import inline_kernel, kernel
from . import (  # noqa: F401 (codes, re-exported)
    HIDDEN_ACTIVATIONS,
    HIDDEN_IDENTITY,
    IDENTITY,
    LOGISTIC,
    MSE,
    RELU,
    SIGMOID,
    SIGMOID_CROSS_ENTROPY,
    SOFTMAX,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
    output_rows,
)
from .intrinsics import pow2


@inline_kernel
def assign(dst, src):
    """dst[k] = src[k] for k < dst.size. Kernels compile without Numba's runtime (fastmlp._compile), and
    ``dst[:] = src`` would need it: Numba copies a source that may overlap the destination first."""
    for k in range(dst.size):
        dst[k] = src[k]


@inline_kernel
def exp_nonpositive_float32(x):
    """exp(x) for float32 x <= 0, within 2 ulp of the exact value, and 0 below -87 (where float32's
    own exp goes subnormal). Unlike a call to the C library's expf, it is plain arithmetic that
    LLVM vectorises, so a layer's sigmoids run 8 or 16 at a time.

    exp(x) = 2^n exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2; ln 2 is split in two parts
    (Cody and Waite) so that r is exact, and exp(r) is the degree-7 polynomial of Cephes' expf.
    """
    f = np.float32
    # Below -87 the result is 0 (the select at the end); clamped there, the polynomial cannot overflow
    # even when run as Python (NUMBA_DISABLE_JIT, where an overflow warns).
    t = x if x >= f(-87.0) else f(-87.0)
    # Rounded to nearest by truncation toward zero, as t <= 0. Written with a select and np.int32:
    # np.floor, int() and max() compile to calls here, and a loop with calls is not vectorised.
    y = t * f(1.44269504088896341) - f(0.5)
    k = np.int32(y if y > f(-126.0) else f(-126.0))
    n = f(k)
    r = t - n * f(0.693359375)
    r = r + n * f(2.12194440e-4)
    p = f(1.9875691500e-4)
    p = p * r + f(1.3981999507e-3)
    p = p * r + f(8.3334519073e-3)
    p = p * r + f(4.1665795894e-2)
    p = p * r + f(1.6666665459e-1)
    p = p * r + f(5.0000001201e-1)
    p = p * r * r + r + f(1.0)
    return p * pow2(k, p) if x >= f(-87.0) else f(0.0)


@inline_kernel
def exp_nonpositive_float64(x):
    """exp(x) for float64 x <= 0, within 2 ulp of the exact value, and 0 below -708 (where float64's own
    exp goes subnormal): as exp_nonpositive_float32, plain arithmetic that LLVM vectorises, where a call to
    the C library's exp took about 15 ns a sigmoid (one Ice Lake server thread).

    exp(x) = 2^n exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2, ln 2 split in two parts as for
    float32 so that n times the first is exact, and exp(r) its Taylor polynomial of degree 13, whose
    truncation error, |r|^14 / 14! < 5e-18, is below float64's rounding. (Written as two subtractions,
    the split was folded back into one product under the kernels' fastmath flags: up to 212 ulp near
    -708; as written here, at most 1.24 ulp measured.)
    """
    # Clamped at -708 the polynomial cannot overflow, even as Python (NUMBA_DISABLE_JIT).
    t = x if x >= -708.0 else -708.0
    y = t * 1.4426950408889634 - 0.5  # rounded to nearest by truncation toward zero, as t <= 0
    # np.int32, not np.int64 (k >= -1022 fits either, with the same value): AVX2 has no vector conversion between
    # float64 and int64 (AVX-512's vcvttpd2qq and vcvtqq2pd), so LLVM converted one value at a time there, and a
    # float64 sigmoid took 2.8 ns (Zen 4, AVX2 code; 1.2 ns with AVX-512's).
    k = np.int32(y)
    n = np.float64(k)
    r = t - n * 0.693359375
    r = r + n * 2.121944400546905827679e-4
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r * r + r + 1.0
    return p * pow2(k, p) if x >= -708.0 else 0.0


@inline_kernel
def _sigmoid_float32(x):
    """1 / (1 + exp(-x)) for a float32 x, as vectorisable arithmetic with no branch."""
    one = np.float32(1.0)
    e = exp_nonpositive_float32(-x if x >= 0 else x)  # exp(-|x|) <= 1 cannot overflow
    s = one / (one + e)
    return s if x >= 0 else e * s


@inline_kernel
def _sigmoid_float64(x):
    """1 / (1 + exp(-x)) for a float64 x, as vectorisable arithmetic with no branch; NaN stays NaN."""
    e = exp_nonpositive_float64(-x if x >= 0 else x)  # exp(-|x|) <= 1 cannot overflow
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else (e * s if x < 0 else x)


@kernel
def sigmoid(z, out):
    """out = 1 / (1 + exp(-z)), without overflow for any finite z.  (n,) -> (n,), distinct arrays."""
    if out.itemsize == 4:
        for k in range(z.size):
            out[k] = _sigmoid_float32(z[k])
    else:
        for k in range(z.size):
            out[k] = _sigmoid_float64(z[k])


@kernel
def sigmoid_inplace(a):
    """a = 1 / (1 + exp(-a)).

    Apart from ``sigmoid`` because LLVM vectorises ``out[k] = f(z[k])`` only behind a run-time
    check that z and out do not overlap, which fails when they are one array (float32: 7 ns per
    sigmoid on that path, 0.4 ns vectorised).
    """
    if a.itemsize == 4:
        for k in range(a.size):
            a[k] = _sigmoid_float32(a[k])
    else:
        for k in range(a.size):
            a[k] = _sigmoid_float64(a[k])


@inline_kernel
def _tanh_float32(x):
    """tanh(x) for a float32 x, as vectorisable arithmetic with no branch (test_tanh_float32_ulp_error)."""
    f = np.float32
    one = f(1.0)
    size = x if x >= 0 else -x
    # tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|) <= 1, which cannot overflow. From |x| = 0.625
    # on e <= 0.29, so 1 - e loses no digits; below, 1 - e cancels (4,000 ulp at |x| = 1e-4) and the
    # odd polynomial |x| + |x|^3 P(x^2) of Cephes' tanhf takes over.
    e = exp_nonpositive_float32(f(-2.0) * size)
    far = (one - e) / (one + e)
    near_size = size if size < f(0.625) else f(0.625)  # the polynomial's range (no overflow beyond it as Python)
    s = near_size * near_size
    p = f(-5.70498872745e-3)
    p = p * s + f(2.06390887954e-2)
    p = p * s - f(5.37397155531e-2)
    p = p * s + f(1.33314422036e-1)
    p = p * s - f(3.33332819422e-1)
    near = p * s * near_size + near_size
    t = near if size < f(0.625) else far
    return t if x >= 0 else -t


@kernel
def tanh_inplace(a):
    """a = tanh(a); float32 as vectorisable arithmetic, float64 with the C library's tanh.  (n,)"""
    if a.itemsize == 4:
        for k in range(a.size):
            a[k] = _tanh_float32(a[k])
    else:
        for k in range(a.size):
            a[k] = np.tanh(a[k])


@kernel
def hidden_activate(a, activation):
    """a = f(a) in place for the hidden activation f with code ``activation``.  (n,)"""
    if activation == LOGISTIC:
        sigmoid_inplace(a)
    elif activation == TANH:
        tanh_inplace(a)
    elif activation == RELU:
        zero = a.dtype.type(0.0)
        for k in range(a.size):
            a[k] = zero if a[k] < zero else a[k]  # max(a, 0); a NaN stays NaN, for the divergence check


@kernel
def times_derivative(a, delta, activation):
    """delta *= f'(z), computed from the activation a = f(z) of the hidden activation with code
    ``activation``: a (1 - a) for logistic, 1 - a^2 for tanh, [a > 0] for relu, 1 for identity.  (n,), (n,)
    """
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    if activation == LOGISTIC:
        for k in range(delta.size):
            delta[k] *= a[k] * (one - a[k])
    elif activation == TANH:
        for k in range(delta.size):
            delta[k] *= one - a[k] * a[k]
    elif activation == RELU:
        for k in range(delta.size):
            delta[k] = delta[k] if a[k] > zero else zero


@kernel
def output_columns(z, m, n, output, top, total, out):
    """out = the output activation with code ``output`` of m samples' n pre-activations, the samples across
    vector lanes: z and out hold n rows of m values, one column per sample. Softmax leaves each sample's max
    and sum of exp(z - max) in ``top`` and ``total`` (m values each), for its loss; the other outputs leave
    them alone. Each sample's values are the same whatever else shares its block."""
    if output == SIGMOID:
        sigmoid(z, out)
    elif output == SOFTMAX:
        _softmax_columns(z, m, n, top, total, out)
    else:
        assign(out, z)


block_rows = kernel(output_rows)


@kernel
def block_loss_and_delta(block, m, n, loss, output, losses):
    """Losses (float64, into ``losses[:m]``) and gradients dL/dz of m samples of n outputs, the samples
    across vector lanes.

    ``block`` holds output_rows(n) rows of m values, one column per sample: rows [0, n) the
    pre-activations z, rows [2n, 3n) the targets (both read); rows [n, 2n) receive yhat, then the
    deltas; rows 3n, 3n + 1 and 3n + 2 are scratch (the softmax's max and sum, the targets' mass); row
    3n + 3 is the caller's. Every loop runs over the m samples of one row, so LLVM vectorises it; each
    sample's values are the same whatever else shares its block.

    The losses follow the lecture, summed over the n outputs: MSE sum (yhat - y)^2; sigmoid
    cross-entropy sum -y log yhat - (1 - y) log(1 - yhat); softmax cross-entropy sum -y log yhat.
    Cross-entropies are computed from z, not from yhat, so an output that rounds to exactly 0 or 1
    still gives a finite loss (test_stable_at_large_z).
    """
    z = block[: n * m]
    yhat = block[n * m : 2 * n * m]
    y = block[2 * n * m : 3 * n * m]
    top = block[3 * n * m : (3 * n + 1) * m]
    total = block[(3 * n + 1) * m : (3 * n + 2) * m]
    mass = block[(3 * n + 2) * m : (3 * n + 3) * m]
    one = block.dtype.type(1.0)
    two = block.dtype.type(2.0)
    output_columns(z, m, n, output, top, total, yhat)
    if loss == SIGMOID_CROSS_ENTROPY:
        # -y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - y z + log(1 + exp(-|z|))
        for i in range(m):
            value = 0.0
            for j in range(n):
                zj = np.float64(z[j * m + i])
                value += max(zj, 0.0) - y[j * m + i] * zj + np.log1p(np.exp(-abs(zj)))
            losses[i] = value
        for k in range(n * m):
            yhat[k] -= y[k]
    elif loss == SOFTMAX_CROSS_ENTROPY:
        # -sum y log softmax(z) = sum y (logsumexp(z) - z); its gradient is yhat sum(y) - y.
        # log sum exp z = max z + log sum exp(z - max z), the max and sum as the softmax found them
        # (the output of softmax cross-entropy is softmax), in the model's precision.
        mass[:] = 0
        for i in range(m):
            losses[i] = 0.0
        for j in range(n):
            for i in range(m):
                mass[i] += y[j * m + i]
                losses[i] += y[j * m + i] * np.float64(z[j * m + i])
        for i in range(m):  # sum y (log_sum - z) = sum(y) log_sum - sum y z
            log_sum = np.float64(top[i]) + np.log(np.float64(total[i]))
            losses[i] = mass[i] * log_sum - losses[i]
        for j in range(n):
            for i in range(m):
                yhat[j * m + i] = yhat[j * m + i] * mass[i] - y[j * m + i]
    else:
        dot = mass  # sum over outputs of 2 (yhat - y) yhat, for the softmax's Jacobian
        dot[:] = 0
        for i in range(m):
            losses[i] = 0.0
        for j in range(n):
            for i in range(m):
                diff = yhat[j * m + i] - y[j * m + i]
                losses[i] += np.float64(diff) * diff
                dot[i] += two * diff * yhat[j * m + i]
        # dL/dyhat = 2 (yhat - y), then through the output activation's Jacobian.
        for j in range(n):
            for i in range(m):
                k = j * m + i
                grad = two * (yhat[k] - y[k])
                if output == SIGMOID:
                    yhat[k] = grad * yhat[k] * (one - yhat[k])
                elif output == SOFTMAX:
                    yhat[k] = yhat[k] * (grad - dot[i])
                else:
                    yhat[k] = grad


@kernel
def _softmax_columns(z, m, n, top, total, out):
    """out = softmax of each of the m columns of z (n rows of m): exp(z - max z) / sum, the shift keeping
    every exp <= 1; top and total receive each column's max and its sum of exp(z - max), added in row order."""
    assign(top, z[:m])
    for j in range(1, n):
        for i in range(m):
            v = z[j * m + i]
            top[i] = v if v > top[i] else top[i]
    total[:] = 0
    if out.itemsize == 4:
        for j in range(n):
            for i in range(m):
                e = exp_nonpositive_float32(z[j * m + i] - top[i])
                out[j * m + i] = e
                total[i] += e
    else:
        for j in range(n):
            for i in range(m):
                e = np.exp(z[j * m + i] - top[i])
                out[j * m + i] = e
                total[i] += e
    for j in range(n):
        for i in range(m):
            out[j * m + i] /= total[i]
