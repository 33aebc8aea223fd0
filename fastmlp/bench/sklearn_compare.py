"""``fastmlp bench --sklearn``: fastmlp.sklearn.MLPClassifier beside scikit-learn's MLPClassifier.

Both get the same data, folds, hyperparameters and seeds: accuracy by stratified k-fold cross-validation
on scikit-learn's bundled datasets and on Fashion-MNIST's test split, and training speed on Fashion-MNIST
at scikit-learn's default batch size (200) beside a same-run matrix-multiply roofline.
"""

from __future__ import annotations

import os
import time
import warnings
from statistics import mean, median, stdev

import numpy as np

from . import roofline

#: The compared configurations: hidden activation and solver; every other setting is shared.
CONFIGS = [("logistic", "sgd"), ("logistic", "adam"), ("relu", "sgd"), ("relu", "adam")]
#: Per solver: scikit-learn's defaults, except SGD's rate (its default 0.001 barely moves in 10 epochs).
SOLVER_SETTINGS = {"sgd": dict(learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=True),
                   "adam": dict(learning_rate_init=0.001)}
#: Shared by both libraries and every run: scikit-learn's defaults (batch_size "auto" is 200 here).
SHARED = dict(hidden_layer_sizes=(100,), alpha=1e-4, batch_size="auto", tol=1e-4, n_iter_no_change=10)
BUNDLED = ("digits", "iris", "wine", "breast_cancer")
FASHION = "fashion-mnist"
#: Epochs on Fashion-MNIST unless the command says otherwise (``fastmlp bench --sklearn-epochs``).
FASHION_EPOCHS = 10
#: Epochs on the bundled datasets (scikit-learn's default max_iter; most runs stop earlier on convergence).
BUNDLED_EPOCHS = 200
#: Cross-validation of the bundled datasets: with a single 25% split one iris test sample is 2.6 points.
CV_FOLDS = 5
CV_SEED = 0
#: The speed rows' batch size (scikit-learn's "auto" on more than 200 samples) and the roofline's matrices.
SPEED_BATCH = 200
MATMUL_SIZE = 2048


def bundled_splits(name: str, n_folds: int = CV_FOLDS) -> list[tuple]:
    """Stratified ``n_folds`` folds of a scikit-learn dataset, each standardised on its own training part.

    Returns [(X_train, y_train, X_test, y_test)] per fold; every sample is in exactly one test part.
    """
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    splits = []
    for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=CV_SEED).split(X, y):
        scaler = StandardScaler().fit(X[train])
        splits.append((scaler.transform(X[train]), y[train], scaler.transform(X[test]), y[test]))
    return splits


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


def _standard_error(values: list[float]) -> float | None:
    """Standard deviation / sqrt(n) of ``values``; None for fewer than two."""
    return stdev(values) / len(values) ** 0.5 if len(values) > 1 else None


