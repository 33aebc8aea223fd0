"""Pictures of training (matplotlib, an optional extra): curves, first-layer weights, predictions, regions.

Each function writes one PNG and returns its path. Figures are built without pyplot, so no global
backend or figure state is touched and the functions work headless and from threads.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib (or fastmlp[plot])") from None
    return Figure(figsize=(width, height), dpi=100)


def _save(figure, path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG: {path} must end in .png")
    figure.savefig(path, format="png")
    return path


def _labels_for(X: np.ndarray, y) -> np.ndarray:
    """``y`` as one whole-number class index >= 0 per row of ``X``, else a ValueError saying what is wrong."""
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must be 1-D with one label per sample ({X.shape[0]}), got shape {y.shape}")
    whole = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(y == np.round(y))))
    if not whole or (y.size and y.min() < 0):
        raise ValueError(f"y must hold class indices 0, 1, ..., got {y.dtype} labels"
                         + (f" down to {y.min():g}" if whole else ""))
    return y.astype(np.int64)


def _count(value, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def plot_curves(path, loss_curve, val_accuracy=None) -> Path:
    """Training loss per epoch and, when given, validation accuracy per epoch (second axis).

    ``loss_curve`` is e.g. ``net.loss_curve_``; ``val_accuracy`` a list of the same length.
    """
    loss_curve = np.asarray(loss_curve, dtype=float)
    if loss_curve.ndim != 1 or loss_curve.size == 0:
        raise ValueError("loss_curve must hold the loss of at least one epoch")
    epochs = np.arange(1, loss_curve.size + 1)
    figure = _figure(7, 4.5)
    axes = figure.add_subplot()
    axes.plot(epochs, loss_curve, "o-" if loss_curve.size <= 30 else "-", color="tab:blue", label="training loss")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axes.set_xlabel("epoch")
    axes.set_ylabel("training loss", color="tab:blue")
    axes.grid(alpha=0.3)
    if val_accuracy is not None and len(val_accuracy):
        accuracy = np.asarray(val_accuracy, dtype=float)
        if accuracy.shape != loss_curve.shape:
            raise ValueError(f"{accuracy.size} validation accuracies for {loss_curve.size} epochs")
        right = axes.twinx()
        right.plot(epochs, accuracy, "s-" if accuracy.size <= 30 else "-", color="tab:orange",
                   label="validation accuracy")
        right.set_ylabel("validation accuracy", color="tab:orange")
        axes.set_title(f"final loss {loss_curve[-1]:.4f}, validation accuracy {accuracy[-1]:.4f}")
    else:
        axes.set_title(f"final loss {loss_curve[-1]:.4f}")
    figure.tight_layout()
    return _save(figure, path)


def plot_weights(path, net, image_shape=(28, 28), max_units: int = 100) -> Path:
    """The first layer's incoming weights of each hidden unit drawn as an image of the input's shape."""
    weights = net.thetas()[0][:, :-1]  # (n_hidden, n_in): drop the bias column
    rows, cols = image_shape
    if weights.shape[1] != rows * cols:
        raise ValueError(f"the first layer has {weights.shape[1]} inputs, not a {rows}x{cols} image")
    weights = weights[:_count(max_units, "max_units", 1)]
    n = weights.shape[0]
    grid = int(np.ceil(np.sqrt(n)))
    figure = _figure(1.0 * grid + 0.5, 1.0 * grid + 0.5)
    figure.suptitle(f"first-layer weights of {n} hidden units\n(red positive, blue negative, white 0)",
                    fontsize=min(12, 5 + 2 * grid))
    for unit in range(n):
        axes = figure.add_subplot(grid, grid, unit + 1)
        image = weights[unit].reshape(rows, cols)
        limit = np.abs(image).max() or 1.0  # symmetric colour scale: white = 0
        axes.imshow(image, cmap="seismic", vmin=-limit, vmax=limit)
        axes.set_axis_off()
    return _save(figure, path)


def plot_predictions(path, net, X, y, *, image_shape=(28, 28), class_names=None, n: int = 25) -> Path:
    """A grid of the first ``n`` images with predicted and true labels (red when wrong)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    y = _labels_for(X, y)
    n = _count(n, "n", 1)
    X, y = X[:n], y[:n]
    rows, cols = image_shape
    if X.shape[1] != rows * cols:
        raise ValueError(f"samples have {X.shape[1]} features, not a {rows}x{cols} image")
    predicted = net.predict(X)
    names = list(class_names) if class_names else None

    def label(k):
        return names[k] if names and 0 <= k < len(names) else str(k)

    grid = int(np.ceil(np.sqrt(len(X))))
    figure = _figure(1.6 * grid, 1.8 * grid)
    correct = int(np.sum(predicted == y))
    figure.suptitle(f"{correct} of {len(X)} correct (predicted / true)")
    for i in range(len(X)):
        axes = figure.add_subplot(grid, grid, i + 1)
        axes.imshow(X[i].reshape(rows, cols), cmap="gray_r")
        axes.set_title(f"{label(int(predicted[i]))} / {label(int(y[i]))}", fontsize=7,
                       color="black" if predicted[i] == y[i] else "red")
        axes.set_axis_off()
    figure.tight_layout()
    return _save(figure, path)


def plot_decision_regions(path, model, X, y, *, title=None, resolution: int = 200) -> Path:
    """The classes a 2-input ``model`` (an MLP or Perceptron) assigns over the plane, with the data points."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision regions need 2 input features, got shape {X.shape}")
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise ValueError("decision regions need at least one sample and finite inputs")
    y = _labels_for(X, y)
    resolution = _count(resolution, "resolution", 2)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.5, 0.25 * (high - low))
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    regions = model.predict(points).reshape(grid_x.shape)
    figure = _figure(5, 5)
    axes = figure.add_subplot()
    n_classes = int(max(regions.max(), y.max())) + 1
    axes.contourf(grid_x, grid_y, regions, levels=np.arange(n_classes + 1) - 0.5, cmap="coolwarm", alpha=0.35)
    for label, marker in zip(range(n_classes), itertools.cycle("o^sDv<>p*h")):  # every class, past ten too
        mask = y == label
        axes.scatter(X[mask, 0], X[mask, 1], marker=marker, s=120, edgecolor="black",
                     c=[label] * int(mask.sum()), cmap="coolwarm", vmin=0, vmax=max(n_classes - 1, 1),
                     label=f"class {label}")
    axes.set_xlabel("x1")
    axes.set_ylabel("x2")
    accuracy = float(np.mean(model.predict(X) == y))
    axes.set_title(title or f"decision regions (accuracy {accuracy:.2f})")
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)
