"""fastmlp.cli.evaluate: accuracy and loss of a saved model on a split, its plots, and bad models or data."""

from __future__ import annotations

import csv
import io
import re
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp.cli.evaluate import mean_loss
from fastmlp.datasets import load

from cli_calls import call
from markers import needs_compiled_kernels


def test_evaluate_reports_score_and_loss(capsys, tmp_path, tiny_images, tiny_model):
    net = fastmlp.load(tiny_model)
    data = load(tiny_images)
    code, out, err = call(capsys, "evaluate", tiny_model, tiny_images)
    assert code == 0, err
    found = re.search(r"\(16-4-3\) on .* test split: accuracy (\S+), loss (\S+) \(12 samples\)", out)
    assert found, out
    X, y = data.test
    assert float(found.group(1)) == pytest.approx(net.score(X, y), abs=1e-4)
    loss = float(found.group(2))
    assert loss == pytest.approx(net.loss_and_gradients(X, y)[0], abs=1e-4)
    assert loss == pytest.approx(mean_loss(net, X, y), abs=1e-4)
    code, out, _ = call(capsys, "evaluate", tiny_model, tiny_images, "--split", "train",
                        "--plot-weights", tmp_path / "w.png", "--plot-predictions", tmp_path / "p.png")
    assert code == 0 and "train split" in out and "(30 samples)" in out and out.count("wrote ") == 2
    image = pytest.importorskip("matplotlib.image")
    assert image.imread(tmp_path / "w.png").shape[:2] == (250, 250)  # 4 units: a 2x2 grid


def test_plots_need_images_and_a_hidden_layer(capsys, tmp_path, tiny_images):
    xor = tmp_path / "xor.npz"
    fastmlp.MLP([2, 3, 2], random_state=0).save(xor)
    code, _, err = call(capsys, "evaluate", xor, "xor", "--plot-weights", tmp_path / "w.png")
    assert code == 1 and "need image data" in err
    flat = tmp_path / "flat.npz"
    fastmlp.MLP([16, 3], random_state=0).save(flat)
    code, _, err = call(capsys, "evaluate", flat, tiny_images, "--plot-weights", tmp_path / "w.png")
    assert code == 1 and "needs a hidden layer" in err


@needs_compiled_kernels
def test_evaluate_a_saved_model(capsys, digits_model):
    code, out, err = call(capsys, "evaluate", digits_model, "digits")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\S+),", out).group(1))
    net = fastmlp.load(digits_model)
    (_, _), (X_test, y_test) = fastmlp.datasets.load("digits")
    assert accuracy == pytest.approx(net.score(X_test, y_test), abs=1e-4)
    assert accuracy > 0.9 and "359 samples" in out and "64-64-10" in out
    assert net.class_names is None  # digits' names "0" to "9" only spell out the labels: not kept
    code, out, _ = call(capsys, "evaluate", digits_model, "digits", "--split", "train")
    assert code == 0 and "1,438 samples" in out


@needs_compiled_kernels
def test_evaluate_images_with_plots(capsys, tmp_path, idx_dir, fashion_model):
    code, out, err = call(capsys, "evaluate", fashion_model, "fashion-mnist", "--data-dir", idx_dir,
                          "--plot-weights", tmp_path / "w.png", "--plot-predictions", tmp_path / "p.png")
    assert code == 0, err
    assert "on fashion-mnist test split" in out and "(500 samples)" in out and out.count("wrote ") == 2
    image = pytest.importorskip("matplotlib.image")
    assert image.imread(tmp_path / "w.png").shape[:2] == (350, 350)  # 8 units: a 3x3 grid
    assert image.imread(tmp_path / "p.png")[..., :3].var() > 1e-4


@needs_compiled_kernels
def test_bad_model_and_data(capsys, tmp_path, digits_model):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    code, _, err = call(capsys, "evaluate", bad, "digits")
    assert code == 1 and err.startswith("fastmlp evaluate: error: ") and err.count("\n") == 1
    code, _, err = call(capsys, "evaluate", digits_model, "xor")  # 2 features for a 64-input model
    assert code == 1 and "2 features" in err and "64" in err


