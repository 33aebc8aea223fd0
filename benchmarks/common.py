"""Seeded data and kernel arguments shared by the asv suite (benchmarks/) and pytest-benchmark (tests/benchmarks/).

Everything here is built the way ``fastmlp.MLP`` builds it for ``fit``, so a kernel timed here runs on
exactly the arrays it sees in training.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numba
import numpy as np

import fastmlp.kernels
from fastmlp import MLP

#: One seed for every builder: the same numbers on every commit and in both suites.
SEED = 1234
#: Samples of synthetic data the per-kernel benchmarks draw their minibatches from.
N_SYNTHETIC = 4096
#: Parameter grid shared by both suites; small enough that a full asv run takes minutes.
BATCH_SIZES = [1, 32, 512]
HIDDEN_SIZES = [100, 256]
DTYPES = ["float32", "float64"]
THREADS = [1, 2]
#: Epochs trained before the loss and test accuracy are tracked.
TRACK_EPOCHS = 2
LEARNING_RATE = 0.1


class Unavailable(NotImplementedError):
    """A case this machine cannot run (asv skips a benchmark whose setup raises NotImplementedError)."""


def synthetic_images(n_samples: int = N_SYNTHETIC, n_features: int = 784, n_classes: int = 10, seed: int = SEED):
    """uint8 images (n_samples, n_features) and int64 labels (n_samples,), like Fashion-MNIST in type and range."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n_samples, n_features), dtype=np.uint8)
    y = rng.integers(0, n_classes, size=n_samples).astype(np.int64)
    return X, y


@functools.lru_cache(maxsize=1)
def fashion_mnist():
    """``(X_train, y_train), (X_test, y_test)`` as uint8 images and int64 labels; Unavailable when missing."""
    from fastmlp.datasets import load_fashion_mnist

    try:
        return load_fashion_mnist()
    except FileNotFoundError as error:
        raise Unavailable(str(error)) from None


def network(hidden: int = 100, dtype: str = "float32", n_in: int = 784, n_out: int = 10, seed: int = SEED) -> MLP:
    """A seeded n_in-hidden-n_out softmax cross-entropy network."""
    return MLP([n_in, hidden, n_out], loss="softmax_cross_entropy", dtype=dtype, random_state=seed)


def set_threads(n_threads: int) -> None:
    """Run Numba's parallel kernels on ``n_threads`` threads; Unavailable beyond Numba's pool."""
    if n_threads > numba.config.NUMBA_NUM_THREADS:
        raise Unavailable(f"{n_threads} threads requested, Numba has {numba.config.NUMBA_NUM_THREADS}")
    numba.set_num_threads(n_threads)


@dataclass
class KernelCase:
    """A network, data and the argument bundles of every kernel, as ``MLP._train`` builds them."""

    model: MLP
    X: np.ndarray  # (n_samples, n_in) uint8
    targets: np.ndarray  # (n_samples,) int64 labels
    order: np.ndarray  # (n_samples,) int64 shuffled row order
    batch_size: int
    scale: np.floating  # 1/255 in the network's dtype: uint8 pixels are scaled inside the kernels
    codes: np.ndarray  # (3,) loss, output and hidden activation codes
    net: object  # kernels.Net
    opt: object  # kernels.Optimizer
    work: object  # kernels.Work for batch_size samples
    weights: np.ndarray  # (0,) no sample weights
    out: np.ndarray  # (n_samples, n_out) prediction output
    identity: np.ndarray  # (0,) int64: the identity order for prediction
    forward_extras: tuple | None = None  # predict_chunk's arguments after ``out`` (_forward_extras)


