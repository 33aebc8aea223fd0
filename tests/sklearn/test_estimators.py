"""fastmlp.sklearn's estimators: scikit-learn's training step for step, parameters, labels, attributes, files."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

import fastmlp
from fastmlp.sklearn import MLPClassifier, MLPRegressor

#: Training runs as plain Python under NUMBA_DISABLE_JIT=1 (the coverage run): far too slow for these.
pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: training is too slow")


def blobs(n=48, n_features=5, n_classes=3, seed=0):
    """Separable-ish classes around random centres; float64 X (n, n_features), int labels (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(0, 2, (n_classes, n_features))
    return centres[y] + rng.normal(0, 1, (n, n_features)), y


def quiet_fit(estimator, *args, **kwargs):
    """fit without the ConvergenceWarning of a deliberately short run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# ---------------------------------------------------------------------- the same steps as scikit-learn
def _sklearn_from(ours, X, y, sk_class, params):
    """scikit-learn's MLP with ``params``, started from the weights ``ours`` has now, with a fresh optimizer."""
    sk = sk_class(**params, max_iter=1, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
    sk.coefs_ = [c.copy() for c in ours.coefs_]
    sk.intercepts_ = [b.copy() for b in ours.intercepts_]
    del sk._optimizer  # partial_fit then starts a new one, as MLP.fit does
    return sk


CASES = {
    "binary-sgd-nesterov": (SkClassifier, MLPClassifier, 2, dict(solver="sgd", momentum=0.9, alpha=0.01)),
    "multiclass-adam": (SkClassifier, MLPClassifier, 3, dict(solver="adam", alpha=0.001)),
    "multilabel-sgd": (SkClassifier, MLPClassifier, "multilabel", dict(solver="sgd", momentum=0.5, alpha=0.0)),
    "regression-sgd-tanh": (SkRegressor, MLPRegressor, 1, dict(solver="sgd", momentum=0.9, activation="tanh",
                                                                nesterovs_momentum=False)),
    "two-targets-adam-relu": (SkRegressor, MLPRegressor, 2, dict(solver="adam", alpha=0.01, activation="relu")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_epochs_match_scikit_learn(case):
    """Three epochs of minibatch training from the same weights give scikit-learn's weights (float64)."""
    sk_class, our_class, kind, settings = CASES[case]
    X, labels = blobs(48, 4, 3, seed=1)
    if sk_class is SkRegressor:
        y = X[:, :kind].sum(axis=1) if kind == 1 else np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5])
    elif kind == "multilabel":
        y = np.column_stack([labels == 0, X[:, 0] > 0, labels != 1]).astype(np.int64)
    else:
        y = labels % kind
    params = dict(hidden_layer_sizes=(6,), batch_size=16, learning_rate_init=0.02, random_state=0,
                  activation="logistic") | settings
    ours = quiet_fit(our_class(**params, max_iter=1, warm_start=True, shuffle=False), X, y)
    sk = _sklearn_from(ours, X, y, sk_class, params)
    quiet_fit(ours.set_params(max_iter=3), X, y)  # continues from those weights with a fresh optimizer
    for _ in range(3):
        sk.partial_fit(X, y)
    for got, want in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    # The losses agree too, except that scikit-learn adds the L2 term alpha ||W||^2 / (2 n) to its own.
    assert ours.loss_curve_[-1] == pytest.approx(sk.loss_curve_[-1], rel=0.05)


def test_last_smaller_batch_is_where_alpha_differs():
    """scikit-learn divides alpha by the size of each batch, fastmlp by the full batch size (documented)."""
    X, y = blobs(40, 4, 2)
    params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, batch_size=16, alpha=1.0,
                  learning_rate_init=0.05, random_state=0)
    ours = quiet_fit(MLPClassifier(**params, max_iter=1, warm_start=True, shuffle=False), X, y)
    sk = _sklearn_from(ours, X, y, SkClassifier, params)
    quiet_fit(ours, X, y)
    sk.partial_fit(X, y)
    difference = max(np.abs(a - b).max() for a, b in zip(ours.coefs_, sk.coefs_))
    assert 1e-6 < difference < 0.05


# ---------------------------------------------------------------------- parameters and settings
BAD_PARAMETERS = [
    (dict(alpha=-1.0), "alpha"), (dict(max_iter=0), "max_iter"), (dict(batch_size="big"), "batch_size"),
    (dict(solver="lbfgs"), "lbfgs"), (dict(activation="softplus"), "activation"),
    (dict(hidden_layer_sizes=(10, 0)), r"hidden_layer_sizes must be > 0, got \(10, 0\)"),
    (dict(hidden_layer_sizes=(10, "8")), "hidden_layer_sizes must be an integer or a sequence"),
    (dict(momentum=1.5), r"momentum must be in \[0, 1\]"), (dict(max_fun=0), r"max_fun must be in \[1, inf\)"),
    (dict(n_iter_no_change=2.5), "n_iter_no_change must be an integer"),
    (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction must be > 0 with early_stopping"),
    (dict(validation_fraction=1.0), "validation_fraction"), (dict(dtype="float16"), "dtype"),
    (dict(n_threads=0), "n_threads"), (dict(learning_rate="cyclic"), "learning_rate"),
    (dict(class_weight="uniform"), "class_weight"), (dict(max_iter=2.0), "max_iter"), (dict(alpha=True), "alpha"),
    (dict(batch_size=np.float64(8)), "batch_size"), (dict(learning_rate_init=float("inf")), "learning_rate_init"),
    (dict(n_iter_no_change=np.bool_(True)), "n_iter_no_change"), (dict(tol="0.1"), "tol"),
]


def test_parameters_checked_in_fit_not_init(subtests):
    X, y = blobs(12)
    for params, fragment in BAD_PARAMETERS:
        with subtests.test(params=params):
            estimator = MLPClassifier(**params)  # stores them unchanged, as clone needs
            assert all(estimator.get_params()[name] == value for name, value in params.items())
            with pytest.raises((TypeError, ValueError), match=fragment):
                estimator.fit(X, y)
            assert not hasattr(estimator, "model_")


@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, SkClassifier), (MLPRegressor, SkRegressor)])
def test_signatures_begin_as_scikit_learns(ours, theirs):
    """Every parameter of scikit-learn's constructor, fit and partial_fit, in its order and of its kind, so that code
    passing them by position means the same; fastmlp's own come after them. Defaults are scikit-learn's except
    the lecture's logistic activation."""
    for method in ("__init__", "fit", "partial_fit"):
        mine = list(inspect.signature(getattr(ours, method)).parameters.values())
        sk = list(inspect.signature(getattr(theirs, method)).parameters.values())
        assert [(p.name, p.kind) for p in mine[:len(sk)]] == [(p.name, p.kind) for p in sk], method
        differ = [p.name for p, q in zip(mine, sk) if p.default != q.default]
        assert differ == (["activation"] if method == "__init__" else []), method


