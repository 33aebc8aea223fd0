"""Every kernel and the forward API against the NumPy reference (tests/naive.py), plus numerical stability."""

from __future__ import annotations

import numpy as np
import pytest
from cases import LEARNING_RATE, LOSS_OUTPUTS, OPTIMIZERS, assert_close, make_problem, make_targets

import naive
from fastmlp import MLP
from fastmlp._team import train_epoch
from fastmlp._layout import build_layout, n_params, n_units, theta_views
from fastmlp.kernels import SGD, Net, Optimizer, Work
from fastmlp.kernels.activations import LOGISTIC
from fastmlp.kernels.backward import forward_backward, gradients
from fastmlp.kernels.forward import predict_chunk
from fastmlp.model import LOSSES, OUTPUTS



# ---------------------------------------------------------------- building kernel arguments
class Case:
    """A network's kernel arguments (Net, Work) built straight from the lecture's thetas."""

    def __init__(self, thetas, dtype, batch):
        sizes = [thetas[0].shape[1] - 1] + [theta.shape[0] for theta in thetas]
        self.layout, row_blocks = build_layout(sizes)
        self.dtype = np.dtype(dtype)
        self.params = np.empty(n_params(self.layout), self.dtype)
        for view, theta in zip(theta_views(self.params, self.layout), thetas):
            view[:] = theta
        self.velocity = np.zeros_like(self.params)
        self.net = Net(self.params, self.layout, row_blocks)
        units = n_units(self.layout)
        self.work = Work(
            acts=np.full((batch, units), np.nan, self.dtype),
            targets=np.full((batch, sizes[-1]), np.nan, self.dtype),
            deltas=np.full((batch, units), np.nan, self.dtype),
            losses=np.full(batch, np.nan),
            grads=np.full(self.params.size, np.nan, self.dtype),
        )

    def opt(self, momentum=0.0, nesterov=False, weight_decay=0.0):
        t = self.dtype.type
        return Optimizer(SGD, self.velocity, np.empty(0, self.dtype), np.zeros(1, np.int64), t(LEARNING_RATE),
                         t(momentum), t(weight_decay), nesterov, t(0.9), t(0.999), t(1e-8))

    def thetas(self, flat=None):
        return [view.copy() for view in theta_views(self.params if flat is None else flat, self.layout)]


def random_thetas(layer_sizes, dtype, rng):
    return [rng.normal(0, 0.8, (n_out, n_in + 1)).astype(dtype) for n_in, n_out in zip(layer_sizes, layer_sizes[1:])]


def codes(loss, output):
    return np.array([LOSSES[loss], OUTPUTS[output], LOGISTIC], dtype=np.int64)


