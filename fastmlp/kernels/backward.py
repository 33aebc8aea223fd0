"""Backpropagation: per-sample deltas by the chain rule, then the mean gradient of each weight row."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import GRAIN, SIZE, THETA, UNIT
from .activations import loss_and_delta, times_derivative
from .forward import PARALLEL_MIN_SAMPLES, gather, hidden_forward


@kernel
def fill_target(targets, row, out):
    """out = the target vector of sample ``row``: one-hot of a label, or a row of a target matrix."""
    if targets.ndim == 1:
        out[:] = 0
        out[targets[row]] = 1
    else:
        for j in range(out.size):
            out[j] = targets[row, j]


@kernel
def minibatch_weight(weights, order, start, count):
    """Sum of the sample weights of the minibatch's ``count`` samples, in float64; ``count`` when
    ``weights`` is empty (every sample weighs 1). Added in sample order, the same in every thread."""
    if weights.size == 0:
        return float(count)
    total = 0.0
    for i in range(count):
        total += weights[start + i if order.size == 0 else order[start + i]]
    return total


@kernel
def output_delta(net, targets, weights, order, start, codes, work, i):
    """Loss of minibatch sample i and the delta of the output layer, once its output z is in work.acts.

    With sample weights both are scaled by the sample's weight w: the loss is w L and the delta
    w dL/dz, so every delta below and the gradient carry it too.
    """
    layout = net.layout
    n_layers = layout.shape[0] - 1
    z0 = layout[n_layers, UNIT]
    z1 = z0 + layout[n_layers, SIZE]
    row = start + i if order.size == 0 else order[start + i]
    fill_target(targets, row, work.targets[i])
    delta = work.deltas[i, z0:z1]
    work.losses[i] = loss_and_delta(work.acts[i, z0:z1], work.targets[i], codes[0], codes[1], delta)
    if weights.size != 0:
        w = weights[row]
        work.losses[i] *= w
        for j in range(delta.size):
            delta[j] *= w


@kernel
def hidden_delta(net, work, i, l, k0, k1, activation):
    """delta of units [k0, k1) of hidden layer l for sample i: (W_l^T delta_{l+1}) * f'(z), where f is
    the hidden activation with code ``activation`` and f'(z) is computed from a = f(z).

    W_l is the matrix from layer l to layer l + 1, so unit k needs column k of it. Each unit's sum
    runs over j in the same order and grouping whichever range [k0, k1) it is computed in.
    """
    layout = net.layout
    params = net.params
    acts = work.acts
    deltas = work.deltas
    n_here = layout[l, SIZE]
    stride = n_here + 1
    u0 = layout[l, UNIT]
    d_next = deltas[i, layout[l + 1, UNIT] : layout[l + 1, UNIT] + layout[l + 1, SIZE]]
    d_here = deltas[i, u0 + k0 : u0 + k1]
    d_here[:] = 0
    t0 = layout[l, THETA] + k0
    m = k1 - k0
    quads = d_next.size - d_next.size % 4
    # Four rows of W per pass over d_here: a quarter of the passes, each a quarter of the stores.
    # (One row per pass cost 7,100 cycles per sample for 784-256-128-10, mostly entering the loop.)
    # An unrolling of the sum over j, not the GRAIN: the threads share out k, never j.
    for j in range(0, quads, 4):
        wa = params[t0 + j * stride : t0 + j * stride + m]
        wb = params[t0 + (j + 1) * stride : t0 + (j + 1) * stride + m]
        wc = params[t0 + (j + 2) * stride : t0 + (j + 2) * stride + m]
        wd = params[t0 + (j + 3) * stride : t0 + (j + 3) * stride + m]
        ca = d_next[j]
        cb = d_next[j + 1]
        cc = d_next[j + 2]
        cd = d_next[j + 3]
        for k in range(m):
            d_here[k] += wa[k] * ca + wb[k] * cb + wc[k] * cc + wd[k] * cd
    for j in range(quads, d_next.size):
        w = params[t0 + j * stride : t0 + j * stride + m]
        dj = d_next[j]
        for k in range(m):
            d_here[k] += w[k] * dj
    times_derivative(acts[i, u0 + k0 : u0 + k1], d_here, activation)


@kernel
def hidden_deltas(net, work, count, l, k0, k1, activation):
    """hidden_delta of units [k0, k1) of layer l for the minibatch's samples [0, count)."""
    for i in range(count):
        hidden_delta(net, work, i, l, k0, k1, activation)


@kernel
def sample_backward(net, targets, weights, order, start, codes, work, i):
    """Loss and deltas of every layer for minibatch sample i, once its forward pass is in work.acts."""
    output_delta(net, targets, weights, order, start, codes, work, i)
    # From the last hidden layer down to the first.
    for l in range(net.layout.shape[0] - 2, 0, -1):
        hidden_delta(net, work, i, l, 0, net.layout[l, SIZE], codes[2])


