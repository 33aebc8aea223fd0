"""Lecture step 1: the perceptron. It learns AND and OR, and reports that it cannot separate XOR.

    python examples/01_perceptron.py [--plot-dir DIR]
"""

import argparse
import warnings

from fastmlp import Perceptron
from fastmlp.datasets import truth_table
from fastmlp.perceptron import NotSeparableWarning


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot-dir", help="write each problem's decision regions here as PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    for name in ("and", "or", "xor"):
        X, y = truth_table(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotSeparableWarning)
            perceptron = Perceptron(learning_rate=1.0, max_epochs=100).fit(X, y)
        w1, w2 = perceptron.coef_
        print(f"{name.upper():>3}: targets {y.tolist()}  predictions {perceptron.predict(X).tolist()}  "
              f"w = ({w1:g}, {w2:g}), b = {perceptron.intercept_:g}, mistakes per epoch {perceptron.errors_}")
        print(f"     {perceptron.message_}")
        if caught:
            print(f"     ({type(caught[0].message).__name__} issued)")
        if args.plot_dir:
            from pathlib import Path

            from fastmlp.plots import plot_decision_regions

            path = Path(args.plot_dir) / f"perceptron_{name}.png"
            plot_decision_regions(path, perceptron, X, y, title=f"perceptron on {name.upper()}: "
                                  + ("separated" if perceptron.converged_ else "not separable"))
            print(f"     wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
