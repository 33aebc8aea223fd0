"""``load(name_or_path)``: every dataset fastmlp knows by name, and user files, as train and test splits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import files, small
from .mnist import load_fashion_mnist, read_idx_directory

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Names ``load`` accepts, with a one-line description each (for ``--help`` and error messages).
NAMES = {
    "fashion-mnist": "Zalando's 70,000 28x28 clothing images (Debian's dataset-fashion-mnist or a directory)",
    "mnist": "the 70,000 28x28 handwritten digits, from a directory of MNIST's four IDX files",
    "digits": "scikit-learn's 1,797 8x8 handwritten digits",
    "xor": "the XOR truth table (4 rows, 2 inputs)",
    "and": "the AND truth table (4 rows, 2 inputs)",
    "or": "the OR truth table (4 rows, 2 inputs)",
}


class Splits(tuple):
    """``(X_train, y_train), (X_test, y_test)`` with what is known about the data as attributes.

    Unpacks like the tuple it is. ``image_shape`` is (rows, cols) for images, else None;
    ``class_names`` a tuple of names or None; ``n_classes`` counts the labels of both splits.
    """

    def __new__(cls, train, test, *, name: str, image_shape=None, class_names=None):
        self = super().__new__(cls, (tuple(train), tuple(test)))
        self.name = name
        self.image_shape = tuple(image_shape) if image_shape else None
        self.class_names = tuple(class_names) if class_names else None
        return self

    @property
    def train(self):
        return self[0]

    @property
    def test(self):
        return self[1]

    @property
    def n_features(self) -> int:
        return self[0][0].shape[1]

    @property
    def n_classes(self) -> int:
        top = max(int(self[0][1].max()), int(self[1][1].max()) if self[1][1].size else 0)
        return max(top + 1, len(self.class_names or ()))

    def __repr__(self) -> str:
        return (f"Splits({self.name!r}: {self[0][0].shape[0]} train, {self[1][0].shape[0]} test, "
                f"{self.n_features} features, {self.n_classes} classes)")


def load(name_or_path, *, directory=None, label_column=None, class_names=None, test_fraction: float = 0.2,
         seed: int = 0) -> Splits:
    """Load a dataset by name or path as ``(X_train, y_train), (X_test, y_test)``.

    Parameters
    ----------
    name_or_path : str or path
        One of ``fashion-mnist``, ``mnist``, ``digits``, ``xor``, ``and``, ``or``; or a directory of the four
        MNIST-format IDX files; or a ``.npz`` file (arrays X_train, y_train, X_test, y_test, or X, y) or a
        ``.csv`` file with a label column.
    directory : path, optional
        Where the IDX files of ``fashion-mnist`` or ``mnist`` are (else ``$FASTMLP_FASHION_MNIST`` /
        ``$FASTMLP_MNIST``; Fashion-MNIST also looks in Debian's /usr/share/datasets/fashion-mnist).
    label_column : str or int, optional
        The label column of a CSV file (a header name or 0-based index); by default the column named
        label, class, target or y, else the first.
    class_names : sequence of str, optional
        How a CSV file's text labels are numbered (a model's :attr:`~fastmlp.MLP.class_names`, label 0
        first); by default in sorted order. A label not among them is an error.
    test_fraction, seed : float, int
        How a file or dataset without its own test split is split (a seeded random permutation).
        The truth tables are their own test set.

    Returns
    -------
    Splits
        A tuple ``(X_train, y_train), (X_test, y_test)``: X is (n_samples, n_features) -- uint8 pixels
        for the MNIST formats (the model reads them as x / 255), an ``.npz`` file's arrays in their own
        dtype, float32 otherwise -- and y int64 labels.

    Examples
    --------
    >>> (X_train, y_train), (X_test, y_test) = load("xor")
    >>> X_train.tolist(), y_train.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    key = str(name_or_path).strip().lower()
    if not key:  # else Path("") is the working directory, searched for IDX files
        raise ValueError(f"no dataset given: expected one of {', '.join(NAMES)}, a directory of IDX files, "
                         "or a .npz/.csv file")
    if label_column is not None and Path(name_or_path).suffix.lower() != ".csv":
        raise ValueError(f"label_column ({label_column!r}) names a column of a .csv file; {name_or_path} is not one")
    if key in small.TRUTH_TABLES:
        X, y = small.truth_table(key)
        return Splits((X, y), (X.copy(), y.copy()), name=key)
    if key == "digits":
        train, test = small.load_digits(test_fraction=test_fraction, seed=seed)
        return Splits(train, test, name=key, image_shape=(8, 8), class_names=[str(d) for d in range(10)])
    if key in ("fashion-mnist", "fashion_mnist", "fashionmnist"):
        train, test = load_fashion_mnist(directory)
        return Splits(train, test, name="fashion-mnist", image_shape=(28, 28), class_names=FASHION_MNIST_CLASSES)
    if key == "mnist":
        directory = directory or os.environ.get("FASTMLP_MNIST")
        if not directory:
            raise FileNotFoundError("mnist needs the directory of its four IDX files: pass it as the dataset "
                                    "(or --data-dir), or set FASTMLP_MNIST")
        (train, test), image_shape = read_idx_directory(directory)
        return Splits(train, test, name="mnist", image_shape=image_shape,
                      class_names=[str(d) for d in range(10)])
    path = Path(name_or_path)
    if path.is_dir():
        (train, test), image_shape = read_idx_directory(path)
        return Splits(train, test, name=str(path), image_shape=image_shape)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".csv"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        if suffix == ".npz":
            train, test, image_shape = files.load_npz(path, test_fraction=test_fraction, seed=seed)
            return Splits(train, test, name=str(path), image_shape=image_shape or _square(train[0]))
        train, test, class_names = files.load_csv(path, label_column=label_column, class_names=class_names,
                                                  test_fraction=test_fraction, seed=seed)
        return Splits(train, test, name=str(path), class_names=class_names)
    if path.exists() or os.sep in str(name_or_path):
        raise FileNotFoundError(f"{name_or_path}: not a dataset directory, .npz or .csv file")
    raise ValueError(f"unknown dataset {name_or_path!r}; expected one of {', '.join(NAMES)}, "
                     "a directory of IDX files, or a .npz/.csv file")


def _square(X: np.ndarray):
    """(side, side) when the samples look like square uint8 images, else None."""
    side = int(round(np.sqrt(X.shape[1])))
    return (side, side) if X.dtype == np.uint8 and side * side == X.shape[1] and side > 1 else None
