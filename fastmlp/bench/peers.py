"""What a user would pick instead of fastmlp: plain NumPy (always), PyTorch eager and scikit-learn (if installed);
for prediction also ONNX Runtime running the exported model (if installed).

Every contender trains the same network by plain minibatch SGD (no momentum, no weight decay) on the same
samples, with the loss averaged over each minibatch. Peers get the data already scaled to [0, 1] in the
row's dtype (the conversion is not timed); fastmlp reads the uint8 images, as its users do.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import threading

import numpy as np

from .. import MLP
from .._threads import cpus

#: The CPUs this process may run on: its affinity, which a cpuset or taskset may make fewer than the machine's.
CPUS = len(cpus())
#: Thread settings each contender is tried with; the faster one counts (see runner.pick_variants).
ONE_THREAD = "1 thread"
ALL_THREADS = ONE_THREAD if CPUS == 1 else f"{CPUS} threads"
#: A peer's settings: one thread and all of them, or the one setting where those are the same.
ONE_AND_ALL = tuple(dict.fromkeys((ONE_THREAD, ALL_THREADS)))
#: fastmlp only: two one-thread epochs at once on two threads, each training its own copy of the model with
#: nothing shared but the data: what the machine gives two busy cores at that moment, the ceiling of a team of
#: two (runner.measure_training times it beside the team and one thread).
TWO_AT_ONCE = "2 x 1 thread at once"
#: The label of that entry in a row's results.
TWO_AT_ONCE_LABEL = f"fastmlp {TWO_AT_ONCE}"
#: fastmlp only, where its team has more than two threads: a team of exactly two, so that the thread-scaling
#: targets compare two threads with one on any machine (on two cores that is the team of all threads).
TWO_THREADS = "team of 2"
TWO_THREADS_LABEL = f"fastmlp {TWO_THREADS}"


def _blas_threads(variant):
    """Limit the BLAS threads NumPy and scikit-learn use (when threadpoolctl is installed)."""
    if variant != ONE_THREAD or importlib.util.find_spec("threadpoolctl") is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def glorot(layer_sizes, dtype, seed) -> list[np.ndarray]:
    """Lecture-style matrices (n_out, n_in + 1), bias last, drawn as fastmlp draws them."""
    rng = np.random.default_rng(seed)
    thetas = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        bound = np.sqrt(2.0 / (n_out + n_in))
        thetas.append(rng.uniform(-bound, bound, (n_out, n_in + 1)).astype(dtype))
    return thetas


# --------------------------------------------------------------------------------------------- fastmlp
class Fastmlp:
    """fastmlp itself: ``partial_fit`` is one epoch; uint8 images go straight in."""

    name = "fastmlp"
    variants = (ALL_THREADS,)

    def threads(self, variant):
        return contextlib.nullcontext()

    def prepare(self, X, labels, dtype, loss):
        return X, labels

    def build(self, layer_sizes, loss, dtype, seed):
        return MLP(layer_sizes, loss=loss, dtype=dtype, random_state=seed)

    def train_epoch(self, model, data, batch_size, learning_rate, variant=ALL_THREADS):
        X, labels = data
        if variant == TWO_AT_ONCE:  # model: a pair (pair_of)
            other = threading.Thread(target=model[1].partial_fit, args=(X, labels),
                                     kwargs=dict(batch_size=batch_size, learning_rate=learning_rate, n_threads=1))
            other.start()
            model[0].partial_fit(X, labels, batch_size=batch_size, learning_rate=learning_rate, n_threads=1)
            other.join()
            return model[0].loss_curve_[-1]
        n_threads = {ONE_THREAD: 1, TWO_THREADS: 2}.get(variant)
        model.partial_fit(X, labels, batch_size=batch_size, learning_rate=learning_rate, n_threads=n_threads)
        return model.loss_curve_[-1]

    @staticmethod
    def team_threads() -> int:
        """How many threads training uses by default (the all-threads entry): this process's share of the
        cores, at most Numba's thread count."""
        import numba

        from .._threads import default_threads

        return default_threads(numba.get_num_threads())

    @staticmethod
    def pair_of(model):
        """The model and an independent copy of it: the model of a TWO_AT_ONCE entry."""
        return model, copy.deepcopy(model)

    def predict(self, model, data, variant=ALL_THREADS):
        return model.predict(data[0])


