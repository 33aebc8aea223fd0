"""Small datasets of the lecture: the AND, OR and XOR truth tables and scikit-learn's 8x8 digits."""

from __future__ import annotations

import numpy as np

#: The two inputs of a truth table, in the lecture's order (x1, x2).
TRUTH_TABLE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TRUTH_TABLES = {
    "and": np.array([0, 0, 0, 1], dtype=np.int64),
    "or": np.array([0, 1, 1, 1], dtype=np.int64),
    "xor": np.array([0, 1, 1, 0], dtype=np.int64),
}


def truth_table(name: str):
    """``(X, y)``: the four rows of the AND, OR or XOR table; X float32 (4, 2), y int64 (4,)."""
    if name not in TRUTH_TABLES:
        raise ValueError(f"unknown truth table {name!r}; expected one of {sorted(TRUTH_TABLES)}")
    return TRUTH_TABLE_INPUTS.copy(), TRUTH_TABLES[name].copy()


def load_digits(*, test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 1,797 8x8 digits as ``(X_train, y_train), (X_test, y_test)``.

    Pixels (0..16) come as float32 in [0, 1]; the split is a seeded random permutation.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise ImportError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    bunch = sklearn_digits()
    X = (bunch.data / 16.0).astype(np.float32)  # (1797, 64)
    y = bunch.target.astype(np.int64)  # (1797,)
    return split(X, y, test_fraction, seed)


def split(X, y, test_fraction: float, seed: int = 0):
    """Split ``X, y`` into ``(train, test)`` by a seeded random permutation; test gets ``test_fraction``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test fraction must be between 0 and 1, got {test_fraction}")
    n = X.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test >= n:
        raise ValueError(f"cannot split {n} samples into train and test with test fraction {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return (X[train], y[train]), (X[test], y[test])
