"""The MLP: validates input once, owns the flat parameter vector and the work buffers, calls kernels."""

from __future__ import annotations

import os
import time
from collections import namedtuple
from contextlib import contextmanager

import numpy as np

from . import _validation as check
from . import checkpoint as checkpointing
from . import inference
from ._compile import NUMBA_ERROR
from ._layout import build_layout, n_params, n_units, theta_views
from .kernels import SGD, Net, Work

if NUMBA_ERROR is None:  # else a model predicts in NumPy (fastmlp.inference) and cannot train
    import numba

    from ._team import train_epoch
    from .kernels.backward import forward_backward, gradients
    from .kernels.forward import predict_chunk

#: The kernels' codes of each loss and output, as fastmlp.kernels.activations defines them (written out so
#: that this module imports without Numba; tests/test_inference_numpy.py checks that they agree).
LOSSES = {"mse": 0, "sigmoid_cross_entropy": 1, "softmax_cross_entropy": 2}
OUTPUTS = {"identity": 0, "sigmoid": 1, "softmax": 2}
#: The output activations each loss is defined for; the first is the default.
LOSS_OUTPUTS = {
    "mse": ("sigmoid", "identity", "softmax"),
    "sigmoid_cross_entropy": ("sigmoid",),
    "softmax_cross_entropy": ("softmax",),
}
DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
#: A training call's checked arguments (``batch`` is the kernel's minibatch size, at most n_samples).
_Run = namedtuple("_Run", ["X", "y", "scale", "batch", "batch_size", "learning_rate", "momentum", "nesterov",
                           "weight_decay", "shuffle", "n_threads"])
#: Samples per call of the prediction kernel: bounds the work buffer to CHUNK x n_units.
CHUNK = 1024


def _check_dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dtype.name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype.name}")
    return dtype


def _check_layer_sizes(layer_sizes) -> tuple[int, ...]:
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    return tuple(check.check_int(size, "every layer size", 1) for size in sizes)


def _check_loss_output(loss, output) -> tuple[str, str]:
    check.check_choice(loss, "loss", LOSSES)
    if output is None:
        return loss, LOSS_OUTPUTS[loss][0]
    check.check_choice(output, "output", OUTPUTS)
    if output not in LOSS_OUTPUTS[loss]:
        raise ValueError(f"loss {loss!r} needs output in {LOSS_OUTPUTS[loss]}, got output {output!r}")
    return loss, output


def _check_threads(n_threads):
    if n_threads is None:
        return None
    n_threads = check.check_int(n_threads, "n_threads", 1)
    if n_threads > numba.config.NUMBA_NUM_THREADS:
        pool = numba.config.NUMBA_NUM_THREADS
        raise ValueError(f"n_threads must be <= {pool} (Numba's thread pool), got {n_threads}")
    return n_threads


def _require_numba(what: str) -> None:
    if NUMBA_ERROR is not None:
        raise ImportError(f"{what} needs Numba, which cannot be imported here ({NUMBA_ERROR}): pip install numba. "
                          "Without it a model can still predict.")


