"""The SGD update, with momentum and Nesterov momentum exactly as torch.optim.SGD (dampening 0)."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import SIZE, THETA
from .backward import row_gradient


@kernel
def row_update(net, opt, grads, block):
    """theta -= lr * step for one block of rows, where step follows torch.optim.SGD:

    g = grad + weight_decay * theta (weights only, never the bias column)
    v = momentum * v + g;  step = g + momentum * v if nesterov else v   (momentum > 0)
    step = g                                                           (momentum = 0)
    """
    layout = net.layout
    l = net.row_blocks[block, 0]
    n_in = layout[l, SIZE]
    stride = n_in + 1
    g0 = layout[l, THETA] + net.row_blocks[block, 1] * stride
    lr = opt.learning_rate
    mu = opt.momentum
    decay = opt.weight_decay
    params = net.params
    velocity = opt.velocity
    for r in range(net.row_blocks[block, 2]):
        first = g0 + r * stride
        for p in range(first, first + stride):
            g = grads[p]
            if p != first + n_in:
                g += decay * params[p]
            if mu != 0:
                velocity[p] = mu * velocity[p] + g
                g = g + mu * velocity[p] if opt.nesterov else velocity[p]
            params[p] -= lr * g


@parallel_kernel
def sgd_step(net, opt, grads):
    """Apply one SGD update with the gradient ``grads`` (the flat parameter layout), parallel over rows."""
    for block in prange(net.row_blocks.shape[0]):
        row_update(net, opt, grads, block)


@parallel_kernel
def train_step(net, opt, work, count):
    """Gradient of the minibatch's mean loss and the SGD update, row block by row block while hot."""
    for block in prange(net.row_blocks.shape[0]):
        row_gradient(net, work, count, block)
        row_update(net, opt, work.grads, block)