def compare_one(splits, activation: str, solver: str, seeds, epochs: int, log=None) -> dict:
    """Both classifiers, one configuration, every seed x split: accuracies, paired gaps, samples per second.

    The libraries alternate fit by fit, so a busy neighbour slows both alike.
    """
    from sklearn.neural_network import MLPClassifier as Theirs

    from ..sklearn import MLPClassifier as Ours

    params = dict(SHARED, activation=activation, solver=solver, max_iter=epochs, **SOLVER_SETTINGS[solver])
    # Load (or compile) fastmlp's kernels for this configuration outside the timed fits.
    _fit(Ours(**params | dict(max_iter=1), random_state=0), splits[0][0][:400], splits[0][1][:400])
    libraries = {"fastmlp": Ours, "scikit-learn": Theirs}
    runs = {name: {"accuracy": [], "samples_per_s": [], "epochs_run": []} for name in libraries}
    for seed in seeds:
        for name in runs:
            for key in runs[name]:
                runs[name][key].append([])
        for X_train, y_train, X_test, y_test in splits:
            for name, cls in libraries.items():
                estimator = cls(**params, random_state=seed)
                seconds, n_iter = _fit(estimator, X_train, y_train)
                runs[name]["accuracy"][-1].append(float(estimator.score(X_test, y_test)))
                runs[name]["samples_per_s"][-1].append(n_iter * len(y_train) / seconds)
                runs[name]["epochs_run"][-1].append(n_iter)
        if log:
            log(f"  {activation:8s} {solver:4s} seed {seed}: " + ", ".join(
                f"{name} accuracy {mean(run['accuracy'][-1]):.4f} ({median(run['samples_per_s'][-1]):,.0f} "
                f"samples/s)" for name, run in runs.items()))
    row = {"activation": activation, "solver": solver, "epochs": epochs, "seeds": list(seeds),
           "n_splits": len(splits), "n_train": [len(s[1]) for s in splits], "n_test": [len(s[3]) for s in splits]}
    for name, run in runs.items():
        flat = [a for per_seed in run["accuracy"] for a in per_seed]
        rates = [r for per_seed in run["samples_per_s"] for r in per_seed]
        row[name] = {**run, "mean_accuracy": mean(flat), "median_samples_per_s": median(rates)}
    # Paired: the same seed and test fold for both libraries, so the fold's difficulty cancels out.
    gaps = [100 * (ours - theirs) for ours_seed, theirs_seed in zip(runs["fastmlp"]["accuracy"],
                                                                      runs["scikit-learn"]["accuracy"])
            for ours, theirs in zip(ours_seed, theirs_seed)]
    row["gaps_points"] = gaps
    row["gap_points"] = mean(gaps)
    row["gap_standard_error_points"] = _standard_error(gaps)
    row["speed_ratio"] = row["fastmlp"]["median_samples_per_s"] / row["scikit-learn"]["median_samples_per_s"]
    return row


def _layer_sizes(X, y) -> list[int]:
    """The compared network: inputs, the shared hidden layers, one output per class (one for two classes)."""
    n_classes = len(np.unique(y))
    return [X.shape[1], *SHARED["hidden_layer_sizes"], n_classes if n_classes > 2 else 1]


def run_comparison(*, datasets=(*BUNDLED, FASHION), configs=CONFIGS, seeds=(0, 1, 2),
                   fashion_epochs: int = FASHION_EPOCHS, log=None) -> dict:
    """Every dataset x configuration; Fashion-MNIST is skipped (and said so) when it is not installed."""
    result = {"kind": "sklearn-comparison", "settings": {"shared": {k: list(v) if isinstance(v, tuple) else v
                                                                      for k, v in SHARED.items()},
                                                           "solvers": SOLVER_SETTINGS, "seeds": list(seeds),
                                                           "bundled_epochs": BUNDLED_EPOCHS,
                                                           "fashion_epochs": fashion_epochs,
                                                           "cv_folds": CV_FOLDS, "cv_seed": CV_SEED},
              "rows": [], "skipped": {}}
    for name in datasets:
        try:
            splits = [load_fashion()] if name == FASHION else bundled_splits(name)
        except (OSError, ValueError) as error:
            result["skipped"][name] = str(error)
            continue
        epochs = fashion_epochs if name == FASHION else BUNDLED_EPOCHS
        X_train, y_train, X_test, _ = splits[0]
        if log:
            log(f"{name}: {len(splits)} split(s), {len(y_train):,} training and {len(X_test):,} test samples "
                f"in the first, {X_train.dtype}")
        if name == FASHION:
            layer_sizes = _layer_sizes(X_train, y_train)
            measurements = [roofline.matmul_flops(X_train.dtype.name, MATMUL_SIZE)]
        for activation, solver in configs:
            row = {"dataset": name, "dtype": X_train.dtype.name,
                   **compare_one(splits, activation, solver, seeds, epochs, log)}
            if name == FASHION:
                # Between rows, as fastmlp bench does: a busy neighbour only lowers a measurement.
                measurements.append(roofline.matmul_flops(X_train.dtype.name, MATMUL_SIZE, repeat=3))
                # Kept with the row: a low one shows the row ran while a neighbour held a core.
                row["matmul_flops_after"] = measurements[-1]
                row["load_average"] = os.getloadavg()[0]
            result["rows"].append(row)
        if name == FASHION:
            flops = max(measurements)
            per_sample = roofline.epoch_flops(layer_sizes, len(y_train), SPEED_BATCH) / len(y_train)
            result["roofline"] = {"dtype": X_train.dtype.name, "matmul_size": MATMUL_SIZE, "flops": flops,
                                  "measurements": measurements, "estimate": "highest of the measurements",
                                  "layer_sizes": layer_sizes, "batch_size": SPEED_BATCH,
                                  "flops_per_sample": per_sample, "samples_per_s": flops / per_sample}
    return result


