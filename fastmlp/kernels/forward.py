"""Forward propagation: inputs gathered into the work buffer, then z = W a + b layer by layer."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import SIZE, THETA, UNIT
from .activations import activate, sigmoid

#: Samples that share each pass over a weight matrix: every weight loaded feeds BLOCK multiply-adds.
BLOCK = 4
#: From this many samples up, the parallel kernels (prediction, forward_backward, train_step) share
#: samples or rows out between Numba's threads; below it they run on the calling thread.
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
def dense(params, layout, l, acts, i0, n, j_first, j_stop):
    """Pre-activations z = W a + b (bias last column) of units [j_first, j_stop) of layer ``l + 1``,
    for samples [i0, i0 + n).

    Four samples and two rows of W at a time: eight dot products share each load, enough to keep
    the FMA units rather than the loads busy.
    """
    n_in = layout[l, SIZE]
    n_out = j_stop
    stride = n_in + 1
    t0 = layout[l, THETA]
    a0 = layout[l, UNIT]
    z0 = layout[l + 1, UNIT]
    zero = acts.dtype.type(0.0)
    i = i0
    while i + BLOCK <= i0 + n:
        x0 = acts[i, a0 : a0 + n_in]
        x1 = acts[i + 1, a0 : a0 + n_in]
        x2 = acts[i + 2, a0 : a0 + n_in]
        x3 = acts[i + 3, a0 : a0 + n_in]
        j = j_first
        while j < n_out:
            jb = j + 1 if j + 1 < n_out else j  # an odd last row is computed twice, written once
            wa = params[t0 + j * stride : t0 + j * stride + n_in]
            wb = params[t0 + jb * stride : t0 + jb * stride + n_in]
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            u0 = zero
            u1 = zero
            u2 = zero
            u3 = zero
            for k in range(n_in):
                s0 += wa[k] * x0[k]
                s1 += wa[k] * x1[k]
                s2 += wa[k] * x2[k]
                s3 += wa[k] * x3[k]
                u0 += wb[k] * x0[k]
                u1 += wb[k] * x1[k]
                u2 += wb[k] * x2[k]
                u3 += wb[k] * x3[k]
            ba = params[t0 + j * stride + n_in]
            bb = params[t0 + jb * stride + n_in]
            acts[i, z0 + j] = s0 + ba
            acts[i + 1, z0 + j] = s1 + ba
            acts[i + 2, z0 + j] = s2 + ba
            acts[i + 3, z0 + j] = s3 + ba
            acts[i, z0 + jb] = u0 + bb
            acts[i + 1, z0 + jb] = u1 + bb
            acts[i + 2, z0 + jb] = u2 + bb
            acts[i + 3, z0 + jb] = u3 + bb
            j += 2
        i += BLOCK
    while i < i0 + n:
        x = acts[i, a0 : a0 + n_in]
        for j in range(j_first, n_out):
            w = params[t0 + j * stride : t0 + j * stride + n_in]
            s = zero
            for k in range(n_in):
                s += w[k] * x[k]
            acts[i, z0 + j] = s + params[t0 + j * stride + n_in]
        i += 1


@kernel
def hidden_forward(net, acts, i0, n):
    """Every layer of samples [i0, i0 + n) up to the output pre-activations; sigmoid on hidden layers."""
    layout = net.layout
    n_layers = layout.shape[0] - 1
    for l in range(n_layers):
        dense(net.params, layout, l, acts, i0, n, 0, layout[l + 1, SIZE])
        if l < n_layers - 1:
            z0 = layout[l + 1, UNIT]
            z1 = z0 + layout[l + 1, SIZE]
            for i in range(i0, i0 + n):
                sigmoid(acts[i, z0:z1], acts[i, z0:z1])


@kernel
def dense_units(net, acts, count, l, j0, j1):
    """Outputs of units [j0, j1) of layer ``l + 1`` for samples [0, count): the sigmoid of z on
    hidden layers, z itself on the output layer."""
    layout = net.layout
    dense(net.params, layout, l, acts, 0, count, j0, j1)
    if l < layout.shape[0] - 2:
        z0 = layout[l + 1, UNIT]
        for i in range(count):
            sigmoid(acts[i, z0 + j0 : z0 + j1], acts[i, z0 + j0 : z0 + j1])


@kernel
def _predict_block(net, X, order, start, count, scale, output, acts, out, block):
    i0 = block * BLOCK
    n = min(BLOCK, count - i0)
    gather(X, order, start, scale, acts, i0, n)
    hidden_forward(net, acts, i0, n)
    layout = net.layout
    z0 = layout[-1, UNIT]
    z1 = z0 + layout[-1, SIZE]
    for i in range(i0, i0 + n):
        activate(acts[i, z0:z1], output, out[start + i])


@parallel_kernel
def predict_chunk(net, X, order, start, count, scale, output, acts, out):
    """out[start:start + count] = network outputs for rows [start, start + count), parallel over samples.

    X: (n_samples, n_in) uint8 or float; order: row order, empty for the identity;
    acts: (>= count, n_units) work buffer; out: (n_samples, n_out).
    """
    n_blocks = (count + BLOCK - 1) // BLOCK
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(n_blocks):
            _predict_block(net, X, order, start, count, scale, output, acts, out, block)
    else:
        for block in range(n_blocks):
            _predict_block(net, X, order, start, count, scale, output, acts, out, block)
