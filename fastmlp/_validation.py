"""Input checks shared by the public API: each failure is a ValueError or TypeError naming the problem."""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

#: Input dtypes the kernels read directly; anything else real is converted once to the model's dtype.
KERNEL_INPUT_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def is_number(value: Any, kind: object) -> bool:
    """Whether ``value`` is an integer (``kind`` "int") or a real number (bools are flags, not numbers). Python's
    own int and float answer first: an ABC's isinstance costs more, and the 19 checks of the settings table
    (_settings) made up most of the 38 us that building settings took (Zen 3), on every partial_fit. The
    other checks of numbers here and the scikit-learn estimators' checks of their parameters use it too."""
    if type(value) is int or (type(value) is float and kind == "float"):
        return True
    if isinstance(value, (bool, np.bool_)):  # an Integral to Python
        return False
    return isinstance(value, numbers.Integral if kind == "int" else numbers.Real)


def check_int(value, name: str, minimum: int) -> int:
    if not is_number(value, "int"):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name: str, minimum: float = 0.0, *, positive: bool = False) -> float:
    if not is_number(value, "float"):
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
    except Exception as error:  # noqa: BLE001 - ragged lists and the like, whatever NumPy raises
        raise TypeError(f"{name} could not be converted to an array: {error}") from None
    if array.dtype.kind not in "biuf":  # bools, integers and floats; not complex, objects, strings or times
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def check_X(X, n_features: int, dtype: np.dtype, *, finite: bool = False) -> tuple[np.ndarray, float]:
    """Validate inputs; return a C-ordered array the kernels read and the factor that scales them.

    uint8 inputs are pixel intensities: the kernels divide them by 255 as they read them, so no float
    copy of the data is ever made. float32/float64 inputs are read as they are (cast per sample).
    ``finite``: the caller has checked that every value is finite (the scikit-learn estimators, which
    raise scikit-learn's own error for NaN), and the pass over X that checks it is not made again: it
    took 2.5-2.9 ms of a 16-19 ms prediction of 10,000 images by 784-100-10 in float32 (Zen 3).

    float64 X for a float32 network must also fit in float32. Its smallest and largest values show both
    (NaN propagates through min and max; an infinity is one of them): two passes that write nothing, where
    np.isfinite and np.abs(X).max() wrote a copy of X each. 10,000 x 784, Zen 3: 6.0 ms against 17.9 ms.
    Such X is checked so whatever ``finite`` says: the range needs the passes, and they find NaN as well.
    """
    X = _as_real_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features but the network's input layer has {n_features}")
    wide = X.dtype.kind == "f" and X.dtype.itemsize > dtype.itemsize  # float64 for float32, or a long double
    if wide:
        low, high = X.min(), X.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError("X contains NaN or infinity")
        if max(-low, high) > np.finfo(dtype).max:
            raise ValueError(f"X holds values too large for {dtype}")
    if X.dtype not in KERNEL_INPUT_DTYPES:
        X = X.astype(dtype)
    if not wide and X.dtype.kind == "f" and not finite and not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0
    return read_only(np.ascontiguousarray(X)), scale


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array``, as the model passes every input to the kernels (checked X here,
    targets and weights in model._Data).

    The kernels never write their inputs, and Numba compiles a kernel once for each array type it is
    called with, writability included: typed read-only always, a writable array and a read-only one (a
    memory map, np.frombuffer, the copies scikit-learn's parallel workers receive) share one compilation
    instead of compiling every kernel they reach twice.
    """
    view = array.view()
    view.flags.writeable = False
    return view


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
    return np.ascontiguousarray(y, dtype=dtype)


# ------------------------------------------------------------------------------------- the network
#: The output activations each loss is defined for; the first is the default.
LOSS_OUTPUTS = {
    "mse": ("sigmoid", "identity", "softmax"),
    "sigmoid_cross_entropy": ("sigmoid",),
    "softmax_cross_entropy": ("softmax",),
}
OUTPUTS = ("identity", "sigmoid", "softmax")
#: Hidden-layer activations; "logistic" is the lecture's sigmoid.
ACTIVATIONS = ("logistic", "tanh", "relu", "identity")
DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
#: What a network was last trained on: the dtype of its inputs (uint8 means pixels read as x / 255).
INPUT_DTYPES = ("uint8", "float32", "float64")


def check_dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dtype.name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype.name}")
    return dtype


def check_layer_sizes(layer_sizes) -> tuple[int, ...]:
    if isinstance(layer_sizes, (str, bytes)):
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}")
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    return tuple(check_int(size, "every layer size", 1) for size in sizes)


def check_loss_output(loss, output) -> tuple[str, str]:
    check_choice(loss, "loss", LOSS_OUTPUTS)
    if output is None:
        return loss, LOSS_OUTPUTS[loss][0]
    check_choice(output, "output", OUTPUTS)
    if output not in LOSS_OUTPUTS[loss]:
        raise ValueError(f"loss {loss!r} needs output in {LOSS_OUTPUTS[loss]}, got output {output!r}")
    return loss, output


def check_class_names(names, n_out: int, output: str) -> tuple[str, ...] | None:
    """None, or one distinct string per class: per output unit, or two for a single sigmoid unit (0, 1)."""
    if names is None:
        return None
    if output == "identity":
        raise ValueError("class_names name a classifier's classes; this network's identity output is a regression")
    n_classes = 2 if n_out == 1 else n_out
    if isinstance(names, (str, bytes)) or not hasattr(names, "__len__"):
        raise TypeError(f"class_names must be a list of {n_classes} strings, got {names!r}")
    names = tuple(names)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"class_names must be strings, got {names!r}")
    if len(names) != n_classes:
        raise ValueError(f"class_names must name the {n_classes} classes (label 0 first), got {len(names)} names")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"class_names must be distinct; {repeated} appear more than once")
    return names


def check_random_state(random_state) -> int | None:
    return None if random_state is None else check_int(random_state, "random_state", 0)


def check_rng_state(state, where: str) -> dict:
    """A PCG64 bit-generator state as ``numpy.random.PCG64().state`` gives it."""
    keys = {"bit_generator", "state", "has_uint32", "uinteger"}

    def is_int(value):
        return isinstance(value, int) and not isinstance(value, bool)

    valid = (
        isinstance(state, dict) and set(state) == keys and state["bit_generator"] == "PCG64"
        and isinstance(state["state"], dict) and set(state["state"]) == {"state", "inc"}
        and all(is_int(v) and 0 <= v < 2**128 for v in state["state"].values())
        and is_int(state["has_uint32"]) and state["has_uint32"] in (0, 1)
        and is_int(state["uinteger"]) and 0 <= state["uinteger"] < 2**32
    )
    if not valid:
        raise ValueError(f"{where}: rng_state is not a valid PCG64 state")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{where}: rng_state is not a valid PCG64 state ({error})") from None
    return state


def check_sample_weight(sample_weight, n_samples: int, dtype: np.dtype) -> np.ndarray:
    """Per-sample weights (n_samples,) >= 0 and finite, not all zero; empty (unweighted) for None."""
    if sample_weight is None:
        return np.empty(0, dtype)
    weights = _as_real_array(sample_weight, "sample_weight")
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must be finite and >= 0")
    if not weights.any():
        raise ValueError("sample_weight is zero for every sample")
    return weights_in(weights, dtype, "sample_weight")


def check_verbose(verbose) -> int:
    """``verbose`` as an int >= 0: True or False, or an integer."""
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    return check_int(verbose, "verbose", 0)


def check_callback(callback, model) -> None:
    """A TypeError unless ``callback(model, seconds)`` can be called, before training starts, not after an epoch."""
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # some builtins have none to read: called as they are
        return
    try:
        signature.bind(model, 0.0)
    except TypeError:
        raise TypeError(f"callback must take two arguments, (model, seconds); {callback!r} takes {signature}") from None


def weights_in(weights: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """Finite weights >= 0, not all zero, as ``dtype``: refused where that dtype cannot hold them, rounding a
    weight to 0 or infinity or their sum (a minibatch's, at most) past its largest value."""
    wide = np.asarray(weights, dtype=np.float64)
    if float(wide.sum()) > float(np.finfo(dtype).max):
        raise ValueError(f"{name} holds values too large for {dtype.name}: their sum is {wide.sum():g}")
    narrow = np.ascontiguousarray(weights, dtype=dtype)
    if (narrow[wide > 0] == 0).any():
        raise ValueError(f"{name} holds values too small for {dtype.name}: {wide[wide > 0].min():g} rounds to 0")
    return narrow