def test_text_labels_keep_their_numbers_from_train_to_evaluate_and_predict(capsys, tmp_path):
    """The model file keeps a CSV file's class names: evaluating on a file that lacks a class numbers the
    others as training did (they shifted down one, and the accuracy fell from 0.958 to 0.025 in an audit),
    predict writes each label's name beside it, and an unknown name is an error."""
    rng = np.random.default_rng(0)
    names = ["iris, white", "setosa", "virginica"]
    y = rng.integers(0, 3, 300)
    X = rng.normal(size=(300, 3)) + 3 * y[:, None]

    def write(path, rows):
        path.write_text("a,b,c,species\n" + "".join(
            ",".join(f"{v:.4f}" for v in X[i]) + f',"{names[y[i]]}"\n' for i in rows))
        return path

    every, later = write(tmp_path / "all.csv", range(300)), write(tmp_path / "later.csv", np.flatnonzero(y > 0))
    model = tmp_path / "m.npz"
    code, _, err = call(capsys, "train", every, "--label-column", "species", "--epochs", "20", "--lr", "0.5",
                        "--save", model, "-q")
    assert code == 0, err
    net = fastmlp.load(model)
    assert net.class_names == tuple(names)
    code, out, err = call(capsys, "evaluate", model, later, "--label-column", "species", "--test-fraction", "0.5")
    assert code == 0 and err == ""
    data = load(later, label_column="species", test_fraction=0.5)  # numbered 0, 1 by its own two names
    X_test, y_test = data.test
    accuracy = float(re.search(r"accuracy (\S+),", out).group(1))
    assert accuracy == pytest.approx(net.score(X_test, y_test + 1), abs=1e-4) and accuracy > 0.9

    code, out, _ = call(capsys, "predict", model, later, "--label-column", "species", "--proba")
    rows = list(csv.reader(io.StringIO(out)))
    header = ["label", "class"] + [f"p_{name}" for name in names]  # "p_iris, white" quoted, read back whole
    assert code == 0 and rows[0] == header and len(rows) == 1 + (y > 0).sum()
    labels = net.predict(X[y > 0])
    assert [int(row[0]) for row in rows[1:]] == labels.tolist()
    assert [row[1] for row in rows[1:]] == [names[label] for label in labels]

    unnamed = tmp_path / "unnamed.npz"
    net.class_names = None
    net.save(unnamed)
    code, _, err = call(capsys, "evaluate", unnamed, later, "--label-column", "species")
    assert code == 0 and "does not name its classes" in err
    (tmp_path / "other.csv").write_text("a,b,c,species\n1,2,3,rose\n1,2,3,setosa\n")
    code, _, err = call(capsys, "evaluate", model, tmp_path / "other.csv", "--label-column", "species")
    assert code == 1 and "label 'rose' is not among the model's classes" in err


def test_an_estimators_file_is_scored_on_its_own_labels(capsys, tmp_path):
    """A fastmlp.sklearn classifier fitted on labels 3 and 7 is evaluated on data labelled 3 and 7, as its own
    score is (read as indices, they failed as targets out of range); a label it never saw is named."""
    sklearn = pytest.importorskip("fastmlp.sklearn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, 7, 3)
    classifier = sklearn.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=100,
                                       n_iter_no_change=np.inf, random_state=0)
    with warnings.catch_warnings():  # 100 epochs tell the classes apart, but do not converge
        warnings.simplefilter("ignore", pytest.importorskip("sklearn.exceptions").ConvergenceWarning)
        classifier.fit(X[:300], y[:300])
    fastmlp.save(classifier, tmp_path / "classifier.npz")
    np.savez(tmp_path / "data.npz", X_train=X[:300], y_train=y[:300], X_test=X[300:], y_test=y[300:])
    code, out, err = call(capsys, "evaluate", tmp_path / "classifier.npz", tmp_path / "data.npz")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\S+),", out).group(1))
    assert accuracy == pytest.approx(classifier.score(X[300:], y[300:]), abs=1e-4) and accuracy > 0.8
    np.savez(tmp_path / "other.npz", X_train=X, y_train=y, X_test=X[:3], y_test=np.array([3, 5, 7]))
    code, _, err = call(capsys, "evaluate", tmp_path / "classifier.npz", tmp_path / "other.npz")
    assert code == 1 and "label(s) 5 not among the classifier's labels 3, 7" in err
