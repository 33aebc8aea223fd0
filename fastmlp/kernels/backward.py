"""Backpropagation: per-sample deltas by the chain rule, then the mean gradient of each weight row."""

from numba import get_thread_id, prange

from .._compile import inline_kernel, kernel, parallel_kernel
from . import LEAD, PARTS, SIZE, THETA, UNIT
from .activations import block_loss_and_delta, block_rows, times_derivative
from .forward import PARALLEL_MIN_SAMPLES, SAMPLE_BLOCK, gather, hidden_forward, prefetch_samples
from .microkernel import ADD, STORE, gemm, gemm_packed
from .parts import input_row, part_rows


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


#: Samples whose output layer ``output_block`` computes at once, across vector lanes.
OUTPUT_LANES = 16


@kernel
def output_block(net, targets, weights, order, start, codes, work, i0, n):
    """Losses and output-layer deltas of minibatch samples [i0, i0 + n), once their output z is in
    work.acts: OUTPUT_LANES samples at a time, copied across into a block of work.outputs (the rows of
    samples [i, i + m) are the block's), worked on in vector lanes (block_loss_and_delta) and copied back.

    With sample weights both are scaled by the sample's weight w: the loss is w L and the delta
    w dL/dz, so every delta below and the gradient carry it too.
    """
    layout = net.layout
    n_layers = layout.shape[0] - 1
    n_out = layout[n_layers, SIZE]
    z0 = layout[n_layers, UNIT]
    rows = block_rows(n_out)
    acts = work.acts
    deltas = work.deltas
    for c0 in range(i0, i0 + n, OUTPUT_LANES):
        m = min(OUTPUT_LANES, i0 + n - c0)
        block = work.outputs[c0 * rows : (c0 + m) * rows]
        weight = block[(rows - 1) * m :]
        for i in range(m):
            row = start + c0 + i if order.size == 0 else order[start + c0 + i]
            for j in range(n_out):
                block[j * m + i] = acts[c0 + i, z0 + j]
            if targets.ndim == 1:
                for j in range(n_out):
                    block[(2 * n_out + j) * m + i] = 0
                block[(2 * n_out + targets[row]) * m + i] = 1
            else:
                for j in range(n_out):
                    block[(2 * n_out + j) * m + i] = targets[row, j]
            weight[i] = 1 if weights.size == 0 else weights[row]
        losses = work.losses[c0 : c0 + m]
        block_loss_and_delta(block, m, n_out, codes[0], codes[1], losses)
        for i in range(m):
            if weights.size == 0:
                for j in range(n_out):
                    deltas[c0 + i, z0 + j] = block[(n_out + j) * m + i]
            else:
                losses[i] *= weight[i]
                for j in range(n_out):
                    deltas[c0 + i, z0 + j] = block[(n_out + j) * m + i] * weight[i]


#: From how many samples a minibatch a layer's hidden deltas are a ``gemm`` over a copy of its weights
#: in the lecture's order, for layers into at most 16 units (narrow) and into more (wide). Below, each is
#: one dot product per unit and sample over the stored transpose: refreshing the copy after every update
#: costs more than the gemm saves. Measured on one thread, float32, per step: copying costs about
#: 0.65 ns a weight; a dot product 0.23 ns a weight and sample into 10 units, 0.036 into 128; gemm 0.01.
NARROW_COPY_MIN_SAMPLES = 4
WIDE_COPY_MIN_SAMPLES = 32


@kernel
def reads_copy(layout, l, batch_size):
    """True when the hidden deltas of layer l read the lecture-order copy of W_l, for minibatches of
    ``batch_size``; see NARROW_COPY_MIN_SAMPLES."""
    wide = layout[l + 1, SIZE] > 16
    return batch_size >= (WIDE_COPY_MIN_SAMPLES if wide else NARROW_COPY_MIN_SAMPLES)


#: Rows of a stored transpose that lecture_copy moves at a time: their values for every unit stay in L1
#: while each unit's run of them is written.
COPY_ROWS = 16


