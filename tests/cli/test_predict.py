"""fastmlp.cli.predict: labels and probabilities as CSV, .npy or on stdout, from any input format."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp.datasets import load

from child_env import child_env
from cli_calls import call
from markers import needs_compiled_kernels


def test_predict_every_output_form(capsys, tmp_path, tiny_images, tiny_model):
    """Labels and probabilities of a dataset's test split or of a file, as CSV on stdout or in a file, or .npy."""
    net = fastmlp.load(tiny_model)
    X = load(tiny_images).test[0]
    code, out, _ = call(capsys, "predict", tiny_model, tiny_images, "--proba")
    rows = out.splitlines()
    assert code == 0 and rows[0] == "label,p0,p1,p2" and len(rows) == 13
    table = np.array([row.split(",") for row in rows[1:]], dtype=float)
    np.testing.assert_array_equal(table[:, 0], net.predict(X))
    np.testing.assert_allclose(table[:, 1:], net.predict_proba(X), rtol=1e-5)
    np.save(tmp_path / "samples.npy", X[:5])
    code, _, err = call(capsys, "predict", tiny_model, tmp_path / "samples.npy", "-o", tmp_path / "labels.npy")
    assert code == 0 and "wrote labels of 5 samples" in err
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), net.predict(X[:5]))
    code, _, err = call(capsys, "predict", tiny_model, tmp_path / "samples.npy", "--proba", "-o", tmp_path / "p.csv")
    assert code == 0 and "wrote probabilities of 5 samples" in err
    written = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(written[:, 1:], net.predict_proba(X[:5]), rtol=1e-5)


@pytest.mark.parametrize("n_out, header", [(2, "output0,output1"), (1, "prediction")])
def test_regression_outputs_are_columns_of_values(capsys, tmp_path, n_out, header):
    """An identity-output model's predictions are its outputs, one column each, written as numbers (a single
    output was cut to whole labels), and evaluate calls its score R^2."""
    path = tmp_path / "regression.npz"
    net = fastmlp.MLP([2, 3, n_out], loss="mse", output="identity", random_state=0)
    net.save(path)
    code, out, _ = call(capsys, "predict", path, "xor")
    rows = out.splitlines()
    assert code == 0 and rows[0] == header and len(rows) == 5
    values = np.array([row.split(",") for row in rows[1:]], dtype=float).reshape(4, -1)
    np.testing.assert_allclose(values, net.predict(load("xor").test[0]).reshape(4, -1), rtol=1e-5)
    assert not np.array_equal(values, np.round(values))
    code, out, _ = call(capsys, "evaluate", path, "xor")
    assert code == 0 and "test split: R^2 " in out


