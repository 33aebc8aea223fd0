"""Forward propagation: inputs gathered into the work buffer, then z = W a + b layer by layer."""

import numpy as np
from numba import prange

from .._compile import inline_kernel, kernel, parallel_kernel
from . import LEAD, SIZE, THETA, UNIT
from .activations import assign, hidden_activate, output_columns
from .intrinsics import argmax_lanes, atomic_add, prefetch, touch
from .microkernel import ADD, KC, VW32, VW64, gemm, gemm_panels, panel_offset, panel_stop, panel_width, panels_size

#: From this many samples up, forward_backward shares its blocks out between Numba's threads; below it they
#: run on the calling thread. (Prediction has its own bound, PREDICT_PARALLEL_MIN_SAMPLES.)
PARALLEL_MIN_SAMPLES = 16
#: Samples per parallel block of forward_backward and predict_chunk: a whole number of every target's
#: microkernel rows (4, 6 or 12), so that each block's pass over the weights feeds full tiles. Larger blocks, which read
#: weights that do not fit L2 (784-256-128-10: 0.94 MB) from L3 less often, were not clearly faster: 10,000
#: images on Zen 3, quickest of 6 alternating rounds in ms, blocks of 24 / 48 / 96, one thread and two:
#: 784-256-128-10 55.7 / 55.1 / 54.7 and 29.0 / 28.8 / 28.6; 784-100-10 20.1 / 20.3 / 20.2 and 10.8 / 10.7 / 10.6;
#: 784-15-10 4.47 / 4.52 / 4.48 and 3.40 / 2.87 / 3.07, where runs of one setting differed by up to twice.
SAMPLE_BLOCK = 24
#: From this many samples up, the model settles a thread count and gives predict_chunk a part of work buffer
#: for each thread, which it shares out between Numba's threads: two full blocks, one for each of two threads.
#: Below it there is at most one full block to share, and starting a parallel loop and settling the count cost
#: more than the other thread would take off the calling one: MLP.predict, 784-100-10 float32, Zen 3, two
#: threads, quickest of 9 x 500 calls in us, four process pairs, on the calling thread against shared out from
#: 16 samples: 16 samples 72-87 against 116-208, 24 90-102 against 136-212, 32 114-134 against 158-189, 47
#: 148-206 against 184-279.
PREDICT_PARALLEL_MIN_SAMPLES = 2 * SAMPLE_BLOCK
#: From this many samples up, prediction copies the weights into gemm_panels' layout first (pack_panels).
#: The copy runs on one thread before the blocks; 784-100-10 float32 here, it paid for itself from about
#: 150 samples on one thread and 400 on two.
PANEL_MIN_SAMPLES = 512


#: Rows that ``gather`` asks the cache for ahead of the row it copies, and the fewest that a team member asks
#: for of the next minibatch (kernels.team.PREFETCH_BYTES): far enough to hide a miss to memory behind the
#: copies before it, few enough that the rows stay in L1 until they are read.
PREFETCH_AHEAD = 8


@kernel
def gather(X, order, start, scale, acts, i0, n, c0, c1):
    """acts[i, c0:c1] = X[order[start + i], c0:c1] * scale for i in [i0, i0 + n); uint8 is scaled here.

    An empty ``order`` means the identity order (rows start + i), so prediction needs no index array.
    """
    gather_into(X, order, start + i0, scale, acts, i0, c0, n, c0, c1)


@kernel
def gather_into(X, order, first, scale, dst, row, col, n, c0, c1):
    """dst[row + j, col : col + c1 - c0] = X[order[first + j], c0:c1] * scale for j < n (gather's loop, into
    rows and columns of any buffer: a team member gathers the columns of its part of the first layer's rows
    into that part's rows of Work.inputs, kernels.team)."""
    dtype = dst.dtype.type
    for j in range(n):
        if j + PREFETCH_AHEAD < n:
            prefetch_rows(X, order, first, j + PREFETCH_AHEAD, 1, c0, c1)
        x = X[first + j, c0:c1] if order.size == 0 else X[order[first + j], c0:c1]
        a = dst[row + j, col : col + c1 - c0]
        for k in range(x.size):  # indices from 0, known not negative: a vectorized loop
            a[k] = dtype(x[k]) * scale


@kernel
def prefetch_rows(X, order, start, i0, n, c0, c1):
    """Start loading columns [c0, c1) of rows X[order[start + i]], i in [i0, i0 + n), into the cache, and
    return at once.

    Rows picked in shuffled order are nowhere in the cache; fetched while the current minibatch is
    computed, they are there when ``gather`` reads them.
    """
    step = 64 // X.itemsize
    for i in range(i0, i0 + n):
        x = X[start + i] if order.size == 0 else X[order[start + i]]
        if c1 > c0:
            for k in range(c0, c1, step):
                prefetch(x, k)
            prefetch(x, c1 - 1)  # the line of the last column, when the range starts mid-line


