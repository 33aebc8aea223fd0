"""Time from a new Python process to a first trained epoch: with a cold Numba cache (everything compiles)
and with the disk cache that earlier runs left (the usual start-up). Each runs in a fresh interpreter.
"""

import subprocess
import sys
import tempfile

# The timed statement: import fastmlp, train one epoch of 784-100-10 on 256 samples, predict.
TIMED = """
import fastmlp
model = fastmlp.MLP([784, 100, 10], random_state=0)
model.fit(X, y, epochs=1, batch_size=32, learning_rate=0.1)
model.predict(X)
"""

# Untimed: point Numba at the cache directory and make the data before fastmlp is imported. No
# directory given: a fresh, empty one (a cold start), removed when the process exits.
PREPARE = """
import atexit, os, shutil, tempfile
cache_dir = {cache_dir!r}
if cache_dir is None:
    cache_dir = tempfile.mkdtemp(prefix="fastmlp-asv-cold-")
    atexit.register(shutil.rmtree, cache_dir, True)
os.environ["NUMBA_CACHE_DIR"] = cache_dir
import numpy as np
rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(256, 784), dtype=np.uint8)
y = rng.integers(0, 10, size=256)
"""


class FirstFit:
    """timeraw: import plus first fit and predict, in a fresh process."""

    params = [["cold", "cached"]]
    param_names = ["numba_cache"]
    number = 1
    repeat = (1, 3, 60.0)
    rounds = 1
    timeout = 600

    def setup_cache(self):
        # A cache directory filled once by a separate process, for the "cached" case.
        cache_dir = tempfile.mkdtemp(prefix="fastmlp-asv-numba-")
        code = PREPARE.format(cache_dir=cache_dir) + TIMED
        subprocess.run([sys.executable, "-c", code], check=True)
        return cache_dir

    def timeraw_first_fit(self, cache_dir, numba_cache):
        return TIMED, PREPARE.format(cache_dir=cache_dir if numba_cache == "cached" else None)
