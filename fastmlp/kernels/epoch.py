"""One epoch of minibatch SGD in compiled code: no Python between minibatches."""

from .._compile import kernel
from .backward import forward_backward
from .update import train_step


@kernel
def train_epoch(net, opt, X, targets, order, batch_size, scale, codes, work):
    """Train on the minibatches order[0:b], order[b:2b], ...; returns the mean per-sample loss.

    Each sample's loss is taken on the forward pass of its own minibatch, before that step's update.
    """
    n = order.size
    total = 0.0
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        forward_backward(net, X, targets, order, start, count, scale, codes, work)
        for i in range(count):
            total += work.losses[i]
        train_step(net, opt, work, count)
    return total / n
