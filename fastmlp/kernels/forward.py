"""Forward propagation: inputs gathered into the work buffer, then z = W a + b layer by layer."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import GRAIN, SIZE, THETA, UNIT
from .activations import activate, hidden_activate
from .intrinsics import prefetch

#: From this many samples up, the parallel kernels (predict_chunk, forward_backward) share samples out
#: between Numba's threads; below it they run on the calling thread.
PARALLEL_MIN_SAMPLES = 16


@kernel
def gather(X, order, start, scale, acts, i0, n):
    """acts[i, :n_in] = X[order[start + i]] * scale for i in [i0, i0 + n); uint8 is scaled here.

    An empty ``order`` means the identity order (rows start + i), so prediction needs no index array.
    """
    dtype = acts.dtype.type
    for i in range(i0, i0 + n):
        x = X[start + i] if order.size == 0 else X[order[start + i]]
        a = acts[i]
        for k in range(x.size):
            a[k] = dtype(x[k]) * scale


@kernel
def prefetch_rows(X, order, start, i0, n):
    """Start loading rows X[order[start + i]], i in [i0, i0 + n), into the cache, and return at once.

    Rows picked in shuffled order are nowhere in the cache; fetched while the current minibatch is
    computed, they are there when ``gather`` reads them.
    """
    for i in range(i0, i0 + n):
        x = X[start + i] if order.size == 0 else X[order[start + i]]
        for k in range(0, x.size, 64 // x.itemsize):
            prefetch(x, k)


@kernel
def _dense_4x4(params, t0, stride, n_in, acts, i, valid, a0, z0, j):
    """z of rows j..j+3 of W for samples i..i+3: sixteen dot products that share each load.

    The tile is GRAIN x GRAIN, unrolled for GRAIN = 4 (tests/kernels/test_grain.py).

    Every weight loaded feeds four multiply-adds, and so does every input: eight loads per sixteen
    FMAs keep the FMA units rather than the loads busy (80 -> 104 GFLOP/s on one core here).
    Only the first ``valid`` samples are real; the others repeat the last real one and are not written.
    """
    zero = acts.dtype.type(0.0)
    x0 = acts[i, a0 : a0 + n_in]
    x1 = acts[i + min(1, valid - 1), a0 : a0 + n_in]
    x2 = acts[i + min(2, valid - 1), a0 : a0 + n_in]
    x3 = acts[i + min(3, valid - 1), a0 : a0 + n_in]
    wa = params[t0 + j * stride : t0 + j * stride + n_in]
    wb = params[t0 + (j + 1) * stride : t0 + (j + 1) * stride + n_in]
    wc = params[t0 + (j + 2) * stride : t0 + (j + 2) * stride + n_in]
    wd = params[t0 + (j + 3) * stride : t0 + (j + 3) * stride + n_in]
    a_0 = zero
    a_1 = zero
    a_2 = zero
    a_3 = zero
    b_0 = zero
    b_1 = zero
    b_2 = zero
    b_3 = zero
    c_0 = zero
    c_1 = zero
    c_2 = zero
    c_3 = zero
    d_0 = zero
    d_1 = zero
    d_2 = zero
    d_3 = zero
    for k in range(n_in):
        v0 = x0[k]
        v1 = x1[k]
        v2 = x2[k]
        v3 = x3[k]
        p = wa[k]
        q = wb[k]
        r = wc[k]
        s = wd[k]
        a_0 += p * v0
        a_1 += p * v1
        a_2 += p * v2
        a_3 += p * v3
        b_0 += q * v0
        b_1 += q * v1
        b_2 += q * v2
        b_3 += q * v3
        c_0 += r * v0
        c_1 += r * v1
        c_2 += r * v2
        c_3 += r * v3
        d_0 += s * v0
        d_1 += s * v1
        d_2 += s * v2
        d_3 += s * v3
    bias = t0 + j * stride + n_in
    pa = params[bias]
    pb = params[bias + stride]
    pc = params[bias + 2 * stride]
    pd = params[bias + 3 * stride]
    acts[i, z0 + j : z0 + j + 4] = (a_0 + pa, b_0 + pb, c_0 + pc, d_0 + pd)
    if valid > 1:
        acts[i + 1, z0 + j : z0 + j + 4] = (a_1 + pa, b_1 + pb, c_1 + pc, d_1 + pd)
    if valid > 2:
        acts[i + 2, z0 + j : z0 + j + 4] = (a_2 + pa, b_2 + pb, c_2 + pc, d_2 + pd)
    if valid > 3:
        acts[i + 3, z0 + j : z0 + j + 4] = (a_3 + pa, b_3 + pb, c_3 + pc, d_3 + pd)


@kernel
def dense(params, layout, l, acts, i0, n, j_first, j_stop):
    """Pre-activations z = W a + b (bias last column) of units [j_first, j_stop) of layer ``l + 1``,
    for samples [i0, i0 + n).

    Blocks of GRAIN samples by GRAIN rows (``_dense_4x4``), then the rows left over one at a time
    (for GRAIN samples, unrolled as the tile is). Two or three samples left over make a last block,
    padded (it costs what two single samples cost: a pass over W is the price); one left over goes
    alone. Which code computes a value depends only on its row's place among [j_first, j_stop) and its
    sample's among [i0, i0 + n): callers that share rows or samples out cut them at multiples of GRAIN
    (kernels.team), so no result depends on the cut.
    """
    n_in = layout[l, SIZE]
    stride = n_in + 1
    t0 = layout[l, THETA]
    a0 = layout[l, UNIT]
    z0 = layout[l + 1, UNIT]
    zero = acts.dtype.type(0.0)
    i = i0
    while i0 + n - i >= 2:
        valid = min(GRAIN, i0 + n - i)
        j = j_first
        while j + GRAIN <= j_stop:
            _dense_4x4(params, t0, stride, n_in, acts, i, valid, a0, z0, j)
            j += GRAIN
        x0 = acts[i, a0 : a0 + n_in]
        x1 = acts[i + min(1, valid - 1), a0 : a0 + n_in]
        x2 = acts[i + min(2, valid - 1), a0 : a0 + n_in]
        x3 = acts[i + min(3, valid - 1), a0 : a0 + n_in]
        while j < j_stop:
            w = params[t0 + j * stride : t0 + j * stride + n_in]
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            for k in range(n_in):
                p = w[k]
                s0 += p * x0[k]
                s1 += p * x1[k]
                s2 += p * x2[k]
                s3 += p * x3[k]
            bias = params[t0 + j * stride + n_in]
            acts[i, z0 + j] = s0 + bias
            if valid > 1:
                acts[i + 1, z0 + j] = s1 + bias
            if valid > 2:
                acts[i + 2, z0 + j] = s2 + bias
            if valid > 3:
                acts[i + 3, z0 + j] = s3 + bias
            j += 1
        i += valid
    while i < i0 + n:
        x = acts[i, a0 : a0 + n_in]
        for j in range(j_first, j_stop):
            w = params[t0 + j * stride : t0 + j * stride + n_in]
            s = zero
            for k in range(n_in):
                s += w[k] * x[k]
            acts[i, z0 + j] = s + params[t0 + j * stride + n_in]
        i += 1


@kernel
def hidden_forward(net, acts, i0, n, activation):
    """Every layer of samples [i0, i0 + n) up to the output pre-activations; the hidden activation
    with code ``activation`` on hidden layers."""
    layout = net.layout
    n_layers = layout.shape[0] - 1
    for l in range(n_layers):
        dense(net.params, layout, l, acts, i0, n, 0, layout[l + 1, SIZE])
        if l < n_layers - 1:
            z0 = layout[l + 1, UNIT]
            z1 = z0 + layout[l + 1, SIZE]
            for i in range(i0, i0 + n):
                hidden_activate(acts[i, z0:z1], activation)


@kernel
def dense_units(net, acts, count, l, j0, j1, activation):
    """Outputs of units [j0, j1) of layer ``l + 1`` for samples [0, count): the hidden activation
    (code ``activation``) of z on hidden layers, z itself on the output layer."""
    layout = net.layout
    dense(net.params, layout, l, acts, 0, count, j0, j1)
    if l < layout.shape[0] - 2:
        z0 = layout[l + 1, UNIT]
        for i in range(count):
            hidden_activate(acts[i, z0 + j0 : z0 + j1], activation)


@kernel
def _predict_block(net, X, order, start, count, scale, codes, acts, out, block):
    i0 = block * GRAIN
    n = min(GRAIN, count - i0)
    gather(X, order, start, scale, acts, i0, n)
    hidden_forward(net, acts, i0, n, codes[2])
    layout = net.layout
    z0 = layout[-1, UNIT]
    z1 = z0 + layout[-1, SIZE]
    for i in range(i0, i0 + n):
        activate(acts[i, z0:z1], codes[1], out[start + i])


@parallel_kernel
def predict_chunk(net, X, order, start, count, scale, codes, acts, out):
    """out[start:start + count] = network outputs for rows [start, start + count), parallel over samples.

    X: (n_samples, n_in) uint8 or float; order: row order, empty for the identity;
    codes: int64 (loss, output, hidden activation), the loss unused; acts: (>= count, n_units) work
    buffer; out: (n_samples, n_out).
    """
    n_blocks = (count + GRAIN - 1) // GRAIN
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            _predict_block(net, X, order, start, count, scale, codes, acts, out, block)
    else:
        for block in range(n_blocks):
            _predict_block(net, X, order, start, count, scale, codes, acts, out, block)
