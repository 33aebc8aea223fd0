"""MLP.fit and partial_fit: hand-worked steps, steps and epochs against the reference and torch, XOR and
Fashion-MNIST; the one full-grid run of every factor (marked slow)."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import MLP
from fastmlp._layout import theta_views

import naive
from cases import (
    BATCH_SIZES,
    DEPTHS,
    DTYPES,
    LEARNING_RATE,
    LOSS_OUTPUTS,
    OPTIMIZER_NAMES,
    OPTIMIZERS,
    assert_close,
    float_thetas,
    layer_sizes,
    make_problem,
)
from covering import full_grid, pairwise

#: Thread counts a fit may ask for here (Numba's pool may have only one).
THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- the golden example
def test_golden_one_sgd_step(dtype):
    """A 2-2-1 network, MSE, sigmoid output, one sample x = (1, 2), y = 1, learning rate 1, worked by hand.

    theta1 = [[0, 0, 0], [0, 0, 0]]       (hidden layer: 2 units, inputs x1, x2 and the bias last)
    theta2 = [[1, -1, 0]]                 (output unit: hidden a1, a2 and the bias last)

    forward:  a_in = [1, 2, 1]                      (bias unit 1 appended)
              z2 = theta1 a_in = [0, 0];  a2 = sigmoid(z2) = [0.5, 0.5];  [a2; 1] = [0.5, 0.5, 1]
              z3 = 1 * 0.5 - 1 * 0.5 + 0 * 1 = 0;  yhat = sigmoid(0) = 0.5
    loss:     (yhat - y)^2 = (0.5 - 1)^2 = 0.25
    backward: dL/dyhat = 2 (yhat - y) = -1;  dyhat/dz3 = yhat (1 - yhat) = 0.25;  delta3 = -0.25
              grad theta2 = delta3 [a2; 1] = -0.25 * [0.5, 0.5, 1] = [-0.125, -0.125, -0.25]
              delta2 = (W2^T delta3) * a2 (1 - a2) = [1 * -0.25, -1 * -0.25] * 0.25 = [-0.0625, 0.0625]
              grad theta1 = delta2 a_in^T = [[-0.0625, -0.125, -0.0625], [0.0625, 0.125, 0.0625]]
    update:   theta -= 1 * grad
              theta1 = [[0.0625, 0.125, 0.0625], [-0.0625, -0.125, -0.0625]]
              theta2 = [[1 + 0.125, -1 + 0.125, 0 + 0.25]] = [[1.125, -0.875, 0.25]]
    Every number is a short binary fraction, so both dtypes must give them exactly.
    """
    theta1 = np.zeros((2, 3), dtype)
    theta2 = np.array([[1.0, -1.0, 0.0]], dtype)
    x = np.array([[1.0, 2.0]], dtype)
    y = np.array([1.0])
    net = MLP.from_thetas([theta1, theta2], loss="mse", output="sigmoid")

    loss, grads = net.loss_and_gradients(x, y)
    assert loss == 0.25
    np.testing.assert_array_equal(grads[0], [[-0.0625, -0.125, -0.0625], [0.0625, 0.125, 0.0625]])
    np.testing.assert_array_equal(grads[1], [[-0.125, -0.125, -0.25]])

    net.fit(x, y, epochs=1, batch_size=1, learning_rate=1.0, shuffle=False)
    new_theta1, new_theta2 = net.thetas()
    np.testing.assert_array_equal(new_theta1, [[0.0625, 0.125, 0.0625], [-0.0625, -0.125, -0.0625]])
    np.testing.assert_array_equal(new_theta2, [[1.125, -0.875, 0.25]])
    assert net.loss_curve_ == [0.25]


def test_golden_minibatch_of_two_averages(dtype):
    """The network above with a second sample x = (-1, 0), y = 0 in the same minibatch.

    Sample 2: a_in = [-1, 0, 1]; theta1 is zero, so again a2 = [0.5, 0.5] and yhat = 0.5.
              loss (0.5 - 0)^2 = 0.25;  dL/dyhat = 1;  delta3 = 1 * 0.25 = 0.25
              grad theta2 = 0.25 * [0.5, 0.5, 1] = [0.125, 0.125, 0.25]    (cancels sample 1's)
              delta2 = [1 * 0.25, -1 * 0.25] * 0.25 = [0.0625, -0.0625]
              grad theta1 = [[-0.0625, 0, 0.0625], [0.0625, 0, -0.0625]]
    Mean of the two: loss 0.25; grad theta2 = [0, 0, 0];
              grad theta1 = ([[-0.0625, -0.125, -0.0625], ...] + [[-0.0625, 0, 0.0625], ...]) / 2
                          = [[-0.0625, -0.0625, 0], [0.0625, 0.0625, 0]]
    Step with learning rate 1, momentum 0.5 (the first step of momentum is plain SGD: v = g):
              theta1 = [[0.0625, 0.0625, 0], [-0.0625, -0.0625, 0]];  theta2 unchanged [[1, -1, 0]]
    """
    theta1 = np.zeros((2, 3), dtype)
    theta2 = np.array([[1.0, -1.0, 0.0]], dtype)
    X = np.array([[1.0, 2.0], [-1.0, 0.0]], dtype)
    y = np.array([1.0, 0.0])
    net = MLP.from_thetas([theta1, theta2], loss="mse", output="sigmoid")
    loss, grads = net.loss_and_gradients(X, y)
    assert loss == 0.25
    np.testing.assert_array_equal(grads[0], [[-0.0625, -0.0625, 0.0], [0.0625, 0.0625, 0.0]])
    np.testing.assert_array_equal(grads[1], [[0.0, 0.0, 0.0]])
    net.fit(X, y, epochs=1, batch_size=2, learning_rate=1.0, momentum=0.5, shuffle=False)
    np.testing.assert_array_equal(net.thetas()[0], [[0.0625, 0.0625, 0.0], [-0.0625, -0.0625, 0.0]])
    np.testing.assert_array_equal(net.thetas()[1], [[1.0, -1.0, 0.0]])


# ---------------------------------------------------------------- against the reference
@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES, optimizer=OPTIMIZER_NAMES,
          n_threads=THREADS)
def test_one_fit_step(teams, dtype, loss_output, depth, batch_size, optimizer, n_threads):
    """One epoch of one minibatch: the reference's step, at the tolerance of a single step."""
    (loss, output), dtype, settings = loss_output, np.dtype(dtype), OPTIMIZERS[optimizer]
    net, X, Y = make_problem(layer_sizes(depth), loss, output, dtype, batch_size, seed=30)
    before = float_thetas(net)
    net.fit(X, Y, epochs=1, batch_size=batch_size, learning_rate=LEARNING_RATE, shuffle=False, n_threads=n_threads,
            **settings)
    expected, _, expected_loss = naive.train_step(before, naive.zeros_like(before), X, Y, loss, output,
                                                  learning_rate=LEARNING_RATE, **settings)
    for l, theta in enumerate(net.thetas()):
        assert theta.dtype == dtype
        assert_close(theta, expected[l], dtype, err_msg=f"layer {l}")
    assert_close(net.loss_curve_, [expected_loss.mean()], dtype)


def check_epochs(dtype, loss, output, sizes, batch_size, settings, n_threads, epochs=2):
    """``epochs`` epochs of minibatches X[0:b], X[b:2b], ... (the last one partial) against the reference."""
    n = 3 * batch_size + batch_size // 2 + 1
    net, X, Y = make_problem(sizes, loss, output, dtype, n, seed=31)
    thetas, velocity = float_thetas(net), naive.zeros_like(net.thetas())
    net.fit(X, Y, epochs=epochs, batch_size=batch_size, learning_rate=LEARNING_RATE, shuffle=False,
            n_threads=n_threads, **settings)
    expected_curve = []
    for _ in range(epochs):
        thetas, velocity, mean_loss = naive.train_epoch(thetas, velocity, X, Y, batch_size, loss, output,
                                                        learning_rate=LEARNING_RATE, **settings)
        expected_curve.append(mean_loss)
    assert_close(net.loss_curve_, expected_curve, dtype, factor=10)
    for l, theta in enumerate(net.thetas()):
        assert_close(theta, thetas[l], dtype, factor=20, err_msg=f"layer {l}")


@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES, optimizer=OPTIMIZER_NAMES,
          n_threads=THREADS)
