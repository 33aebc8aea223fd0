"""Bad input gets a ValueError or TypeError naming the problem, never a Numba traceback; odd but valid input works."""

from __future__ import annotations

import pickle
import re

import numba
import numpy as np
import pytest

from fastmlp import MLP
from fastmlp._layout import ALIGNMENT
from fastmlp._validation import check_X

N_IN, N_OUT = 3, 3


@pytest.fixture
def net():
    return MLP([N_IN, 4, N_OUT], loss="softmax_cross_entropy", dtype="float64", random_state=0)


def good_X(n=4):
    return np.linspace(0, 1, n * N_IN).reshape(n, N_IN)


def good_y(n=4):
    return np.arange(n) % N_OUT


def with_value(value, shape=(4, N_IN)):
    X = good_X(shape[0]) if shape[1] == N_IN else np.zeros(shape)
    X[1, 1] = value
    return X


def call(net, method, X, y=None, **kwargs):
    """Call a method of the network with X (and y for the methods that take targets)."""
    if method in ("fit", "partial_fit"):
        settings = dict(batch_size=2, learning_rate=0.1)
        if method == "fit":
            settings["epochs"] = 1
        settings.update(kwargs)
        return getattr(net, method)(X, good_y(len(X)) if y is None else y, **settings)
    if method in ("loss_and_gradients", "score"):
        return getattr(net, method)(X, good_y(len(X)) if y is None else y)
    return getattr(net, method)(X)


X_METHODS = ["forward", "predict", "predict_proba", "score", "loss_and_gradients", "fit", "partial_fit"]
Y_METHODS = ["score", "loss_and_gradients", "fit", "partial_fit"]
TRAIN_METHODS = ["fit", "partial_fit"]

BAD_X = {
    "rank 1": (np.ones(N_IN), ValueError, r"X must be 2-D"),
    "rank 3": (np.ones((4, N_IN, 1)), ValueError, r"X must be 2-D"),
    "too few features": (np.ones((4, N_IN - 1)), ValueError, r"X has 2 features but the network's input layer has 3"),
    "too many features": (np.ones((4, N_IN + 2)), ValueError, r"X has 5 features"),
    "NaN": (with_value(np.nan), ValueError, r"X contains NaN"),
    "+inf": (with_value(np.inf), ValueError, r"X contains NaN or infinity"),
    "-inf": (with_value(-np.inf), ValueError, r"X contains NaN or infinity"),
    "NaN in float32": (with_value(np.nan).astype(np.float32), ValueError, r"X contains NaN"),
    "empty": (np.ones((0, N_IN)), ValueError, r"X is empty"),
    "strings": (np.array([["a", "b", "c"]] * 4), TypeError, r"X must hold real numbers"),
    "complex": (np.ones((4, N_IN), complex), TypeError, r"X must hold real numbers"),
    "objects": (np.array([[1, None, 2]] * 4, dtype=object), TypeError, r"X must hold real numbers"),
    "bytes": (np.array([[b"a", b"b", b"c"]] * 4), TypeError, r"X must hold real numbers"),
    "dates": (np.zeros((4, N_IN), "datetime64[D]"), TypeError, r"X must hold real numbers"),
    "durations": (np.zeros((4, N_IN), "timedelta64[s]"), TypeError, r"X must hold real numbers"),
    "ragged": ([[1.0, 2.0, 3.0], [1.0, 2.0]], TypeError, r"X could not be converted to an array"),
}


def assert_refused(net, methods, error, message, X, y=None, **kwargs):
    """Every method in ``methods`` raises ``error`` matching ``message`` and leaves the parameters as they were."""
    before = net.params.copy()
    for method in methods:
        refusal = None
        try:
            call(net, method, X, y, **kwargs)
        except error as raised:
            refusal = raised
        assert refusal is not None, f"{method} accepted it"
        assert re.search(message, str(refusal)), f"{method}: {refusal}"
        np.testing.assert_array_equal(net.params, before, err_msg=method)


def test_bad_X(net, subtests):
    """Every method that takes X refuses each bad X (one subtest per case)."""
    for case, (X, error, message) in BAD_X.items():
        with subtests.test(case=case):
            assert_refused(net, X_METHODS, error, message, X, good_y(X.shape[0] if is_2d_samples(X) else 4))


def is_2d_samples(X) -> bool:
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] > 0


