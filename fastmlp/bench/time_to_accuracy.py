"""``fastmlp bench --time-to-accuracy``: wall time until the test accuracy first reaches a target, per contender.

Every contender trains the same network (784-256-10, logistic hidden layer, softmax cross-entropy) by SGD with
momentum 0.9 (torch.optim.SGD's form, not Nesterov) at batch 32 and one learning rate, from the same initial
weights (drawn once, loaded into each), and is scored on the test split after every epoch. The clock covers
shuffling, training and evaluation; compilation and a short warm-up happen before it starts. Epochs of the
contenders alternate, so a busy neighbour slows all of them alike; each one's time is the sum of its own epochs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import statistics
import sys
import time

import numpy as np

from .. import MLP
from .peers import glorot

LAYER_SIZES = (784, 256, 10)
TARGET = 0.88
EPOCHS = 30
LEARNING_RATE = 0.05
MOMENTUM = 0.9
BATCH_SIZE = 32
#: Idle seconds between two contenders' epochs (untimed): BLAS and OpenMP worker threads spin for a while
#: after a peer's epoch and would slow the next contender's start (see runner.SETTLE_SECONDS).
SETTLE_SECONDS = 0.1
#: Minibatches of the trial epochs that pick a peer's thread count (1 or all cores, the faster one counts).
TRIAL_BATCHES = 100
#: --quick: a run of seconds on a small learnable synthetic set (the tests use it).
QUICK = dict(n_train=2000, n_test=500, epochs=3)


def _scaled(X: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1] (peers; fastmlp reads the uint8 images itself)."""
    return X.astype(np.float32) / np.float32(255)


class FastmlpTrainer:
    """fastmlp.MLP, one partial_fit per epoch (optimizer state kept), uint8 images, all threads."""

    name = "fastmlp"
    # Trials on 1 thread and on all, for the record; the race always runs on all of Numba's threads.
    thread_options = tuple(sorted({1, os.cpu_count() or 1}))
    race_threads = None

    def __init__(self, thetas, train, test, settings):
        self.model = MLP.from_thetas(thetas, loss="softmax_cross_entropy", dtype="float32",
                                     random_state=settings["seed"])
        (self.X, self.y), (self.X_test, self.y_test) = train, test
        self.fit = dict(batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                        momentum=settings["momentum"], nesterov=False)
        self.n_threads = None

    def threads(self) -> int:
        import numba

        return self.n_threads or numba.config.NUMBA_NUM_THREADS

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
    thread_options = tuple(sorted({1, os.cpu_count() or 1}))

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
    thread_options = tuple(sorted({1, os.cpu_count() or 1}))

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
        from .peers import ALIASES

        wanted = {ALIASES.get(name, name) for name in names} | {"fastmlp"}
        found = [trainer for trainer in found if trainer.name in wanted]
    return found


def settings_for(learning_rate=LEARNING_RATE, epochs=EPOCHS, target=TARGET, batch_size=BATCH_SIZE,
                 momentum=MOMENTUM, layer_sizes=LAYER_SIZES, seed=0) -> dict:
    return dict(learning_rate=learning_rate, epochs=epochs, target=target, batch_size=batch_size,
                momentum=momentum, layer_sizes=list(layer_sizes), seed=seed)


def same_maths(trainers, train, test, settings, n_samples: int = 1024) -> dict:
    """Every contender from the shared start, one unshuffled epoch on ``n_samples``: how far its weights end
    from fastmlp's (largest absolute difference), its start's difference (0 when loaded alike) and accuracies."""
    thetas = glorot(settings["layer_sizes"], "float32", settings["seed"])
    subset = (train[0][:n_samples], train[1][:n_samples])
    out: dict = {"samples": int(subset[1].size), "contenders": {}}
    reference = None
    for trainer_type in trainers:
        trainer = trainer_type(thetas, subset, test, settings)
        start = max(float(np.abs(a - b).max()) for a, b in zip(trainer.thetas(), thetas))
        trainer.epoch(shuffle=False)
        ended = trainer.thetas()
        reference = ended if reference is None else reference
        out["contenders"][trainer.name] = {
            "start_max_abs_diff": start,
            "max_abs_diff_to_fastmlp": max(float(np.abs(a - b).max()) for a, b in zip(ended, reference)),
            "max_abs_weight_change": max(float(np.abs(a - b).max()) for a, b in zip(ended, thetas)),
            "accuracy": trainer.accuracy(),
        }
    return out


def _warm_up(trainer_type, thetas, train, test, settings) -> float:
    """Seconds of a throwaway trainer's epoch on a few samples: compiles (or loads) fastmlp's kernels."""
    few = 4 * settings["batch_size"]
    began = time.perf_counter()
    trainer = trainer_type(thetas, (train[0][:few], train[1][:few]), (test[0][:few], test[1][:few]), settings)
    trainer.epoch()
    trainer.accuracy()
    return time.perf_counter() - began


