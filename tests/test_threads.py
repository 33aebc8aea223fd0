"""fastmlp._team and the threading layer: team sizes, helper threads, results independent of the thread count,
concurrent training and prediction, fork children, read-only installs.

These check the claims of fastmlp/_team.py and fastmlp/_compile.py: the weights do not depend on the number of
threads; the tbb threading layer is safe for concurrent use from several Python threads and in a forked child;
an unwritable kernel cache falls back.
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

import numba
import numpy as np
import pytest

import fastmlp
import fastmlp._team
from fastmlp import MLP, _compile
from fastmlp._layout import build_layout

import naive
from cases import DTYPES, assert_close, float_thetas
from covering import pairwise
from kernel_args import gap_mask
from markers import needs_compiled_kernels, needs_jit, needs_two_threads

FIT = dict(epochs=3, batch_size=16, learning_rate=0.5, momentum=0.9)


#: Every fit of the tests that use it trains on a team of threads, as a large network does.
on_teams = pytest.mark.usefixtures("teams")


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


@on_teams
def test_threading_layer_is_thread_and_fork_safe():
    _trained(0)  # the layer is chosen at the first parallel launch
    assert _compile.threading_layer() in {"tbb", "omp"} or "NUMBA_THREADING_LAYER" in os.environ
    if "NUMBA_THREADING_LAYER" not in os.environ:
        assert _compile.threading_layer() == "tbb"


@on_teams
def test_two_threads_train_two_models_at_once():
    expected = [_trained(seed).params for seed in (1, 2)]
    for _ in range(3):
        nets = {}
        _run_threads([lambda seed=seed, nets=nets: nets.__setitem__(seed, _trained(seed)) for seed in (1, 2)])
        for seed, params in zip((1, 2), expected):
            np.testing.assert_array_equal(nets[seed].params, params)


@on_teams
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


@on_teams
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


@on_teams
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


@on_teams
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


@needs_jit  # all in a child, which compiles every kernel cold: nothing for the coverage run to see
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
    env.pop("NUMBA_DISABLE_JIT", None)  # the point is compiling without a cache
    script = textwrap.dedent(
        """
        import numpy as np, fastmlp
        from fastmlp import _compile
        assert fastmlp.__file__.startswith(INSTALL), fastmlp.__file__
        X = np.random.default_rng(0).random((64, 5)); y = np.arange(64) % 3
        net = fastmlp.MLP([5, 4, 3], random_state=0).fit(X, y, epochs=2, batch_size=8)
        assert np.isfinite(net.forward(X)).all()
        print("caching", _compile.CACHING)
        """
    ).replace("INSTALL", repr(str(install)))
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
    finally:
        for path in install.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr
    assert "caching False" in result.stdout


# ---------------------------------------------------------------- team size
@pytest.mark.parametrize("sizes, batch_size, n_samples, members", [
    ((784, 100, 10), 1, 60_000, 2),    # 78,500 first-layer parameters: shared even for one sample a step
    ((784, 15, 10), 1, 60_000, 2),     # 11,775
    ((300, 30, 10), 1, 60_000, 1),     # 9,030, and 9,340 multiply-adds a step: too few to share
    ((300, 30, 10), 16, 60_000, 2),    # 149 thousand: worth two threads
    ((20, 13, 4), 64, 60_000, 1),      # 64 x 333 multiply-adds
    ((784, 100, 10), 32, 32, 1),       # one step of 2.5 million multiply-adds: less than waking a helper costs
    ((784, 100, 10), 32, 64, 2),       # two, 5.1 million in all
    ((784, 100, 10), 1, 16, 1),        # 16 steps of one sample, 1.3 million
    ((300, 30, 10), 16, 400, 1),       # 3.7 million
    ((300, 30, 10), 16, 500, 2),       # 4.7 million
])
def test_team_size(sizes, batch_size, n_samples, members):
    layout, _ = build_layout(sizes, 4)
    assert fastmlp._team.team_size(layout, batch_size, n_samples, 2) == members
    assert fastmlp._team.team_size(layout, batch_size, n_samples, 1) == 1


@on_teams
@needs_two_threads
def test_a_team_kept_waiting_goes_on_alone_for_a_while(monkeypatch):
    """A team call whose members waited at barriers for WAIT_LIMIT of their time (another process had a core)
    sends the next calls to one thread, twice as many after each relapse; the weights and the loss stay those of
    one thread, and of calls of any length (CALL_SECONDS)."""
    calls = []
    real_run = fastmlp._team._run

    def run(args, members, *rest):
        calls.append(members)
        return real_run(args, members, *rest)

    monkeypatch.setattr(fastmlp._team, "_run", run)
    monkeypatch.setattr(fastmlp._team, "STEPS_PER_CALL", 1)
    monkeypatch.setattr(fastmlp._team, "CALL_SECONDS", 0.0)  # every call of STEPS_PER_CALL steps
    monkeypatch.setattr(fastmlp._team._local, "solo_calls", 0, raising=False)
    monkeypatch.setattr(fastmlp._team._local, "backoff", 1, raising=False)
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(192, 64)), rng.integers(0, 4, 192)

    def fit(n_threads):
        net = MLP((64, 80, 4), dtype="float64", random_state=1)
        net.fit(X, y, epochs=1, batch_size=16, learning_rate=0.1, n_threads=n_threads)
        return np.append(net.params, net.loss_curve_)

    monkeypatch.setattr(fastmlp._team, "WAIT_LIMIT", 0.0)  # every team call counts as kept waiting
    kept_waiting = fit(2)
    assert calls == [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 2, 1]
    monkeypatch.setattr(fastmlp._team, "WAIT_LIMIT", 1.1)  # none does
    fastmlp._team._local.solo_calls, fastmlp._team._local.backoff = 0, 1
    calls.clear()
    np.testing.assert_array_equal(fit(2), kept_waiting)
    assert calls == [2] * 12
    np.testing.assert_array_equal(fit(1), kept_waiting)
    # after the first call, calls of about CALL_SECONDS: here the rest of the epoch in one, the same weights
    monkeypatch.setattr(fastmlp._team, "CALL_SECONDS", 1e9)
    calls.clear()
    np.testing.assert_array_equal(fit(2), kept_waiting)
    assert calls == [2, 2]
    # a call of fewer than JUDGED_SHARE x STEPS_PER_CALL steps is not judged: the helpers' wake-up
    # would be most of its wait
    monkeypatch.setattr(fastmlp._team, "WAIT_LIMIT", 0.0)
    monkeypatch.setattr(fastmlp._team, "STEPS_PER_CALL", 8)
    calls.clear()
    net = MLP((64, 80, 4), dtype="float64", random_state=1)
    for _ in range(3):
        net.partial_fit(X[:48], y[:48], batch_size=16, learning_rate=0.1, n_threads=2)  # 3 steps
    net.partial_fit(X[:64], y[:64], batch_size=16, learning_rate=0.1, n_threads=2)  # 4 steps: judged
    net.partial_fit(X[:48], y[:48], batch_size=16, learning_rate=0.1, n_threads=2)
    assert calls == [2, 2, 2, 2, 1]


# ---------------------------------------------------------------- results independent of the thread count
def train(X, y, dtype, batch_size, n_threads, seed=40):
    net = MLP((X.shape[1], 13, 9, 4), loss="softmax_cross_entropy", dtype=dtype, random_state=seed)
    return net.fit(X, y, epochs=2, batch_size=batch_size, learning_rate=0.2, momentum=0.9, weight_decay=1e-3,
                   n_threads=n_threads)


@on_teams
@needs_two_threads
@pairwise(dtype=DTYPES, batch_size=[1, 7, 33, 64], uint8=[False, True])
def test_threads_bit_identical(dtype, batch_size, uint8):
    """The trained weights, loss curve and outputs do not depend on the number of threads."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(41)
    X = rng.integers(0, 256, (150, 20), dtype=np.uint8)
    if not uint8:
        X = X.astype(dtype) / dtype.type(255)
    y = rng.integers(0, 4, 150)
    one = train(X, y, dtype, batch_size, n_threads=1)
    two = train(X, y, dtype, batch_size, n_threads=2)
    assert not np.array_equal(one.params, MLP((20, 13, 9, 4), dtype=dtype, random_state=40).params)  # it trained
    np.testing.assert_array_equal(one.params, two.params)
    assert one.loss_curve_ == two.loss_curve_
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        out_one = one.forward(X)
        numba.set_num_threads(2)
        out_two = one.forward(X)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(out_one, out_two)


