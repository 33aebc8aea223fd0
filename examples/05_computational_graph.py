"""Lecture step 5: backpropagation is the chain rule on a computational graph.

f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4. Forward: q = x + y = 3, f = q z = -12. Backward, from
df/df = 1: df/dz = q = 3, df/dq = z = -4, and since dq/dx = dq/dy = 1, df/dx = df/dy = -4. The three
partial derivatives are checked against central finite differences. fastmlp's backward kernel applies
the same rule layer by layer (tests/test_gradients.py checks it the same way).

    python examples/05_computational_graph.py [--x -2 --y 5 --z -4]
"""

import argparse


def f(x, y, z):
    return (x + y) * z


def forward_backward(x, y, z):
    """The value of f and (df/dx, df/dy, df/dz) by the chain rule, node by node."""
    q = x + y  # add node
    value = q * z  # multiply node
    df_dq = z  # d(q z)/dq
    df_dz = q  # d(q z)/dz
    df_dx = df_dq * 1.0  # chain rule through the add node: dq/dx = 1
    df_dy = df_dq * 1.0  # dq/dy = 1
    return value, q, (df_dx, df_dy, df_dz)


def finite_differences(x, y, z, h=1e-6):
    """Central differences (f(v + h) - f(v - h)) / 2h for each input in turn."""
    point = [x, y, z]
    result = []
    for k in range(3):
        up, down = list(point), list(point)
        up[k] += h
        down[k] -= h
        result.append((f(*up) - f(*down)) / (2 * h))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--x", type=float, default=-2.0)
    parser.add_argument("--y", type=float, default=5.0)
    parser.add_argument("--z", type=float, default=-4.0)
    args = parser.parse_args(argv)
    value, q, grads = forward_backward(args.x, args.y, args.z)
    print(f"forward:  q = x + y = {q:g},  f = q * z = {value:g}")
    numeric = finite_differences(args.x, args.y, args.z)
    worst = 0.0
    for name, analytic, estimate in zip("xyz", grads, numeric):
        print(f"backward: df/d{name} = {analytic:g}   finite difference {estimate:.6f}")
        worst = max(worst, abs(analytic - estimate))
    print(f"largest difference {worst:.1e}: {'chain rule confirmed' if worst < 1e-5 else 'MISMATCH'}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
