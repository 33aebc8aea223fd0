"""MLP.fit's schedules, early stopping, convergence, class weights and format-version-1 files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP, io


def blobs(n=400, seed=0, n_classes=3, dtype=np.float32):
    """Separable-ish clusters: a problem where accuracy climbs and then levels off."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    centres = rng.normal(0, 2, (n_classes, 6))
    X = (centres[y] + rng.normal(0, 1.5, (n, 6))).astype(dtype)
    return X, y


def net(seed=0, **options):
    return MLP([6, 10, 3], random_state=seed, **options)


def test_invscaling_rate_after_each_epoch_is_rate_over_samples_seen():
    X, y = blobs()
    scheduled = net().fit(X, y, epochs=2, learning_rate=0.5, schedule="invscaling", power_t=0.25)
    # The same two epochs by hand: epoch 1 at 0.5, epoch 2 at 0.5 / (n + 1) ** 0.25 (same shuffles).
    by_hand = net().fit(X, y, epochs=1, learning_rate=0.5)
    by_hand.partial_fit(X, y, learning_rate=0.5 / (X.shape[0] + 1) ** 0.25)
    np.testing.assert_array_equal(scheduled.params, by_hand.params)
    assert scheduled.t_ == 2 * X.shape[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_adaptive_divides_the_rate_by_five_after_a_plateau(optimizer):
    X, y = blobs()
    # tol so large that no epoch counts as an improvement: the count passes 2 after 3 epochs.
    model = net().fit(X, y, epochs=7, learning_rate=0.01, optimizer=optimizer, schedule="adaptive",
                      tol=1e9, n_iter_no_change=2)
    assert len(model.loss_curve_) == 7  # adaptive never stops without early stopping or convergence
    assert model._progress["learning_rate"] == pytest.approx(0.01 / 25)


def test_convergence_stops_after_the_plateau():
    X, y = blobs()
    model = net().fit(X, y, epochs=50, convergence=True, tol=1e9, n_iter_no_change=3)
    # The first epoch sets the best loss; the next four do not beat it by tol, and the fourth of them
    # takes the count past n_iter_no_change (scikit-learn counts the same way).
    assert len(model.loss_curve_) == 5
    assert model.best_loss_ == min(model.loss_curve_)


def test_early_stopping_on_validation_data_restores_the_best_weights():
    X, y = blobs(600)
    X_val, y_val = blobs(300, seed=1)
    model = net().fit(X, y, epochs=200, learning_rate=0.5, validation_data=(X_val, y_val), early_stopping=True,
                      n_iter_no_change=3, tol=0.0)
    epochs = len(model.loss_curve_)
    assert epochs < 200
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == epochs
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.score(X_val, y_val) == pytest.approx(model.best_validation_score_)
    kept = net().fit(X, y, epochs=200, learning_rate=0.5, validation_data=(X_val, y_val), early_stopping=True,
                     n_iter_no_change=3, tol=0.0, restore_best_weights=False)
    assert len(kept.loss_curve_) == epochs
    assert kept.score(X_val, y_val) == pytest.approx(kept.validation_scores_[-1])


def test_validation_data_without_early_stopping_only_records_curves():
    X, y = blobs()
    model = net().fit(X, y, epochs=4, validation_data=blobs(100, seed=2))
    assert len(model.validation_scores_) == 4 and model.best_validation_score_ is None
    assert all(0 <= score <= 1 for score in model.validation_scores_)
    assert all(loss > 0 for loss in model.validation_loss_curve_)


def test_held_out_split_is_stratified_and_repeatable():
    X, y = blobs(1000)
    model = net()
    data = model._data(X, y, None, None)
    train, valid = model._hold_out(data, 0.2, seed=5)
    for label in range(3):
        share = (valid.y == label).sum() / (y == label).sum()
        assert share == pytest.approx(0.2, abs=0.01)
    assert train.X.shape[0] + valid.X.shape[0] == 1000
    again, _ = model._hold_out(data, 0.2, seed=5)
    np.testing.assert_array_equal(train.X, again.X)


def test_early_stopping_split_comes_from_the_seed():
    X, y = blobs()
    a = net(3).fit(X, y, epochs=5, early_stopping=True)
    b = net(3).fit(X, y, epochs=5, early_stopping=True)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.validation_scores_ == b.validation_scores_


def test_balanced_class_weight_is_the_sample_weight_it_stands_for():
    X, y = blobs(300)
    y = np.where(y == 2, 1, y)  # classes 0 and 1 of uneven size, class 2 absent
    counts = np.bincount(y, minlength=3)
    weights = np.array([300 / (2 * counts[label]) for label in y])
    by_class = net().fit(X, y, epochs=2, class_weight="balanced")
    by_sample = net().fit(X, y, epochs=2, sample_weight=weights)
    np.testing.assert_array_equal(by_class.params, by_sample.params)
    by_dict = net().fit(X, y, epochs=2, class_weight={0: 2.0}, sample_weight=np.full(300, 0.5))
    by_hand = net().fit(X, y, epochs=2, sample_weight=np.where(y == 0, 1.0, 0.5))
    np.testing.assert_array_equal(by_dict.params, by_hand.params)


@pytest.mark.parametrize("class_weight, message", [
    ({5: 1.0}, "class_weight has label 5"), ("even", "class_weight must be None, 'balanced' or a dict"),
    ({0: -1.0}, r"class_weight\[0\] must be >= 0"), ({0: 0.0, 1: 0.0, 2: 0.0}, "every sample weight 0"),
])
def test_bad_class_weight(class_weight, message):
    X, y = blobs(50)
    model = net()
    before = model.params.copy()
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, epochs=1, class_weight=class_weight)
    np.testing.assert_array_equal(model.params, before)


