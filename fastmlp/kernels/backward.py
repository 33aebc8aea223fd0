"""Backpropagation: per-sample deltas by the chain rule, then the mean gradient of each weight row."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import SIZE, THETA, UNIT
from .activations import loss_and_delta, times_derivative
from .forward import PARALLEL_MIN_SAMPLES, SAMPLE_BLOCK, gather, hidden_forward
from .microkernel import ADD, STORE, gemm


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
def hidden_delta(net, work, i, l, activation):
    """delta of hidden layer l for sample i: (W_l^T delta_{l+1}) * f'(z), where f is the hidden activation
    with code ``activation`` and f'(z) is computed from a = f(z).

    W_l is the matrix from layer l to layer l + 1, so unit k needs column k of it: row k of the stored
    transpose, a dot product with delta_{l+1}.
    """
    layout = net.layout
    params = net.params
    n_here = layout[l, SIZE]
    n_next = layout[l + 1, SIZE]
    u0 = layout[l, UNIT]
    d_next = work.deltas[i, layout[l + 1, UNIT] : layout[l + 1, UNIT] + n_next]
    d_here = work.deltas[i, u0 : u0 + n_here]
    t0 = layout[l, THETA]
    zero = params.dtype.type(0.0)
    for k in range(n_here):
        w = params[t0 + k * n_next : t0 + (k + 1) * n_next]
        s = zero
        for j in range(n_next):
            s += w[j] * d_next[j]
        d_here[k] = s
    times_derivative(work.acts[i, u0 : u0 + n_here], d_here, activation)


@kernel
def sample_backward(net, targets, weights, order, start, codes, work, i):
    """Loss and deltas of every layer for minibatch sample i, once its forward pass is in work.acts."""
    output_delta(net, targets, weights, order, start, codes, work, i)
    # From the last hidden layer down to the first.
    for l in range(net.layout.shape[0] - 2, 0, -1):
        hidden_delta(net, work, i, l, codes[2])


@kernel
def sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block):
    """Forward pass, loss and deltas of the minibatch's samples [SAMPLE_BLOCK * block, SAMPLE_BLOCK * (block + 1))."""
    i0 = block * SAMPLE_BLOCK
    n = min(SAMPLE_BLOCK, count - i0)
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
    n_blocks = (count + SAMPLE_BLOCK - 1) // SAMPLE_BLOCK
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)
    else:
        for block in range(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)


@kernel
def row_gradient(net, work, count, l, k0, k1, factor, out, overwrite):
    """For rows [k0, k1) of layer l's stored transpose (row k < n_in: the weights from input k to every
    unit; row n_in: the biases): out (+)= factor * sum over ``count`` samples of [a, 1]_k delta.

    With ``out = work.grads``, ``factor = 1 / sum of the weights`` and ``overwrite`` this is the
    (weighted) mean gradient; plain SGD passes ``out = net.params`` and ``factor = -learning_rate /
    sum of the weights`` to step in place. Every value is one fixed sequence of operations over the
    samples in order (``gemm``), so results do not depend on how rows are shared between threads
    (test_threads_bit_identical).
    """
    layout = net.layout
    acts = work.acts
    deltas = work.deltas
    n_in = layout[l, SIZE]
    n_out = layout[l + 1, SIZE]
    t0 = layout[l, THETA]
    d0 = layout[l + 1, UNIT]
    mode = STORE if overwrite else ADD
    weights_stop = min(k1, n_in)
    if weights_stop > k0:
        gemm(acts, layout[l, UNIT] + k0, 1, acts.shape[1], deltas, d0, deltas.shape[1], out, t0 + k0 * n_out, n_out,
             weights_stop - k0, n_out, count, factor, mode)
    if k1 > n_in:  # the biases' row: the inputs' constant 1
        zero = out.dtype.type(0.0)
        b0 = t0 + n_in * n_out
        for j in range(n_out):
            s = zero
            for i in range(count):
                s += deltas[i, d0 + j]
            out[b0 + j] = factor * s if overwrite else out[b0 + j] + factor * s


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
        l, k0 = blocks[block, 0], blocks[block, 1]
        row_gradient(net, work, count, l, k0, k0 + blocks[block, 2], factor, work.grads, True)
