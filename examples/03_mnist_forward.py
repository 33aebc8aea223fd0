"""Lecture step 3: the MNIST-format example, a 784-15-10 network.

The forward pass as the lecture writes it, one image as a column vector, the bias input 1 appended to
each layer's input (shapes 785x1, 16x1, 10x1); the same pass by fastmlp; then the network trained
with SGD and evaluated on the test images. MNIST itself is not needed: any directory of the four
MNIST-format IDX files works, and Fashion-MNIST is the default.

    python examples/03_mnist_forward.py [DATA] [--epochs N] [--limit N]
"""

import argparse

import numpy as np

from fastmlp import MLP
from fastmlp.datasets import load


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def neural_network(x, w1, w2):
    """The lecture's forward pass for one image ``x`` (784x1); prints the shape at each step."""
    a1 = np.vstack([x, [[1.0]]])  # append the bias input
    print(f"  a1 = [x; 1]                {a1.shape[0]}x{a1.shape[1]}")
    z2 = w1 @ a1
    a2 = np.vstack([sigmoid(z2), [[1.0]]])
    print(f"  a2 = [sigmoid(w1 a1); 1] {a2.shape[0]}x{a2.shape[1]}   (w1: {w1.shape[0]}x{w1.shape[1]})")
    a3 = sigmoid(w2 @ a2)
    print(f"  a3 = sigmoid(w2 a2)        {a3.shape[0]}x{a3.shape[1]}   (w2: {w2.shape[0]}x{w2.shape[1]})")
    return a3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default="fashion-mnist", help="dataset name or IDX directory")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (X_train, y_train), (X_test, y_test) = load(args.data)
    if args.limit:
        X_train, y_train = X_train[: args.limit], y_train[: args.limit]

    rng = np.random.default_rng(args.seed)
    w1 = rng.uniform(-0.1, 0.1, (15, 784 + 1))
    w2 = rng.uniform(-0.1, 0.1, (10, 15 + 1))
    x = (X_test[0] / 255.0).reshape(784, 1)  # one image as a column, pixels scaled to [0, 1]
    print(f"forward pass of test image 0 (label {y_test[0]}), the lecture's way:")
    lecture = neural_network(x, w1, w2)

    net = MLP.from_thetas([w1, w2], loss="sigmoid_cross_entropy")  # sigmoid outputs, as in the lecture
    ours = net.forward(X_test[:1])  # (1, 10): a row per sample; uint8 read as x / 255
    print(f"fastmlp forward: shape {ours.shape}, max difference to the lecture's {np.abs(ours.T - lecture).max():.2e}")

    print(f"training 784-15-10 by SGD on {len(X_train):,} images ({args.epochs} epochs, batch 32)")
    net = MLP([784, 15, 10], loss="sigmoid_cross_entropy", random_state=args.seed)
    net.fit(X_train, y_train, epochs=args.epochs, batch_size=32, learning_rate=0.5)
    for epoch, loss in enumerate(net.loss_curve_, 1):
        print(f"  epoch {epoch}: loss {loss:.4f}")
    print(f"test accuracy {net.score(X_test, y_test):.4f} on {len(X_test):,} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
