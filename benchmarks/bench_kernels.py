"""Each compiled kernel on one minibatch, and the fused epoch loop, over batch size, width, dtype and threads.

Setup builds seeded synthetic uint8 data (benchmarks/common.py) and calls every kernel once, so
compilation (or loading from Numba's disk cache) never lands in a timing; compile time is timed
apart in bench_compile.py.
"""

from . import common


class _KernelBenchmark:
    params = [common.BATCH_SIZES, common.HIDDEN_SIZES, common.DTYPES, common.THREADS]
    param_names = ["batch_size", "hidden", "dtype", "threads"]
    #: asv runs every parameter combination in its own process; one round of up to 10 samples keeps
    #: the suite to minutes (microsecond kernels: each sample already averages many calls).
    rounds = 1
    repeat = (1, 10, 5.0)
    #: The kernels a class times, called once in setup to compile them (or load them from the cache).
    kernels = ()

    def setup(self, batch_size, hidden, dtype, threads):
        common.set_threads(threads)
        self.case = common.kernel_case(batch_size, hidden, dtype)
        common.warm_up(self.case, self.kernels)


class Forward(_KernelBenchmark):
    """predict_chunk: forward propagation of one minibatch of 784-hidden-10."""

    kernels = ("forward",)

    def time_forward(self, batch_size, hidden, dtype, threads):
        common.run_forward(self.case)


class Backward(_KernelBenchmark):
    """forward_backward (forward, loss, deltas) and gradients (mean gradient) of one minibatch."""

    kernels = ("forward_backward", "gradients")

    def time_forward_backward(self, batch_size, hidden, dtype, threads):
        common.run_forward_backward(self.case)

    def time_gradients(self, batch_size, hidden, dtype, threads):
        common.run_gradients(self.case)


class Epoch:
    """train_epoch: every minibatch of 2,048 shuffled samples in one compiled call (784-100-10)."""

    params = [common.BATCH_SIZES, common.DTYPES, common.THREADS]
    param_names = ["batch_size", "dtype", "threads"]
    n_samples = 2048
    rounds = 1
    repeat = (1, 5, 10.0)

    def setup(self, batch_size, dtype, threads):
        common.set_threads(threads)
        self.case = common.kernel_case(batch_size, 100, dtype, n_samples=self.n_samples)
        common.warm_up(self.case, ("epoch",))

    def time_train_epoch(self, batch_size, dtype, threads):
        common.run_epoch(self.case)
