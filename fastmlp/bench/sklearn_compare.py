"""``fastmlp bench --sklearn``: fastmlp.sklearn.MLPClassifier beside scikit-learn's MLPClassifier.

Both get the same data (scaled the same way), the same hyperparameters and the same seeds; the run
reports test accuracy (mean over the seeds) on scikit-learn's bundled datasets and on Fashion-MNIST,
and training speed on Fashion-MNIST at scikit-learn's default batch size (200).
"""

from __future__ import annotations

import time
import warnings
from statistics import mean, median

import numpy as np

#: The compared configurations: hidden activation and solver; every other setting is shared.
CONFIGS = [("logistic", "sgd"), ("logistic", "adam"), ("relu", "sgd"), ("relu", "adam")]
#: Per solver: scikit-learn's defaults, except SGD's rate (its default 0.001 barely moves in 10 epochs).
SOLVER_SETTINGS = {"sgd": dict(learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=True),
                   "adam": dict(learning_rate_init=0.001)}
#: Shared by both libraries and every run: scikit-learn's defaults (batch_size "auto" is 200 here).
SHARED = dict(hidden_layer_sizes=(100,), alpha=1e-4, batch_size="auto", tol=1e-4, n_iter_no_change=10)
BUNDLED = ("digits", "iris", "wine", "breast_cancer")
FASHION = "fashion-mnist"
#: Epochs on the bundled datasets (scikit-learn's default max_iter; most runs stop earlier on convergence).
BUNDLED_EPOCHS = 200