def test_epochs_without_shuffle(teams, dtype, loss_output, depth, batch_size, optimizer, n_threads):
    """Two epochs, so the momentum carries over between them, and a last partial minibatch in each."""
    check_epochs(np.dtype(dtype), *loss_output, layer_sizes(depth), batch_size, OPTIMIZERS[optimizer], n_threads)


@pytest.mark.slow
def test_full_grid(teams):
    """The cross product the covering sets above stand in for: every dtype, loss/output, depth, batch size,
    optimizer and thread count together, two epochs each (the one full-grid test; about 900 fits)."""
    factors = dict(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES,
                   optimizer=OPTIMIZER_NAMES, n_threads=THREADS)
    grid = full_grid(factors)
    assert len(grid) == 2 * 5 * 3 * 3 * 5 * len(THREADS)
    for dtype, (loss, output), depth, batch_size, optimizer, n_threads in grid:
        try:
            check_epochs(np.dtype(dtype), loss, output, layer_sizes(depth), batch_size, OPTIMIZERS[optimizer],
                         n_threads)
        except AssertionError as error:
            raise AssertionError(f"{dtype} {loss}/{output} depth {depth} batch {batch_size} {optimizer} "
                                 f"{n_threads} threads: {error}") from None


def test_partial_fit_keeps_momentum_and_fit_resets_it():
    settings = dict(momentum=0.9, nesterov=True, weight_decay=0.01)
    loss, output = "mse", "sigmoid"
    net, X, Y = make_problem((5, 6, 3), loss, output, np.float64, 20, seed=33)
    start = float_thetas(net)
    # partial_fit twice = two epochs with the momentum buffer carried over
    net.partial_fit(X, Y, batch_size=6, learning_rate=LEARNING_RATE, shuffle=False, **settings)
    net.partial_fit(X, Y, batch_size=6, learning_rate=LEARNING_RATE, shuffle=False, **settings)
    thetas, velocity = start, naive.zeros_like(start)
    curve = []
    for _ in range(2):
        thetas, velocity, mean_loss = naive.train_epoch(thetas, velocity, X, Y, 6, loss, output,
                                                        learning_rate=LEARNING_RATE, **settings)
        curve.append(mean_loss)
    for theta, expected in zip(net.thetas(), thetas):
        assert_close(theta, expected, np.float64, factor=10)
    assert_close(net.loss_curve_, curve, np.float64, factor=10)
    # fit starts a fresh momentum buffer and loss curve, from the current weights
    current = float_thetas(net)
    net.fit(X, Y, epochs=1, batch_size=6, learning_rate=LEARNING_RATE, shuffle=False, **settings)
    expected, _, mean_loss = naive.train_epoch(current, naive.zeros_like(current), X, Y, 6, loss, output,
                                               learning_rate=LEARNING_RATE, **settings)
    for theta, want in zip(net.thetas(), expected):
        assert_close(theta, want, np.float64, factor=10)
    assert len(net.loss_curve_) == 1
    assert_close(net.loss_curve_, [mean_loss], np.float64, factor=10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_partial_fit_keeps_its_buffers_and_the_results_do_not_change(dtype):
    """partial_fit keeps the work buffers of its minibatch size for the next call (MLP._epoch_work). Kept ones,
    filled with NaN wherever a kernel may write, give the weights and losses of new ones bit for bit, across
    changes of the batch size; a fit, a pickle and a copy keep none."""
    rng = np.random.default_rng(5)
    X, y = rng.random((70, 20)).astype(dtype), rng.integers(0, 4, 70)
    kept, fresh = (MLP([20, 24, 4], dtype=dtype, random_state=2) for _ in range(2))
    small = kept._epoch_work(5, keep=True)
    assert kept._epoch_work(5, keep=True) is small and kept._epoch_work(16, keep=True).acts.shape[0] == 16
    kept._kept_work = None
    for batch_size in (5, 5, 16, 16, 5):
        if kept._kept_work is not None:
            work = kept._kept_work
            for buffer in (work.acts, work.outputs, work.deltas, work.losses, work.lecture, work.parts, work.pack,
                           work.inputs, *theta_views(work.grads, kept._layout)):
                buffer[...] = np.nan  # not the gradient's gaps between rows, which stay 0
        kept.partial_fit(X, y, batch_size=batch_size, momentum=0.9)
        fresh._kept_work = None
        fresh.partial_fit(X, y, batch_size=batch_size, momentum=0.9)
        np.testing.assert_array_equal(kept.params, fresh.params)
        np.testing.assert_array_equal(kept.loss_curve_, fresh.loss_curve_)
        assert kept._kept_work is not None and kept._kept_work.acts.shape[0] == batch_size
    work = kept._kept_work
    kept.partial_fit(X, y, batch_size=5)
    assert kept._kept_work is work
    pickled = pickle.dumps(kept)
    kept._kept_work = None
    assert len(pickled) == len(pickle.dumps(kept)), "the pickle holds the kept buffers"
    kept._kept_work = work
    assert pickle.loads(pickled)._kept_work is None
    assert copy.copy(kept)._kept_work is None and copy.deepcopy(kept)._kept_work is None
    assert kept._kept_work is work
    kept.fit(X, y, epochs=1, batch_size=16)
    assert kept._kept_work is None


def test_zero_epochs_changes_nothing():
    net, X, Y = make_problem((5, 6, 3), "mse", "sigmoid", np.float64, 10, seed=34)
    before = net.params.copy()
    assert net.fit(X, Y, epochs=0, batch_size=3) is net
    np.testing.assert_array_equal(net.params, before)
    assert net.loss_curve_ == []


def test_batch_larger_than_data_is_one_batch():
    net, X, Y = make_problem((5, 6, 3), "mse", "sigmoid", np.float64, 10, seed=35)
    before = float_thetas(net)
    net.fit(X, Y, epochs=1, batch_size=1000, learning_rate=LEARNING_RATE, shuffle=False)
    expected, _, _ = naive.train_step(before, naive.zeros_like(before), X, Y, "mse", "sigmoid",
                                      learning_rate=LEARNING_RATE)
    for theta, want in zip(net.thetas(), expected):
        assert_close(theta, want, np.float64)


def test_shuffle_visits_every_sample_once_per_epoch():
    """With a learning rate too small to move the weights, a shuffled epoch's mean loss is the mean over
    all samples: each one is visited exactly once, whatever the order."""
    net, X, Y = make_problem((5, 6, 3), "softmax_cross_entropy", "softmax", np.float64, 23, seed=44)
    expected = naive.loss_and_gradients(net.thetas(), X, Y, "softmax_cross_entropy", "softmax")[0]
    net.fit(X, Y, epochs=1, batch_size=4, learning_rate=1e-12, shuffle=True)
    assert net.loss_curve_[0] == pytest.approx(expected, rel=1e-9)


def test_class_weight_for_one_sigmoid_unit_weighs_its_0_1_labels():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 2)), rng.integers(0, 2, 40)
    settings = dict(epochs=3, batch_size=8, learning_rate=0.5)
    fresh = lambda: MLP([2, 3, 1], loss="sigmoid_cross_entropy", dtype="float64", random_state=0)  # noqa: E731
    by_class = fresh().fit(X, y, class_weight={1: 3.0}, **settings)
    by_sample = fresh().fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0), **settings)
    np.testing.assert_array_equal(by_class.params, by_sample.params)
    balanced = np.where(y == 1, 40 / (2 * y.sum()), 40 / (2 * (40 - y.sum())))
    np.testing.assert_array_equal(fresh().fit(X, y, class_weight="balanced", **settings).params,
                                  fresh().fit(X, y, sample_weight=balanced, **settings).params)
    regression = MLP([2, 3, 1], loss="mse", output="identity", random_state=0)
    with pytest.raises(ValueError, match="class_weight needs integer class labels y"):
        regression.fit(X, X[:, 0], class_weight={1: 2.0}, **settings)


