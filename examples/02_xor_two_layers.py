"""Lecture step 2: XOR needs two layers. First built by hand, then learned by SGD.

By hand: hidden unit 1 is an OR perceptron, hidden unit 2 a NAND perceptron, and the output unit ANDs
them: XOR(x1, x2) = AND(OR(x1, x2), NAND(x1, x2)). Sigmoid units with large weights act as the hard
threshold. Then a 2-3-1 network learns XOR from random weights by minibatch SGD.

    python examples/02_xor_two_layers.py
"""

import argparse

import numpy as np

from fastmlp import MLP
from fastmlp.datasets import truth_table

# Each row is one unit: (weight x1, weight x2, bias), bias last as in MLP.thetas(). Scale 20 makes the
# sigmoid a near step: sigmoid(+-10) is 1 - 4.5e-5 or 4.5e-5.
OR = [20.0, 20.0, -10.0]
NAND = [-20.0, -20.0, 30.0]
AND = [20.0, 20.0, -30.0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1000)
    args = parser.parse_args(argv)
    X, y = truth_table("xor")

    hand = MLP.from_thetas([np.array([OR, NAND]), np.array([AND])], loss="sigmoid_cross_entropy", dtype="float64")
    print("hand-built 2-2-1 network: hidden = (OR, NAND), output = AND")
    out = hand.forward(X)[:, 0]
    for x, target, value in zip(X, y, out):
        print(f"  x = {x.astype(int).tolist()}  XOR = {target}  network output {value:.5f}")
    assert hand.predict(X).tolist() == y.tolist()
    print(f"  accuracy {hand.score(X, y):.2f}")

    net = MLP([2, 3, 1], loss="sigmoid_cross_entropy", dtype="float64", random_state=args.seed)
    net.fit(X, y, epochs=args.epochs, batch_size=4, learning_rate=2.0, momentum=0.9)
    print(f"trained 2-3-1 network ({args.epochs} epochs of SGD with momentum): "
          f"loss {net.loss_curve_[0]:.4f} -> {net.loss_curve_[-1]:.4f}")
    print(f"  outputs {np.round(net.forward(X)[:, 0], 4).tolist()}  predictions {net.predict(X).tolist()}  "
          f"accuracy {net.score(X, y):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
