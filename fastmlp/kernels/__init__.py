"""Compiled kernels: arrays in, results written into arrays passed in; no validation, no allocation.

Shared argument bundles (plain named tuples, which Numba passes by value):

- ``Net(params, layout, row_blocks)``: the flat parameter vector, the ``(n_layers + 1, 3)`` table of
  layer size, parameter offset and activation offset, and the ``(n_blocks, 3)`` table of
  ``(layer, first_row, n_rows)`` blocks that the gradient and update kernels share out between threads.
- ``Work(acts, targets, deltas, losses, grads)``: the per-minibatch buffers a model allocates once.
- ``SGD(velocity, learning_rate, momentum, weight_decay, nesterov)``: optimizer state and settings,
  the scalars in the parameters' dtype.
"""

from collections import namedtuple

Net = namedtuple("Net", ["params", "layout", "row_blocks"])
Work = namedtuple("Work", ["acts", "targets", "deltas", "losses", "grads"])
SGD = namedtuple("SGD", ["velocity", "learning_rate", "momentum", "weight_decay", "nesterov"])

# Columns of ``Net.layout``.
SIZE, THETA, UNIT = 0, 1, 2
