"""The SGD update, with momentum and Nesterov momentum exactly as torch.optim.SGD (dampening 0)."""

from numba import prange

from .._compile import kernel, parallel_kernel
from . import SIZE, THETA
from .backward import row_gradient
from .forward import PARALLEL_MIN_SAMPLES


@kernel
def row_update(net, opt, grads, l, j0, n_rows):
    """theta -= lr * step for rows [j0, j0 + n_rows) of layer l, where step follows torch.optim.SGD:

    g = grad + weight_decay * theta (weights only, never the bias column)
    v = momentum * v + g;  step = g + momentum * v if nesterov else v   (momentum > 0)
    step = g                                                           (momentum = 0)
    """
    layout = net.layout
    stride = layout[l, SIZE] + 1
    first = layout[l, THETA] + j0 * stride
    params = net.params
    velocity = opt.velocity
    lr = opt.learning_rate
    mu = opt.momentum
    decay = opt.weight_decay
    zero = params.dtype.type(0.0)
    for r in range(n_rows):
        bias = first + (r + 1) * stride - 1
        for p in range(first + r * stride, bias + 1):
            # Branch-free in p so the loop vectorises: the bias column gets no weight decay.
            g = grads[p] + (decay if p != bias else zero) * params[p]
            if mu == 0:
                params[p] -= lr * g
            elif opt.nesterov:
                velocity[p] = mu * velocity[p] + g
                params[p] -= lr * (g + mu * velocity[p])
            else:
                velocity[p] = mu * velocity[p] + g
                params[p] -= lr * velocity[p]


@parallel_kernel
def sgd_step(net, opt, grads):
    """Apply one SGD update with the gradient ``grads`` (the flat parameter layout), parallel over rows."""
    blocks = net.row_blocks
    for block in prange(blocks.shape[0]):
        row_update(net, opt, grads, blocks[block, 0], blocks[block, 1], blocks[block, 2])


@kernel
def step_rows(net, opt, work, count, l, j0, n_rows, plain):
    """Gradient and SGD update of rows [j0, j0 + n_rows) of layer l; ``plain``: no momentum, no weight decay."""
    if plain:  # no state to keep: add -lr/count * sum delta [a, 1] straight into the weights
        factor = -opt.learning_rate / net.params.dtype.type(count)
        row_gradient(net, work, count, l, j0, n_rows, factor, net.params, False)
    else:
        factor = net.params.dtype.type(1.0) / net.params.dtype.type(count)
        row_gradient(net, work, count, l, j0, n_rows, factor, work.grads, True)
        row_update(net, opt, work.grads, l, j0, n_rows)


@kernel
def step_block(net, opt, work, count, block, plain):
    """step_rows for one block of ``net.row_blocks``."""
    blocks = net.row_blocks
    step_rows(net, opt, work, count, blocks[block, 0], blocks[block, 1], blocks[block, 2], plain)


@parallel_kernel
def train_step(net, opt, work, count):
    """Gradient of the minibatch's mean loss and the SGD update, row block by row block while hot."""
    plain = opt.momentum == 0 and opt.weight_decay == 0
    if count >= PARALLEL_MIN_SAMPLES:
        for block in prange(net.row_blocks.shape[0]):
            step_block(net, opt, work, count, block, plain)
    else:
        for block in range(net.row_blocks.shape[0]):
            step_block(net, opt, work, count, block, plain)
