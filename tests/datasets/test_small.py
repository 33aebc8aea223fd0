"""fastmlp.datasets.small: the lecture's truth tables and scikit-learn's digits, split by a seed."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.datasets import load


@pytest.mark.parametrize("name, labels", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("xor", [0, 1, 1, 0])])
def test_truth_tables_are_the_lectures(name, labels):
    (X_train, y_train), (X_test, y_test) = load(name)
    assert X_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y_train.tolist() == labels and y_test.tolist() == labels
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    X_train[0, 0] = 7  # the splits do not share memory with each other or with the module's table
    assert load(name).train[0][0, 0] == 0 and X_test[0, 0] == 0


def test_digits_split_is_seeded_and_complete():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    data = load("digits")
    (X_train, y_train), (X_test, y_test) = data
    assert X_train.shape == (1438, 64) and X_test.shape == (359, 64)
    assert X_train.dtype == np.float32 and X_train.min() >= 0 and X_train.max() <= 1
    assert data.image_shape == (8, 8) and data.n_classes == 10
    again = load("digits")
    np.testing.assert_array_equal(again.test[0], X_test)
    every_label = np.concatenate([y_train, y_test])
    assert np.bincount(every_label).tolist() == np.bincount(sklearn_datasets.load_digits().target).tolist()
    assert load("digits", seed=1).test[1].tolist() != y_test.tolist()
    assert load("digits", test_fraction=0.5).test[0].shape[0] == 898  # round(898.5), to even