@kernel
def lecture_copy(net, work, l, k0, k1):
    """work.lecture gets rows [k0, k1) of layer l's stored transpose (the biases' row left out) in the
    lecture's order: W_l[j, k] at work.lecture[layout[l, THETA] + j * n_in + k], which hidden_deltas
    reads. Whoever changes those rows of the parameters copies them again."""
    layout = net.layout
    n_in = layout[l, SIZE]
    n_out = layout[l + 1, SIZE]
    lead = layout[l, LEAD]
    t0 = layout[l, THETA]
    params = net.params
    lecture = work.lecture
    stop = min(k1, n_in)
    for first in range(k0, stop, COPY_ROWS):
        last = min(first + COPY_ROWS, stop)
        for j in range(n_out):
            for k in range(first, last):
                lecture[t0 + j * n_in + k] = params[t0 + k * lead + j]


@inline_kernel
def hidden_deltas(net, work, i0, n, activation, batch_size):
    """Deltas of every hidden layer for samples [i0, i0 + n), from the output layer's down:
    delta_l = (W_l^T delta_{l+1}) * f'(z), where f is the hidden activation with code ``activation`` and
    f'(z) is computed from a = f(z). W_l is the matrix from layer l to layer l + 1.

    For minibatches of ``batch_size`` where reads_copy says so, W_l is read from its copy in the
    lecture's order (lecture_copy), so that the sum over units of layer l + 1 is a ``gemm``; else each
    unit's is a dot product with a row of the stored transpose.
    """
    layout = net.layout
    params = net.params
    deltas = work.deltas
    row = deltas.shape[1]
    one = deltas.dtype.type(1.0)
    zero = deltas.dtype.type(0.0)
    for l in range(layout.shape[0] - 2, 0, -1):  # from the last hidden layer down to the first
        n_here = layout[l, SIZE]
        n_next = layout[l + 1, SIZE]
        u0 = layout[l, UNIT]
        d0 = layout[l + 1, UNIT]
        t0 = layout[l, THETA]
        lead = layout[l, LEAD]
        if reads_copy(layout, l, batch_size):
            gemm(deltas, i0 * row + d0, row, 1, work.lecture, t0, n_here, deltas, i0 * row + u0, row, n, n_here,
                 n_next, one, STORE)
        else:
            for i in range(i0, i0 + n):
                d_next = deltas[i, d0 : d0 + n_next]
                d_here = deltas[i, u0 : u0 + n_here]
                for k in range(n_here):
                    w = params[t0 + k * lead : t0 + k * lead + n_next]
                    s = zero
                    for j in range(n_next):
                        s += w[j] * d_next[j]
                    d_here[k] = s
        for i in range(i0, i0 + n):
            times_derivative(work.acts[i, u0 : u0 + n_here], deltas[i, u0 : u0 + n_here], activation)


@kernel
def sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block):
    """Forward pass, loss and deltas of the minibatch's samples [SAMPLE_BLOCK * block, SAMPLE_BLOCK * (block + 1))."""
    i0 = block * SAMPLE_BLOCK
    n = min(SAMPLE_BLOCK, count - i0)
    gather(X, order, start, scale, work.acts, i0, n, 0, X.shape[1])
    prefetch_samples(targets, order, start, i0, n)  # read by output_block, after the forward pass
    prefetch_samples(weights, order, start, i0, n)
    hidden_forward(net, work.acts, i0, n, codes[2], 0, net.params[:0])
    output_block(net, targets, weights, order, start, codes, work, i0, n)
    hidden_deltas(net, work, i0, n, codes[2], count)