def test_parameters_scikit_learn_takes_are_taken(tmp_path):
    X, y = blobs(40, 3, 2)
    kw = dict(hidden_layer_sizes=(4,), random_state=0, max_iter=6)
    # n_iter_no_change=inf never stops, even on a tol no epoch can gain (scikit-learn's "{inf}")
    with pytest.warns(ConvergenceWarning):
        never = MLPClassifier(**kw, tol=100.0, n_iter_no_change=np.inf).fit(X, y)
    assert never.n_iter_ == 6 and never.get_params()["n_iter_no_change"] == np.inf
    never.save(tmp_path / "never.npz")  # JSON has no inf
    assert fastmlp.load(tmp_path / "never.npz").get_params() == never.get_params()
    assert quiet_fit(MLPClassifier(**kw, tol=100.0, n_iter_no_change=2), X, y).n_iter_ == 4
    with pytest.warns(ConvergenceWarning):
        assert MLPClassifier(**kw, early_stopping=True, tol=100.0, n_iter_no_change=float("inf")).fit(X, y).n_iter_ == 6
    assert quiet_fit(MLPClassifier(**kw, validation_fraction=0.0), X, y).n_iter_ == 6  # unused without early stopping
    sgd = dict(kw, solver="sgd", learning_rate_init=1e-3)
    undamped = quiet_fit(MLPClassifier(**sgd, momentum=1.0), X, y)
    assert undamped.n_iter_ == 6 and np.isfinite(undamped.coefs_[0]).all()
    assert not np.array_equal(undamped.coefs_[0], quiet_fit(MLPClassifier(**sgd, momentum=0.9), X, y).coefs_[0])
    assert quiet_fit(MLPClassifier(**kw, max_fun=10), X, y).get_params()["max_fun"] == 10  # lbfgs's: unused


def test_regressor_loss_comes_first_and_only_the_squared_error_is_available():
    X, y = blobs(40, 3, 2)
    by_position = quiet_fit(MLPRegressor("squared_error", (4,), random_state=0, max_iter=3), X, y)
    assert by_position.get_params()["loss"] == "squared_error" and by_position.n_layers_ == 3
    with pytest.raises(ValueError, match="loss='poisson' is not available in fastmlp"):
        MLPRegressor(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match=r"loss must be one of \['squared_error'\], got 'absolute_error'"):
        MLPRegressor(loss="absolute_error").fit(X, y)