def pick_threads(trainer_type, thetas, train, test, settings) -> tuple[int | None, dict]:
    """The thread count (of ``trainer_type.thread_options``) whose trial epoch over TRIAL_BATCHES minibatches ran
    fastest (or the contender's fixed ``race_threads``), and every option's samples/s; each trial runs after a
    warm-up epoch, best of two."""
    n = TRIAL_BATCHES * settings["batch_size"]
    rates = {}
    for n_threads in trainer_type.thread_options:
        trainer = trainer_type(thetas, (train[0][:n], train[1][:n]), test, settings)
        with trainer.limit(n_threads):
            trainer.epoch()
            seconds = []
            for _ in range(2):
                time.sleep(SETTLE_SECONDS)
                began = time.perf_counter()
                trainer.epoch()
                seconds.append(time.perf_counter() - began)
        rates[n_threads] = n / min(seconds)
    best = max(rates, key=rates.get)
    return getattr(trainer_type, "race_threads", best), {str(k): v for k, v in rates.items()}


def race(trainers, train, test, settings, verbose: bool = True) -> dict:
    """Train every contender ``epochs`` epochs from one start, epochs alternating; per contender the time and
    test accuracy after each epoch, the time (and epoch) at which the target was first reached."""
    thetas = glorot(settings["layer_sizes"], "float32", settings["seed"])
    warm = {t.name: _warm_up(t, thetas, train, test, settings) for t in trainers}
    picked = {t.name: pick_threads(t, thetas, train, test, settings) for t in trainers}
    running = [t(thetas, train, test, settings) for t in trainers]
    runs = {}
    for r in running:
        with r.limit(picked[r.name][0]):
            runs[r.name] = {"threads": r.threads(), "thread_trials_samples_per_s": picked[r.name][1],
                            "warmup_seconds": warm[r.name], "epoch_seconds": [], "seconds": [], "accuracy": []}
    for epoch in range(settings["epochs"]):
        for trainer in running:
            time.sleep(SETTLE_SECONDS)
            with trainer.limit(picked[trainer.name][0]):
                began = time.perf_counter()
                trainer.epoch()
                accuracy = trainer.accuracy()
                seconds = time.perf_counter() - began
            run = runs[trainer.name]
            run["epoch_seconds"].append(seconds)
            run["seconds"].append(sum(run["epoch_seconds"]))
            run["accuracy"].append(accuracy)
        if verbose:
            print(f"epoch {epoch + 1:3d}: " + ", ".join(
                f"{name} {run['accuracy'][-1]:.4f} ({run['seconds'][-1]:.1f} s)" for name, run in runs.items()),
                file=sys.stderr, flush=True)
    for run in runs.values():
        reached = [i for i, accuracy in enumerate(run["accuracy"]) if accuracy >= settings["target"]]
        run["epochs_to_target"] = reached[0] + 1 if reached else None
        run["seconds_to_target"] = run["seconds"][reached[0]] if reached else None
        run["final_accuracy"] = run["accuracy"][-1]
        run["best_accuracy"] = max(run["accuracy"])
        run["median_epoch_seconds"] = statistics.median(run["epoch_seconds"])
    return runs


def summarise(runs: dict) -> dict:
    """The best peer (fastest to the target) and fastmlp's speed-up over it (None where not defined); and the
    speed-up of fastmlp's median epoch over the fastest peer's, which does not depend on shuffling luck."""
    reached = {name: run["seconds_to_target"] for name, run in runs.items()
               if name != "fastmlp" and run["seconds_to_target"] is not None}
    out = {"best_peer": None, "best_peer_seconds": None, "speedup": None, "epoch_speedup": None}
    epochs = [run["median_epoch_seconds"] for name, run in runs.items()
              if name != "fastmlp" and run.get("median_epoch_seconds")]
    if epochs and runs.get("fastmlp", {}).get("median_epoch_seconds"):
        out["epoch_speedup"] = min(epochs) / runs["fastmlp"]["median_epoch_seconds"]
    if reached:
        name = min(reached, key=reached.get)
        out.update(best_peer=name, best_peer_seconds=reached[name])
        mine = runs.get("fastmlp", {}).get("seconds_to_target")
        if mine:
            out["speedup"] = reached[name] / mine
    return out