# ------------------------------------------------------------------------------------------ the report
def accuracy_rows(result: dict) -> list[list[str]]:
    rows = [["dataset", "activation", "solver", "folds x seeds", "fastmlp accuracy", "scikit-learn accuracy",
             "gap (points)", "standard error"]]
    for row in result["rows"]:
        error = row["gap_standard_error_points"]
        rows.append([row["dataset"], row["activation"], row["solver"], f"{row['n_splits']} x {len(row['seeds'])}",
                     f"{row['fastmlp']['mean_accuracy']:.4f}", f"{row['scikit-learn']['mean_accuracy']:.4f}",
                     f"{row['gap_points']:+.2f}", "-" if error is None else f"{error:.2f}"])
    return rows


def speed_rows(result: dict, dataset: str = FASHION) -> list[list[str]]:
    """Samples per second of both, their ratio, each one's share of the roofline and the ratio it allows."""
    from .report import _rate

    roof = result["roofline"]["samples_per_s"]
    rows = [["activation", "solver", "epochs", "fastmlp samples/s", "scikit-learn samples/s",
             "fastmlp / scikit-learn", "fastmlp of roofline", "scikit-learn of roofline",
             "roofline / scikit-learn", "matmul after the row"]]
    for row in result["rows"]:
        if row["dataset"] == dataset:
            ours, theirs = row["fastmlp"]["median_samples_per_s"], row["scikit-learn"]["median_samples_per_s"]
            rows.append([row["activation"], row["solver"], str(row["epochs"]), _rate(ours), _rate(theirs),
                         f"{row['speed_ratio']:.2f}x", f"{ours / roof:.0%}", f"{theirs / roof:.0%}",
                         f"{roof / theirs:.1f}x", f"{row['matmul_flops_after'] / 1e9:.0f} GFLOP/s"])
    return rows


def roofline_line(result: dict) -> str:
    """One sentence: the same-run roofline, the FLOPs per sample and the samples per second they allow."""
    from .report import _rate

    roof = result["roofline"]
    network = "-".join(map(str, roof["layer_sizes"]))
    return (f"Roofline: {roof['dtype']} matrix multiply ({roof['matmul_size']} x {roof['matmul_size']}, NumPy's "
            f"BLAS, all its threads) at {roof['flops'] / 1e9:.0f} GFLOP/s, the highest of "
            f"{len(roof['measurements'])} measurements in this run; a {network} training step costs "
            f"{roof['flops_per_sample'] / 1e3:.0f} kFLOP per sample at batch {roof['batch_size']} "
            f"(forward, backward and update), so at most {_rate(roof['samples_per_s'])} samples/s.")


def text_report(result: dict) -> str:
    from .report import format_table, machine_line

    settings = result["settings"]
    lines = [machine_line(result["machine"]) if "machine" in result else "", "",
             f"Accuracy, mean over {settings['cv_folds']}-fold cross-validation (bundled datasets) or the test "
             f"split (Fashion-MNIST) x {len(settings['seeds'])} seeds; gap = fastmlp - scikit-learn, standard "
             "error of the paired gaps:",
             format_table(accuracy_rows(result))]
    if "roofline" in result:
        lines += ["", f"Training speed on Fashion-MNIST, batch {SPEED_BATCH} (median over the seeds):",
                  format_table(speed_rows(result)), roofline_line(result)]
    lines += [f"skipped {name}: {why}" for name, why in result.get("skipped", {}).items()]
    return "\n".join(lines)


def run(args) -> int:
    """``fastmlp bench --sklearn``: run, print, optionally write JSON; returns the exit status."""
    import json
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
    epochs = FASHION_EPOCHS if args.sklearn_epochs is None else args.sklearn_epochs
    result = run_comparison(fashion_epochs=epochs, log=lambda text: print(text, file=sys.stderr),
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
