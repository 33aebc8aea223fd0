"""Kernels cached on disk: a new process loads them instead of compiling, and runs them correctly."""

import json
import os
import subprocess
import sys

CHILD = """
import json, numpy as np
import fastmlp
from fastmlp._compile import REGISTRY
rng = np.random.default_rng(0)
X = rng.integers(0, 256, (300, 64), dtype=np.uint8)
y = rng.integers(0, 3, 300)
# Big enough for a team of two threads (fastmlp._team.TEAM_MIN_MACS).
net = fastmlp.MLP([64, 64, 3], random_state=0).fit(X, y, epochs=2, batch_size=16, learning_rate=0.5)
misses = sorted(d.py_func.__name__ for d in REGISTRY if d.stats.cache_misses)
hits = sorted(d.py_func.__name__ for d in REGISTRY if d.stats.cache_hits)
print(json.dumps({"params": net.params.tolist(), "misses": misses, "hits": hits}))
"""


def run_child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"child failed with {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def test_second_process_loads_every_kernel_from_the_cache(tmp_path):
    cold = run_child(tmp_path)
    assert "team_epoch" in cold["misses"], "the first process should compile the fused epoch"
    # Loaded from the cache, the epoch must run as compiled: its barrier calls sched_yield, a symbol
    # resolved when the cached code is loaded. (An earlier epoch, a serial kernel calling parallel
    # ones, called through a null pointer when loaded from the cache: SIGSEGV, numba issue 8578.)
    cached = run_child(tmp_path)
    assert cached["misses"] == [], f"recompiled although cached: {cached['misses']}"
    assert "team_epoch" in cached["hits"]
    assert cached["params"] == cold["params"] or max(
        abs(a - b) for a, b in zip(cached["params"], cold["params"])
    ) < 1e-5