@pytest.mark.parametrize("weights, message", [
    (np.ones(49), r"sample_weight must have shape \(50,\)"), (np.full(50, -1.0), "must be finite and >= 0"),
    (np.zeros(50), "zero for every sample"), (np.full(50, np.nan), "must be finite"),
])
def test_bad_sample_weight(weights, message):
    X, y = blobs(50)
    with pytest.raises(ValueError, match=message):
        net().fit(X, y, epochs=1, sample_weight=weights)


def test_new_features_do_not_depend_on_the_thread_count():
    X, y = blobs(2000)
    options = dict(epochs=3, batch_size=64, optimizer="adam", learning_rate=0.01, early_stopping=True,
                   class_weight="balanced")
    one = MLP([6, 40, 3], activation="tanh", random_state=1).fit(X, y, n_threads=1, **options)
    two = MLP([6, 40, 3], activation="tanh", random_state=1).fit(X, y, n_threads=2, **options)
    np.testing.assert_array_equal(one.params, two.params)


@pytest.mark.parametrize("stop", [2, 5])
def test_resume_with_adam_early_stopping_and_a_schedule_is_exact(tmp_path, stop):
    X, y = blobs(500)
    settings = dict(epochs=8, optimizer="adam", learning_rate=0.01, early_stopping=True, n_iter_no_change=2,
                    schedule="invscaling", power_t=0.1, class_weight="balanced")
    reference = MLP([6, 10, 3], activation="relu", random_state=0).fit(X, y, **settings)
    path = tmp_path / "run.npz"
    MLP([6, 10, 3], activation="relu", random_state=0).fit(X, y, checkpoint=path, **dict(settings, epochs=stop))
    resumed = MLP([6, 10, 3], activation="relu", random_state=9).fit(X, y, resume=path, **settings)
    np.testing.assert_array_equal(resumed.params, reference.params)
    assert resumed.loss_curve_ == reference.loss_curve_
    assert resumed.validation_scores_ == reference.validation_scores_


def test_saved_model_records_activation_input_dtype_and_curves(tmp_path):
    X, y = blobs(200)
    model = MLP([6, 5, 3], activation="tanh", random_state=0).fit((X * 10).clip(0, 255).astype(np.uint8), y,
                                                                   epochs=3, validation_data=blobs(50, 1))
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = fastmlp.load(path)
    assert loaded.activation == "tanh" and loaded.input_dtype_ == "uint8"
    assert loaded.validation_scores_ == model.validation_scores_ and loaded.loss_curve_ == model.loss_curve_
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ------------------------------------------------------------------------------------- version 1 files
def rewrite_as_version_1(path, target):
    """The file at ``path`` as fastmlp 0.1 wrote it: format version 1, no activation or input dtype."""
    metadata, arrays = io.read(path)
    old = {key: metadata[key] for key in io.MODEL_FIELDS_V1}
    old["format_version"] = 1
    if metadata["kind"] == "checkpoint":
        settings = metadata["training"]
        old.update(epochs_done=metadata["epochs_done"], rng_state=metadata["rng_state"], training={
            **{key: settings[key] for key in ("batch_size", "learning_rate", "momentum", "nesterov",
                                              "weight_decay", "shuffle")},
            "n_samples": metadata["data"]["n_samples"], "data_sha256": metadata["data"]["sha256"]})
        arrays = {"params": arrays["params"], "velocity": arrays["first"], "loss_curve": arrays["loss_curve"]}
    else:
        arrays = {"params": arrays["params"], "loss_curve": arrays["loss_curve"]}
    io.write(target, old, arrays)
    with zipfile.ZipFile(target) as archive:
        assert json.loads(np.frombuffer(archive.read("metadata.npy")[128:], np.uint8).tobytes())["format_version"] == 1


def test_version_1_model_file_loads(tmp_path):
    X, y = blobs(100)
    model = net().fit(X, y, epochs=2)
    model.save(tmp_path / "v2.npz")
    rewrite_as_version_1(tmp_path / "v2.npz", tmp_path / "v1.npz")
    old = fastmlp.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(old.params, model.params)
    assert old.activation == "logistic" and old.input_dtype_ is None and old.loss_curve_ == model.loss_curve_


def test_version_1_checkpoint_resumes_exactly(tmp_path):
    X, y = blobs(300)
    settings = dict(epochs=5, momentum=0.9, nesterov=True, learning_rate=0.2)
    reference = net().fit(X, y, **settings)
    net().fit(X, y, checkpoint=tmp_path / "v2.npz", **dict(settings, epochs=3))
    rewrite_as_version_1(tmp_path / "v2.npz", tmp_path / "v1.npz")
    resumed = net(4).fit(X, y, resume=tmp_path / "v1.npz", **settings)
    np.testing.assert_array_equal(resumed.params, reference.params)
    with pytest.raises(ValueError, match="different momentum"):
        net().fit(X, y, resume=tmp_path / "v1.npz", **dict(settings, momentum=0.5))
