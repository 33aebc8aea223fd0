"""fastmlp.datasets: IDX directories (load_idx_dataset, load_fashion_mnist) from hand-built files."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.datasets import load, load_fashion_mnist
from fastmlp.datasets.idx import IDXError

from idx_data import write_idx


def test_a_truncated_idx_file_is_a_clear_error(tmp_path):
    directory = tmp_path / "bad"
    directory.mkdir()
    write_dataset(directory, n_train=10, n_test=100)
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.zeros(5))  # 5 labels for 100 images
    with pytest.raises(ValueError, match="labels for 100 images"):
        load(directory)


def write_dataset(directory, n_train=6, n_test=4, compress=True, n_labels=None):
    rng = np.random.default_rng(0)
    data = {}
    for split, n, images, labels in (("train", n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                     ("test", n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        X = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n if n_labels is None else n_labels, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(directory / (images + suffix), X)
        write_idx(directory / (labels + suffix), y)
        data[split] = (X, y)
    return data


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_fashion_mnist_from_a_directory(tmp_path, compress):
    data = write_dataset(tmp_path, compress=compress)
    (X, y), (X_test, y_test) = load_fashion_mnist(tmp_path)
    assert X.dtype == np.uint8 and X.shape == (6, 784) and X_test.shape == (4, 784)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X, data["train"][0].reshape(6, 784))
    np.testing.assert_array_equal(y, data["train"][1])
    np.testing.assert_array_equal(X_test, data["test"][0].reshape(4, 784))
    np.testing.assert_array_equal(y_test, data["test"][1])
    (Xs, _), _ = load_fashion_mnist(tmp_path, scale=True)
    assert Xs.dtype == np.float32
    np.testing.assert_array_equal(Xs, data["train"][0].reshape(6, 784).astype(np.float32) / np.float32(255))


def test_load_fashion_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Fashion-MNIST not found in .*dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_load_fashion_mnist_missing_file(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path)


def test_load_fashion_mnist_label_count_mismatch(tmp_path):
    write_dataset(tmp_path, n_labels=5)
    with pytest.raises(IDXError, match=r"labels for 6 images"):
        load_fashion_mnist(tmp_path)


def test_load_fashion_mnist_truncated_file(tmp_path):
    write_dataset(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte: truncated"):
        load_fashion_mnist(tmp_path)


def write_labels(path, labels, type_byte):
    """An IDX file of labels of any element type (idx_data.write_idx writes uint8 only)."""
    labels = np.asarray(labels)
    path.write_bytes(bytes([0, 0, type_byte, 1]) + np.array(labels.shape, ">u4").tobytes()
                     + labels.astype(labels.dtype.newbyteorder(">")).tobytes())


@pytest.mark.parametrize("labels, type_byte, message", [
    (np.array([0, 1, -1, 2, 3, 4], np.int8), 0x09, ">= 0, found -1"),
    (np.array([0, 1, 10**9, 2, 3, 4], np.int32), 0x0C, "would need 1e\\+09 output units"),
    (np.array([0, 1.5, 1, 2, 3, 4], np.float32), 0x0D, "whole numbers"),
], ids=["negative", "sparse", "fractions"])
def test_idx_labels_that_are_not_class_indices_are_refused(tmp_path, labels, type_byte, message):
    write_dataset(tmp_path, compress=False)  # 6 training images
    write_labels(tmp_path / "train-labels-idx1-ubyte", labels, type_byte)
    with pytest.raises(ValueError, match=f"train labels: labels must .*{message}"):
        load(tmp_path)


def test_test_images_of_another_size_are_refused(tmp_path):
    write_dataset(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((4, 28, 27)))
    with pytest.raises(IDXError, match="test images are 28x27 but train images 28x28"):
        load(tmp_path)


def test_an_idx_file_of_no_images_is_a_clear_error(tmp_path):
    write_dataset(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(0))
    with pytest.raises(IDXError, match="train images: the file holds no images"):
        load(tmp_path)
