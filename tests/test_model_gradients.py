"""MLP.loss_and_gradients: against the NumPy reference, and against central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp._layout import theta_views

import naive
from cases import BATCH_SIZES, DEPTHS, DTYPES, LOSS_OUTPUTS, assert_close, layer_sizes, make_problem
from covering import pairwise

#: Step of the central differences: the truncation error (eps^2) and the rounding error (1e-16 / eps)
#: are both about 1e-12 of the loss here.
EPS = 1e-6


@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES)
def test_loss_and_gradients_match_reference(dtype, loss_output, depth, batch_size):
    (loss, output), dtype = loss_output, np.dtype(dtype)
    net, X, Y = make_problem(layer_sizes(depth), loss, output, dtype, batch_size, seed=20)
    value, grads = net.loss_and_gradients(X, Y)
    expected_value, expected_grads = naive.loss_and_gradients(net.thetas(), X, Y, loss, output)
    assert_close(value, expected_value, dtype, err_msg="mean loss")
    assert [grad.shape for grad in grads] == [theta.shape for theta in net.thetas()]
    for l, (grad, expected) in enumerate(zip(grads, expected_grads)):
        assert grad.dtype == dtype
        assert_close(grad, expected, dtype, err_msg=f"gradient of layer {l}")


@pytest.mark.parametrize("loss, output", [("mse", "softmax"), ("mse", "sigmoid"), ("softmax_cross_entropy", "softmax"),
                                          ("sigmoid_cross_entropy", "sigmoid")])
def test_labels_equal_one_hot_targets(dtype, loss, output):
    net, X, _ = make_problem((4, 6, 3), loss, output, dtype, 9, seed=21)
    labels = np.arange(9) % 3
    one_hot = np.eye(3, dtype=dtype)[labels]
    value, grads = net.loss_and_gradients(X, labels)
    value_1h, grads_1h = net.loss_and_gradients(X, one_hot)
    assert value == value_1h
    for grad, grad_1h in zip(grads, grads_1h):
        np.testing.assert_array_equal(grad, grad_1h)


def test_softmax_cross_entropy_with_soft_targets(dtype):
    """Target rows that are not one-hot (nor sum to 1): the lecture's sum -y log yhat still holds."""
    net, X, _ = make_problem((4, 6, 3), "softmax_cross_entropy", "softmax", dtype, 8, seed=22)
    Y = np.random.default_rng(22).uniform(0, 1, (8, 3)).astype(dtype)
    value, grads = net.loss_and_gradients(X, Y)
    expected_value, expected_grads = naive.loss_and_gradients(net.thetas(), X, Y, "softmax_cross_entropy", "softmax")
    assert_close(value, expected_value, dtype)
    for grad, expected in zip(grads, expected_grads):
        assert_close(grad, expected, dtype)


def test_uint8_input_equals_scaled_float_input(dtype):
    net, _, y = make_problem((6, 5, 3), "softmax_cross_entropy", "softmax", dtype, 11, seed=23)
    X8 = np.random.default_rng(23).integers(0, 256, (11, 6), dtype=np.uint8)
    value, grads = net.loss_and_gradients(X8, y)
    value_f, grads_f = net.loss_and_gradients(X8.astype(dtype) * dtype.type(1 / 255), y)
    # Bit for bit: the kernels turn a uint8 x into dtype(x) * dtype(1/255) as they gather it, the same
    # product NumPy forms above, and everything after the gather reads only those values.
    assert value == value_f
    for grad, grad_f in zip(grads, grads_f):
        np.testing.assert_array_equal(grad, grad_f)


def finite_differences(net, X, Y):
    """Central differences (L(p + eps) - L(p - eps)) / 2 eps of the mean loss for every entry of every theta,
    in the order of thetas() (row by row, layer by layer)."""
    estimate = []
    for theta in theta_views(net.params, net._layout):  # views into the weights the kernels read
        for index in np.ndindex(theta.shape):
            saved = theta[index]
            theta[index] = saved + EPS
            plus, _ = net.loss_and_gradients(X, Y)
            theta[index] = saved - EPS
            minus, _ = net.loss_and_gradients(X, Y)
            theta[index] = saved
            estimate.append((plus - minus) / (2 * EPS))
    return np.array(estimate)


@pytest.mark.parametrize("n_hidden", DEPTHS)
def test_gradient_matches_finite_differences(loss_output, n_hidden):
    loss, output = loss_output
    sizes = (4, 5, 4, 3)[: n_hidden + 1] + (3,)
    net, X, Y = make_problem(sizes, loss, output, np.float64, 10, seed=24)
    _, grads = net.loss_and_gradients(X, Y)
    analytic = np.concatenate([grad.ravel() for grad in grads])
    numeric = finite_differences(net, X, Y)
    assert np.abs(numeric).max() > 1e-3  # the check has something to compare
    error = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-7)
    assert error.max() < 1e-4, f"worst relative error {error.max():.2e} at parameter {error.argmax()}"
    assert error.mean() < 1e-6, f"mean relative error {error.mean():.2e}"
