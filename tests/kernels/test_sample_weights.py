"""Per-sample weights in the loss and the gradient: against the reference, as repeated samples, bit-identical
to no weights when all are 1, no step for a minibatch of weight 0, and the same weights for any team size."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp._team import train_epoch

import naive
from cases import assert_close, make_targets
from kernel_args import KernelArgs, as_targets, codes, frozen, no_weights, random_thetas

#: A covering set of (dtype, loss, output, hidden layers, batch size): both dtypes, every loss, one to
#: three hidden layers, batch sizes below and above the parallel threshold.
COVERING = [
    ("float32", "softmax_cross_entropy", "softmax", (6,), 20),
    ("float64", "sigmoid_cross_entropy", "sigmoid", (6, 5), 7),
    ("float32", "mse", "identity", (7, 6, 5), 1),
    ("float64", "mse", "softmax", (6,), 20),
]


def random_weights(rng, n, dtype):
    """Weights in [0, 3) with a few exact zeros."""
    weights = rng.uniform(0, 3, n)
    weights[rng.choice(n, max(1, n // 5), replace=False)] = 0.0
    return weights.astype(dtype)


@pytest.mark.parametrize("dtype, loss, output, hidden_sizes, batch", COVERING,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-hidden{len(c[3])}-batch{c[4]}" for c in COVERING])
def test_weighted_losses_and_gradients_match_reference(dtype, loss, output, hidden_sizes, batch):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(10)
    thetas = random_thetas((5, *hidden_sizes, 3), dtype, rng)
    n = batch + 5
    X = rng.normal(size=(n, 5)).astype(dtype)
    Y = make_targets(rng, loss, output, n, 3)
    weights = random_weights(rng, n, dtype)
    order = rng.permutation(n)
    rows = order[3 : 3 + batch]
    weights[rows[0]] = 2.0  # the minibatch weighs more than 0
    case = KernelArgs(thetas, dtype, batch)
    losses, grads = case.loss_and_gradients(X, Y, codes(loss, output), weights, order, 3, batch)
    expected_losses, activations, deltas = naive.forward_backward(thetas, X[rows], Y[rows], loss, output)
    w = weights[rows].astype(np.float64)
    assert_close(losses, w * expected_losses, dtype, err_msg="per-sample losses times their weights")
    for l, (grad, expected) in enumerate(zip(grads, naive.gradients(activations, deltas, w))):
        assert_close(grad, expected, dtype, err_msg=f"gradient of layer {l}")


def test_integer_weights_equal_repeated_samples(dtype):
    """Weight k counts as the sample k times (0: left out): mean loss and gradient of the repeated data."""
    rng = np.random.default_rng(11)
    thetas = random_thetas((5, 6, 3), dtype, rng)
    X = rng.normal(size=(9, 5)).astype(dtype)
    y = rng.integers(0, 3, 9)
    counts = np.array([2, 0, 1, 3, 1, 0, 4, 1, 2])
    losses, grads = KernelArgs(thetas, dtype, 9).loss_and_gradients(X, y, codes("softmax_cross_entropy", "softmax"),
                                                              counts.astype(dtype))
    repeated = np.repeat(np.arange(9), counts)
    case = KernelArgs(thetas, dtype, repeated.size)
    expected_losses, expected_grads = case.loss_and_gradients(X[repeated], y[repeated],
                                                              codes("softmax_cross_entropy", "softmax"))
    assert_close(losses.sum() / counts.sum(), expected_losses.mean(), dtype, err_msg="mean loss")
    for grad, expected in zip(grads, expected_grads):
        assert_close(grad, expected, dtype)


def test_weights_summing_to_zero_give_a_zero_gradient(dtype):
    rng = np.random.default_rng(12)
    thetas = random_thetas((5, 6, 3), dtype, rng)
    X = rng.normal(size=(6, 5)).astype(dtype)
    losses, grads = KernelArgs(thetas, dtype, 6).loss_and_gradients(X, rng.integers(0, 3, 6),
                                                              codes("softmax_cross_entropy", "softmax"),
                                                              np.zeros(6, dtype))
    assert (losses == 0).all() and all((grad == 0).all() for grad in grads)


def epoch(thetas, dtype, batch, X, y, weights, order, members=1, **settings):
    """A case trained one epoch by train_epoch; returns the case and the epoch's loss."""
    case = KernelArgs(thetas, dtype, batch)
    loss = train_epoch(case.net, case.opt(**settings), frozen(X), as_targets(y, dtype), frozen(weights), order, batch,
                       np.dtype(dtype).type(1.0), codes("softmax_cross_entropy", "softmax", "tanh"), case.work,
                       n_threads=members)
    return case, loss