# ----------------------------------------------------------------------------------------------- NumPy
def _sigmoid(z):
    """In place: z = 1 / (1 + exp(-z)). exp overflows to inf for z << 0, giving exactly 0, as it should."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    return z


class NumpyMLP:
    """A sigmoid MLP trained by vectorized minibatch SGD in plain NumPy: the lecture's math, one batch at a time.

    Losses as fastmlp defines them, per sample and summed over the outputs, then averaged over the batch:
    softmax cross-entropy -log p_y; MSE sum (yhat - y)^2 with sigmoid outputs; sigmoid cross-entropy.
    """

    def __init__(self, thetas, loss):
        self.weights = [np.ascontiguousarray(theta[:, :-1]) for theta in thetas]  # (n_out, n_in)
        self.biases = [theta[:, -1].copy() for theta in thetas]  # (n_out,)
        self.loss = loss

    def thetas(self) -> list[np.ndarray]:
        return [np.hstack([w, b[:, None]]) for w, b in zip(self.weights, self.biases)]

    def forward(self, X) -> list[np.ndarray]:
        """Activations of every layer, input first; the last entry holds the output pre-activations z."""
        acts = [X]
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = acts[-1] @ w.T  # (n_samples, n_out)
            z += b
            acts.append(z if l == len(self.weights) - 1 else _sigmoid(z))
        return acts

    def output(self, z):
        """In place: the output activation of the pre-activations z."""
        if self.loss == "softmax_cross_entropy":
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            return z
        return _sigmoid(z)

    def loss_and_delta(self, z, targets):
        """Summed loss of the batch and dL/dz per sample (in place of z). ``targets``: labels or one-hot rows."""
        rows = np.arange(z.shape[0])
        if self.loss == "softmax_cross_entropy":
            z -= z.max(axis=1, keepdims=True)  # stable log-sum-exp: the loss is logsumexp(z) - z_y
            picked = z[rows, targets]
            np.exp(z, out=z)
            sums = z.sum(axis=1)
            total = float(np.log(sums).sum() - picked.sum())
            z /= sums[:, None]
            z[rows, targets] -= 1
            return total, z
        if self.loss == "sigmoid_cross_entropy":
            total = float((np.maximum(z, 0) - targets * z + np.log1p(np.exp(-np.abs(z)))).sum())
            return total, np.subtract(_sigmoid(z), targets, out=z)
        yhat = _sigmoid(z)
        diff = yhat - targets
        total = float((diff * diff).sum())
        diff *= 2
        diff *= yhat
        diff *= 1 - yhat
        return total, diff

    def step(self, X, targets, learning_rate) -> float:
        """One SGD step on the minibatch (X, targets); returns its summed loss (taken before the update)."""
        acts = self.forward(X)
        total, delta = self.loss_and_delta(acts[-1], targets)
        delta /= X.shape[0]
        for l in range(len(self.weights) - 1, -1, -1):
            below = acts[l]  # (batch, n_in)
            grad_w = delta.T @ below  # (n_out, n_in)
            grad_b = delta.sum(axis=0)
            if l > 0:
                delta = delta @ self.weights[l]  # propagate with the weights before their update
                delta *= below
                delta *= 1 - below
            grad_w *= learning_rate
            grad_b *= learning_rate
            self.weights[l] -= grad_w
            self.biases[l] -= grad_b
        return total

    def train_epoch(self, X, targets, batch_size, learning_rate, rng) -> float:
        """One epoch over X in a random order; returns the mean per-sample loss."""
        n = X.shape[0]
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            total += self.step(X[batch], targets[batch], learning_rate)
        return total / n

    def predict(self, X) -> np.ndarray:
        return self.forward(X)[-1].argmax(axis=1)


def _scaled(X, dtype):
    return X.astype(dtype) / dtype.type(255) if X.dtype == np.uint8 else X.astype(dtype)


def _one_hot(labels, n_out, dtype):
    targets = np.zeros((labels.size, n_out), dtype)
    targets[np.arange(labels.size), labels] = 1
    return targets


class _BlasPeer:
    """A peer whose threads are BLAS threads; it trains on scaled floats, one-hot targets for sigmoid outputs."""

    variants = ONE_AND_ALL

    def threads(self, variant):
        return _blas_threads(variant)

    def prepare(self, X, labels, dtype, loss):
        dtype = np.dtype(dtype)
        targets = labels if loss == "softmax_cross_entropy" else _one_hot(labels, 10, dtype)
        return _scaled(X, dtype), targets


class Numpy(_BlasPeer):
    """The plain vectorized NumPy implementation above (BLAS threads: 1 or all)."""

    name = "numpy"

    def build(self, layer_sizes, loss, dtype, seed):
        model = NumpyMLP(glorot(layer_sizes, dtype, seed), loss)
        model.rng = np.random.default_rng(seed)
        return model

    def train_epoch(self, model, data, batch_size, learning_rate, variant=None):
        return model.train_epoch(data[0], data[1], batch_size, learning_rate, model.rng)

    def predict(self, model, data, variant=None):
        return model.predict(data[0])


# --------------------------------------------------------------------------------------------- PyTorch
class Torch:
    """PyTorch eager on the CPU: nn.Linear + nn.Sigmoid, torch.optim.SGD; 1 thread or all threads."""

    name = "pytorch"
    variants = ONE_AND_ALL

    def __init__(self):
        import torch

        self.torch = torch
        self.default_threads = torch.get_num_threads()

    @contextlib.contextmanager
    def threads(self, variant):
        self.torch.set_num_threads(1 if variant == ONE_THREAD else self.default_threads)
        try:
            yield
        finally:
            self.torch.set_num_threads(self.default_threads)

    def prepare(self, X, labels, dtype, loss):
        torch = self.torch
        dtype = np.dtype(dtype)
        targets = labels if loss == "softmax_cross_entropy" else _one_hot(labels, 10, dtype)
        return torch.from_numpy(_scaled(X, dtype)), torch.from_numpy(targets)

    def build(self, layer_sizes, loss, dtype, seed):
        torch, nn = self.torch, self.torch.nn
        torch.manual_seed(seed)
        layers = []
        for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if l < len(layer_sizes) - 2 or loss == "mse":
                layers.append(nn.Sigmoid())
        model = nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))
        with torch.no_grad():
            for layer, theta in zip([m for m in model if isinstance(m, nn.Linear)], glorot(layer_sizes, dtype, seed)):
                layer.weight.copy_(torch.from_numpy(theta[:, :-1]))
                layer.bias.copy_(torch.from_numpy(theta[:, -1]))
        model.loss = loss
        model.generator = torch.Generator().manual_seed(seed)
        return model

    def train_epoch(self, model, data, batch_size, learning_rate, variant=None):
        torch = self.torch
        functional = torch.nn.functional
        X, targets = data
        n = X.shape[0]
        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.0)
        order = torch.randperm(n, generator=model.generator)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            xb, yb = X[batch], targets[batch]
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            if model.loss == "softmax_cross_entropy":
                loss = functional.cross_entropy(out, yb)
            else:  # sum over outputs, mean over the batch, as fastmlp's MSE
                loss = functional.mse_loss(out, yb, reduction="sum") / xb.shape[0]
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
        return total / n

    def predict(self, model, data, variant=None):
        with self.torch.inference_mode():
            return model(data[0]).argmax(dim=1).numpy()


# ---------------------------------------------------------------------------------------- scikit-learn
class Sklearn(_BlasPeer):
    """scikit-learn's MLPClassifier, logistic hidden units, plain SGD via partial_fit (BLAS threads: 1 or all).

    For the MSE network (sigmoid outputs) it is given one-hot targets, so it trains sigmoid outputs too, but
    with its binary log-loss: scikit-learn's classifier has no squared loss. The cost per step is the same.
    """

    name = "scikit-learn"

    def build(self, layer_sizes, loss, dtype, seed):
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=tuple(layer_sizes[1:-1]), activation="logistic", solver="sgd",
            momentum=0.0, alpha=0.0, learning_rate="constant", random_state=seed,
        )

    def train_epoch(self, model, data, batch_size, learning_rate, variant=None):
        X, targets = data
        model.set_params(batch_size=batch_size, learning_rate_init=learning_rate)
        if hasattr(model, "coefs_"):
            model.partial_fit(X, targets)
        else:
            model.partial_fit(X, targets, classes=np.arange(10))
        return model.loss_curve_[-1]

    def predict(self, model, data, variant=None):
        return model.predict(data[0])


# ---------------------------------------------------------------------------------------- ONNX Runtime
class OnnxRuntime:
    """ONNX Runtime running the trained fastmlp model's exported graph: prediction only, so it has no
    ``build``/``train_epoch``. Like fastmlp it reads the uint8 images (Cast and x / 255 inside the graph).
    One session per thread setting, its intra-op thread pool of that size."""

    name = "onnxruntime"
    variants = ONE_AND_ALL
    #: Its kernels (MLAS) are picked from the CPU's flags, with no setting to cap them (microsoft/onnxruntime
    #: issues 7010 and 11833): in an AVX2 run forced on an AVX-512 machine it still runs AVX-512 code.
    isa_from_host = True

    def threads(self, variant):
        return contextlib.nullcontext()

    def prepare(self, X, labels, dtype, loss):
        return X, labels

    def from_fastmlp(self, net) -> dict:
        """A session per variant for the trained ``net``, its graph taking uint8 images."""
        import onnxruntime

        from ..onnx_export import to_onnx

        model = to_onnx(net, input_dtype="uint8").SerializeToString()
        sessions = {}
        for variant in self.variants:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1 if variant == ONE_THREAD else CPUS
            options.inter_op_num_threads = 1
            sessions[variant] = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return sessions

    def predict(self, model, data, variant=ALL_THREADS):
        return model[variant].run(["label"], {"input": data[0]})[0]


# ------------------------------------------------------------------------------ prediction's yardstick
class FirstLayerMatmul(_BlasPeer):
    """Not a peer but a yardstick timed beside prediction's contenders: the first layer's product alone, the
    pre-scaled test images times a (n_in, n_hidden) matrix through NumPy's BLAS on all cores. NumPy's prediction
    is this product and then its sigmoids, the later layers and the argmax, so NumPy's time over this one is what
    a prediction that ran exactly as fast as the BLAS product, and did nothing else, would gain over NumPy."""

    name = "first-layer matmul"
    variants = (ALL_THREADS,)

    def build(self, layer_sizes, loss, dtype, seed):
        return np.ascontiguousarray(glorot(layer_sizes[:2], dtype, seed)[0][:, :-1].T)

    def predict(self, model, data, variant=None):
        return data[0] @ model


class OneThreadMatmul:
    """Not a peer but the yardstick of fastmlp's one-thread step (report.STEP_SHARE_TARGETS), timed as an entry of
    its own in the same rounds as that step, so that a slow moment of a shared host lowers both rather than only
    the step: products of two ``size`` x ``size`` matrices (the roofline's) through NumPy's BLAS held to one
    thread, as many as make about the FLOPs of the pass they are timed beside, and at least one."""

    name = "one-thread matmul"
    variants = (ONE_THREAD,)

    def __init__(self, size: int):
        self.size = size
        self._operands: dict[str, tuple] = {}  # dtype name -> (a, b, out), drawn once for every row

    def threads(self, variant):
        return _blas_threads(ONE_THREAD)

    def prepare(self, flops: float, dtype):
        """The operands, an output and the number of products for about ``flops`` floating-point operations."""
        key = np.dtype(dtype).name
        if key not in self._operands:
            rng = np.random.default_rng(0)
            a, b = (rng.standard_normal((self.size, self.size)).astype(dtype) for _ in range(2))
            self._operands[key] = a, b, np.empty_like(a)
        return *self._operands[key], max(1, round(flops / self.flops(1)))

    def flops(self, products: int) -> float:
        return 2.0 * self.size**3 * products

    def train_epoch(self, model, data, batch_size, learning_rate, variant=None):
        a, b, out, products = data
        for _ in range(products):
            np.matmul(a, b, out=out)
        return 0.0


#: Accepted spellings of each peer's name in ``--peers``.
ALIASES = {"numpy": "numpy", "pytorch": "pytorch", "torch": "pytorch", "scikit-learn": "scikit-learn",
           "sklearn": "scikit-learn", "onnxruntime": "onnxruntime", "ort": "onnxruntime"}


def _wanted(names) -> set | None:
    if names is None:
        return None
    unknown = set(names) - set(ALIASES)
    if unknown:
        raise ValueError(f"unknown peers {sorted(unknown)}; expected numpy, pytorch, scikit-learn, onnxruntime")
    return {ALIASES[name] for name in names}


#: The modules each optional peer imports (numpy is always there), and the pip package of each.
NEEDS = {"pytorch": {"torch": "torch"}, "scikit-learn": {"sklearn": "scikit-learn"},
         "onnxruntime": {"onnxruntime": "onnxruntime", "onnx": "onnx"}}


def not_installed(missing) -> ValueError:
    """The error for peers asked for whose packages are missing, naming what to install."""
    absent = [pip for peer in sorted(missing) for module, pip in NEEDS[peer].items()
              if importlib.util.find_spec(module) is None]
    return ValueError(f"--peers {', '.join(sorted(missing))}: not installed (pip install {' '.join(absent)})")


def wanted_peers(names) -> set:
    """The canonical names of the peers ``names`` asks for (none when None); a ValueError for an unknown one."""
    return _wanted(names) or set()


def available_peers(names=None) -> list:
    """The training (and prediction) peers installed here, in a fixed order, restricted to ``names`` when given."""
    peers = [Numpy()]
    if _installed("pytorch"):
        peers.append(Torch())
    if _installed("scikit-learn"):
        peers.append(Sklearn())
    wanted = _wanted(names)
    return peers if wanted is None else [peer for peer in peers if peer.name in wanted]


def _installed(peer: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in NEEDS[peer])


def available_prediction_peers(names=None) -> list:
    """Peers that only predict (ONNX Runtime, with the onnx package to export the graph), restricted to ``names``."""
    peers = []
    if _installed("onnxruntime"):
        peers.append(OnnxRuntime())
    wanted = _wanted(names)
    return peers if wanted is None else [peer for peer in peers if peer.name in wanted]