def load_bundled(name: str):
    """A scikit-learn dataset split 75/25 (stratified, fixed seed) and standardised on the training part."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def load_fashion():
    """Fashion-MNIST's 60,000 training and 10,000 test images as float32 in [0, 1], for both libraries."""
    from ..datasets import load_fashion_mnist

    (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
    scale = np.float32(1 / 255)
    return X_train * scale, y_train, X_test * scale, y_test


def _fit(estimator, X, y) -> tuple[float, int]:
    """Fit; returns the seconds taken and the epochs run."""
    with warnings.catch_warnings():  # the bounded runs stop at max_iter on purpose
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        began = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - began, int(estimator.n_iter_)


def compare_one(data, activation: str, solver: str, seeds, epochs: int, log=None) -> dict:
    """Both classifiers, one configuration, every seed: test accuracy and training samples per second."""
    from sklearn.neural_network import MLPClassifier as Theirs

    from ..sklearn import MLPClassifier as Ours

    X_train, y_train, X_test, y_test = data
    params = dict(SHARED, activation=activation, solver=solver, max_iter=epochs, **SOLVER_SETTINGS[solver])
    # Load (or compile) fastmlp's kernels for this configuration outside the timed fits.
    _fit(Ours(**params | dict(max_iter=1), random_state=0), X_train[:400], y_train[:400])
    row = {"activation": activation, "solver": solver, "epochs": epochs, "seeds": list(seeds),
           "n_train": len(y_train), "n_test": len(y_test)}
    for name, cls in (("fastmlp", Ours), ("scikit-learn", Theirs)):
        accuracies, rates, iterations = [], [], []
        for seed in seeds:
            estimator = cls(**params, random_state=seed)
            seconds, n_iter = _fit(estimator, X_train, y_train)
            accuracies.append(float(estimator.score(X_test, y_test)))
            rates.append(n_iter * len(y_train) / seconds)
            iterations.append(n_iter)
            if log:
                log(f"  {name:12s} {activation:8s} {solver:4s} seed {seed}: accuracy {accuracies[-1]:.4f}, "
                    f"{n_iter} epochs, {rates[-1]:,.0f} samples/s")
        row[name] = {"accuracy": accuracies, "mean_accuracy": mean(accuracies), "samples_per_s": rates,
                     "median_samples_per_s": median(rates), "epochs_run": iterations}
    row["gap_points"] = 100 * (row["fastmlp"]["mean_accuracy"] - row["scikit-learn"]["mean_accuracy"])
    row["speed_ratio"] = row["fastmlp"]["median_samples_per_s"] / row["scikit-learn"]["median_samples_per_s"]
    return row


def run_comparison(*, datasets=(*BUNDLED, FASHION), configs=CONFIGS, seeds=(0, 1, 2), fashion_epochs: int = 10,
                   log=None) -> dict:
    """Every dataset x configuration; Fashion-MNIST is skipped (and said so) when it is not installed."""
    result = {"kind": "sklearn-comparison", "settings": {"shared": {k: list(v) if isinstance(v, tuple) else v
                                                                      for k, v in SHARED.items()},
                                                           "solvers": SOLVER_SETTINGS, "seeds": list(seeds),
                                                           "bundled_epochs": BUNDLED_EPOCHS,
                                                           "fashion_epochs": fashion_epochs},
              "rows": [], "skipped": {}}
    for name in datasets:
        try:
            data = load_fashion() if name == FASHION else load_bundled(name)
        except (OSError, ValueError) as error:
            result["skipped"][name] = str(error)
            continue
        epochs = fashion_epochs if name == FASHION else BUNDLED_EPOCHS
        if log:
            log(f"{name}: {len(data[1]):,} training and {len(data[3]):,} test samples, {data[0].dtype}")
        for activation, solver in configs:
            result["rows"].append({"dataset": name, "dtype": data[0].dtype.name,
                                   **compare_one(data, activation, solver, seeds, epochs, log)})
    return result


# ------------------------------------------------------------------------------------------ the report
def accuracy_rows(result: dict) -> list[list[str]]:
    rows = [["dataset", "activation", "solver", "fastmlp accuracy", "scikit-learn accuracy", "gap (points)"]]
    for row in result["rows"]:
        rows.append([row["dataset"], row["activation"], row["solver"], f"{row['fastmlp']['mean_accuracy']:.4f}",
                     f"{row['scikit-learn']['mean_accuracy']:.4f}", f"{row['gap_points']:+.2f}"])
    return rows


def speed_rows(result: dict, dataset: str = FASHION) -> list[list[str]]:
    from .report import _rate

    rows = [["activation", "solver", "epochs", "fastmlp samples/s", "scikit-learn samples/s", "fastmlp / scikit-learn"]]
    for row in result["rows"]:
        if row["dataset"] == dataset:
            rows.append([row["activation"], row["solver"], str(row["epochs"]),
                         _rate(row["fastmlp"]["median_samples_per_s"]),
                         _rate(row["scikit-learn"]["median_samples_per_s"]), f"{row['speed_ratio']:.2f}x"])
    return rows


def text_report(result: dict) -> str:
    from .report import format_table, machine_line

    seeds = len(result["settings"]["seeds"])
    lines = [machine_line(result["machine"]) if "machine" in result else "", "",
             f"Test accuracy, mean over {seeds} seeds (same data, hyperparameters and seeds for both):",
             format_table(accuracy_rows(result))]
    if any(row["dataset"] == FASHION for row in result["rows"]):
        lines += ["", "Training speed on Fashion-MNIST, batch 200 (median over the seeds):",
                  format_table(speed_rows(result))]
    lines += [f"skipped {name}: {why}" for name, why in result.get("skipped", {}).items()]
    return "\n".join(lines)


def run(args) -> int:
    """``fastmlp bench --sklearn``: run, print, optionally write JSON; returns the exit status."""
    import json
    import os
    import sys

    from . import report

    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("fastmlp bench: --sklearn needs scikit-learn (pip install scikit-learn)", file=sys.stderr)
        return 2
    options = dict(datasets=("iris",), seeds=(0,)) if args.quick else {}
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    result = run_comparison(fashion_epochs=args.sklearn_epochs, log=lambda text: print(text, file=sys.stderr),
                            **options)
    # Other processes on the machine slow both libraries, and fastmlp's thread team the most.
    result["load_average"] = [load_before, os.getloadavg()[0]]
    result["seconds"] = time.perf_counter() - began
    result["machine"] = report.machine()
    print(text_report(result))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
        print(f"\nwrote {args.json}")
    return 0
