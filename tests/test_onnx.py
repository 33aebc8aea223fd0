"""ONNX export: the exported graph, run in ONNX Runtime, gives fastmlp's probabilities and labels; the
graph's structure; ``fastmlp export``; the skl2onnx converter inside a scikit-learn Pipeline."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import MLP  # noqa: E402
from fastmlp.cli import main  # noqa: E402
from fastmlp.onnx_export import MIN_OPSET, OPSET, register_skl2onnx, task, to_onnx  # noqa: E402
from fastmlp.sklearn import MLPClassifier  # noqa: E402

#: Probabilities and regression outputs agree with fastmlp's to this (absolute and relative) tolerance.
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
SAMPLE_COUNTS = (1, 7, 10_000)
ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]
#: Labels are compared only on data whose outputs keep this far from every decision boundary (top two
#: probabilities, or p and 0.5): rounding differences of ~1e-7 must not be able to flip a label.
MARGIN = 1e-5
N_IN = 12

#: (loss, output, output units): every pair the model accepts, with one-unit binary and multilabel heads.
HEADS = [
    ("mse", "identity", 1),
    ("mse", "identity", 3),
    ("mse", "sigmoid", 1),
    ("mse", "sigmoid", 3),
    ("mse", "softmax", 4),
    ("sigmoid_cross_entropy", "sigmoid", 1),
    ("sigmoid_cross_entropy", "sigmoid", 3),
    ("softmax_cross_entropy", "softmax", 4),
]
# Each head in both dtypes; the input is uint8 in one of the two and float in the other.
HEAD_CASES = [(loss, output, n_out, dtype, (h + d) % 2 == 0)
              for h, (loss, output, n_out) in enumerate(HEADS) for d, dtype in enumerate(["float32", "float64"])]


def make_net(layer_sizes, loss, output, dtype, activation="logistic", seed=0):
    """A seeded network with weights of O(1), so that outputs spread out."""
    net = MLP(layer_sizes, loss=loss, output=output, activation=activation, dtype=dtype, random_state=seed)
    net.params *= 3
    return net


def make_inputs(n, dtype, uint8, seed=1):
    rng = np.random.default_rng(seed)
    if uint8:
        return rng.integers(0, 256, (n, N_IN), dtype=np.uint8)
    return rng.normal(0, 1, (n, N_IN)).astype(dtype)


def margins(net, X, multilabel=False) -> np.ndarray:
    """Per sample, how far fastmlp's outputs are from a decision boundary: the gap between the top two
    probabilities, or |p - 0.5| (the smallest over the units of a multilabel network)."""
    kind = task(net, multilabel)
    if kind == "regression":
        return np.full(X.shape[0], np.inf)
    proba = net.predict_proba(X)
    if kind == "multiclass":
        top = np.sort(proba, axis=1)
        return top[:, -1] - top[:, -2]
    p = proba[:, -1:] if kind == "binary" else proba
    return np.abs(p - 0.5).min(axis=1)


def clear_inputs(net, n, dtype, uint8, multilabel=False):
    """``n`` samples none of which lies within MARGIN of a decision boundary: a difference in the last
    bits of a probability (~1e-7) must not be able to flip a label."""
    X = make_inputs(4 * n, dtype, uint8)
    X = X[margins(net, X, multilabel) > MARGIN][:n]
    assert X.shape[0] == n
    return X


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_same(net, sess, X):
    """ONNX Runtime's outputs for X against fastmlp's predict and predict_proba."""
    tol = TOLERANCE[net.dtype.name]
    results = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": X})))
    if task(net) == "regression":
        np.testing.assert_allclose(results["predictions"], net.predict(X), rtol=tol, atol=tol)
        assert results["predictions"].shape == net.predict(X).shape
        return
    proba = net.predict_proba(X)
    assert results["probabilities"].dtype == net.dtype and results["probabilities"].shape == proba.shape
    np.testing.assert_allclose(results["probabilities"], proba, rtol=0, atol=tol)
    expected = net.predict(X)
    assert results["label"].dtype == np.int64
    np.testing.assert_array_equal(results["label"], expected)


# ------------------------------------------------------------------------------------------- outputs
def test_every_head_matches_fastmlp(subtests):
    """Every loss and output head, float32 and float64, float and uint8 inputs: the exported model's outputs are
    fastmlp's (a table of cases, one subtest each)."""
    for loss, output, n_out, dtype, uint8 in HEAD_CASES:
        with subtests.test(loss=loss, output=f"{output}{n_out}", dtype=dtype, uint8=uint8):
            sizes = (N_IN, n_out) if (loss, n_out) == ("mse", 4) else (N_IN, 9, n_out)  # one net without hidden layer
            net = make_net(sizes, loss, output, dtype)
            sess = session(to_onnx(net, input_dtype="uint8" if uint8 else None))
            X = clear_inputs(net, max(SAMPLE_COUNTS), dtype, uint8)
            for n in SAMPLE_COUNTS:
                assert_same(net, sess, X[:n])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multilabel_labels_each_unit_above_one_half(dtype):
    net = make_net((N_IN, 9, 3), "sigmoid_cross_entropy", "sigmoid", dtype)
    X = clear_inputs(net, 500, dtype, False, multilabel=True)
    label, proba = session(to_onnx(net, multilabel=True)).run(["label", "probabilities"], {"input": X})
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=0, atol=TOLERANCE[dtype])
    np.testing.assert_array_equal(label, (net.predict_proba(X) > 0.5).astype(np.int64))
    assert label.shape == (500, 3) and 0 < label.sum() < label.size


