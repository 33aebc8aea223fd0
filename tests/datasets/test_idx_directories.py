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