def test_numbers_of_numpy_types_are_taken():
    X, y = blobs(12)
    params = dict(max_iter=np.int64(2), batch_size=np.uint8(4), alpha=np.float32(1e-3), learning_rate_init=1,
                  momentum=np.float64(0.5), solver="sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = MLPClassifier(**params, random_state=0).fit(X, y)
        reference = MLPClassifier(**{name: value.item() if isinstance(value, np.generic) else float(value)
                                     if name == "learning_rate_init" else value for name, value in params.items()},
                                  random_state=0).fit(X, y)
    assert fitted.n_iter_ == 2
    for ours, theirs in zip(fitted.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_dtype_follows_X_like_scikit_learn():
    X, y = blobs(20)
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    assert quiet_fit(MLPClassifier(**kw), X.astype(np.float32), y).model_.dtype == np.float32
    assert quiet_fit(MLPClassifier(**kw), X, y).model_.dtype == np.float64
    assert quiet_fit(MLPClassifier(**kw), (X * 10).astype(np.int32), y).model_.dtype == np.float64
    assert quiet_fit(MLPClassifier(**kw, dtype="float32"), X, y).coefs_[0].dtype == np.float32


def test_convergence_warning_only_when_max_iter_is_reached():
    X, y = blobs(30)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=500, tol=10.0, n_iter_no_change=2, random_state=0)
        clf.fit(X, y)
    # scikit-learn's rule: the first epoch sets the best loss, and training stops when the count of epochs
    # without a gain of tol exceeds n_iter_no_change.
    assert clf.n_iter_ == 4


# ---------------------------------------------------------------------- labels and outputs
@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([-7, 3, 100]), np.array([2, 9])])
def test_any_labels(labels):
    X, index = blobs(60, 4, labels.size, seed=2)
    y = labels[index]
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=150, random_state=0),
                    X, y)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    predicted = clf.predict(X)
    assert predicted.dtype == y.dtype and set(predicted) <= set(labels)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (60, labels.size)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert (clf.n_outputs_, clf.out_activation_) == ((1, "logistic") if labels.size == 2 else (3, "softmax"))


def test_multilabel():
    X, labels = blobs(60, 4, 3, seed=3)
    Y = np.column_stack([labels == 0, labels == 1, labels >= 1]).astype(np.int64)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=200, random_state=0),
                    X, Y)
    assert (clf.n_outputs_, clf.out_activation_) == (3, "logistic")
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    predicted = clf.predict(X)
    assert predicted.shape == Y.shape and predicted.dtype == Y.dtype
    np.testing.assert_array_equal(predicted, (clf.predict_proba(X) > 0.5).astype(np.int64))
    assert clf.score(X, Y) > 0.8  # subset accuracy


def test_regressor_outputs_and_shapes():
    X, _ = blobs(40, 3)
    reg = quiet_fit(MLPRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0), X, X[:, 0])
    assert reg.predict(X).shape == (40,) and reg.out_activation_ == "identity"
    with pytest.warns(DataConversionWarning):
        quiet_fit(reg, X, X[:, :1])
    assert reg.predict(X).shape == (40,)
    quiet_fit(reg, X, X[:, :2])
    assert reg.predict(X).shape == (40, 2) and reg.n_outputs_ == 2 and reg.coefs_[-1].shape == (6, 2)


def test_fitted_attributes_as_scikit_learn_names_them():
    X, y = blobs(50, 4, 3)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=4, random_state=0), X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    thetas = clf.model_.thetas()  # the lecture's (n_out, n_in + 1) layout, bias last
    np.testing.assert_array_equal(clf.coefs_[1], thetas[1][:, :-1].T)
    np.testing.assert_array_equal(clf.intercepts_[2], thetas[2][:, -1])
    assert (clf.n_layers_, clf.n_outputs_, clf.n_iter_, clf.t_, clf.n_features_in_) == (4, 3, 4, 200, 4)
    assert len(clf.loss_curve_) == 4 and clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.validation_loss_curve_ is None


def test_curves_grown_by_partial_fit_and_warm_start_are_those_built_afresh():
    """partial_fit and a warm start add only their new epochs to loss_curve_ (in place, as scikit-learn's
    grows) and best_loss_: the same values as building both afresh from the network's whole curve."""
    X, y = blobs(60, 4, 3)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, warm_start=True, random_state=0), X, y)
    curve = clf.loss_curve_
    for _ in range(3):
        clf.partial_fit(X, y)
    quiet_fit(clf, X, y)  # a warm start: 3 more epochs
    clf.partial_fit(X, np.random.default_rng(0).permutation(y))  # a higher loss: best_loss_ stays put
    afresh = copy.deepcopy(clf)
    afresh._set_fitted(clf.n_iter_, clf.t_)
    assert clf.loss_curve_ is curve and len(curve) == 3 + 3 + 3 + 1
    assert curve == afresh.loss_curve_ and clf.loss_ == curve[-1]
    assert clf.best_loss_ == afresh.best_loss_ == min(curve[:-1]) < curve[-1]


def test_early_stopping_curves():
    X, y = blobs(80, 4, 2)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(6,), early_stopping=True, max_iter=8, random_state=0), X, y)
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None
    assert clf.t_ == clf.n_iter_ * 72  # the training part: 80 less a stratified tenth