def kernel_case(batch_size: int, hidden: int = 100, dtype: str = "float32", n_samples: int = N_SYNTHETIC) -> KernelCase:
    """Seeded synthetic data and every kernel argument for one minibatch size."""
    model = network(hidden, dtype)
    X, y = synthetic_images(n_samples)
    rng = np.random.default_rng(SEED)
    kind = model.dtype.type
    velocity = np.zeros_like(model.params)
    # A small rate keeps the weights near their start however many times a benchmark repeats a step.
    if hasattr(fastmlp.kernels, "Optimizer"):
        opt = fastmlp.kernels.Optimizer(fastmlp.kernels.SGD, velocity, np.empty(0, model.dtype), np.zeros(1, np.int64),
                                        kind(1e-4), kind(0.0), kind(0.0), False, kind(0.9), kind(0.999), kind(1e-8))
    else:  # commits before the Optimizer bundle (asv runs this file against the project's history)
        opt = fastmlp.kernels.SGD(velocity, kind(1e-4), kind(0.0), kind(0.0), False)
    return KernelCase(
        model=model,
        X=_read_only(X),
        targets=_read_only(y),
        order=rng.permutation(n_samples).astype(np.int64),
        batch_size=batch_size,
        scale=kind(1.0 / 255.0),
        codes=model._codes(),
        net=model._net(),
        opt=opt,
        work=model._work(batch_size),
        weights=_read_only(np.empty(0, model.dtype)),
        out=np.empty((n_samples, model.layer_sizes[-1]), model.dtype),
        identity=np.empty(0, np.int64),
    )


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: the model passes X, targets and weights to the kernels so, and the kernels compile once
    for each array type, writability included. Written out here, not imported, because asv runs this file
    against commits from before fastmlp._validation.read_only."""
    view = array.view()
    view.flags.writeable = False
    return view


# One function per kernel, each one call with the arguments of a minibatch at the start of the data:
# the asv classes and the pytest-benchmark tests time these same calls. asv also runs them against
# the project's history: _WEIGHTED tells the kernels of before sample weights and hidden activations
# (codes of two entries, no ``weights`` argument) from today's.
_WEIGHTED = hasattr(fastmlp.kernels, "Optimizer")


def _forward_extras(case: KernelCase) -> tuple:
    """predict_chunk's arguments after ``out``, made once per case, not in the timed call: no labels and no copy
    of the weights into panels (empty buffers), the blocks' counter (any value) and the parts' scratch; commits
    before the labels, pack_panels, the counter and the scratch take no such arguments (asv runs this against the
    project's history)."""
    from fastmlp.kernels import forward

    if case.forward_extras is None:
        dtype = case.out.dtype
        parameters = inspect.signature(forward.predict_chunk.py_func).parameters
        extra = (np.empty(0, np.int64),) if "labels" in parameters else ()  # no labels, as forward() asks for none
        extra += (np.empty(0, dtype),) if hasattr(forward, "pack_panels") else ()
        if "counter" in parameters:
            extra += (np.empty(1, np.int64),)
        if "scratch" in parameters:
            rows = case.work.acts.shape[0]
            if hasattr(forward, "scratch_shape"):
                shape = forward.scratch_shape(case.model._layout, rows)
            else:  # 630bf66, the one commit with a scratch and without scratch_shape: its rule, written out
                shape = (max(1, rows // forward.SAMPLE_BLOCK), forward.scratch_size(case.model._layout))
            extra += (np.empty(shape, dtype),)
        case.forward_extras = extra
    return case.forward_extras


def run_forward(case: KernelCase) -> None:
    """predict_chunk on one minibatch (forward propagation only)."""
    from fastmlp.kernels import forward

    codes = case.codes if _WEIGHTED else case.codes[1]
    forward.predict_chunk(case.net, case.X, case.identity, 0, case.batch_size, case.scale, codes, case.work.acts,
                          case.out, *_forward_extras(case))


def run_forward_backward(case: KernelCase) -> None:
    """forward_backward on one minibatch: forward pass, loss and deltas."""
    from fastmlp.kernels.backward import forward_backward

    weights = (case.weights,) if _WEIGHTED else ()
    forward_backward(case.net, case.X, case.targets, *weights, case.order, 0, case.batch_size, case.scale,
                     case.codes, case.work)


def run_gradients(case: KernelCase) -> None:
    """gradients of one minibatch from its deltas (needs run_forward_backward first)."""
    from fastmlp.kernels.backward import gradients

    if _WEIGHTED:
        gradients(case.net, case.weights, case.order, 0, case.batch_size, case.work)
    else:
        gradients(case.net, case.work, case.batch_size)


def run_epoch(case: KernelCase) -> float:
    """train_epoch over every sample of the case: the fused, compiled epoch loop."""
    try:
        from fastmlp._team import train_epoch
    except ImportError:  # commits before the team epoch (asv runs this file against the project's history)
        from fastmlp.kernels.epoch import train_epoch

    weights = (case.weights,) if _WEIGHTED else ()
    return train_epoch(case.net, case.opt, case.X, case.targets, *weights, case.order, case.batch_size, case.scale,
                       case.codes, case.work)


KERNELS = {
    "forward": run_forward,
    "forward_backward": run_forward_backward,
    "gradients": run_gradients,
    "epoch": run_epoch,
}


def warm_up(case: KernelCase, kernels=tuple(KERNELS)) -> None:
    """Call the named kernels once, in training order, so compilation (or loading from Numba's disk
    cache) happens before any timing."""
    for name, run in KERNELS.items():
        if name not in kernels:
            continue
        if name == "epoch":  # on a copy: a whole epoch would move the case's weights
            run(kernel_case(case.batch_size, case.model.layer_sizes[1], case.model.dtype.name,
                            n_samples=case.batch_size))
        else:
            run(case)


def fit_epoch(X, y, batch_size: int = 32, hidden: int = 100, dtype: str = "float32", epochs: int = 1,
              n_threads: int | None = None) -> MLP:
    """A seeded network trained ``epochs`` epochs through the public API."""
    model = network(hidden, dtype)
    return model.fit(X, y, epochs=epochs, batch_size=batch_size, learning_rate=LEARNING_RATE, n_threads=n_threads)


@functools.cache
def trained_quality(dtype: str = "float32", epochs: int = TRACK_EPOCHS) -> tuple[float, float]:
    """(training loss of the last epoch, test accuracy) of 784-100-10 after ``epochs`` epochs on Fashion-MNIST."""
    (X_train, y_train), (X_test, y_test) = fashion_mnist()
    model = fit_epoch(X_train, y_train, dtype=dtype, epochs=epochs)
    return model.loss_curve_[-1], model.score(X_test, y_test)
