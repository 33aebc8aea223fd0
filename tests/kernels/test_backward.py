"""kernels.backward: per-sample losses, deltas and the minibatch gradient against the NumPy reference."""

from __future__ import annotations

import numpy as np

from fastmlp.kernels.backward import forward_backward, gradients

import naive
from cases import BATCH_SIZES, DEPTHS, DTYPES, LOSS_OUTPUTS, assert_close, layer_sizes, make_targets, random_thetas
from covering import pairwise
from kernel_args import KernelArgs, as_targets, codes, frozen, no_weights


@pairwise(dtype=DTYPES, loss_output=LOSS_OUTPUTS, depth=DEPTHS, batch_size=BATCH_SIZES)
def test_forward_backward_and_gradients(dtype, loss_output, depth, batch_size):
    """A minibatch taken through a permutation from the middle of X: losses and the gradient of every layer."""
    (loss, output), dtype, sizes = loss_output, np.dtype(dtype), layer_sizes(depth)
    rng = np.random.default_rng(2)
    thetas = random_thetas(sizes, dtype, rng)
    n, start = batch_size + 4, 2
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, n, sizes[-1])
    order = rng.permutation(n)
    args = KernelArgs(thetas, dtype, batch_size)
    weights = no_weights(dtype)
    forward_backward(args.net, frozen(X), as_targets(Y, dtype), weights, order, start, batch_size, dtype.type(1.0),
                     codes(loss, output), args.work)
    gradients(args.net, weights, order, start, batch_size, args.work)
    rows = order[start : start + batch_size]
    losses, activations, deltas = naive.forward_backward(thetas, X[rows], Y[rows], loss, output)
    assert_close(args.work.losses[:batch_size], losses, dtype, err_msg="per-sample losses")
    assert args.work.grads.dtype == dtype
    for l, (grad, expected) in enumerate(zip(args.thetas(args.work.grads), naive.gradients(activations, deltas))):
        assert_close(grad, expected, dtype, err_msg=f"gradient of layer {l}")
