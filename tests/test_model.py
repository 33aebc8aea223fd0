"""fastmlp.model.MLP: construction, from_thetas and thetas, forward, predict, score, dtypes and stability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastmlp import MLP

import naive
from cases import (
    BATCH_SIZES,
    DEPTHS,
    DTYPES,
    LOSS_OUTPUTS,
    OUTPUTS,
    assert_close,
    layer_sizes,
    make_problem,
    make_targets,
)
from covering import pairwise
from kernel_args import gap_mask


# ---------------------------------------------------------------- forward, predict, score
@pairwise(dtype=DTYPES, output=OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES)
def test_forward(dtype, output, depth, batch_size):
    dtype, sizes = np.dtype(dtype), layer_sizes(depth)
    net, X, _ = make_problem(sizes, "mse", output, dtype, batch_size, seed=7)
    out = net.forward(X)
    assert out.dtype == dtype and out.shape == (batch_size, sizes[-1])
    assert_close(out, naive.predict_chunk(net.thetas(), X, output), dtype)


def test_forward_more_samples_than_a_chunk(dtype):
    """forward() works through the input in chunks; the seams must not show."""
    net, X, _ = make_problem((4, 5, 3), "softmax_cross_entropy", "softmax", dtype, 2500, seed=8)
    assert_close(net.forward(X), naive.predict_chunk(net.thetas(), X, "softmax"), dtype)


def test_few_samples_are_predicted_without_settling_threads(dtype, monkeypatch):
    """Fewer than PREDICT_PARALLEL_MIN_SAMPLES samples run on the calling thread, so their prediction skips the
    thread count (MLP._forward_compiled), and gives those rows the bits they get among many, uint8 or float."""
    from fastmlp import model
    from fastmlp.kernels.forward import PREDICT_PARALLEL_MIN_SAMPLES as BOUND

    net, X, _ = make_problem((9, 7, 4), "softmax_cross_entropy", "softmax", dtype, 3 * BOUND, seed=12)
    pixels = np.random.default_rng(12).integers(0, 256, X.shape, dtype=np.uint8)
    expected = {id(A): (net.forward(A), net.predict(A)) for A in (X, pixels)}

    def settle(*args):
        raise AssertionError("a prediction of few samples settled a thread count")

    monkeypatch.setattr(model, "_check_threads", settle)
    for A in (X, pixels):
        out, labels = expected[id(A)]
        for n in (1, BOUND - 1):
            np.testing.assert_array_equal(net.forward(A[:n]), out[:n])
            np.testing.assert_array_equal(net.predict(A[:n]), labels[:n])
    with pytest.raises(AssertionError, match="settled"):  # many samples do settle one
        net.forward(X[:BOUND])


def test_one_sample_predicts_its_bits_among_many(dtype):
    """A one-sample prediction's work row is not aligned to a cache line (MLP._predict_chunk); each sample still
    gets the outputs it gets among many, on a network with the bench's widths (full tiles and edges)."""
    net, X, _ = make_problem((784, 100, 10), "softmax_cross_entropy", "softmax", dtype, 64, seed=13)
    out, labels = net.forward(X), net.predict(X)
    for i in (0, 1, 5, 33, 63):
        np.testing.assert_array_equal(net.forward(X[i : i + 1]), out[i : i + 1])
        np.testing.assert_array_equal(net.predict(X[i : i + 1]), labels[i : i + 1])


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


def test_structure_is_fixed_and_params_are_assigned_in_place():
    """The kernels hold the parameter buffer and follow the structure, so neither may be replaced: a params array
    of another size was read and written out of bounds."""
    X = np.random.default_rng(0).random((6, 3))
    net, other = MLP([3, 4, 2], random_state=0), MLP([3, 4, 2], random_state=1)
    for name, value in (("layer_sizes", (3, 5, 2)), ("loss", "mse"), ("output", "sigmoid"), ("activation", "relu"),
                        ("dtype", np.dtype(np.float64))):
        with pytest.raises(AttributeError, match=f"{name} is fixed when the MLP is built"):
            setattr(net, name, value)
    buffer = net.params
    net.params = other.params.copy()
    assert net.params is buffer
    np.testing.assert_array_equal(net.predict_proba(X), other.predict_proba(X))
    padded = other.params.copy()
    padded[np.flatnonzero(gap_mask(other._layout, padded.size))[0]] = 1.0
    with_nan = other.params.copy()
    with_nan[0] = np.nan
    for value, message in ((np.zeros(16, np.float32), r"params must be a float32 array of shape \(\d+,\)"),
                           (other.params.astype(np.float64), r"params must be a float32 array"),
                           (with_nan, "params contains NaN"), (padded, "params must hold 0 in the padding")):
        with pytest.raises(ValueError, match=message):
            net.params = value
        np.testing.assert_array_equal(net.params, other.params)


def test_score_of_labels_for_identity_outputs_is_that_of_their_one_hot_targets():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 3)), rng.integers(0, 2, 40)
    net = MLP([3, 4, 2], loss="mse", output="identity", dtype="float64", random_state=0)
    net.fit(X, y, validation_data=(X, y), epochs=2, batch_size=8)  # labels train as one-hot targets
    assert net.score(X, y) == net.score(X, np.eye(2)[y]) == net.validation_scores_[-1]
    assert net.score(X[:2], y[:2]) == net.score(X[:2], np.eye(2)[y[:2]])  # n_samples == n_out broadcast before


