"""Kernel arguments (kernels.Net, Work, SGD) built straight from the lecture's matrices, for the kernel tests."""

from __future__ import annotations

import numpy as np

from fastmlp._layout import build_layout, n_params, n_units, theta_views
from fastmlp.kernels import SGD, Net, Work
from fastmlp.model import LOSSES, OUTPUTS

from cases import LEARNING_RATE


class KernelArgs:
    """A network's kernel arguments for minibatches of up to ``batch`` samples; work buffers start as NaN,
    so a kernel that leaves a value unwritten shows."""

    def __init__(self, thetas, dtype, batch):
        sizes = [thetas[0].shape[1] - 1] + [theta.shape[0] for theta in thetas]
        self.layout, row_blocks = build_layout(sizes)
        self.dtype = np.dtype(dtype)
        self.params = np.empty(n_params(self.layout), self.dtype)
        for view, theta in zip(theta_views(self.params, self.layout), thetas):
            view[:] = theta
        self.velocity = np.zeros_like(self.params)
        self.net = Net(self.params, self.layout, row_blocks)
        units = n_units(self.layout)
        self.work = Work(
            acts=np.full((batch, units), np.nan, self.dtype),
            targets=np.full((batch, sizes[-1]), np.nan, self.dtype),
            deltas=np.full((batch, units), np.nan, self.dtype),
            losses=np.full(batch, np.nan),
            grads=np.full(self.params.size, np.nan, self.dtype),
        )

    def opt(self, momentum=0.0, nesterov=False, weight_decay=0.0) -> SGD:
        """SGD settings in the parameters' dtype, with this network's momentum buffer."""
        t = self.dtype.type
        return SGD(self.velocity, t(LEARNING_RATE), t(momentum), t(weight_decay), nesterov)

    def thetas(self, flat=None) -> list[np.ndarray]:
        """Copies of the per-layer matrices of ``flat`` (the parameters by default)."""
        return [view.copy() for view in theta_views(self.params if flat is None else flat, self.layout)]


def codes(loss, output) -> np.ndarray:
    """The kernels' (loss, output) codes."""
    return np.array([LOSSES[loss], OUTPUTS[output]], dtype=np.int64)


def as_targets(Y, dtype) -> np.ndarray:
    """Targets as the kernels take them: int64 labels, or a matrix in the parameters' dtype."""
    return Y.astype(np.int64) if Y.ndim == 1 else Y.astype(dtype)
