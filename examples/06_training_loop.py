"""Lecture step 6: the training loop, forward -> backprop -> update, written out by hand.

Minibatch SGD on the 8x8 digits: for each minibatch, ``loss_and_gradients`` runs the
forward pass and backpropagation, and the update theta -= learning_rate * gradient is done here in
NumPy on the lecture's per-layer matrices. The same epoch run by ``MLP.fit`` (one compiled kernel for
each epoch) gives the same weights.

    python examples/06_training_loop.py [--batch-size 32] [--learning-rate 1.0] [--epochs 5]
"""

import argparse

import numpy as np

from fastmlp import MLP
from fastmlp.datasets import load


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (X, y), (X_test, y_test) = load("digits")
    start = MLP([64, 32, 10], dtype="float64", random_state=args.seed)

    thetas = start.thetas()  # [(32, 65), (10, 33)], bias last
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for first in range(0, len(X), args.batch_size):
            batch = slice(first, first + args.batch_size)
            net = MLP.from_thetas(thetas, dtype="float64")
            loss, grads = net.loss_and_gradients(X[batch], y[batch])  # forward + backprop
            thetas = [theta - args.learning_rate * grad for theta, grad in zip(thetas, grads)]  # update
            total += loss * len(X[batch])
        print(f"by hand, epoch {epoch}: mean loss {total / len(X):.4f}")
    by_hand = MLP.from_thetas(thetas, dtype="float64")
    print(f"by hand: test accuracy {by_hand.score(X_test, y_test):.4f}")

    fitted = MLP.from_thetas(start.thetas(), dtype="float64")
    fitted.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, shuffle=False)
    print(f"MLP.fit: mean loss per epoch {[round(loss, 4) for loss in fitted.loss_curve_]}, "
          f"test accuracy {fitted.score(X_test, y_test):.4f}")
    difference = max(np.abs(a - b).max() for a, b in zip(thetas, fitted.thetas()))
    print(f"largest weight difference, by hand vs MLP.fit: {difference:.1e}")
    return 0 if difference < 1e-8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
