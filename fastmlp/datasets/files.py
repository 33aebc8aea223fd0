"""User data files: labelled ``.npz`` and ``.csv`` for training, and feature-only inputs for prediction."""

from __future__ import annotations

import csv
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .idx import read_idx

#: Labels this large are refused when they are also ten times the number of distinct labels: each label is an
#: output unit's index, and 2 classes labelled 0 and 10**9 would build a billion outputs.
SPARSE_LABELS = 100
#: Header names taken as the label column of a CSV file when none is named.
LABEL_NAMES = ("label", "labels", "class", "target", "y")


def _flatten(X: np.ndarray, name: str) -> np.ndarray:
    """Samples as rows: (n,) -> (n, 1), images (n, rows, cols) -> (n, rows * cols)."""
    if X.ndim == 1:
        return X.reshape(-1, 1)
    if X.ndim < 1:
        raise ValueError(f"{name}: expected an array of samples, got a scalar")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: holds no samples")
    return X.reshape(X.shape[0], -1)


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: labels must be 1-D, got shape {y.shape}")
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise ValueError(f"{name}: labels must be whole numbers (class indices 0, 1, ...)")
    if y.size and y.min() < 0:
        raise ValueError(f"{name}: labels must be >= 0, found {y.min()}")
    distinct = np.unique(y).size
    if y.size and y.max() >= max(SPARSE_LABELS, 10 * distinct):  # the network would get max + 1 outputs
        raise ValueError(f"{name}: labels must be class indices 0, 1, ...; found {distinct} distinct labels up to "
                         f"{y.max():g}, which would need {y.max() + 1:g} output units: number the classes 0 to "
                         f"{distinct - 1} (np.unique(y, return_inverse=True))")
    return y.astype(np.int64)


def _read_numpy(path: Path, read, kind: str):
    """``read()``, with whatever a damaged file makes NumPy raise said as one ValueError naming the file.

    An empty file raises EOFError, one that is no zip BadZipFile, a garbled .npy header tokenize.TokenError or
    SyntaxError, damaged compressed data zlib.error, a .npy by another name TypeError: none of them a ValueError.
    """
    try:
        return read()
    except (ValueError, TypeError, OSError, EOFError, SyntaxError, NotImplementedError, zipfile.BadZipFile,
            zlib.error, tokenize.TokenError) as error:
        raise ValueError(f"{path}: not a readable {kind} file ({error or type(error).__name__})") from None


def _read_npz(path: Path) -> dict:
    """Every array of an ``.npz`` file, by its lower-cased name."""
    def read():
        # Our own handle: np.load leaves the one it opens unclosed when the file is no zip.
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            return {key.lower(): archive[key] for key in archive.files}

    return _read_numpy(path, read, ".npz")


def load_npz(path, *, test_fraction: float = 0.2, seed: int = 0):
    """Read ``X_train, y_train, X_test, y_test`` (any case) or ``X, y`` (split here) from an ``.npz`` file.

    Returns ``((X_train, y_train), (X_test, y_test), image_shape)``; image arrays (n, rows, cols) are
    flattened and uint8 pixels stay uint8.
    """
    from .small import split

    path = Path(path)
    arrays = _read_npz(path)
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        parts = [arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]]
    elif {"x", "y"} <= arrays.keys():
        parts = None
    else:
        raise ValueError(f"{path}: expected arrays X_train, y_train, X_test, y_test (or X, y); found {sorted(arrays)}")
    sample = arrays["x_train"] if parts else arrays["x"]
    image_shape = tuple(sample.shape[1:]) if sample.ndim == 3 else None
    if parts is None:
        X, y = _flatten(arrays["x"], f"{path}: X"), _labels(arrays["y"], f"{path}: y")
        _same_length(X, y, path)
        train, test = split(X, y, test_fraction, seed)
    else:
        train = (_flatten(parts[0], f"{path}: X_train"), _labels(parts[1], f"{path}: y_train"))
        test = (_flatten(parts[2], f"{path}: X_test"), _labels(parts[3], f"{path}: y_test"))
        _same_length(*train, path)
        _same_length(*test, path)
        if train[0].shape[1] != test[0].shape[1]:
            raise ValueError(f"{path}: X_train has {train[0].shape[1]} features per sample but X_test "
                             f"{test[0].shape[1]}")
    return train, test, image_shape


def _same_length(X, y, path):
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels")


def _sniff_header(path: Path):
    """The first row of a CSV file and whether it is a header (not all numbers)."""
    try:
        with open(path, newline="") as stream:
            first = next(csv.reader(stream), None)
    except UnicodeDecodeError as error:  # a ValueError, but one that does not say which file
        raise ValueError(f"{path}: not a text CSV file ({error})") from None
    if first is None:
        raise ValueError(f"{path}: empty CSV file")
    if not first:
        raise ValueError(f"{path}: the first line is blank; expected a header or a row of numbers")
    try:
        [float(cell) for cell in first]
    except ValueError:
        return [cell.strip() for cell in first], True
    return first, False