@pytest.mark.parametrize("settings", [{"momentum": 0.9}, {"kind": "adam", "learning_rate": 0.01}],
                         ids=["momentum", "adam"])
def test_all_ones_weights_are_bit_identical_to_no_weights(dtype, settings):
    rng = np.random.default_rng(13)
    thetas = random_thetas((5, 13, 3), dtype, rng)
    n = 40
    X = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n)
    ones = np.ones(n, dtype)
    code = codes("softmax_cross_entropy", "softmax")
    losses, grads = KernelArgs(thetas, dtype, n).loss_and_gradients(X, y, code)
    ones_losses, ones_grads = KernelArgs(thetas, dtype, n).loss_and_gradients(X, y, code, ones)
    np.testing.assert_array_equal(ones_losses, losses)
    for grad, ones_grad in zip(grads, ones_grads):
        np.testing.assert_array_equal(ones_grad, grad)
    order = rng.permutation(n)
    plain, plain_loss = epoch(thetas, dtype, 7, X, y, no_weights(dtype), order, members=2, **settings)
    ones_case, ones_loss = epoch(thetas, dtype, 7, X, y, ones, order, members=2, **settings)
    np.testing.assert_array_equal(ones_case.params, plain.params)
    np.testing.assert_array_equal(ones_case.first, plain.first)
    assert ones_loss == plain_loss and ones_case.step[0] == plain.step[0] == 6
    untrained = KernelArgs(thetas, dtype, 1).params
    assert not np.array_equal(plain.params, untrained, equal_nan=True)  # training moved the weights


@pytest.mark.parametrize("dtype, settings", [("float32", {"momentum": 0.9}),
                                             ("float64", {"kind": "adam", "learning_rate": 0.01})],
                         ids=["float32-momentum", "float64-adam"])
def test_minibatch_of_weight_zero_makes_no_step(dtype, settings):
    """An epoch whose first minibatch weighs 0 is, bit for bit, the epoch without that minibatch:
    no update, no momentum, no Adam step counted."""
    rng = np.random.default_rng(14)
    thetas = random_thetas((5, 6, 3), dtype, rng)
    n, batch = 30, 8
    X = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n)
    order = rng.permutation(n)
    weights = np.ones(n, dtype)
    weights[order[:batch]] = 0
    skipped, skipped_loss = epoch(thetas, dtype, batch, X, y, weights, order, **settings)
    rest, rest_loss = epoch(thetas, dtype, batch, X, y, no_weights(dtype), order[batch:], **settings)
    np.testing.assert_array_equal(skipped.params, rest.params)
    np.testing.assert_array_equal(skipped.first, rest.first)
    assert skipped.step[0] == rest.step[0] == 3
    assert skipped_loss == rest_loss


@pytest.mark.parametrize("dtype, settings", [
    ("float32", {"kind": "adam", "learning_rate": 0.01, "weight_decay": 0.01}),
    ("float64", {"learning_rate": 0.2, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
], ids=["float32-adam", "float64-nesterov"])
def test_weighted_epoch_teams_bit_identical_and_match_reference(dtype, settings):
    rng = np.random.default_rng(15)
    thetas = random_thetas((5, 13, 9, 3), dtype, rng, scale=0.5)
    n, batch = 3 * 7 + 4, 7
    X = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n)
    weights = random_weights(rng, n, dtype)
    order = rng.permutation(n)
    results = [epoch(thetas, dtype, batch, X, y, weights, order, members, **settings) for members in (1, 2, 3)]
    for case, loss in results[1:]:
        np.testing.assert_array_equal(case.params, results[0][0].params)
        assert loss == results[0][1]
    settings = dict(settings)
    kind = settings.pop("kind", "sgd")
    state = naive.adam_state(thetas) if kind == "adam" else naive.zeros_like(thetas)
    update = naive.adam_step if kind == "adam" else naive.sgd_step
    expected, _, expected_loss = naive.train_epoch(
        [theta.astype(np.float64) for theta in thetas], state, X[order], y[order], batch, "softmax_cross_entropy",
        "softmax", "tanh", weights[order].astype(np.float64), update, **settings)
    assert_close(results[0][1], expected_loss, dtype, factor=10, err_msg="weighted epoch loss")
    for l, theta in enumerate(results[0][0].thetas()):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")