@contextmanager
def _threads(n_threads):
    """Run the block with ``n_threads`` Numba threads (all of them when None)."""
    n_threads = _check_threads(n_threads)
    if n_threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class MLP:
    """A sigmoid multilayer perceptron trained by minibatch SGD in compiled, parallel kernels.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first, output last: ``(784, 100, 10)``. Hidden layers use the
        logistic sigmoid.
    loss : {"softmax_cross_entropy", "sigmoid_cross_entropy", "mse"}
        Per-sample loss, summed over the outputs and averaged over each minibatch.
    output : {"softmax", "sigmoid", "identity"}, optional
        Output activation; by default softmax for softmax cross-entropy, sigmoid otherwise. Use
        ``output="identity"`` with ``loss="mse"`` for regression.
    dtype : {"float32", "float64"}
        Precision of the parameters and of all arithmetic.
    random_state : int or None
        Seed of the weight initialisation and of the shuffling in :meth:`fit`.

    Attributes
    ----------
    loss_curve_ : list of float
        Mean training loss of each epoch trained so far.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import MLP
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    >>> y = np.array([0, 1, 1, 0])
    >>> net = MLP([2, 3, 1], loss="sigmoid_cross_entropy", dtype="float64", random_state=3)
    >>> net = net.fit(X, y, epochs=2000, batch_size=4, learning_rate=2.0, momentum=0.9)
    >>> net.predict(X).tolist()
    [0, 1, 1, 0]
    """

    def __init__(self, layer_sizes, *, loss="softmax_cross_entropy", output=None, dtype="float32", random_state=None):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        self.loss, self.output = _check_loss_output(loss, output)
        self.dtype = _check_dtype(dtype)
        if random_state is not None:
            random_state = check.check_int(random_state, "random_state", 0)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self._layout, self._row_blocks = build_layout(self.layer_sizes)
        self.params = np.empty(n_params(self._layout), dtype=self.dtype)
        for theta in theta_views(self.params, self._layout):
            # Glorot-style uniform range for the logistic sigmoid (as scikit-learn's MLP uses).
            bound = np.sqrt(2.0 / (theta.shape[0] + theta.shape[1] - 1))
            theta[:] = self._rng.uniform(-bound, bound, theta.shape)
        self._velocity = np.zeros_like(self.params)
        self.loss_curve_: list[float] = []

    # ----------------------------------------------------------------- parameters
    @classmethod
    def from_thetas(cls, thetas, *, loss="softmax_cross_entropy", output=None, dtype=None, random_state=None):
        """Build a network from the lecture's matrices: ``thetas[l]`` has shape (n_out, n_in + 1), bias last.

        The dtype is that of the matrices when they are all float32 or all float64, else float64.

        Examples
        --------
        >>> import numpy as np
        >>> w1 = np.zeros((15, 785)); w2 = np.zeros((10, 16))
        >>> MLP.from_thetas([w1, w2], loss="mse").layer_sizes
        (784, 15, 10)
        """
        if isinstance(thetas, np.ndarray) or not hasattr(thetas, "__len__") or len(thetas) == 0:
            raise TypeError("thetas must be a non-empty list of 2-D arrays, one per layer")
        arrays = [check._as_real_array(theta, f"thetas[{l}]") for l, theta in enumerate(thetas)]
        for l, theta in enumerate(arrays):
            if theta.ndim != 2 or theta.shape[0] < 1 or theta.shape[1] < 2:
                raise ValueError(f"thetas[{l}] must be 2-D (n_out, n_in + 1) with n_in >= 1, got shape {theta.shape}")
        for l in range(1, len(arrays)):
            if arrays[l].shape[1] != arrays[l - 1].shape[0] + 1:
                raise ValueError(
                    f"thetas[{l}] has {arrays[l].shape[1]} columns but thetas[{l - 1}] has "
                    f"{arrays[l - 1].shape[0]} rows: expected {arrays[l - 1].shape[0] + 1} (inputs + bias)"
                )
        if dtype is None:
            kinds = {theta.dtype for theta in arrays}
            dtype = kinds.pop() if len(kinds) == 1 and next(iter(kinds)).name in DTYPES else np.float64
        dtype = _check_dtype(dtype)
        for l, theta in enumerate(arrays):
            if not np.isfinite(theta).all():
                raise ValueError(f"thetas[{l}] contains NaN or infinity")
            if theta.dtype.kind == "f" and np.abs(theta).max() > np.finfo(dtype).max:
                raise ValueError(f"thetas[{l}] holds values too large for {dtype}")
        sizes = [arrays[0].shape[1] - 1] + [theta.shape[0] for theta in arrays]
        net = cls(sizes, loss=loss, output=output, dtype=dtype, random_state=random_state)
        for view, theta in zip(theta_views(net.params, net._layout), arrays):
            view[:] = theta
        return net

    def thetas(self) -> list[np.ndarray]:
        """Copies of the per-layer matrices, each (n_out, n_in + 1) with the bias in the last column."""
        return [theta.copy() for theta in theta_views(self.params, self._layout)]

    @property
    def n_params(self) -> int:
        return self.params.size

    def _net(self) -> Net:
        return Net(self.params, self._layout, self._row_blocks)

    def _codes(self) -> np.ndarray:
        return np.array([LOSSES[self.loss], OUTPUTS[self.output]], dtype=np.int64)

    def _work(self, batch_size: int) -> Work:
        units = n_units(self._layout)
        return Work(
            acts=np.empty((batch_size, units), self.dtype),
            targets=np.empty((batch_size, self.layer_sizes[-1]), self.dtype),
            deltas=np.empty((batch_size, units), self.dtype),
            losses=np.empty(batch_size, np.float64),
            grads=np.empty(self.n_params, self.dtype),
        )

    # ----------------------------------------------------------------- inference
    def forward(self, X) -> np.ndarray:
        """Output activations, shape (n_samples, n_out). uint8 inputs are read as x / 255.

        Examples
        --------
        >>> net = MLP([3, 4, 2], random_state=0)
        >>> net.forward(np.ones((5, 3))).shape
        (5, 2)
        """
        X, scale = check.check_X(X, self.layer_sizes[0], self.dtype)
        if NUMBA_ERROR is None:
            out = self._forward_compiled(X, scale)
        else:
            out = inference.forward(theta_views(self.params, self._layout), X, scale,
                                    activation=getattr(self, "activation", "logistic"), output=self.output)
        if not np.isfinite(out).all():  # finite inputs so large that a layer overflows (tests/test_fuzz.py)
            raise ValueError(f"the network's outputs overflow {self.dtype.name} for these inputs; scale X down")
        return out

    def _forward_compiled(self, X, scale) -> np.ndarray:
        """Output activations of checked inputs by the compiled kernels, CHUNK samples at a time."""
        n = X.shape[0]
        out = np.empty((n, self.layer_sizes[-1]), self.dtype)
        acts = np.empty((min(n, CHUNK), n_units(self._layout)), self.dtype)
        order = np.empty(0, np.int64)
        net = self._net()
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            predict_chunk(net, X, order, start, count, self.dtype.type(scale), OUTPUTS[self.output], acts, out)
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes); a single sigmoid unit gives columns (1 - p, p)."""
        if self.output == "identity":
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's output is identity")
        proba = self.forward(X)
        if proba.shape[1] == 1:
            proba = np.hstack([1 - proba, proba])
        return proba

    def predict(self, X) -> np.ndarray:
        """Class labels (n_samples,); the outputs themselves for an identity (regression) output."""
        out = self.forward(X)
        if self.output == "identity":
            return out[:, 0] if out.shape[1] == 1 else out
        if out.shape[1] == 1:
            return (out[:, 0] > 0.5).astype(np.int64)
        return out.argmax(axis=1)

    def score(self, X, y) -> float:
        """Accuracy of :meth:`predict` against ``y`` (labels or one-hot); R^2 for an identity output."""
        X, _ = check.check_X(X, self.layer_sizes[0], self.dtype)
        y = check.check_targets(y, X.shape[0], self.layer_sizes[-1], self.dtype)
        if self.output == "identity":
            residual = ((self.forward(X) - y) ** 2).sum()
            total = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1.0 - residual / total) if total > 0 else float(residual == 0)
        labels = y if y.ndim == 1 else (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
        return float(np.mean(self.predict(X) == labels))

    # ----------------------------------------------------------------- training
    def loss_and_gradients(self, X, Y) -> tuple[float, list[np.ndarray]]:
        """Mean loss over the samples of ``X`` and its gradient, one (n_out, n_in + 1) array per layer.

        ``Y`` is integer class labels (n_samples,) or a float target matrix (n_samples, n_out).
        """
        _require_numba("loss_and_gradients")
        X, scale = check.check_X(X, self.layer_sizes[0], self.dtype)
        Y = check.check_targets(Y, X.shape[0], self.layer_sizes[-1], self.dtype, probabilities=self.loss != "mse")
        n = X.shape[0]
        work = self._work(n)
        net = self._net()
        forward_backward(net, X, Y, np.empty(0, np.int64), 0, n, self.dtype.type(scale), self._codes(), work)
        gradients(net, work, n)
        with np.errstate(over="ignore"):  # finite per-sample losses near the float64 limit: reported below
            loss = float(work.losses.mean())
        if not (np.isfinite(loss) and np.isfinite(work.grads).all()):  # overflow, as in forward
            raise ValueError(f"the loss or its gradient overflows {self.dtype.name} for these inputs; scale X down")
        return loss, [g.copy() for g in theta_views(work.grads, self._layout)]

    def fit(self, X, y, *, epochs=10, batch_size=32, learning_rate=0.1, momentum=0.0, nesterov=False,
            weight_decay=0.0, shuffle=True, n_threads=None, verbose=0, checkpoint=None, checkpoint_every=1,
            resume=None):
        """Train by minibatch SGD from the current weights for ``epochs`` epochs; returns ``self``.

        Starts afresh: the momentum buffers and ``loss_curve_`` are reset. Each epoch runs entirely
        in compiled code, parallel over the samples of each minibatch; the weights it produces do not
        depend on ``n_threads``. Every argument is checked before anything changes, so a call that
        raises a ValueError or TypeError leaves the model as it was.

        Parameters
        ----------
        X : array (n_samples, n_features), uint8, float32 or float64
            uint8 inputs are pixel intensities, read as x / 255 inside the kernels.
        y : array (n_samples,) of int labels, or (n_samples, n_out) of float targets
        epochs : int >= 0
            Total epochs; with ``resume``, the epochs already in the checkpoint count towards it.
        batch_size : int >= 1; a last, smaller minibatch takes the remainder of each epoch.
        learning_rate : float > 0
        momentum : float in [0, 1); nesterov : bool
            torch.optim.SGD's momentum and Nesterov momentum (dampening 0).
        weight_decay : float >= 0
            L2 coefficient added to the gradient of the weights (not the biases).
        shuffle : bool
            Visit the samples in a new random order each epoch.
        n_threads : int or None
            Threads to train on, at most Numba's thread count (all of them by default; a network
            whose minibatch step is too small to share trains on one). The weights do not depend on it.
        verbose : int
            Print a line per epoch when > 0.
        checkpoint : path or None
            Write a checkpoint here (atomically) after every ``checkpoint_every``-th epoch, at the end
            of the fit and on Ctrl-C: parameters, momentum, random generator, loss curve and settings.
        checkpoint_every : int >= 1
        resume : path or None
            Continue from this checkpoint (it must exist): the result is bit-identical to an
            uninterrupted fit of ``epochs`` epochs with the same data and settings, which are checked.

        Raises
        ------
        fastmlp.DivergenceError
            (a ValueError) when an epoch's loss or weights become NaN or infinite; the model keeps the
            weights from before that epoch.

        Ctrl-C (KeyboardInterrupt) leaves the model at its last completed epoch.
        """
        _require_numba("training")
        epochs = check.check_int(epochs, "epochs", 0)
        run = self._prepare(X, y, batch_size, learning_rate, momentum, nesterov, weight_decay, shuffle, n_threads)
        saver, state = checkpointing.plan(self, run, epochs, checkpoint, checkpoint_every, resume)
        # Everything is checked: from here on the model changes.
        if state is not None:
            checkpointing.apply_resume(self, *state)
        else:
            self._velocity[:] = 0
            self.loss_curve_ = []
        return self._train(run, epochs - len(self.loss_curve_), verbose, saver)

    def partial_fit(self, X, y, *, batch_size=32, learning_rate=0.1, momentum=0.0, nesterov=False,
                    weight_decay=0.0, shuffle=True, n_threads=None, verbose=0):
        """Train one more epoch, keeping the momentum buffers and appending to ``loss_curve_``."""
        _require_numba("training")
        run = self._prepare(X, y, batch_size, learning_rate, momentum, nesterov, weight_decay, shuffle, n_threads)
        return self._train(run, 1, verbose, None)

    def _prepare(self, X, y, batch_size, learning_rate, momentum, nesterov, weight_decay, shuffle, n_threads):
        """Check and convert every argument of a training call; changes nothing."""
        X, scale = check.check_X(X, self.layer_sizes[0], self.dtype)
        y = check.check_targets(y, X.shape[0], self.layer_sizes[-1], self.dtype, probabilities=self.loss != "mse")
        batch_size = check.check_int(batch_size, "batch_size", 1)
        learning_rate = check.check_float(learning_rate, "learning_rate", positive=True)
        momentum = check.check_float(momentum, "momentum")
        if momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        weight_decay = check.check_float(weight_decay, "weight_decay")
        if not isinstance(nesterov, (bool, np.bool_)) or not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError("nesterov and shuffle must be True or False")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        for name, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay)):
            with np.errstate(over="ignore"):
                rounded = self.dtype.type(value)
            if not np.isfinite(rounded) or (value > 0 and rounded == 0):
                raise ValueError(f"{name}={value} is not representable in {self.dtype.name}")
        return _Run(X, y, scale, min(batch_size, X.shape[0]), batch_size, learning_rate, momentum,
                    bool(nesterov), weight_decay, bool(shuffle), _check_threads(n_threads))

    def _train(self, run, epochs, verbose, saver):
        n = run.X.shape[0]
        dtype = self.dtype.type
        opt = SGD(self._velocity, dtype(run.learning_rate), dtype(run.momentum), dtype(run.weight_decay),
                  run.nesterov)
        work = self._work(run.batch)
        net = self._net()
        codes_ = self._codes()
        try:
            with _threads(run.n_threads):
                for _ in range(epochs):
                    # A Ctrl-C cannot stop the compiled epoch; it lands between epochs or just after
                    # one, where the snapshot rolls back a half-recorded epoch
                    # (tests/test_checkpoint.py::test_keyboard_interrupt_*).
                    snapshot = checkpointing.Snapshot(self)
                    try:
                        order = self._rng.permutation(n) if run.shuffle else np.arange(n)
                        began = time.perf_counter()
                        loss = train_epoch(net, opt, run.X, run.y, order, run.batch, dtype(run.scale), codes_, work)
                        seconds = time.perf_counter() - began
                        checkpointing.check_epoch(self, loss, run.learning_rate)
                        self.loss_curve_.append(float(loss))
                    except BaseException:
                        snapshot.restore(self)
                        raise
                    if verbose:
                        print(f"epoch {len(self.loss_curve_):4d}  loss {loss:.6f}  {n / seconds:,.0f} samples/s")
                    if saver is not None:
                        saver.after_epoch(self)
        except KeyboardInterrupt:
            if saver is not None:
                saver.finish(self)
            raise
        if saver is not None:
            saver.finish(self)
        return self

    # ----------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` as a .npz file (see :func:`fastmlp.io.save`); atomic."""
        from .io import save

        save(self, path)

    def to_onnx(self, path: str | os.PathLike | None = None, **options):
        """The network as an ONNX model, also written to ``path``; see :func:`fastmlp.onnx_export.to_onnx`."""
        from .onnx_export import to_onnx

        return to_onnx(self, path, **options)

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.layer_sizes))
        return f"MLP({sizes}, loss={self.loss!r}, output={self.output!r}, dtype={self.dtype.name!r})"
