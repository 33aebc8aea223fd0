"""Threads and processes: concurrent training and prediction, fork children, read-only installs.

These check the claims of fastmlp/_compile.py: the tbb threading layer is safe for concurrent use
from several Python threads and in a forked child, and an unwritable kernel cache falls back.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import fastmlp
import fastmlp._team
from fastmlp import _compile

FIT = dict(epochs=3, batch_size=16, learning_rate=0.5, momentum=0.9)


@pytest.fixture(autouse=True)
def _teams_even_for_small_networks(monkeypatch):
    """Every fit here trains on a team of threads (fastmlp._team), as a large network does."""
    monkeypatch.setattr(fastmlp._team, "TEAM_MIN_MACS", 0)


def _data(seed, n=300, n_features=12, n_classes=4):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_features)).astype(np.float32), rng.integers(0, n_classes, n)


def _trained(seed):
    X, y = _data(seed)
    return fastmlp.MLP([12, 16, 4], random_state=seed).fit(X, y, **FIT)


def _run_threads(targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - reported to the main thread below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_threading_layer_is_thread_and_fork_safe():
    _trained(0)  # the layer is chosen at the first parallel launch
    assert _compile.threading_layer() in {"tbb", "omp"} or "NUMBA_THREADING_LAYER" in os.environ
    if "NUMBA_THREADING_LAYER" not in os.environ:
        assert _compile.threading_layer() == "tbb"


def test_two_threads_train_two_models_at_once():
    expected = [_trained(seed).params for seed in (1, 2)]
    for _ in range(3):
        nets = {}
        _run_threads([lambda seed=seed, nets=nets: nets.__setitem__(seed, _trained(seed)) for seed in (1, 2)])
        for seed, params in zip((1, 2), expected):
            np.testing.assert_array_equal(nets[seed].params, params)


def test_team_helpers_are_kept_per_calling_thread_and_end_with_it():
    X, y = _data(9)
    fastmlp.MLP([12, 16, 4], random_state=0).fit(X, y, epochs=2, n_threads=2)
    mine = fastmlp._team._helpers(1)[0].thread
    fastmlp.MLP([12, 16, 4], random_state=1).fit(X, y, epochs=2, n_threads=2)
    assert fastmlp._team._helpers(1)[0].thread is mine and mine.is_alive()  # kept between calls
    theirs = []

    def train():
        fastmlp.MLP([12, 16, 4], random_state=2).fit(X, y, epochs=2, n_threads=2)
        theirs.append(fastmlp._team._helpers(1)[0].thread)

    _run_threads([train])
    assert theirs[0] is not mine
    gc.collect()
    theirs[0].join(timeout=30)
    assert not theirs[0].is_alive(), "a finished thread's team helper should stop"
    assert mine.is_alive()


def test_concurrent_predict_on_one_model():
    net = _trained(3)
    X = np.random.default_rng(4).random((2000, 12)).astype(np.float32)
    expected = net.forward(X)
    results = [None] * 4

    def predict(t):
        for _ in range(5):
            results[t] = net.forward(X)

    _run_threads([lambda t=t: predict(t) for t in range(4)])
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_predict_while_another_thread_trains_another_model():
    net = _trained(5)
    X = np.random.default_rng(6).random((500, 12)).astype(np.float32)
    expected = net.predict(X)
    got = []
    _run_threads([lambda: _trained(7), lambda: got.extend(net.predict(X) for _ in range(20))])
    for labels in got:
        np.testing.assert_array_equal(labels, expected)


def _child_trains(queue):
    net = _trained(8)
    X, _ = _data(8)
    queue.put((net.params.copy(), net.predict(X)))


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux only")
def test_fork_child_trains_and_predicts_after_parent_trained():
    parent = _trained(8)  # the parent has started Numba's thread pool before forking
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_trains, args=(queue,))
    child.start()
    params, labels = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(params, parent.params)
    np.testing.assert_array_equal(labels, parent.predict(_data(8)[0]))


def _blocked(path: Path) -> Path:
    """A path that cannot be created even by root: it lies under a regular file."""
    path.write_text("a file, so nothing can be created below it\n")
    return path / "cache"


@pytest.mark.skipif(sys.platform != "linux", reason="uses POSIX permissions")
def test_read_only_install_without_cache_still_runs(tmp_path):
    """A copy of the package where no cache location is writable imports, trains and predicts.

    Root ignores file permissions, so besides chmod the test puts a regular file where every cache
    directory Numba would try (NUMBA_CACHE_DIR, each package folder's __pycache__, the user cache)
    must go.
    """
    source = Path(fastmlp.__file__).parent
    install = tmp_path / "site"
    shutil.copytree(source, install / "fastmlp", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for folder in [install / "fastmlp", *(p for p in (install / "fastmlp").rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a directory\n")
    for path in sorted(install.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = dict(
        os.environ,
        PYTHONPATH=str(install),
        PYTHONDONTWRITEBYTECODE="1",
        NUMBA_CACHE_DIR=str(_blocked(tmp_path / "numba-cache")),
        XDG_CACHE_HOME=str(_blocked(tmp_path / "xdg-cache")),
        HOME=str(_blocked(tmp_path / "home")),
    )
    env.pop("NUMBA_DISABLE_JIT", None)  # the point is compiling without a cache, also in a coverage run
    script = textwrap.dedent(
        """
        import numpy as np, fastmlp
        from fastmlp import _compile
        assert fastmlp.__file__.startswith(%r), fastmlp.__file__
        X = np.random.default_rng(0).random((64, 5)); y = np.arange(64) %% 3
        net = fastmlp.MLP([5, 4, 3], random_state=0).fit(X, y, epochs=2, batch_size=8)
        assert np.isfinite(net.forward(X)).all()
        print("caching", _compile.CACHING)
        """
        % str(install)
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
    finally:
        for path in install.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr
    assert "caching False" in result.stdout
