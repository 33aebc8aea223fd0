"""Atomic saves under SIGKILL: a process saving a model over and over is killed at random moments, 200 times.

After every kill the target loads as one whole model, the old one or the new one, never a mix; a kill
between creating the temporary and renaming it leaves that temporary behind under a name that
cannot be taken for a model (``.<target>.<random hex>.tmp``, which fastmlp never reads).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastmlp

KILLS = 200
#: Two models of different sizes and dtypes, so a file mixing their bytes could not even pass validation.
MODELS = (([784, 100, 10], "float64", 0), ([784, 50, 10], "float32", 1))
#: A save here takes about 10 ms (mostly fsync); the kills land anywhere from before the first save
#: of a round to a few saves in.
MAX_DELAY = 0.03

# A zygote imports fastmlp once and forks a fresh saver for every round, so a round costs a fork
# (milliseconds), not a Python start-up with imports (most of a second).
ZYGOTE = textwrap.dedent(
    """
    import os, sys
    import fastmlp
    path = sys.argv[1]
    nets = [fastmlp.MLP(sizes, dtype=dtype, random_state=seed) for sizes, dtype, seed in MODELS]
    nets[0].save(path)
    print("ready", flush=True)
    for line in sys.stdin:
        first = int(line)
        pid = os.fork()
        if pid == 0:  # the saver: overwrite the target with the two models in turn until killed
            while True:
                nets[first % 2].save(path)
                first += 1
        print(pid, flush=True)
        print(os.waitpid(pid, 0)[1], flush=True)
    """
).replace("MODELS", repr(MODELS))


def _line(zygote) -> str:
    line = zygote.stdout.readline()
    assert line, f"the saving process ended early (exit code {zygote.poll()})"
    return line.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="fork, SIGKILL and rename semantics of Linux")
def test_killed_while_saving_leaves_old_or_new(tmp_path):
    path = tmp_path / "net.npz"
    expected = [fastmlp.MLP(sizes, dtype=dtype, random_state=seed) for sizes, dtype, seed in MODELS]
    temporary = re.compile(r"\.net\.npz\.[0-9a-f]{12}\.tmp")
    rng = np.random.default_rng(0)
    found = [0, 0]
    left_temporary = 0
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert _line(zygote) == "ready"
        for _ in range(KILLS):
            before = set(os.listdir(tmp_path))
            zygote.stdin.write(f"{rng.integers(2)}\n")
            zygote.stdin.flush()
            saver = int(_line(zygote))
            time.sleep(float(rng.uniform(0.0, MAX_DELAY)))
            os.kill(saver, signal.SIGKILL)
            status = int(_line(zygote))
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "the saver failed on its own"

            net = fastmlp.load(path)  # raises ValueError on a torn file
            matches = [(net.layer_sizes, net.dtype) == (model.layer_sizes, model.dtype)
                       and np.array_equal(net.params, model.params) for model in expected]
            assert sum(matches) == 1, "the file is neither the old nor the new model"
            found[matches.index(True)] += 1
            new = set(os.listdir(tmp_path)) - before
            assert len(new) <= 1 and all(temporary.fullmatch(name) for name in new), new
            left_temporary += len(new)
            for name in new:  # 200 leftovers would take 100 MB
                os.unlink(tmp_path / name)
    finally:
        zygote.kill()
        zygote.wait(timeout=60)
        zygote.stdin.close()
        zygote.stdout.close()
    print(f"{KILLS} kills: old/new model found {found}, a temporary left behind {left_temporary} times")
    assert sum(found) == KILLS
    # The test can fail only if kills land inside saves: many must have interrupted one mid-write,
    # and both models must have been found on disk.
    assert left_temporary >= KILLS // 5 and min(found) >= KILLS // 10, (left_temporary, found)
    assert os.listdir(tmp_path) == ["net.npz"]