def test_warm_start_continues_and_keeps_the_curves():
    X, y = blobs(40)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, warm_start=True, random_state=0), X, y)
    before = [c.copy() for c in clf.coefs_]
    network = clf.model_
    quiet_fit(clf, X, y)
    assert clf.model_ is network and len(clf.loss_curve_) == 6 and clf.n_iter_ == 3 and clf.t_ == 240
    assert not np.array_equal(before[0], clf.coefs_[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X, y % 2)
    quiet_fit(clf.set_params(warm_start=False), X, y)
    assert clf.model_ is not network and len(clf.loss_curve_) == 3


def test_partial_fit():
    X, y = blobs(60)
    clf = MLPClassifier(hidden_layer_sizes=(6,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for _ in range(3):
        clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a batch may miss a class
    assert clf.n_outputs_ == 3 and len(clf.loss_curve_) == 3 and clf.n_iter_ == 1 and clf.t_ == 120
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="balanced"):
        clf.set_params(class_weight="balanced").partial_fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, X[:, 0])


def test_partial_fit_takes_sample_weight_third_as_scikit_learn_does():
    X, y = blobs(60, 4, 2)
    weights = (np.arange(60) % 2).astype(float)  # 0/1, the same values as the labels: taken as classes before
    start = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, classes=[0, 1])
    by_position = copy.deepcopy(start).partial_fit(X, y, weights)
    by_name = copy.deepcopy(start).partial_fit(X, y, sample_weight=weights)
    unweighted = copy.deepcopy(start).partial_fit(X, y)
    np.testing.assert_array_equal(by_position.coefs_[0], by_name.coefs_[0])
    assert not np.array_equal(by_position.coefs_[0], unweighted.coefs_[0])
    first = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, None, [0, 1, 2])
    assert first.classes_.tolist() == [0, 1, 2]


def test_early_stopping_stratifies_binary_targets_only_as_scikit_learn_does(monkeypatch):
    """scikit-learn stratifies its split by the labels when the network has one output: binary targets, not
    multiclass or multilabel ones, which may have a class too small to stratify."""
    import fastmlp.sklearn as sk

    seen = []
    split = sk.train_test_split
    monkeypatch.setattr(sk, "train_test_split", lambda *a, stratify, **kw: seen.append(stratify) or split(*a, **kw))
    X, y = blobs(60, 3, 2)
    labels = np.array(["no", "yes"])[y]
    quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2), X, labels)
    np.testing.assert_array_equal(seen.pop(), labels)  # the user's labels: scikit-learn's errors name them
    X, y = blobs(80, 3, 10)
    y[0] = 10  # a class of one sample, in a held-out tenth of 8 samples for 11 classes
    quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2), X, y)
    quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2), X, np.c_[y % 2, y < 5])
    quiet_fit(MLPRegressor(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2), X, X[:, 0])
    assert seen == [None, None, None]


def test_verbose_prints_scikit_learns_lines_in_its_scale(capsys):
    X, y = blobs(60, 3, 2)
    target = np.c_[X[:, 0], 2 * X[:, 1]]
    reg = quiet_fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, verbose=True), X, target)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {loss:.8f}" for i, loss in enumerate(reg.loss_curve_)]
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, early_stopping=True, tol=100.0, n_iter_no_change=2,
                        random_state=0, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert clf.n_iter_ == 4 and lines[:2] == [f"Iteration 1, loss = {clf.loss_curve_[0]:.8f}",
                                              f"Validation score: {clf.validation_scores_[0]:f}"]
    assert lines[-1] == ("Validation score did not improve more than tol=100.000000 for 2 consecutive epochs. "
                         "Stopping.") and len(lines) == 9
    clf.set_params(early_stopping=False).partial_fit(X, y)
    assert capsys.readouterr().out == f"Iteration 5, loss = {clf.loss_curve_[-1]:.8f}\n"


def test_divergence_names_learning_rate_init_and_leaves_the_attributes_true():
    X, y = blobs(60, 3, 2)
    target = 1e3 * X[:, 0]
    params = dict(hidden_layer_sizes=(4,), solver="sgd", activation="identity", random_state=0, max_iter=20)
    with pytest.raises(fastmlp.DivergenceError, match=r"epoch \d+: .* Try a smaller learning_rate_init "
                                                      r"\(it was 0\.5\)\.$"):
        MLPRegressor(**params, learning_rate_init=0.5).fit(X, target)
    # SGD's decay alone diverges past learning_rate x alpha / batch_size = 2 (1 + m) / (1 + 2 m) (Nesterov, m 0.9).
    decay = pytest.raises(fastmlp.DivergenceError, match=r"Try a smaller alpha \(it was 10000\) or learning_rate_init "
                                                         r"\(it was 0\.01\)\.$")
    with decay, np.errstate(over="ignore", invalid="ignore"):
        MLPRegressor(**params, learning_rate_init=0.01, alpha=1e4, batch_size=60).fit(X, target / 1e3)
    reg = quiet_fit(MLPRegressor(**params, learning_rate_init=1e-9, warm_start=True), X, target)
    before = len(reg.loss_curve_)
    with pytest.raises(fastmlp.DivergenceError) as raised:
        reg.set_params(learning_rate_init=0.5).fit(X, target)
    # The epochs before the diverging one stand, as in MLP.fit, and the attributes say so.
    assert raised.value.epoch == before + reg.n_iter_ + 1 == len(reg.loss_curve_) + 1
    np.testing.assert_array_equal(reg.coefs_[0], reg.model_.thetas()[0][:, :-1].T)


