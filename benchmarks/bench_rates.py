"""Samples per second, the unit users think in: training (MLP.fit, one epoch) per batch size and prediction,
784-100-10 float32 on all of Numba's threads; and the microkernels' GFLOP/s on one thread.

Data: the first TRAIN_SAMPLES Fashion-MNIST training images and the 10,000 test images, or seeded synthetic
uint8 images of the same shapes when Fashion-MNIST is not installed. Setup fits once on a few samples so that
compiling (or loading Numba's cache) never counts; each track_ returns the best of ROUNDS timed calls.
"""

import time

from . import common

TRAIN_SAMPLES = 8192
TEST_SAMPLES = 10000
ROUNDS = 3


def _data():
    """(X_train, y_train, X_test): uint8 images and int64 labels."""
    try:
        (X, y), (X_test, _) = common.fashion_mnist()
    except common.Unavailable:
        X, y = common.synthetic_images(TRAIN_SAMPLES)
        X_test, _ = common.synthetic_images(TEST_SAMPLES, seed=common.SEED + 1)
    return X[:TRAIN_SAMPLES], y[:TRAIN_SAMPLES], X_test[:TEST_SAMPLES]


def _best_rate(n_samples, job, rounds=None):
    """``n_samples`` over the shortest of ``rounds`` (ROUNDS) calls of ``job``."""
    best = float("inf")
    for _ in range(rounds or ROUNDS):
        began = time.perf_counter()
        job()
        best = min(best, time.perf_counter() - began)
    return n_samples / best


class TrainingRate:
    """MLP.fit for one epoch over TRAIN_SAMPLES images (plain SGD, learning rate 0.1)."""

    params = [[1, 10, 32, 128, 512]]
    param_names = ["batch_size"]
    timeout = 120

    def setup(self, batch_size):
        self.X, self.y, _ = _data()
        common.fit_epoch(self.X[: 2 * batch_size], self.y[: 2 * batch_size], batch_size)  # warm the JIT

    def track_training_samples_per_s(self, batch_size):
        return _best_rate(self.X.shape[0], lambda: common.fit_epoch(self.X, self.y, batch_size))

    track_training_samples_per_s.unit = "samples/s"


class PredictionRate:
    """MLP.predict on TEST_SAMPLES images."""

    timeout = 120

    def setup(self):
        _, _, self.X = _data()
        self.model = common.network(100, "float32")
        self.model.predict(self.X[:8])  # warm the JIT

    def track_prediction_samples_per_s(self):
        return _best_rate(self.X.shape[0], lambda: self.model.predict(self.X), 2 * ROUNDS)

    track_prediction_samples_per_s.unit = "samples/s"


class MicrokernelRate:
    """GFLOP/s of the forward and weight-gradient microkernel (fastmlp.kernels.microkernel.gemm) on one thread,
    on the buffers and shapes ``fastmlp bench --kernels`` times: a 784-100-10 step at batch 512, z (512 x 100)
    from 784 inputs and the first layer's gradient (784 x 100) summed over 512 samples."""

    params = [["forward", "gradient"], ["float32", "float64"]]
    param_names = ["use", "dtype"]
    timeout = 120
    SIZES = dict(n_samples=512, n_in=784, n_out=100)

    def setup(self, use, dtype):
        import numpy as np

        try:
            from fastmlp.bench.kernels import problems
        except ImportError:  # commits before the microkernels
            raise NotImplementedError from None
        self.run = problems(np.dtype(dtype).type, **self.SIZES)[use][0]
        self.run()  # compile or load the cache

    def track_gflops(self, use, dtype):
        flops = 2.0 * self.SIZES["n_samples"] * self.SIZES["n_in"] * self.SIZES["n_out"]
        return flops * _best_rate(1, self.run, rounds=20) / 1e9  # calls per second x FLOP per call

    track_gflops.unit = "GFLOP/s"
