"""Backpropagation: per-sample deltas by the chain rule, then the mean gradient of each weight row."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import SIZE, THETA, UNIT
from .activations import loss_and_delta
from .forward import BLOCK, PARALLEL_MIN_SAMPLES, gather, hidden_forward


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
def output_delta(net, targets, order, start, codes, work, i):
    """Loss of minibatch sample i and the delta of the output layer, once its output z is in work.acts."""
    layout = net.layout
    n_layers = layout.shape[0] - 1
    z0 = layout[n_layers, UNIT]
    z1 = z0 + layout[n_layers, SIZE]
    row = start + i if order.size == 0 else order[start + i]
    fill_target(targets, row, work.targets[i])
    work.losses[i] = loss_and_delta(work.acts[i, z0:z1], work.targets[i], codes[0], codes[1], work.deltas[i, z0:z1])


@kernel
def hidden_delta(net, work, i, l, k0, k1):
    """delta of units [k0, k1) of hidden layer l for sample i: (W_l^T delta_{l+1}) * a (1 - a).

    W_l is the matrix from layer l to layer l + 1, so unit k needs column k of it. Each unit's sum
    runs over j in the same order whichever range it is computed in.
    """
    layout = net.layout
    params = net.params
    acts = work.acts
    deltas = work.deltas
    one = acts.dtype.type(1.0)
    n_here = layout[l, SIZE]
    stride = n_here + 1
    u0 = layout[l, UNIT]
    d_next = deltas[i, layout[l + 1, UNIT] : layout[l + 1, UNIT] + layout[l + 1, SIZE]]
    d_here = deltas[i, u0 + k0 : u0 + k1]
    d_here[:] = 0
    t0 = layout[l, THETA] + k0
    for j in range(d_next.size):
        w = params[t0 + j * stride : t0 + j * stride + k1 - k0]
        dj = d_next[j]
        for k in range(k1 - k0):
            d_here[k] += w[k] * dj
    a_here = acts[i, u0 + k0 : u0 + k1]
    for k in range(k1 - k0):
        d_here[k] *= a_here[k] * (one - a_here[k])


@kernel
def sample_backward(net, targets, order, start, codes, work, i):
    """Loss and deltas of every layer for minibatch sample i, once its forward pass is in work.acts."""
    output_delta(net, targets, order, start, codes, work, i)
    # From the last hidden layer down to the first.
    for l in range(net.layout.shape[0] - 2, 0, -1):
        hidden_delta(net, work, i, l, 0, net.layout[l, SIZE])


@kernel
def sample_block(net, X, targets, order, start, count, scale, codes, work, block):
    """Forward pass, loss and deltas of the minibatch's samples [BLOCK * block, BLOCK * (block + 1))."""
    i0 = block * BLOCK
    n = min(BLOCK, count - i0)
    gather(X, order, start, scale, work.acts, i0, n)
    hidden_forward(net, work.acts, i0, n)
    for i in range(i0, i0 + n):
        sample_backward(net, targets, order, start, codes, work, i)


@parallel_kernel
def forward_backward(net, X, targets, order, start, count, scale, codes, work):
    """Forward pass, per-sample loss and deltas of every layer for one minibatch, parallel over samples.

    Sample i of the minibatch is X[order[start + i]] (X[start + i] when ``order`` is empty).
    targets: (n_samples,) integer labels or (n_samples, n_out) floats; codes: (loss, output).
    Writes work.acts (inputs, hidden activations, output z), work.deltas and work.losses[:count].
    """
    n_blocks = (count + BLOCK - 1) // BLOCK
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            sample_block(net, X, targets, order, start, count, scale, codes, work, block)
    else:
        for block in range(n_blocks):
            sample_block(net, X, targets, order, start, count, scale, codes, work, block)


@kernel
def _accumulate_rows(acts, deltas, count, a0, d0, factor, out, o0, n_in, n_rows):
    """out[o0 + r * (n_in + 1) + k] += factor * sum_i deltas[i, d0 + r] * [acts[i, a0:a0 + n_in], 1][k].

    Rows go two at a time and samples four at a time: each load of an activation feeds two
    multiply-adds and each load and store of ``out`` four, which keeps the FMA units busy rather
    than the store port. Samples are summed in order: the result depends only on ``count``.
    """
    stride = n_in + 1
    r = 0
    while r < n_rows:
        pair = 2 if r + 1 < n_rows else 1
        ga = out[o0 + r * stride : o0 + (r + 1) * stride]
        gb = out[o0 + (r + pair - 1) * stride : o0 + (r + pair) * stride]
        da = d0 + r
        db = d0 + r + pair - 1
        i = 0
        while i + 4 <= count:
            x0 = acts[i, a0 : a0 + n_in]
            x1 = acts[i + 1, a0 : a0 + n_in]
            x2 = acts[i + 2, a0 : a0 + n_in]
            x3 = acts[i + 3, a0 : a0 + n_in]
            a_0 = deltas[i, da] * factor
            a_1 = deltas[i + 1, da] * factor
            a_2 = deltas[i + 2, da] * factor
            a_3 = deltas[i + 3, da] * factor
            if pair == 2:
                b_0 = deltas[i, db] * factor
                b_1 = deltas[i + 1, db] * factor
                b_2 = deltas[i + 2, db] * factor
                b_3 = deltas[i + 3, db] * factor
                for k in range(n_in):
                    ga[k] += a_0 * x0[k] + a_1 * x1[k] + a_2 * x2[k] + a_3 * x3[k]
                    gb[k] += b_0 * x0[k] + b_1 * x1[k] + b_2 * x2[k] + b_3 * x3[k]
                gb[n_in] += b_0 + b_1 + b_2 + b_3
            else:
                for k in range(n_in):
                    ga[k] += a_0 * x0[k] + a_1 * x1[k] + a_2 * x2[k] + a_3 * x3[k]
            ga[n_in] += a_0 + a_1 + a_2 + a_3
            i += 4
        while i < count:
            x0 = acts[i, a0 : a0 + n_in]
            a_0 = deltas[i, da] * factor
            if pair == 2:
                b_0 = deltas[i, db] * factor
                for k in range(n_in):
                    ga[k] += a_0 * x0[k]
                    gb[k] += b_0 * x0[k]
                gb[n_in] += b_0
            else:
                for k in range(n_in):
                    ga[k] += a_0 * x0[k]
            ga[n_in] += a_0
            i += 1
        r += pair


@kernel
def row_gradient(net, work, count, l, j0, n_rows, factor, out, overwrite):
    """For rows [j0, j0 + n_rows) of layer l: out (+)= factor * sum over ``count`` samples of delta_j [a, 1].

    With ``out = work.grads``, ``factor = 1 / count`` and ``overwrite`` this is the mean gradient;
    plain SGD passes ``out = net.params`` and ``factor = -learning_rate / count`` to step in place.
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
def gradients(net, work, count):
    """work.grads = gradient of the mean loss over the minibatch's ``count`` samples, parallel over rows."""
    factor = work.grads.dtype.type(1.0) / work.grads.dtype.type(count)
    for block in prange(net.row_blocks.shape[0]):
        blocks = net.row_blocks
        row_gradient(net, work, count, blocks[block, 0], blocks[block, 1], blocks[block, 2], factor, work.grads, True)
