"""One epoch of minibatch SGD in compiled code: no Python between minibatches."""

from numba import prange

from .._compile import parallel_kernel
from . import SIZE
from .backward import sample_backward, sample_block
from .forward import BLOCK, PARALLEL_MIN_MACS, PARALLEL_MIN_SAMPLES, dense_units, gather, layer_blocks
from .update import step_block


@parallel_kernel
def train_epoch(net, opt, X, targets, order, batch_size, scale, codes, work):
    """Train on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample loss.

    A minibatch of at least PARALLEL_MIN_SAMPLES is two parallel loops, the same as
    ``forward_backward`` then ``train_step``: over blocks of samples (forward, loss, deltas), then over
    blocks of weight rows (gradient and update). A smaller one has too few samples to share out, and
    a pass over the weights costs more than its arithmetic: the forward pass is shared out by blocks
    of weight rows too, so that each thread streams only part of W. Each output is computed by the
    same code whichever thread computes it, so the weights do not depend on the thread count.
    The loops are written out here rather than called because Numba can crash when a cached serial
    kernel calls parallel ones (numba issue 8578); tests/test_cache.py guards it.
    Each sample's loss is taken on the forward pass of its own minibatch, before that step's update.
    """
    n = order.size
    n_layers = net.layout.shape[0] - 1
    n_row_blocks = net.row_blocks.shape[0]
    plain = opt.momentum == 0 and opt.weight_decay == 0
    total = 0.0
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        n_blocks = (count + BLOCK - 1) // BLOCK
        if count >= PARALLEL_MIN_SAMPLES:
            for block in prange(n_blocks):
                sample_block(net, X, targets, order, start, count, scale, codes, work, block)
            for block in prange(n_row_blocks):
                step_block(net, opt, work, count, block, plain)
        else:
            gather(X, order, start, scale, work.acts, 0, count)
            for l in range(n_layers):
                if count * net.layout[l, SIZE] * net.layout[l + 1, SIZE] >= PARALLEL_MIN_MACS:
                    first, stop = layer_blocks(net.row_blocks, l)
                    for block in prange(first, stop):
                        j0 = net.row_blocks[block, 1]
                        dense_units(net, work.acts, count, l, j0, j0 + net.row_blocks[block, 2])
                else:
                    dense_units(net, work.acts, count, l, 0, net.layout[l + 1, SIZE])
            for i in range(count):
                sample_backward(net, targets, order, start, codes, work, i)
            if count * net.params.size >= PARALLEL_MIN_MACS:
                for block in prange(n_row_blocks):
                    step_block(net, opt, work, count, block, plain)
            else:
                for block in range(n_row_blocks):
                    step_block(net, opt, work, count, block, plain)
        for i in range(count):
            total += work.losses[i]
    return total / n
