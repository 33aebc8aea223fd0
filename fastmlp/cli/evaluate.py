"""``fastmlp evaluate``: accuracy and mean loss of a saved model on a dataset's test (or train) split."""

from __future__ import annotations

import sys

from . import common

DESCRIPTION = """\
Evaluate a model saved by `fastmlp train --save` on a dataset: prints the accuracy (R^2 for a regression
output) and the mean loss. A file saved from a fastmlp.sklearn classifier is scored as the estimator scores:
on data labelled with its own labels, uint8 samples read as numbers (but not a multilabel one's: datasets have
one label per sample).

examples:
  fastmlp evaluate model.npz                      on Fashion-MNIST's 10,000 test images
  fastmlp evaluate model.npz mnist --data-dir ~/data/mnist
  fastmlp evaluate model.npz digits --split train
  fastmlp evaluate model.npz my_data.csv --label-column species
  fastmlp evaluate model.npz --plot-weights weights.png --plot-predictions predictions.png
"""

#: Samples per call of loss_and_gradients: bounds its work buffers on big splits.
CHUNK = 8192


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file written by fastmlp train --save")
    parser.add_argument("dataset", nargs="?", default="fashion-mnist",
                        help="dataset name, IDX directory, .npz or .csv file (default: fashion-mnist)")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="which split to evaluate on (default: test)")
    parser.add_argument("--plot-weights", metavar="PNG", help="first-layer weights as images (image datasets)")
    parser.add_argument("--plot-predictions", metavar="PNG", help="the split's first images, predicted and true labels")
    common.add_data_arguments(parser)


def mean_loss(net, X, y) -> float:
    """The model's loss averaged over all samples, computed in chunks."""
    total = 0.0
    for start in range(0, X.shape[0], CHUNK):
        stop = min(start + CHUNK, X.shape[0])
        loss, _ = net.loss_and_gradients(X[start:stop], y[start:stop])
        total += loss * (stop - start)
    return total / X.shape[0]


def run(args) -> int:
    net, estimator = common.load_model(args.model)
    if common.multilabel(net, estimator):  # datasets give one label a sample, which such a model does not predict
        raise ValueError(f"{args.model} holds a multilabel classifier, which predicts a 0 or 1 for each of its "
                         f"{net.layer_sizes[-1]} labels; evaluate reads one label per sample: score it in Python "
                         f"with fastmlp.load(path).score(X, Y) on a 0/1 label matrix Y")
    data = common.load_data(args, args.dataset, class_names=net.class_names)
    if net.class_names is None and data.class_names and args.dataset.lower().endswith(".csv"):
        print(f"note: {args.model} does not name its classes, so {args.dataset}'s labels are numbered in sorted "
              f"order ({', '.join(data.class_names)}); the scores are right only if training numbered them alike",
              file=sys.stderr)
    X, y = data.train if args.split == "train" else data.test
    X, y = common.features(X, estimator), common.indices(y, estimator, data.name)
    score = net.score(X, y)
    measure = "R^2" if net.output == "identity" else "accuracy"  # what score gives
    print(f"{args.model} ({'-'.join(map(str, net.layer_sizes))}) on {data.name} {args.split} split: "
          f"{measure} {score:.4f}, loss {mean_loss(net, X, y):.4f} ({common.count(X.shape[0])} samples)")
    if args.plot_weights or args.plot_predictions:
        from .. import plots

        if data.image_shape is None:
            raise ValueError(f"--plot-weights and --plot-predictions need image data; {data.name} is not")
        if args.plot_weights:
            if len(net.layer_sizes) < 3:
                raise ValueError("--plot-weights needs a hidden layer")
            print(f"wrote {plots.plot_weights(args.plot_weights, net, data.image_shape)}")
        if args.plot_predictions:
            path = plots.plot_predictions(args.plot_predictions, net, X, y, image_shape=data.image_shape,
                                          class_names=data.class_names or net.class_names)
            print(f"wrote {path}")
    return 0
