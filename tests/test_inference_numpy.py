"""Prediction without Numba: the NumPy forward pass (fastmlp.inference) against the compiled kernels, in this
process and in a child process where ``import numba`` fails."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP, inference

from markers import needs_jit

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
#: Labels are compared on samples whose outputs keep this far from a decision boundary, where a rounding
#: difference between the two forward passes cannot flip them.
MARGIN = 1e-5
ROOT = Path(__file__).resolve().parents[1]
#: (layer sizes, loss, output): every output, one- and multi-unit heads, zero to two hidden layers.
NETWORKS = [
    ((10, 8, 4), "softmax_cross_entropy", "softmax"),
    ((10, 8, 1), "sigmoid_cross_entropy", "sigmoid"),
    ((10, 7, 6, 3), "mse", "sigmoid"),
    ((10, 2), "mse", "identity"),
]


def make_net(layer_sizes, loss, output, dtype, activation="logistic"):
    options = dict(loss=loss, output=output, dtype=dtype, random_state=0)
    if "activation" in inspect.signature(MLP).parameters:
        options["activation"] = activation
    elif activation != "logistic":
        pytest.skip(f"this MLP has logistic hidden units only: activation={activation!r} is not accepted yet")
    net = MLP(layer_sizes, **options)
    net.params *= 3  # weights of O(1): saturated and unsaturated units both occur
    return net


def clear_rows(net, X):
    """The rows of X whose outputs keep MARGIN from every decision boundary."""
    if net.output == "identity":
        return X
    top = np.sort(net.predict_proba(X), axis=1)  # a single unit's (1 - p, p) too: the gap is |2p - 1|
    return X[top[:, -1] - top[:, -2] > MARGIN]


def inputs(n, n_in, dtype, uint8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, n_in), dtype=np.uint8) if uint8 else rng.normal(0, 1, (n, n_in)).astype(dtype)


def numpy_forward(net, X):
    X, scale = fastmlp._validation.check_X(X, net.layer_sizes[0], net.dtype)
    return inference.forward(net.thetas(), X, scale, activation=getattr(net, "activation", "logistic"),
                             output=net.output)


# ------------------------------------------------------------------------------------------- in process
@pytest.mark.parametrize("uint8", [False, True], ids=["float", "uint8"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes, loss, output", NETWORKS, ids=[f"{n[1]}-{n[2]}{n[0][-1]}" for n in NETWORKS])
def test_numpy_forward_matches_the_kernels(sizes, loss, output, dtype, uint8):
    net = make_net(sizes, loss, output, dtype)
    X = inputs(2001, sizes[0], dtype, uint8)  # more than one chunk of the compiled prediction
    out = numpy_forward(net, X)
    assert out.dtype == net.dtype and out.shape == (X.shape[0], sizes[-1])
    np.testing.assert_allclose(out, net.forward(X), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("activation", ["tanh", "relu", "identity"])
def test_numpy_forward_hidden_activations(activation):
    net = make_net((10, 8, 6, 4), "softmax_cross_entropy", "softmax", "float64", activation)
    X = inputs(300, 10, "float64", False)
    np.testing.assert_allclose(numpy_forward(net, X), net.forward(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_softmax_are_stable_at_large_z(dtype):
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [0.0, 0.0]], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        sigmoid = inference.sigmoid(z.copy())
        softmax = inference.softmax(z.copy())
    np.testing.assert_array_equal(sigmoid, [[1, 0], [0, 1], [0.5, 0.5]])
    np.testing.assert_array_equal(softmax, [[1, 0], [0, 1], [0.5, 0.5]])


# Run as Python, the kernels' float arithmetic overflows with NumPy's RuntimeWarning before the check.
@needs_jit
def test_overflowing_inputs_are_a_value_error_as_with_the_kernels(monkeypatch):
    net = make_net((10, 2), "mse", "identity", "float32")
    X = np.full((3, 10), 3e38, np.float32)
    with pytest.raises(ValueError, match="outputs overflow float32"):
        net.predict(X)
    monkeypatch.setattr(fastmlp.model, "NUMBA_ERROR", "ModuleNotFoundError: No module named 'numba'")
    with pytest.raises(ValueError, match="outputs overflow float32"):
        net.predict(X)


# ------------------------------------------------------------------------------------------- without Numba
#: Run in the child before anything else: every ``import numba`` then raises ImportError.
NO_NUMBA = "import sys; sys.modules['numba'] = None\n"

CHILD = NO_NUMBA + textwrap.dedent("""
    import json, numpy as np, fastmlp
    from fastmlp.cli import main
    cases = json.loads(sys.argv[1])
    for case in cases:
        net = fastmlp.load(case["model"])
        X = np.load(case["X"])
        result = {"forward": net.forward(X), "predict": net.predict(X)}
        if net.output != "identity":
            result["predict_proba"] = net.predict_proba(X)
            result["score"] = np.array(net.score(X, np.load(case["y"])))
        np.savez(case["out"], **result)
    try:
        fastmlp.load(cases[0]["model"]).fit(np.load(cases[0]["X"]), np.load(cases[0]["y"]))
    except ImportError as error:
        print("fit:", error)
    assert main(["predict", cases[0]["model"], cases[0]["X"], "-o", cases[0]["csv"]]) == 0
    print("numba imported:", sys.modules["numba"] is not None)
""")


def test_load_and_predict_without_numba(tmp_path):
    cases, nets = [], []
    for k, ((sizes, loss, output), dtype) in enumerate((n, d) for n in NETWORKS for d in ("float32", "float64")):
        net = make_net(sizes, loss, output, dtype)
        X = clear_rows(net, inputs(3000, sizes[0], dtype, uint8=k % 3 == 0))  # uint8 input in some
        y = np.random.default_rng(k).integers(0, max(2, sizes[-1]), X.shape[0])
        if net.output == "identity":
            y = np.zeros((X.shape[0], sizes[-1]))
        paths = {name: str(tmp_path / f"{k}_{name}") for name in ("model.npz", "X.npy", "y.npy", "out.npz", "p.csv")}
        net.save(paths["model.npz"])
        np.save(paths["X.npy"], X)
        np.save(paths["y.npy"], y)
        cases.append({"model": paths["model.npz"], "X": paths["X.npy"], "y": paths["y.npy"], "out": paths["out.npz"],
                      "csv": paths["p.csv"]})
        nets.append((net, X, y))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-W", "error", "-c", CHILD, json.dumps(cases)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fit: training needs Numba, which cannot be imported here")
    assert "pip install numba" in lines[0]
    assert lines[-1] == "numba imported: False"
    assert np.loadtxt(cases[0]["csv"], delimiter=",", skiprows=1).tolist() == nets[0][0].predict(nets[0][1]).tolist()
    for case, (net, X, y) in zip(cases, nets):
        tol = TOLERANCE[net.dtype.name]
        with np.load(case["out"]) as child:
            assert child["forward"].dtype == net.dtype
            np.testing.assert_allclose(child["forward"], net.forward(X), rtol=tol, atol=tol)
            if net.output == "identity":
                np.testing.assert_allclose(child["predict"], net.predict(X), rtol=tol, atol=tol)
                continue
            np.testing.assert_allclose(child["predict_proba"], net.predict_proba(X), rtol=tol, atol=tol)
            np.testing.assert_array_equal(child["predict"], net.predict(X))
            assert float(child["score"]) == net.score(X, y)
