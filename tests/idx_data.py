"""Small MNIST-format datasets in a temporary directory, for the dataset, CLI and example tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from fastmlp.datasets import IDX_FILES, load_fashion_mnist


def write_idx(path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed when ``path`` ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    raw = header + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(raw, compresslevel=1) if path.suffix == ".gz" else raw)
    return path


def write_idx_dir(directory, train, test, *, gz: bool = True) -> Path:
    """Write ``(images, labels)`` pairs as the four MNIST file names in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for (images_stem, labels_stem), (images, labels) in zip(IDX_FILES.values(), (train, test)):
        write_idx(directory / (images_stem + suffix), images)
        write_idx(directory / (labels_stem + suffix), labels)
    return directory


def fashion_slice(directory, n_train: int = 2000, n_test: int = 500, *, gz: bool = True) -> Path:
    """The first ``n_train`` and ``n_test`` Fashion-MNIST images as a small IDX directory."""
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
    return write_idx_dir(directory, (X_train[:n_train].reshape(-1, 28, 28), y_train[:n_train]),
                         (X_test[:n_test].reshape(-1, 28, 28), y_test[:n_test]), gz=gz)