@parallel_kernel
def forward_backward(net, X, targets, weights, order, start, count, scale, codes, work):
    """Forward pass, per-sample loss and deltas of every layer for one minibatch, parallel over samples.

    Sample i of the minibatch is X[order[start + i]] (X[start + i] when ``order`` is empty).
    targets: (n_samples,) integer labels or (n_samples, n_out) floats; weights: (n_samples,) sample
    weights in the parameters' dtype, or empty for none; codes: int64 (loss, output, hidden activation).
    Writes work.acts (inputs, hidden activations, output z), work.deltas and work.losses[:count]
    (each loss times its sample's weight).
    """
    for l in range(1, net.layout.shape[0] - 1):
        if reads_copy(net.layout, l, count):
            lecture_copy(net, work, l, 0, net.layout[l, SIZE])
    n_blocks = (count + SAMPLE_BLOCK - 1) // SAMPLE_BLOCK
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)
    else:
        for block in range(n_blocks):
            sample_block(net, X, targets, weights, order, start, count, scale, codes, work, block)


@kernel
def input_source(work, layout, l, k0, k1, apart):
    """Where the weight gradient of rows [k0, k1) of layer l's stored transpose reads their inputs: (array, offset
    of row k0's input of the first sample, elements from one sample to the next, the row where that stops). The
    activation rows; for the first layer with ``apart``, the rows of Work.inputs of k0's part, up to its end."""
    if l > 0 or not apart:
        return work.acts, layout[l, UNIT] + k0, work.acts.shape[1], k1
    inputs = work.inputs
    part = PARTS - 1
    while part_rows(layout, part)[0] > k0:
        part -= 1
    p0, p1 = part_rows(layout, part)
    return inputs, input_row(inputs, part) * inputs.shape[1] + k0 - p0, inputs.shape[1], min(k1, p1)


@inline_kernel
def member_pack(work, member):
    """Member ``member``'s row of Work.pack (gemm_packed's buffer), or an empty one for a member past its rows:
    gemm's path, the same values."""
    return work.pack[member] if member < work.pack.shape[0] else work.pack[0, :0]


@inline_kernel
def row_gradient(net, work, count, l, k0, k1, factor, out, overwrite, member, apart):
    """For rows [k0, k1) of layer l's stored transpose (row k < n_in: the weights from input k to every
    unit; row n_in: the biases): out (+)= factor * sum over ``count`` samples of [a, 1]_k delta, by the
    thread that owns work.pack[member] (gemm_packed's copy; none, so gemm's path, for a member past its rows:
    the same values). The inputs are the activation rows', or with ``apart`` the first layer's in Work.inputs
    (input_source; a training team's).

    With ``out = work.grads``, ``factor = 1 / sum of the weights`` and ``overwrite`` this is the
    (weighted) mean gradient; plain SGD passes ``out = net.params`` and ``factor = -learning_rate /
    sum of the weights`` to step in place. Every value is one fixed sequence of operations over the
    samples in order (``gemm``, ``gemm_packed``), so results do not depend on how rows are shared between threads
    (test_threads_bit_identical).
    """
    layout = net.layout
    deltas = work.deltas
    n_in = layout[l, SIZE]
    n_out = layout[l + 1, SIZE]
    lead = layout[l, LEAD]
    t0 = layout[l, THETA]
    d0 = layout[l + 1, UNIT]
    mode = STORE if overwrite else ADD
    weights_stop = min(k1, n_in)
    pack = member_pack(work, member)
    k = k0
    while k < weights_stop:  # one part of Work.inputs at a time
        A, a_off, a_ts, stop = input_source(work, layout, l, k, weights_stop, apart)
        gemm_packed(A, a_off, a_ts, deltas, d0, deltas.shape[1], out, t0 + k * lead, lead, stop - k, n_out, count,
                    factor, mode, pack)
        k = stop
    if k1 > n_in:  # the biases' row: the inputs' constant 1, the same 1 for every sample (a_ts = 0)
        gemm(work.one, 0, 0, 0, deltas, d0, deltas.shape[1], out, t0 + n_in * lead, lead, 1, n_out, count, factor,
             mode)


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
        row_gradient(net, work, count, l, k0, k0 + blocks[block, 2], factor, work.grads, True, get_thread_id(), False)