def test_a_partial_fit_that_diverges_leaves_the_model_as_it_was():
    rng = np.random.default_rng(0)
    X, targets = rng.random((30, 3)), rng.random((30, 2))
    net = MLP([3, 4, 2], loss="mse", output="identity", dtype="float64", random_state=0)
    net.partial_fit(X, targets, learning_rate=0.01, schedule="invscaling")
    before = (net.input_dtype_, dict(net._progress), net.params.copy(), list(net.loss_curve_))
    with pytest.raises(fastmlp.DivergenceError), np.errstate(over="ignore", invalid="ignore"):
        net.partial_fit(X.astype(np.float32), targets * 1e200, learning_rate=1e100)
    assert (net.input_dtype_, net._progress, list(net.loss_curve_)) == (before[0], before[1], before[3])
    np.testing.assert_array_equal(net.params, before[2])


@pytest.mark.parametrize("momentum, nesterov, limit", [(0.0, False, 2.0), (0.9, False, 3.8), (0.5, True, 1.5)])
def test_divergence_from_weight_decay_names_it(momentum, nesterov, limit):
    """SGD's decay alone makes the weights grow once learning_rate x weight_decay passes 2 (1 + m), or
    2 (1 + m) / (1 + 2 m) with Nesterov's momentum: the error then names weight_decay, not only the rate.
    Just below the limit the same fit trains."""
    rng = np.random.default_rng(0)
    X, y = rng.random((256, 8)).astype(np.float32), rng.integers(0, 3, 256)
    settings = dict(epochs=200, batch_size=32, learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    MLP([8, 6, 3], random_state=0).fit(X, y, weight_decay=0.95 * limit / 0.1, **settings)
    with pytest.raises(fastmlp.DivergenceError, match=rf"weight_decay was {1.05 * limit:g}, above the {limit:g} "
                                                      r"beyond which .* lower weight_decay") as raised, \
            np.errstate(over="ignore", invalid="ignore"):
        MLP([8, 6, 3], random_state=0).fit(X, y, weight_decay=1.05 * limit / 0.1, **settings)
    assert raised.value.cause == "weight_decay"
    assert pickle.loads(pickle.dumps(raised.value)).cause == "weight_decay"


def test_invscaling_with_a_huge_power_t_takes_the_rate_to_0():
    X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    net = MLP([3, 4, 2], dtype="float64", random_state=0)
    net.fit(X, y, epochs=1, batch_size=5, schedule="invscaling", power_t=1000.0)
    after_one = net.params.copy()
    assert net._progress["learning_rate"] == 0.0  # 0.1 / 21 ** 1000, which overflows as a float power
    net.partial_fit(X, y, batch_size=5, schedule="invscaling", power_t=1000.0)
    np.testing.assert_array_equal(net.params, after_one)  # the next epoch steps by 0


def test_same_seed_same_weights(dtype):
    rng = np.random.default_rng(42)
    X = rng.normal(size=(60, 20)).astype(dtype)
    y = rng.integers(0, 4, 60)

    def train(seed):
        net = MLP((20, 13, 9, 4), dtype=dtype, random_state=seed)
        return net.fit(X, y, epochs=2, batch_size=8, learning_rate=0.2, momentum=0.9, weight_decay=1e-3)

    first, second, other = train(40), train(40), train(43)
    np.testing.assert_array_equal(first.params, second.params)
    assert not np.array_equal(first.params, other.params)


# ---------------------------------------------------------------- against torch
@pytest.mark.parametrize("loss, output", [pair for pair in LOSS_OUTPUTS if pair[1] != "identity"])
def test_training_matches_torch(loss, output):
    """Two epochs of SGD with Nesterov momentum and weight decay on the weights, against torch.optim.SGD."""
    torch = pytest.importorskip("torch")
    settings = dict(momentum=0.7, nesterov=True, weight_decay=0.02)
    net, X, Y = make_problem((5, 6, 4, 3), loss, output, np.float64, 30, seed=36)
    weights = [torch.tensor(theta[:, :-1], requires_grad=True) for theta in net.thetas()]
    biases = [torch.tensor(theta[:, -1], requires_grad=True) for theta in net.thetas()]
    sgd = torch.optim.SGD([{"params": weights, "weight_decay": settings["weight_decay"]},
                           {"params": biases, "weight_decay": 0.0}],
                          lr=LEARNING_RATE, momentum=settings["momentum"], nesterov=True)
    targets = torch.tensor(naive.one_hot(Y, 3))

    def torch_loss(xb, yb):
        a = xb
        for l, (weight, bias) in enumerate(zip(weights, biases)):
            z = a @ weight.T + bias
            a = torch.sigmoid(z) if l < len(weights) - 1 else z
        if loss == "softmax_cross_entropy":
            return -(yb * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
        if loss == "sigmoid_cross_entropy":
            return torch.nn.functional.binary_cross_entropy_with_logits(z, yb, reduction="none").sum(dim=1).mean()
        yhat = torch.sigmoid(z) if output == "sigmoid" else torch.softmax(z, dim=1)
        return ((yhat - yb) ** 2).sum(dim=1).mean()

    for _ in range(2):
        for start in range(0, 30, 7):
            sgd.zero_grad()
            torch_loss(torch.tensor(X[start : start + 7]), targets[start : start + 7]).backward()
            sgd.step()
    net.fit(X, Y, epochs=2, batch_size=7, learning_rate=LEARNING_RATE, shuffle=False, **settings)
    for theta, weight, bias in zip(net.thetas(), weights, biases):
        np.testing.assert_allclose(theta[:, :-1], weight.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(theta[:, -1], bias.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- input types
@pairwise(dtype=DTYPES, batch_size=BATCH_SIZES)
def test_uint8_input_equals_scaled_float_input(dtype, batch_size):
    """uint8 X trains and predicts as X * (1/255) in the model's dtype (np.float32(1/255) for float32)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(45)
    X8 = rng.integers(0, 256, (100, 12), dtype=np.uint8)
    Xf = X8.astype(dtype) * dtype.type(1 / 255)
    y = rng.integers(0, 3, 100)
    nets = [MLP((12, 7, 3), dtype=dtype, random_state=46).fit(X, y, epochs=2, batch_size=batch_size,
                                                              learning_rate=0.3, momentum=0.5) for X in (X8, Xf)]
    np.testing.assert_array_equal(nets[0].forward(X8), nets[0].forward(Xf))
    np.testing.assert_array_equal(nets[0].predict(X8), nets[0].predict(Xf))
    # Bit for bit: the gathered inputs are the same numbers, and the rest of the kernels read only those.
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    assert nets[0].loss_curve_ == nets[1].loss_curve_
    assert not np.array_equal(nets[0].params, MLP((12, 7, 3), dtype=dtype, random_state=46).params)


def test_float32_model_trains_on_float64_input_as_on_float32():
    """A float32 model reads float64 X one value at a time as float32: the same training as X.astype(float32)."""
    rng = np.random.default_rng(47)
    X = rng.normal(size=(50, 12))
    y = rng.integers(0, 3, 50)
    nets = [MLP((12, 7, 3), dtype="float32", random_state=48).fit(data, y, epochs=2, batch_size=8, learning_rate=0.3)
            for data in (X, X.astype(np.float32))]
    assert nets[0].params.dtype == np.float32
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("sizes, loss, seed", [((2, 2, 1), "mse", 0), ((2, 3, 1), "sigmoid_cross_entropy", 3)])
def test_xor(dtype, sizes, loss, seed):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = np.array([0, 1, 1, 0])
    net = MLP(sizes, loss=loss, dtype=dtype, random_state=seed)
    assert net.score(X, y) < 1.0  # not solved before training
    net.fit(X, y, epochs=2000, batch_size=4, learning_rate=2.0, momentum=0.9)
    np.testing.assert_array_equal(net.predict(X), y)
    assert net.score(X, y) == 1.0
    assert net.loss_curve_[-1] < 0.1 * net.loss_curve_[0]


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason=f"Fashion-MNIST not installed at {FASHION_MNIST} "
                    "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_784_100_10():
    """784-100-10, softmax cross-entropy, uint8 pixels: >= 0.85 test accuracy within 5 epochs.

    Minibatches of 16, plain SGD with a learning rate stepped down each epoch (0.5 -> 0.1) through
    partial_fit; about 0.87 here, a few seconds per epoch.
    """
    from fastmlp.datasets import load_fashion_mnist

    (X, y), (X_test, y_test) = load_fashion_mnist(FASHION_MNIST)
    assert X.dtype == np.uint8 and X.shape == (60000, 784) and X_test.shape == (10000, 784)
    net = MLP([784, 100, 10], loss="softmax_cross_entropy", dtype="float32", random_state=0)
    for learning_rate in (0.5, 0.4, 0.3, 0.2, 0.1):
        net.partial_fit(X, y, batch_size=16, learning_rate=learning_rate)
    accuracy = net.score(X_test, y_test)
    assert len(net.loss_curve_) == 5 and net.loss_curve_[-1] < net.loss_curve_[0]
    assert accuracy >= 0.85, f"test accuracy {accuracy:.4f} after 5 epochs"


def test_verbose_says_which_epoch_included_compiling(capsys, monkeypatch):
    """fit(verbose=1) prints each epoch's samples/s; an epoch that compiled (or loaded) kernels says so, since
    its rate is then mostly compile time (the README's example printed a first epoch of 760 samples/s, 80,000
    after it)."""
    X, y = np.random.default_rng(0).random((60, 4)), np.arange(60) % 3
    MLP([4, 5, 3], random_state=0).fit(X, y, epochs=1)  # the kernels, compiled or loaded before the next fits
    capsys.readouterr()
    MLP([4, 5, 3], random_state=0).fit(X, y, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.endswith(" samples/s") for line in lines), lines

    counts = iter([0, 7])  # kernels compiled during the first epoch only
    monkeypatch.setattr(fastmlp.model, "_prepared_signatures", lambda: next(counts, 7))
    MLP([4, 5, 3], random_state=0).fit(X, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(" samples/s (includes compiling or loading the kernels)")
    assert all(line.endswith(" samples/s") for line in lines[1:]), lines
