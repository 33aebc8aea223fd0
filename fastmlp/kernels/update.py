"""The update: SGD with momentum and Nesterov momentum exactly as torch.optim.SGD (dampening 0), and
Adam bias-corrected exactly as scikit-learn's AdamOptimizer."""

import numpy as np

from .._compile import kernel
from . import ADAM, SIZE, THETA
from .backward import row_gradient


@kernel
def step_rate(opt, t):
    """The learning rate of update number t (from 1), in the parameters' dtype: SGD's own, or Adam's
    lr sqrt(1 - beta_2^t) / (1 - beta_1^t), worked out in float64 as scikit-learn does."""
    if opt.kind != ADAM:
        return opt.learning_rate
    b1 = np.float64(opt.beta_1)
    b2 = np.float64(opt.beta_2)
    rate = np.float64(opt.learning_rate) * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    return opt.first.dtype.type(rate)


@kernel
def _sgd_span(net, opt, grads, first, n, decay, rate):
    """SGD on params[first:first + n] with weight decay ``decay``; see row_update."""
    params = net.params
    velocity = opt.first
    mu = opt.momentum
    for p in range(first, first + n):
        g = grads[p] + decay * params[p]
        if mu == 0:
            params[p] -= rate * g
        elif opt.nesterov:
            velocity[p] = mu * velocity[p] + g
            params[p] -= rate * (g + mu * velocity[p])
        else:
            velocity[p] = mu * velocity[p] + g
            params[p] -= rate * velocity[p]


@kernel
def _adam_span(net, opt, grads, first, n, decay, rate):
    """Adam on params[first:first + n] with weight decay ``decay``; see row_update."""
    params = net.params
    m = opt.first
    v = opt.second
    b1 = opt.beta_1
    b2 = opt.beta_2
    eps = opt.epsilon
    one = params.dtype.type(1.0)
    c1 = one - b1
    c2 = one - b2
    for p in range(first, first + n):
        g = grads[p] + decay * params[p]
        m[p] = b1 * m[p] + c1 * g
        v[p] = b2 * v[p] + c2 * (g * g)
        params[p] -= rate * m[p] / (np.sqrt(v[p]) + eps)


@kernel
def _update_span(net, opt, grads, first, n, decay, rate):
    """The optimizer's update of params[first:first + n] with weight decay ``decay``."""
    if opt.kind == ADAM:
        _adam_span(net, opt, grads, first, n, decay, rate)
    else:
        _sgd_span(net, opt, grads, first, n, decay, rate)


@kernel
def row_update(net, opt, grads, l, k0, k1, rate):
    """theta -= the update of rows [k0, k1) of layer l's stored transpose (row n_in: the biases), with
    the gradient ``grads`` and the step's learning rate ``rate`` (step_rate):

    g = grad + weight_decay * theta (weights only, never the biases' row)
    SGD:  v = momentum * v + g;  step = g + momentum * v if nesterov else v   (momentum > 0)
          step = g                                                           (momentum = 0)
          theta -= rate * step
    Adam: m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2
          theta -= rate * m / (sqrt(v) + epsilon)
    """
    n_in = net.layout[l, SIZE]
    n_out = net.layout[l + 1, SIZE]
    t0 = net.layout[l, THETA]
    weights_stop = min(k1, n_in)
    if weights_stop > k0:
        _update_span(net, opt, grads, t0 + k0 * n_out, (weights_stop - k0) * n_out, opt.weight_decay, rate)
    if k1 > n_in:  # the biases' row: no weight decay
        _update_span(net, opt, grads, t0 + n_in * n_out, n_out, net.params.dtype.type(0.0), rate)


@kernel
def step_rows(net, opt, work, count, weight_sum, rate, l, k0, k1):
    """Gradient and update of rows [k0, k1) of layer l's stored transpose: the minibatch's ``count``
    samples, whose weights sum to ``weight_sum`` > 0 (``count`` without weights); ``rate`` from step_rate."""
    dtype = net.params.dtype.type
    if opt.kind != ADAM and opt.momentum == 0 and opt.weight_decay == 0:
        # No state to keep: add -lr / sum w * sum [a, 1] delta straight into the weights.
        factor = -rate / dtype(weight_sum)
        row_gradient(net, work, count, l, k0, k1, factor, net.params, False)
    else:
        factor = dtype(1.0) / dtype(weight_sum)
        row_gradient(net, work, count, l, k0, k1, factor, work.grads, True)
        row_update(net, opt, work.grads, l, k0, k1, rate)
