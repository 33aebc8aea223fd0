"""kernels.update: the SGD rule (momentum, Nesterov, weight decay) against the NumPy reference and torch.optim.SGD.

The rule does not depend on the loss or the depth, so it is tested once per optimizer setting and dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.kernels import LEAD, SIZE
from fastmlp.kernels.backward import forward_backward
from fastmlp.kernels.update import row_update, step_rows

import naive
from cases import (
    BATCH_SIZES,
    DTYPES,
    LEARNING_RATE,
    OPTIMIZER_NAMES,
    OPTIMIZERS,
    assert_close,
    layer_sizes,
    make_targets,
    random_thetas,
)
from covering import pairwise
from kernel_args import KernelArgs, as_targets, codes, frozen, no_weights


def update_all_rows(args, opt, grads):
    """row_update on every block of rows, as the epoch kernel's members do between them."""
    for l, k0, n_rows in args.net.row_blocks:
        row_update(args.net, opt, grads, l, k0, k0 + n_rows, opt.learning_rate)


@pairwise(dtype=DTYPES, optimizer=OPTIMIZER_NAMES, gaps=[True, False])
def test_row_update(dtype, optimizer, gaps):
    """Three steps with random gradients: the weights and the momentum buffer follow the reference, on rows with
    gaps after them (NaN, never read) and on rows back to back (one span)."""
    dtype, settings = np.dtype(dtype), OPTIMIZERS[optimizer]
    rng = np.random.default_rng(3)
    thetas = random_thetas(layer_sizes(3), dtype, rng)
    args = KernelArgs(thetas, dtype, 1, gaps=gaps)
    assert (args.net.layout[:-1, LEAD] > args.net.layout[1:, SIZE]).all() == gaps
    opt = args.opt(**settings)
    expected, velocity = [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas)
    for _ in range(3):
        grads = rng.normal(size=args.params.size).astype(dtype)
        update_all_rows(args, opt, grads)
        expected, velocity = naive.sgd_step(expected, velocity, args.thetas(grads), LEARNING_RATE, **settings)
    for l, theta in enumerate(args.thetas()):
        assert theta.dtype == dtype
        assert_close(theta, expected[l], dtype, err_msg=f"layer {l}")
        assert_close(args.thetas(args.first)[l], velocity[l], dtype, err_msg=f"velocity of layer {l}")


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "all"])
def test_row_update_matches_torch(optimizer):
    """The update rule is torch.optim.SGD's (weight decay in a param group of the weights only)."""
    torch = pytest.importorskip("torch")
    settings = OPTIMIZERS[optimizer]
    rng = np.random.default_rng(4)
    thetas = random_thetas((4, 6, 3), np.float64, rng)
    args = KernelArgs(thetas, np.float64, 1)
    opt = args.opt(**settings)
    weights = [torch.tensor(theta[:, :-1], requires_grad=True) for theta in thetas]
    biases = [torch.tensor(theta[:, -1], requires_grad=True) for theta in thetas]
    torch_sgd = torch.optim.SGD(
        [{"params": weights, "weight_decay": settings.get("weight_decay", 0.0)},
         {"params": biases, "weight_decay": 0.0}],
        lr=LEARNING_RATE, momentum=settings["momentum"], nesterov=settings.get("nesterov", False),
    )
    for _ in range(4):
        grads = rng.normal(size=args.params.size)
        update_all_rows(args, opt, grads)
        for grad, weight, bias in zip(args.thetas(grads), weights, biases):
            weight.grad = torch.tensor(grad[:, :-1])
            bias.grad = torch.tensor(grad[:, -1])
        torch_sgd.step()
    for theta, weight, bias in zip(args.thetas(), weights, biases):
        np.testing.assert_allclose(theta[:, :-1], weight.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(theta[:, -1], bias.detach().numpy(), rtol=1e-12, atol=1e-14)


@pairwise(dtype=DTYPES, optimizer=["sgd", "all"], batch_size=BATCH_SIZES)
def test_step_rows(dtype, optimizer, batch_size):
    """Gradient and update of each block of rows in one pass: in place for plain SGD ("sgd"); with momentum from
    the gradient's registers up to MOMENTUM_MAX samples (batch 1 and 7, and 64 in float32), else through the
    gradient buffer; two steps, so the second uses the first's momentum."""
    dtype, settings = np.dtype(dtype), OPTIMIZERS[optimizer]
    loss, output = "softmax_cross_entropy", "softmax"
    rng = np.random.default_rng(5)
    sizes = layer_sizes(2)
    thetas = random_thetas(sizes, dtype, rng)
    X = rng.normal(size=(batch_size, sizes[0])).astype(dtype)
    Y = make_targets(rng, loss, output, batch_size, sizes[-1])
    args = KernelArgs(thetas, dtype, batch_size)
    opt = args.opt(**settings)
    expected, velocity = [theta.astype(np.float64) for theta in thetas], naive.zeros_like(thetas)
    for _ in range(2):
        forward_backward(args.net, frozen(X), as_targets(Y, dtype), no_weights(dtype), np.empty(0, np.int64), 0,
                         batch_size, dtype.type(1.0), codes(loss, output), args.work)
        for l, k0, n_rows in args.net.row_blocks:
            step_rows(args.net, opt, args.work, batch_size, batch_size, opt.learning_rate, l, k0, k0 + n_rows, 0,
                      False)
        expected, velocity, _ = naive.train_step(expected, velocity, X, Y, loss, output,
                                                 learning_rate=LEARNING_RATE, **settings)
    for l, theta in enumerate(args.thetas()):
        assert_close(theta, expected[l], dtype, factor=5, err_msg=f"layer {l}")
