"""Hidden activations (logistic, tanh, relu, identity): the math against NumPy, the kernels against the
reference (tests/naive.py) and central finite differences, and teams of any size agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp._layout import to_lecture_order
from fastmlp._team import train_epoch
from fastmlp.kernels.activations import HIDDEN_ACTIVATIONS, hidden_activate, tanh_inplace, times_derivative
from fastmlp.kernels.forward import predict_chunk

import naive
from cases import assert_close, make_targets
from kernel_args import KernelArgs, as_targets, block_counter, codes, frozen, no_weights, random_thetas

HIDDEN = list(HIDDEN_ACTIVATIONS)
#: A covering set of (hidden activation, dtype, hidden layers, loss, output, batch size): every
#: activation with both dtypes and with one, two and three hidden layers; batch sizes below and above
#: the kernels' parallel threshold.
COVERING = [
    ("tanh", "float32", (6,), "softmax_cross_entropy", "softmax", 7),
    ("tanh", "float64", (7, 6, 5), "mse", "identity", 20),
    ("relu", "float32", (6, 5), "sigmoid_cross_entropy", "sigmoid", 20),
    ("relu", "float64", (6,), "mse", "softmax", 1),
    ("identity", "float32", (7, 6, 5), "mse", "sigmoid", 1),
    ("identity", "float64", (6, 5), "softmax_cross_entropy", "softmax", 7),
    ("logistic", "float64", (7, 6, 5), "mse", "identity", 20),
]
COVERING_IDS = [f"{case[0]}-{case[1]}-hidden{len(case[2])}-{case[3]}-batch{case[5]}" for case in COVERING]


# ---------------------------------------------------------------- the activations themselves
def test_tanh_float32_ulp_error():
    """float32 tanh (a polynomial near 0, (1 - e) / (1 + e) with e = exp(-2|x|) beyond) within 2 ulp of tanh."""
    x = np.concatenate([np.linspace(-12, 12, 200_001), np.geomspace(1e-30, 1, 10_001), -np.geomspace(1e-30, 1, 10_001),
                        [0.0, 0.625, -0.625, 20.0, -20.0, 1e4, -1e4]]).astype(np.float32)
    out = x.copy()
    tanh_inplace(out)
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    error = np.abs(out - exact) / ulp
    assert error.max() <= 2, f"{error.max():.2f} ulp at x = {x[error.argmax()]}"  # 1.5 measured
    assert out[-4:].tolist() == [1, -1, 1, -1]
    assert (np.abs(out) <= 1).all()


@pytest.mark.parametrize("hidden", HIDDEN)
def test_hidden_activation_and_derivative_match_reference(dtype, hidden):
    """hidden_activate and times_derivative against naive, saturating z included (no warnings, no NaN)."""
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(0, 3, 1000), [0.0, 1e-6, -1e-6, 40, -40, 800, -800, 1e4, -1e4]]).astype(dtype)
    a = z.copy()
    hidden_activate(a, HIDDEN_ACTIVATIONS[hidden])
    expected = naive.hidden_activation(z.astype(np.float64), hidden)
    assert a.dtype == dtype and np.isfinite(a).all()
    assert_close(a, expected, dtype)
    delta = rng.normal(size=z.size).astype(dtype)
    product = delta.copy()
    times_derivative(a, product, HIDDEN_ACTIVATIONS[hidden])
    assert_close(product, delta * naive.hidden_derivative(a.astype(np.float64), hidden), dtype)


# ---------------------------------------------------------------- kernels against the reference
@pytest.mark.parametrize("hidden, dtype, hidden_sizes, loss, output, batch", COVERING, ids=COVERING_IDS)
def test_predict_chunk(hidden, dtype, hidden_sizes, loss, output, batch):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(2)
    layer_sizes = (5, *hidden_sizes, 3)
    thetas = random_thetas(layer_sizes, dtype, rng)
    X = rng.normal(size=(batch + 3, 5)).astype(dtype)
    case = KernelArgs(thetas, dtype, batch)
    out = np.full((batch + 3, 3), np.nan, dtype)
    predict_chunk(case.net, frozen(X), np.empty(0, np.int64), 3, batch, dtype.type(1.0), codes(loss, output, hidden),
                  case.work.acts, out, np.empty(0, np.int64), case.panels(), block_counter(), case.scratch())
    assert_close(out[3:], naive.predict_chunk(thetas, X[3:], output, hidden), dtype)
    assert np.isnan(out[:3]).all()


@pytest.mark.parametrize("hidden, dtype, hidden_sizes, loss, output, batch", COVERING, ids=COVERING_IDS)
def test_forward_backward_and_gradients(hidden, dtype, hidden_sizes, loss, output, batch):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(3)
    layer_sizes = (5, *hidden_sizes, 3)
    thetas = random_thetas(layer_sizes, dtype, rng)
    n = batch + 4
    X = rng.normal(size=(n, 5)).astype(dtype)
    Y = make_targets(rng, loss, output, n, 3)
    order = rng.permutation(n)
    case = KernelArgs(thetas, dtype, batch)
    losses, grads = case.loss_and_gradients(X, Y, codes(loss, output, hidden), order=order, start=2, count=batch)
    rows = order[2 : 2 + batch]
    expected_losses, activations, deltas = naive.forward_backward(thetas, X[rows], Y[rows], loss, output, hidden)
    assert_close(losses, expected_losses, dtype, err_msg="per-sample losses")
    for l, (grad, expected) in enumerate(zip(grads, naive.gradients(activations, deltas))):
        assert grad.dtype == dtype
        assert_close(grad, expected, dtype, err_msg=f"gradient of layer {l}")


# ---------------------------------------------------------------- finite differences
#: Step of the central differences (float64 kernels): truncation (eps^2) and rounding (1e-16 / eps)
#: errors both about 1e-12 of the loss.
EPS = 1e-6
#: Worst and mean relative error allowed per dtype. float32: the analytic gradient is float32's (about
#: 1e-7 relative per operation, more for the smallest entries) compared with differences of the float64
#: loss at the same parameters; the worst measured was 1.5e-5 (tanh), float64's 2.3e-7 (logistic).
FD_TOLERANCE = {np.dtype(np.float64): (1e-4, 1e-6), np.dtype(np.float32): (1e-3, 1e-5)}
#: Every activation with both losses in float64, and with one of them in float32.
FD_CASES = [(hidden, loss, "float64") for hidden in HIDDEN for loss in ("softmax_cross_entropy", "mse")] + [
    ("logistic", "mse", "float32"), ("tanh", "softmax_cross_entropy", "float32"), ("relu", "mse", "float32"),
    ("identity", "softmax_cross_entropy", "float32"),
]


def mean_loss(case, X, Y, code):
    losses, grads = case.loss_and_gradients(X, Y, code)
    return losses.mean(), case.work.grads.copy()  # in the flat order of case.params


@pytest.mark.parametrize("hidden, loss, dtype", FD_CASES, ids=[f"{h}-{l}-{d}" for h, l, d in FD_CASES])
def test_gradient_matches_finite_differences(hidden, loss, dtype):
    dtype = np.dtype(dtype)
    output = "softmax" if loss == "softmax_cross_entropy" else "identity"
    rng = np.random.default_rng(4)
    thetas = random_thetas((4, 5, 4, 3), dtype, rng)
    X = rng.normal(size=(10, 4)).astype(dtype)
    Y = make_targets(rng, loss, output, 10, 3)
    code = codes(loss, output, hidden)
    if hidden == "relu":  # differences across a kink of max(z, 0) would not be a derivative
        activations, _ = naive.forward(thetas, X, output, "relu")
        z_hidden = [naive.with_bias(a) @ theta.T for a, theta in zip(activations[:2], thetas[:2])]
        assert min(np.abs(z).min() for z in z_hidden) > 100 * EPS
    case = KernelArgs(thetas, dtype, 10)
    _, grads = mean_loss(case, X, Y, code)
    analytic = to_lecture_order(grads, case.layout)
    exact = KernelArgs([theta.astype(np.float64) for theta in thetas], np.float64, 10)
    X64 = X.astype(np.float64)
    numeric = np.empty(analytic.size)
    for i, p in enumerate(to_lecture_order(np.arange(exact.params.size), exact.layout)):  # past the rows' gaps
        saved = exact.params[p]
        exact.params[p] = saved + EPS
        plus, _ = mean_loss(exact, X64, Y, code)
        exact.params[p] = saved - EPS
        minus, _ = mean_loss(exact, X64, Y, code)
        exact.params[p] = saved
        numeric[i] = (plus - minus) / (2 * EPS)
    assert np.abs(numeric).max() > 1e-3  # the check has something to compare
    error = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-7)
    worst, mean = FD_TOLERANCE[dtype]
    assert error.max() < worst, f"worst relative error {error.max():.2e} at parameter {error.argmax()}"
    assert error.mean() < mean, f"mean relative error {error.mean():.2e}"


# ---------------------------------------------------------------- the team epoch
@pytest.mark.parametrize("hidden, dtype", [("tanh", "float32"), ("relu", "float64"), ("identity", "float32")])
def test_team_epoch_bit_identical_and_matches_reference(hidden, dtype):
    """Teams of 1, 2 and 3 threads (13 and 9 units shared unevenly) give the same weights and loss, and the
    reference's momentum SGD, minibatch by minibatch."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(5)
    thetas = random_thetas((5, 13, 9, 3), dtype, rng, scale=0.5)
    n, batch = 3 * 7 + 4, 7
    X = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n)
    order = rng.permutation(n)
    settings = {"learning_rate": 0.1, "momentum": 0.9}
    results = []
    for members in (1, 2, 3):
        case = KernelArgs(thetas, dtype, batch)
        loss = train_epoch(case.net, case.opt(**settings), frozen(X), as_targets(y, dtype), no_weights(dtype), order,
                           batch, dtype.type(1.0), codes("softmax_cross_entropy", "softmax", hidden), case.work,
                           n_threads=members)
        results.append((case.params, loss))
    for params, loss in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert loss == results[0][1]
    expected, _, expected_loss = naive.train_epoch(
        [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas), X[order], y[order], batch,
        "softmax_cross_entropy", "softmax", hidden, **settings)
    assert_close(results[0][1], expected_loss, dtype, factor=10, err_msg="epoch loss")
    for l, theta in enumerate(KernelArgs(thetas, dtype, 1).thetas(results[0][0])):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")
