"""The update rules (kernels.update): SGD's options and Adam against the reference (tests/naive.py) and
scikit-learn, the step count, exact resume and teams of any size.

torch.optim.Adam is not the reference: it adds epsilon to sqrt(v / (1 - beta_2^t)), scikit-learn (and
fastmlp) to sqrt(v), then scale by the bias corrections. The steps agree while sqrt(v) >> epsilon; with
gradients as small as 1e-6, 100 steps of the two moved weights up to 14% differently (measured with
torch 2.13 in float64).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp._team import train_epoch
from fastmlp.kernels import SIZE
from fastmlp.kernels.update import row_update, step_rate

import naive
from cases import OPTIMIZERS, assert_close
from kernel_args import KernelArgs, as_targets, codes, frozen, no_weights, random_thetas

LAYER_SIZES = (5, 7, 6, 3)


def update_all_rows(case, opt, grads, t):
    """Update number t of every row of every layer, as the team epoch makes it."""
    rate = step_rate(opt, t)
    for l in range(case.layout.shape[0] - 1):
        row_update(case.net, opt, grads, l, 0, case.layout[l, SIZE] + 1, rate)


#: Each SGD option in one dtype and all of them in both.
SGD_CASES = [("sgd", "float32"), ("momentum", "float64"), ("nesterov", "float32"), ("decay", "float64"),
             ("all", "float32"), ("all", "float64")]


@pytest.mark.parametrize("name, dtype", SGD_CASES, ids=[f"{n}-{d}" for n, d in SGD_CASES])
def test_sgd_update_matches_reference(name, dtype):
    """torch.optim.SGD's rule (naive.sgd_step): momentum, Nesterov momentum, weight decay on weights only."""
    settings = OPTIMIZERS[name]
    rng = np.random.default_rng(20)
    thetas = random_thetas(LAYER_SIZES, dtype, rng)
    case = KernelArgs(thetas, dtype, 1)
    opt = case.opt(learning_rate=0.3, **settings)
    expected, velocity = [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas)
    for t in range(1, 4):
        grads = rng.normal(size=case.params.size).astype(dtype)
        update_all_rows(case, opt, grads, t)
        expected, velocity = naive.sgd_step(expected, velocity, case.thetas(grads), 0.3, **settings)
    for l, theta in enumerate(case.thetas()):
        assert_close(theta, expected[l], dtype, err_msg=f"layer {l}")
        if settings.get("momentum"):
            assert_close(case.thetas(case.first)[l], velocity[l], dtype, err_msg=f"velocity of layer {l}")


@pytest.mark.parametrize("dtype, weight_decay", [("float32", 0.0), ("float64", 0.05)])
def test_adam_update_matches_reference(dtype, weight_decay):
    """Five Adam steps, gradients of very different sizes, against naive.adam_step (scikit-learn's formula)."""
    rng = np.random.default_rng(21)
    thetas = random_thetas(LAYER_SIZES, dtype, rng)
    case = KernelArgs(thetas, dtype, 1)
    settings = {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "weight_decay": weight_decay}
    opt = case.opt("adam", **settings)
    expected, state = [theta.astype(np.float64) for theta in thetas], naive.adam_state(thetas)
    for t in range(1, 6):
        grads = (rng.normal(size=case.params.size) * 10.0 ** rng.integers(-4, 2, case.params.size)).astype(dtype)
        update_all_rows(case, opt, grads, t)
        expected, state = naive.adam_step(expected, state, case.thetas(grads), **settings)
    ms, vs, _ = state
    for l, theta in enumerate(case.thetas()):
        assert_close(theta, expected[l], dtype, err_msg=f"layer {l}")
        assert_close(case.thetas(case.first)[l], ms[l], dtype, err_msg=f"first moment of layer {l}")
        assert_close(case.thetas(case.second)[l], vs[l], dtype, err_msg=f"second moment of layer {l}")