def test_error_messages_name_the_problem():
    X, y = blobs(60, 3, 3)
    with pytest.raises(ValueError, match="Multioutput target data is not supported"):
        MLPClassifier().fit(X, np.c_[y, y % 2])
    with pytest.raises(TypeError, match=r"classes must be an array-like of labels, got \{0, 1, 2\}"):
        MLPClassifier().partial_fit(X, y, classes={0, 1, 2})


def test_outputs_of_a_float32_network_for_float64_X_are_float64_as_scikit_learns():
    X, y = blobs(60, 3, 3)
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, dtype="float32"), X, y)
    reg = quiet_fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, dtype="float32"), X, X[:, 0])
    for method in (clf.predict_proba, reg.predict):
        ours, theirs = method(X), method(X.astype(np.float32))
        assert (ours.dtype, theirs.dtype) == (np.float64, np.float32)
        np.testing.assert_array_equal(ours, theirs)  # the same float32 values, widened
    np.testing.assert_array_equal(clf.predict_log_proba(X), np.log(clf.predict_proba(X)))


@pytest.mark.parametrize("labels", [np.array([3, 7, 11]), np.array(["ant", "bee", "cat"]), np.array([-1.0, 2.0]),
                                    np.array([False, True])], ids=["ints", "strings", "floats", "bools"])