@kernel
def prefetch_samples(A, order, start, i0, n):
    """Load what A holds for samples order[start + i], i in [i0, i0 + n) (the first and last value of a row of a
    2-d A, one value of a 1-d one; nothing for an empty A) into the cache: a training step's targets and sample
    weights, read before the forward pass of the samples whose loss needs them. In shuffled order each was a
    miss to L3 or memory that held up the output layer: 784-100-10 float32 on one Zen 3 thread, batch 32 and
    512, the output layer and loss took 2.2-2.3 times the cycles in shuffled order that they took with the
    samples in order (423-457 a sample against 195-200); with these loads 1.1-1.2 times, with prefetch hints
    (intrinsics.prefetch) in their place 1.7."""
    if A.size == 0:
        return
    for i in range(i0, i0 + n):
        k = start + i if order.size == 0 else order[start + i]
        if A.ndim == 1:
            touch(A, k)
        else:
            row = A[k]
            touch(row, 0)
            touch(row, row.size - 1)


@kernel
def panels_at(layout, l, itemsize):
    """Where layer l's weights begin in pack_panels' copy; with l = the number of layers, its size."""
    at = 0
    for k in range(l):
        at += layout[k, SIZE] * panels_size(layout[k + 1, SIZE], itemsize)
    return at


@kernel
def pack_panels(net, panels):
    """panels = every layer's weights (not its biases) as gemm_panels reads them: the stored transpose's
    rows cut into panels (microkernel.panel_stop), one after the other, each padded with zeros."""
    layout = net.layout
    panel = panel_width(panels.itemsize)
    zero = panels.dtype.type(0.0)
    for l in range(layout.shape[0] - 1):
        n_in = layout[l, SIZE]
        n_out = layout[l + 1, SIZE]
        at = panels_at(layout, l, panels.itemsize)
        total = panels_size(n_out, panels.itemsize)
        c0 = 0
        while c0 < n_out:
            cols = panel_stop(c0, n_out, panel, panels.itemsize, True) - c0
            width = panels_size(cols, panels.itemsize)
            for k in range(n_in):
                t0 = k // KC * KC
                row = at + panel_offset(t0, min(KC, n_in - t0), c0, total) + (k - t0) * width
                panel_row = panels[row : row + width]
                weights = net.params[layout[l, THETA] + k * layout[l, LEAD] + c0 :]
                for j in range(width):
                    panel_row[j] = weights[j] if j < cols else zero
            c0 += cols


@kernel
def dense(params, layout, l, acts, i0, n, j_first, j_stop, panels):
    """Pre-activations z = W a + b of units [j_first, j_stop) of layer ``l + 1``, for samples [i0, i0 + n).

    z starts as the bias and takes the sum over inputs from ``gemm``, which computes every value by one
    fixed sequence of operations: no result depends on how callers cut samples or units between threads.
    With ``panels`` (pack_panels' copy of params; then j_first = 0 and j_stop = the layer's units, whose panels
    the copy cuts) the sums read the copy through ``gemm_panels``, the same values; else (empty) params itself.
    """
    n_in = layout[l, SIZE]
    lead = layout[l, LEAD]
    t0 = layout[l, THETA]
    a0 = layout[l, UNIT]
    z0 = layout[l + 1, UNIT]
    row = acts.shape[1]
    bias = params[t0 + n_in * lead + j_first : t0 + n_in * lead + j_stop]
    for i in range(i0, i0 + n):
        assign(acts[i, z0 + j_first : z0 + j_stop], bias)
    one = acts.dtype.type(1.0)
    if panels.size > 0:
        at = panels_at(layout, l, panels.itemsize) + j_first * n_in
        gemm_panels(acts, i0 * row + a0, row, panels, at, acts, i0 * row + z0 + j_first, row, n, j_stop - j_first,
                    n_in, one, ADD)
    else:
        gemm(acts, i0 * row + a0, row, 1, params, t0 + j_first, lead, acts, i0 * row + z0 + j_first, row, n,
             j_stop - j_first, n_in, one, ADD)