def test_every_hidden_activation_matches_fastmlp(subtests):
    """Every hidden activation exports as its ONNX operator and gives fastmlp's outputs (one subtest each)."""
    for activation in ACTIVATIONS:
        for dtype, uint8 in (("float32", True), ("float64", False)):
            with subtests.test(activation=activation, dtype=dtype, uint8=uint8):
                net = make_net((N_IN, 10, 7, 5), "softmax_cross_entropy", "softmax", dtype, activation)
                model = to_onnx(net, input_dtype="uint8" if uint8 else None)
                ops = {node.op_type for node in model.graph.node}
                expected = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}.get(activation)
                assert (expected in ops) if expected else not ops & {"Sigmoid", "Tanh", "Relu"}
                sess = session(model)
                X = clear_inputs(net, max(SAMPLE_COUNTS), dtype, uint8)
                for n in SAMPLE_COUNTS:
                    assert_same(net, sess, X[:n])


@pytest.mark.parametrize("head, classes", [
    (("softmax_cross_entropy", "softmax", 4), ["ankle boot", "bag", "coat", "dress"]),
    (("softmax_cross_entropy", "softmax", 4), [3, 5, 7, 11]),
    (("sigmoid_cross_entropy", "sigmoid", 1), ["no", "yes"]),
    (("mse", "sigmoid", 3), [0.5, 1.5, 2.5]),
])
def test_labels_are_the_given_classes(head, classes):
    loss, output, n_out = head
    net = make_net((N_IN, 9, n_out), loss, output, "float32")
    X = clear_inputs(net, 500, "float32", False)
    label, proba = session(to_onnx(net, classes=classes)).run(["label", "probabilities"], {"input": X})
    np.testing.assert_array_equal(label, np.asarray(classes)[net.predict(X)])
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=0, atol=TOLERANCE["float32"])


# ------------------------------------------------------------------------------------------- the graph
def test_graph_structure_names_opset_and_batch_dimension(tmp_path):
    net = make_net((N_IN, 9, 4), "softmax_cross_entropy", "softmax", "float32")
    path = tmp_path / "net.onnx"
    model = net.to_onnx(path, input_dtype="uint8")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert onnx.load(str(path)) == model
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    graph = model.graph
    assert [value.name for value in graph.input] == ["input"]
    assert [value.name for value in graph.output] == ["label", "probabilities"]
    dims = {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in [*graph.input, *graph.output]}
    assert dims == {"input": ["N", N_IN], "label": ["N"], "probabilities": ["N", 4]}
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [node.op_type for node in graph.node] == ["Cast", "Mul", "MatMul", "Add", "Sigmoid", "MatMul", "Add",
                                                     "Softmax", "Identity", "ArgMax", "Identity"]
    shapes = sorted(tuple(init.dims) for init in graph.initializer)
    assert shapes == sorted([(), (N_IN, 9), (9,), (9, 4), (4,)])  # () is the 1/255 scale
    weights = {tuple(i.dims): onnx.numpy_helper.to_array(i) for i in graph.initializer}
    np.testing.assert_array_equal(weights[(N_IN, 9)], net.thetas()[0][:, :-1].T)


def test_input_dtype_follows_the_training_data():
    net = make_net((N_IN, 4, 3), "softmax_cross_entropy", "softmax", "float64")
    elem = onnx.TensorProto
    assert to_onnx(net).graph.input[0].type.tensor_type.elem_type == elem.DOUBLE
    net.input_dtype_ = "uint8"  # what a model trained on uint8 images records
    assert to_onnx(net).graph.input[0].type.tensor_type.elem_type == elem.UINT8
    net.input_dtype_ = "float32"  # float data: the model's own dtype
    assert to_onnx(net).graph.input[0].type.tensor_type.elem_type == elem.DOUBLE
    model = to_onnx(net, input_dtype="float32", opset=MIN_OPSET)  # cast to float64 inside the graph
    X = make_inputs(50, "float32", False)
    (proba,) = session(model).run(["probabilities"], {"input": X})
    np.testing.assert_allclose(proba, net.predict_proba(X), rtol=0, atol=TOLERANCE["float64"])