def test_later_partial_fit_batches_train_as_the_full_target_checks_do(labels, monkeypatch):
    """After the first call, a batch of known labels is encoded without scikit-learn's target checks: the
    same weights as with them. Anything else still meets the full checks and their errors."""
    X, index = blobs(60, 4, labels.size)
    y = labels[index]
    kw = dict(hidden_layer_sizes=(6,), learning_rate_init=0.1, random_state=0)
    checked = MLPClassifier(**kw).partial_fit(X, y, classes=labels)
    direct = MLPClassifier(**kw).partial_fit(X, y, classes=labels)

    def refuse(y):
        raise AssertionError("a batch of known labels went through check_classification_targets")

    with monkeypatch.context() as patch:
        patch.setattr(MLPClassifier, "_known_labels", lambda self, y, classes: None)
        for start in (0, 20, 40):
            checked.partial_fit(X[start:start + 20], y[start:start + 20])
    with monkeypatch.context() as patch:
        patch.setattr(fastmlp.sklearn, "check_classification_targets", refuse)
        for start in (0, 20, 40):
            classes = labels[::-1] if start == 20 else None  # the same classes in another order
            direct.partial_fit(X[start:start + 20], y[start:start + 20], classes=classes)
    for ours, theirs in zip(direct.coefs_ + direct.intercepts_, checked.coefs_ + checked.intercepts_, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(direct.predict(X), checked.predict(X))

    unknown = "dog" if labels.dtype.kind == "U" else 99
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        direct.partial_fit(X[:3], np.append(y[:2], unknown))
    if unknown == "dog":  # strings as objects (as from pandas) take the full checks
        with pytest.raises(ValueError, match="not in `self.classes_`"):
            direct.partial_fit(X[:3], np.array([labels[0], labels[1], unknown], dtype=object))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        direct.partial_fit(X[:3], np.array([0.5, 1.5, 2.5]))
    with pytest.raises(ValueError, match="Multioutput target data is not supported"):
        direct.partial_fit(X[:3], np.arange(6).reshape(3, 2))  # multiclass-multioutput
    with pytest.raises(ValueError, match="is not the same as on last call"):
        direct.partial_fit(X[:2], y[:2], classes=labels[:-1])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        direct.partial_fit(X[:2], y[:2], classes=np.append(labels, unknown))


@functools.cache
def _fitted_for_batches(labels: tuple) -> MLPClassifier:
    """A classifier after its first partial_fit with ``classes=labels`` (shared: the examples only encode)."""
    X, index = blobs(30, 3, len(labels))
    return MLPClassifier(hidden_layer_sizes=(3,), random_state=0).partial_fit(X, np.array(labels)[index],
                                                                               classes=list(labels))


@settings(max_examples=300, deadline=None, database=None)
@given(labels=st.sampled_from([(0, 1), (-1.0, 2.0), (0, 3, 5, 9), ("ant", "bee", "cat")]),
       picks=st.lists(st.integers(0, 5), min_size=1, max_size=40), as_float=st.booleans())
def test_a_later_batch_is_encoded_directly_exactly_when_the_full_checks_accept_it(labels, picks, as_float):
    """The direct encoding of a later partial_fit batch (_known_labels) against scikit-learn's target checks
    (_encode with the direct path off), on batches that may hold labels that were never among the classes:
    whatever the checks accept is encoded directly, to the same targets, and nothing they refuse is."""
    clf = _fitted_for_batches(labels)
    pool = list(labels) + (["dog", "elk"] if isinstance(labels[0], str) else [7, 0.5])  # two unknown labels
    y = np.array([pool[pick % len(pool)] for pick in picks])
    if as_float and y.dtype.kind != "U":
        y = y.astype(np.float64)
    direct = clf._known_labels(y, None)
    full = copy.copy(clf)
    full._known_labels = lambda y, classes: None
    try:
        checked = full._encode(y, fresh=False, incremental=True, classes=None)
    except ValueError:
        assert direct is None
        return
    assert direct is not None, f"{y!r} passed the full checks but was not encoded directly"
    assert (direct.kind, direct.n_outputs) == (checked.kind, checked.n_outputs)
    np.testing.assert_array_equal(direct.classes, checked.classes)
    np.testing.assert_array_equal(direct.targets, checked.targets)
    assert direct.targets.dtype == checked.targets.dtype


def test_later_partial_fit_batches_of_many_distinct_labels_are_not_warned_about():
    """scikit-learn warns when more than half of a fit's 20+ labels are distinct (maybe a regression
    target); a later partial_fit batch of known classes is not warned about, as in scikit-learn's own."""
    X, y = blobs(90, 4, 30)
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0).partial_fit(X[:10], y[:10], classes=np.arange(30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.partial_fit(X[:30], y[:30])
    assert len(clf.loss_curve_) == 2


def _outcome(check, *args):
    """What check(*args) gives, with its warnings: ("arrays", each array's type, dtype and values) for an array
    or a tuple of them, or ("error", type, message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = check(*args)
        except Exception as error:  # noqa: BLE001 - every error is compared, whatever its type
            outcome = ("error", type(error), str(error))
        else:
            arrays = result if isinstance(result, tuple) else (result,)
            outcome = ("arrays", [(type(a), a.dtype, (a.toarray() if scipy.sparse.issparse(a) else a).tolist())
                                  for a in arrays])
    return outcome, [(w.category, str(w.message)) for w in caught]


def _X_taken_as_it_is(X):
    """Inputs that the estimators take as they are: finite float ndarrays of the fitted width, any layout."""
    return {"float64": X, "float32": X.astype(np.float32), "Fortran order": np.asfortranarray(X),
            "every other row": X[::2], "read-only": np.frombuffer(X.tobytes()).reshape(X.shape), "one row": X[:1]}


def _X_made_float64(X):
    """Inputs that the estimators convert to float64 themselves, as validate_data would: integers and bools."""
    return {"uint8": np.clip(X * 40 + 128, 0, 255).astype(np.uint8), "int64": np.rint(X).astype(np.int64),
            "big-endian int32": np.rint(X).astype(">i4"), "bool": X > 0}


def _X_for_validate_data(X):
    """Inputs that validate_data converts, warns about or refuses."""
    nan, inf = X.copy(), X.astype(np.float32)
    nan[1, 2], inf[0, 0] = np.nan, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy's, on making one
        matrix = np.asmatrix(X)
    return {"list": X.tolist(), "float16": X.astype(np.float16), "big-endian": X.astype(">f8"),
            "objects": X.astype(object), "NaN": nan, "inf": inf,
            "too wide": np.hstack([X, X]), "too narrow": X[:, :2], "1-D": X[0], "3-D": X[None], "no rows": X[:0],
            "complex": X.astype(np.complex128), "sparse": scipy.sparse.csr_matrix(X), "matrix": matrix}


def _y_taken_as_it_is(y):
    """Targets that training takes as they are (with X taken as it is): ndarrays of numbers or strings."""
    return {"int64": y, "int8": y.astype(np.int8), "float64": y.astype(np.float64), "bool": y > 0,
            "strings": np.array(["ant", "bee", "cat"])[y], "column": y[:, None], "indicator": np.eye(3, dtype=int)[y],
            "float32 indicator": np.eye(3, dtype=np.float32)[y]}


def _y_for_validate_data(y):
    """Targets that validate_data converts, warns about or refuses."""
    nan, inf = y.astype(np.float64), y.astype(np.float32)
    nan[3], inf[0] = np.nan, -np.inf
    return {"list": y.tolist(), "objects": y.astype(object), "string objects": np.array(["a", "b", "c"], object)[y],
            "NaN": nan, "inf": inf, "one short": y[:-1], "one more": np.append(y, 0), "no columns": y[:, None][:, :0],
            "3-D": y[:, None, None], "complex": y.astype(np.complex128), "sparse": scipy.sparse.csr_matrix(y[:, None]),
            "a number": 3}


def _refuse(*args, **kwargs):
    raise AssertionError("validate_data was called")


@pytest.mark.parametrize("names", [False, True], ids=["fitted without names", "fitted with names"])
def test_prediction_checks_X_as_validate_data_does(names, monkeypatch, subtests):
    """Prediction skips scikit-learn's validate_data for an ndarray of real numbers of the fitted width
    (_checked_X): a finite float one comes back as it is and integers or bools as float64, as validate_data
    would give them. Every other input, and every input to an estimator fitted with feature names, still
    gets validate_data's conversions, warnings and errors."""
    X, y = blobs(12, 4, 3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    if names:  # as a fit on a DataFrame (or a file of one, fastmlp.sklearn.from_record) leaves it
        clf.feature_names_in_ = np.array(["a", "b", "c", "d"], dtype=object)

    def validated(X):
        return fastmlp.sklearn.validate_data(clf, X, reset=False, accept_sparse=False,
                                             dtype=(np.float64, np.float32))

    for name, inputs in {**_X_taken_as_it_is(X), **_X_made_float64(X), **_X_for_validate_data(X)}.items():
        with subtests.test(input=name):
            assert _outcome(clf._checked_X, inputs) == _outcome(validated, inputs)

    monkeypatch.setattr(fastmlp.sklearn, "validate_data", _refuse)
    for name, inputs in {**_X_taken_as_it_is(X), **_X_made_float64(X)}.items():
        with subtests.test(without_validate_data=name):
            if names:
                with pytest.raises(AssertionError, match="validate_data was called"):
                    clf._checked_X(inputs)
            elif inputs.dtype.kind == "f":
                assert clf._checked_X(inputs) is inputs
            else:
                np.testing.assert_array_equal(clf._checked_X(inputs), inputs.astype(np.float64), strict=True)


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_training_checks_X_and_y_as_validate_data_does(estimator, monkeypatch, subtests):
    """A later partial_fit (or a warm start) skips validate_data for X that prediction takes without it and an
    ndarray of targets (_checked_X_y), and gives both as validate_data would; every other X or y, and any input
    at a fresh start, still gets validate_data's conversions, warnings and errors."""
    X, y = blobs(12, 4, 3)
    classes = {"classes": [0, 1, 2]} if estimator is MLPClassifier else {}
    model = estimator(hidden_layer_sizes=(5,), random_state=0).partial_fit(X, y, **classes)

    def validated(X, y):
        return fastmlp.sklearn.validate_data(model, X, y, reset=False, accept_sparse=False, multi_output=True,
                                             dtype=(np.float64, np.float32), y_numeric=estimator is MLPRegressor)

    def checked(X, y):
        return model._checked_X_y(X, y, False)

    pairs = {**{f"X {name}": (X_, y[: np.shape(X_)[0]] if np.ndim(X_) == 2 else y)  # as many targets as rows
                for name, X_ in {**_X_taken_as_it_is(X), **_X_made_float64(X), **_X_for_validate_data(X)}.items()},
             **{f"y {name}": (X, y_) for name, y_ in {**_y_taken_as_it_is(y), **_y_for_validate_data(y)}.items()}}
    for name, (X_, y_) in pairs.items():
        with subtests.test(input=name):
            assert _outcome(checked, X_, y_) == _outcome(validated, X_, y_)

    monkeypatch.setattr(fastmlp.sklearn, "validate_data", _refuse)
    for name, y_ in _y_taken_as_it_is(y).items():
        with subtests.test(passed_as_it_is=name):
            got = model._checked_X_y(X, y_, False)
            assert got[0] is X and got[1] is y_
            with pytest.raises(AssertionError, match="validate_data was called"):
                model._checked_X_y(X, y_, True)


def test_prediction_and_later_training_of_plain_arrays_skip_validate_data(monkeypatch):
    """predict, predict_proba, the regressor's predict and a later partial_fit take plain arrays as they are:
    the same results with validate_data refusing every call."""
    X, y = blobs(30, 4, 3)
    kw = dict(hidden_layer_sizes=(5,), random_state=0)
    clf, clf_checked = (MLPClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2]) for _ in range(2))
    reg, reg_checked = (MLPRegressor(**kw).partial_fit(X, X[:, 0]) for _ in range(2))
    expected = [clf.predict(X), clf.predict_proba(X), reg.predict(X)]
    clf_checked.partial_fit(X[:10], y[:10])
    reg_checked.partial_fit(X[:10], X[:10, 0])

    monkeypatch.setattr(fastmlp.sklearn, "validate_data", _refuse)
    for got, wanted in zip([clf.predict(X), clf.predict_proba(X), reg.predict(X)], expected, strict=True):
        np.testing.assert_array_equal(got, wanted)
    clf.partial_fit(X[:10], y[:10])
    reg.partial_fit(X[:10], X[:10, 0])
    for ours, theirs in zip(clf.coefs_ + reg.coefs_, clf_checked.coefs_ + reg_checked.coefs_, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)


def test_prediction_looks_for_nan_once(monkeypatch):
    """The estimators' prediction looks for NaN and infinity in X once, in _checked_X (scikit-learn's error), and
    the model is told so (check_X's ``finite``), on either path of _checked_X; MLP's own predict still checks."""
    X, y = blobs(30, 4, 3)
    kw = dict(hidden_layer_sizes=(5,), random_state=0)
    clf = MLPClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2])
    reg = MLPRegressor(**kw).partial_fit(X, X[:, 0])
    told = []
    real_check_X = fastmlp._validation.check_X

    def check_X(*args, finite=False, **kwargs):
        told.append(finite)
        return real_check_X(*args, finite=finite, **kwargs)

    monkeypatch.setattr(fastmlp._validation, "check_X", check_X)
    for predict in (clf.predict, clf.predict_proba, reg.predict):
        for inputs in (X, X.tolist()):  # an array taken as it is, and a list through validate_data
            told.clear()
            predict(inputs)
            assert told == [True]
    told.clear()
    clf.model_.predict(X)
    assert told == [False]
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(np.where(X.mean() < X, np.nan, X))


