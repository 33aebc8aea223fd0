"""Lecture step 4: the three costs on one example prediction and target vector.

Each cost by its formula for one sample (a sum over the n outputs), and the same cost computed by
fastmlp: a network whose output is exactly the given prediction (zero weights, the bias chosen so
that sigmoid(bias) or softmax(bias) equals it) evaluated with ``loss_and_gradients``.

    python examples/04_costs.py [--prediction 0.7,0.2,0.1] [--target 1,0,0]
"""

import argparse

import numpy as np

from fastmlp import MLP


def mse(yhat, y):
    return np.sum((yhat - y) ** 2)


def sigmoid_cross_entropy(yhat, y):
    return np.sum(-y * np.log(yhat) - (1 - y) * np.log(1 - yhat))


def softmax_cross_entropy(yhat, y):
    return np.sum(-y * np.log(yhat))


def network_with_output(yhat, loss):
    """A 1-input network whose output is ``yhat`` for every input: zero weights, bias = the inverse activation."""
    bias = np.log(yhat) if loss == "softmax_cross_entropy" else np.log(yhat / (1 - yhat))
    theta = np.column_stack([np.zeros_like(yhat), bias])  # (n_out, 1 input + bias)
    return MLP.from_thetas([theta], loss=loss, output="softmax" if loss == "softmax_cross_entropy" else "sigmoid")


def vector(text):
    return np.array([float(v) for v in text.split(",")])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prediction", type=vector, default=vector("0.7,0.2,0.1"),
                        help="the network's output, comma-separated, each in (0, 1)")
    parser.add_argument("--target", type=vector, default=vector("1,0,0"), help="the target, comma-separated")
    args = parser.parse_args(argv)
    yhat, y = args.prediction, args.target
    if yhat.shape != y.shape or not ((yhat > 0) & (yhat < 1)).all():
        parser.error("prediction and target need the same length, and predictions must lie in (0, 1)")
    print(f"prediction yhat = {yhat.tolist()}")
    print(f"target     y    = {y.tolist()}")
    costs = [("MSE                    sum (yhat - y)^2", "mse", mse),
             ("sigmoid cross-entropy  sum -y log yhat - (1-y) log(1-yhat)", "sigmoid_cross_entropy",
              sigmoid_cross_entropy),
             ("softmax cross-entropy  sum -y log yhat", "softmax_cross_entropy", softmax_cross_entropy)]
    for label, loss, formula in costs:
        prediction = yhat / yhat.sum() if loss == "softmax_cross_entropy" else yhat  # softmax outputs sum to 1
        net = network_with_output(prediction, loss)
        value, _ = net.loss_and_gradients(np.zeros((1, 1)), y[None, :])
        print(f"{label:<60} formula {formula(prediction, y):.6f}   fastmlp {value:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
