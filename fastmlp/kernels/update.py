"""The update: SGD with momentum and Nesterov momentum exactly as torch.optim.SGD (dampening 0), and
Adam bias-corrected exactly as scikit-learn's AdamOptimizer."""

import numpy as np

from .._compile import kernel
from . import ADAM, LEAD, SIZE, THETA, UNIT
from .backward import input_source, member_pack, row_gradient
from .microkernel import (
    ADAM_RULE,
    MOMENTUM_MAX32,
    MOMENTUM_MAX64,
    SGD_MOMENTUM,
    SGD_NESTEROV,
    SGD_PLAIN,
    gemm_momentum,
    update_rows,
)


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
def update_rule(opt):
    """microkernel.update_rows' rule for ``opt``."""
    if opt.kind == ADAM:
        return ADAM_RULE
    if opt.momentum == 0:
        return SGD_PLAIN
    return SGD_NESTEROV if opt.nesterov else SGD_MOMENTUM


@kernel
def _update(net, opt, grads, first, rows, n, lead, decay, rate):
    """The optimizer's update of ``rows`` rows of ``n`` parameters, ``lead`` apart from params[first], with weight
    decay ``decay``; see row_update."""
    update_rows(net.params, grads, opt.first, opt.second if opt.kind == ADAM else opt.first, first, lead, rows, n,
                update_rule(opt), decay, rate, opt.momentum, opt.beta_1, opt.beta_2, opt.epsilon)


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
    lead = net.layout[l, LEAD]
    t0 = net.layout[l, THETA]
    weights_stop = min(k1, n_in)
    if weights_stop > k0:
        if lead == n_out:  # rows back to back: one row
            _update(net, opt, grads, t0 + k0 * n_out, 1, (weights_stop - k0) * n_out, n_out, opt.weight_decay, rate)
        else:  # a gap after each row (_layout.lead_width), which update_rows never reads
            _update(net, opt, grads, t0 + k0 * lead, weights_stop - k0, n_out, lead, opt.weight_decay, rate)
    if k1 > n_in:  # the biases' row: no weight decay
        _update(net, opt, grads, t0 + n_in * lead, 1, n_out, lead, net.params.dtype.type(0.0), rate)


#: Bytes of gradient that step_rows works out before the optimizer's update uses them (well inside L1).
STATE_BLOCK_BYTES = 16384
#: Rows of a block come in multiples of this: every register tile's rows (12, 6 or 4) divide it.
ROW_MULTIPLE = 12


@kernel
def state_block_rows(n_out, itemsize):
    """Rows of a layer of ``n_out`` units that step_rows updates at a time when the optimizer keeps state."""
    rows = STATE_BLOCK_BYTES // (n_out * itemsize) // ROW_MULTIPLE * ROW_MULTIPLE
    return max(rows, ROW_MULTIPLE)


@kernel
def stateless(opt):
    """Plain SGD: no momentum, no weight decay, no Adam; the step goes straight into the weights."""
    return opt.kind != ADAM and opt.momentum == 0 and opt.weight_decay == 0


@kernel
def fused_momentum(opt, count, itemsize):
    """SGD with momentum on a minibatch of ``count`` samples, few enough that the weights' gradient is one chain
    (microkernel.MOMENTUM_MAX): step_rows then updates the weights by gemm_momentum, not in blocks. 784-256-10
    float32 batch 32 on one Zen 3 thread, momentum 0.9: gradient and update took 1.14-1.16 times the cycles of the
    forward pass (the same code in both runs), against 1.24-1.27 in blocks through the gradient buffer. What
    is left over plain SGD is mostly the velocities' own traffic: with the weights, 1.6 MB a step here."""
    most = MOMENTUM_MAX32 if itemsize == 4 else MOMENTUM_MAX64
    return opt.kind != ADAM and opt.momentum != 0 and count <= most


@kernel
def step_rows(net, opt, work, count, weight_sum, rate, l, k0, k1, member, apart):
    """Gradient and update of rows [k0, k1) of layer l's stored transpose: the minibatch's ``count``
    samples, whose weights sum to ``weight_sum`` > 0 (``count`` without weights); ``rate`` from step_rate;
    by team member ``member``; the first layer's inputs in Work.inputs with ``apart`` (row_gradient)."""
    dtype = net.params.dtype.type
    if stateless(opt):
        # No state to keep: add -lr / sum w * sum [a, 1] delta straight into the weights.
        factor = -rate / dtype(weight_sum)
        row_gradient(net, work, count, l, k0, k1, factor, net.params, False, member, apart)
    else:
        factor = dtype(1.0) / dtype(weight_sum)
        layout = net.layout
        n_in = layout[l, SIZE]
        n_out = layout[l + 1, SIZE]
        if fused_momentum(opt, count, net.params.itemsize) and k0 < n_in:
            # SGD with momentum: each tile of the gradient makes its step from the registers (gemm_momentum)
            stop = min(k1, n_in)
            pack = member_pack(work, member)
            lead = layout[l, LEAD]
            while k0 < stop:  # one part of Work.inputs at a time
                A, a_off, a_ts, end = input_source(work, layout, l, k0, stop, apart)
                gemm_momentum(A, a_off, a_ts, work.deltas, layout[l + 1, UNIT], work.deltas.shape[1], net.params,
                              layout[l, THETA] + k0 * lead, lead, end - k0, n_out, count, factor, pack, opt.first,
                              opt.momentum, opt.weight_decay, rate, opt.nesterov)
                k0 = end  # the biases' row, if in [k0, k1), below: no weight decay
        # The gradient of a few rows at a time, each used by the update while it is still in L1: the
        # gradient, params and optimizer state of a member's whole share would not fit in its L2.
        rows = state_block_rows(n_out, net.params.itemsize)
        for b0 in range(k0, k1, rows):
            b1 = min(b0 + rows, k1)
            row_gradient(net, work, count, l, b0, b1, factor, work.grads, True, member, apart)
            row_update(net, opt, work.grads, l, b0, b1, rate)
