"""Input checks shared by the public API: each failure is a ValueError or TypeError naming the problem."""

from __future__ import annotations

import numbers

import numpy as np

#: Input dtypes the kernels read directly; anything else real is converted once to the model's dtype.
KERNEL_INPUT_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name: str, minimum: float = 0.0, *, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(choices)}")
    return value


def _as_real_array(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to an array: {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def check_X(X, n_features: int, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """Validate inputs; return a C-ordered array the kernels read and the factor that scales them.

    uint8 inputs are pixel intensities: the kernels divide them by 255 as they read them, so no float
    copy of the data is ever made. float32/float64 inputs are read as they are (cast per sample).
    """
    X = _as_real_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but the network's input layer has {n_features}")
    if X.dtype not in KERNEL_INPUT_DTYPES:
        X = X.astype(dtype)
    if X.dtype.kind == "f":
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        if X.dtype.itemsize > dtype.itemsize and np.abs(X).max() > np.finfo(dtype).max:
            raise ValueError(f"X holds values too large for {dtype}")
    X = np.ascontiguousarray(X)
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    return X, scale


def check_targets(y, n_samples: int, n_out: int, dtype: np.dtype, *, probabilities: bool = False) -> np.ndarray:
    """Labels (n,) as int64 in [0, n_out), or a float target matrix (n, n_out) in the model's dtype.

    For a single output unit a 1-D ``y`` is the target column itself (binary labels 0/1, regression).
    ``probabilities``: the loss is a cross-entropy, so targets must lie in [0, 1]
    (tests/test_validation.py::test_cross_entropy_targets_outside_0_1).
    """
    y = _as_real_array(y, "y")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.shape[:1] != (n_samples,):
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0] if y.ndim else 0}")
    if y.ndim == 1:
        if y.dtype.kind == "f":
            if not np.all(y == np.round(y)):
                raise ValueError("y holds class labels but some are not whole numbers")
        elif y.dtype == bool:
            raise TypeError("y must hold integer class labels or a float target matrix, got bool")
        low, high = y.min(), y.max()
        if low < 0 or high >= n_out:
            raise ValueError(f"labels must be in [0, {n_out}) for {n_out} output units; found {low}..{high}")
        return y.astype(np.int64)
    if y.ndim != 2 or y.shape[1] != n_out:
        raise ValueError(f"y must be labels (n_samples,) or targets (n_samples, {n_out}); got shape {y.shape}")
    if y.dtype.kind == "f" and y.dtype.itemsize > dtype.itemsize and np.abs(y).max() > np.finfo(dtype).max:
        raise ValueError(f"y holds values too large for {dtype}")
    if probabilities and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"cross-entropy targets must be in [0, 1] (probabilities or 0/1 labels); "
                         f"found {y.min()}..{y.max()}")
    y = np.ascontiguousarray(y, dtype=dtype)
    return y
