"""The public API on Fashion-MNIST (uint8, as the IDX files hold it): a fit epoch, prediction, memory, small
calls, and the quality reached after a fixed number of epochs (784-100-10, softmax cross-entropy).

Benchmarks here are skipped when Fashion-MNIST is not installed (Debian's dataset-fashion-mnist).
"""

import subprocess
import sys
import tempfile

import numpy as np

from . import common

# Run in a child process by FitMemory.setup: fills Numba's disk cache (a tiny fit) and writes the
# training set as .npy files, so that neither compiling nor decompressing the IDX files (temporary
# copies of the data) ever counts in the parent's peak memory.
PREPARE_CHILD = """
import numpy as np, fastmlp
from fastmlp.datasets import load_fashion_mnist
X = np.zeros((32, 784), np.uint8); y = np.zeros(32, np.int64)
fastmlp.MLP([784, 100, 10], dtype={dtype!r}).fit(X, y, epochs=1, batch_size=32).predict(X)
try:
    (X, y), _ = load_fashion_mnist()
except FileNotFoundError:
    raise SystemExit(3)
np.save({directory!r} + "/X.npy", X); np.save({directory!r} + "/y.npy", y)
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
    """Peak resident memory of a process that holds Fashion-MNIST (uint8) and fits one epoch.

    asv's peakmem counts setup as well, so setup does only what a user's process must: import
    fastmlp, load the kernels from Numba's disk cache and read the 60,000 images (47 MB) from .npy
    files that a child process prepared (see PREPARE_CHILD).
    """

    params = [common.DTYPES]
    param_names = ["dtype"]

    def setup(self, dtype):
        with tempfile.TemporaryDirectory(prefix="fastmlp-asv-data-") as directory:
            code = PREPARE_CHILD.format(dtype=dtype, directory=directory)
            if subprocess.run([sys.executable, "-c", code]).returncode == 3:
                raise common.Unavailable("Fashion-MNIST is not installed")
            self.X = np.load(directory + "/X.npy")
            self.y = np.load(directory + "/y.npy")
        if self.X.shape != (60000, 784):
            raise RuntimeError("the child process did not prepare the training set")

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


class SmallCalls:
    """What a call costs where its own work is small: MLP.predict of one test image, and MLP.partial_fit (one
    step) on 32 training images, 784-100-10 float32, on all of Numba's threads. Checks, buffers and thread
    settling around the kernels are most of such a call, and show here first when they grow."""

    def setup(self):
        (X, y), (X_test, _) = common.fashion_mnist()
        self.X, self.y, self.image = X[:32], y[:32], X_test[:1]
        self.model = common.network(100, "float32")
        self.model.partial_fit(self.X, self.y, batch_size=32, learning_rate=common.LEARNING_RATE)  # warm the JIT
        self.model.predict(self.image)

    def time_predict_one_image(self):
        self.model.predict(self.image)

    def time_partial_fit_32_images(self):
        self.model.partial_fit(self.X, self.y, batch_size=32, learning_rate=common.LEARNING_RATE)


class FloatInputs:
    """MLP.predict of the 10,000 test images given as floats (pixels / 255) to a 784-100-10 float32 network:
    float32 images, which the kernels read as they are, and float64 ones, which must also fit in float32.
    Checking X for NaN and for range takes a pass or two over the images, a large share of such a call, and
    shows here when it grows (the uint8 images of Predict need neither)."""

    params = [["float32", "float64"]]
    param_names = ["input_dtype"]

    def setup(self, input_dtype):
        _, (X_test, _) = common.fashion_mnist()
        self.X = (X_test / 255).astype(input_dtype)
        self.model = common.network(100, "float32")
        self.model.predict(self.X[:8])  # warm the JIT

    def time_predict(self, input_dtype):
        self.model.predict(self.X)


class Quality:
    """Training loss and test accuracy after common.TRACK_EPOCHS epochs (batch 32, learning rate 0.1).

    Deterministic for a given commit: a change here means the numbers changed, not the machine.
    """

    params = [common.DTYPES]
    param_names = ["dtype"]
    timeout = 600

    def setup_cache(self):
        # asv skips a benchmark whose setup raises NotImplementedError, but fails one whose setup_cache does:
        # without Fashion-MNIST the cache holds the reason, and setup raises it.
        try:
            return {dtype: common.trained_quality(dtype) for dtype in common.DTYPES}
        except common.Unavailable as error:
            return str(error)

    def setup(self, quality, dtype):
        if isinstance(quality, str):
            raise common.Unavailable(quality)

    def track_train_loss(self, quality, dtype):
        return quality[dtype][0]

    track_train_loss.unit = "mean loss"

    def track_test_accuracy(self, quality, dtype):
        return quality[dtype][1]

    track_test_accuracy.unit = "accuracy"