def test_one_class_is_refused_with_its_name():
    X, y = blobs(10)
    with pytest.raises(ValueError, match="one class: 'a'"):
        MLPClassifier().fit(X, np.full(10, "a"))
    with pytest.raises(ValueError, match="only one class has them: 1"):
        MLPClassifier().fit(X, y % 2, sample_weight=(y % 2).astype(float))


def test_class_weight_dict_uses_the_labels():
    X, index = blobs(60, 4, 2)
    y = np.array(["no", "yes"])[index]
    kw = dict(hidden_layer_sizes=(6,), max_iter=30, learning_rate_init=0.01, random_state=0)
    heavy = quiet_fit(MLPClassifier(**kw, class_weight={"no": 100.0, "yes": 0.01}), X, y)
    assert np.mean(heavy.predict(X) == "no") > 0.9
    sample_weighted = quiet_fit(MLPClassifier(**kw), X, y, sample_weight=np.where(y == "no", 100.0, 0.01))
    np.testing.assert_array_equal(heavy.coefs_[0], sample_weighted.coefs_[0])


def test_threads_clamped_and_weights_independent_of_them(teams):  # a team however short the epochs
    X, y = blobs(256, 20, 3)
    kw = dict(hidden_layer_sizes=(64,), max_iter=2, batch_size=256, random_state=0)
    one = quiet_fit(MLPClassifier(**kw, n_threads=1), X, y)
    many = quiet_fit(MLPClassifier(**kw, n_threads=64), X, y)  # more than Numba's pool: its size is used
    np.testing.assert_array_equal(one.coefs_[0], many.coefs_[0])


