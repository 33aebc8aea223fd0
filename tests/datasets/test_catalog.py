"""fastmlp.datasets.catalog: load() by name or path, Fashion-MNIST and MNIST directories, the Splits it returns."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.datasets import Splits, load

from idx_data import fashion_slice, write_idx_dir


@pytest.fixture(scope="module")
def small_idx(tmp_path_factory):
    return fashion_slice(tmp_path_factory.mktemp("idx"), 300, 100)


def test_names_are_case_insensitive():
    assert load("XOR").name == "xor"


def test_fashion_mnist_by_name_stays_uint8():
    data = load("fashion-mnist")
    (X_train, y_train), (X_test, y_test) = data
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert data.image_shape == (28, 28) and data.class_names[0] == "T-shirt/top" and data.n_classes == 10
    assert repr(data).startswith("Splits('fashion-mnist': 60000 train, 10000 test")


def test_fashion_mnist_from_a_directory(small_idx):
    data = load("fashion-mnist", directory=small_idx)
    assert data.train[0].shape == (300, 784) and data.test[0].shape == (100, 784)


def test_mnist_needs_a_directory(monkeypatch, small_idx):
    monkeypatch.delenv("FASTMLP_MNIST", raising=False)
    with pytest.raises(FileNotFoundError, match="FASTMLP_MNIST"):
        load("mnist")
    data = load("mnist", directory=small_idx)
    assert data.name == "mnist" and data.image_shape == (28, 28) and data.class_names[3] == "3"
    monkeypatch.setenv("FASTMLP_MNIST", str(small_idx))
    np.testing.assert_array_equal(load("mnist").train[1], data.train[1])


def test_an_idx_directory_by_path(tmp_path):
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (20, 4, 4)), rng.integers(0, 3, 20))
    test = (rng.integers(0, 256, (6, 4, 4)), rng.integers(0, 3, 6))
    directory = write_idx_dir(tmp_path / "tiny", train, test, gz=False)
    data = load(directory)
    assert data.image_shape == (4, 4) and data.n_features == 16 and data.n_classes == 3
    np.testing.assert_array_equal(data.train[0], train[0].reshape(20, 16))
    np.testing.assert_array_equal(data.test[1], test[1])


def test_an_idx_directory_of_images_that_are_not_square(tmp_path):
    """Images keep the shape their IDX header gives: 3 x 5 pixels (a square was guessed from the 15 features,
    and none found, so the weight and prediction plots refused the data as not images)."""
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (20, 3, 5)), rng.integers(0, 3, 20))
    test = (rng.integers(0, 256, (6, 3, 5)), rng.integers(0, 3, 6))
    data = load(write_idx_dir(tmp_path / "wide", train, test))
    assert data.image_shape == (3, 5) and data.n_features == 15
    np.testing.assert_array_equal(data.train[0].reshape(20, 3, 5), train[0])


def test_unknown_names_and_missing_paths():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*fashion-mnist"):
        load("cifar")
    with pytest.raises(ValueError, match="no dataset given: expected one of fashion-mnist"):
        load("")  # searched the working directory for IDX files before
    with pytest.raises(FileNotFoundError):
        load("/no/such/data.npz")
    with pytest.raises(FileNotFoundError):
        load("/no/such/directory")


def test_splits_unpack_like_tuples():
    data = load("and")
    assert isinstance(data, Splits) and isinstance(data, tuple) and len(data) == 2
    (X, y), _ = data
    assert data.train[0] is X and data.n_features == 2 and data.n_classes == 2
