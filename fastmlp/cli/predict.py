"""``fastmlp predict``: labels or class probabilities of new samples, written as CSV or .npy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import datasets
from . import common

DESCRIPTION = """\
Predict with a model saved by `fastmlp train --save`. INPUT is a .npy, .npz (array X or X_test, or its only
array), .csv or IDX file of samples (images are flattened; a CSV file's label column is dropped: the one
--label-column names, else one named label, class, target or y), or a dataset name or IDX directory (its
test split). Writes one row per sample: CSV (to stdout by default) or .npy. The CSV
gives each label's class name too when the model file names its classes (trained on a CSV file's text labels
or on Fashion-MNIST, or saved from a fastmlp.sklearn classifier: its labels; it also reads uint8 as numbers,
and a multilabel one writes a 0 or 1 per label, label0, label1, ...).

examples:
  fastmlp predict model.npz t10k-images-idx3-ubyte.gz -o labels.csv
  fastmlp predict model.npz samples.npy --proba -o probabilities.npy
  fastmlp predict model.npz fashion-mnist | head
"""


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file written by fastmlp train --save")
    parser.add_argument("input", help="samples: .npy, .npz, .csv or IDX file, or a dataset name or IDX directory")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="where to write: a .csv or .npy path (default: CSV on standard output)")
    parser.add_argument("--proba", action="store_true",
                        help="also write class probabilities, one column per class (p_NAME by the model's class "
                             "names, else p0, p1, ...): CSV beside the label, .npy instead of it")
    common.add_data_arguments(parser)


def read_input(args) -> np.ndarray:
    """A file's samples, or the test split of a dataset named or given as an IDX directory."""
    path = Path(args.input)
    if path.is_file() or path.suffix.lower() in (".npy", ".npz", ".csv", ".gz"):  # a file, even a missing one
        try:
            return datasets.read_features(args.input, label_column=args.label_column)
        except ValueError as error:  # e.g. the file `fastmlp train FILE --label-column species` trained on
            unnamed = args.label_column is None and path.suffix.lower() == ".csv"
            if unnamed and "not a CSV file of numbers" in str(error):
                raise ValueError(f"{error}; if that column holds the labels, name it with --label-column") from None
            raise
    return common.load_data(args, args.input).test[0]


def run(args) -> int:
    if args.output and Path(args.output).suffix.lower() not in (".csv", ".npy"):
        raise ValueError(f"--output must end in .csv or .npy, got {args.output}")
    net, estimator = common.load_model(args.model)
    X = common.features(read_input(args), estimator)
    if common.multilabel(net, estimator):  # a 0/1 per label, as the estimator predicts, from one forward pass
        out = net.forward(X)
        labels, proba = (out > 0.5).astype(np.int64), out if args.proba else None
    else:
        labels, proba = net.predict(X), net.predict_proba(X) if args.proba else None
    if args.output and args.output.lower().endswith(".npy"):
        np.save(args.output, proba if args.proba else labels)
    elif args.output:
        with open(args.output, "w", newline="") as stream:
            write_csv(stream, net, labels, proba)
    else:
        write_csv(sys.stdout, net, labels, proba)
    if args.output:
        print(f"wrote {'probabilities' if args.proba else 'labels'} of {common.count(len(X))} samples "
              f"to {args.output}", file=sys.stderr)
    return 0


def write_csv(stream, net, labels: np.ndarray, proba: np.ndarray | None) -> None:
    """One row per sample: the label (and its class name when the model has them), a multilabel classifier's 0 or
    1 per label (label0, label1, ...) or a regression's outputs, then the probabilities when given: p_NAME by the
    model's class names, else p0, p1, ... by class index. Names are quoted as CSV needs. One format string per
    row: for 10,000 rows of 10 probabilities this took 25 ms where np.savetxt took 38 and formatting each cell on
    its own 91."""
    regression = net.output == "identity"  # predictions are values, not labels
    outputs = np.asarray(labels).reshape(len(labels), -1)
    if labels.ndim == 2:
        header = [f"{'output' if regression else 'label'}{j}" for j in range(outputs.shape[1])]
    else:
        header = ["prediction" if regression else "label"]
    formats = ["%.6g" if regression else "%d"] * outputs.shape[1]
    columns = list(outputs.T)
    if net.class_names is not None and not regression:
        header.append("class")
        formats.append("%s")
        columns.append(np.array([_quoted(name) for name in net.class_names], dtype=object)[labels])
    if proba is not None:
        header += [f"p{j}" for j in range(proba.shape[1])] if net.class_names is None else \
            [_quoted(f"p_{name}") for name in net.class_names]  # one name a column (check_class_names)
        formats += ["%.6g"] * proba.shape[1]
        columns += list(proba.T)
    row = ",".join(formats) + "\n"
    stream.write(",".join(header) + "\n")
    stream.writelines(row % values for values in zip(*(column.tolist() for column in columns)))


def _quoted(name: str) -> str:
    """A CSV cell of ``name``: in quotes, its quotes doubled, when it holds a comma, a quote or a line break."""
    return f'"{name.replace(chr(34), 2 * chr(34))}"' if any(c in name for c in ',"\r\n') else name
