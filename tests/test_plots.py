"""fastmlp.plots: every picture is a PNG of the expected size with something drawn on it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fastmlp import MLP, Perceptron, plots
from fastmlp.datasets import truth_table

image = pytest.importorskip("matplotlib.image")


def assert_png(path, width: int, height: int):
    """The file opens as a PNG of width x height pixels that is not one flat colour."""
    pixels = image.imread(path)
    assert pixels.shape[:2] == (height, width), pixels.shape
    assert pixels[..., :3].var() > 1e-4  # not blank


@pytest.fixture(scope="module")
def image_net():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 60)
    return MLP([784, 9, 10], random_state=0).fit(X, y, epochs=1, batch_size=16), X, y


def test_curves(tmp_path):
    path = plots.plot_curves(tmp_path / "curves.png", [0.9, 0.5, 0.4, 0.35], [0.6, 0.7, 0.8, 0.82])
    assert_png(path, 700, 450)
    assert_png(plots.plot_curves(tmp_path / "loss.png", np.linspace(1, 0.1, 100)), 700, 450)


def test_weights_as_images(tmp_path, image_net):
    net, _, _ = image_net
    assert_png(plots.plot_weights(tmp_path / "weights.png", net), 350, 350)  # 3x3 grid, 1 inch + margin each


def test_prediction_grid(tmp_path, image_net):
    net, X, y = image_net
    path = plots.plot_predictions(tmp_path / "predictions.png", net, X, y, class_names=[f"c{k}" for k in range(10)],
                                  n=16)
    assert_png(path, 640, 720)  # 4x4 grid of 1.6 x 1.8 inches at 100 dpi


@pytest.mark.parametrize("name", ["and", "or", "xor"])
def test_decision_regions_of_a_perceptron_and_an_mlp(tmp_path, name):
    X, y = truth_table(name)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        perceptron = Perceptron().fit(X, y)
    assert_png(plots.plot_decision_regions(tmp_path / "perceptron.png", perceptron, X, y), 500, 500)
    net = MLP([2, 3, 2], random_state=0).fit(X, y, epochs=300, batch_size=4, learning_rate=1.0, momentum=0.9)
    assert_png(plots.plot_decision_regions(tmp_path / "mlp.png", net, X, y, title=name), 500, 500)


def test_the_regions_show_the_classes(tmp_path):
    # OR: the lower-left corner is class 0 (blue), the upper right class 1 (red) in the coolwarm map.
    X, y = truth_table("or")
    perceptron = Perceptron().fit(X, y)
    pixels = image.imread(plots.plot_decision_regions(tmp_path / "or.png", perceptron, X, y, resolution=50))
    lower_left, upper_right = pixels[410, 100, :3], pixels[90, 400, :3]
    assert lower_left[2] > lower_left[0] and upper_right[0] > upper_right[2]


def test_bad_requests(tmp_path, image_net):
    net, X, y = image_net
    with pytest.raises(ValueError, match="must end in .png"):
        plots.plot_curves(tmp_path / "curves.jpg", [1.0])
    with pytest.raises(ValueError, match="at least one epoch"):
        plots.plot_curves(tmp_path / "curves.png", [])
    with pytest.raises(ValueError, match="2 validation accuracies for 1 epochs"):
        plots.plot_curves(tmp_path / "curves.png", [1.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="not a 8x8 image"):
        plots.plot_weights(tmp_path / "w.png", net, image_shape=(8, 8))
    with pytest.raises(ValueError, match="2 input features"):
        plots.plot_decision_regions(tmp_path / "r.png", net, X, y)


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plots.plot_curves(tmp_path / "curves.png", [1.0])


def test_bad_samples_labels_and_counts(tmp_path, image_net):
    net, X, y = image_net
    png = tmp_path / "p.png"
    for bad_y in (y[:3], y[:, None], y - 1, y.astype(str)):  # broadcast, TypeError, no error, UFuncTypeError before
        with pytest.raises(ValueError, match="one label per sample|class indices"):
            plots.plot_predictions(png, net, X, bad_y)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got -1"):  # drew all but the last before
        plots.plot_predictions(png, net, X, y, n=-1)
    for units in (0, -1):  # an empty picture, or all but the last unit, before
        with pytest.raises(ValueError, match="max_units must be an integer >= 1"):
            plots.plot_weights(png, net, max_units=units)
    X2, y2 = truth_table("or")
    perceptron = Perceptron().fit(X2, y2)
    for bad_X, bad_y, message in ((X2[:0], y2[:0], "at least one sample"), (X2, y2[:2], "one label per sample"),
                                  (X2, y2 - 1, "class indices")):
        with pytest.raises(ValueError, match=message):
            plots.plot_decision_regions(png, perceptron, bad_X, bad_y)
    with pytest.raises(ValueError, match="resolution must be an integer >= 2"):
        plots.plot_decision_regions(png, perceptron, X2, y2, resolution=1)


def test_decision_regions_draw_every_class_past_ten(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    class Nearest:  # 12 classes: the nearest of 12 points on a circle
        angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        centres = np.column_stack([np.cos(angles), np.sin(angles)])

        def predict(self, X):
            return np.argmin(((X[:, None, :] - self.centres[None]) ** 2).sum(axis=2), axis=1)

    legends, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: (
        legends.append(figure.axes[0].get_legend_handles_labels()[1]), save(figure, *args, **kwargs))[1])
    model = Nearest()
    assert_png(plots.plot_decision_regions(tmp_path / "r.png", model, model.centres, np.arange(12.0), resolution=20),
               500, 500)
    assert legends == [[f"class {k}" for k in range(12)]]  # classes 10 and 11 were left out before
