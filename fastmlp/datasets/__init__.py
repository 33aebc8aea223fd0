"""Datasets: IDX files (MNIST format), Fashion-MNIST, MNIST, digits, the truth tables and user files.

``load(name_or_path)`` is the one entry point; ``fastmlp.datasets.NAMES`` lists the names it knows.
"""

from __future__ import annotations

from .catalog import FASHION_MNIST_CLASSES, NAMES, Splits, load
from .files import read_csv, read_features
from .idx import IDXError, read_idx
from .mnist import DEBIAN_FASHION_MNIST, IDX_FILES, load_fashion_mnist, load_idx_dataset
from .small import load_digits, truth_table

__all__ = [
    "DEBIAN_FASHION_MNIST", "FASHION_MNIST_CLASSES", "IDX_FILES", "IDXError", "NAMES", "Splits", "load",
    "load_digits", "load_fashion_mnist", "load_idx_dataset", "read_csv", "read_features", "read_idx", "truth_table",
]
