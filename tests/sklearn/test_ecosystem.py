"""fastmlp.sklearn among scikit-learn's tools: pipelines, grid search on process workers, cross-validation,
clone, pickle and fastmlp's own files; class weights and early stopping on problems made for them."""

from __future__ import annotations

import importlib.util
import json
import pickle
import warnings
from pathlib import Path

import joblib
import numba
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp.bench import main as bench_main
from fastmlp.bench.sklearn_compare import CONFIGS, FASHION, speed_rows
from fastmlp.sklearn import MLPClassifier, MLPRegressor

#: Training runs as plain Python under NUMBA_DISABLE_JIT=1 (the coverage run): far too slow for these.
pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: training is too slow")


class ThreadRecordingClassifier(MLPClassifier):
    """Remembers the Numba thread count its fit ran with (what fastmlp's training team uses)."""

    def fit(self, X, y, sample_weight=None):
        self.numba_threads_ = numba.get_num_threads()
        return super().fit(X, y, sample_weight)


def threads_of_fit(pipeline, X, y) -> float:
    """A scorer: the thread count the pipeline's classifier was fitted with, in the worker that fitted it."""
    return float(pipeline[-1].numba_threads_)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _pipeline(**params):
    kw = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300, random_state=0)
    return make_pipeline(StandardScaler(), ThreadRecordingClassifier(**kw | params))


def test_grid_search_on_two_process_workers_keeps_the_thread_budget(iris):
    X, y = iris
    search = GridSearchCV(_pipeline(), {"threadrecordingclassifier__alpha": [1e-4, 1e-2],
                                        "threadrecordingclassifier__hidden_layer_sizes": [(8,), (16,)]},
                          cv=3, n_jobs=2, scoring={"accuracy": "accuracy", "threads": threads_of_fit},
                          refit="accuracy")
    with warnings.catch_warnings():  # the refit of the best pipeline runs in this process
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    # joblib's loky workers set NUMBA_NUM_THREADS to their share of the cores, and fit trains on
    # Numba's thread count: 2 workers x 1 thread on a 2-core machine, not 2 x 2.
    share = max(joblib.cpu_count() // 2, 1)
    np.testing.assert_array_equal(search.cv_results_["mean_test_threads"], share)
    assert search.best_score_ > 0.9
    assert search.best_estimator_[-1].classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert search.predict(X[:3]).tolist() == ["setosa"] * 3


def test_cross_val_score_and_clone(iris):
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                                             max_iter=300, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X, y, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.9
    copy = clone(pipeline[-1].set_params(alpha=0.5))
    assert copy.get_params() == pipeline[-1].get_params() and not hasattr(copy, "model_")


def test_pickle_and_fastmlp_files_give_the_same_predictions(iris, tmp_path):
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                                                             max_iter=50, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X, y)
    expected = pipeline.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipeline)).predict_proba(X), expected)
    path = tmp_path / "classifier.npz"
    fastmlp.save(pipeline[-1], path)  # the safe format holds the estimator, not the scaler
    loaded = fastmlp.load(path)
    assert type(loaded) is MLPClassifier and loaded.get_params() == pipeline[-1].get_params()
    np.testing.assert_array_equal(loaded.predict_proba(pipeline[0].transform(X)), expected)
    np.testing.assert_array_equal(loaded.classes_, pipeline[-1].classes_)


def test_multi_output_regression_in_a_pipeline():
    X, Y = make_regression(n_samples=200, n_features=6, n_targets=3, noise=1.0, random_state=0)
    pipeline = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                                            max_iter=500, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X, Y / Y.std(axis=0), cv=3)
    assert scores.mean() > 0.9


def test_partial_fit_in_batches_with_classes(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    order = np.random.default_rng(0).permutation(len(y))
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    for epoch in range(60):
        for batch in np.array_split(order, 5):
            clf.partial_fit(X[batch], y[batch], classes=np.unique(y) if epoch == 0 else None)
    assert clf.score(X, y) > 0.9 and len(clf.loss_curve_) == 300


def test_balanced_class_weight_favours_the_rare_class():
    X, y = make_classification(n_samples=600, n_features=5, weights=[0.9], flip_y=0.05, class_sep=0.5,
                               random_state=0)
    kw = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**kw).fit(X, y)
        balanced = MLPClassifier(**kw, class_weight="balanced").fit(X, y)
    rare_plain, rare_balanced = recall_score(y, plain.predict(X)), recall_score(y, balanced.predict(X))
    assert rare_balanced > rare_plain + 0.1
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_early_stopping_restores_the_best_weights():
    X, y = make_classification(n_samples=300, n_features=10, flip_y=0.2, random_state=1)
    kw = dict(hidden_layer_sizes=(64,), learning_rate_init=0.02, early_stopping=True, n_iter_no_change=5,
              max_iter=200, random_state=0)
    restored = MLPClassifier(**kw).fit(X, y)
    kept = MLPClassifier(**kw, restore_best_weights=False).fit(X, y)
    scores = restored.validation_scores_
    assert scores == kept.validation_scores_ and restored.n_iter_ < 200
    best = int(np.argmax(scores)) + 1  # the first epoch with the best score
    assert best < restored.n_iter_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        until_best = MLPClassifier(**kw | dict(max_iter=best), restore_best_weights=False).fit(X, y)
    for restored_layer, best_layer in zip(restored.coefs_, until_best.coefs_):
        np.testing.assert_array_equal(restored_layer, best_layer)
    assert not np.array_equal(kept.coefs_[0], restored.coefs_[0])