@needs_two_threads
@needs_compiled_kernels
@pairwise(dtype=DTYPES, batch_size=[1, 4, 10, 15, 16], plain=[True, False], hidden=[100, 1024])
def test_threads_bit_identical_wide_layers(dtype, batch_size, plain, hidden):
    """Small minibatches, where a thread may get no samples to gather or no output rows (kernels.team),
    give the same weights on one thread and on two, and the reference's SGD. 1,024 hidden units make the
    first layer's rows 4 KB (float32) or 8 KB long, which the model stores two lines apart, and every row is
    rounded up to whole lines (_layout.lead_width): the gaps stay 0."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, (96, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 96)
    sizes = (784, hidden, 10)
    settings = dict(epochs=1, batch_size=batch_size, learning_rate=0.1, momentum=0.0 if plain else 0.9)
    one = MLP(sizes, dtype=dtype, random_state=3).fit(X, y, n_threads=1, **settings)
    two = MLP(sizes, dtype=dtype, random_state=3).fit(X, y, n_threads=2, **settings)
    start = MLP(sizes, dtype=dtype, random_state=3)
    np.testing.assert_array_equal(one.params, two.params)
    assert one.loss_curve_ == two.loss_curve_
    gaps = gap_mask(one._layout, one.params.size)
    per_line = 64 // dtype.itemsize
    lines = -(-hidden // per_line)
    first_lead = (lines + 2 * (lines * 64 % 1024 == 0)) * per_line
    second_lead = -(-10 // per_line) * per_line
    assert gaps.sum() == 785 * (first_lead - hidden) + (hidden + 1) * (second_lead - 10)
    assert (one.params[gaps] == 0).all()
    # and it is the reference's SGD, minibatch by minibatch
    Xf = X.astype(np.float64) * np.float64(dtype.type(1 / 255))
    thetas, velocity = float_thetas(start), naive.zeros_like(start.thetas())
    fitted = MLP(sizes, dtype=dtype, random_state=3).fit(X, y, shuffle=False, n_threads=2, **settings)
    thetas, velocity, _ = naive.train_epoch(thetas, velocity, Xf, y, batch_size, "softmax_cross_entropy",
                                            "softmax", learning_rate=0.1, momentum=settings["momentum"])
    for l, theta in enumerate(fitted.thetas()):
        assert_close(theta, thetas[l], dtype, factor=20, err_msg=f"layer {l}")
