"""Fixtures of the command-line tests: a small Fashion-MNIST directory and a model trained on the digits."""

from __future__ import annotations

import pytest

from fastmlp.cli import main

from idx_data import fashion_slice


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
