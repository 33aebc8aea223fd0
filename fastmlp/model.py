"""The MLP: validates input once, owns the flat parameter vector and the work buffers, calls kernels."""

from __future__ import annotations

import inspect
import math
import os
import time
import warnings
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _ranks, _threads, inference, io
from . import _validation as check
from . import checkpoint as checkpointing
from ._compile import NUMBA_ERROR, REGISTRY
from ._layout import (
    aligned_copy,
    aligned_empty,
    aligned_rows,
    aligned_zeros,
    build_layout,
    from_lecture_order,
    input_rows,
    n_params,
    n_stored,
    row_width,
    theta_views,
    to_lecture_order,
)
from ._settings import DEFAULTS, FIELDS, TrainingSettings
from .kernels import (
    HIDDEN_ACTIVATIONS,
    LEAD,
    LOSSES,
    OPTIMIZERS,
    OUTPUTS,
    PARTS,
    SIZE,
    UNIT,
    Net,
    Optimizer,
    Work,
    output_rows,
    part_size,
)

if NUMBA_ERROR is None:  # else a model predicts in NumPy (fastmlp.inference) and cannot train
    import numba

    from ._team import train_epoch
    from .kernels.backward import forward_backward, gradients
    from .kernels.forward import (
        PANEL_MIN_SAMPLES,
        PREDICT_PARALLEL_MIN_SAMPLES,
        SAMPLE_BLOCK,
        panels_at,
        predict_chunk,
        scratch_shape,
    )
    from .kernels.microkernel import pack_row

#: Validation samples per call of forward_backward: bounds the work buffers to CHUNK samples.
CHUNK = 1024
#: The adaptive schedule stops dividing the learning rate below this (as scikit-learn's MLP does).
MIN_ADAPTIVE_RATE = 1e-6


class _Data(namedtuple("_Data", ["X", "scale", "y", "weights"])):
    """Training data, checked and converted: X as the kernels read it, its scale (1/255 for uint8),
    targets (labels or a matrix) and per-sample weights (empty: unweighted); each array a read-only view
    (check.read_only), so that writable and read-only data train on the same compiled kernels."""

    __slots__ = ()

    def __new__(cls, X: np.ndarray, scale: float, y: np.ndarray, weights: np.ndarray) -> _Data:
        return super().__new__(cls, check.read_only(X), scale, check.read_only(y), check.read_only(weights))


#: The metadata fields that define a network (a checkpoint must match them to be resumed).
NETWORK_FIELDS = ("layer_sizes", "loss", "output", "activation", "dtype")


def _require_numba(what: str) -> None:
    if NUMBA_ERROR is not None:
        raise ImportError(f"{what} needs Numba, which cannot be imported here ({NUMBA_ERROR}): pip install numba. "
                          "Without it a model can still predict.")


def _check_threads(n_threads: object, sharing: tuple[int, str] | None = None) -> int:
    """The thread count to train or predict on: ``n_threads``, or by default this process's share of the
    cores (fastmlp._threads: its CPU affinity over the MPI ranks or Dask tasks on the node; ``sharing``
    overrides who shares them), at most Numba's current count. Asking for more than the share warns."""
    if n_threads is None:
        return _threads.default_threads(numba.get_num_threads(), sharing)
    n_threads = check.check_int(n_threads, "n_threads", 1)
    if n_threads > numba.config.NUMBA_NUM_THREADS:
        pool = numba.config.NUMBA_NUM_THREADS
        raise ValueError(f"n_threads must be <= {pool} (Numba's thread pool), got {n_threads}")
    _threads.warn_if_oversubscribed(n_threads, sharing)
    return n_threads


@contextmanager
def _threads_context(n_threads: int | None) -> Iterator[None]:
    """Run the block with at most ``n_threads`` Numba threads (Numba's own count when None)."""
    if n_threads is None or n_threads >= numba.get_num_threads():
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _fresh_progress(learning_rate: float) -> dict[str, Any]:
    return {"step": 0, "samples_seen": 0, "learning_rate": learning_rate, "best_loss": None, "best_score": None,
            "no_improvement": 0, "stopped": False, "split_seed": None}


def _fixed(name: str) -> property:
    """A structural attribute of MLP: set by __init__ (in ``__dict__``, under its own name), then read-only. The
    layout, the buffers and the compiled kernels all follow it, so another value would make them disagree."""

    def get(self: MLP) -> Any:
        return self.__dict__[name]

    def refuse(self: MLP, value: object) -> None:
        raise AttributeError(f"{name} is fixed when the MLP is built; build another MLP (or MLP.from_thetas) "
                             f"for another {name}")

    return property(get, refuse, doc=f"The network's {name}, fixed when it is built.")


def _prepared_signatures() -> int:
    """How many kernel signatures this process has compiled or loaded from the cache so far: it grows during a
    call that had to compile (or load) the kernels it runs, which ``fit(verbose=1)`` says of an epoch."""
    return sum(len(dispatcher.signatures) for dispatcher in REGISTRY)


