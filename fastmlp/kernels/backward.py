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
def _sample_block(net, X, targets, order, start, count, scale, codes, work, block):
    layout = net.layout
    params = net.params
    acts = work.acts
    deltas = work.deltas
    i0 = block * BLOCK
    n = min(BLOCK, count - i0)
    gather(X, order, start, scale, acts, i0, n)
    hidden_forward(net, acts, i0, n)
    n_layers = layout.shape[0] - 1
    z0 = layout[n_layers, UNIT]
    z1 = z0 + layout[n_layers, SIZE]
    one = acts.dtype.type(1.0)
    for i in range(i0, i0 + n):
        row = start + i if order.size == 0 else order[start + i]
        fill_target(targets, row, work.targets[i])
        work.losses[i] = loss_and_delta(acts[i, z0:z1], work.targets[i], codes[0], codes[1], deltas[i, z0:z1])
        # delta_l = (W_l^T delta_{l+1}) * a_l (1 - a_l), from the last hidden layer down to the first.
        for l in range(n_layers - 1, 0, -1):
            n_here = layout[l, SIZE]
            stride = n_here + 1
            u0 = layout[l, UNIT]
            d_next = deltas[i, layout[l + 1, UNIT] : layout[l + 1, UNIT] + layout[l + 1, SIZE]]
            d_here = deltas[i, u0 : u0 + n_here]
            d_here[:] = 0
            t0 = layout[l, THETA]
            for j in range(d_next.size):
                w = params[t0 + j * stride : t0 + j * stride + n_here]
                dj = d_next[j]
                for k in range(n_here):
                    d_here[k] += w[k] * dj
            a_here = acts[i, u0 : u0 + n_here]
            for k in range(n_here):
                d_here[k] *= a_here[k] * (one - a_here[k])


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
            _sample_block(net, X, targets, order, start, count, scale, codes, work, block)
    else:
        for block in range(n_blocks):
            _sample_block(net, X, targets, order, start, count, scale, codes, work, block)


@kernel
def row_gradient(net, work, count, block):
    """work.grads for one block of weight rows: the mean over ``count`` samples of delta_j * [a, 1].

    Each block is owned by one thread and sums its samples in order, so the result does not depend on
    the number of threads (test_threads_bit_identical). Up to four rows share each load of a.
    """
    layout = net.layout
    acts = work.acts
    deltas = work.deltas
    grads = work.grads
    l = net.row_blocks[block, 0]
    j0 = net.row_blocks[block, 1]
    n_rows = net.row_blocks[block, 2]
    n_in = layout[l, SIZE]
    stride = n_in + 1
    a0 = layout[l, UNIT]
    d0 = layout[l + 1, UNIT] + j0
    g0 = layout[l, THETA] + j0 * stride
    inv = grads.dtype.type(1.0) / grads.dtype.type(count)
    grads[g0 : g0 + n_rows * stride] = 0
    if n_rows == 4:
        ga = grads[g0 : g0 + stride]
        gb = grads[g0 + stride : g0 + 2 * stride]
        gc = grads[g0 + 2 * stride : g0 + 3 * stride]
        gd = grads[g0 + 3 * stride : g0 + 4 * stride]
        for i in range(count):
            a = acts[i, a0 : a0 + n_in]
            da = deltas[i, d0] * inv
            db = deltas[i, d0 + 1] * inv
            dc = deltas[i, d0 + 2] * inv
            dd = deltas[i, d0 + 3] * inv
            for k in range(n_in):
                ga[k] += da * a[k]
                gb[k] += db * a[k]
                gc[k] += dc * a[k]
                gd[k] += dd * a[k]
            ga[n_in] += da
            gb[n_in] += db
            gc[n_in] += dc
            gd[n_in] += dd
    else:
        for r in range(n_rows):
            g = grads[g0 + r * stride : g0 + (r + 1) * stride]
            for i in range(count):
                a = acts[i, a0 : a0 + n_in]
                d = deltas[i, d0 + r] * inv
                for k in range(n_in):
                    g[k] += d * a[k]
                g[n_in] += d


@parallel_kernel
def gradients(net, work, count):
    """work.grads = gradient of the mean loss over the minibatch's ``count`` samples, parallel over rows."""
    for block in prange(net.row_blocks.shape[0]):
        row_gradient(net, work, count, block)
