"""The contenders of ``fastmlp bench --time-to-accuracy``: fastmlp, PyTorch and scikit-learn, each built from the
lecture's matrices (n_out, n_in + 1), bias last, and trained by SGD with momentum (torch.optim.SGD's form).

Each has ``epoch(shuffle)``, ``accuracy()`` on its test data, ``thetas()`` in the lecture's layout, ``threads()``
and ``limit(n_threads)``, a context in which it trains on that many threads.
"""

from __future__ import annotations

import contextlib
import importlib.util

import numpy as np

from .. import MLP
from .._threads import cpus


def _scaled(X: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1] (peers; fastmlp reads the uint8 images itself)."""
    return X.astype(np.float32) / np.float32(255)


class FastmlpTrainer:
    """fastmlp.MLP, one partial_fit per epoch (optimizer state kept), uint8 images, all threads."""

    name = "fastmlp"
    # Trials on 1 thread and on all it may run on, for the record; the race always runs on its default team.
    thread_options = tuple(sorted({1, len(cpus())}))
    race_threads = None

    def __init__(self, thetas, train, test, settings):
        self.model = MLP.from_thetas(thetas, loss="softmax_cross_entropy", dtype="float32",
                                     random_state=settings["seed"])
        (self.X, self.y), (self.X_test, self.y_test) = train, test
        self.fit = dict(batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                        momentum=settings["momentum"], nesterov=False)
        self.n_threads = None

    def threads(self) -> int:
        """The threads it trains on: as limited, else the team training uses by default (this process's share of
        the cores, at most Numba's thread count)."""
        from .peers import Fastmlp

        return self.n_threads or Fastmlp.team_threads()

    @contextlib.contextmanager
    def limit(self, n_threads):
        """Train on ``n_threads`` threads (None: all) in the block."""
        self.n_threads = n_threads
        yield

    def epoch(self, shuffle: bool = True) -> None:
        self.model.partial_fit(self.X, self.y, shuffle=shuffle, n_threads=self.n_threads, **self.fit)

    def accuracy(self) -> float:
        return self.model.score(self.X_test, self.y_test)

    def thetas(self) -> list[np.ndarray]:
        return self.model.thetas()


class TorchTrainer:
    """PyTorch eager: nn.Linear + nn.Sigmoid, torch.optim.SGD(momentum, nesterov=False), its default threads."""

    name = "pytorch"
    thread_options = tuple(sorted({1, len(cpus())}))

    def __init__(self, thetas, train, test, settings):
        import torch

        self.torch = torch
        layers: list = []
        for theta in thetas:
            linear = torch.nn.Linear(theta.shape[1] - 1, theta.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(theta[:, :-1]))
                linear.bias.copy_(torch.from_numpy(theta[:, -1]))
            layers += [linear, torch.nn.Sigmoid()]
        self.model = torch.nn.Sequential(*layers[:-1])  # no sigmoid on the output: cross_entropy takes logits
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=settings["learning_rate"],
                                         momentum=settings["momentum"], dampening=0.0, nesterov=False)
        self.X, self.y = torch.from_numpy(_scaled(train[0])), torch.from_numpy(train[1].astype(np.int64))
        self.X_test, self.y_test = torch.from_numpy(_scaled(test[0])), torch.from_numpy(test[1].astype(np.int64))
        self.batch_size = settings["batch_size"]
        self.generator = torch.Generator().manual_seed(settings["seed"])
        self.n_threads = torch.get_num_threads()

    def threads(self) -> int:
        return self.n_threads

    @contextlib.contextmanager
    def limit(self, n_threads):
        """PyTorch's intra-op threads set to ``n_threads`` (None: leave them) for the block, then restored."""
        before = self.torch.get_num_threads()
        self.n_threads = n_threads or before
        self.torch.set_num_threads(self.n_threads)
        try:
            yield
        finally:
            self.torch.set_num_threads(before)

    def epoch(self, shuffle: bool = True) -> None:
        torch, n = self.torch, self.X.shape[0]
        order = torch.randperm(n, generator=self.generator) if shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                xb, yb = self.X[start : start + self.batch_size], self.y[start : start + self.batch_size]
            else:
                batch = order[start : start + self.batch_size]
                xb, yb = self.X[batch], self.y[batch]
            self.optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(self.model(xb), yb).backward()
            self.optimizer.step()

    def accuracy(self) -> float:
        with self.torch.inference_mode():
            return int((self.model(self.X_test).argmax(dim=1) == self.y_test).sum()) / self.y_test.shape[0]

    def thetas(self) -> list[np.ndarray]:
        linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        return [np.hstack([m.weight.detach().numpy(), m.bias.detach().numpy()[:, None]]) for m in linears]


