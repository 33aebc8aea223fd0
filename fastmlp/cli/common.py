"""What the subcommands share: dataset options, model files, number formats."""

from __future__ import annotations

import argparse

import numpy as np

from .. import datasets


def dataset_help() -> str:
    names = "\n".join(f"  {name:<14} {text}" for name, text in datasets.NAMES.items())
    return (f"datasets by name:\n{names}\n  or a directory of four MNIST-format IDX files, or a .npz file "
            "(X_train, y_train, X_test, y_test or X, y),\n  or a .csv file with a label column")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data-dir", metavar="DIR",
                       help="directory of the IDX files for fashion-mnist or mnist "
                            "(default: $FASTMLP_FASHION_MNIST / $FASTMLP_MNIST, then Debian's location)")
    group.add_argument("--label-column", metavar="COLUMN",
                       help="label column of a .csv file: a header name or 0-based index "
                            "(default: the column named label, class, target or y, else the first)")
    group.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                       help="share of a .npz/.csv file or of digits held out as the test split (default: 0.2)")


def load_data(args, name: str, class_names=None) -> datasets.Splits:
    """The dataset ``name`` as the data options say; a CSV file's text labels numbered by ``class_names``."""
    return datasets.load(name, directory=args.data_dir, label_column=args.label_column, class_names=class_names,
                         test_fraction=args.test_fraction)


def names_worth_keeping(names) -> list[str] | None:
    """Class names for the model file, unless they only spell out the labels 0, 1, ... (digits' "0" to "9")."""
    if names is None or [str(name) for name in names] == [str(label) for label in range(len(names))]:
        return None
    return [str(name) for name in names]


def load_model(path):
    """The network of a model file (or checkpoint), and the ``estimator`` entry of a file saved from a
    fastmlp.sklearn estimator (else None). A classifier of one label per sample names the network's classes
    by its labels, so that predict writes them."""
    from .. import io
    from ..model import MLP

    metadata, arrays = io.read(path)
    net, record = MLP._from_file(metadata, arrays), metadata["estimator"]
    if record is not None and record["classes"] is not None and not multilabel(net, record):
        net.class_names = names_worth_keeping(record["classes"])
    return net, record


def multilabel(net, estimator: dict | None) -> bool:
    """Whether a model file is a fastmlp.sklearn classifier's that was fitted on a 0/1 label matrix: several
    sigmoid outputs, each of which predicts its own label (p > 0.5), where the network predicts the largest."""
    classifier = estimator is not None and estimator["classes"] is not None
    return classifier and net.output == "sigmoid" and net.layer_sizes[-1] > 1


def onnx_options(net, estimator: dict | None) -> dict:
    """How :func:`fastmlp.onnx_export.to_onnx` writes the model as its own API predicts: a network as it is
    (labels by its class names), a fastmlp.sklearn estimator's file as the estimator exports itself (its
    labels, multilabel outputs, uint8 read as numbers)."""
    if estimator is None:
        return {}
    several = multilabel(net, estimator)
    return {"classes": None if several else estimator["classes"], "multilabel": several, "pixels": False}


def features(X: np.ndarray, estimator: dict | None) -> np.ndarray:
    """``X`` as the model's own API reads it: a fastmlp.sklearn estimator reads uint8 as the numbers they are,
    where the network reads them as pixels, x / 255."""
    return X.astype(np.float32) if estimator is not None and X.dtype == np.uint8 else X


def indices(y: np.ndarray, estimator: dict | None, source: str) -> np.ndarray:
    """Labels ``y`` as the network's class indices: a fastmlp.sklearn classifier's file of numeric labels
    (3 and 7, say) is scored on data labelled as it was fitted, not by position. Text labels are numbered by
    the model's class names when read. (A multilabel classifier's file is not scored on labels: evaluate.)"""
    if estimator is None or estimator["classes"] is None or isinstance(estimator["classes"][0], str):
        return y
    index = {label: i for i, label in enumerate(estimator["classes"])}
    unknown = sorted(set(y.tolist()) - index.keys())
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"{source}: label(s) {shown} not among the classifier's labels "
                         f"{', '.join(map(str, estimator['classes']))}")
    return np.array([index[label] for label in y.tolist()], np.int64)


def count(n: int) -> str:
    """12,345 style."""
    return f"{n:,}"


def rate(samples_per_second: float) -> str:
    return f"{samples_per_second:,.0f}"