@kernel
def sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block):
    """Forward pass, loss and deltas of the minibatch's samples [GRAIN * block, GRAIN * (block + 1))."""
    i0 = block * GRAIN
    n = min(GRAIN, count - i0)
    gather(X, order, start, scale, work.acts, i0, n)
    hidden_forward(net, work.acts, i0, n, codes[2])
    for i in range(i0, i0 + n):
        sample_backward(net, targets, weights, order, start, codes, work, i)


@parallel_kernel
def forward_backward(net, X, targets, weights, order, start, count, scale, codes, work):
    """Forward pass, per-sample loss and deltas of every layer for one minibatch, parallel over samples.

    Sample i of the minibatch is X[order[start + i]] (X[start + i] when ``order`` is empty).
    targets: (n_samples,) integer labels or (n_samples, n_out) floats; weights: (n_samples,) sample
    weights in the parameters' dtype, or empty for none; codes: int64 (loss, output, hidden activation).
    Writes work.acts (inputs, hidden activations, output z), work.deltas and work.losses[:count]
    (each loss times its sample's weight).
    """
    n_blocks = (count + GRAIN - 1) // GRAIN
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)
    else:
        for block in range(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)


#: Samples per pass over a block of rows in the gradient: 64 inputs of 784 float32 (200 KB) stay in
#: the core's L2 cache while every row takes them in, at any minibatch size. A multiple of GRAIN.
SAMPLE_CHUNK = 16 * GRAIN


@kernel
def _gradient_4x4(acts, deltas, i, valid, a0, da, factor, out, o, stride, n_in):
    """Rows out[o + r * stride] for r < 4 (+)= factor * sum over samples i..i+3 of delta [a, 1].

    The tile is GRAIN x GRAIN, unrolled for GRAIN = 4 (tests/kernels/test_grain.py).

    Each input loaded feeds four rows and each load and store of ``out`` four samples. The inputs
    are read into locals once: written as x0[k] in each row's line, LLVM loads them again after
    every store to ``out``, which it cannot prove does not overlap them (45 -> 77 GFLOP/s here).
    Only the first ``valid`` samples are real; the others repeat the last real input with weight 0.
    """
    last = valid - 1
    x0 = acts[i, a0 : a0 + n_in]
    x1 = acts[i + min(1, last), a0 : a0 + n_in]
    x2 = acts[i + min(2, last), a0 : a0 + n_in]
    x3 = acts[i + min(3, last), a0 : a0 + n_in]
    zero = out.dtype.type(0.0)
    f1 = factor if valid > 1 else zero
    f2 = factor if valid > 2 else zero
    f3 = factor if valid > 3 else zero
    ga = out[o : o + stride]
    gb = out[o + stride : o + 2 * stride]
    gc = out[o + 2 * stride : o + 3 * stride]
    gd = out[o + 3 * stride : o + 4 * stride]
    a_0 = deltas[i, da] * factor
    a_1 = deltas[i + min(1, last), da] * f1
    a_2 = deltas[i + min(2, last), da] * f2
    a_3 = deltas[i + min(3, last), da] * f3
    b_0 = deltas[i, da + 1] * factor
    b_1 = deltas[i + min(1, last), da + 1] * f1
    b_2 = deltas[i + min(2, last), da + 1] * f2
    b_3 = deltas[i + min(3, last), da + 1] * f3
    c_0 = deltas[i, da + 2] * factor
    c_1 = deltas[i + min(1, last), da + 2] * f1
    c_2 = deltas[i + min(2, last), da + 2] * f2
    c_3 = deltas[i + min(3, last), da + 2] * f3
    d_0 = deltas[i, da + 3] * factor
    d_1 = deltas[i + min(1, last), da + 3] * f1
    d_2 = deltas[i + min(2, last), da + 3] * f2
    d_3 = deltas[i + min(3, last), da + 3] * f3
    for k in range(n_in):
        v0 = x0[k]
        v1 = x1[k]
        v2 = x2[k]
        v3 = x3[k]
        sa = a_0 * v0 + a_1 * v1 + a_2 * v2 + a_3 * v3
        sb = b_0 * v0 + b_1 * v1 + b_2 * v2 + b_3 * v3
        sc = c_0 * v0 + c_1 * v1 + c_2 * v2 + c_3 * v3
        sd = d_0 * v0 + d_1 * v1 + d_2 * v2 + d_3 * v3
        ga[k] += sa
        gb[k] += sb
        gc[k] += sc
        gd[k] += sd
    ga[n_in] += a_0 + a_1 + a_2 + a_3
    gb[n_in] += b_0 + b_1 + b_2 + b_3
    gc[n_in] += c_0 + c_1 + c_2 + c_3
    gd[n_in] += d_0 + d_1 + d_2 + d_3