class MLP:
    """A multilayer perceptron trained by minibatch SGD or Adam in compiled, parallel kernels.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first, output last: ``(784, 100, 10)``.
    loss : {"softmax_cross_entropy", "sigmoid_cross_entropy", "mse"}
        Per-sample loss, summed over the outputs and averaged over each minibatch.
    output : {"softmax", "sigmoid", "identity"}, optional
        Output activation; by default softmax for softmax cross-entropy, sigmoid otherwise. Use
        ``output="identity"`` with ``loss="mse"`` for regression.
    activation : {"logistic", "tanh", "relu", "identity"}
        Activation of the hidden layers; "logistic" is the lecture's sigmoid.
    dtype : {"float32", "float64"}
        Precision of the parameters and of all arithmetic.
    random_state : int or None
        Seed of the weight initialisation, the shuffling and the early-stopping split.

    Attributes
    ----------
    layer_sizes, loss, output, activation, dtype
        As given (read-only).
    params : ndarray
        Every weight and bias in the kernels' own layout (each layer's theta transposed, rows padded). Assigning
        copies an array of the same dtype and size into it; ``thetas()`` and ``from_thetas`` use the lecture's.
    class_names : tuple of str or None
        The name of each class, label 0 first, saved with the model (None until set); labels stay indices.
    loss_curve_ : list of float
        Mean training loss of each epoch trained so far.
    validation_scores_, validation_loss_curve_ : list of float
        Accuracy (R^2 for an identity output) and mean loss on the validation data after each epoch,
        when ``fit`` had validation data.

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

    layer_sizes: tuple[int, ...] = _fixed("layer_sizes")  # type: ignore[assignment]
    loss: str = _fixed("loss")  # type: ignore[assignment]
    output: str = _fixed("output")  # type: ignore[assignment]
    activation: str = _fixed("activation")  # type: ignore[assignment]
    dtype: np.dtype = _fixed("dtype")  # type: ignore[assignment]

    def __init__(self, layer_sizes: Sequence[int], *, loss: str = "softmax_cross_entropy", output: str | None = None,
                 activation: str = "logistic", dtype: DTypeLike = "float32", random_state: int | None = None) -> None:
        fixed = self.__dict__  # the read-only attributes (_fixed) and the parameter buffer live here
        fixed["layer_sizes"] = check.check_layer_sizes(layer_sizes)
        fixed["loss"], fixed["output"] = check.check_loss_output(loss, output)
        if self.output == "softmax" and self.layer_sizes[-1] == 1:
            raise ValueError("a softmax over one output unit is 1 whatever the inputs: for two classes use one "
                             "sigmoid unit (loss='sigmoid_cross_entropy'), or give the network 2 outputs")
        fixed["activation"] = check.check_choice(activation, "activation", check.ACTIVATIONS)
        fixed["dtype"] = check.check_dtype(dtype)
        self.random_state = check.check_random_state(random_state)
        self._rng = np.random.default_rng(self.random_state)
        self._layout, self._row_blocks = build_layout(self.layer_sizes, self.dtype.itemsize)
        try:
            fixed["params"] = aligned_zeros(n_stored(self._layout), self.dtype)
        except MemoryError:
            raise ValueError(f"a network of layer sizes {self.layer_sizes} needs "
                             f"{n_stored(self._layout) * self.dtype.itemsize / 2**30:,.1f} GiB for its parameters "
                             "alone: more memory than this machine has") from None
        for theta in self._theta_views():
            # Glorot-style uniform range for the logistic sigmoid (as scikit-learn's MLP uses).
            bound = np.sqrt(2.0 / (theta.shape[0] + theta.shape[1] - 1))
            theta[:] = self._rng.uniform(-bound, bound, theta.shape)
        #: The dtype of the inputs of the last fit ("uint8": pixels read as x / 255); None before any.
        self.input_dtype_: str | None = None
        self._first = aligned_copy(np.zeros_like(self.params))  # SGD's velocity, or Adam's first moment
        self._second = aligned_copy(np.zeros_like(self.params))  # Adam's second moment
        self._best_params = np.empty(0, self.dtype)
        self.loss_curve_: list[float] = []
        self.validation_scores_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        self._progress = _fresh_progress(DEFAULTS.learning_rate)
        self._kept_work: Work | None = None  # partial_fit's buffers, for its next call (_epoch_work)

    # ----------------------------------------------------------------- parameters
    @property
    def params(self) -> np.ndarray:
        """Every weight and bias in the kernels' layout: one aligned buffer, which they read and write in place."""
        return self.__dict__["params"]

    @params.setter
    def params(self, value: ArrayLike) -> None:
        """Copy ``value`` into the buffer; the kernels hold it, so it is never replaced."""
        buffer = self.params
        array = np.asarray(value)
        if array.shape != buffer.shape or array.dtype != buffer.dtype:
            raise ValueError(f"params must be a {buffer.dtype} array of shape {buffer.shape} (this network's stored "
                             f"layout), got {array.dtype} {array.shape}; thetas() and from_thetas use the lecture's")
        if not np.isfinite(array).all():
            raise ValueError("params contains NaN or infinity")
        if not np.array_equal(from_lecture_order(to_lecture_order(array, self._layout), self._layout), array):
            raise ValueError("params must hold 0 in the padding after each stored row, as every network's do")
        buffer[:] = array

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The name of each class, label 0 first, or None: saved with the model, so that the command line
        reads and writes labels by name (``fastmlp train`` sets them from a CSV file's text labels)."""
        return self.__dict__.get("class_names")

    @class_names.setter
    def class_names(self, names: Sequence[str] | None) -> None:
        self.__dict__["class_names"] = check.check_class_names(names, self.layer_sizes[-1], self.output)

    @classmethod
    def from_thetas(cls, thetas: Sequence[ArrayLike], *, loss: str = "softmax_cross_entropy",
                    output: str | None = None, activation: str = "logistic", dtype: DTypeLike | None = None,
                    random_state: int | None = None) -> MLP:
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
            dtype = kinds.pop() if len(kinds) == 1 and next(iter(kinds)).name in check.DTYPES else np.float64
        dtype = check.check_dtype(dtype)
        for l, theta in enumerate(arrays):
            if not np.isfinite(theta).all():
                raise ValueError(f"thetas[{l}] contains NaN or infinity")
            if theta.dtype.kind == "f" and np.abs(theta).max() > np.finfo(dtype).max:
                raise ValueError(f"thetas[{l}] holds values too large for {dtype}")
        sizes = [arrays[0].shape[1] - 1] + [theta.shape[0] for theta in arrays]
        net = cls(sizes, loss=loss, output=output, activation=activation, dtype=dtype, random_state=random_state)
        for view, theta in zip(net._theta_views(), arrays):
            view[:] = theta
        return net

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (and copy.copy, copy.deepcopy) leaves out the work buffers partial_fit keeps: scratch, made
        again when needed, and never two models' at once."""
        return {**self.__dict__, "_kept_work": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling: arrays can arrive read-only (pickle protocol 5's out-of-band buffers, joblib's memory
        maps), and the model writes its parameters and optimizer state as it trains; so it keeps writable
        copies of those, which also predict on the kernels compiled for every other model. Its parameters
        and optimizer state go back to cache-line-aligned buffers (_layout.ALIGNMENT)."""
        self.__dict__.update({key: np.array(value) if isinstance(value, np.ndarray) and not value.flags.writeable
                              else value for key, value in state.items()})
        if self._layout.shape[1] <= LEAD:  # pickled before the layout had LEAD: every layer's rows back to back
            old = np.column_stack([self._layout, np.append(self._layout[1:, SIZE], 0)])
            self._layout, self._row_blocks = build_layout(self.layer_sizes, self.dtype.itemsize)
            for key in ("params", "_first", "_second", "_best_params"):
                if self.__dict__[key].size:
                    self.__dict__[key] = from_lecture_order(to_lecture_order(self.__dict__[key], old), self._layout)
        for key in ("params", "_first", "_second"):
            self.__dict__[key] = aligned_copy(self.__dict__[key])
        self._kept_work = None  # pickled before models kept any

    def thetas(self) -> list[np.ndarray]:
        """Copies of the per-layer matrices, each (n_out, n_in + 1) with the bias in the last column."""
        return [theta.copy() for theta in self._theta_views()]

    def _theta_views(self) -> list[np.ndarray]:
        """The per-layer matrices as :meth:`thetas` gives them, but views of the stored weights (strided: the
        store keeps each transposed), so writing to them changes the network."""
        return theta_views(self.params, self._layout)

    @property
    def n_params(self) -> int:
        return n_params(self._layout)

    @property
    def t_(self) -> int:
        """Training samples seen by the optimizer so far (every epoch counts them all)."""
        return int(self._progress["samples_seen"])

    @property
    def best_loss_(self) -> float | None:
        """The lowest epoch training loss so far (tracked for convergence and the adaptive schedule)."""
        return self._progress["best_loss"]

    @property
    def best_validation_score_(self) -> float | None:
        """The best validation score so far (tracked with early stopping)."""
        return self._progress["best_score"]

    # ----------------------------------------------------------------- state
    def _get_state(self, lecture: bool = True) -> dict[str, Any]:
        """Copies of everything training changes: the one snapshot that rollback, checkpoints and files use.
        Parameter-shaped arrays are in the lecture's order (thetas row by row), whatever the kernels store, and
        the curves are arrays. With ``lecture`` False, for :meth:`_set_state` in this process only (an epoch's
        rollback), the arrays are copies of what the model holds, without a transpose, and the curves are their
        lengths, as an epoch only appends to them. On Zen 3, 784-100-10 float32, the snapshot took 234 us in the
        lecture's order and 36 this way; a partial_fit of 32 samples took 0.88-0.90 ms with an empty loss curve
        and 3.4-3.9 with 100,000 values in it when every snapshot converted the curves, 0.60-0.65 and 0.67-0.75
        this way."""

        def order(array: np.ndarray) -> np.ndarray:
            return to_lecture_order(array, self._layout) if lecture and array.size else array.copy()

        return {
            "params": order(self.params), "first": order(self._first), "second": order(self._second),
            "best_params": order(self._best_params),
            **{name: np.asarray(getattr(self, name + "_"), np.float64).reshape(-1) if lecture
               else len(getattr(self, name + "_")) for name in io.CURVES},
            "rng_state": self._rng.bit_generator.state, "progress": dict(self._progress),
            "input_dtype": self.input_dtype_,
        }

    def _set_state(self, state: dict[str, Any], lecture: bool = True) -> None:
        """Take back a state from :meth:`_get_state` (taken with the same ``lecture``) or a file; missing optimizer
        entries are reset."""
        stored = partial(from_lecture_order, layout=self._layout) if lecture else np.asarray
        self.params[:] = stored(np.asarray(state["params"]))  # in place: the kernels' Net tuples hold this buffer
        self._first[:] = stored(np.asarray(state["first"])) if "first" in state else 0
        self._second[:] = stored(np.asarray(state["second"])) if "second" in state else 0
        best = np.array(state.get("best_params", ()), dtype=self.dtype)
        self._best_params = stored(best) if best.size else best
        for name in io.CURVES:
            if lecture:
                setattr(self, name + "_", [float(v) for v in state[name]])
            else:  # cut back to the length it had
                del getattr(self, name + "_")[state[name]:]
        if "rng_state" in state:
            self._rng.bit_generator.state = state["rng_state"]
        self._progress = dict(state.get("progress") or _fresh_progress(DEFAULTS.learning_rate))
        self.input_dtype_ = state["input_dtype"]

    def _metadata(self, kind: str) -> dict[str, Any]:
        metadata = io.header(kind)
        metadata.update(layer_sizes=list(self.layer_sizes), loss=self.loss, output=self.output,
                        activation=self.activation, dtype=self.dtype.name, random_state=self.random_state,
                        input_dtype=self.input_dtype_)
        if self.class_names is not None:  # left out otherwise: such files stay readable by older versions
            metadata["class_names"] = list(self.class_names)
        return metadata

    def _checkpoint_contents(self, settings: TrainingSettings, data: dict) -> tuple[dict, dict]:
        state = self._get_state()
        metadata = self._metadata("checkpoint")
        metadata.update(epochs_done=len(self.loss_curve_), rng_state=state.pop("rng_state"),
                        training=settings.record(), data=data, progress=state.pop("progress"))
        del state["input_dtype"]
        return metadata, state

    @classmethod
    def _from_file(cls, metadata: dict, arrays: dict) -> MLP:
        net = cls(metadata["layer_sizes"], loss=metadata["loss"], output=metadata["output"],
                  activation=metadata["activation"], dtype=metadata["dtype"], random_state=metadata["random_state"])
        net.class_names = metadata["class_names"]
        state = dict(arrays, input_dtype=metadata["input_dtype"])
        if metadata["kind"] == "checkpoint":
            state.update(rng_state=metadata["rng_state"], progress=metadata["progress"])
        net._set_state(state)
        return net

    # ----------------------------------------------------------------- kernels' arguments
    def _net(self) -> Net:
        return Net(self.params, self._layout, self._row_blocks)

    def _codes(self) -> np.ndarray:
        """The kernels' (loss, output, hidden activation) codes."""
        return np.array([LOSSES[self.loss], OUTPUTS[self.output], HIDDEN_ACTIVATIONS[self.activation]], np.int64)

    def _work(self, batch_size: int) -> Work:
        return Work(
            acts=aligned_rows(batch_size, self._layout, self.dtype),
            outputs=np.empty(batch_size * output_rows(self.layer_sizes[-1]), self.dtype),
            deltas=aligned_rows(batch_size, self._layout, self.dtype),
            losses=np.empty(batch_size, np.float64),
            # 0 in the gaps after rows (_layout.lead_width), which no kernel writes and loss_and_gradients checks
            grads=aligned_zeros(self.params.size, self.dtype),
            lecture=aligned_empty(self.params.size, self.dtype),
            parts=np.empty(PARTS * part_size(batch_size, self.layer_sizes[1], self.dtype.itemsize), self.dtype),
            # a row for each of Numba's threads (backward.gradients) and each member of a team (fastmlp._team)
            pack=np.empty((numba.config.NUMBA_NUM_THREADS, pack_row(self.dtype.itemsize)), self.dtype),
            inputs=input_rows(batch_size, self._layout, self.dtype),
            one=np.ones(1, self.dtype),
        )

    def _epoch_work(self, batch_size: int, keep: bool) -> Work:
        """The buffers of training epochs: those kept from the last partial_fit if they are for ``batch_size``,
        else new ones (_work). ``keep`` (partial_fit) keeps them for the next call: making them took 35-38 us of
        a 447-462 us partial_fit of 32 samples (784-100-10 float32, Zen 3), a zeroed gradient and four aligned
        buffers among them. No kernel reads what a buffer held before a step (a new one holds anything) except
        the gradient's gaps, which none writes, so results do not change. A fit keeps none: a model kept after
        fitting does not hold its largest minibatch's buffers."""
        kept = self._kept_work
        work = kept if kept is not None and kept.acts.shape[0] == batch_size else self._work(batch_size)
        self._kept_work = work if keep else None
        return work

    def _optimizer(self, settings: TrainingSettings, learning_rate: float, step: np.ndarray) -> Optimizer:
        """The kernels' update rule: state buffers, ``step`` (int64[1], updates so far), the epoch's
        learning rate, and every other field of ``Optimizer`` taken by name from the settings (numbers in
        the parameters' dtype), so a new setting of the update needs no code here."""
        named = {name: getattr(settings, name) for name in Optimizer._fields if name in FIELDS}
        named = {name: value if isinstance(value, bool) else self.dtype.type(value) for name, value in named.items()}
        named["learning_rate"] = self.dtype.type(learning_rate)
        return Optimizer(kind=OPTIMIZERS[settings.optimizer], first=self._first, second=self._second, step=step,
                         **named)

    # ----------------------------------------------------------------- inference
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Output activations, shape (n_samples, n_out). uint8 inputs are read as x / 255.

        Examples
        --------
        >>> net = MLP([3, 4, 2], random_state=0)
        >>> net.forward(np.ones((5, 3))).shape
        (5, 2)
        """
        return self._outputs(X, False)[0]

    def _outputs(self, X: ArrayLike, argmax: bool, finite: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Output activations of ``X`` and, with ``argmax`` where the compiled kernels predict, the index of each
        sample's first largest output, which they find beside the outputs; else None. ``finite``: the caller
        has found every value of X finite (check_X)."""
        given = getattr(X, "dtype", None)
        if self.input_dtype_ == "uint8" and given is not None and given.kind in "iu" and given != np.uint8:
            warnings.warn(f"this network was trained on uint8 pixels, which it reads as x / 255; {given} X is read "
                          "as the numbers it holds: pass X.astype(np.uint8) to predict pixels", UserWarning,
                          stacklevel=3)
        X, scale = check.check_X(X, self.layer_sizes[0], self.dtype, finite=finite)
        labels = np.empty(X.shape[0], np.int64) if argmax and NUMBA_ERROR is None else None
        if NUMBA_ERROR is None:
            out = self._forward_compiled(X, scale, np.empty(0, np.int64) if labels is None else labels)
        else:
            out = inference.forward(self._theta_views(), X, scale, activation=self.activation,
                                    output=self.output)
        if not np.isfinite(out).all():  # finite inputs so large that a layer overflows (tests/robustness)
            raise ValueError(f"the network's outputs overflow {self.dtype.name} for these inputs; scale X down")
        return out, labels

    def _forward_compiled(self, X: np.ndarray, scale: float, labels: np.ndarray) -> np.ndarray:
        """Output activations of checked inputs by the compiled kernels: one call, SAMPLE_BLOCK rows of
        work buffer per thread, and from PANEL_MIN_SAMPLES samples a buffer for the weights' copy; ``labels``
        (int64, one a sample, or empty) takes each sample's argmax.

        Fewer than PREDICT_PARALLEL_MIN_SAMPLES samples run on the calling thread, so they skip settling a thread
        count (_check_threads and _threads_context), which took longer than the kernel. MLP.predict on one image,
        Zen 3, min and median us of 30 rounds in one process, settling the count (and an aligned empty panels
        buffer) against not: 784-100-10 70.2 / 73.9 against 36.3 / 38.8, 784-15-10 64.8 / 68.7 against 28.7 / 30.9."""
        n = X.shape[0]
        out = np.empty((n, self.layer_sizes[-1]), self.dtype)
        if n < PREDICT_PARALLEL_MIN_SAMPLES:
            self._predict_chunk(X, scale, labels, out, min(n, SAMPLE_BLOCK))
            return out
        with _threads_context(_check_threads(None)):  # the prediction kernel runs on Numba's threads
            self._predict_chunk(X, scale, labels, out, min(n, SAMPLE_BLOCK * numba.get_num_threads()))
        return out

    def _predict_chunk(self, X: np.ndarray, scale: float, labels: np.ndarray, out: np.ndarray, rows: int) -> None:
        """predict_chunk over all of X into ``out``, with a work buffer of ``rows`` activation rows.

        One row is not aligned to a cache line (aligned_rows): where its vectors start changes no value, a
        one-sample kernel reads it about as fast either way (784-100-10 float32, Zen 3: 10.6 us aligned, 10.7
        not), and finding an aligned start costs more. MLP.predict of one sample, Zen 3, 15 alternating rounds in
        one process, min / median us, aligned against not: 784-100-10 float32 37.7 / 61.9 against 30.0 / 49.4,
        float64 43.3 / 47.6 against 35.6 / 41.1, 784-15-10 float32 28.0 / 34.2 against 20.7 / 25.1."""
        n = X.shape[0]
        if n >= PANEL_MIN_SAMPLES:
            panels = aligned_empty(panels_at(self._layout, len(self.layer_sizes) - 1, self.dtype.itemsize),
                                   self.dtype)
        else:
            panels = np.empty(0, self.dtype)
        if rows == 1:  # aligning one row costs more than it saves (docstring)
            acts = np.empty((1, row_width(self._layout, self.dtype.itemsize)), self.dtype)
        else:
            acts = aligned_rows(rows, self._layout, self.dtype)
        scratch = np.empty(scratch_shape(self._layout, rows), self.dtype)
        predict_chunk(self._net(), X, np.empty(0, np.int64), 0, n, self.dtype.type(scale), self._codes(), acts, out,
                      labels, panels, np.empty(1, np.int64), scratch)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (n_samples, n_classes); a single sigmoid unit gives columns (1 - p, p)."""
        if self.output == "identity":
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's output is identity")
        proba = self.forward(X)
        if proba.shape[1] == 1:
            proba = np.hstack([1 - proba, proba])
        return proba

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class labels (n_samples,); the outputs themselves for an identity (regression) output."""
        return self._predict(X)

    def _predict(self, X: ArrayLike, finite: bool = False) -> np.ndarray:
        """:meth:`predict`; ``finite`` as in :meth:`_outputs`."""
        out, labels = self._outputs(X, self._labels_are_argmax(), finite)
        return self._labels(out) if labels is None else labels

    def _labels_are_argmax(self) -> bool:
        """Whether a sample's label is the index of its largest output: a classifier of more than one unit."""
        return self.output != "identity" and self.layer_sizes[-1] > 1

    def _labels(self, out: np.ndarray) -> np.ndarray:
        if self._labels_are_argmax():
            return out.argmax(axis=1)
        if self.output == "identity":
            return out[:, 0] if out.shape[1] == 1 else out
        return (out[:, 0] > 0.5).astype(np.int64)

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Accuracy of :meth:`predict` against ``y`` (labels or one-hot); R^2 for an identity output."""
        X, _ = check.check_X(X, self.layer_sizes[0], self.dtype)
        y = check.check_targets(y, X.shape[0], self.layer_sizes[-1], self.dtype)
        return self._score(self.forward(X), y)

    def _score(self, out: np.ndarray, y: np.ndarray) -> float:
        if self.output == "identity":
            if y.ndim == 1:  # labels, which training reads as one-hot targets
                y = np.eye(out.shape[1], dtype=out.dtype)[y]
            residual = ((out - y) ** 2).sum()
            total = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1.0 - residual / total) if total > 0 else float(residual == 0)
        labels = y if y.ndim == 1 else (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
        return float(np.mean(self._labels(out) == labels))

    # ----------------------------------------------------------------- training
    def loss_and_gradients(self, X: ArrayLike, Y: ArrayLike, sample_weight: ArrayLike | None = None,
                           ) -> tuple[float, list[np.ndarray]]:
        """Mean loss over the samples of ``X`` and its gradient, one (n_out, n_in + 1) array per layer.

        ``Y`` is integer class labels (n_samples,) or a float target matrix (n_samples, n_out);
        ``sample_weight`` makes both the weighted mean.
        """
        _require_numba("loss_and_gradients")
        data = self._data(X, Y, sample_weight, None)
        n = data.X.shape[0]
        work = self._work(n)
        net = self._net()
        order = np.empty(0, np.int64)
        forward_backward(net, data.X, data.y, data.weights, order, 0, n, self.dtype.type(data.scale),
                         self._codes(), work)
        gradients(net, data.weights, order, 0, n, work)
        total = float(data.weights.sum(dtype=np.float64)) if data.weights.size else n
        with np.errstate(over="ignore"):  # finite per-sample losses near the float64 limit: reported below
            loss = float(work.losses.sum() / total)  # the weighted losses w_i L_i
        if not (np.isfinite(loss) and np.isfinite(work.grads).all()):  # overflow, as in forward
            raise ValueError(f"the loss or its gradient overflows {self.dtype.name} for these inputs; scale X down")
        return loss, [g.copy() for g in theta_views(work.grads, self._layout)]

    def fit(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None,
            class_weight: str | dict[int, float] | None = None,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None, n_threads: int | None = None,
            verbose: int = 0, callback: Callable[[MLP, float], object] | None = None,
            checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
            resume: str | os.PathLike | None = None, comm: Any = None, sync_every: int = 1,
            **settings: Any) -> MLP:
        """Train from the current weights; returns ``self``. Settings are keywords (see below).

        Starts afresh: optimizer state, curves and schedules are reset. Each epoch runs entirely in
        compiled code, parallel over the samples of each minibatch; the weights it produces do not
        depend on ``n_threads``. Every argument is checked before anything changes, so a call that
        raises a ValueError or TypeError leaves the model as it was.

        Parameters
        ----------
        X : array (n_samples, n_features), uint8, float32 or float64
            uint8 inputs are pixel intensities, read as x / 255 inside the kernels.
        y : array (n_samples,) of int labels, or (n_samples, n_out) of float targets
        sample_weight : array (n_samples,) of weights >= 0, optional
            Each minibatch's loss and gradient become the weighted mean.
        class_weight : None, "balanced" or dict {label: weight}
            Multiplies the sample weights by the weight of each sample's label (labels only);
            "balanced" weights labels by n_samples / (n_classes * count).
        validation_data : (X_val, y_val), optional
            Scored after every epoch (``validation_scores_``, ``validation_loss_curve_``); with
            ``early_stopping`` it is what is monitored, else a stratified ``validation_fraction``
            of the training data is held out.
        n_threads : int or None
            Threads to train on, at most Numba's thread count (all of them by default). The weights
            do not depend on it.
        verbose : int
            Print a line per epoch when > 0.
        callback : callable or None
            Called after every epoch as ``callback(net, seconds)``, ``seconds`` the epoch's training time.
        checkpoint : path or None
            Write a checkpoint here (atomically) after every ``checkpoint_every``-th epoch, at the end
            of the fit and on Ctrl-C: parameters, optimizer state, random generator, curves, settings.
        checkpoint_every : int >= 1
        resume : path or None
            Continue from this checkpoint: the result is bit-identical to an uninterrupted fit with
            the same data and settings, which are checked.
        comm : mpi4py communicator or None
            Train data-parallel (docs/distributed.md): every rank of ``comm`` calls ``fit`` with the same
            arguments and its own shard of the data; all end with the same weights. Rank 0's initial
            state is used, rank 0 writes the checkpoints, and ``n_threads`` defaults to the rank's share
            of its node's cores.
        sync_every : int >= 1
            With ``comm``: average the weights and optimizer state over the ranks every this many steps
            (and at the end of each epoch). 1 with plain SGD is synchronous SGD at ranks x batch_size.
        **settings
            epochs=10 (the total; with ``resume`` the epochs already done count), batch_size=32,
            learning_rate=0.1, optimizer="sgd" or "adam", momentum=0 and nesterov=False
            (torch.optim.SGD's, dampening 0), beta_1=0.9, beta_2=0.999, epsilon=1e-8 (Adam),
            weight_decay=0 (L2 added to the gradient of the weights, not the biases),
            schedule="constant", "invscaling" or "adaptive", power_t=0.5, shuffle=True,
            early_stopping=False, validation_fraction=0.1, convergence=False, tol=1e-4,
            n_iter_no_change=10, restore_best_weights=True. The table with ranges is
            ``fastmlp.TrainingSettings``; ``help(fastmlp.TrainingSettings)`` describes each.

        Raises
        ------
        fastmlp.DivergenceError
            (a ValueError) when an epoch's loss or weights become NaN or infinite; the model keeps the
            weights from before that epoch.

        Ctrl-C (KeyboardInterrupt) leaves the model at its last completed epoch.
        """
        _require_numba("training")
        # Data-parallel training (fastmlp.distributed): every rank of comm runs this fit on its own shard.
        group = _ranks.Group(comm) if comm is not None else None
        with _ranks.agreement(group):  # a check failing on one rank raises on every rank: none waits forever
            chosen = TrainingSettings.from_kwargs("fit", settings)
            chosen.check_dtype(self.dtype)
            n_threads = _check_threads(n_threads, group.sharing if group is not None else None)
            sync_every = check.check_int(sync_every, "sync_every", 1)
            if group is None and sync_every != 1:
                raise ValueError("sync_every applies to data-parallel fits: pass comm as well")
            verbose = check.check_verbose(verbose)
            if callback is not None:
                check.check_callback(callback, self)
            every = checkpointing.check_arguments(checkpoint, checkpoint_every, resume)
            data = self._data(X, y, sample_weight, class_weight)
            validation = self._validation(validation_data) if validation_data is not None else None
            given = None if validation is None else (validation.X, validation.y)
            record = checkpointing.data_record(data.X, data.y, data.weights, given) if checkpoint or resume else {}
        network = {field: self._metadata("model")[field] for field in NETWORK_FIELDS}
        if group is not None:  # every rank has passed its own checks: now they compare what they must share
            group.check_same({**network, **{name: getattr(chosen, name) for name in FIELDS}, "sync_every": sync_every,
                              "validation_data": validation is not None, "checkpoint": checkpoint is not None,
                              "resume": resume is not None})
        if group is not None and record:  # the record of all shards, in rank order
            record = group.combine_records(record)
        read = lambda: checkpointing.read_resume(resume, network, chosen, record)  # noqa: E731
        # Data-parallel: rank 0 reads the checkpoint; its contents, or its error, reach every rank.
        resumed = None if resume is None else read() if group is None else group.resume(read)
        # Everything is checked: from here on the model changes.
        if resumed is not None:
            metadata, arrays = resumed
            self._set_state(dict(arrays, rng_state=metadata["rng_state"], progress=metadata["progress"],
                                 input_dtype=metadata["input_dtype"]))
        else:
            self._set_state({"params": to_lecture_order(self.params, self._layout), **dict.fromkeys(io.CURVES, ()),
                             "input_dtype": self.input_dtype_, "progress": _fresh_progress(chosen.learning_rate)})
            if chosen.early_stopping and validation is None:
                self._progress["split_seed"] = int(self._rng.integers(2**63))
        if group is not None:  # every rank starts from rank 0's weights, optimizer state and generator
            self._set_state(group.from_root(self._get_state()))
        self.input_dtype_ = data.X.dtype.name
        if chosen.early_stopping and validation is None:
            data, validation = self._hold_out(data, chosen.validation_fraction, self._progress["split_seed"])
        saver = None
        if checkpoint is not None and (group is None or group.rank == 0):  # rank 0 writes for all
            saver = checkpointing.Checkpointer(checkpoint, every, lambda: self._checkpoint_contents(chosen, record))
        epochs = 0 if self._progress["stopped"] else chosen.epochs - len(self.loss_curve_)
        if group is not None:
            group.sync_every, group.saving = sync_every, checkpoint is not None
        return self._train(data, validation, chosen, epochs, n_threads, verbose, saver, callback, group)

    def partial_fit(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None,
                    class_weight: str | dict[int, float] | None = None, n_threads: int | None = None,
                    verbose: int = 0, **settings: Any) -> MLP:
        """Train one more epoch, keeping the optimizer state, the schedule's progress and the curves.

        Takes the settings of :meth:`fit` except ``epochs`` and those of early stopping and convergence.
        The model keeps the work buffers of the call's minibatch size for the next call.
        """
        _require_numba("training")
        chosen = TrainingSettings.from_kwargs("partial_fit", settings, exclude=_WHOLE_FIT_SETTINGS)
        chosen.check_dtype(self.dtype)
        n_threads = _check_threads(n_threads)
        verbose = check.check_verbose(verbose)
        data = self._data(X, y, sample_weight, class_weight)
        before, epochs = (self.input_dtype_, self._progress["learning_rate"]), len(self.loss_curve_)
        if chosen.schedule == "constant" or not self.loss_curve_:
            self._progress["learning_rate"] = chosen.learning_rate
        self.input_dtype_ = data.X.dtype.name
        try:
            return self._train(data, None, chosen, 1, n_threads, verbose, None, None, keep_work=True)
        except BaseException:
            if len(self.loss_curve_) == epochs:  # the epoch was rolled back: so is what the call set before it
                self.input_dtype_, self._progress["learning_rate"] = before
            raise

    def _data(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None,
              class_weight: str | dict[int, float] | None) -> _Data:
        """Check and convert training data; changes nothing."""
        X, scale = check.check_X(X, self.layer_sizes[0], self.dtype)
        y = check.check_targets(y, X.shape[0], self.layer_sizes[-1], self.dtype, probabilities=self.loss != "mse")
        weights = check.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        if class_weight is not None:
            weights = self._class_weighted(y, weights, class_weight)
        return _Data(X, scale, y, weights)

    def _class_weighted(self, y: np.ndarray, weights: np.ndarray, class_weight: object) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] == 1 and np.isin(y, (0, 1)).all():  # one sigmoid unit: its 0/1 labels
            y = y[:, 0].astype(np.int64)
        if y.ndim != 1:
            raise ValueError("class_weight needs integer class labels y (0 or 1 for one output unit), not a target "
                             "matrix")
        n_classes = max(self.layer_sizes[-1], 2)
        if isinstance(class_weight, str) and class_weight == "balanced":
            counts = np.bincount(y, minlength=n_classes).astype(np.float64)
            present = counts > 0
            per_class = np.zeros(n_classes)
            per_class[present] = y.size / (present.sum() * counts[present])
        elif isinstance(class_weight, dict):
            per_class = np.ones(n_classes)
            for label, weight in class_weight.items():
                if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
                    raise ValueError(f"class_weight has label {label!r}; labels are 0..{n_classes - 1}")
                per_class[label] = check.check_float(weight, f"class_weight[{label}]")
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}")
        result = per_class[y] * (weights if weights.size else 1.0)
        if not result.any():
            raise ValueError("class_weight and sample_weight give every sample weight 0")
        return check.weights_in(result, self.dtype, "class_weight (times sample_weight)")

    def _validation(self, validation_data: object) -> _Data:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, y_val)")
        X_val, y_val = validation_data
        return self._data(X_val, y_val, None, None)

    def _hold_out(self, data: _Data, fraction: float, seed: int) -> tuple[_Data, _Data]:
        """Split off ``fraction`` of the data for validation, stratified by label for labels."""
        n = data.X.shape[0]
        rng = np.random.default_rng(seed)
        if data.y.ndim == 1:
            held = [members[: int(np.ceil(fraction * members.size))] if members.size > 1 else members[:0]
                    for members in (rng.permutation(np.flatnonzero(data.y == c)) for c in np.unique(data.y))]
            valid = np.sort(np.concatenate(held))
        else:
            valid = np.sort(rng.permutation(n)[: int(np.ceil(fraction * n))])
        keep = np.setdiff1d(np.arange(n), valid)
        if valid.size == 0 or keep.size == 0:
            raise ValueError(f"validation_fraction={fraction} leaves no validation or no training samples of {n}")

        def part(rows: np.ndarray, weighted: bool) -> _Data:
            weights = data.weights[rows] if data.weights.size and weighted else data.weights[:0]
            return _Data(np.ascontiguousarray(data.X[rows]), data.scale, data.y[rows], weights)

        return part(keep, True), part(valid, False)  # validation scores are unweighted

    def _train(self, data: _Data, validation: _Data | None, settings: TrainingSettings, epochs: int,
               n_threads: int | None, verbose: int, saver: checkpointing.Checkpointer | None,
               callback: Callable[[MLP, float], object] | None, group: _ranks.Group | None = None, *,
               keep_work: bool = False) -> MLP:
        n = data.X.shape[0]
        # Data-parallel: the ranks agree on the minibatch size and the steps per epoch.
        batch = min(settings.batch_size, n) if group is None else group.plan(n, settings.batch_size)
        work = self._epoch_work(batch, keep_work)
        net = self._net()
        codes_ = self._codes()
        scale = self.dtype.type(data.scale)
        step = np.array([self._progress["step"]], np.int64)
        try:
            with _threads_context(n_threads):
                for _ in range(epochs):
                    # A Ctrl-C cannot stop the compiled epoch; it lands between epochs or just after
                    # one, where the snapshot rolls back a half-recorded epoch
                    # (tests/test_checkpoint.py::test_keyboard_interrupt_*).
                    snapshot = self._get_state(lecture=False)
                    try:
                        learning_rate = self._progress["learning_rate"]
                        prepared = _prepared_signatures() if verbose else 0
                        began = time.perf_counter()
                        step[0] = self._progress["step"]  # a rolled-back epoch leaves it advanced
                        opt = self._optimizer(settings, learning_rate, step)
                        if group is None:
                            order = self._rng.permutation(n) if settings.shuffle else np.arange(n)
                            loss = train_epoch(net, opt, data.X, data.y, data.weights, order, batch, scale, codes_,
                                               work)
                            seen = n
                        else:  # this rank's shard, averaged with the others every sync_every steps
                            loss, seen = group.train_epoch(self._rng, settings.shuffle, net, opt, data.X, data.y,
                                                           data.weights, batch, scale, codes_, work)
                        seconds = time.perf_counter() - began
                        # An epoch's time includes compiling (or loading) the kernels it ran the first time.
                        compiled = verbose and _prepared_signatures() != prepared
                        self._check_epoch(loss, learning_rate, settings)
                        self.loss_curve_.append(float(loss))
                        self._progress["samples_seen"] += seen
                        self._progress["step"] = int(step[0])
                        if validation is not None:
                            self._validate(validation, group)
                        stop = self._after_epoch(settings, validation is not None)
                    except BaseException:
                        self._set_state(snapshot, lecture=False)
                        raise
                    if verbose and (group is None or group.rank == 0):
                        line = f"epoch {len(self.loss_curve_):4d}  loss {loss:.6f}"
                        if validation is not None:
                            line += f"  validation score {self.validation_scores_[-1]:.4f}"
                        print(f"{line}  {seen / seconds:,.0f} samples/s"
                              + (" (includes compiling or loading the kernels)" if compiled else ""))
                    if saver is not None:
                        saver.after_epoch(len(self.loss_curve_))
                    if callback is not None:
                        callback(self, seconds)
                    if stop:
                        break
        except BaseException as error:
            # Ctrl-C, or in a data-parallel fit another rank's failure: keep the last completed epoch.
            stopped = isinstance(error, (KeyboardInterrupt, _ranks.RankError))
            if stopped and saver is not None:
                saver.finish(len(self.loss_curve_))
            if group is not None:  # tell the other ranks, unless every rank saw the same divergence
                group.leave(error, agreed=isinstance(error, checkpointing.DivergenceError))
            raise
        if saver is not None:
            saver.finish(len(self.loss_curve_))
        if group is not None:
            group.close()
        if settings.early_stopping and settings.restore_best_weights and self._best_params.size:
            self.params[:] = self._best_params
        return self

    def _check_epoch(self, loss: float, learning_rate: float, settings: TrainingSettings) -> None:
        """Raise DivergenceError when an epoch's mean loss or the weights it produced are not finite, naming the
        setting to lower."""
        if np.isfinite(loss) and np.isfinite(self.params).all():
            return
        epoch = len(self.loss_curve_) + 1
        what = f"the mean loss was {loss}" if not np.isfinite(loss) else "the weights became NaN or infinite"
        limit = decay_limit(settings)
        if learning_rate * settings.weight_decay > limit:
            advice = (f"learning_rate x weight_decay was {learning_rate * settings.weight_decay:g}, above the "
                      f"{limit:g} beyond which the decay alone makes the weights grow: lower weight_decay "
                      f"(it was {settings.weight_decay:g}) or learning_rate (it was {learning_rate:g})")
            cause = "weight_decay"
        else:
            advice, cause = f"Try a smaller learning_rate (it was {learning_rate:g})", "learning_rate"
        raise checkpointing.DivergenceError(
            f"training diverged in epoch {epoch}: {what}. The model keeps the weights from before that "
            f"epoch. {advice}.", epoch, what, cause)

    def _validate(self, validation: _Data, group: _ranks.Group | None = None) -> None:
        """Score and mean loss on the validation data, appended to the validation curves."""
        n = validation.X.shape[0]
        out = np.empty((n, self.layer_sizes[-1]), self.dtype)
        losses = np.empty(n, np.float64)
        net = self._net()
        work = self._work(min(n, CHUNK))
        scale = self.dtype.type(validation.scale)
        z0 = self._layout[-1, UNIT]
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            forward_backward(net, validation.X, validation.y, validation.weights, np.empty(0, np.int64), start,
                             count, scale, self._codes(), work)
            losses[start : start + count] = work.losses[:count]
            # The output layer's z is the last layer's units of each activation row; activate it as prediction does.
            out[start : start + count] = work.acts[:count, z0 : z0 + out.shape[1]]
        out = inference.OUTPUTS[self.output](out)
        score, loss = self._score(out, validation.y), float(losses.mean())
        if group is not None:  # data-parallel: means over all ranks' validation samples, so all decide alike
            score, loss = group.mean((score, loss), n)
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(loss)

    def _after_epoch(self, settings: TrainingSettings, validated: bool) -> bool:
        """Schedules, best weights and the plateau count after an epoch; True when training should stop."""
        progress = self._progress
        if settings.schedule == "invscaling":
            try:
                decay = (progress["samples_seen"] + 1) ** settings.power_t
            except OverflowError:  # a power_t of hundreds: the rate is 0 from here on
                decay = math.inf
            progress["learning_rate"] = settings.learning_rate / decay
        if settings.early_stopping:
            score = self.validation_scores_[-1]
            best = progress["best_score"]
            improved = best is None or score >= best + settings.tol
            if best is None or score > best:
                progress["best_score"] = score
                self._best_params = self.params.copy()
        else:
            loss = self.loss_curve_[-1]
            best = progress["best_loss"]
            improved = best is None or loss <= best - settings.tol
            if best is None or loss < best:
                progress["best_loss"] = loss
        progress["no_improvement"] = 0 if improved else progress["no_improvement"] + 1
        if progress["no_improvement"] <= settings.n_iter_no_change:
            return False
        progress["no_improvement"] = 0
        if settings.schedule == "adaptive" and progress["learning_rate"] > MIN_ADAPTIVE_RATE:
            progress["learning_rate"] /= 5.0
            return False
        if settings.early_stopping or settings.convergence:
            progress["stopped"] = True
            return True
        return False

    # ----------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` as a .npz file; atomic (see docs/file-format.md)."""
        state = self._get_state()
        arrays = {key: state[key] for key in io.ARRAYS["model"]}
        io.write(path, self._metadata("model"), arrays)

    def to_onnx(self, path: str | os.PathLike | None = None, **options: Any) -> Any:
        """The network as an ONNX model, also written to ``path``; see :func:`fastmlp.onnx_export.to_onnx`."""
        from .onnx_export import to_onnx

        return to_onnx(self, path, **options)

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.layer_sizes))
        return (f"MLP({sizes}, loss={self.loss!r}, output={self.output!r}, activation={self.activation!r}, "
                f"dtype={self.dtype.name!r})")


def decay_limit(settings: TrainingSettings) -> float:
    """The largest learning_rate * weight_decay at which SGD's decay step does not by itself make the weights
    grow. The decay is a quadratic of curvature weight_decay, on which gradient descent is stable below 2,
    with momentum m below 2 (1 + m), and with Nesterov's momentum below 2 (1 + m) / (1 + 2 m). Adam scales its
    steps, so its decay has no such limit (infinity)."""
    if settings.optimizer != "sgd":
        return float("inf")
    m = settings.momentum
    return 2 * (1 + m) / (1 + 2 * m) if settings.nesterov and m > 0 else 2 * (1 + m)


#: Settings that only a whole fit uses.
_WHOLE_FIT_SETTINGS = ("epochs", "early_stopping", "validation_fraction", "convergence", "tol", "n_iter_no_change",
                       "restore_best_weights")


def _fit_signature() -> inspect.Signature:
    """fit's signature with every training setting spelled out, for help() and IDEs."""
    signature = inspect.signature(MLP.fit)
    parameters = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default)
                   for name, field in FIELDS.items()]
    return signature.replace(parameters=parameters)


MLP.fit.__signature__ = _fit_signature()  # type: ignore[attr-defined]


def load(path: str | os.PathLike) -> MLP:
    """The network in a model file or checkpoint, also one saved from a scikit-learn estimator.

    :func:`fastmlp.load` is the public entry point (it rebuilds estimators too); both check every entry
    and raise ValueError naming the problem for a file that is not a valid fastmlp file.
    """
    return MLP._from_file(*io.read(path))