class SklearnTrainer:
    """scikit-learn's MLPClassifier (solver "sgd", momentum, no Nesterov, alpha 0), one partial_fit per epoch."""

    name = "scikit-learn"
    thread_options = tuple(sorted({1, len(cpus())}))

    def __init__(self, thetas, train, test, settings):
        from sklearn.neural_network import MLPClassifier

        (X, self.y), (X_test, self.y_test) = train, test
        self.X, self.X_test = _scaled(X), _scaled(X_test)
        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(theta.shape[0] for theta in thetas[:-1]), activation="logistic",
            solver="sgd", alpha=0.0, batch_size=settings["batch_size"], learning_rate="constant",
            learning_rate_init=settings["learning_rate"], momentum=settings["momentum"], nesterovs_momentum=False)
        # A first partial_fit on one minibatch makes the classes, layers and attributes; then the weights get the
        # shared start and the optimizer (its velocities) is dropped, so that the first epoch starts it afresh.
        # partial_fit re-reads random_state every call: a RandomState object (not a seed) gives each epoch
        # its own shuffle.
        b = settings["batch_size"]
        self.model.partial_fit(self.X[:b], self.y[:b], classes=np.arange(thetas[-1].shape[0]))
        for coef, intercept, theta in zip(self.model.coefs_, self.model.intercepts_, thetas):
            coef[...] = theta[:, :-1].T
            intercept[...] = theta[:, -1]
        del self.model._optimizer
        self.model.loss_curve_, self.model.t_ = [], 0
        self.model.set_params(random_state=np.random.RandomState(settings["seed"]))
        self.n_threads = None

    def threads(self) -> int:
        from .machine import blas

        return self.n_threads or max((library["num_threads"] for library in blas()), default=1)

    def limit(self, n_threads):
        """BLAS threads limited to ``n_threads`` for the block (threadpoolctl; None or no threadpoolctl: as is)."""
        if n_threads is None or importlib.util.find_spec("threadpoolctl") is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        self.n_threads = n_threads
        return threadpool_limits(limits=n_threads, user_api="blas")

    def epoch(self, shuffle: bool = True) -> None:
        self.model.set_params(shuffle=shuffle)
        self.model.partial_fit(self.X, self.y)

    def accuracy(self) -> float:
        return float(self.model.score(self.X_test, self.y_test))

    def thetas(self) -> list[np.ndarray]:
        return [np.hstack([coef.T, intercept[:, None]]) for coef, intercept in
                zip(self.model.coefs_, self.model.intercepts_)]


def available(names=None) -> list[type]:
    """fastmlp and the installed peers (restricted to ``names`` when given; numpy is no contender here)."""
    found = [FastmlpTrainer]
    if importlib.util.find_spec("torch") is not None:
        found.append(TorchTrainer)
    if importlib.util.find_spec("sklearn") is not None:
        found.append(SklearnTrainer)
    if names is not None:
        from .peers import not_installed, wanted_peers

        wanted = wanted_peers(names)  # a ValueError for a name it does not know
        racing = {"pytorch", "scikit-learn"}
        if wanted - racing:
            raise ValueError(f"--time-to-accuracy races fastmlp against pytorch and scikit-learn, not "
                             f"{', '.join(sorted(wanted - racing))}")
        missing = wanted - {trainer.name for trainer in found}
        if missing:
            raise not_installed(missing)
        found = [trainer for trainer in found if trainer.name in wanted | {"fastmlp"}]
    return found