@needs_compiled_kernels
def test_predict_to_csv_npy_and_stdout(capsys, tmp_path, digits_model):
    net = fastmlp.load(digits_model)
    X = fastmlp.datasets.load("digits").test[0]
    np.save(tmp_path / "samples.npy", X[:20])
    expected = net.predict(X[:20])
    code, _, err = call(capsys, "predict", digits_model, tmp_path / "samples.npy", "-o", tmp_path / "labels.csv")
    assert code == 0 and "wrote labels of 20 samples" in err
    table = np.loadtxt(tmp_path / "labels.csv", delimiter=",", skiprows=1, dtype=np.int64)
    assert (tmp_path / "labels.csv").read_text().startswith("label\n")
    np.testing.assert_array_equal(table, expected)

    code, _, _ = call(capsys, "predict", digits_model, tmp_path / "samples.npy", "--proba", "-o", tmp_path / "p.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), net.predict_proba(X[:20]))

    code, out, _ = call(capsys, "predict", digits_model, "digits", "--proba")
    rows = out.splitlines()
    assert code == 0 and rows[0] == "label," + ",".join(f"p{j}" for j in range(10)) and len(rows) == 360
    proba = np.array([row.split(",") for row in rows[1:]], dtype=float)
    np.testing.assert_array_equal(proba[:, 0], net.predict(X))
    np.testing.assert_allclose(proba[:, 1:].sum(axis=1), 1, atol=1e-4)


@needs_compiled_kernels
def test_predict_idx_images(capsys, idx_dir, fashion_model):
    images = idx_dir / "t10k-images-idx3-ubyte.gz"
    code, out, _ = call(capsys, "predict", fashion_model, images)
    labels = np.array(out.split()[1:], dtype=np.int64)
    assert code == 0 and labels.shape == (500,)
    np.testing.assert_array_equal(labels, fastmlp.load(fashion_model).predict(fastmlp.datasets.read_features(images)))

    # A reader that stops early (| head): no traceback, no error message.
    child = subprocess.Popen([sys.executable, "-m", "fastmlp", "predict", str(fashion_model), "fashion-mnist",
                              "--proba"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    assert child.stdout.readline().startswith("label,p0")
    child.stdout.close()
    errors = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=120) == 1 and errors == ""


@needs_compiled_kernels
def test_output_must_be_csv_or_npy(capsys, tmp_path, digits_model):
    code, _, err = call(capsys, "predict", digits_model, "digits", "-o", tmp_path / "out.txt")
    assert code == 1 and "must end in .csv or .npy" in err


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_with_an_estimators_file_gives_its_labels(capsys, tmp_path, n_classes):
    """A file saved from fastmlp.sklearn.MLPClassifier: predict writes the estimator's labels beside the indices
    and reads uint8 samples as numbers, as the estimator does (read as x / 255, 58% of the labels differed here
    for two classes, 71% for three)."""
    sklearn = pytest.importorskip("fastmlp.sklearn")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (300, 4)).astype(np.uint8)
    y = np.array(["ant", "bee", "cat"])[X[:, 0].astype(int) * n_classes // 256]
    classifier = sklearn.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=100,
                                       n_iter_no_change=np.inf, random_state=0)
    with warnings.catch_warnings():  # 100 epochs tell the classes apart, but do not converge
        warnings.simplefilter("ignore", pytest.importorskip("sklearn.exceptions").ConvergenceWarning)
        classifier.fit(X, y)
    fastmlp.save(classifier, tmp_path / "classifier.npz")
    np.save(tmp_path / "samples.npy", X)
    code, out, _ = call(capsys, "predict", tmp_path / "classifier.npz", tmp_path / "samples.npy")
    rows = [row.split(",") for row in out.splitlines()]
    assert code == 0 and rows[0] == ["label", "class"]
    assert [row[1] for row in rows[1:]] == classifier.predict(X).tolist()
    assert len({row[1] for row in rows[1:]}) == n_classes
    # Probability columns by label, as classes_ orders predict_proba's (two for the binary classifier's one unit).
    code, out, _ = call(capsys, "predict", tmp_path / "classifier.npz", tmp_path / "samples.npy", "--proba")
    table = [row.split(",") for row in out.splitlines()]
    assert code == 0 and table[0] == ["label", "class"] + [f"p_{label}" for label in classifier.classes_]
    np.testing.assert_allclose(np.array([row[2:] for row in table[1:]], float), classifier.predict_proba(X),
                               rtol=1e-5)
    # Labels 0, 1, ... are their own names: no second column that repeats them.
    numbered = classifier.classes_.searchsorted(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.importorskip("sklearn.exceptions").ConvergenceWarning)
        fastmlp.save(classifier.fit(X, numbered), tmp_path / "numbered.npz")
    code, out, _ = call(capsys, "predict", tmp_path / "numbered.npz", tmp_path / "samples.npy")
    rows = [row.split(",") for row in out.splitlines()]
    assert code == 0 and rows[0] == ["label"] and [int(row[0]) for row in rows[1:]] == classifier.predict(X).tolist()


def test_a_multilabel_classifiers_file_predicts_each_label_and_is_not_evaluated_on_one(capsys, tmp_path):
    """A fastmlp.sklearn classifier fitted on a 0/1 label matrix: predict writes its 0 or 1 per label, as the
    estimator predicts (the network alone would write the largest output's index), and evaluate, whose datasets
    hold one label per sample, says so instead of scoring an argmax the estimator never makes."""
    sklearn = pytest.importorskip("fastmlp.sklearn")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5]).astype(np.int64)
    classifier = sklearn.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=100,
                                       n_iter_no_change=np.inf, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.importorskip("sklearn.exceptions").ConvergenceWarning)
        classifier.fit(X, Y)
    model = tmp_path / "multilabel.npz"
    fastmlp.save(classifier, model)
    np.save(tmp_path / "samples.npy", X)
    code, out, _ = call(capsys, "predict", model, tmp_path / "samples.npy", "--proba")
    table = [row.split(",") for row in out.splitlines()]
    assert code == 0 and table[0] == ["label0", "label1", "label2", "p0", "p1", "p2"]
    predicted = np.array([row[:3] for row in table[1:]], np.int64)
    np.testing.assert_array_equal(predicted, classifier.predict(X))
    assert 0 < predicted.sum(axis=1).mean() < 3  # rows with several labels and with none: no argmax
    np.testing.assert_allclose(np.array([row[3:] for row in table[1:]], float), classifier.predict_proba(X),
                               rtol=1e-5)

    np.savez(tmp_path / "data.npz", X=X, y=Y[:, 0])
    code, out, err = call(capsys, "evaluate", model, tmp_path / "data.npz")
    assert code == 1 and out == "" and "multilabel classifier" in err and "Traceback" not in err


def test_a_csv_label_column_by_another_name_is_named_in_the_error(capsys, tmp_path):
    """The file `fastmlp train FILE --label-column species` trained on: without the option, predict's error says
    how to drop that column; with it, the column is dropped."""
    data = tmp_path / "flowers.csv"
    data.write_text("a,b,species\n" + "".join(f"{i % 3},{i % 5},{'xy'[i % 2]}\n" for i in range(20)))
    model = tmp_path / "flowers.npz"
    fastmlp.MLP([2, 3, 2], random_state=0).save(model)
    code, out, err = call(capsys, "predict", model, data)
    assert code == 1 and out == ""
    assert "if that column holds the labels, name it with --label-column" in err and err.count("\n") == 1
    code, out, err = call(capsys, "predict", model, data, "--label-column", "species")
    assert code == 0, err
    assert len(out.splitlines()) == 21
