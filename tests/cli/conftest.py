"""Fixtures of the command-line tests: datasets and models saved for evaluate and predict."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.cli import main
from fastmlp.datasets import load

from idx_data import fashion_slice, write_idx_dir


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
    return fashion_slice(tmp_path_factory.mktemp("fashion"), 3000, 500)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    assert main(["train", "digits", "--epochs", "15", "--save", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="session")
def fashion_model(tmp_path_factory, idx_dir):
    path = tmp_path_factory.mktemp("model") / "fashion.npz"
    assert main(["train", str(idx_dir), "--epochs", "1", "--hidden", "8", "--save", str(path), "-q"]) == 0
    return path


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory):
    """An IDX directory of 4x4 images in 3 classes (30 train, 12 test): cheap even with kernels as Python."""
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (30, 4, 4)), np.arange(30) % 3)
    test = (rng.integers(0, 256, (12, 4, 4)), np.arange(12) % 3)
    return write_idx_dir(tmp_path_factory.mktemp("tiny"), train, test)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_images):
    """A 16-4-3 model trained briefly on ``tiny_images``, saved."""
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    (X, y), _ = load(tiny_images)
    MLP([16, 4, 3], random_state=0).fit(X, y, epochs=3, batch_size=8).save(path)
    return path