def as_targets(Y, dtype):
    return Y.astype(np.int64) if Y.ndim == 1 else Y.astype(dtype)


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("ordered", [False, True], ids=["identity-order", "permuted"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_predict_chunk(dtype, output, layer_sizes, batch_size, ordered):
    rng = np.random.default_rng(1)
    thetas = random_thetas(layer_sizes, dtype, rng)
    n, start = batch_size + 5, 3
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    order = rng.permutation(n) if ordered else np.empty(0, np.int64)
    case = Case(thetas, dtype, batch_size)
    out = np.full((n, layer_sizes[-1]), np.nan, dtype)
    predict_chunk(case.net, X, order, start, batch_size, dtype.type(1.0), codes("mse", output), case.work.acts, out)
    rows = order[start : start + batch_size] if ordered else np.arange(start, start + batch_size)
    assert out.dtype == dtype
    assert_close(out[start : start + batch_size], naive.predict_chunk(thetas, X[rows], output), dtype)
    # rows outside [start, start + count) are not the kernel's to write
    assert np.isnan(out[:start]).all() and np.isnan(out[start + batch_size :]).all()


# ---------------------------------------------------------------- backward
@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_forward_backward_and_gradients(dtype, loss, output, layer_sizes, batch_size):
    rng = np.random.default_rng(2)
    thetas = random_thetas(layer_sizes, dtype, rng)
    n, start = batch_size + 4, 2
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, layer_sizes[-1])
    order = rng.permutation(n)
    case = Case(thetas, dtype, batch_size)
    no_weights = np.empty(0, dtype)
    forward_backward(case.net, X, as_targets(Y, dtype), no_weights, order, start, batch_size, dtype.type(1.0),
                     codes(loss, output), case.work)
    gradients(case.net, no_weights, order, start, batch_size, case.work)
    rows = order[start : start + batch_size]
    losses, activations, deltas = naive.forward_backward(thetas, X[rows], Y[rows], loss, output)
    assert_close(case.work.losses[:batch_size], losses, dtype, err_msg="per-sample losses")
    assert case.work.grads.dtype == dtype
    for l, (grad, expected) in enumerate(zip(case.thetas(case.work.grads), naive.gradients(activations, deltas))):
        assert_close(grad, expected, dtype, err_msg=f"gradient of layer {l}")


# ---------------------------------------------------------------- the team epoch
@pytest.mark.parametrize("members", [1, 2, 3])
@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_train_epoch(dtype, loss, output, layer_sizes, batch_size, members):
    """The team epoch against the NumPy reference, for teams of 1 to 3 threads (3 shares unevenly)."""
    settings = OPTIMIZERS["all"]
    rng = np.random.default_rng(6)
    thetas = random_thetas(layer_sizes, dtype, rng)
    n = 3 * batch_size + batch_size // 2 + 1  # a last, partial minibatch (except for batch size 1)
    X = rng.normal(size=(n, layer_sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, layer_sizes[-1])
    case = Case(thetas, dtype, batch_size)
    opt = case.opt(**settings)
    expected, velocity = [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas)
    for epoch in range(2):
        order = rng.permutation(n)
        mean_loss = train_epoch(case.net, opt, X, as_targets(Y, dtype), np.empty(0, dtype), order, batch_size,
                                dtype.type(1.0), codes(loss, output), case.work, n_threads=members)
        expected, velocity, expected_loss = naive.train_epoch(expected, velocity, X[order], Y[order], batch_size,
                                                              loss, output, learning_rate=LEARNING_RATE, **settings)
        assert_close(mean_loss, expected_loss, dtype, factor=10, err_msg=f"loss of epoch {epoch}")
    for l, theta in enumerate(case.thetas()):
        assert_close(theta, expected[l], dtype, factor=20, err_msg=f"layer {l}")


# ---------------------------------------------------------------- the forward API
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_forward_api(dtype, output, layer_sizes, batch_size):
    loss = "mse"
    net, X, _ = make_problem(layer_sizes, loss, output, dtype, batch_size, seed=7)
    out = net.forward(X)
    assert out.dtype == dtype and out.shape == (batch_size, layer_sizes[-1])
    assert_close(out, naive.predict_chunk(net.thetas(), X, output), dtype)


def test_forward_api_more_samples_than_a_chunk(dtype):
    """forward() works through the input in chunks; the seams must not show."""
    net, X, _ = make_problem((4, 5, 3), "softmax_cross_entropy", "softmax", dtype, 2500, seed=8)
    assert_close(net.forward(X), naive.predict_chunk(net.thetas(), X, "softmax"), dtype)


def test_predict_proba_predict_score(dtype):
    net, X, y = make_problem((4, 6, 3), "softmax_cross_entropy", "softmax", dtype, 50, seed=9)
    expected = naive.predict_chunk(net.thetas(), X, "softmax")
    assert_close(net.predict_proba(X), expected, dtype)
    np.testing.assert_array_equal(net.predict(X), expected.argmax(axis=1))
    assert net.score(X, y) == pytest.approx(np.mean(expected.argmax(axis=1) == y))
    # a single sigmoid unit: probabilities (1 - p, p) and labels p > 0.5
    binary, Xb, yb = make_problem((4, 3, 1), "sigmoid_cross_entropy", "sigmoid", dtype, 50, seed=10)
    p = naive.predict_chunk(binary.thetas(), Xb, "sigmoid")
    assert_close(binary.predict_proba(Xb), np.hstack([1 - p, p]), dtype)
    np.testing.assert_array_equal(binary.predict(Xb), (p[:, 0] > 0.5).astype(int))


def test_score_is_r2_for_identity_output(dtype):
    net, X, Y = make_problem((4, 6, 2), "mse", "identity", dtype, 40, seed=11)
    yhat = naive.predict_chunk(net.thetas(), X, "identity")
    r2 = 1 - ((yhat - Y) ** 2).sum() / ((Y - Y.mean(axis=0)) ** 2).sum()
    assert net.score(X, Y) == pytest.approx(r2, rel=1e-4)


def test_lecture_784_15_10_forward():
    """MLP.from_thetas([w1, w2]).forward(x.T) equals the lecture's own column-vector code, sample by sample."""
    rng = np.random.default_rng(12)
    w1 = rng.normal(0, 0.1, (15, 784 + 1))
    w2 = rng.normal(0, 1.0, (10, 15 + 1))
    X = rng.uniform(0, 1, (784, 6))  # six samples as columns, as the lecture holds them

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def neural_network(x, w1, w2):  # the lecture's code, for one column x (784, 1)
        a1 = np.vstack([x, 1])
        z2 = w1 @ a1
        a2 = np.vstack([sigmoid(z2), 1])
        z3 = w2 @ a2
        a3 = sigmoid(z3)
        return a3

    expected = np.hstack([neural_network(X[:, [i]], w1, w2) for i in range(X.shape[1])])  # (10, 6)
    net = MLP.from_thetas([w1, w2], loss="mse")
    assert net.layer_sizes == (784, 15, 10) and net.dtype == np.float64
    np.testing.assert_allclose(net.forward(X.T), expected.T, rtol=1e-12, atol=1e-14)
    for theta, w in zip(net.thetas(), [w1, w2]):
        np.testing.assert_array_equal(theta, w)


# ---------------------------------------------------------------- dtypes
def test_float32_stays_float32_and_float64_stays_float64(dtype):
    net, X, y = make_problem((4, 6, 3), "softmax_cross_entropy", "softmax", dtype, 30, seed=13)
    params = net.params
    assert net.params.dtype == dtype
    assert net.forward(X).dtype == dtype
    assert net.predict_proba(X).dtype == dtype
    loss, grads = net.loss_and_gradients(X, y)
    assert isinstance(loss, float)
    assert all(grad.dtype == dtype for grad in grads)
    net.fit(X, y, epochs=1, batch_size=7, learning_rate=0.1, momentum=0.5)
    assert net.params is params and net.params.dtype == dtype  # trained in place, never replaced
    assert all(theta.dtype == dtype for theta in net.thetas())
    assert MLP([4, 3], dtype=dtype).params.dtype == dtype
    assert MLP.from_thetas([theta.astype(dtype) for theta in net.thetas()]).params.dtype == dtype


def test_float32_model_reads_float64_input_as_float32():
    """A float64 X given to a float32 model still gives float32 outputs, equal to float32 X's."""
    net, X, _ = make_problem((4, 6, 3), "mse", "sigmoid", np.float32, 20, seed=14)
    X64 = X.astype(np.float64)
    assert net.forward(X64).dtype == np.float32
    np.testing.assert_array_equal(net.forward(X64), net.forward(X))


@pytest.mark.parametrize("kinds, expected", [
    ((np.float32, np.float32), np.float32),
    ((np.float64, np.float64), np.float64),
    ((np.float32, np.float64), np.float64),
    ((np.int64, np.int64), np.float64),
])
def test_from_thetas_dtype(kinds, expected):
    """from_thetas keeps the matrices' dtype when they share float32 or float64, else uses float64."""
    thetas = [np.ones((3, 5), kinds[0]), np.ones((2, 4), kinds[1])]
    net = MLP.from_thetas(thetas, loss="mse")
    assert net.dtype == expected and net.params.dtype == expected
    assert MLP.from_thetas(thetas, loss="mse", dtype="float32").params.dtype == np.float32


def test_thetas_are_copies_both_ways():
    """thetas() hands out copies, and from_thetas copies what it is given: no aliasing of the parameters."""
    theta = np.arange(8, dtype=np.float64).reshape(2, 4)
    net = MLP.from_thetas([theta], loss="mse")
    theta[0, 0] = 100.0
    assert net.thetas()[0][0, 0] == 0.0
    net.thetas()[0][:] = 7.0
    np.testing.assert_array_equal(net.thetas()[0], np.arange(8).reshape(2, 4))


# ---------------------------------------------------------------- stability
def saturated_thetas(layer_sizes, rng, z_max=1e4):
    """Weights so large that hidden sigmoids saturate and output pre-activations reach about |z| = z_max."""
    thetas = []
    for l, (n_in, n_out) in enumerate(zip(layer_sizes, layer_sizes[1:])):
        theta = rng.uniform(-1, 1, (n_out, n_in + 1))
        theta *= z_max / (n_in + 1)  # |z| <= z_max for inputs in [-1, 1] or activations in [0, 1]
        thetas.append(theta)
    return thetas


def stable_losses(z, Y, loss, output):
    """The per-sample losses computed from z with log-sum-exp identities, in float64 (no log of 0)."""
    if loss == "sigmoid_cross_entropy":  # -y log s(z) - (1 - y) log(1 - s(z)) = log(1 + e^z) - y z
        return (np.logaddexp(0.0, z) - Y * z).sum(axis=1)
    if loss == "softmax_cross_entropy":  # -sum y log softmax(z) = sum y (logsumexp(z) - z)
        top = z.max(axis=1, keepdims=True)
        log_sum = top + np.log(np.exp(z - top).sum(axis=1, keepdims=True))
        return (Y * (log_sum - z)).sum(axis=1)
    return ((naive.activate(z, output) - Y) ** 2).sum(axis=1)


@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_stable_at_large_z(dtype, loss, output):
    """|z| up to 1e4: no warnings (tests run with -W error), no NaN, finite losses at outputs of exactly 0 or 1."""
    rng = np.random.default_rng(15)
    layer_sizes = (5, 6, 4)
    thetas = saturated_thetas(layer_sizes, rng)
    net = MLP.from_thetas([theta.astype(dtype) for theta in thetas], loss=loss, output=output)
    X = rng.uniform(-1, 1, (40, layer_sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, 40, layer_sizes[-1])
    activations, z = naive.forward(net.thetas(), X, output)
    assert np.abs(z).max() > 1e3  # the test really reaches large pre-activations
    out = net.forward(X)
    assert np.isfinite(out).all()
    if output != "identity":
        assert ((out >= 0) & (out <= 1)).all()
        assert (out == 0).any() and (out == 1).any()  # outputs round to exactly 0 and 1
    loss_value, grads = net.loss_and_gradients(X, Y)
    assert np.isfinite(loss_value)
    assert all(np.isfinite(grad).all() for grad in grads)
    expected = stable_losses(z, naive.one_hot(Y, layer_sizes[-1]), loss, output).mean()
    assert loss_value == pytest.approx(expected, rel=1e-3 if dtype == np.float32 else 1e-9)
    net.fit(X, Y, epochs=2, batch_size=7, learning_rate=1e-6, momentum=0.9)
    assert np.isfinite(net.params).all() and np.isfinite(net.loss_curve_).all()


@pytest.mark.parametrize("z", [1e4, -1e4, 800.0, -800.0, 40.0, -40.0])
def test_cross_entropy_at_saturated_outputs_is_exact(dtype, z):
    """A 1-1 network with z = w x: the losses of the wrong label equal |z| (log(1 + e^-|z|) vanishes or not)."""
    x = np.array([[1.0]], dtype)
    sigmoid_net = MLP.from_thetas([np.array([[z, 0.0]], dtype)], loss="sigmoid_cross_entropy")
    wrong = np.array([[0.0 if z > 0 else 1.0]], dtype)
    loss, grads = sigmoid_net.loss_and_gradients(x, wrong)
    assert loss == pytest.approx(np.logaddexp(0.0, abs(z)), rel=1e-6)
    # dL/dz = yhat - y = +-1 when the output has rounded to exactly 1 or 0
    expected_grad = 1.0 / (1.0 + np.exp(-abs(z))) * np.sign(z)
    np.testing.assert_allclose(grads[0], [[expected_grad, expected_grad]], rtol=1e-6)
    softmax_net = MLP.from_thetas([np.array([[z, 0.0], [-z, 0.0]], dtype)], loss="softmax_cross_entropy")
    label = np.array([1 if z > 0 else 0])  # the class whose z is -|z|
    loss, grads = softmax_net.loss_and_gradients(x, label)
    assert loss == pytest.approx(np.logaddexp(0.0, 2 * abs(z)), rel=1e-6)
    assert all(np.isfinite(grad).all() for grad in grads)