@kernel
def _gradient_1x4(acts, deltas, i, valid, a0, da, factor, g, n_in):
    """One row g (+)= factor * sum over samples i..i+3 of delta [a, 1]; ``valid`` as in _gradient_4x4.

    GRAIN samples, unrolled for GRAIN = 4 as the tile is.
    """
    last = valid - 1
    x0 = acts[i, a0 : a0 + n_in]
    x1 = acts[i + min(1, last), a0 : a0 + n_in]
    x2 = acts[i + min(2, last), a0 : a0 + n_in]
    x3 = acts[i + min(3, last), a0 : a0 + n_in]
    a_0 = deltas[i, da] * factor
    zero = g.dtype.type(0.0)
    a_1 = deltas[i + min(1, last), da] * (factor if valid > 1 else zero)
    a_2 = deltas[i + min(2, last), da] * (factor if valid > 2 else zero)
    a_3 = deltas[i + min(3, last), da] * (factor if valid > 3 else zero)
    for k in range(n_in):
        g[k] += a_0 * x0[k] + a_1 * x1[k] + a_2 * x2[k] + a_3 * x3[k]
    g[n_in] += a_0 + a_1 + a_2 + a_3


@kernel
def _accumulate_rows(acts, deltas, count, a0, d0, factor, out, o0, n_in, n_rows):
    """out[o0 + r * (n_in + 1) + k] += factor * sum_i deltas[i, d0 + r] * [acts[i, a0:a0 + n_in], 1][k].

    Rows go GRAIN at a time (the last n_rows % GRAIN one at a time) and samples GRAIN at a time, in
    chunks of SAMPLE_CHUNK; two or three samples left over make a last, padded block, one goes
    alone. Each row adds its samples' terms in sample order, so the result depends only on
    ``count`` and on the row's place among the n_rows: callers that share rows out cut them at
    multiples of GRAIN (kernels.team, _layout.build_layout).
    """
    stride = n_in + 1
    blocked = count if count % GRAIN >= 2 else count - count % GRAIN  # samples that go in blocks of GRAIN
    tiled = n_rows - n_rows % GRAIN
    for c0 in range(0, blocked, SAMPLE_CHUNK):
        c1 = min(c0 + SAMPLE_CHUNK, blocked)
        for r in range(0, tiled, GRAIN):
            for i in range(c0, c1, GRAIN):
                _gradient_4x4(acts, deltas, i, min(GRAIN, c1 - i), a0, d0 + r, factor, out, o0 + r * stride, stride,
                              n_in)
        for r in range(tiled, n_rows):
            g = out[o0 + r * stride : o0 + (r + 1) * stride]
            for i in range(c0, c1, GRAIN):
                _gradient_1x4(acts, deltas, i, min(GRAIN, c1 - i), a0, d0 + r, factor, g, n_in)
    for i in range(blocked, count):
        x = acts[i, a0 : a0 + n_in]
        for r in range(n_rows):
            g = out[o0 + r * stride : o0 + (r + 1) * stride]
            a = deltas[i, d0 + r] * factor
            for k in range(n_in):
                g[k] += a * x[k]
            g[n_in] += a


@kernel
def row_gradient(net, work, count, l, j0, n_rows, factor, out, overwrite):
    """For rows [j0, j0 + n_rows) of layer l: out (+)= factor * sum over ``count`` samples of delta_j [a, 1].

    With ``out = work.grads``, ``factor = 1 / sum of the weights`` and ``overwrite`` this is the
    (weighted) mean gradient; plain SGD passes ``out = net.params`` and ``factor = -learning_rate /
    sum of the weights`` to step in place.
    Each row is owned by one thread, so results do not depend on the number of threads
    (test_threads_bit_identical).
    """
    layout = net.layout
    n_in = layout[l, SIZE]
    o0 = layout[l, THETA] + j0 * (n_in + 1)
    if overwrite:
        out[o0 : o0 + n_rows * (n_in + 1)] = 0
    _accumulate_rows(
        work.acts, work.deltas, count, layout[l, UNIT], layout[l + 1, UNIT] + j0, factor, out, o0, n_in, n_rows
    )


@parallel_kernel
def gradients(net, weights, order, start, count, work):
    """work.grads = gradient of the minibatch's mean loss, parallel over rows, from forward_backward's
    deltas of the same ``weights, order, start, count``.

    With sample weights w the mean is sum w_i L_i / sum w_i; all zero when the weights sum to 0.
    """
    dtype = work.grads.dtype.type
    total = minibatch_weight(weights, order, start, count)
    factor = dtype(1.0) / dtype(total) if total > 0 else dtype(0.0)
    for block in prange(net.row_blocks.shape[0]):
        blocks = net.row_blocks
        row_gradient(net, work, count, blocks[block, 0], blocks[block, 1], blocks[block, 2], factor, work.grads, True)