@inline_kernel
def hidden_forward(net, acts, i0, n, activation, first, panels):
    """Every layer of samples [i0, i0 + n) from layer ``first`` up to the output pre-activations; the hidden
    activation with code ``activation`` on hidden layers. With ``first`` > 0 the pre-activations z of the
    units that layer ``first`` feeds are in acts already (kernels.team sums the first layer itself).
    ``panels``: pack_panels' copy of the weights, or empty (dense)."""
    layout = net.layout
    n_layers = layout.shape[0] - 1
    for l in range(n_layers):
        if l >= first:
            dense(net.params, layout, l, acts, i0, n, 0, layout[l + 1, SIZE], panels)
        if first - 1 <= l < n_layers - 1:
            z0 = layout[l + 1, UNIT]
            z1 = z0 + layout[l + 1, SIZE]
            for i in range(i0, i0 + n):
                hidden_activate(acts[i, z0:z1], activation)


#: Values that _activate_across runs a layer's activation over at a time: LLVM vectorises a loop in steps of
#: several vectors (32 float32 or 16 float64 values with the 256-bit vectors it prefers here) and leaves what
#: is left to a loop of one value at a time, so a row of 15 sigmoids ran one by one (5 ns a value). Runs of
#: a multiple of 64 fill whole steps on every target; values of the scratch past the samples' are whatever it
#: held and go nowhere. One thread, a block of 24 samples (float32, AVX-512), ns a sample, per row against
#: across: 15 units 74-120 / 38-73, 100 units 143-145 / 116; float64, 15 units 65-82 / 56-58.
LANE_RUN = 64


@kernel
def _run_length(count):
    """``count`` rounded up to a whole number of LANE_RUN."""
    return (count + LANE_RUN - 1) // LANE_RUN * LANE_RUN


@kernel
def _activate_across(acts, r0, m, z0, n, activation, scratch):
    """The hidden activation of units [z0, z0 + n) of acts rows [r0, r0 + m): each row's whole runs of
    LANE_RUN in place, then the units after them (fewer than LANE_RUN; 15 units are nothing but those) of every
    row at once, copied across into ``scratch`` and back, so that they too run in vector lanes instead of
    one at a time. Each value is the same function of its z either way."""
    whole = n // LANE_RUN * LANE_RUN
    left = n - whole
    for i in range(r0, r0 + m):
        hidden_activate(acts[i, z0 : z0 + whole], activation)
    if left == 0:
        return
    for i in range(m):
        assign(scratch[i * left : (i + 1) * left], acts[r0 + i, z0 + whole : z0 + n])
    hidden_activate(scratch[: _run_length(m * left)], activation)
    for i in range(m):
        assign(acts[r0 + i, z0 + whole : z0 + n], scratch[i * left : (i + 1) * left])


@kernel
def _output_across(acts, r0, m, z0, n, output, scratch, out, first, labels):
    """out[first + i] = the output activation of units [z0, z0 + n) of acts row r0 + i, for i < m: the
    block's pre-activations copied across into ``scratch`` (n rows of m), activated there in vector lanes
    (activations.output_columns, as training's output layer is), and copied out. One Zen 3 thread, float32,
    ns a sample for a softmax of 10 values: 52 one sample at a time (its loops too short for whole vector
    steps), 33 across a block of 24. With ``labels`` (not empty), labels[first + i] = the first of sample r0 + i's
    largest outputs (_argmax_across)."""
    z = scratch[: n * m]
    y = scratch[n * m : 2 * n * m]
    top = scratch[2 * n * m : (2 * n + 1) * m]
    total = scratch[(2 * n + 1) * m : (2 * n + 2) * m]
    for i in range(m):
        for j in range(n):
            z[j * m + i] = acts[r0 + i, z0 + j]
    output_columns(z, m, n, output, top, total, y)
    for i in range(m):
        for j in range(n):
            out[first + i, j] = y[j * m + i]
    if labels.size > 0:
        _argmax_across(scratch, n * m, m, n, labels[first : first + m])


@kernel
def _argmax_across(scratch, at, m, n, labels):
    """labels[i] = the first j of the largest scratch[at + j * m + i], for i < m: a classifier's labels, each
    sample's outputs down a column as _output_across leaves them, found a vector of samples at a time
    (intrinsics.argmax_lanes), which reads up to a vector past the columns and writes its indices after them
    (scratch_size leaves room). One Zen 3 thread, 10 float32 outputs: 1.7 ns a sample, where the same loop in Numba
    ran one sample at a time (7.5 ns, and 23 inside prediction, its branches mispredicted) and NumPy's argmax along
    the rows of the outputs afterwards took 24 (242 us for 10,000 samples, on one thread however many predicted:
    about 3 per cent of 784-100-10's prediction on two)."""
    lanes = VW32 if scratch.itemsize == 4 else VW64  # argmax_lanes' vectors
    best = at + n * m + lanes  # past every vector argmax_lanes reads
    for i0 in range(0, m, lanes):
        argmax_lanes(scratch, at + i0, m, n, scratch, best + i0)
    for i in range(m):
        labels[i] = np.int64(scratch[best + i])


