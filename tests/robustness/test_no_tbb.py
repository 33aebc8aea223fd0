"""Without tbb: fastmlp falls back to Numba's workqueue layer, so a forked child still trains, and
parallel calls from several threads take turns instead of aborting the process (fastmlp/_compile.py).

The slow test builds a venv with only NumPy and Numba from PyPI (cached in the temp directory, about
15 s the first time) and runs the package from this tree there.
"""

from __future__ import annotations

import ast
import fcntl
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import _compile

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: no threading layer")


@needs_jit
def test_no_kernel_calls_a_parallel_kernel():
    """Parallel kernels are launched from Python only, where the turn-taking lock applies."""
    parallel = {d.py_func.__name__ for d in _compile.REGISTRY if d.targetoptions.get("parallel")}
    assert {"predict_chunk", "forward_backward"} <= parallel
    for dispatcher in _compile.REGISTRY:
        tree = ast.parse(textwrap.dedent(inspect.getsource(dispatcher.py_func)))
        called = {node.func.id for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert not called & parallel, f"{dispatcher.py_func.__name__} calls {sorted(called & parallel)}"


@needs_jit
def test_parallel_kernels_take_turns_only_when_the_layer_may_be_workqueue():
    layer = str(numba.config.THREADING_LAYER).lower()
    assert (layer not in ("tbb", "omp", "safe", "threadsafe")) == _compile.TAKE_TURNS
    turns = [type(d) is _compile._TakingTurns for d in _compile.REGISTRY if d.targetoptions.get("parallel")]
    assert turns and all(taking == _compile.TAKE_TURNS for taking in turns)


# The child: trains on a team of threads, predicts (which starts the threading layer), predicts from
# four threads at once, then forks a child that trains and predicts again. argv[1] is the layer the
# child should find; with "omp" (GNU OpenMP) the forked child is expected to die.
CHILD = textwrap.dedent(
    """
    import multiprocessing, queue, sys, threading
    import numpy as np
    import fastmlp, fastmlp._team
    from fastmlp import _compile
    from fastmlp.cli.info import facts

    fastmlp._team.TEAM_MIN_MACS = fastmlp._team.TEAM_MIN_EPOCH_MACS = 0  # a team even for this small network
    rng = np.random.default_rng(0)
    X, y = rng.random((300, 12)).astype(np.float32), rng.integers(0, 4, 300)

    def train():
        return fastmlp.MLP([12, 16, 4], random_state=0).fit(X, y, epochs=3, batch_size=16, momentum=0.9)

    parent = train()
    expected = parent.predict(X)
    layer = facts()["threading layer"]
    print("layer:", layer, "tbb:", _compile.TBB, flush=True)
    assert layer.split()[0] == sys.argv[1] and not _compile.TBB, layer

    same = []
    def predict():
        same.extend(np.array_equal(parent.predict(X), expected) for _ in range(10))
    threads = [threading.Thread(target=predict) for _ in range(4)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert same == [True] * 40

    def child(results):
        net = train()
        results.put((net.params.copy(), net.predict(X), net.loss_and_gradients(X, y)[0]))

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=child, args=(results,))
    process.start()
    while True:
        try:
            params, labels, loss = results.get(timeout=1)
            break
        except queue.Empty:
            assert process.is_alive(), f"the forked child died (exit code {process.exitcode})"
    process.join(60)
    assert process.exitcode == 0
    assert np.array_equal(params, parent.params) and np.array_equal(labels, expected)
    assert loss == parent.loss_and_gradients(X, y)[0]
    print("forked child trained and predicted", flush=True)
    """
)


def _venv_without_tbb() -> Path:
    """A venv with this NumPy and Numba and nothing else, built once per temp directory and reused."""
    versions = f"py{sys.version_info[0]}{sys.version_info[1]}-numpy{np.__version__}-numba{numba.__version__}"
    venv = Path(tempfile.gettempdir()) / f"fastmlp-no-tbb-{versions}"
    python = venv / "bin" / "python"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building it
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            # pip of this environment installs into the new one; only PyPI wheels, numba brings llvmlite
            install = subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                 "--disable-pip-version-check", f"numpy=={np.__version__}", f"numba=={numba.__version__}"],
                capture_output=True, text=True, timeout=900)
            assert install.returncode == 0, install.stdout + install.stderr
            (venv / "ready").touch()
    return python


def _run_child(python: Path, layer: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("NUMBA_THREADING_LAYER", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHOME")}
    env["PYTHONPATH"] = str(Path(fastmlp.__file__).resolve().parent.parent)  # this tree's package
    if layer != "workqueue":
        env["NUMBA_THREADING_LAYER"] = layer
    return subprocess.run([str(python), "-c", CHILD, layer], env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@needs_jit
@pytest.mark.skipif(sys.platform != "linux", reason="GNU OpenMP and fork: the failure this guards against")
def test_without_tbb_a_forked_child_trains_and_threads_take_turns():
    python = _venv_without_tbb()
    assert not list(python.parent.parent.glob("lib/libtbb*")), "the venv should not have pip's tbb"
    result = _run_child(python, "workqueue")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tbb could not be loaded" in result.stdout and "forked child trained" in result.stdout
    # The same child on GNU OpenMP (Numba's own choice without tbb) dies: the environment shows the failure.
    control = _run_child(python, "omp")
    assert control.returncode != 0 and "GNU OpenMP" in control.stderr, control.stdout + control.stderr