def test_adam_update_matches_scikit_learn():
    """The same steps as scikit-learn's own AdamOptimizer (its default settings), in float64."""
    pytest.importorskip("sklearn")
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer

    rng = np.random.default_rng(22)
    thetas = random_thetas(LAYER_SIZES, np.float64, rng)
    case = KernelArgs(thetas, np.float64, 1)
    opt = case.opt("adam", learning_rate=0.001)
    theirs = [theta.copy() for theta in thetas]
    adam = AdamOptimizer(theirs, learning_rate_init=0.001)
    for t in range(1, 8):
        grads = rng.normal(size=case.params.size) * 10.0 ** rng.integers(-3, 2)
        update_all_rows(case, opt, grads, t)
        adam.update_params(theirs, case.thetas(grads))
    for theta, their in zip(case.thetas(), theirs):
        np.testing.assert_allclose(theta, their, rtol=1e-12, atol=1e-15)


def adam_epoch(case, X, y, order, batch, members=1, **settings):
    return train_epoch(case.net, case.opt("adam", **settings), frozen(X), as_targets(y, case.dtype),
                       no_weights(case.dtype), order, batch, case.dtype.type(1.0),
                       codes("softmax_cross_entropy", "softmax", "relu"), case.work, n_threads=members)


def test_adam_epochs_match_reference_and_count_steps(dtype):
    """Two Adam epochs of 4 minibatches (the last short) on teams of 1, 2 and 3: the same weights, moments and
    step count bit for bit, and the reference's."""
    rng = np.random.default_rng(23)
    thetas = random_thetas((5, 13, 9, 3), dtype, rng, scale=0.5)
    n, batch = 3 * 7 + 4, 7
    X = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n)
    orders = [rng.permutation(n) for _ in range(2)]
    settings = {"learning_rate": 0.01, "weight_decay": 0.01}
    cases = []
    for members in (1, 2, 3):
        case = KernelArgs(thetas, dtype, batch)
        losses = [adam_epoch(case, X, y, order, batch, members, **settings) for order in orders]
        cases.append((case, losses))
    for case, losses in cases[1:]:
        for mine, first in ((case.params, cases[0][0].params), (case.first, cases[0][0].first),
                            (case.second, cases[0][0].second)):
            np.testing.assert_array_equal(mine, first)
        assert losses == cases[0][1]
    case, losses = cases[0]
    assert case.step[0] == 8
    expected, state = [theta.astype(np.float64) for theta in thetas], naive.adam_state(thetas)
    for epoch, order in enumerate(orders):
        expected, state, expected_loss = naive.train_epoch(expected, state, X[order], y[order], batch,
                                                           "softmax_cross_entropy", "softmax", "relu",
                                                           update=naive.adam_step, **settings)
        assert_close(losses[epoch], expected_loss, dtype, factor=10, err_msg=f"loss of epoch {epoch}")
    assert state[2] == 8
    for l, theta in enumerate(case.thetas()):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")


def test_adam_resumes_exactly_from_its_state():
    """Epoch 2 from a copy of (params, first, second, step) is epoch 2 of an uninterrupted run, bit for bit."""
    dtype = np.dtype(np.float32)
    rng = np.random.default_rng(24)
    thetas = random_thetas((5, 13, 3), dtype, rng)
    X = rng.normal(size=(30, 5)).astype(dtype)
    y = rng.integers(0, 3, 30)
    orders = [rng.permutation(30) for _ in range(2)]
    straight = KernelArgs(thetas, dtype, 8)
    for order in orders:
        adam_epoch(straight, X, y, order, 8, learning_rate=0.01)
    first_half = KernelArgs(thetas, dtype, 8)
    adam_epoch(first_half, X, y, orders[0], 8, learning_rate=0.01)
    resumed = KernelArgs(first_half.thetas(), dtype, 8)
    for array in ("first", "second", "step"):
        getattr(resumed, array)[:] = getattr(first_half, array)
    adam_epoch(resumed, X, y, orders[1], 8, learning_rate=0.01)
    assert resumed.step[0] == straight.step[0] == 8
    for array in ("params", "first", "second"):
        np.testing.assert_array_equal(getattr(resumed, array), getattr(straight, array))
