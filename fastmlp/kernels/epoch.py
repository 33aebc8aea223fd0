"""One epoch of minibatch SGD in compiled code: no Python between minibatches."""

from numba import prange

from .._compile import parallel_kernel
from .backward import sample_block
from .forward import BLOCK, PARALLEL_MIN_SAMPLES
from .update import step_block


@parallel_kernel
def train_epoch(net, opt, X, targets, order, batch_size, scale, codes, work):
    """Train on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample loss.

    Each minibatch is two parallel loops, the same as ``forward_backward`` then ``train_step``:
    over blocks of samples (forward, loss, deltas), then over blocks of weight rows (gradient and
    update). They are written out here rather than called because Numba can crash when a cached
    serial kernel calls parallel ones (numba issue 8578); tests/test_cache.py guards it.
    Each sample's loss is taken on the forward pass of its own minibatch, before that step's update.
    """
    n = order.size
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
            for block in range(n_blocks):
                sample_block(net, X, targets, order, start, count, scale, codes, work, block)
            for block in range(n_row_blocks):
                step_block(net, opt, work, count, block, plain)
        for i in range(count):
            total += work.losses[i]
    return total / n
