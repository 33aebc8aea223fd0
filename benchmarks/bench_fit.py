"""The public API on Fashion-MNIST (uint8, as the IDX files hold it): a fit epoch, prediction, memory,
and the quality reached after a fixed number of epochs (784-100-10, softmax cross-entropy).

Benchmarks here are skipped when Fashion-MNIST is not installed (Debian's dataset-fashion-mnist).
"""

import subprocess
import sys

from . import common

# Fits a tiny network in a child process: fills Numba's disk cache without compiling in this process.
FILL_CACHE = """
import numpy as np, fastmlp
X = np.zeros((32, 784), np.uint8); y = np.zeros(32, np.int64)
fastmlp.MLP([784, 100, 10], dtype={dtype!r}).fit(X, y, epochs=1, batch_size=32).predict(X)
"""


class FitEpoch:
    """MLP.fit for one epoch over the 60,000 training images."""

    params = [[32, 512], common.THREADS]
    param_names = ["batch_size", "threads"]
    repeat = (1, 5, 20.0)
    number = 1

    def setup(self, batch_size, threads):
        common.set_threads(threads)
        (self.X, self.y), _ = common.fashion_mnist()
        common.fit_epoch(self.X[:batch_size], self.y[:batch_size], batch_size)  # warm the JIT

    def time_fit_epoch(self, batch_size, threads):
        common.fit_epoch(self.X, self.y, batch_size)


class FitMemory:
    """Peak resident memory of a process that loads Fashion-MNIST and fits one epoch.

    asv's peakmem counts setup as well: the interpreter, NumPy and Numba, the uint8 data (about
    55 MB) and the compiled kernels. Compiling (LLVM) would dwarf the rest, so setup has a child
    process fill Numba's disk cache and this process only loads from it.
    """

    params = [common.DTYPES]
    param_names = ["dtype"]

    def setup(self, dtype):
        subprocess.run([sys.executable, "-c", FILL_CACHE.format(dtype=dtype)], check=True)
        (self.X, self.y), _ = common.fashion_mnist()

    def peakmem_fit_epoch(self, dtype):
        common.fit_epoch(self.X, self.y, 32, dtype=dtype)


class Predict:
    """MLP.predict on the 10,000 test images."""

    params = [common.HIDDEN_SIZES, common.DTYPES, common.THREADS]
    param_names = ["hidden", "dtype", "threads"]

    def setup(self, hidden, dtype, threads):
        common.set_threads(threads)
        _, (self.X, _) = common.fashion_mnist()
        self.model = common.network(hidden, dtype)
        self.model.predict(self.X[:8])  # warm the JIT

    def time_predict(self, hidden, dtype, threads):
        self.model.predict(self.X)


class Quality:
    """Training loss and test accuracy after common.TRACK_EPOCHS epochs (batch 32, learning rate 0.1).

    Deterministic for a given commit: a change here means the numbers changed, not the machine.
    """

    params = [common.DTYPES]
    param_names = ["dtype"]
    timeout = 600

    def setup_cache(self):
        return {dtype: common.trained_quality(dtype) for dtype in common.DTYPES}

    def track_train_loss(self, quality, dtype):
        return quality[dtype][0]

    track_train_loss.unit = "mean loss"

    def track_test_accuracy(self, quality, dtype):
        return quality[dtype][1]

    track_test_accuracy.unit = "accuracy"