def learnable_synthetic(n_train: int, n_test: int, seed: int = 0, n_features: int = 784, n_classes: int = 10):
    """uint8 images: a random prototype per class plus noise; a network learns them within an epoch or two."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (n_classes, n_features))

    def make(n):
        labels = rng.integers(0, n_classes, n)
        X = np.clip(prototypes[labels] + rng.normal(0, 60, (n, n_features)), 0, 255).astype(np.uint8)
        return X, labels.astype(np.int64)

    return make(n_train), make(n_test)


def load(quick: bool, synthetic: bool):
    """(train, test, source name): Fashion-MNIST, or the learnable synthetic set (quick, asked, or not installed)."""
    if not (quick or synthetic):
        try:
            from ..datasets import load_fashion_mnist

            train, test = load_fashion_mnist()
            return train, test, "Fashion-MNIST"
        except FileNotFoundError as error:
            print(f"fastmlp bench: {error}; using synthetic images instead", file=sys.stderr)
    n_train, n_test = (QUICK["n_train"], QUICK["n_test"]) if quick else (60000, 10000)
    train, test = learnable_synthetic(n_train, n_test)
    return train, test, "synthetic (class prototypes + noise)"


def run(*, peers=None, learning_rate=None, epochs=None, target=TARGET, quick=False, synthetic=False,
        verbose=True) -> dict:
    """The whole measurement; returns the JSON-ready dict (without the machine, added by the caller)."""
    train, test, source = load(quick, synthetic)
    settings = settings_for(learning_rate=LEARNING_RATE if learning_rate is None else learning_rate,
                            epochs=epochs or (QUICK["epochs"] if quick else EPOCHS), target=target)
    trainers = available(peers)
    check = same_maths(trainers, train, test, settings)
    runs = race(trainers, train, test, settings, verbose)
    return {"kind": "time to accuracy", "data": source, "n_train": int(train[1].size), "n_test": int(test[1].size),
            "settings": settings, "same_maths": check, "runs": runs, **summarise(runs)}


def _seconds(value) -> str:
    return "not reached" if value is None else f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def text_report(result: dict) -> str:
    """The table people read, with the settings and the same-start check above it."""
    from .report import format_table, machine_line

    s = result["settings"]
    check = result["same_maths"]
    lines = [f"fastmlp bench --time-to-accuracy on {machine_line(result['machine'])}" if "machine" in result else "",
             "",
             f"{'-'.join(map(str, s['layer_sizes']))}, logistic hidden layer, softmax cross-entropy, SGD momentum "
             f"{s['momentum']:g} (not Nesterov), batch {s['batch_size']}, learning rate {s['learning_rate']:g}, "
             f"{s['epochs']} epochs on {result['data']} ({result['n_train']:,} training, {result['n_test']:,} test "
             f"images). Every contender starts from the same weights (seed {s['seed']}); the clock covers shuffling, "
             "training and the test evaluation after every epoch, not compilation. Epochs alternate between the "
             "contenders; fastmlp trains on all cores, each peer on 1 thread or all, whichever was faster in a trial.",
             f"same maths: one unshuffled epoch over {check['samples']:,} samples from the shared start (largest "
             "weight difference at the start / to fastmlp's weights after it / largest weight change): "
             + ", ".join(f"{name} {c['start_max_abs_diff']:.1g} / {c['max_abs_diff_to_fastmlp']:.1g} / "
                         f"{c['max_abs_weight_change']:.1g}" for name, c in check["contenders"].items()),
             ""]
    target = s["target"]
    rows = [["contender", "threads", f"time to {target:g}", f"epochs to {target:g}",
             f"accuracy after {s['epochs']}", f"time for {s['epochs']}", "median epoch", "best accuracy"]]
    for name, run in result["runs"].items():
        rows.append([name, str(run["threads"]), _seconds(run["seconds_to_target"]),
                     str(run["epochs_to_target"] or "-"), f"{run['final_accuracy']:.4f}", _seconds(run["seconds"][-1]),
                     _seconds(run["median_epoch_seconds"]), f"{run['best_accuracy']:.4f}"])
    lines.append(format_table(rows))
    trials = [f"{name} " + " / ".join(f"{rate / 1e3:.0f}k on {n}" for n, rate in trial.items())
              for name, run in result["runs"].items() if (trial := run.get("thread_trials_samples_per_s"))]
    if trials:
        lines.append("trial epochs before the race, training samples/s by thread count (fastmlp races on all "
                     "threads; each peer on its faster count): " + "; ".join(trials))
    if result.get("speedup"):
        lines.append(f"\nfastmlp reached {target:g} {result['speedup']:.2f}x as fast as the best peer "
                     f"({result['best_peer']}, {_seconds(result['best_peer_seconds'])}).")
    elif result.get("best_peer") is None:
        lines.append(f"\nno peer reached {target:g}: no speed-up to state.")
    else:
        lines.append(f"\nfastmlp did not reach {target:g}.")
    if result.get("epoch_speedup"):
        lines.append(f"fastmlp's median epoch (training and evaluation) ran {result['epoch_speedup']:.2f}x as fast as "
                     "the fastest peer's; the epoch at which each first reaches the target depends on its shuffling.")
    return "\n".join(lines)