@kernel
def scratch_size(layout):
    """Elements of a row of predict_chunk's ``scratch``, where a part's blocks activate their hidden units
    (_activate_across) and their outputs (_output_across, _argmax_across) across samples."""
    most = (2 * layout[-1, SIZE] + 2) * SAMPLE_BLOCK + 2 * VW32  # two vectors for _argmax_across
    for l in range(1, layout.shape[0] - 1):
        most = max(most, _run_length(layout[l, SIZE] % LANE_RUN * SAMPLE_BLOCK))
    return most


def scratch_shape(layout, acts_rows: int) -> tuple[int, int]:
    """Shape of predict_chunk's ``scratch`` for a work buffer of ``acts_rows`` rows: a row of
    scratch_size(layout) for each part of SAMPLE_BLOCK rows (at least one)."""
    return max(1, acts_rows // SAMPLE_BLOCK), int(scratch_size(layout))


@kernel
def _predict_blocks(net, X, order, start, count, scale, codes, acts, out, labels, panels, counter, scratch,
                    part):
    """The blocks of SAMPLE_BLOCK samples (the last may be short) that this part takes off ``counter`` one at
    a time until none is left, each through acts rows [part * SAMPLE_BLOCK, (part + 1) * SAMPLE_BLOCK):
    gathered, multiplied and activated there while those rows are still in the core's cache, the hidden
    layers' activations and the outputs across the block's samples (with scratch[part])."""
    layout = net.layout
    n_layers = layout.shape[0] - 1
    n_blocks = (count + SAMPLE_BLOCK - 1) // SAMPLE_BLOCK
    r0 = part * SAMPLE_BLOCK
    z0 = layout[-1, UNIT]
    block = atomic_add(counter, 0, 1)
    while block < n_blocks:
        first = start + block * SAMPLE_BLOCK  # acts row r0 + i holds sample first + i
        n = min(SAMPLE_BLOCK, count - block * SAMPLE_BLOCK)
        gather(X, order, first - r0, scale, acts, r0, n, 0, X.shape[1])
        for l in range(n_layers):
            dense(net.params, layout, l, acts, r0, n, 0, layout[l + 1, SIZE], panels)
            if l < n_layers - 1:
                _activate_across(acts, r0, n, layout[l + 1, UNIT], layout[l + 1, SIZE], codes[2], scratch[part])
        _output_across(acts, r0, n, z0, layout[-1, SIZE], codes[1], scratch[part], out, first, labels)
        block = atomic_add(counter, 0, 1)


@parallel_kernel
def predict_chunk(net, X, order, start, count, scale, codes, acts, out, labels, panels, counter, scratch):
    """out[start:start + count] = network outputs for rows [start, start + count), parallel over samples when
    acts holds more than one part (the model gives it one below PREDICT_PARALLEL_MIN_SAMPLES samples).

    X: (n_samples, n_in) uint8 or float; order: row order, empty for the identity;
    codes: int64 (loss, output, hidden activation), the loss unused; acts: work buffer of at least n_units
    columns and at least min(count, SAMPLE_BLOCK) rows; out: (n_samples, n_out); labels: int64 (n_samples,) that
    takes each predicted sample's label, the first of its largest outputs (NumPy's argmax), or empty for none;
    panels: a buffer of panels_at(layout, n_layers, itemsize) elements, which takes a copy of the weights that
    every block then reads (pack_panels, gemm_panels: the same outputs), or empty to read params (for few
    samples, where the copy would cost more than it saves); counter: int64[1], any value, which the parts count
    the blocks off with; scratch: a buffer of scratch_shape(layout, acts.shape[0]).

    acts is cut into parts of SAMPLE_BLOCK rows (at most one a block), which prange shares out evenly
    between Numba's threads, and each part takes the next block of SAMPLE_BLOCK samples off ``counter``
    until none is left, running it through the part's own rows: acts stays in cache however many samples
    there are, and a thread on a core that runs slower for a while (a shared machine's do) takes fewer
    blocks instead of keeping the others waiting at the end. A block's outputs do not depend on the part
    that computes it.
    """
    n_blocks = (count + SAMPLE_BLOCK - 1) // SAMPLE_BLOCK
    n_parts = max(1, min(n_blocks, acts.shape[0] // SAMPLE_BLOCK))
    counter[0] = 0
    if panels.size > 0:
        pack_panels(net, panels)
    if n_parts > 1:
        for part in prange(n_parts):
            _predict_blocks(net, X, order, start, count, scale, codes, acts, out, labels, panels, counter, scratch,
                            part)
    else:
        _predict_blocks(net, X, order, start, count, scale, codes, acts, out, labels, panels, counter, scratch, 0)