def test_repr_and_n_params():
    net = MLP([4, 6, 3], loss="mse", output="identity", dtype="float64")
    assert repr(net) == "MLP(4-6-3, loss='mse', output='identity', activation='logistic', dtype='float64')"
    # net.params is the kernels' buffer: each row of a stored transpose (6 and 3 units) is a line of 8 float64
    assert net.n_params == 6 * 5 + 3 * 7 and net.params.size == 5 * 8 + 7 * 8


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


def test_flat_parameter_order_is_the_transposed_thetas():
    """net.params holds each theta transposed (inputs by units, biases last), row by row, layer by layer, each
    row rounded up to whole lines with zeros (_layout.lead_width); the state that files hold is in the lecture's
    order, thetas row by row."""
    net, _, _ = make_problem((4, 5, 3), "mse", "sigmoid", np.float64, 1, seed=25)
    gaps = gap_mask(net._layout, net.params.size)
    assert gaps.sum() == 5 * (8 - 5) + 6 * (8 - 3) and (net.params[gaps] == 0).all()
    np.testing.assert_array_equal(net.params[~gaps], np.concatenate([theta.T.ravel() for theta in net.thetas()]))
    lecture = np.concatenate([theta.ravel() for theta in net.thetas()])
    np.testing.assert_array_equal(net._get_state()["params"], lecture)


# ---------------------------------------------------------------- stability
def saturated_thetas(sizes, rng, z_max=1e4):
    """Weights so large that hidden sigmoids saturate and output pre-activations reach about |z| = z_max."""
    thetas = []
    for n_in, n_out in zip(sizes, sizes[1:]):
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


@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS)
def test_stable_at_large_z(dtype, loss_output):
    """|z| up to 1e4: no warnings (tests run with -W error), no NaN, finite losses at outputs of exactly 0 or 1."""
    (loss, output), dtype = loss_output, np.dtype(dtype)
    rng = np.random.default_rng(15)
    sizes = (5, 6, 4)
    thetas = saturated_thetas(sizes, rng)
    net = MLP.from_thetas([theta.astype(dtype) for theta in thetas], loss=loss, output=output)
    X = rng.uniform(-1, 1, (40, sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, 40, sizes[-1])
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
    expected = stable_losses(z, naive.one_hot(Y, sizes[-1]), loss, output).mean()
    assert loss_value == pytest.approx(expected, rel=1e-3 if dtype == np.float32 else 1e-9)
    net.fit(X, Y, epochs=2, batch_size=7, learning_rate=1e-6, momentum=0.9)
    assert np.isfinite(net.params).all() and np.isfinite(net.loss_curve_).all()


def test_cross_entropy_at_saturated_outputs_is_exact(dtype):
    """A 1-1 network with z = w x: the losses of the wrong label equal |z| (log(1 + e^-|z|) vanishes or not)."""
    for z in [1e4, -1e4, 800.0, -800.0, 40.0, -40.0]:
        x = np.array([[1.0]], dtype)
        sigmoid_net = MLP.from_thetas([np.array([[z, 0.0]], dtype)], loss="sigmoid_cross_entropy")
        wrong = np.array([[0.0 if z > 0 else 1.0]], dtype)
        loss, grads = sigmoid_net.loss_and_gradients(x, wrong)
        assert loss == pytest.approx(np.logaddexp(0.0, abs(z)), rel=1e-6), z
        # dL/dz = yhat - y = +-1 when the output has rounded to exactly 1 or 0
        expected_grad = 1.0 / (1.0 + np.exp(-abs(z))) * np.sign(z)
        np.testing.assert_allclose(grads[0], [[expected_grad, expected_grad]], rtol=1e-6, err_msg=f"z={z}")
        softmax_net = MLP.from_thetas([np.array([[z, 0.0], [-z, 0.0]], dtype)], loss="softmax_cross_entropy")
        label = np.array([1 if z > 0 else 0])  # the class whose z is -|z|
        loss, grads = softmax_net.loss_and_gradients(x, label)
        assert loss == pytest.approx(np.logaddexp(0.0, 2 * abs(z)), rel=1e-6), z
        assert all(np.isfinite(grad).all() for grad in grads)


def test_integers_for_a_network_trained_on_uint8_pixels_are_warned_about():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 3)).astype(np.uint8)
    net = MLP([3, 4, 2], random_state=0).fit(pixels, np.arange(20) % 2, epochs=1)
    with pytest.warns(UserWarning, match="trained on uint8 pixels, which it reads as x / 255; int64 X"):
        wide = net.predict_proba(pixels.astype(np.int64))
    assert not np.allclose(wide, net.predict_proba(pixels))  # read as 0..255, not as 0..1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.predict(pixels)
        net.predict(pixels / 255.0)
        MLP([3, 4, 2]).fit(pixels / 255.0, np.arange(20) % 2, epochs=1).predict(pixels.astype(np.int64))