def test_long_double_X_is_checked_for_range_before_it_is_narrowed():
    net32, net64 = MLP([N_IN, 4, 2], dtype="float32"), MLP([N_IN, 4, 2], dtype="float64")
    huge = good_X().astype(np.longdouble)
    huge[1, 1] = np.longdouble(1e300) * 1e100 if np.finfo(np.longdouble).max > 1e308 else 1e300
    for net in (net32, net64) if np.finfo(np.longdouble).max > 1e308 else (net32,):
        with pytest.raises(ValueError, match=f"X holds values too large for {net.dtype}"):
            net.predict(huge)
    np.testing.assert_array_equal(net32.predict_proba(good_X().astype(np.longdouble)), net32.predict_proba(good_X()))


def test_X_too_large_for_float32():
    net = MLP([N_IN, 4, N_OUT], dtype="float32", random_state=0)
    with pytest.raises(ValueError, match=r"X holds values too large for float32"):
        net.forward(with_value(1e300))


def test_float64_X_for_float32_is_checked_for_nan_and_range():
    """float64 X for a float32 network: NaN, infinities and values beyond float32's range are refused wherever
    they are (the first, a middle and the last value of an array long enough for vector loops), float32's own
    extremes are taken."""
    net = MLP([N_IN, 4, N_OUT], dtype="float32", random_state=0)
    n = 1033
    for value, message in ((np.nan, "X contains NaN or infinity"), (np.inf, "X contains NaN or infinity"),
                           (-np.inf, "X contains NaN or infinity"), (1e300, "too large for float32"),
                           (-1e300, "too large for float32")):
        for row, column in ((0, 0), (n // 2, 1), (n - 1, N_IN - 1)):
            X = good_X(n)
            X[row, column] = value
            assert_refused(net, ["predict", "fit"], ValueError, message, X, good_y(n))
    X = good_X(n)
    X[3, 1], X[n - 1, 2] = 1e300, np.nan
    assert_refused(net, ["predict"], ValueError, "X contains NaN", X)
    X[n - 1, 2] = np.finfo(np.float32).min
    X[3, 1] = np.finfo(np.float32).max
    taken, _ = check_X(X, N_IN, np.dtype(np.float32))
    np.testing.assert_array_equal(taken, X)


def test_X_known_finite_is_not_checked_again():
    """check_X's ``finite``: a caller that has found X finite (the scikit-learn estimators) spares the pass that
    looks for NaN and infinity; everything else is still checked."""
    for dtype in (np.float32, np.float64):
        X = with_value(np.nan).astype(dtype)
        with pytest.raises(ValueError, match="X contains NaN"):
            check_X(X, N_IN, np.dtype(dtype))
        taken, scale = check_X(X, N_IN, np.dtype(dtype), finite=True)
        np.testing.assert_array_equal(taken, X)
        assert scale == 1.0
        with pytest.raises(ValueError, match="X has 2 features"):
            check_X(X[:, :2], N_IN, np.dtype(dtype), finite=True)
    with pytest.raises(ValueError, match="too large for float32"):  # float64 for float32: its range is checked
        check_X(with_value(1e300), N_IN, np.dtype(np.float32), finite=True)


BAD_Y = {
    "label = n_out": (np.array([0, 1, 2, 3]), ValueError, r"labels must be in \[0, 3\) for 3 output units"),
    "negative label": (np.array([0, -1, 2, 1]), ValueError, r"labels must be in \[0, 3\)"),
    "fractional label": (np.array([0.0, 1.5, 2.0, 1.0]), ValueError, r"not whole numbers"),
    "NaN label": (np.array([0.0, np.nan, 2.0, 1.0]), ValueError, r"y contains NaN"),
    "NaN target": (np.where(np.eye(4, N_OUT) > 0, np.nan, 0.0), ValueError, r"y contains NaN"),
    "inf target": (np.where(np.eye(4, N_OUT) > 0, np.inf, 0.0), ValueError, r"y contains NaN or infinity"),
    "too few samples": (np.array([0, 1, 2]), ValueError, r"X has 4 samples but y has 3"),
    "too many samples": (np.zeros(5, int), ValueError, r"X has 4 samples but y has 5"),
    "empty": (np.array([], int), ValueError, r"X has 4 samples but y has 0"),
    "scalar": (np.array(1), ValueError, r"X has 4 samples but y has"),
    "wrong width": (np.zeros((4, 2)), ValueError, r"y must be labels \(n_samples,\) or targets \(n_samples, 3\)"),
    "rank 3": (np.zeros((4, N_OUT, 1)), ValueError, r"y must be labels \(n_samples,\) or targets"),
    "bool labels": (np.array([True, False, True, False]), TypeError, r"y must hold integer class labels"),
    "strings": (np.array(["a", "b", "c", "d"]), TypeError, r"y must hold real numbers"),
}


def test_bad_y(net, subtests):
    """Every method that takes y refuses each bad y (one subtest per case)."""
    for case, (y, error, message) in BAD_Y.items():
        with subtests.test(case=case):
            assert_refused(net, Y_METHODS, error, message, good_X(4), y)


BAD_SETTINGS = {
    "batch_size 0": (dict(batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    "batch_size -3": (dict(batch_size=-3), ValueError, r"batch_size must be >= 1"),
    "batch_size float": (dict(batch_size=2.5), TypeError, r"batch_size must be an integer"),
    "batch_size bool": (dict(batch_size=True), TypeError, r"batch_size must be an integer"),
    "learning_rate 0": (dict(learning_rate=0.0), ValueError, r"learning_rate must be > 0"),
    "learning_rate < 0": (dict(learning_rate=-0.1), ValueError, r"learning_rate must be > 0"),
    "learning_rate NaN": (dict(learning_rate=np.nan), ValueError, r"learning_rate must be finite"),
    "learning_rate str": (dict(learning_rate="0.1"), TypeError, r"learning_rate must be a real number"),
    "momentum > 1": (dict(momentum=1.01), ValueError, r"momentum must be in \[0, 1\], got 1.01"),
    "momentum < 0": (dict(momentum=-0.1), ValueError, r"momentum must be >= 0"),
    "weight_decay < 0": (dict(weight_decay=-1e-3), ValueError, r"weight_decay must be >= 0"),
    "weight_decay inf": (dict(weight_decay=np.inf), ValueError, r"weight_decay must be finite"),
    "nesterov not bool": (dict(nesterov="yes", momentum=0.9), TypeError, r"nesterov must be True or False"),
    "nesterov no momentum": (dict(nesterov=True), ValueError, r"nesterov=True needs optimizer='sgd' and momentum > 0"),
    "shuffle not bool": (dict(shuffle=1), TypeError, r"shuffle must be True or False"),
    "n_threads 0": (dict(n_threads=0), ValueError, r"n_threads must be >= 1"),
    "n_threads too many": (dict(n_threads=numba.config.NUMBA_NUM_THREADS + 1), ValueError, r"n_threads must be <="),
    "n_threads float": (dict(n_threads=1.0), TypeError, r"n_threads must be an integer"),
    "verbose < 0": (dict(verbose=-1), ValueError, r"verbose must be >= 0"),
    "verbose array": (dict(verbose=np.array([0, 1])), TypeError, r"verbose must be an integer"),
}


def test_bad_training_settings(net, subtests):
    """fit and partial_fit refuse each bad setting (one subtest per case) and change nothing."""
    for case, (settings, error, message) in BAD_SETTINGS.items():
        with subtests.test(case=case):
            assert_refused(net, TRAIN_METHODS, error, message, good_X(4), good_y(4), **settings)


@pytest.mark.parametrize("epochs, error, message", [(-1, ValueError, r"epochs must be >= 0, got -1"),
                                                    (2.0, TypeError, r"epochs must be an integer"),
                                                    (None, TypeError, r"epochs must be an integer")])
def test_bad_epochs(net, epochs, error, message):
    with pytest.raises(error, match=message):
        net.fit(good_X(), good_y(), epochs=epochs, batch_size=2)


def test_weights_the_network_cannot_hold_are_refused_by_name():
    """Weights that float32 rounds to 0 (all of them: a loss of 0 / 0) or whose sum it cannot hold are refused
    before training, not reported as a divergence after it."""
    net = MLP([N_IN, 4, 2], dtype="float32", random_state=0)
    X, y = good_X(4), np.array([0, 1, 0, 1])
    cases = [(dict(sample_weight=np.full(4, 1e-50)), r"sample_weight holds values too small for float32: 1e-50"),
             (dict(sample_weight=[1.0, 1e-50, 1.0, 1.0]), r"sample_weight holds values too small"),
             (dict(sample_weight=np.full(4, 1e300)), r"sample_weight holds values too large for float32"),
             (dict(class_weight={0: 1e-50, 1: 1e-50}), r"class_weight \(times sample_weight\) holds values too small"),
             (dict(class_weight={0: 1e38, 1: 1e38}), r"class_weight \(times sample_weight\) holds values too large")]
    for kwargs, message in cases:
        assert_refused(net, TRAIN_METHODS, ValueError, message, X, y, **kwargs)
    with pytest.raises(ValueError, match="sample_weight holds values too small"):
        net.loss_and_gradients(X, y, sample_weight=np.full(4, 1e-50))
    MLP([N_IN, 4, 2], dtype="float64").fit(X, y, sample_weight=np.full(4, 1e-50), epochs=1)  # float64 holds them


def test_callback_is_checked_before_training(net):
    for callback in (lambda model: None, lambda: None, lambda model, seconds, extra: None):
        with pytest.raises(TypeError, match=r"callback must take two arguments, \(model, seconds\)"):
            net.fit(good_X(), good_y(), epochs=2, batch_size=2, callback=callback)
        assert net.loss_curve_ == []
    seen = []
    net.fit(good_X(), good_y(), epochs=2, batch_size=2, callback=lambda *args: seen.append(len(args)))
    assert seen == [2, 2]


BAD_MODELS = {
    "one layer": (dict(layer_sizes=[3]), ValueError, r"layer_sizes needs at least an input and an output size"),
    "no layers": (dict(layer_sizes=[]), ValueError, r"layer_sizes needs at least an input and an output size"),
    "size 0": (dict(layer_sizes=[3, 0, 2]), ValueError, r"every layer size must be >= 1, got 0"),
    "negative size": (dict(layer_sizes=[3, -4]), ValueError, r"every layer size must be >= 1"),
    "fractional size": (dict(layer_sizes=[3, 2.5]), TypeError, r"every layer size must be an integer"),
    "not a sequence": (dict(layer_sizes=5), TypeError, r"layer_sizes must be a sequence of integers"),
    "unknown loss": (dict(loss="hinge"), ValueError, r"unknown loss 'hinge'"),
    "loss None": (dict(loss=None), ValueError, r"unknown loss None"),
    "unknown output": (dict(loss="mse", output="tanh"), ValueError, r"unknown output 'tanh'"),
    "softmax CE + sigmoid": (dict(loss="softmax_cross_entropy", output="sigmoid"), ValueError,
                             r"loss 'softmax_cross_entropy' needs output in \('softmax',\), got output 'sigmoid'"),
    "softmax CE + identity": (dict(loss="softmax_cross_entropy", output="identity"), ValueError, r"needs output in"),
    "sigmoid CE + softmax": (dict(loss="sigmoid_cross_entropy", output="softmax"), ValueError,
                             r"loss 'sigmoid_cross_entropy' needs output in \('sigmoid',\)"),
    "sigmoid CE + identity": (dict(loss="sigmoid_cross_entropy", output="identity"), ValueError, r"needs output in"),
    "dtype float16": (dict(dtype="float16"), ValueError, r"dtype must be float32 or float64, got float16"),
    "dtype int": (dict(dtype=np.int64), ValueError, r"dtype must be float32 or float64"),
    "dtype nonsense": (dict(dtype="nonsense"), TypeError, r"dtype must be float32 or float64"),
    "random_state < 0": (dict(random_state=-1), ValueError, r"random_state must be >= 0"),
    "random_state str": (dict(random_state="seed"), TypeError, r"random_state must be an integer"),
    "softmax over one unit": (dict(layer_sizes=[3, 4, 1]), ValueError, r"a softmax over one output unit is 1"),
}


def test_bad_model(subtests):
    for case, (arguments, error, message) in BAD_MODELS.items():
        with subtests.test(case=case):
            arguments = dict(arguments)
            layer_sizes = arguments.pop("layer_sizes", [3, 4, 2])
            with pytest.raises(error, match=message):
                MLP(layer_sizes, **arguments)


BAD_THETAS = {
    "empty list": ([], TypeError, r"thetas must be a non-empty list of 2-D arrays"),
    "an array, not a list": (np.ones((2, 4)), TypeError, r"thetas must be a non-empty list"),
    "not a sequence": (3.0, TypeError, r"thetas must be a non-empty list"),
    "1-D theta": ([np.ones(4)], ValueError, r"thetas\[0\] must be 2-D \(n_out, n_in \+ 1\)"),
    "3-D theta": ([np.ones((2, 4, 1))], ValueError, r"thetas\[0\] must be 2-D"),
    "bias column only": ([np.ones((2, 1))], ValueError, r"thetas\[0\] must be 2-D \(n_out, n_in \+ 1\) with n_in >= 1"),
    "no rows": ([np.ones((0, 4))], ValueError, r"thetas\[0\] must be 2-D"),
    "no bias column": ([np.ones((5, 4)), np.ones((2, 5))], ValueError,
                       r"thetas\[1\] has 5 columns but thetas\[0\] has 5 rows: expected 6 \(inputs \+ bias\)"),
    "mismatched layers": ([np.ones((5, 4)), np.ones((2, 7))], ValueError, r"thetas\[1\] has 7 columns"),
    "NaN weight": ([np.array([[1.0, np.nan, 0.0]])], ValueError, r"thetas\[0\] contains NaN or infinity"),
    "strings": ([np.array([["a", "b"]])], TypeError, r"thetas\[0\] must hold real numbers"),
}


def test_bad_thetas(subtests):
    for case, (thetas, error, message) in BAD_THETAS.items():
        with subtests.test(case=case), pytest.raises(error, match=message):
            MLP.from_thetas(thetas, loss="mse")


def test_from_thetas_checks_loss_and_output():
    with pytest.raises(ValueError, match=r"needs output in"):
        MLP.from_thetas([np.ones((2, 4))], loss="softmax_cross_entropy", output="sigmoid")
    with pytest.raises(ValueError, match=r"unknown loss"):
        MLP.from_thetas([np.ones((2, 4))], loss="l1")


def test_predict_proba_needs_a_probability_output():
    net = MLP([3, 2], loss="mse", output="identity")
    with pytest.raises(ValueError, match=r"predict_proba needs a sigmoid or softmax output"):
        net.predict_proba(good_X())


# ---------------------------------------------------------------- odd but valid input
ODD_X = {
    "list of lists": lambda X: X.tolist(),
    "int64": lambda X: (X * 4).round().astype(np.int64),
    "int32 values": lambda X: (X * 4).round().astype(np.int32),
    "float16": lambda X: X.astype(np.float16),
    "bool": lambda X: X > 0.5,
    "Fortran order": lambda X: np.asfortranarray(X),
    "strided rows": lambda X: np.repeat(X, 2, axis=0)[::2],
    "strided columns": lambda X: np.repeat(X, 2, axis=1)[:, ::2],
}


def test_odd_but_valid_X(net, subtests):
    """Anything that is a real 2-D array of the right width works, and means what its values say."""
    for case, make in ODD_X.items():
        with subtests.test(case=case):
            odd = make(good_X(6))
            canonical = np.asarray(odd, dtype=np.float64)
            np.testing.assert_array_equal(net.forward(odd), net.forward(canonical))
            assert net.loss_and_gradients(odd, good_y(6))[0] == net.loss_and_gradients(canonical, good_y(6))[0]
            trained = MLP([N_IN, 4, N_OUT], dtype="float64", random_state=0)
            trained.fit(odd, good_y(6), epochs=2, batch_size=4)
            reference = MLP([N_IN, 4, N_OUT], dtype="float64", random_state=0)
            reference.fit(canonical, good_y(6), epochs=2, batch_size=4)
            np.testing.assert_array_equal(trained.params, reference.params)


ODD_Y = {
    "list": lambda y: y.tolist(),
    "int32": lambda y: y.astype(np.int32),
    "uint8": lambda y: y.astype(np.uint8),
    "whole floats": lambda y: y.astype(np.float64),
    "one-hot float32": lambda y: np.eye(N_OUT, dtype=np.float32)[y],
    "one-hot int": lambda y: np.eye(N_OUT, dtype=np.int64)[y],
}


def test_odd_but_valid_y(net, subtests):
    X, y = good_X(6), good_y(6)
    for case, make in ODD_Y.items():
        with subtests.test(case=case):
            odd = make(y)
            assert net.loss_and_gradients(X, odd)[0] == net.loss_and_gradients(X, y)[0]
            assert net.score(X, odd) == net.score(X, y)
            trained = MLP([N_IN, 4, N_OUT], dtype="float64", random_state=0).fit(X, odd, epochs=2, batch_size=4)
            reference = MLP([N_IN, 4, N_OUT], dtype="float64", random_state=0).fit(X, y, epochs=2, batch_size=4)
            np.testing.assert_array_equal(trained.params, reference.params)


def _compilations() -> int:
    """Signatures compiled so far by every kernel of fastmlp.kernels."""
    import fastmlp.kernels as kernels

    modules = [getattr(kernels, name) for name in dir(kernels) if isinstance(getattr(kernels, name), type(kernels))]
    return sum(len(kernel.signatures) for module in modules for kernel in vars(module).values()
               if isinstance(kernel, numba.core.dispatcher.Dispatcher))


def test_read_only_inputs_train_and_predict_on_the_same_compiled_kernels(net):
    """Read-only X, y and sample weights (np.frombuffer, a memory map, scikit-learn's parallel workers) give
    the results of writable ones, and compile nothing more: the kernels take every input read-only. So does
    a model unpickled from read-only buffers (pickle protocol 5 out of band, joblib's memory maps): it keeps
    writable copies of its parameters and state, cache-line aligned as a new model's are, and trains on."""
    X, y, weights = good_X(6), good_y(6), np.linspace(1, 2, 6)
    frozen = [np.frombuffer(a.tobytes(), a.dtype).reshape(a.shape) for a in (X, y, weights)]
    assert not any(a.flags.writeable for a in frozen)
    settings = dict(epochs=2, batch_size=4, early_stopping=True, validation_fraction=0.4, n_threads=1)
    other = MLP(net.layer_sizes, loss=net.loss, dtype=net.dtype, random_state=0)
    net.fit(X, y, sample_weight=weights, **settings)
    expected = net.forward(X), net.loss_and_gradients(X, y, weights)
    compiled = _compilations()
    other.fit(*frozen[:2], sample_weight=frozen[2], **settings)
    np.testing.assert_array_equal(other.params, net.params)
    np.testing.assert_array_equal(other.forward(frozen[0]), expected[0])
    assert other.loss_and_gradients(*frozen[:2], frozen[2])[0] == expected[1][0]
    buffers = []
    data = pickle.dumps(other, protocol=5, buffer_callback=buffers.append)
    unpickled = pickle.loads(data, buffers=[memoryview(buffer.raw()).toreadonly() for buffer in buffers])
    np.testing.assert_array_equal(unpickled.forward(X), expected[0])
    for model in (other, unpickled):
        assert all(a.ctypes.data % ALIGNMENT == 0 for a in (model.params, model._first, model._second))
    unpickled.partial_fit(X, y, sample_weight=weights, batch_size=4, n_threads=1)
    other.partial_fit(X, y, sample_weight=weights, batch_size=4, n_threads=1)
    np.testing.assert_array_equal(unpickled.params, other.params)
    assert _compilations() == compiled or numba.config.DISABLE_JIT


def test_single_output_takes_a_column_of_targets():
    """With one output unit, y (n,) and y (n, 1) are the same targets (binary labels or regression)."""
    net = MLP([N_IN, 4, 1], loss="sigmoid_cross_entropy", dtype="float64", random_state=0)
    y = np.array([0, 1, 1, 0])
    assert net.loss_and_gradients(good_X(), y)[0] == net.loss_and_gradients(good_X(), y.reshape(-1, 1))[0]


def test_numpy_integer_settings_are_accepted(net):
    net.fit(good_X(), good_y(), epochs=np.int64(1), batch_size=np.int32(2), learning_rate=np.float32(0.1),
            n_threads=np.int64(1))
    assert len(net.loss_curve_) == 1


# ---------------------------------------------------------------- cross-entropy targets are probabilities
BAD_CROSS_ENTROPY_TARGETS = {
    "binary label 2": ("sigmoid_cross_entropy", 1, np.array([0, 2, 1, 0])),
    "binary label -1": ("sigmoid_cross_entropy", 1, np.array([0, -1, 1, 0])),
    "sigmoid target 1.5": ("sigmoid_cross_entropy", N_OUT, np.full((4, N_OUT), 1.5)),
    "softmax target -0.5": ("softmax_cross_entropy", N_OUT, np.where(np.eye(4, N_OUT) > 0, -0.5, 0.0)),
}


@pytest.mark.parametrize("case", list(BAD_CROSS_ENTROPY_TARGETS))
def test_cross_entropy_targets_outside_0_1(case):
    """Cross-entropy takes probabilities (or 0/1 labels): anything else gives a loss without meaning
    (sum -y log yhat < 0 for y < 0), so it is refused. MSE takes any real target."""
    loss, n_out, y = BAD_CROSS_ENTROPY_TARGETS[case]
    methods = ["loss_and_gradients", "fit", "partial_fit"]
    net = MLP([N_IN, 4, n_out], loss=loss, dtype="float64", random_state=0)
    assert_refused(net, methods, ValueError, r"targets must be in \[0, 1\]", good_X(4), y)
    regression = MLP([N_IN, 4, n_out], loss="mse", output="identity", dtype="float64", random_state=0)
    for method in methods:
        call(regression, method, good_X(4), y)  # the same targets are fine for MSE
