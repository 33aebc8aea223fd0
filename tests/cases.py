"""The factors the tests vary, the one tolerance helper, and seeded problems.

Test files import it by name (pyproject.toml puts tests/ on sys.path); conftest.py only turns some of it into
fixtures. Tests vary the factors through covering sets (tests/covering.py), not their cross product.
"""

from __future__ import annotations

import numpy as np

import fastmlp

DTYPES = ["float32", "float64"]
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
DEPTHS = sorted(HIDDEN)
N_IN, N_OUT = 5, 3
OUTPUTS = ["identity", "sigmoid", "softmax"]
#: Minibatch sizes: one sample; an odd size that no team of 2 or 3 and no block of 4 divides; a size past
#: kernels.forward.PARALLEL_MIN_SAMPLES, where the per-sample kernels run in parallel.
BATCH_SIZES = [1, 7, 64]
#: Team sizes of the epoch kernel (kernels.team): one thread, two, and three that share rows unevenly.
TEAM_SIZES = [1, 2, 3]

#: Optimizer settings of the update and fit tests: torch.optim.SGD's options, one at a time and all together.
OPTIMIZERS = {
    "sgd": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "decay": dict(weight_decay=0.05),
    "all": dict(momentum=0.6, nesterov=True, weight_decay=0.05),
}
LEARNING_RATE = 0.3
OPTIMIZER_NAMES = list(OPTIMIZERS)

#: One tolerance per dtype, for results compared with the float64 NumPy reference. float32 carries about
#: 7 significant digits; the kernels also reassociate sums (fastmath), so float64 is not bit-exact either.
TOLERANCE = {
    np.dtype(np.float32): dict(rtol=2e-4, atol=2e-6),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-13),
}


def layer_sizes(depth: int) -> tuple[int, ...]:
    """The layer sizes of a network with ``depth`` hidden layers (HIDDEN), N_IN inputs and N_OUT outputs."""
    return (N_IN, *HIDDEN[depth], N_OUT)


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


def random_thetas(sizes, dtype, rng, scale: float = 0.8) -> list[np.ndarray]:
    """The lecture's matrices (n_out, n_in + 1) of a network, normal with standard deviation ``scale``."""
    return [rng.normal(0, scale, (n_out, n_in + 1)).astype(dtype) for n_in, n_out in zip(sizes, sizes[1:])]


def float_thetas(net) -> list[np.ndarray]:
    """A network's matrices in float64, as the NumPy reference takes them."""
    return [theta.astype(np.float64) for theta in net.thetas()]


def make_problem(layer_sizes, loss, output, dtype, n, seed=0):
    """A seeded network and data set: (net, X, Y) with X in ``dtype`` and weights of O(1) size."""
    rng = np.random.default_rng(seed)
    thetas = random_thetas(layer_sizes, dtype, rng)
    net = fastmlp.MLP.from_thetas(thetas, loss=loss, output=output)
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, layer_sizes[-1])
    if Y.dtype.kind == "f":
        Y = Y.astype(dtype)
    return net, X, Y
