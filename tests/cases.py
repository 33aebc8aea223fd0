"""Shared test cases and the one tolerance helper: the (loss, output) pairs, depths, problems, tolerances.

A module of its own (not conftest.py) so that test files import it by a name no other directory shares.
"""

from __future__ import annotations

import numpy as np

import fastmlp

#: Every (loss, output) pair the model accepts.
LOSS_OUTPUTS = [
    ("mse", "identity"),
    ("mse", "sigmoid"),
    ("mse", "softmax"),
    ("sigmoid_cross_entropy", "sigmoid"),
    ("softmax_cross_entropy", "softmax"),
]
#: Hidden layer sizes for 1 to 3 hidden layers. Sizes that are not multiples of 4 leave partial blocks of
#: weight rows in the kernels (4 rows per block); 5 inputs and 3 outputs do the same for the edge layers.
HIDDEN = {1: (6,), 2: (6, 5), 3: (7, 6, 5)}
N_IN, N_OUT = 5, 3

#: Optimizer settings of the update and fit tests: torch.optim.SGD's options, one at a time and all together.
OPTIMIZERS = {
    "sgd": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "decay": dict(weight_decay=0.05),
    "all": dict(momentum=0.6, nesterov=True, weight_decay=0.05),
}
LEARNING_RATE = 0.3

#: One tolerance per dtype, for results compared with the float64 NumPy reference. float32 carries about
#: 7 significant digits; the kernels also reassociate sums (fastmath), so float64 is not bit-exact either.
TOLERANCE = {
    np.dtype(np.float32): dict(rtol=2e-4, atol=2e-6),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-13),
}


def tolerance(dtype, factor: float = 1.0) -> dict:
    """rtol and atol for ``dtype``, loosened by ``factor`` for results that accumulate many steps."""
    tol = TOLERANCE[np.dtype(dtype)]
    return {key: value * factor for key, value in tol.items()}


def assert_close(actual, expected, dtype, factor: float = 1.0, err_msg: str = ""):
    """Compare a fastmlp result with the reference at the tolerance of ``dtype``."""
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, err_msg=err_msg, **tolerance(dtype, factor))


def make_targets(rng, loss, output, n, n_out):
    """Targets that suit the loss: labels for softmax CE, 0/1 and fractions for sigmoid CE, reals for MSE."""
    if loss == "softmax_cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "sigmoid_cross_entropy":
        return rng.choice([0.0, 0.25, 1.0], size=(n, n_out))
    if output == "identity":
        return rng.normal(size=(n, n_out))
    return rng.uniform(size=(n, n_out))


def make_problem(layer_sizes, loss, output, dtype, n, seed=0):
    """A seeded network and data set: (net, X, Y) with X in ``dtype`` and weights of O(1) size."""
    rng = np.random.default_rng(seed)
    thetas = [rng.normal(0, 0.8, (n_out, n_in + 1)).astype(dtype) for n_in, n_out in zip(layer_sizes, layer_sizes[1:])]
    net = fastmlp.MLP.from_thetas(thetas, loss=loss, output=output)
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, layer_sizes[-1])
    if Y.dtype.kind == "f":
        Y = Y.astype(dtype)
    return net, X, Y