def read_csv(path, *, label_column=None, class_names=None):
    """``(X, y, class_names)`` from a CSV file of numbers with one label column.

    ``label_column`` is a header name or a 0-based index; by default the column named label, class,
    target or y, else the first column. Labels are class indices, or names: mapped to 0, 1, ... in the
    order of ``class_names`` when given (a model's, so that a file missing a class keeps the numbering),
    else in sorted order. The ``class_names`` returned are that order (None for indices). Features come
    as float32.
    """
    path = Path(path)
    first, has_header = _sniff_header(path)
    n_columns = len(first)
    if n_columns < 2:
        raise ValueError(f"{path}: a CSV file needs a label column and at least one feature column")
    column = _label_index(first if has_header else None, n_columns, label_column, path)
    features = [c for c in range(n_columns) if c != column]
    skip = 1 if has_header else 0
    label = f"{first[column]!r}" if has_header else f"column {column}"  # the label column, for errors
    try:
        with warnings.catch_warnings():  # a file of no rows: said below, once, as the error
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            X = _loadtxt(path, skip, features, np.float32)
            raw_labels = _loadtxt(path, skip, column, str)
    except ValueError as error:
        raise ValueError(f"{path}: not a CSV file of numbers ({error}); the label column taken was {label}, "
                         "name another with label_column (--label-column)") from None
    _check_widths(path, n_columns)
    if X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    raw_labels = np.char.strip(raw_labels)
    missing = np.flatnonzero(raw_labels == "")
    if missing.size:  # else '' became a class name, and numbers beside it names too
        raise ValueError(f"{path}: {missing.size} data row(s) have no label in the label column {label} "
                         f"(the first: data row {missing[0] + 1})")
    try:
        numeric = raw_labels.astype(np.float64)
    except ValueError:  # names
        return X, *_numbered(raw_labels, class_names, path)
    return X, _labels(numeric, f"{path}: labels"), None


def _numbered(names: np.ndarray, class_names, path) -> tuple[np.ndarray, list[str]]:
    """Text labels as indices into ``class_names``, or into their own sorted set when it is None."""
    if class_names is None:
        class_names = sorted(set(names.tolist()))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(names.tolist()) - index.keys())
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        which = f"label {shown} is" if len(unknown) == 1 else f"labels {shown} are"
        raise ValueError(f"{path}: {which} not among the model's classes {list(class_names)}")
    return np.array([index[name] for name in names.tolist()], np.int64), list(class_names)


def _check_widths(path: Path, n_columns: int) -> None:
    """A ValueError for a line with more cells than the first: np.loadtxt reads only the columns it is asked for,
    and would drop the extra cells of such a row silently (fewer cells it reports itself). Files with quoted
    cells, whose commas need a CSV parser to count, are left to it."""
    raw = path.read_bytes()
    if b'"' in raw:
        return
    for number, line in enumerate(raw.splitlines(), 1):
        if line.count(b",") > n_columns - 1:
            raise ValueError(f"{path}: line {number} has {line.count(b',') + 1} cells, the first line {n_columns}")


def _loadtxt(path: Path, skip: int, columns, dtype) -> np.ndarray:
    """Columns of a CSV file (quoted cells may hold commas): 2-D for a list of columns, 1-D for one.

    CSV has no comments: a "#" is a character of its cell (np.loadtxt's default dropped the rest of the line,
    and with it a row whose label began with "#").
    """
    return np.loadtxt(path, delimiter=",", quotechar='"', skiprows=skip, usecols=columns, dtype=dtype,
                      ndmin=2 if isinstance(columns, list) else 1, comments=None)


def _label_index(header, n_columns: int, label_column, path) -> int:
    if label_column is None:
        if header is not None:
            lowered = [name.lower() for name in header]
            for name in LABEL_NAMES:
                if name in lowered:
                    return lowered.index(name)
        return 0
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if header is None or label_column not in header:
            raise ValueError(f"{path}: no column named {label_column!r} (header: {header})")
        return header.index(label_column)
    index = int(label_column)
    if not -n_columns <= index < n_columns:
        raise ValueError(f"{path}: label column {index} out of range for {n_columns} columns")
    return index % n_columns


def load_csv(path, *, label_column=None, class_names=None, test_fraction: float = 0.2, seed: int = 0):
    """A labelled CSV file split into ``((X_train, y_train), (X_test, y_test), class_names)``; see
    :func:`read_csv`."""
    from .small import split

    X, y, class_names = read_csv(path, label_column=label_column, class_names=class_names)
    train, test = split(X, y, test_fraction, seed)
    return train, test, class_names


def read_features(path, *, label_column=None) -> np.ndarray:
    """Samples to predict, as rows: ``.npy``, ``.npz`` (X, X_test or its only array), ``.csv`` or IDX.

    Images (n, rows, cols) are flattened; uint8 pixels stay uint8. A CSV file's ``label_column`` (a
    header name or 0-based index) is dropped, as is, by default, a column named label, class, target or y.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    name = path.name.lower()
    if label_column is not None and not name.endswith(".csv"):
        raise ValueError(f"label_column ({label_column!r}) names a column of a .csv file; {path} is not one")
    if name.endswith(".npy"):
        X = _read_numpy(path, lambda: np.load(path, allow_pickle=False), ".npy")
    elif name.endswith(".npz"):
        arrays = _read_npz(path)
        key = next((k for k in ("x", "x_test") if k in arrays), None)
        if key is None and len(arrays) == 1:
            key = next(iter(arrays))
        if key is None:
            raise ValueError(f"{path}: expected an array named X or X_test (or a single array); found {sorted(arrays)}")
        X = arrays[key]
    elif name.endswith(".csv"):
        first, has_header = _sniff_header(path)
        if label_column is not None:
            drop = _label_index(first if has_header else None, len(first), label_column, path)
        else:
            lowered = [cell.lower() for cell in first] if has_header else []
            drop = next((lowered.index(n) for n in LABEL_NAMES if n in lowered), None)
        columns = [c for c in range(len(first)) if c != drop]
        try:
            with warnings.catch_warnings():  # a file of no rows: _flatten says so
                warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
                X = _loadtxt(path, int(has_header), columns, np.float32)
        except ValueError as error:
            raise ValueError(f"{path}: not a CSV file of numbers ({error})") from None
        _check_widths(path, len(first))
    else:
        X = read_idx(path)
    return _flatten(X, str(path))