def test_random_state_instance_and_none():
    X, y = blobs(20)
    kw = dict(hidden_layer_sizes=(4,), max_iter=2)
    a = quiet_fit(MLPClassifier(**kw, random_state=np.random.RandomState(5)), X, y)
    b = quiet_fit(MLPClassifier(**kw, random_state=np.random.RandomState(5)), X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    c = quiet_fit(MLPClassifier(**kw), X, y)
    assert c.coefs_[0].shape == a.coefs_[0].shape


# ---------------------------------------------------------------------- files
def test_file_round_trip_and_field(tmp_path):
    X, index = blobs(40, 3, 3)
    y = np.array(["a", "b", "c"])[index]
    clf = quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, class_weight={"a": 2.0}, random_state=0),
                    X, y)
    clf.feature_names_in_ = np.array(["x0", "x1", "x2"], dtype=object)
    path = tmp_path / "clf.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as archive:
        record = json.loads(archive["metadata"].tobytes())["estimator"]
    assert record["class"] == "MLPClassifier" and record["classes"] == ["a", "b", "c"]
    assert record["params"]["hidden_layer_sizes"] == [5] and record["params"]["class_weight"] == [["a", 2.0]]
    loaded = fastmlp.load(path)
    assert type(loaded) is MLPClassifier and loaded.get_params() == clf.get_params()
    with warnings.catch_warnings():  # fitted "with feature names", X has none
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    for name in ("classes_", "feature_names_in_", "loss_curve_", "n_iter_", "t_", "n_features_in_", "best_loss_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(clf, name))
    plain = tmp_path / "net.npz"
    fastmlp.save(clf.model_, plain)
    assert type(fastmlp.load(plain)) is fastmlp.MLP


def test_saving_needs_a_fitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        fastmlp.save(MLPRegressor(), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="fastmlp.MLP or a fastmlp.sklearn estimator"):
        fastmlp.save(SkRegressor(), tmp_path / "x.npz")


def _rewrite_record(path, change):
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    metadata = json.loads(entries["metadata"].tobytes())
    change(metadata["estimator"])
    entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    np.savez(path, **entries)


BAD_RECORDS = [
    (lambda r: r.update(extra=1), "estimator must be null or an object"),
    (lambda r: r.update({"class": "SVC"}), "estimator class"),
    (lambda r: r.update(classes=["a", "a"]), "distinct labels"),
    (lambda r: r.update(classes=["a", 1]), "of one kind"),
    (lambda r: r.update(classes=["a", "b"]), "3 classes for 3 output units"),
    (lambda r: r.update(feature_names=["x"]), "feature_names"),
    (lambda r: r.update(n_iter=-1), "n_iter"),
    (lambda r: r["params"].update(kernel="rbf"), "unknown parameters \\['kernel'\\]"),
    (lambda r: r["params"].update(alpha=-1), "alpha"),
    (lambda r: r["params"].update(alpha={"a": 1}), "params must be an object of JSON"),
    (lambda r: (r.update({"class": "MLPRegressor"}), r["params"].pop("class_weight")),
     "MLPRegressor needs an identity output"),
]


def test_bad_estimator_field_is_a_clear_value_error(tmp_path, subtests):
    X, y = blobs(30)
    path = tmp_path / "clf.npz"
    for change, fragment in BAD_RECORDS:
        with subtests.test(fragment=fragment):
            quiet_fit(MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=0), X, y).save(path)
            _rewrite_record(path, change)
            with pytest.raises(ValueError, match=fragment):
                fastmlp.load(path)