@pytest.mark.parametrize("options, error, message", [
    (dict(classes=[0, 1]), ValueError, "classes must be a list of 3 labels"),
    (dict(classes=["a", "a", "b"]), ValueError, "distinct"),
    (dict(classes=[None, 1, 2]), TypeError, "integers, floats or strings"),
    (dict(input_dtype="int32"), ValueError, "input_dtype must be one of"),
    (dict(opset=9), ValueError, "opset must be an integer from 13"),
])
def test_bad_options(options, error, message):
    net = make_net((N_IN, 4, 3), "softmax_cross_entropy", "softmax", "float32")
    with pytest.raises(error, match=message):
        to_onnx(net, **options)


def test_bad_networks():
    with pytest.raises(TypeError, match="expected a fastmlp.MLP"):
        to_onnx(object())
    with pytest.raises(ValueError, match="classes are for classifiers"):
        to_onnx(make_net((N_IN, 2), "mse", "identity", "float32"), classes=[0, 1])


# ------------------------------------------------------------------------------------------- the command
def test_export_command(capsys, tmp_path):
    net = make_net((N_IN, 6, 3), "softmax_cross_entropy", "softmax", "float32")
    net.save(tmp_path / "net.npz")
    code = main(["export", str(tmp_path / "net.npz"), str(tmp_path / "net.onnx"), "--input-dtype", "uint8",
                 "--classes", "cat,dog,bird"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out == (f"wrote {tmp_path / 'net.onnx'}: input (N, {N_IN}) uint8, outputs label (N,), probabilities "
                   f"(N, 3); opset {OPSET}\n")
    X = make_inputs(100, "float32", True)
    (label,) = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"]).run(
        ["label"], {"input": X})
    expected = np.array(["cat", "dog", "bird"])[fastmlp.load(tmp_path / "net.npz").predict(X)]
    np.testing.assert_array_equal(label, expected)


def _onnx_labels(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["label"], {"input": X})[0]


def test_export_gives_the_labels_the_model_file_names(capsys, tmp_path):
    """By default the label output gives the class names a model (file) keeps, and a scikit-learn estimator's
    file exports as the estimator exports itself: its labels (integers stay integers), multilabel 0/1 rows,
    uint8 read as numbers. They gave indices, argmaxes and x / 255 before."""
    net = make_net((N_IN, 6, 3), "softmax_cross_entropy", "softmax", "float32")
    net.class_names = ["cat", "dog", "bird"]
    net.save(tmp_path / "named.npz")
    assert main(["export", str(tmp_path / "named.npz"), str(tmp_path / "named.onnx")]) == 0
    X = make_inputs(100, "float32", False)
    np.testing.assert_array_equal(_onnx_labels(tmp_path / "named.onnx", X), np.array(net.class_names)[net.predict(X)])
    net.to_onnx(tmp_path / "api.onnx")  # the Python API too
    np.testing.assert_array_equal(_onnx_labels(tmp_path / "api.onnx", X), np.array(net.class_names)[net.predict(X)])

    rng = np.random.default_rng(0)
    X = rng.integers(0, 8, (200, N_IN)).astype(np.uint8)  # small numbers: x / 255 changed a third of the labels
    targets = {"binary": np.where(X[:, 0] > 3, 7, 3), "multilabel": np.c_[X[:, 0] > 3, X[:, 1] > 3, X[:, 2] > 1]}
    for kind, y in targets.items():
        classifier = MLPClassifier(hidden_layer_sizes=(6,), learning_rate_init=0.01, max_iter=50,
                                   n_iter_no_change=np.inf, random_state=0)
        with pytest.warns(ConvergenceWarning):
            classifier.fit(X, y)
        fastmlp.save(classifier, tmp_path / f"{kind}.npz")
        assert main(["export", str(tmp_path / f"{kind}.npz"), str(tmp_path / f"{kind}.onnx"), "--input-dtype",
                     "uint8"]) == 0
        labels = _onnx_labels(tmp_path / f"{kind}.onnx", X)
        np.testing.assert_array_equal(labels, classifier.predict(X))
        assert labels.dtype == np.int64 and len(np.unique(labels)) == 2
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    (["MODEL", "out.txt"], "the output must end in .onnx"),
    (["missing.npz", "out.onnx"], "No such file"),
    (["MODEL", "out.onnx", "--classes", "a,b"], "--classes gives 2 labels; this network needs 3"),
    (["MODEL", "out.onnx", "--classes", "a,a,b"], "--classes must be distinct"),
    (["MODEL", "out.onnx", "--opset", "5"], "--opset must be an integer from"),
])
def test_export_errors_are_one_line(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    make_net((N_IN, 6, 3), "softmax_cross_entropy", "softmax", "float32").save("model.npz")
    code = main(["export", *[arg.replace("MODEL", "model.npz") for arg in args]])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("fastmlp export: error: ") and message in err, err


def test_export_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "examples:" in out and "fastmlp export model.npz model.onnx" in out


# ------------------------------------------------------------------------------------------- skl2onnx
class StandInClassifier(ClassifierMixin, BaseEstimator):
    """A minimal scikit-learn classifier around an MLP: fitted ``model_`` and ``classes_``, as fastmlp's own."""

    def __init__(self, dtype="float32"):
        self.dtype = dtype

    def fit(self, X, y):
        self.classes_, encoded = np.unique(y, return_inverse=True)
        binary = self.classes_.size == 2
        self.model_ = MLP([X.shape[1], 8, 1 if binary else self.classes_.size], dtype=self.dtype, random_state=0,
                          loss="sigmoid_cross_entropy" if binary else "softmax_cross_entropy")
        self.model_.fit(X, encoded, epochs=30, batch_size=16, learning_rate=0.5)
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.model_.predict(X)]


class StandInRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        self.model_ = MLP([X.shape[1], 8, n_targets], loss="mse", output="identity", random_state=0)
        self.model_.fit(X, y, epochs=30, batch_size=16, learning_rate=0.05)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def blobs(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (n_classes, 5))
    y = rng.integers(0, n_classes, 400)
    return (centres[y] + rng.normal(0, 1, (400, 5)) + 10).astype(np.float32), y  # +10: the scaler has work to do


@pytest.mark.parametrize("n_classes, labels, dtype", [(3, ["setosa", "versicolor", "virginica"], "float32"),
                                                      (2, [-1, 1], "float64")])
def test_skl2onnx_pipeline_classifier(n_classes, labels, dtype):
    register_skl2onnx(StandInClassifier)
    X, y = blobs(n_classes)
    y = np.asarray(labels)[y]
    pipe = make_pipeline(StandardScaler(), StandInClassifier(dtype=dtype)).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1])
    onnx.checker.check_model(model)
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    label, proba = sess.run(names, {sess.get_inputs()[0].name: X})
    assert names == ["label", "probabilities"]
    np.testing.assert_array_equal(label, pipe.predict(X))
    # The scaler runs in float32 in the graph and in float64 in scikit-learn: agreement to float32 rounding.
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_skl2onnx_pipeline_regressor(n_targets):
    from sklearn.neural_network import MLPRegressor

    register_skl2onnx(StandInRegressor)
    X, _ = blobs(3)
    target = X[:, 0] - 2 * X[:, 1]
    if n_targets == 2:
        target = np.c_[target, X[:, 2]]
    pipe = make_pipeline(StandardScaler(), StandInRegressor()).fit(X, target)
    sess = session(skl2onnx.to_onnx(pipe, X[:1]))
    (predictions,) = sess.run(None, {sess.get_inputs()[0].name: X})
    # One column per target, even for a 1-D target, as skl2onnx converts scikit-learn's own regressor (whose
    # several targets skl2onnx 1.20 flattens into one column of 2N rows, so only one target is compared).
    assert predictions.shape == (len(X), n_targets)
    if n_targets == 1:
        with pytest.warns(ConvergenceWarning):
            theirs = make_pipeline(StandardScaler(), MLPRegressor(max_iter=2, random_state=0)).fit(X, target)
        reference = session(skl2onnx.to_onnx(theirs, X[:1]))
        assert reference.run(None, {reference.get_inputs()[0].name: X})[0].shape == predictions.shape
    np.testing.assert_allclose(predictions, pipe.predict(X).reshape(len(X), n_targets), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------------------- benchmark peer
def test_onnxruntime_bench_peer_predicts_fastmlps_labels():
    from fastmlp.bench.peers import ALL_THREADS, ONE_THREAD, OnnxRuntime, available_prediction_peers

    (peer,) = available_prediction_peers(["ort"])
    assert isinstance(peer, OnnxRuntime) and available_prediction_peers(["numpy"]) == []
    net = make_net((N_IN, 9, 4), "softmax_cross_entropy", "softmax", "float32")
    sessions = peer.from_fastmlp(net)
    assert sessions[ONE_THREAD].get_session_options().intra_op_num_threads == 1
    assert sessions[ALL_THREADS].get_session_options().intra_op_num_threads == os.cpu_count()
    X = clear_inputs(net, 1000, "float32", True)
    data = peer.prepare(X, np.zeros(1000, np.int64), "float32", "softmax_cross_entropy")
    for variant in peer.variants:
        np.testing.assert_array_equal(peer.predict(sessions, data, variant), net.predict(X))