def test_bench_sklearn_quick_run_and_its_table(tmp_path):
    path = tmp_path / "sklearn.json"
    assert bench_main(["--sklearn", "--quick", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert [(row["activation"], row["solver"]) for row in result["rows"]] == CONFIGS
    for row in result["rows"]:
        ours, theirs = row["fastmlp"], row["scikit-learn"]
        # iris's 150 samples in 5 folds, each tested once; one seed in the quick run.
        assert row["dataset"] == "iris" and row["n_splits"] == 5 and sum(row["n_test"]) == 150
        assert 0 <= ours["mean_accuracy"] <= 1 and min(theirs["samples_per_s"][0]) > 0
        assert row["gap_points"] == pytest.approx(100 * (ours["mean_accuracy"] - theirs["mean_accuracy"]))
        gaps = [100 * (a - b) for a, b in zip(ours["accuracy"][0], theirs["accuracy"][0])]
        assert row["gaps_points"] == pytest.approx(gaps)
        assert row["gap_standard_error_points"] == pytest.approx(np.std(gaps, ddof=1) / np.sqrt(5))
    # The speed columns: shares of the roofline's samples/s and the ratio it allows over scikit-learn.
    speed = {"roofline": {"samples_per_s": 800e3}, "rows": [
        {"dataset": FASHION, "activation": "relu", "solver": "adam", "epochs": 3, "speed_ratio": 80 / 24,
         "fastmlp": {"median_samples_per_s": 80e3}, "scikit-learn": {"median_samples_per_s": 24e3},
         "matmul_flops_after": 2.3e11}]}
    assert speed_rows(speed)[1][-5:] == ["3.33x", "10%", "3%", "33.3x", "230 GFLOP/s"]
    script = Path(__file__).resolve().parents[2] / "scripts" / "sklearn_table.py"
    spec = importlib.util.spec_from_file_location("sklearn_table", script)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    page = tmp_path / "sklearn.md"
    page.write_text(f"Intro.\n{table.BEGIN}\nstale\n{table.END}\nAfter.\n")
    assert table.main([str(path), "--page", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"Intro.\n{table.BEGIN}\n") and text.endswith(f"{table.END}\nAfter.\n")
    assert "stale" not in text and "| iris | relu | adam |" in text and "Fashion-MNIST (float32" not in text
    page.write_text("no markers\n")
    assert table.main([str(path), "--page", str(page)]) == 1


def test_onnx_of_an_estimator_fitted_on_uint8_reads_it_as_numbers_as_the_estimator_does():
    """The estimators read uint8 X as its numbers (scikit-learn's float64), not as pixels x / 255 as MLP does: so
    do their graphs, through skl2onnx and through to_onnx with a uint8 input."""
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from fastmlp.sklearn import register_onnx_converters

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (200, 8)).astype(np.uint8)
    y = (X[:, 0] > 127).astype(int)
    register_onnx_converters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y)
    for model in (skl2onnx.to_onnx(clf, X[:1]), clf.to_onnx(input_dtype="uint8")):
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        label, proba = session.run(None, {session.get_inputs()[0].name: X})
        np.testing.assert_array_equal(label, clf.predict(X))
        np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("multilabel", [False, True], ids=["labels", "multilabel"])
def test_onnx_export_through_skl2onnx(iris, multilabel):
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from fastmlp.sklearn import register_onnx_converters

    X, y = iris
    X = X.astype(np.float32)
    if multilabel:
        y = np.column_stack([y == "setosa", X[:, 0] > 5.8]).astype(np.int64)
    register_onnx_converters()
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X, y)
    session = onnxruntime.InferenceSession(skl2onnx.to_onnx(pipeline, X[:1]).SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(label, pipeline.predict(X))
    np.testing.assert_allclose(proba, pipeline.predict_proba(X), atol=1e-5)
    # The estimator's own export, fed the scaled inputs, gives the same labels and probabilities.
    direct = onnxruntime.InferenceSession(pipeline[-1].to_onnx().SerializeToString(),
                                          providers=["CPUExecutionProvider"])
    direct_label, direct_proba = direct.run(["label", "probabilities"],
                                            {"input": pipeline[0].transform(X).astype(np.float32)})
    np.testing.assert_array_equal(direct_label, label)
    np.testing.assert_allclose(direct_proba, proba, atol=1e-5)
