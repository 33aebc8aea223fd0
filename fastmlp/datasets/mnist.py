"""The MNIST format's four IDX files in a directory: Fashion-MNIST (Debian's package), MNIST, others."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import _labels
from .idx import IDXError, read_idx

#: Where Debian's ``dataset-fashion-mnist`` package installs the four files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}")


def load_idx_dataset(directory, *, scale: bool = False):
    """Load ``(X_train, y_train), (X_test, y_test)`` from a directory of the four MNIST-format IDX files.

    Images come flattened to (n, rows * cols) uint8, or float32 in [0, 1] when ``scale`` is True;
    labels as int64 class indices (checked as for .npz files: whole numbers, >= 0, not sparse).
    """
    return read_idx_directory(directory, scale=scale)[0]


def read_idx_directory(directory, *, scale: bool = False):
    """``(splits, image_shape)``: :func:`load_idx_dataset`'s splits and the images' (rows, cols) they were
    flattened from, which need not be square."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"dataset directory {directory} does not exist")
    splits, shape = [], None  # shape: the training images' (rows, cols)
    for split, (images_stem, labels_stem) in IDX_FILES.items():
        images = read_idx(_find(directory, images_stem))
        labels = read_idx(_find(directory, labels_stem))
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXError(f"{split} images must be a 3-D uint8 IDX array, got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise IDXError(f"{split}: {labels.shape} labels for {images.shape[0]} images")
        if images.shape[0] == 0:
            raise IDXError(f"{split} images: the file holds no images, shape {images.shape}")
        if shape is not None and images.shape[1:] != shape:
            raise IDXError(f"test images are {images.shape[1]}x{images.shape[2]} but train images "
                           f"{shape[0]}x{shape[1]}")
        shape = images.shape[1:]
        X = images.reshape(images.shape[0], -1)
        if scale:
            X = X.astype(np.float32) / np.float32(255)
        splits.append((X, _labels(labels, f"{directory}: {split} labels")))
    return tuple(splits), shape


def load_fashion_mnist(directory=None, *, scale: bool = False):
    """Fashion-MNIST as ``(X_train, y_train), (X_test, y_test)``: 60,000 and 10,000 28x28 images.

    Looks in ``directory``, else ``$FASTMLP_FASHION_MNIST``, else Debian's
    /usr/share/datasets/fashion-mnist (``apt-get install dataset-fashion-mnist``).
    """
    directory = directory or os.environ.get("FASTMLP_FASHION_MNIST") or DEBIAN_FASHION_MNIST
    if not Path(directory).is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {directory}: install Debian's dataset-fashion-mnist "
            "or pass the directory holding its four IDX files"
        )
    return load_idx_dataset(directory, scale=scale)
