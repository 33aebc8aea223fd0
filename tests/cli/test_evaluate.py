"""fastmlp.cli.evaluate: accuracy and loss of a saved model on a split, its plots, and bad models or data."""

from __future__ import annotations

import re

import pytest

import fastmlp

from cli_calls import call
from markers import needs_compiled_kernels


@needs_compiled_kernels
def test_evaluate_a_saved_model(capsys, digits_model):
    code, out, err = call(capsys, "evaluate", digits_model, "digits")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\S+),", out).group(1))
    net = fastmlp.load(digits_model)
    (_, _), (X_test, y_test) = fastmlp.datasets.load("digits")
    assert accuracy == pytest.approx(net.score(X_test, y_test), abs=1e-4)
    assert accuracy > 0.9 and "359 samples" in out and "64-64-10" in out
    code, out, _ = call(capsys, "evaluate", digits_model, "digits", "--split", "train")
    assert code == 0 and "1,438 samples" in out


@needs_compiled_kernels
def test_evaluate_images_with_plots(capsys, tmp_path, idx_dir, fashion_model):
    code, out, err = call(capsys, "evaluate", fashion_model, "fashion-mnist", "--data-dir", idx_dir,
                          "--plot-weights", tmp_path / "w.png", "--plot-predictions", tmp_path / "p.png")
    assert code == 0, err
    assert "on fashion-mnist test split" in out and "(500 samples)" in out and out.count("wrote ") == 2
    image = pytest.importorskip("matplotlib.image")
    assert image.imread(tmp_path / "w.png").shape[:2] == (350, 350)  # 8 units: a 3x3 grid
    assert image.imread(tmp_path / "p.png")[..., :3].var() > 1e-4


@needs_compiled_kernels
def test_bad_model_and_data(capsys, tmp_path, digits_model):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    code, _, err = call(capsys, "evaluate", bad, "digits")
    assert code == 1 and err.startswith("fastmlp evaluate: error: ") and err.count("\n") == 1
    code, _, err = call(capsys, "evaluate", digits_model, "xor")  # 2 features for a 64-input model
    assert code == 1 and "2 features" in err and "64" in err
